// Opens a TensorFlow.js model.json into the engine's IR: the JSON and its weight shards (tfjsWeights.ts), then the
// topology, a Keras layers model (layersModel.ts) or a converter graph model (graphModel.ts), re-laid out to ONNX
// semantics so both engines, the shape rules and every report treat it like an ONNX file.

import { promises as fs } from 'node:fs';
import { UserError } from '../../errors';
import type { Model } from '../../graph/ir';
import { DEFAULT_MAX_MODEL_BYTES, tooLarge } from '../onnx/load';
import { GraphModelBuilder } from './graphModel';
import { LayersBuilder } from './layersModel';
import { readTfjsWeights } from './tfjsWeights';

export { readTfjsWeights } from './tfjsWeights';

/** A tfjs model.json → IR: a layers model (Keras topology) or a graph model (tfjs-converter's GraphDef JSON). */
export async function loadTfjsModel(file: string, opts: { maxBytes?: number } = {}): Promise<Model> {
  const limit = opts.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  let size: number;
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) throw new UserError('model-unreadable', 'the model path is not a file', { file });
    size = stat.size;
  } catch (e) {
    if (e instanceof UserError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? 'model-not-found' : 'model-unreadable', code === 'ENOENT' ? 'the model file does not exist' : `cannot read the model file: ${(e as Error).message}`, { file });
  }
  if (size > limit) throw tooLarge(file, size, limit);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (e) {
    throw new UserError('corrupt-model', `cannot read ${file} as a TensorFlow.js model.json: ${(e as Error).message}`, { file });
  }
  const topology = json?.modelTopology as Record<string, unknown> | undefined;
  if (!topology || typeof topology !== 'object') throw new UserError('corrupt-model', 'model.json has no modelTopology (not a TensorFlow.js model)', { file });
  const weights = await readTfjsWeights(file, json, { maxBytes: limit, used: size });
  if (json.format === 'graph-model' || 'node' in topology) return new GraphModelBuilder(file, weights).build(topology, json.signature as never);
  const modelConfig = ((topology.model_config as Record<string, unknown>) ?? topology) as { class_name: string; config: unknown };
  return new LayersBuilder(file, weights).build(modelConfig);
}

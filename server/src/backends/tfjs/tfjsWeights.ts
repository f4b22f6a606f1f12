// Reads a TensorFlow.js weights manifest: the binary shards next to model.json, concatenated per group, each
// weight float32 in the file's own layout (float32, int32, float16, or the converter's affine uint8/uint16
// quantisation w = q·scale + min). Shards must lie in the model's folder and hold exactly the bytes described.

import { promises as fs } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { UserError } from '../../errors';
import type { Tensor } from '../../graph/ir';
import { sizeOf } from '../../graph/ir';
import { halfToNumber } from '../../graph/tensorBytes';
import { DEFAULT_MAX_MODEL_BYTES, tooLarge } from '../onnx/load';

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; min?: number; scale?: number; original_dtype?: string };
}

export interface WeightsManifest {
  weightsManifest?: { paths: string[]; weights: WeightSpec[] }[];
}

/** The shard files of a manifest, checked to lie inside the model's folder (a hostile model.json may name any path). */
function shardPath(file: string, p: string, group: number): string {
  if (typeof p !== 'string') throw new UserError('corrupt-model', `weight shard path ${JSON.stringify(p)} (group ${group + 1} of weightsManifest) is not a string`, { file });
  const folder = dirname(resolve(file));
  const full = resolve(folder, p);
  const rel = relative(folder, full);
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new UserError('corrupt-weights', `weight shard '${p}' (group ${group + 1} of weightsManifest) is outside the model's folder`, { file });
  }
  return full;
}

/** Reads model.json's shards; returns the weights by name (float32, dequantised, in the file's layout). */
export async function readTfjsWeights(file: string, json: WeightsManifest, opts: { maxBytes?: number; used?: number } = {}): Promise<Map<string, Tensor>> {
  const limit = opts.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  const weights = new Map<string, Tensor>();
  const groups = json.weightsManifest ?? [];
  if (!Array.isArray(groups)) throw new UserError('corrupt-model', 'weightsManifest is not a list of weight groups', { file });
  // Sizes first: a checkpoint over the user's limit is refused before any shard is read (as load.ts does for ONNX).
  let total = opts.used ?? 0;
  const paths = groups.map((group, g) => {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) throw new UserError('corrupt-model', `weight group ${g + 1} of weightsManifest lacks 'paths' or 'weights'`, { file });
    return group.paths.map((p) => shardPath(file, p, g));
  });
  const realFolder = await fs.realpath(dirname(resolve(file)));
  for (const [g, group] of paths.entries()) {
    for (const [i, full] of group.entries()) {
      const shard = `weight shard '${groups[g].paths[i]}' (group ${g + 1} of weightsManifest)`;
      let real: string;
      try {
        real = await fs.realpath(full);
      } catch {
        throw new UserError('missing-weights', `${shard} is missing next to model.json`, { file });
      }
      // A symbolic link in the folder may still lead out of it (as ONNX external data: load.ts), and a device or
      // FIFO (a link to /dev/zero) would be read for ever: regular files inside the folder only.
      const rel = relative(realFolder, real);
      if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new UserError('corrupt-weights', `${shard} leads outside the model's folder (to ${real})`, { file });
      const stat = await fs.stat(real);
      if (!stat.isFile()) throw new UserError('corrupt-weights', `${shard} is not a regular file`, { file });
      total += stat.size;
      group[i] = real;
    }
  }
  if (total > limit) throw tooLarge(file, total, limit, 'the model with its weight shards');
  for (const [g, group] of groups.entries()) {
    const buffers: Buffer[] = [];
    for (const [i, full] of paths[g].entries()) {
      try {
        buffers.push(await fs.readFile(full));
      } catch {
        throw new UserError('missing-weights', `weight shard '${group.paths[i]}' (group ${g + 1} of weightsManifest) is missing next to model.json`, { file });
      }
    }
    const bytes = Buffer.concat(buffers);
    let offset = 0;
    for (const spec of group.weights) {
      if (!Array.isArray(spec?.shape) || spec.shape.some((d) => !Number.isInteger(d) || d < 0)) {
        throw new UserError('corrupt-weights', `weight '${spec?.name}' has no valid shape`, { file });
      }
      const n = sizeOf(spec.shape);
      const q = spec.quantization;
      const stored = q?.dtype ?? spec.dtype;
      const width = stored === 'uint8' ? 1 : stored === 'uint16' || stored === 'float16' ? 2 : 4;
      if (offset + n * width > bytes.length) {
        throw new UserError('corrupt-weights', `weight '${spec.name}' needs bytes ${offset}–${offset + n * width} but the shards of group ${g + 1} (${group.paths.join(', ')}) hold ${bytes.length}`, { file });
      }
      const view = new DataView(bytes.buffer, bytes.byteOffset + offset, n * width);
      const data = new Float32Array(n);
      if (stored === 'float32') for (let i = 0; i < n; i++) data[i] = view.getFloat32(i * 4, true);
      else if (stored === 'int32') for (let i = 0; i < n; i++) data[i] = view.getInt32(i * 4, true);
      else if ((stored === 'uint8' || stored === 'uint16') && q) {
        // tfjs-converter affine quantisation: w = q·scale + min.
        const scale = q.scale ?? 1;
        const min = q.min ?? 0;
        for (let i = 0; i < n; i++) data[i] = (stored === 'uint8' ? view.getUint8(i) : view.getUint16(i * 2, true)) * scale + min;
      } else if (stored === 'float16') for (let i = 0; i < n; i++) data[i] = halfToNumber(view.getUint16(i * 2, true));
      else throw new UserError('unsupported-weights', `weight '${spec.name}' has dtype ${stored}, which the loader does not read`, { file });
      offset += n * width;
      weights.set(spec.name, { dtype: 'float32', dims: [...spec.shape], data });
    }
    if (offset !== bytes.length) {
      throw new UserError('corrupt-weights', `weight group ${g + 1} (${group.paths.join(', ')}) has ${bytes.length} bytes but its manifest describes ${offset}`, { file });
    }
  }
  return weights;
}


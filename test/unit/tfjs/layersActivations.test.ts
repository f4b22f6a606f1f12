// Keras activations that clip (relu6, ReLU(max_value)) in a tfjs layers model written by
// tfjs-layers itself: our IR's outputs (run by onnxruntime) equal tfjs-layers' own predict, with inputs chosen so
// that the clips are reached, and both engines' products agree on the mapped model.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { TfjsInversionOperator } from '../../../server/src/backends/tfjs/tfjsOperator';
import { activateBackend } from '../../../server/src/backends/tfjs/backend';
import { UserError } from '../../../server/src/errors';
import { relativeError, seededVector } from './helpers';

async function saved(model: tfl.LayersModel): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-tfjs-act-'));
  await model.save(tf.io.withSaveHandler(async (a) => {
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['w.bin'], weights: a.weightSpecs }] }));
    writeFileSync(join(dir, 'w.bin'), new Uint8Array(a.weightData as ArrayBuffer));
    return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
  }));
  return join(dir, 'model.json');
}

test('relu6 and ReLU(max_value) layers map exactly (tfjs-layers predict = our IR)', async () => {
  await activateBackend('cpu');
  const init = (seed: number) => tfl.initializers.randomNormal({ mean: 0, stddev: 2, seed });
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ name: 'd1', units: 12, inputShape: [8], activation: 'relu6', kernelInitializer: init(1), biasInitializer: init(2) }),
      tfl.layers.reLU({ name: 'cap', maxValue: 4 }),
      tfl.layers.dense({ name: 'd2', units: 6, kernelInitializer: init(3), biasInitializer: init(4) }),
      tfl.layers.reLU({ name: 'plain' }),
      tfl.layers.dense({ name: 'out', units: 3, kernelInitializer: init(5) }),
    ],
  });
  const file = await saved(model);
  const ours = await OnnxModel.open(file);
  const batch = 5;
  const x = Float32Array.from(seededVector(batch * 8, 3), (v) => 2 * v);
  // The clips are reached: some d1 pre-activations above 6 and some relu6 outputs between 4 and 6.
  const d1 = (model.layers[0].apply(tf.tensor(x, [batch, 8])) as tf.Tensor).dataSync();
  assert.ok(d1.some((v) => v === 6) && d1.some((v) => v > 4 && v < 6), 'relu6 and the cap at 4 both act');
  const theirs = Float64Array.from((model.predict(tf.tensor(x, [batch, 8])) as tf.Tensor).dataSync());
  const mine = Float64Array.from((await ours.predict(x, batch)).logits);
  assert.ok(relativeError(mine, theirs) < 1e-6, `IR vs tfjs-layers: ${relativeError(mine, theirs)}`);
  // Both engines on the mapped model (the clip written as Relu − Relu(x − m)).
  const target = new Float32Array(batch * 3).map((_, i) => (i % 3 === 1 ? 1 : 0));
  const opts = { batch, input: x, target, loss: 'cross-entropy' as const };
  const onnx = ours.operator(opts);
  const tj = await TfjsInversionOperator.create({ ...opts, file, trainable: ours.trainable, specialise: (b) => ours.specialise(b), backend: 'cpu' });
  try {
    const u = seededVector(onnx.parameterCount, 4);
    const a = new Float64Array(onnx.inputSize);
    const b = new Float64Array(onnx.inputSize);
    await onnx.jacobianVector(u, a);
    await tj.jacobianVector(u, b);
    assert.ok(relativeError(b, a) < 1e-5, `J u tfjs vs onnx: ${relativeError(b, a)}`);
  } finally {
    await onnx.dispose();
    await tj.dispose();
  }
});

test('a Keras ReLU with a threshold or a slope is refused with a located message, not analysed as a plain ReLU', async () => {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ name: 'd', units: 4, inputShape: [3] }), tfl.layers.reLU({ name: 'odd' })] });
  const file = await saved(model);
  // tfjs-layers writes max_value only; a Python Keras model converted by tfjs-converter carries these too.
  const json = JSON.parse(readFileSync(file, 'utf8'));
  json.modelTopology.config.layers[1].config.threshold = 0.5;
  writeFileSync(file, JSON.stringify(json));
  await assert.rejects(OnnxModel.open(file), (e: unknown) => e instanceof UserError && e.code === 'unsupported-op' && e.location.node === 'odd' && /threshold 0\.5/.test(e.message));
});


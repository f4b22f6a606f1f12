// Keras layers beyond the fixtures' (relu6, ReLU(max_value), Rescaling, ZeroPadding2D, Multiply, Average) in tfjs
// layers models written by tfjs-layers itself: our IR's outputs (run by onnxruntime) equal tfjs-layers' own
// predict, with inputs chosen so the clips are reached, and both engines' products agree on the mapped models.

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


test('Rescaling, asymmetric ZeroPadding2D, Multiply and Average (functional model) map exactly', async () => {
  await activateBackend('cpu');
  const init = (seed: number) => tfl.initializers.randomNormal({ mean: 0, stddev: 0.7, seed });
  const input = tfl.input({ shape: [6, 5, 2] });
  const scaled = tfl.layers.rescaling({ name: 'rescale', scale: 0.5, offset: -0.2 }).apply(input) as tfl.SymbolicTensor;
  const padded = tfl.layers.zeroPadding2d({ name: 'pad', padding: [[2, 0], [1, 3]] }).apply(scaled) as tfl.SymbolicTensor; // 8×9
  const a = tfl.layers.conv2d({ name: 'ca', filters: 3, kernelSize: 3, activation: 'tanh', kernelInitializer: init(1), biasInitializer: init(2) }).apply(padded) as tfl.SymbolicTensor;
  const b = tfl.layers.conv2d({ name: 'cb', filters: 3, kernelSize: 3, activation: 'sigmoid', kernelInitializer: init(3) }).apply(padded) as tfl.SymbolicTensor;
  const prod = tfl.layers.multiply({ name: 'mul' }).apply([a, b]) as tfl.SymbolicTensor;
  const avg = tfl.layers.average({ name: 'avg' }).apply([a, prod, b]) as tfl.SymbolicTensor;
  const flat = tfl.layers.flatten({ name: 'flat' }).apply(avg) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ name: 'out', units: 4, kernelInitializer: init(4) }).apply(flat) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  const file = await saved(model);
  const ours = await OnnxModel.open(file);
  assert.deepEqual(ours.sampleDims, [2, 6, 5]);
  const batch = 3;
  const x = Float32Array.from(seededVector(batch * ours.sampleSize, 6), (v) => 1 + v); // NCHW
  const theirs = Float64Array.from((model.predict(tf.transpose(tf.tensor(x, [batch, 2, 6, 5]), [0, 2, 3, 1])) as tf.Tensor).dataSync());
  const mine = Float64Array.from((await ours.predict(x, batch)).logits);
  assert.ok(relativeError(mine, theirs) < 1e-6, `IR vs tfjs-layers: ${relativeError(mine, theirs)}`);
  const target = new Float32Array(batch * 4).map((_, i) => (i % 4 === 2 ? 1 : 0));
  const opts = { batch, input: x, target, loss: 'cross-entropy' as const };
  const onnx = ours.operator(opts);
  const tj = await TfjsInversionOperator.create({ ...opts, file, trainable: ours.trainable, specialise: (k) => ours.specialise(k), backend: 'wasm' });
  try {
    assert.deepEqual(onnx.parameters.map((p) => p.name), ['ca/kernel', 'ca/bias', 'cb/kernel', 'cb/bias', 'out/kernel', 'out/bias'], 'Rescaling and Average constants are not θ');
    const v = seededVector(onnx.inputSize, 8);
    const a1 = new Float64Array(onnx.parameterCount);
    const a2 = new Float64Array(onnx.parameterCount);
    await onnx.jacobianTransposeVector(v, a1);
    await tj.jacobianTransposeVector(v, a2);
    assert.ok(relativeError(a2, a1) < 1e-5, `Jᵀ v tfjs vs onnx: ${relativeError(a2, a1)}`);
  } finally {
    await onnx.dispose();
    await tj.dispose();
  }
});

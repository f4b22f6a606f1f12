// A tfjs layers model whose backbone layers are saved with `trainable: false` (Keras transfer learning): θ is the
// trainable layers' weights only, and g over it equals tfjs-layers' own gradient w.r.t. model.trainableWeights.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { activateBackend } from '../../../server/src/backends/tfjs/backend';
import { namedParameters } from '../../../server/src/graph/parameters';
import { relativeError, seededVector } from './helpers';

async function saved(model: tfl.LayersModel): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-tfjs-frozen-'));
  await model.save(tf.io.withSaveHandler(async (a) => {
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['w.bin'], weights: a.weightSpecs }] }));
    writeFileSync(join(dir, 'w.bin'), new Uint8Array(a.weightData as ArrayBuffer));
    return { modelArtifactsInfo: { dateSaved: new Date(0), modelTopologyType: 'JSON' } };
  }));
  return join(dir, 'model.json');
}

test('layers saved with trainable: false are frozen: θ is the head, g equals tfjs-layers\' gradient w.r.t. its trainableWeights', async () => {
  await activateBackend('cpu');
  const init = (seed: number) => tfl.initializers.randomNormal({ mean: 0, stddev: 0.7, seed });
  const model = tfl.sequential({
    layers: [
      tfl.layers.dense({ name: 'base1', units: 10, inputShape: [6], activation: 'tanh', kernelInitializer: init(1), biasInitializer: init(2), trainable: false }),
      tfl.layers.dense({ name: 'base2', units: 8, activation: 'tanh', kernelInitializer: init(3), biasInitializer: init(4), trainable: false }),
      tfl.layers.dense({ name: 'head', units: 4, kernelInitializer: init(5), biasInitializer: init(6) }),
    ],
  });
  const ours = await OnnxModel.open(await saved(model));
  assert.deepEqual([...ours.trainable].sort(), ['head/bias', 'head/kernel']);
  assert.equal(namedParameters(ours.model).length, 6, 'the frozen weights stay in the graph');

  const x = Float32Array.from(seededVector(6, 7));
  const label = 2;
  const op = ours.operator({ batch: 1, input: x, target: Float32Array.from([0, 0, 1, 0]), loss: 'cross-entropy' });
  try {
    assert.equal(op.parameterCount, 8 * 4 + 4);
    const g = new Float64Array(op.parameterCount);
    await op.gradient(g);
    // tfjs-layers' own first-order gradient of the mean cross-entropy on the logits, w.r.t. what it trains.
    assert.deepEqual(model.trainableWeights.map((w) => w.originalName).sort(), ['head/bias', 'head/kernel']);
    const values = model.trainableWeights.map((w) => w.read());
    const loss = (...theta: tf.Tensor[]) => {
      // The head applied to the frozen layers' output, its weights the differentiated arguments.
      const features = tfl.sequential({ layers: [model.layers[0], model.layers[1]] }).apply(tf.tensor(x, [1, 6])) as tf.Tensor;
      const [kernel, bias] = model.trainableWeights[0].originalName.endsWith('kernel') ? theta : [theta[1], theta[0]];
      return tf.losses.softmaxCrossEntropy(tf.oneHot([label], 4), tf.add(tf.matMul(features, kernel), bias)) as tf.Scalar;
    };
    const gradsList = tf.grads(loss)(values);
    const truth = new Float64Array(op.parameterCount);
    for (const p of op.parameters) {
      const gw = gradsList[model.trainableWeights.findIndex((t) => t.originalName === p.name)];
      // Our Gemm keeps a Dense kernel as [out, in] (layersModel.ts): tfjs' [in, out] transposed.
      const values = p.dims.length === 2 ? tf.transpose(gw).dataSync() : gw.dataSync();
      truth.set(Float64Array.from(values), p.offset);
    }
    assert.ok(relativeError(g, truth) < 1e-5, `g vs tfjs-layers: ${relativeError(g, truth)}`);
  } finally {
    await op.dispose();
  }
});

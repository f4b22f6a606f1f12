// attackView: what the spectrum page draws of a real attack run (the MLP fixture, batch 2, through attackModel as
// the server's job runs it). The per-sample arrays must be the data's rows and the run's own outputs, and every
// number the report's: the page recomputes nothing, so a slip here would show wrong pictures beside right numbers.

import test from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { attackModel, type AttackRequest } from '../../../server/src/analysis/attack';
import { attackView } from '../../../server/src/analysis/attackView';
import { rmse } from '../../../server/src/engine/metrics';
import { readNpy } from '../../../server/src/formats/npy';
import { MODELS } from './helpers';

const dir = join(MODELS, 'mlp');
const request = (extra: Partial<AttackRequest> = {}): AttackRequest => ({
  model: join(dir, 'model.onnx'), data: join(dir, 'x.npy'), labels: join(dir, 'labels.npy'), batch: 2, defences: ['gaussian:std=0.001'],
  seed: 0, loss: 'cross-entropy', attack: { optimizer: 'lbfgs', objective: 'l2', tv: 0, restarts: 1, steps: 40 }, keepInputs: true, ...extra,
});

test('attackView cuts a real run into per-sample original / predicted / recovered with the report\'s numbers', async () => {
  const report = await attackModel(request());
  const v = attackView(report, 'train.yaml');
  const x = Array.from((await readNpy(join(dir, 'x.npy'))).data as Float32Array, Number);
  assert.deepEqual(v.sampleDims, [64]);
  assert.equal(v.image, null, 'feature vectors are not pictures');
  assert.equal(v.rows, 1);
  // The box the data lives in holds [0, 1] and the data (analysis/inputs.ts), not the samples' own minimum.
  assert.equal(v.lo, Math.min(0, ...x));
  assert.ok(v.hi >= Math.max(...x));
  assert.match(v.method, /^L-BFGS on the L2 \(DLG\) objective, up to 40 steps$/);
  const b = report.results[0];
  const vb = v.batches[0];
  assert.equal(vb.rmse, b.rmse);
  assert.equal(vb.predictedRmse, b.predictedRmse);
  assert.equal(vb.ratio, b.ratio);
  assert.equal(vb.converged, b.prediction.converged);
  assert.deepEqual(vb.labels, [3, 0]);
  for (const [i, s] of vb.perSample.entries()) {
    assert.deepEqual(s.original, x.slice(i * 64, (i + 1) * 64), `sample ${i}: the data's row`);
    const err = (a: number[]) => rmse(Float64Array.from(a, (val, j) => val - s.original[j]));
    // Independent of the cut: each sample's error from its own arrays is the report's per-sample number.
    assert.ok(Math.abs(err(s.recovered) - b.perSample[i].rmse) <= 1e-12 * b.perSample[i].rmse, `sample ${i}: recovered RMSE`);
    assert.ok(Math.abs(err(s.predicted) - b.perSample[i].predictedRmse) <= 1e-12 * b.perSample[i].predictedRmse, `sample ${i}: predicted RMSE`);
    assert.equal(s.label, b.labels[i]);
  }
  const both = [...vb.perSample[0].recovered, ...vb.perSample[1].recovered];
  assert.ok(Math.abs(rmse(Float64Array.from(both, (val, j) => val - x[j])) - b.rmse) <= 1e-12 * b.rmse, 'batch RMSE from the two cuts');
});

test('a large batch is drawn for its first samples only, with the whole batch\'s numbers', async () => {
  const report = await attackModel(request());
  const v = attackView(report, 'train.yaml', 1);
  assert.equal(v.batches[0].perSample.length, 1);
  assert.deepEqual(v.batches[0].samples, [0, 1]);
  assert.equal(v.batches[0].rmse, report.results[0].rmse);
});

test('a solve cut short is carried to the page as not converged', async () => {
  const v = attackView(await attackModel(request({ maxIterations: 2 })), 'train.yaml');
  assert.equal(v.batches[0].converged, false);
  assert.ok(v.batches[0].relativeResidual > 1e-3);
});

test('without keepInputs there is nothing to draw, and attackView says so', async () => {
  const report = await attackModel(request({ keepInputs: false }));
  assert.equal(report.results[0].inputs, undefined);
  assert.throws(() => attackView(report, 'train.yaml'), /keepInputs/);
});

test('the editor\'s job (maxSamples = one batch) takes the first samples\' labels from a longer labels file', async () => {
  // Regression: openRun compared the labels with the samples left after maxSamples ("2 labels for 1 samples").
  const report = await attackModel(request({ batch: 1, maxSamples: 1 }));
  assert.equal(report.results.length, 1);
  assert.deepEqual(report.results[0].labels, [3]);
  assert.deepEqual((await attackModel(request({ batch: 1, maxSamples: 1, labels: [5] }))).results[0].labels, [5], 'or labels for the kept samples only');
  await assert.rejects(attackModel(request({ labels: [1, 2, 3], maxSamples: 1 })), /3 labels for the first 1 of 2 samples/);
  await assert.rejects(attackModel(request({ labels: [1, 2, 3] })), /3 labels for 2 samples/);
});

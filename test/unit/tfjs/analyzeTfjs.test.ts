// `i2f analyze` on a TensorFlow.js model.json: the layers and graph twins (same weights) open into the IR and the ONNX
// derivative-graph engine gives the ONNX file's I²F numbers to 1e-3 (issue 6: "the same I²F numbers (≤ 1e-3)").
// The MLP's θ layout is the ONNX one, so even the seeded Gaussian draw of δ is the same; the LeNet's first Dense
// reads Keras's (H, W, C) flatten order and the ResNet's θ is in Keras's layer order, so their δ comes from pruning
// (deterministic, permutation-equivariant).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyzeModel, type AnalyzeRequest, type BatchReport } from '../../../server/src/analysis/analyzeModel';
import { modelsRoot, tfjsRoot } from './helpers';

const TOL = 1e-3;

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
}

async function compare(name: string, defences: string[], keys: (keyof BatchReport)[], t: { diagnostic: (s: string) => void }, twin = name) {
  const dir = join(modelsRoot, name);
  const base: Omit<AnalyzeRequest, 'model'> = {
    data: join(dir, 'x.npy'), labels: join(dir, 'labels.npy'), batch: 2, defences,
    damping: 1e-3, spectrumK: 2, seed: 3, loss: 'cross-entropy', maxSamples: 2, traceSamples: 2,
  };
  const onnx = await analyzeModel({ ...base, model: join(dir, 'model.onnx') });
  const tfjs = await analyzeModel({ ...base, model: join(tfjsRoot, twin, 'model.json') });
  assert.equal(tfjs.model.format, 'tfjs');
  assert.equal(onnx.model.format, 'onnx');
  assert.equal(tfjs.model.parameters, onnx.model.parameters);
  assert.deepEqual(tfjs.model.inputShape, onnx.model.inputShape, 'NHWC input analysed as NCHW');
  const a = tfjs.results[0];
  const b = onnx.results[0];
  assert.ok(a.solver.converged && b.solver.converged, `solves converged: tfjs ${a.solver.relativeResidual}, onnx ${b.solver.relativeResidual}`);
  assert.deepEqual(a.labels, b.labels);
  const rows: string[] = [];
  for (const k of keys) {
    const e = rel(a[k] as number, b[k] as number);
    rows.push(`${k} ${(a[k] as number).toExponential(4)} (${e.toExponential(1)})`);
    assert.ok(e <= TOL || a[k] === b[k], `${name} ${k}: tfjs ${a[k]} vs onnx ${b[k]}`);
  }
  assert.equal(a.risk, b.risk);
  t.diagnostic(`${twin}: ${rows.join(', ')}`);
}

test('MLP: analysing model.json gives the .onnx twin’s loss, λmax, I_lb, I²F and PSNR (Gaussian δ, same seed)', async (t) => {
  await compare('mlp', ['gaussian:std=1e-3'], ['loss', 'gradientNorm', 'deltaNorm', 'jDeltaNorm', 'lambdaMax', 'lowerBound', 'i2f', 'i2fExpected', 'rmse', 'psnr'], t);
});

test('LeNet (conv, pooling, NHWC flatten): model.json gives the .onnx twin’s numbers (pruned δ)', async (t) => {
  await compare('lenet5_pool', ['prune:ratio=0.9'], ['loss', 'gradientNorm', 'deltaNorm', 'jDeltaNorm', 'lambdaMax', 'lowerBound', 'i2f', 'rmse', 'psnr'], t);
});

test('DLG LeNet (padded stride-2 convs, sigmoid): model.json gives the .onnx twin’s numbers (pruned δ, damped)', async (t) => {
  await compare('dlg_lenet', ['prune:ratio=0.9'], ['loss', 'gradientNorm', 'deltaNorm', 'jDeltaNorm', 'lambdaMax', 'lowerBound', 'i2f', 'rmse', 'psnr'], t);
});

test('ResNet-8 (functional: BatchNormalization, Add, global pool): model.json gives the .onnx twin’s numbers (pruned δ)', async (t) => {
  await compare('resnet8', ['prune:ratio=0.9'], ['loss', 'gradientNorm', 'deltaNorm', 'jDeltaNorm', 'lambdaMax', 'lowerBound', 'i2f', 'rmse', 'psnr'], t);
});

test('graph models (tfjs-converter format): model.json gives the .onnx twin’s numbers too', async (t) => {
  await compare('mlp', ['gaussian:std=1e-3'], ['loss', 'gradientNorm', 'deltaNorm', 'lambdaMax', 'lowerBound', 'i2f', 'i2fExpected', 'psnr'], t, 'graph_mlp');
  await compare('lenet5_pool', ['prune:ratio=0.9'], ['loss', 'gradientNorm', 'deltaNorm', 'lambdaMax', 'lowerBound', 'i2f', 'psnr'], t, 'graph_lenet5_pool');
});

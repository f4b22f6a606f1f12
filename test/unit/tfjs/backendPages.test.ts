// i2f.backend on the spectrum page and the attack (issue: "the spectrum page and the attack honour i2f.backend"):
// with backend tfjs their products run on the TensorFlow.js engine, the state/report names it, and the numbers are
// the ONNX engine's within what the engines' product agreement (≤1e-5 relative, tfjs/crossCheck.ts) allows.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { computeSpectrumState, spectrumView, type SpectrumRequest } from '../../../server/src/analysis/spectrumData';
import { attackModel, type AttackRequest } from '../../../server/src/analysis/attack';
import { ensureBuilt, runCli } from '../../cli/helpers';
import { modelsRoot } from './helpers';

const dir = join(modelsRoot, 'mlp');
const common = {
  model: join(dir, 'model.onnx'), data: join(dir, 'x.npy'), labels: join(dir, 'labels.npy'), batch: 2,
  defences: ['gaussian:std=0.001'], seed: 0, loss: 'cross-entropy' as const,
};
/** Relative disagreement of the engines' products (crossCheck's bound). */
const PRODUCT = 1e-5;
const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

const DAMPING = 1e-3;
const spectrumRequest: SpectrumRequest = { ...common, config: 'train.yaml', damping: DAMPING, k: 3, steps: 30, sample: 1 };
/** The ONNX engine's spectrum state (both tests need its λmax for κ). */
const onnxSpectrum = computeSpectrumState(spectrumRequest);
/** A damped solve's relative error is at most κ = (λmax+ε)/ε times the products' (×10 margin). */
const solveTolerance = (lambdaMax: number) => Math.min(1e-2, (10 * PRODUCT * (lambdaMax + DAMPING)) / DAMPING);

test('spectrum page with backend tfjs: the tfjs engine, in the state and its key, with the ONNX engine’s numbers', async () => {
  const req = spectrumRequest;
  const onnx = await onnxSpectrum;
  const tfjs = await computeSpectrumState({ ...req, backend: 'tfjs' });
  assert.equal(onnx.view.settings.backend, 'onnx');
  assert.equal(tfjs.view.settings.backend, 'tfjs');
  assert.notEqual(tfjs.view.key, onnx.view.key, 'the server never answers a tfjs page from an onnx state');

  // Eigenvalues move by at most ‖ΔG‖ ≤ PRODUCT·λmax (Weyl); ×10 for the Lanczos runs' own rounding.
  const a = tfjs.view.spectrum;
  const b = onnx.view.spectrum;
  assert.ok(rel(a.lambdaMax, b.lambdaMax) <= 10 * PRODUCT, `λmax: tfjs ${a.lambdaMax} vs onnx ${b.lambdaMax}`);
  for (const [i, l] of b.top.entries()) assert.ok(Math.abs(a.top[i] - l) <= 10 * PRODUCT * b.lambdaMax, `top[${i}]`);
  const va = spectrumView(tfjs).noise;
  const vb = spectrumView(onnx).noise;
  for (const k of ['i2f', 'expectedRmse', 'lowerBound'] as const) {
    assert.ok(rel(va[k], vb[k]) <= solveTolerance(b.lambdaMax), `${k}: tfjs ${va[k]} vs onnx ${vb[k]}`);
  }
  assert.equal(va.converged, true);
  // Different kernels round differently: bit-equal numbers would mean the ONNX engine ran both.
  assert.ok(a.lambdaMax !== b.lambdaMax || va.i2f !== vb.i2f, 'the tfjs page used the tfjs engine');
});

test('attack with backend tfjs: the report names the tfjs engine; prediction tight, a short attack close', async () => {
  const req: AttackRequest = { ...common, damping: DAMPING, attack: { optimizer: 'lbfgs', objective: 'l2', tv: 0, restarts: 1, steps: 3 } };
  const onnx = await attackModel(req);
  const tfjs = await attackModel({ ...req, backend: 'tfjs' });
  assert.equal(onnx.model.backend, 'onnx');
  assert.equal(tfjs.model.backend, 'tfjs');
  const a = tfjs.results[0];
  const b = onnx.results[0];
  // Different kernels round differently: bit-equal numbers would mean the ONNX engine ran both.
  assert.ok(a.initialLoss !== b.initialLoss || a.predictedRmse !== b.predictedRmse, 'the tfjs run used the tfjs engine');
  // The I²F prediction: the same damped solve as the spectrum page's.
  const solve = solveTolerance((await onnxSpectrum).view.spectrum.lambdaMax);
  for (const k of ['predictedRmse', 'lowerBoundRmse'] as const) assert.ok(rel(a[k], b[k]) <= solve, `${k}: tfjs ${a[k]} vs onnx ${b[k]}`);
  assert.ok(rel(a.expectedRmse!, b.expectedRmse!) <= solve, `expectedRmse: tfjs ${a.expectedRmse} vs onnx ${b.expectedRmse}`);
  for (const [i, p] of b.perSample.entries()) assert.ok(rel(a.perSample[i].predictedRmse, p.predictedRmse) <= solve, `sample ${i} prediction`);
  assert.equal(a.prediction.converged, true);
  // Three L-BFGS steps from the same start: the gradients differ by ~PRODUCT, line searches may amplify it; loosely.
  assert.equal(a.steps, b.steps);
  assert.ok(rel(a.initialLoss, b.initialLoss) <= 10 * PRODUCT, `initial loss: ${a.initialLoss} vs ${b.initialLoss}`);
  assert.ok(rel(a.rmse, b.rmse) <= 1e-2, `attack RMSE: tfjs ${a.rmse} vs onnx ${b.rmse}`);
  assert.ok(rel(a.loss, b.loss) <= 1e-2, `attack loss: tfjs ${a.loss} vs onnx ${b.loss}`);
});

test('i2f attack --backend tfjs (the built CLI) reports the tfjs engine; an unknown engine is a usage error', async () => {
  ensureBuilt();
  const args = [join(dir, 'model.onnx'), '--data', join(dir, 'x.npy'), '--batch', '2', '--steps', '2', '--damping', '1e-3', '--json'];
  const ok = await runCli(['attack', ...args, '--backend', 'tfjs'], { timeoutMs: 120_000 });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).model.backend, 'tfjs');
  const bad = await runCli(['attack', ...args, '--backend', 'pytorch'], { timeoutMs: 120_000 });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--backend 'pytorch' is not available \(available: onnx, tfjs\)/);
});

// Numbers that must not be trusted are not shown as a confident risk: a solve stopped by a tiny iteration budget,
// NaN in a product, a singular J Jᵀ with δ outside its range. Engine level (a dense J) and CLI level (a real model).

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { rmSync } from 'node:fs';
import { analyzeInfluence } from '../../server/src/engine/influence';
import { DenseInversionOperator, denseJacobian, geometricSpectrum } from '../unit/engine/denseOperator';
import { CLI, corpusCopy, REPO } from './corpus';

test('engine: a solve that runs out of iterations is uncertain and carries its residual', async () => {
  const jac = denseJacobian(20, 40, geometricSpectrum(20, 1, 1e6), 3);
  const delta = Float64Array.from({ length: 40 }, (_, i) => Math.sin(i + 1));
  const r = await analyzeInfluence(new DenseInversionOperator(jac), { delta, maxIterations: 2, tolerance: 1e-10 });
  assert.equal(r.solver.converged, false);
  assert.ok(r.solver.relativeResidual > 1e-10 && Number.isFinite(r.solver.relativeResidual), `residual ${r.solver.relativeResidual}`);
  assert.equal(r.risk, 'uncertain');
});

test('engine: NaN in a product is uncertain, never a level', async () => {
  const jac = denseJacobian(10, 20, geometricSpectrum(10, 1, 100), 5);
  jac.j[7] = NaN;
  const delta = Float64Array.from({ length: 20 }, (_, i) => Math.cos(i));
  const r = await analyzeInfluence(new DenseInversionOperator(jac), { delta });
  assert.equal(r.risk, 'uncertain');
});

test('engine: a singular J Jᵀ (zero eigenvalues) either solves in its range or says it did not converge', async () => {
  const lambdas = geometricSpectrum(12, 1, 10).map((l, i) => (i >= 8 ? 0 : l));
  const jac = denseJacobian(12, 24, lambdas, 9);
  const delta = Float64Array.from({ length: 24 }, (_, i) => ((i * 7) % 5) - 2);
  const r = await analyzeInfluence(new DenseInversionOperator(jac), { delta });
  assert.ok(Number.isFinite(r.solver.relativeResidual));
  if (r.risk !== 'uncertain') {
    assert.ok(r.solver.converged, 'a level is shown only for a converged solve');
    assert.ok(r.solver.relativeResidual <= 1e-6 * 10, `residual ${r.solver.relativeResidual}`);
    assert.ok(Number.isFinite(r.i2f) && Number.isFinite(r.psnr));
  }
});

test('CLI: --max-iterations 1 on the LeNet under DP-SGD reports uncertain with the residual, in JSON and in text', { timeout: 60_000 }, () => {
  const root = corpusCopy();
  try {
    const json = spawnSync(process.execPath, [CLI, 'analyze', 'examples/models/lenet.onnx', '--defense', 'dpsgd:clip=1,noise=1', '--max-iterations', '1', '--json'], { cwd: REPO, encoding: 'utf8' });
    assert.equal(json.status, 0, json.stderr);
    const b = JSON.parse(json.stdout).results[0];
    assert.equal(b.solver.converged, false);
    assert.equal(b.risk, 'uncertain');
    assert.ok(b.solver.relativeResidual > 1e-6);
    const text = spawnSync(process.execPath, [CLI, 'analyze', 'examples/models/lenet.onnx', '--defense', 'dpsgd:clip=1,noise=1', '--max-iterations', '1'], { cwd: REPO, encoding: 'utf8' });
    assert.match(text.stdout, /risk: UNCERTAIN \(solve did not converge: residual [0-9.e+-]+ after 1 iterations\)/);
    assert.doesNotMatch(text.stdout, /risk: (HIGH|MEDIUM|LOW)\b/);
    const nan = spawnSync(process.execPath, [CLI, 'analyze', 'models/nan-weights/model.onnx', '--json'], { cwd: root, encoding: 'utf8' });
    // A NaN weight still gives a result (the model loads and runs), and that result is never a confident level.
    assert.equal(nan.status, 0, nan.stderr);
    assert.equal(JSON.parse(nan.stdout).results[0].risk, 'uncertain');
  } finally {
    rmSync(dirname(root), { recursive: true, force: true });
  }
});

// The attack on the DLG LeNet (4 × conv 5×5, sigmoid, 32×32×3, batch 1; κ(J Jᵀ) ≈ 1.2e7) at I2F.md's "noise up to
// 1e-2·‖g0‖" (10 × the fixture's Gaussian δ): 1000 L-BFGS steps from the reference's random start. Measured
// (TS float32 products and PyTorch float64 alike): attack/prediction 0.895; the PyTorch reference also reached
// 0.989 at 1e-3·‖g0‖ (3000 steps) and 0.972 at 3e-3·‖g0‖ (2000 steps): too slow for a unit test (≈ 80 steps/s here).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runAttack } from '../../../server/src/engine/attack';
import { analyzeInfluence } from '../../../server/src/engine/influence';
import { spearman } from '../../../server/src/engine/attack';
import { dot } from '../../../server/src/engine/linalg';
import { ssim } from '../../../server/src/engine/ssim';
import { attackFixture, errorNorm, scaledTarget, sq } from './helpers';

/** The product's own undamped prediction for the fixture δ (I is linear: I(cδ) = c·I(δ)), solved once. */
let predicted: Promise<{ i2f: number; converged: boolean }> | undefined;
function enginePrediction(f: Awaited<ReturnType<typeof attackFixture>>) {
  predicted ??= analyzeInfluence(f.op, { delta: f.delta, batchSize: 1, productRoundoff: 2 ** -24 }).then((r) => ({ i2f: r.i2f, converged: r.solver.converged }));
  return predicted;
}

test('DLG LeNet at 1e-2·‖g0‖: the attack lands at 0.8–1.1 of the engine\'s own prediction, loss at the noise floor, RMSE = PyTorch attack ±3%', async () => {
  const f = await attackFixture('dlg_lenet');
  try {
    assert.ok(Math.abs(Math.sqrt(sq(f.delta)) - f.attackRef.fixtureDeltaNorm) < 1e-9 * f.attackRef.fixtureDeltaNorm,
      'the fixture δ changed: re-run tools/fixtures/attack_reference.py');
    const level = f.attackRef.levels.find((l: { scale: number }) => l.scale === 10);
    const c = 10;
    const p = await enginePrediction(f);
    assert.ok(p.converged, 'the prediction converged');
    assert.ok(Math.abs(p.i2f - f.ref.delta.i2f) <= 1e-2 * f.ref.delta.i2f, `engine I²F ${p.i2f} vs PyTorch ${f.ref.delta.i2f}`);
    f.op.setInput(f.x0);
    const r = await runAttack(f.op, { target: scaledTarget(f.g0, f.delta, c), optimizer: 'lbfgs', objective: 'l2', steps: level.attack.maxIterations, start: f.start });
    const err = errorNorm(r.x, f.x0);
    const pred = c * p.i2f;
    const ratio = err / pred;
    assert.ok(ratio >= 0.8 && ratio <= 1.1, `attack/prediction ${ratio}`);
    const Jd = new Float64Array(f.op.inputSize);
    f.op.setInput(f.x0);
    await f.op.jacobianVector(f.delta, Jd);
    const floor = c * c * (sq(f.delta) - dot(Jd, f.i2fVector));
    assert.ok(r.loss / floor > 0.99 && r.loss / floor < 1.02, `loss ${r.loss} vs linearised floor ${floor}`);
    assert.ok(r.history[0] / r.loss > 100, `loss fell from ${r.history[0]} to ${r.loss}`);
    const rm = err / Math.sqrt(f.op.inputSize);
    assert.ok(Math.abs(rm / level.attack.rmse - 1) < 0.03, `TS ${rm} vs PyTorch ${level.attack.rmse}`);
    const s = ssim(f.x0, r.x, [3, 32, 32])!.ssim;
    assert.ok(s > 0 && s < 1, `SSIM ${s}`);
    console.log(`# LeNet scale 10: ratio ${ratio.toFixed(4)} (PyTorch ${level.ratio.toFixed(4)}), loss/floor ${(r.loss / floor).toFixed(4)}, SSIM ${s.toFixed(3)}, ${(r.steps / (r.ms / 1000)).toFixed(0)} steps/s`);
  } finally {
    await f.op.dispose();
  }
});

test('DLG LeNet: PyTorch\'s attacks at 1e-3, 3e-3 and 1e-2·‖g0‖ land within 0.8–1.1 of the engine\'s prediction and rank like it', async () => {
  const f = await attackFixture('dlg_lenet');
  try {
    const p = await enginePrediction(f);
    const levels = f.attackRef.levels as { scale: number; attack: { errorNorm: number } }[];
    const ratios = levels.map((l) => l.attack.errorNorm / (l.scale * p.i2f));
    for (const [k, q] of ratios.entries()) assert.ok(q >= 0.8 && q <= 1.1, `scale ${levels[k].scale}: attack/prediction ${q}`);
    assert.ok(spearman(levels.map((l) => l.scale * p.i2f), levels.map((l) => l.attack.errorNorm)) >= 0.9);
  } finally {
    await f.op.dispose();
  }
});

// The attack on the fixture MLP (64 → 32 sigmoid → 10, batch 2, κ(J Jᵀ) = 4.7): L-BFGS on the L2 objective lands on
// the undamped I²F prediction at every noise level (I2F.md: ratio 1.000), its loss settles on the noise floor,
// the sweep ranks like the prediction, and it agrees with the PyTorch float64 attack (tools/fixtures/attack_reference.py).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runAttack } from '../../../server/src/engine/attack';
import { attackBatch } from '../../../server/src/analysis/attack';
import { spearman } from '../../../server/src/engine/attack';
import { dot } from '../../../server/src/engine/linalg';
import { attackFixture, errorNorm, scaledTarget, sq } from './helpers';

test('MLP: L-BFGS attack = I²F prediction (±1%) and = the PyTorch attack (±0.1%) at 6 noise levels; loss at the floor; Spearman 1', async () => {
  const f = await attackFixture('mlp');
  try {
    assert.ok(Math.abs(Math.sqrt(sq(f.delta)) - f.attackRef.fixtureDeltaNorm) < 1e-9 * f.attackRef.fixtureDeltaNorm,
      'the fixture δ changed: re-run tools/fixtures/attack_reference.py');
    const Jd = new Float64Array(f.op.inputSize);
    await f.op.jacobianVector(f.delta, Jd);
    const floor1 = sq(f.delta) - dot(Jd, f.i2fVector); // min ‖Jᵀe − δ‖² at e = I(δ): the linearised noise floor
    const predicted: number[] = [], attacked: number[] = [];
    for (const level of f.attackRef.levels) {
      const c = level.scale;
      const r = await runAttack(f.op, { target: scaledTarget(f.g0, f.delta, c), optimizer: 'lbfgs', objective: 'l2', steps: 100, start: f.start });
      const err = errorNorm(r.x, f.x0);
      const pred = c * f.ref.delta.i2f;
      const ratio = err / pred;
      const floor = c * c * floor1;
      assert.ok(ratio > 0.99 && ratio < 1.01, `scale ${c}: attack/prediction ${ratio}`);
      assert.ok(r.loss / floor > 0.999 && r.loss / floor < 1.002, `scale ${c}: loss ${r.loss} vs floor ${floor}`);
      assert.ok(r.history[0] / r.loss > 10, `scale ${c}: loss fell from ${r.history[0]} to ${r.loss}`);
      const torchRmse = level.attack.rmse;
      const rm = err / Math.sqrt(f.op.inputSize);
      assert.ok(Math.abs(rm / torchRmse - 1) < 1e-3, `scale ${c}: TS ${rm} vs PyTorch ${torchRmse}`);
      predicted.push(pred);
      attacked.push(err);
    }
    assert.ok(spearman(predicted, attacked) >= 0.9, `Spearman ${spearman(predicted, attacked)}`);
    assert.equal(spearman(predicted, attacked), 1);
  } finally {
    await f.op.dispose();
  }
});

test('MLP: attackBatch with a Gaussian defence and a sweep compares with analyzeInfluence for the same δ', async () => {
  const f = await attackFixture('mlp');
  try {
    const r = await attackBatch(f.op, {
      x0: f.x0, sampleDims: [64], batchSize: 2, dataLo: 0, dataHi: 1, defences: [{ kind: 'gaussian', std: 4e-5 }], seed: 3,
      attack: { optimizer: 'lbfgs', objective: 'l2', steps: 100, tv: 0, restarts: 2 },
      sweep: { kind: 'rel', values: [1e-4, 1e-3, 3e-3, 1e-2, 3e-2] },
    });
    const rep = r.report;
    assert.ok(Math.abs(rep.ratio - 1) < 0.01, `ratio ${rep.ratio}`);
    assert.equal(rep.ssim, null, 'SSIM is not defined for 1-D inputs');
    assert.ok(rep.lowerBoundRmse < rep.predictedRmse);
    assert.ok(rep.loss < rep.noiseFloor && rep.loss > 0.8 * rep.noiseFloor, `loss ${rep.loss} vs ‖δ‖² ${rep.noiseFloor}`);
    assert.equal(r.attack.runs.length, 2);
    // the predicted picture is x0 + I(δ): the attack lands on it
    assert.ok(errorNorm(r.recovered, r.predicted) < 0.02 * errorNorm(r.predicted, r.original));
    for (const l of rep.sweep!.levels) assert.ok(Math.abs(l.ratio - 1) < 0.01, `sweep std ${l.std}: ratio ${l.ratio}`);
    assert.ok(rep.sweep!.spearman >= 0.9, `Spearman ${rep.sweep!.spearman}`);
  } finally {
    await f.op.dispose();
  }
});

test('MLP: Inverting Gradients (cosine objective, signed Adam, box) lowers the cosine loss; abort stops the attack', async () => {
  const f = await attackFixture('mlp');
  try {
    const target = scaledTarget(f.g0, f.delta, 1);
    const r = await runAttack(f.op, { target, optimizer: 'adam', objective: 'cosine', steps: 300, learningRate: 0.05, box: { lo: 0, hi: 1 }, seed: 1 });
    assert.ok(r.loss < 0.05 * r.history[0], `cosine loss ${r.history[0]} → ${r.loss}`);
    assert.ok(r.x.every((v) => v >= 0 && v <= 1), 'box');
    assert.ok(errorNorm(r.x, f.x0) < 0.5 * errorNorm(f.start, f.x0), 'closer to x0 than the start');
    const ac = new AbortController();
    await assert.rejects(runAttack(f.op, {
      target, steps: 1000, signal: ac.signal, onProgress: (p) => { if (p.step === 3) ac.abort(new Error('stop')); },
    }), /stop/);
  } finally {
    await f.op.dispose();
  }
});

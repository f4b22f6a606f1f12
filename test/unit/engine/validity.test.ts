// What a prediction is worth (engine/validity.ts through analyzeInfluence) on dense Jacobians whose truth is known:
// the gradient that determines nothing, the box cap, the first-order regime, the damped bound and its certificate,
// grading on the most exposed sample with the attack spread, clipping as a rescaling, noise masked by a later top-k.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDefences } from '../../../server/src/engine/defences';
import { analyzeInfluence, evaluateNoiseScale } from '../../../server/src/engine/influence';
import { psnr } from '../../../server/src/engine/metrics';
import { Random } from '../../../server/src/engine/random';
import { riskLevel } from '../../../server/src/engine/risk';
import { gradedBasis } from '../../../server/src/analysis/validityText';
import { ATTACK_SPREAD_DB, FIRST_ORDER_LIMIT, OUT_OF_REGIME_SPREAD_DB, SHARED_GRADIENT_ROUNDOFF, type Validity } from '../../../server/src/engine/validity';

/** The grade's rule (validity.ts), written out: the better of the most exposed and the box-projected PSNR + 1.9 dB;
 * outside the first-order regime at least the raw most exposed PSNR + 6.0 dB. */
function expectedGrade(v: Validity, exposedPsnr: number): number {
  const inside = Math.max(exposedPsnr, v.boxProjectedPsnr ?? -Infinity) + ATTACK_SPREAD_DB;
  return v.firstOrder ? inside : Math.max(inside, v.rawMostExposedPsnr + OUT_OF_REGIME_SPREAD_DB);
}
import { DenseInversionOperator, denseJacobian, exactInfluence, geometricSpectrum } from './denseOperator';
import { assertClose, l2 } from './helpers';

const dx = 30, dtheta = 60;
const gradient = new Random(8).fillNormal(new Float64Array(dtheta)); // ‖g‖ ≈ 7.7
const g = l2(gradient);

describe('validity of the prediction', () => {
  it('a gradient that moves less than its own float32 rounding across the box determines nothing: LOW, box worst case, not HIGH', async () => {
    // λmax 3e-20 (the torchvision EfficientNet-B0 at initialisation, issue 15): √λmax·1·√30 ≈ 9.5e-10 < 2⁻²⁴·‖g‖ ≈ 4.6e-7
    const jac = denseJacobian(dx, dtheta, geometricSpectrum(dx, 3e-20, 1e3), 5);
    const op = new DenseInversionOperator(jac, { gradient });
    for (const defences of [[], ['gaussian:std=0.001']]) {
      const r = await analyzeInfluence(op, { defences: parseDefences(defences), seed: 1, maxIterations: 200 });
      assert.equal(r.validity.determined, 'none', defences.join());
      assert.ok(r.validity.sensitivity <= SHARED_GRADIENT_ROUNDOFF * g);
      assert.equal(r.risk, 'low', `${defences.join()}: not HIGH, not a confident number either way`);
      assert.equal(r.expectedRmse, 0.5);
      assertClose(r.expectedPsnr, 20 * Math.log10(2), 1e-12, 'the box floor');
      // Graded on the box's worst case too, not on the raw I²F (the EfficientNet's damped I²F 1e-12 read 347 dB here).
      assertClose(r.validity.gradedPsnr, 20 * Math.log10(2), 1e-12, 'graded on the box floor');
      assert.ok(r.perSample.every((s) => s.rmse === 0.5));
    }
    // The same J scaled up to λmax 1 determines everything it spans: no defence is then HIGH, as it should be.
    const live = await analyzeInfluence(new DenseInversionOperator(denseJacobian(dx, dtheta, geometricSpectrum(dx, 1, 1e3), 5), { gradient }), {});
    assert.equal(live.validity.determined, 'unknown');
    assert.equal(live.risk, 'high');
  });

  it('with the complete spectrum, the share of x that J Jᵀ determines is its numerical rank over d_x', async () => {
    // 24 directions determined (λ from 1e-9 down to ~1e-13), 6 whose eigenvalue (5e-16…3e-15) moves g by less than
    // its float32 rounding across the box ((2⁻²⁴·‖g‖)²/d_x ≈ 7e-15), yet well above λmax's own rounding: Lanczos
    // sees all 30 (a complete spectrum) and the 6 are counted as undetermined.
    const lambdas = geometricSpectrum(dx, 1e-9, 1e4).map((l, i) => (i >= 24 ? 5e-16 * (30 - i) : l));
    const r = await analyzeInfluence(new DenseInversionOperator(denseJacobian(dx, dtheta, lambdas, 6), { gradient }), {
      defences: parseDefences(['gaussian:std=0.01']), spectrumK: 3, spectrumSteps: dx, seed: 2,
    });
    assert.equal(r.validity.determined, 'partial');
    assertClose(r.validity.determinedShare!, 24 / 30, 1e-12, 'rank 24 of 30');
    assert.ok(r.validity.tinyEigenShare !== undefined && r.validity.tinyEigenShare >= 0 && r.validity.tinyEigenShare <= 1);
  });

  it('caps the RMSE shown at the box\'s worst case and keeps the raw first-order number as such', async () => {
    const jac = denseJacobian(dx, dtheta, geometricSpectrum(dx, 1, 1e4), 7);
    const r = await analyzeInfluence(new DenseInversionOperator(jac, { gradient }), { defences: parseDefences(['gaussian:std=1']), spectrumK: 1, spectrumSteps: dx, seed: 3 });
    assert.ok(r.validity.rawRmse > 0.5, `raw ${r.validity.rawRmse}`);
    assert.equal(r.validity.outOfRange, true);
    assert.equal(r.expectedRmse, 0.5);
    assert.ok(r.expectedPsnr >= r.validity.boxFloorPsnr - 1e-12);
    assertClose(r.validity.rawRmse, r.i2fExpected / Math.sqrt(dx), 1e-12, 'the raw RMSE is the I²F’s');
    // and the regime: ‖δ‖/‖g‖ = s·√d_θ/‖g‖ in expectation
    assertClose(r.validity.deltaRatio, Math.sqrt(dtheta) / g, 1e-12, '‖δ‖/‖g‖');
    assert.equal(r.validity.firstOrder, false);
    const small = evaluateNoiseScale(r.cache, (FIRST_ORDER_LIMIT * g) / Math.sqrt(dtheta) / 2);
    assert.equal(small.validity.firstOrder, true);
    assert.equal(small.validity.outOfRange, false);
  });

  it('grades the attacker that keeps its reconstruction in the box: the linear estimate projected onto it', async () => {
    const jac = denseJacobian(dx, dtheta, geometricSpectrum(dx, 1, 1e2), 8);
    const op = new DenseInversionOperator(jac, { gradient });
    // x0 on the box's lower face (a black image): projecting x0 + I onto [0, 1] keeps only the positive half of I.
    const x0 = new Float64Array(dx);
    const r = await analyzeInfluence(op, { defences: parseDefences(['gaussian:std=0.05']), box: { lo: 0, x0 }, seed: 9 });
    const e = new Float64Array(dx);
    for (let i = 0; i < dx; i++) e[i] = r.noise.std * r.cache.influenceNoise![i];
    const projected = Math.sqrt(e.reduce((a, v) => a + Math.min(1, Math.max(0, v)) ** 2, 0) / dx);
    assertClose(r.validity.boxProjectedPsnr!, psnr(projected), 1e-9, 'projected PSNR');
    assert.ok(r.validity.boxProjectedPsnr! > r.psnr, 'projection only removes error');
    assertClose(r.validity.gradedPsnr, expectedGrade(r.validity, r.mostExposed!.psnr), 1e-12, 'graded on the better of the two');
    // Without the box the grade is the expected PSNR's.
    const free = await analyzeInfluence(op, { defences: parseDefences(['gaussian:std=0.05']), seed: 9 });
    assert.equal(free.validity.boxProjectedPsnr, undefined);
  });

  it('a noise solve that did not converge makes a noisy result uncertain, not a noise-free one (clip-only stays HIGH)', async () => {
    const jac = denseJacobian(dx, dtheta, geometricSpectrum(dx, 1, 1e6), 14);
    const op = new DenseInversionOperator(jac, { gradient, exampleGradients: [gradient.map((v) => 3 * v)] });
    // δ = 0 (clipping is a rescaling), but the target PSNR asks for the noise response, whose solve is cut short.
    const r = await analyzeInfluence(op, { defences: parseDefences(['dpsgd:clip=1,noise=0']), targetPsnr: 15, maxIterations: 3 });
    assert.equal(r.solver.converged, false, 'the noise solve stopped early');
    assert.equal(r.risk, 'high', 'nothing protects the gradient: that does not depend on the noise solve');
    assert.equal(evaluateNoiseScale(r.cache, 0.01).risk, 'uncertain', 'a noise std does');
  });

  it('the damped lower bound is ‖Jδ‖/(λmax + ε) and stays below the damped I²F; it is certified only when λmax converged', async () => {
    const jac = denseJacobian(dx, dtheta, geometricSpectrum(dx, 4, 1e3), 9);
    const op = new DenseInversionOperator(jac, { gradient });
    const delta = new Random(4).fillNormal(new Float64Array(dtheta));
    for (const damping of [0, 0.5, 10]) {
      const r = await analyzeInfluence(op, { delta, damping, tolerance: 1e-12 });
      assertClose(r.lowerBound, r.jDeltaNorm / (4 + damping), 1e-9, `ε=${damping}`);
      assert.ok(r.lowerBound <= r.i2f * (1 + 1e-9), `ε=${damping}: I_lb ${r.lowerBound} ≤ I²F ${r.i2f}`);
      assertClose(r.i2f, l2(exactInfluence(jac, delta, damping)), 1e-6, `ε=${damping}: I²F`);
      assert.equal(r.validity.lowerBoundCertified, true);
    }
    // One Lanczos step cannot certify λmax on a spread spectrum.
    const early = await analyzeInfluence(op, { delta, lanczosSteps: 1 });
    assert.equal(early.lambdaMax.converged, false);
    assert.equal(early.validity.lowerBoundCertified, false);
  });

  it('grades the most exposed sample\'s PSNR raised by the attack spread, not the batch mean', async () => {
    const jac = denseJacobian(dx, dtheta, geometricSpectrum(dx, 1, 1e2), 11);
    const r = await analyzeInfluence(new DenseInversionOperator(jac, { gradient }), { defences: parseDefences(['gaussian:std=0.01']), batchSize: 3, spectrumK: 1, spectrumSteps: dx, seed: 5 });
    const best = Math.max(...r.perSample.map((s) => s.psnr));
    assertClose(r.mostExposed!.psnr, best, 1e-12, 'most exposed');
    assertClose(r.validity.gradedPsnr, expectedGrade(r.validity, best), 1e-12, 'graded PSNR');
    assert.equal(r.risk, riskLevel({ psnr: r.validity.gradedPsnr, converged: true }));
    // Inside the regime, a prediction 1 dB under the high threshold is graded high: the attack lands up to 1.9 dB above.
    const inRegime = evaluateNoiseScale(r.cache, (FIRST_ORDER_LIMIT * g) / Math.sqrt(dtheta) / 2);
    assert.equal(inRegime.validity.firstOrder, true);
    assertClose(inRegime.validity.gradedPsnr, inRegime.mostExposed!.psnr + ATTACK_SPREAD_DB, 1e-12, 'in regime: + 1.9 dB');
    // Outside it, an uncapped prediction is graded 6.0 dB up (the LeNet's attack beat it by 5.1 dB there).
    const outside = evaluateNoiseScale(r.cache, (FIRST_ORDER_LIMIT * g) / Math.sqrt(dtheta) * 3);
    assert.equal(outside.validity.firstOrder, false);
    assert.equal(outside.validity.outOfRange, false);
    assertClose(outside.validity.gradedPsnr, outside.mostExposed!.psnr + OUT_OF_REGIME_SPREAD_DB, 1e-12, 'outside: + 6.0 dB');
    // The hover's "Graded on" names the rule that decided (it said "+ 1.9 dB attack spread" for both before).
    assert.equal(gradedBasis(inRegime.validity), 'most exposed sample + 1.9 dB attack spread');
    assert.match(gradedBasis(outside.validity), /^the raw most exposed sample \+ 6\.0 dB: outside the first-order regime/);
  });

  it('clipping is not δ: clip-only leaves the gradient exact (HIGH), and DP noise meets the clipped gradient', async () => {
    const jac = denseJacobian(dx, dtheta, geometricSpectrum(dx, 1, 1e2), 12);
    const examples = [gradient.map((v) => 2 * v)]; // batch 1: ‖g_1‖ = 2‖g‖
    const op = new DenseInversionOperator(jac, { gradient, exampleGradients: examples });
    const clipOnly = await analyzeInfluence(op, { defences: parseDefences(['dpsgd:clip=1,noise=0']) });
    assert.equal(clipOnly.i2f, 0);
    assert.equal(clipOnly.risk, 'high');
    const c = 1 / (2 * g);
    assertClose(clipOnly.validity.clipping!.factors[0], c, 1e-12, 'c = C/‖g_1‖');
    const noisy = await analyzeInfluence(op, { defences: parseDefences(['dpsgd:clip=1,noise=0.1']), spectrumK: 1, spectrumSteps: dx });
    assertClose(noisy.noise.std, 0.1 / c, 1e-12, 'σC/(B·c)');
    assertClose(noisy.i2fExpected, (0.1 / c) * Math.sqrt(jac.lambdas.reduce((a, l) => a + 1 / l, 0)), 1e-6, 'E‖I‖ of the rescaled noise');
    assert.ok(psnr(noisy.expectedRmse) < 60);
  });

  it('a top-k after the noise keeps the noise on the kept coordinates only (no closed form then)', async () => {
    const jac = denseJacobian(dx, dtheta, geometricSpectrum(dx, 1, 1e2), 13);
    const op = new DenseInversionOperator(jac, { gradient });
    const after = await analyzeInfluence(op, { defences: parseDefences(['gaussian:std=0.01', 'topk:ratio=0.5']), spectrumK: 1, spectrumSteps: dx, traceSamples: 6, seed: 7 });
    const before = await analyzeInfluence(op, { defences: parseDefences(['topk:ratio=0.5', 'gaussian:std=0.01']), spectrumK: 1, spectrumSteps: dx, seed: 7 });
    assert.equal(after.noise.traceMethod, 'hutchinson');
    assert.equal(before.noise.traceMethod, 'closed-form');
    // Half the coordinates' noise is gone: E‖δ‖² halves, and E‖I(z)‖² is the masked trace, below the full one.
    assert.ok(after.noise.trace < before.noise.trace, `${after.noise.trace} < ${before.noise.trace}`);
    const detSq = after.cache.validity!.deterministicDeltaNormSq;
    assertClose(after.validity.deltaRatio, Math.sqrt(detSq + 0.01 ** 2 * dtheta / 2) / g, 1e-12, 'E‖δ‖² with half the noise');
  });
});

// The graded band of an unfinished I²F (resultBand.ts, influence.ts onBand and budget stops) on dense operators whose
// converged answer is the truth the band must hold: the same analysis run to convergence, and J's own factors.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDefences } from '../../../server/src/engine/defences';
import { analyzeInfluence, evaluateNoiseScale, type NoiseResponse, type ProvisionalInfluence } from '../../../server/src/engine/influence';
import { Random } from '../../../server/src/engine/random';
import { RISK_ORDER } from '../../../server/src/engine/resultBand';
import { DenseInversionOperator, denseJacobian, exactInfluence, geometricSpectrum } from './denseOperator';
import { l2 } from './helpers';

const dx = 40;
const jac = denseJacobian(dx, 80, geometricSpectrum(dx, 4, 1e6), 21);
const gradient = new Random(9).fillNormal(new Float64Array(80));
const delta = new Random(10).fillNormal(new Float64Array(80)).map((x) => x * 1e-3);

/** Risk order index: 0 = high (most exposed). */
const rank = (r: string) => RISK_ORDER.indexOf(r as never);

async function analyse(opts: { damping?: number; budget?: number; thresholds?: { highPsnr: number; mediumPsnr: number }; defences?: string[]; withDelta?: boolean } = {}) {
  const op = new DenseInversionOperator(jac, { gradient });
  const bands: ProvisionalInfluence[] = [];
  // Time advances one second per product: deterministic, no wall clock.
  const clock = () => (op.counts.gramVector + op.counts.preciseGramVector) * 1000;
  const r = await analyzeInfluence(op, {
    delta: opts.defences && !opts.withDelta ? undefined : delta, defences: opts.defences ? parseDefences(opts.defences) : [], damping: opts.damping, tolerance: 1e-10,
    clock, ...(opts.budget ? { solveBudgetSeconds: opts.budget } : {}), ...(opts.thresholds ? { thresholds: opts.thresholds } : {}),
    onBand: (b) => bands.push(b),
  });
  return { r, bands };
}

describe('the provisional answer while the I²F solve runs', () => {
  it('damped: every provisional band holds the converged I²F, and its graded PSNR band holds the final graded PSNR', async () => {
    const eps = 1e-4;
    const { r, bands } = await analyse({ damping: eps });
    assert.equal(r.solver.converged, true);
    const truth = l2(exactInfluence(jac, delta, eps));
    assert.ok(Math.abs(r.i2f - truth) / truth < 1e-8);
    assert.ok(bands.length >= 8, `${bands.length} provisional answers`);
    assert.deepEqual(bands.slice(0, 5).map((b) => b.iteration), [1, 2, 3, 4, 5]);
    for (const b of bands) {
      const band = b.evaluation.band;
      assert.equal(b.stage, 'solve-deterministic');
      assert.equal(band.upperCertified, true, 'μ = ε certifies the upper end');
      assert.ok(band.i2f[0] <= truth * (1 + 1e-9) && truth <= band.i2f[1] * (1 + 1e-9), `iteration ${b.iteration}: ${band.i2f} vs ${truth}`);
      assert.ok(band.psnr[0] >= r.validity.gradedPsnr - 1e-9 && r.validity.gradedPsnr >= band.psnr[1] - 1e-9, `iteration ${b.iteration}: PSNR ${band.psnr} vs ${r.validity.gradedPsnr}`);
      // Never more comforting than the evidence: the level shown is at least as severe as the final one.
      assert.ok(rank(band.risk[0]) <= rank(r.risk), `iteration ${b.iteration}: ${band.risk[0]} shown, final ${r.risk}`);
      assert.equal(b.evaluation.risk, band.risk[0]);
      assert.equal(b.lambdaMax, r.lambdaMax.value);
      assert.ok(b.lowerBound <= band.i2f[0] * (1 + 1e-12), 'I_lb ≤ the band');
    }
    // The band narrows: the last one is tight and settled on the final level.
    const first = bands[0].evaluation.band, last = bands[bands.length - 1].evaluation.band;
    assert.ok(last.i2f[1] - last.i2f[0] < 1e-3 * (first.i2f[1] - first.i2f[0]));
    assert.equal(last.settled, true);
    assert.equal(last.risk[0], r.risk);
  });

  it('is settled only once the band leaves the threshold it straddled (a threshold placed inside the first band)', async () => {
    const eps = 1e-4;
    const { r: reference, bands: probe } = await analyse({ damping: eps });
    const first = probe[0].evaluation.band;
    // A MEDIUM/HIGH threshold between the first band's ends, just above the final PSNR: the first band straddles it.
    const final = reference.validity.gradedPsnr;
    const threshold = Math.min(final + 0.5 * (first.psnr[0] - final), final + 1);
    const { r, bands } = await analyse({ damping: eps, thresholds: { highPsnr: threshold, mediumPsnr: threshold - 30 } });
    assert.equal(r.risk, 'medium');
    assert.equal(bands[0].evaluation.band.settled, false);
    assert.equal(bands[0].evaluation.band.risk[0], 'high', 'the conservative end decides while straddling');
    const settledAt = bands.findIndex((b) => b.evaluation.band.settled);
    assert.ok(settledAt > 0, 'settles later');
    for (const b of bands.slice(settledAt)) assert.equal(b.evaluation.band.risk[0], 'medium');
    for (const b of bands.slice(0, settledAt)) assert.ok(b.evaluation.band.psnr[0] >= threshold && b.evaluation.band.psnr[1] < threshold);
  });

  it('undamped: the lower end (certified) stays below the converged I²F; the upper end is an estimate that settles nothing above LOW', async () => {
    const { r, bands } = await analyse();
    assert.equal(r.solver.converged, true);
    for (const b of bands) {
      assert.ok(b.evaluation.band.i2f[0] <= r.i2f * (1 + 1e-9), `iteration ${b.iteration}: ${b.evaluation.band.i2f[0]} > ${r.i2f}`);
      assert.equal(b.evaluation.band.upperCertified, false);
      assert.ok(rank(b.evaluation.band.risk[0]) <= rank(r.risk));
      // An estimated upper end never settles a level above LOW, even when both ends agree.
      if (b.evaluation.band.risk[0] !== 'low') assert.equal(b.evaluation.band.settled, false, `iteration ${b.iteration}: ${b.evaluation.band.risk}`);
    }
  });

  it('a budget-stopped solve reports its band graded at both ends (not just "uncertain"), and a cache round trip keeps it', async () => {
    const eps = 1e-4;
    const { r: reference } = await analyse({ damping: eps });
    const { r, bands } = await analyse({ damping: eps, budget: 8 });
    assert.equal(r.solver.converged, false);
    assert.equal(r.solver.solves[0].stopReason, 'budget');
    assert.ok(r.band);
    assert.ok(r.band.i2f[0] <= reference.i2f && reference.i2f <= r.band.i2f[1], `${r.band.i2f} vs ${reference.i2f}`);
    assert.equal(r.risk, r.band.risk[0]);
    const last = bands[bands.length - 1].evaluation.band;
    assert.ok(r.band.i2f[0] >= last.i2f[0] && r.band.i2f[1] <= last.i2f[1], 'the reported band is at least as narrow as the last provisional one');
    // JSON (the result cache) turns an unbounded end into null; re-evaluating gives the same band.
    const cached = JSON.parse(JSON.stringify(r.cache, (_k, v) => (v instanceof Float64Array ? Array.from(v) : v))) as NoiseResponse;
    for (const k of ['influenceDeterministic', 'influenceNoise', 'perSampleNoiseTrace'] as const) if (cached[k]) (cached as unknown as Record<string, unknown>)[k] = Float64Array.from(cached[k] as unknown as number[]);
    assert.deepEqual(evaluateNoiseScale(cached, 0).band, r.band);
  });

  it('with noise: the expected error\'s band says how many trace probes it holds and that their spread is not in it', async () => {
    const { r, bands } = await analyse({ defences: ['gaussian:std=1e-3'], budget: 60 });
    const noiseBands = bands.filter((b) => b.stage === 'solve-noise');
    assert.ok(noiseBands.length > 0);
    for (const b of noiseBands) assert.match(b.evaluation.band.omits ?? '', /T from 1 of 4 trace probes; their sampling spread is not in the band/);
    assert.ok(r.solver.solves.some((s) => s.stopReason === 'budget'));
    assert.ok(r.band);
  });

  it('with a deterministic δ and noise: while the deterministic solve runs the expected error has only its lower end', async () => {
    const { r, bands } = await analyse({ defences: ['gaussian:std=1e-4'], withDelta: true, damping: 1e-4 });
    const early = bands.filter((b) => b.stage === 'solve-deterministic');
    assert.ok(early.length > 0);
    for (const b of early) {
      const band = b.evaluation.band;
      assert.equal(band.unbounded, true);
      assert.equal(band.i2f[1], Infinity);
      assert.match(band.omits ?? '', /noise solves have not run/);
      assert.ok(band.i2f[0] <= r.i2fExpected * (1 + 1e-9), 'the deterministic part alone is below the expected error');
      assert.ok(rank(band.risk[0]) <= rank(r.risk));
    }
  });

  it('preconditioned from the first iteration, undamped: the conservative end rises above 0 (the energy bound), never above the converged answer', async () => {
    // As the ResNet-50 bench runs (nystromAfter 0): no solve is ever one CG recurrence from zero, so there is no
    // Gauss lower end; before the energy bound (quadrature.ts) the expected error's conservative end was 0 throughout.
    // Float32 products with exact ones for the residual replacements, as the ONNX backend runs them.
    const op = new DenseInversionOperator(jac, { gradient, float32: true, precise: true });
    const bands: ProvisionalInfluence[] = [];
    const r = await analyzeInfluence(op, {
      defences: parseDefences(['gaussian:std=1e-3']), tolerance: 1e-8, preconditioner: 'nystrom', nystromRank: 6, nystromAfter: 0,
      clock: () => (op.counts.gramVector + op.counts.preciseGramVector) * 1000, onBand: (b) => bands.push(b),
    });
    assert.equal(r.solver.converged, true);
    assert.ok(r.solver.solves.every((s) => s.nystrom !== undefined), 'every solve preconditioned');
    for (const b of bands) assert.ok(b.evaluation.band.i2f[0] <= r.i2fExpected * (1 + 1e-9), `${b.stage} ${b.iteration}: ${b.evaluation.band.i2f[0]} above ${r.i2fExpected}`);
    // While the first noise solve runs nothing has converged: only the energy bound can lift its conservative end.
    const noise = bands.filter((b) => b.stage === 'solve-noise');
    assert.ok(noise.length >= 5, `${noise.length} provisional answers`);
    const lifted = noise.filter((b) => b.evaluation.band.i2f[0] > 0);
    assert.ok(lifted.length > 0, 'some conservative end above 0 during the noise solve');
    // Not vacuous: above I_lb-sized values (here ‖J z‖/λmax is ~1e-3 of the answer on this κ = 1e6 spectrum).
    assert.ok(Math.max(...lifted.map((b) => b.evaluation.band.i2f[0])) > 1e-2 * r.i2fExpected);
  });

  it('a budget stop before any residual replacement still reports a conservative end above 0: the solver\'s last precise check counts', async () => {
    // 30 products of budget (one per simulated second): the recurrence residual has not fallen 10× (no replacement
    // yet), so the only precise residual is the final check at the stop (refine.ts). ResNet-50 stopped so at 1.4e-1.
    const op = new DenseInversionOperator(jac, { gradient, float32: true, precise: true });
    const converged = await analyzeInfluence(new DenseInversionOperator(jac, { gradient, float32: true, precise: true }), { delta, tolerance: 1e-8, preconditioner: 'nystrom', nystromRank: 6, nystromAfter: 0 });
    let replacements = 0;
    const r = await analyzeInfluence(op, {
      delta, tolerance: 1e-8, preconditioner: 'nystrom', nystromRank: 6, nystromAfter: 0, solveBudgetSeconds: 14,
      clock: () => (op.counts.gramVector + op.counts.preciseGramVector) * 1000,
      onSolveProgress: () => { replacements = op.counts.preciseGramVector; },
    });
    assert.equal(r.solver.converged, false);
    assert.ok(r.solver.solves.some((s) => s.stopReason === 'budget'));
    assert.ok(replacements <= 1, `${replacements} precise products before the stop`);
    assert.ok(r.band, 'a budget-stopped result carries its band');
    assert.ok(r.band!.i2f[0] > 0, `conservative end ${r.band!.i2f[0]}`);
    assert.ok(r.band!.i2f[0] <= converged.i2f * (1 + 1e-9), `${r.band!.i2f[0]} above the converged ${converged.i2f}`);
  });
});

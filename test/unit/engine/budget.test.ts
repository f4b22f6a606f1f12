// The solve budget and the time-left estimate (budget.ts), on a deterministic clock: time advances one second per
// J Jᵀ v product, so "seconds" here are products and nothing depends on how fast or loaded the machine is.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeSolveProgress, SolveBudget, SolveEstimator, type SolveProgress } from '../../../server/src/engine/budget';
import { conjugateGradient } from '../../../server/src/engine/cg';
import { minres } from '../../../server/src/engine/minres';
import { reliableUpdateCG } from '../../../server/src/engine/refine';
import { parseDefences } from '../../../server/src/engine/defences';
import { analyzeInfluence } from '../../../server/src/engine/influence';
import { trueResidual, type SymmetricProduct } from '../../../server/src/engine/solve';
import { Random } from '../../../server/src/engine/random';
import { DenseInversionOperator, denseJacobian, geometricSpectrum } from './denseOperator';

/** A clock that reads `ticks` seconds; products advance it. */
function tickingClock() {
  const c = { ticks: 0, now: () => c.ticks * 1000 };
  return c;
}

describe('SolveEstimator', () => {
  it('extrapolates the residual\'s mean log rate to the tolerance and prices it at the mean seconds per iteration', () => {
    const clock = tickingClock();
    const est = new SolveEstimator(1e-6, clock.now);
    let p: SolveProgress | undefined;
    for (let k = 1; k <= 10; k++) {
      clock.ticks += 2; // 2 s per iteration
      p = est.observe(k, 0.5 ** k);
    }
    // ln(1e-6)/ln(0.5) = 19.93 iterations in all: 10 done, 10 left (ceil), 20 s.
    assert.equal(p!.iterationsLeft, 10);
    assert.equal(p!.secondsPerIteration, 2);
    assert.equal(p!.secondsLeft, 20);
    assert.equal(describeSolveProgress(p!), 'iteration 10, residual 9.8e-4, ~20 s left');
  });

  it('gives no estimate before the residual has fallen, and says when the budget ends first', () => {
    const clock = tickingClock();
    const est = new SolveEstimator(1e-6, clock.now);
    clock.ticks = 5;
    assert.equal(est.observe(1, 1.2).secondsLeft, undefined);
    const budget = new SolveBudget(30, clock.now);
    clock.ticks = 10;
    const p = est.observe(5, 1e-1); // 2 s per iteration, 25 more iterations: ~50 s, budget ends in 25 s
    assert.equal(p.iterationsLeft, 25);
    assert.equal(describeSolveProgress(p, budget), 'iteration 5, residual 1.0e-1, ~50 s left (budget ends in 25 s)');
  });

  it('refuses a budget that is not a positive number of seconds', () => {
    for (const bad of [0, -1, NaN, Infinity]) assert.throws(() => new SolveBudget(bad), RangeError);
  });
});

describe('solves under a budget', () => {
  const n = 60;
  const jac = denseJacobian(n, n, geometricSpectrum(n, 1, 1e8), 5);
  const b = new Random(2).fillNormal(new Float64Array(n));
  const dense = (clock: { ticks: number }): SymmetricProduct => async (v, out) => {
    clock.ticks++;
    const t = new Float64Array(n);
    for (let c = 0; c < n; c++) for (let r = 0; r < n; r++) t[c] += jac.j[r * n + c] * v[r];
    out.fill(0);
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) out[r] += jac.j[r * n + c] * t[c];
  };

  for (const [name, solve] of [
    ['CG', (a: SymmetricProduct, budget: SolveBudget) => conjugateGradient(a, b, { budget, tolerance: 1e-12 })],
    ['MINRES', (a: SymmetricProduct, budget: SolveBudget) => minres(a, b, { budget, tolerance: 1e-12 })],
    ['mixed-precision CG', (a: SymmetricProduct, budget: SolveBudget) => reliableUpdateCG(a, a, b, { budget, tolerance: 1e-12 })],
  ] as const) {
    it(`${name} stops when the budget is spent: not converged, with the true residual of what it returns`, async () => {
      const clock = tickingClock();
      const a = dense(clock);
      const r = await solve(a, new SolveBudget(20, clock.now));
      assert.equal(r.stopReason, 'budget');
      assert.equal(r.converged, false);
      assert.ok(r.iterations >= 15 && r.iterations <= 20, `${r.iterations} iterations in 20 products`);
      const res = new Float64Array(n);
      const truth = (await trueResidual(a, 0, b, r.solution, res, new Float64Array(n))) / Math.hypot(...b);
      assert.ok(Math.abs(truth - r.relativeResidual) <= 1e-9 * truth, `reported ${r.relativeResidual}, true ${truth}`);
      assert.ok(r.relativeResidual > 1e-12);
    });
  }
});

describe('analyzeInfluence with solveBudgetSeconds', () => {
  const dx = 30;
  const jac = denseJacobian(dx, 60, geometricSpectrum(dx, 2, 1e7), 8);
  const gradient = new Random(4).fillNormal(new Float64Array(60));
  const run = async (budget: number | undefined) => {
    const op = new DenseInversionOperator(jac, { gradient });
    const clock = { now: () => (op.counts.gramVector + op.counts.preciseGramVector) * 1000 };
    const messages: string[] = [];
    const r = await analyzeInfluence(op, {
      defences: parseDefences(['gaussian:std=0.01']), tolerance: 1e-10, solveBudgetSeconds: budget, clock: clock.now,
      onSolveProgress: (stage, p, b) => messages.push(`${stage}: ${describeSolveProgress(p, b)}`),
    });
    return { r, messages };
  };

  it('without a budget the undamped solve converges (the reference for the next test)', async () => {
    const { r } = await run(undefined);
    assert.equal(r.solver.converged, true);
    assert.notEqual(r.risk, 'uncertain');
    assert.equal(r.solver.budget, undefined);
  });

  it('a budget smaller than the solve needs: not converged, graded on its band\'s conservative end, residual and time still needed reported', async () => {
    const { r, messages } = await run(12);
    assert.equal(r.solver.converged, false);
    // The band of the stopped noise solve (quadrature.ts), graded at both ends (resultBand.ts): the risk is its
    // conservative end, never a confident number from the unfinished iterate.
    assert.ok(r.band, 'a budget-stopped result carries its band');
    assert.equal(r.risk, r.band.risk[0]);
    assert.ok(r.band.i2f[0] <= r.band.i2f[1]);
    assert.match(r.band.omits ?? '', /T from 1 of 4 trace probes/);
    const [first] = r.solver.solves;
    assert.equal(first.stopReason, 'budget');
    assert.ok(first.relativeResidual > 1e-10);
    assert.ok(first.estimatedSecondsLeft !== undefined && first.estimatedSecondsLeft > 0, `estimate ${first.estimatedSecondsLeft}`);
    assert.deepEqual({ seconds: r.solver.budget!.seconds, exhausted: r.solver.budget!.exhausted }, { seconds: 12, exhausted: true });
    // Later solves (the Hutchinson trace samples) get nothing: stopped at once, never reported converged.
    assert.ok(r.solver.solves.slice(1).every((s) => s.stopReason === 'budget' && s.iterations === 0 && !s.converged));
    assert.match(messages[messages.length - 1], /^solve-noise: iteration \d+, residual \d\.\de-\d+, ~\d+ (s|min) left/);
  });
});

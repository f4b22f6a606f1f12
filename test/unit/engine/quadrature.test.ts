// The solution-norm band (quadrature.ts) against dense systems with known spectra: the truth ‖x‖ comes from J's
// factors (denseOperator.ts exactInfluence), never from CG; products exact or rounded to float32 like the ONNX kernels.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conjugateGradient } from '../../../server/src/engine/cg';
import { RITZ_FRACTION, SolutionNormBand, smallestEigenvalue, type NormBand } from '../../../server/src/engine/quadrature';
import { Random } from '../../../server/src/engine/random';
import { nystromPreconditioner } from '../../../server/src/engine/nystrom';
import { reliableUpdateCG } from '../../../server/src/engine/refine';
import type { CGStep, SymmetricProduct } from '../../../server/src/engine/solve';
import { tridiagonalEigen } from '../../../server/src/engine/tridiagonal';
import { DenseInversionOperator, denseJacobian, exactInfluence, geometricSpectrum } from './denseOperator';
import { l2 } from './helpers';

async function system(lambdas: number[], seed: number, float32 = false, precise = false) {
  const jac = denseJacobian(lambdas.length, lambdas.length + 40, lambdas, seed);
  const op = new DenseInversionOperator(jac, { float32, precise });
  const delta = new Random(seed + 100).fillNormal(new Float64Array(jac.dtheta));
  const b = new Float64Array(jac.dx);
  await op.jacobianVector(delta, b);
  const gram: SymmetricProduct = (v, o) => op.gramVector(v, o);
  return { jac, op, delta, b, gram, truth: (damping: number) => l2(exactInfluence(jac, delta, damping)) };
}

/** Runs CG and records the band after every step, with the step's α and β. */
async function bands(gram: SymmetricProduct, b: Float64Array, damping: number, opts: { lambdaMinBound?: number; tolerance?: number; maxIterations?: number; float32?: boolean } = {}) {
  const est = new SolutionNormBand({ damping, ...(opts.lambdaMinBound !== undefined ? { lambdaMinBound: opts.lambdaMinBound } : {}) });
  const out: NormBand[] = [];
  const steps: Pick<CGStep, 'alpha' | 'beta' | 'fromZero'>[] = [];
  const r = await conjugateGradient(gram, b, {
    damping, tolerance: opts.tolerance ?? 1e-10, maxIterations: opts.maxIterations ?? 2000,
    // Float32 products: as the analysis runs them, with the true-residual checks that stop CG at their floor (past
    // it, with no checks, the recurrence diverged and so did every estimate built on it).
    ...(opts.float32 ? { productRoundoff: 2 ** -24 } : { residualCheckEvery: 0 }),
    onStep: (s) => { est.observe(s); steps.push({ alpha: s.alpha, beta: s.beta, fromZero: s.fromZero }); out.push(est.band()!); },
  });
  return { r, out, steps };
}

/** ‖T⁻¹ e1‖² of a dense symmetric tridiagonal (diagonal d, off-diagonal e) by Gaussian elimination: no CG involved. */
function inverseSquaredFirstColumn(d: number[], e: number[]): number {
  const n = d.length;
  // Solve T y = e1 with the Thomas algorithm.
  const c = new Array<number>(n).fill(0), g = new Array<number>(n).fill(0);
  let piv = d[0];
  c[0] = n > 1 ? e[0] / piv : 0;
  g[0] = 1 / piv;
  for (let i = 1; i < n; i++) {
    piv = d[i] - e[i - 1] * c[i - 1];
    c[i] = i < n - 1 ? e[i] / piv : 0;
    g[i] = (0 - e[i - 1] * g[i - 1]) / piv;
  }
  const y = new Array<number>(n).fill(0);
  y[n - 1] = g[n - 1];
  for (let i = n - 2; i >= 0; i--) y[i] = g[i] - c[i] * y[i + 1];
  return y.reduce((a, v) => a + v * v, 0);
}

describe('solution-norm band from the CG iterates (Gauss and Gauss–Radau quadrature)', () => {
  it('damped: μ = ε makes both ends bounds, and ‖x‖ lies between them at every iteration', async () => {
    for (const seed of [3, 7, 11]) {
      const eps = 1e-3;
      const { b, gram, truth } = await system(geometricSpectrum(60, 10, 1e6), seed);
      const t = truth(eps);
      const { out, r } = await bands(gram, b, eps);
      assert.equal(r.converged, true);
      assert.ok(out.length > 10);
      for (const bd of out) {
        assert.equal(bd.upperCertified, true);
        assert.equal(bd.muSource, 'damping');
        assert.ok(bd.lower <= t * (1 + 1e-12), `seed ${seed} it ${bd.iteration}: lower ${bd.lower} > ‖x‖ ${t}`);
        assert.ok(bd.upper >= t * (1 - 1e-12), `seed ${seed} it ${bd.iteration}: upper ${bd.upper} < ‖x‖ ${t}`);
      }
      // Early on the band is wide, at the end it has closed on ‖x‖.
      assert.ok(out[0].upper / out[0].lower > 10, `first band ${out[0].lower}…${out[0].upper}`);
      const end = out[out.length - 1];
      assert.ok((end.upper - end.lower) / t < 1e-6, `final band ${end.lower}…${end.upper} around ${t}`);
    }
  });

  it('the lower end is ‖x_k‖, non-decreasing (Hestenes–Stiefel); the Radau upper end with a fixed μ is non-increasing', async () => {
    const lambdas = geometricSpectrum(50, 4, 1e4);
    const { b, gram, truth } = await system(lambdas, 5);
    const lmin = lambdas[lambdas.length - 1];
    const { out } = await bands(gram, b, 0, { lambdaMinBound: 0.9 * lmin });
    const t = truth(0);
    for (let i = 1; i < out.length; i++) {
      assert.ok(out[i].lower >= out[i - 1].lower * (1 - 1e-13), `lower fell at ${i}`);
      assert.ok(out[i].upper <= out[i - 1].upper * (1 + 1e-9), `upper rose at ${i}: ${out[i - 1].upper} → ${out[i].upper}`);
      assert.ok(out[i].lower <= t * (1 + 1e-12) && out[i].upper >= t * (1 - 1e-12));
      assert.equal(out[i].muSource, 'given');
    }
  });

  it('the Radau value equals ‖b‖² e1ᵀ T̃⁻² e1 of the explicitly extended tridiagonal (and Gauss the same of T_k)', async () => {
    const lambdas = geometricSpectrum(40, 3, 1e3);
    const { b, gram } = await system(lambdas, 9);
    const mu = 0.5 * lambdas[lambdas.length - 1];
    const { out, steps } = await bands(gram, b, 0, { lambdaMinBound: mu, tolerance: 1e-12 });
    const bb = l2(b) ** 2;
    for (const k of [1, 2, 5, 12, 20]) {
      // T_k from α_0…α_{k−1}, β_1…β_{k−1}; η_k from β_k.
      const a = steps.slice(0, k).map((s) => s.alpha), be = steps.slice(0, k).map((s) => s.beta);
      const d: number[] = [], e: number[] = [];
      for (let j = 0; j < k; j++) {
        d.push(1 / a[j] + (j > 0 ? be[j - 1] / a[j - 1] : 0));
        if (j > 0) e.push(Math.sqrt(be[j - 1]) / a[j - 1]);
      }
      const gauss = bb * inverseSquaredFirstColumn(d, e);
      assert.ok(Math.abs(Math.sqrt(gauss) - out[k - 1].lower) / out[k - 1].lower < 1e-10, `Gauss at k=${k}: ${Math.sqrt(gauss)} vs ‖x_k‖ ${out[k - 1].lower}`);
      // Radau: the last diagonal ω chosen so that det(T̃ − μI) = 0, found here by bisection on the last pivot.
      const etaK = Math.sqrt(be[k - 1]) / a[k - 1];
      const lastPivot = (omega: number) => {
        let p = d[0] - mu;
        for (let j = 1; j < k; j++) p = d[j] - mu - e[j - 1] ** 2 / p;
        return omega - mu - etaK ** 2 / p;
      };
      let lo = -1e12, hi = 1e12;
      for (let i = 0; i < 400; i++) { const m = (lo + hi) / 2; if (lastPivot(m) > 0) hi = m; else lo = m; }
      const radau = bb * inverseSquaredFirstColumn([...d, (lo + hi) / 2], [...e, etaK]);
      assert.ok(Math.abs(Math.sqrt(radau) - out[k - 1].upper) / out[k - 1].upper < 1e-7, `Radau at k=${k}: ${Math.sqrt(radau)} vs ${out[k - 1].upper}`);
    }
  });

  it('smallestEigenvalue matches the tridiagonal eigensolver on T_k', async () => {
    const { b, gram } = await system(geometricSpectrum(40, 8, 1e5), 13);
    const { steps } = await bands(gram, b, 0, { maxIterations: 25 });
    const a = steps.map((s) => s.alpha), be = steps.map((s) => s.beta);
    const diag = a.map((x, j) => 1 / x + (j > 0 ? be[j - 1] / a[j - 1] : 0));
    const off = a.slice(0, -1).map((x, j) => Math.sqrt(be[j]) / x);
    const eig = tridiagonalEigen(diag, off, diag.length).values;
    const min = Math.min(...eig);
    assert.ok(Math.abs(smallestEigenvalue(a, be) - min) / min < 1e-5, `${smallestEigenvalue(a, be)} vs ${min}`);
  });

  it('undamped: the lower end is a bound throughout; the Ritz-based upper end is an estimate that becomes a bound once θ_min ≤ λmin/RITZ_FRACTION', async () => {
    for (const seed of [2, 4]) {
      const lambdas = geometricSpectrum(60, 16, 1e5);
      const lmin = lambdas[lambdas.length - 1];
      const { b, gram, truth } = await system(lambdas, seed);
      const t = truth(0);
      const { out } = await bands(gram, b, 0, { tolerance: 1e-11 });
      let violated = 0;
      for (const bd of out) {
        assert.equal(bd.upperCertified, false);
        assert.ok(bd.lower <= t * (1 + 1e-12), `lower ${bd.lower} > ${t}`);
        if (bd.upper < t) violated++;
        if (bd.smallestRitz !== undefined && RITZ_FRACTION * bd.smallestRitz <= lmin) assert.ok(bd.upper >= t * (1 - 1e-9), `it ${bd.iteration}: μ ≤ λmin but upper ${bd.upper} < ${t}`);
      }
      // The estimate does fail early (θ_min far above λmin): that is why it is labelled an estimate.
      assert.ok(violated > 0, 'expected the early Ritz estimate to undershoot at least once');
      const end = out[out.length - 1];
      assert.ok(end.lower <= t * (1 + 1e-12) && end.upper >= t * (1 - 1e-9) && (end.upper - end.lower) / t < 1e-4, `final ${end.lower}…${end.upper} vs ${t}`);
    }
  });

  it('float32-rounded products: the damped band holds ‖x‖ to within u·κ, the products’ own perturbation of the solution', async () => {
    for (const seed of [1, 6]) {
      const eps = 1e-2;
      const lambdas = geometricSpectrum(80, 16, 1e5);
      // Float32-rounded products are exact products of a matrix within u·‖A‖ of A: its solution may differ by u·κ.
      const uKappa = 2 ** -24 * (lambdas[0] + eps) / (lambdas[79] + eps);
      const { b, gram, truth } = await system(lambdas, seed, true);
      const t = truth(eps);
      const { out } = await bands(gram, b, eps, { tolerance: 1e-7, float32: true });
      let worstLow = 0, worstHigh = 0;
      for (const bd of out) {
        worstLow = Math.max(worstLow, bd.lower / t - 1);
        worstHigh = Math.max(worstHigh, 1 - bd.upper / t);
      }
      assert.ok(worstLow < uKappa, `seed ${seed}: lower above ‖x‖ by ${worstLow} (u·κ ${uKappa})`);
      assert.ok(worstHigh < uKappa, `seed ${seed}: upper below ‖x‖ by ${worstHigh} (u·κ ${uKappa})`);
    }
  });

  it('float32-rounded products, undamped: the lower end stays below ‖x‖ (mixed precision CG, reliable updates)', async () => {
    const lambdas = geometricSpectrum(60, 16, 1e4);
    const { b, op, truth } = await system(lambdas, 8, true, true);
    const t = truth(0);
    const est = new SolutionNormBand();
    let worst = 0, n = 0;
    const r = await reliableUpdateCG((v, o) => op.gramVector(v, o), (v, o) => op.precise!.gramVector(v, o), b, {
      tolerance: 1e-9, onStep: (s) => { est.observe(s); worst = Math.max(worst, est.band()!.lower / t - 1); n++; },
    });
    assert.equal(r.converged, true);
    assert.ok(n > 20);
    assert.ok(worst < 1e-5, `lower above ‖x‖ by ${worst}`);
    const end = est.band()!;
    assert.ok(Math.abs(end.lower - t) / t < 1e-5 && end.upper >= t * (1 - 1e-5));
  });

  it('a preconditioned mixed-precision solve: the energy bound lifts the lower end from 0 towards bᵀx/‖b‖, never above ‖x‖', async () => {
    // Undamped and preconditioned from its first iteration (as the ResNet-50 bench runs): no from-zero band at all,
    // so before the energy bound the lower end stayed 0 throughout. Float32 products, exact ones for the replacements.
    for (const [spectrum, seed] of [[geometricSpectrum(120, 16, 1e6), 21], [[...geometricSpectrum(100, 4, 1e5), ...new Array<number>(20).fill(0)], 22]] as const) {
      const { b, op, jac, delta } = await system([...spectrum], seed, true, true);
      const x = exactInfluence(jac, delta, 0);
      const t = l2(x);
      const bx = b.reduce((a, v, i) => a + v * x[i], 0);
      const { preconditioner } = await nystromPreconditioner(op, b.length, { rank: 30, seed: 3, productRoundoff: 2 ** -24 });
      const est = new SolutionNormBand({ damping: 0, rhs: b });
      const lowers: number[] = [];
      let precise = 0;
      const r = await reliableUpdateCG((v, o) => op.gramVector(v, o), (v, o) => op.precise!.gramVector(v, o), b, {
        preconditioner, tolerance: 1e-7, maxIterations: 3000,
        onStep: (st) => { assert.equal(st.fromZero, false); est.observe(st); lowers.push(est.band()!.lower); },
        onPreciseResidual: (y, res) => { precise++; est.observePreciseResidual(y, res); lowers.push(est.band()?.lower ?? 0); },
      });
      assert.equal(r.converged, true, `${r.stopReason} at ${r.relativeResidual} after ${r.iterations}`);
      assert.ok(precise >= 2, `${precise} precise residuals`);
      // A bound at every step (the truth from J's factors, not from CG), rising to bᵀx/‖b‖ at convergence.
      for (const lo of lowers) assert.ok(lo <= t * (1 + 1e-9), `lower ${lo} above ‖x‖ = ${t}`);
      const end = lowers[lowers.length - 1];
      assert.ok(Math.abs(end - bx / l2(b)) / (bx / l2(b)) < 1e-4, `final lower ${end} vs bᵀx/‖b‖ ${bx / l2(b)}`);
      assert.ok(lowers[0] === 0 || lowers[0] < end, 'the lower end rises as the solve goes on');
      // Above I_lb = ‖b‖/λmax (I2F.md's cheap bound): bᵀx = Σ c_i²/λ_i ≥ ‖b‖²/λmax, strictly with a spread spectrum.
      const iLb = l2(b) / Math.max(...spectrum);
      assert.ok(end > 2 * iLb, `final lower ${end} vs I_lb ${iLb}`);
    }
  });

  it('a continued solve (nonzero start) keeps the earlier lower bound and narrows by ‖r_k‖/μ', async () => {
    const eps = 1e-2;
    const { b, gram, truth } = await system(geometricSpectrum(60, 16, 1e5), 12);
    const t = truth(eps);
    const est = new SolutionNormBand({ damping: eps });
    const first = await conjugateGradient(gram, b, { damping: eps, maxIterations: 15, onStep: (s) => est.observe(s) });
    const before = est.band()!;
    const seen: NormBand[] = [];
    await conjugateGradient(gram, b, { damping: eps, start: first.solution, tolerance: 1e-10, onStep: (s) => { assert.equal(s.fromZero, false); est.observe(s); seen.push(est.band()!); } });
    for (const bd of seen) {
      assert.ok(bd.lower >= before.lower && bd.lower <= t * (1 + 1e-12), `lower ${bd.lower}`);
      assert.ok(bd.upper <= before.upper && bd.upper >= t * (1 - 1e-12), `upper ${bd.upper}`);
    }
    const end = seen[seen.length - 1];
    assert.ok((end.upper - end.lower) / t < 1e-6);
  });
});

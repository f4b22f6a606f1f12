// Conjugate gradient for the damped influence system (J Jᵀ + εI) z = b, Float64Array state, true residual reported.

import { axpy, copy, dot, norm, xpby } from './linalg';
import {
  checkAborted, dampedProduct, finishSolve, NormEstimate, resolveSolveOptions, ResidualMonitor, SolveOptions,
  SolveResult, SymmetricProduct, zeroRightHandSide,
} from './solve';

/** Default spacing of the monitoring true-residual checks: 2% extra products buys stagnation detection. */
export const CG_RESIDUAL_CHECK_EVERY = 50;

/**
 * Solves (A + εI) z = b from z = 0 for symmetric PSD A (A = J Jᵀ, I2F.md: I(δ) = (J Jᵀ)⁻¹ J δ).
 *
 * From z = 0 every iterate lies in the Krylov space of b; for b = J δ ∈ range(J Jᵀ) that keeps CG in the range of
 * a singular A, so it converges to the pseudo-inverse solution (I2F.md's ResNet case); with Float64Array state it
 * does not diverge under float32 products (measured, solverExperiment.ts), it stagnates at their floor.
 *
 * Every `residualCheckEvery` iterations the true residual is recomputed WITHOUT replacing the recurrence's
 * (replacing it every 100 iterations raised the float32 floor 10×, measured) to track the best iterate and detect
 * stagnation. When the recurrence claims the tolerance and the truth disagrees, CG continues from the true
 * residual (residual replacement, van der Vorst & Ye 2000). relativeResidual is always the truth of the returned z.
 *
 * With `opts.preconditioner` (P⁻¹, preconditioner.ts) this is preconditioned CG: directions from s = P⁻¹ r and
 * β = ⟨r_new, s_new⟩/⟨r, s⟩; the residual it tests, reports and replaces is still the unpreconditioned r.
 */
export async function conjugateGradient(a: SymmetricProduct, b: Float64Array, opts: SolveOptions = {}): Promise<SolveResult> {
  const { tolerance, maxIterations, damping, historyEvery, productRoundoff } = resolveSolveOptions(opts);
  const checkEvery = opts.residualCheckEvery ?? CG_RESIDUAL_CHECK_EVERY;
  const n = b.length;
  const bNorm = norm(b);
  if (bNorm === 0) return zeroRightHandSide('cg', n, damping);

  const deflation = opts.deflation && opts.deflation.size > 0 ? opts.deflation : undefined;
  const pre = opts.preconditioner;
  if (pre && deflation) throw new RangeError('conjugateGradient: a preconditioner and a deflation space together are not supported');
  const z = opts.start ? Float64Array.from(opts.start) : new Float64Array(n);
  const r = new Float64Array(n);
  const p = new Float64Array(n);
  const ap = new Float64Array(n);
  const s = pre ? new Float64Array(n) : r; // s = P⁻¹ r (r itself unpreconditioned)
  copy(b, r);
  let products = 0;
  let iterations = 0;
  let stopReason: SolveResult['stopReason'] = 'max-iterations';
  let zTrue = NaN; // true relative residual of the current z, when just computed
  const history: SolveResult['history'] = [{ iteration: 0, relativeResidual: 1 }];
  const monitor = new ResidualMonitor(a, damping, b, bNorm);
  const normA = new NormEstimate(opts.operatorNorm, damping);
  if (opts.start) {
    zTrue = await monitor.check(z, 0, r); // r ← b − (A+εI) z for the given start
    products++;
  }
  // Deflated (deflation.ts): the exact solve on span W first, then directions A-orthogonal to W.
  if (deflation && !(zTrue <= tolerance)) {
    deflation.correct(z, r);
    zTrue = NaN;
  }
  pre?.apply(r, s);
  copy(s, p);
  deflation?.projectDirection(r, p);
  let rr = dot(r, s); // ⟨r, P⁻¹ r⟩ (‖r‖² unpreconditioned)
  if (zTrue <= tolerance) stopReason = 'converged';

  const done = stopReason === 'converged';
  const fromZero = !opts.start && !deflation && !pre;
  while (!done && iterations < maxIterations) {
    checkAborted(opts.signal);
    if (opts.budget?.exhausted) { stopReason = 'budget'; break; }
    await dampedProduct(a, damping, p, ap);
    products++;
    const pap = dot(p, ap);
    if (!Number.isFinite(pap)) { stopReason = 'non-finite'; break; }
    if (pap <= 0) { stopReason = 'breakdown'; break; } // p in A's null space (or A not PSD to working precision)
    normA.observe(pap, dot(p, p));
    const alpha = rr / pap;
    axpy(alpha, p, z);
    axpy(-alpha, ap, r);
    iterations++;
    zTrue = NaN;
    let r2 = dot(r, r);
    const rel = Math.sqrt(r2) / bNorm;
    if (iterations % historyEvery === 0) history.push({ iteration: iterations, relativeResidual: rel });
    opts.onProgress?.(iterations, rel);
    if (!Number.isFinite(rel)) { stopReason = 'non-finite'; break; }

    if (rel <= tolerance) {
      zTrue = await monitor.check(z, iterations, r); // residual replacement: r ← b − (A+εI) z
      products++;
      if (zTrue <= tolerance) { stopReason = 'converged'; break; }
      if (deflation) { deflation.correct(z, r); zTrue = NaN; } // the replaced r has W-components again
      r2 = dot(r, r);
    } else if (checkEvery > 0 && iterations % checkEvery === 0) {
      zTrue = await monitor.check(z, iterations);
      products++;
      if (zTrue <= tolerance) { stopReason = 'converged'; break; }
    }
    if (!Number.isNaN(zTrue) && monitor.stagnated(iterations, monitor.atFloor(productRoundoff, normA.value))) { stopReason = 'stagnated'; break; }
    let rrNew = r2;
    if (pre) { pre.apply(r, s); rrNew = dot(r, s); } // β = ⟨r_{k+1}, P⁻¹ r_{k+1}⟩/⟨r_k, P⁻¹ r_k⟩
    const beta = rrNew / rr;
    xpby(s, beta, p);
    deflation?.projectDirection(r, p);
    rr = rrNew;
    opts.onStep?.({ iteration: iterations, alpha, beta, solution: z, direction: p, residualNorm: Math.sqrt(r2), fromZero });
  }

  return finishSolve('cg', {
    z, zTrue, iterations, products, stopReason, monitor, tolerance, productRoundoff, normA: normA.value, bNorm, damping, history,
  });
}

// Mixed-precision CG for (J Jᵀ + εI) z = b: iterations with the fast (float32) products, true residuals with the
// precise (float64) ones, so the undamped solve reaches a float64 true residual the float32 floor forbids.

import { axpy, dot, norm, xpby } from './linalg';
import {
  checkAborted, dampedProduct, resolveSolveOptions, SolveOptions, SolveResult, SymmetricProduct, trueResidual,
  zeroRightHandSide,
} from './solve';

export interface RefineOptions extends SolveOptions {
  /** Replace the recurrence residual by the precise one each time it has fallen by this factor (default 0.1). */
  updateFactor?: number;
  /** Give the fast products up when they stagnate (default true); false: stop there instead. */
  switchToPrecise?: boolean;
}

export interface RefinementReport {
  /** Precise residual replacements (reliable updates), the final check included. */
  outerIterations: number;
  /** Fast-product CG iterations between consecutive replacements. */
  innerIterations: number[];
  /** Products of each precision spent. */
  lowProducts: number;
  highProducts: number;
  /** The precise true relative residual at the start (1) and after each replacement. */
  residualHistory: number[];
  /** Iteration at which the fast products were given up for the precise ones (null: never). */
  switchedToPreciseAt: number | null;
}

export interface RefinedSolveResult extends SolveResult {
  refinement: RefinementReport;
}

/**
 * Replace the recurrence residual by the precise one whenever it has shrunk by this factor since the last time.
 * Measured (fixtures, undamped, δ = the fixture's Gaussian δ, tolerance 1e-6): dlg_lenet (κ 1.2e7) 0.5 / 0.1 / 0.01 →
 * 9 895 / 10 081 / 10 107 float32 iterations with 689 / 10 / 4 float64 products, I²F within 2e-9 / 1.3e-8 / 2.2e-7 of
 * PyTorch; smooth_cnn (κ 7.9e7, singular) 6 132 / 6 749 / 6 677 iterations, I²F within 1.5e-6 / 2.9e-6 / 8.8e-5.
 * 0.1 keeps the float64 products to one per decade at nearly the accuracy of 0.5.
 */
export const DEFAULT_UPDATE_FACTOR = 0.1;

/**
 * Stagnation: the best precise residual has not halved for max(STALL_MIN, iterations/2) iterations. With the fast
 * products that means they cannot resolve the system (u·κ ≳ 1): the solve continues with the precise products only
 * (CG restarted from the current z); with the precise products the solve stops. Measured (fixtures, see influence.ts):
 * lenet5_pool (κ 1.7e5) and dlg_lenet (κ 1.2e7) never stagnate on float32 (10 081 iterations, 10.4 s on dlg_lenet,
 * where float64 CG alone took 6 967 iterations, 24.9 s); smooth_cnn (κ 7.9e7, singular) converged in 6 749 float32
 * iterations (2.3 s; float64 CG alone: 2 789, 1.3 s); a dense κ = 3e8 test system stalls at 5e-4 on float32 alone.
 */
const STALL_MIN = 1000;

/**
 * Deflated solves re-solve the recurrence residual's W-components (deflate: z += W c, r −= A W c) every this many
 * iterations: float32 rounding in A p puts them back and no A-orthogonal-to-W direction removes them. Measured on
 * the examples' LeNet (gaussian:std=1e-3, noise solve, images 0–3): with only the forced replacements below, two
 * images stalled and switched to float64 products (12.1 / 11.3 s against 9.1 / 8.1 s plain; one abandoned
 * deflation); every iteration 2 267 / 2 162 iterations, but +0.6 ms CPU per iteration on dlg_lenet; every 10:
 * 1 949–2 267 iterations, 2.9–3.3 s for the four (plain 7.0–9.1 s), dlg_lenet unchanged (4 109).
 */
export const DEFLATED_CORRECT_EVERY = 10;

/** Deflated solves replace the residual at least this often (see the loop). */
export const DEFLATED_UPDATE_EVERY = 100;

/**
 * CG with the fast products and reliable updates from the precise ones (Sleijpen & van der Vorst 1996; Clark et al.
 * 2010 for mixed precision): one CG recurrence whose search directions are kept, with the recurrence residual
 * replaced by b − (A_high + εI) z each time it has fallen by `updateFactor` since the last replacement, and at the
 * end. z and every vector stay Float64Array; only the products are float32.
 *
 * Why not classical iterative refinement (restart CG on each float64 residual)? It converges at a rate of about
 * u_low·κ per restart, and here u_low·κ ≈ 0.1…5 (float32, κ 1e6…8e7): measured on smooth_cnn (κ 7.9e7, singular)
 * it stalled at a float64 residual of 4.7e-5 after 6 700 products (I²F 3.7% off PyTorch), where this method reached
 * 8.1e-7 (I²F within 3e-6). Restarting throws the Krylov space away; replacing only the residual keeps it.
 *
 * From z = 0 the iterates stay (to rounding) in the Krylov space of b ∈ range(A), so a singular A still gives the
 * pseudo-inverse solution (I2F.md's ResNet case). relativeResidual is always the precise truth of the returned z,
 * converged means it is at most `tolerance`: the precise products' own floor (~1e-16·κ) lies far below any
 * tolerance asked for, so there is no 'limited by precision' escape. Stagnation: the best precise residual has not
 * halved for max(1000, iterations/2) iterations.
 */
export async function reliableUpdateCG(low: SymmetricProduct, high: SymmetricProduct, b: Float64Array, opts: RefineOptions = {}): Promise<RefinedSolveResult> {
  const { tolerance, maxIterations, damping, historyEvery } = resolveSolveOptions(opts);
  const updateFactor = opts.updateFactor ?? DEFAULT_UPDATE_FACTOR;
  const switchToPrecise = opts.switchToPrecise ?? true;
  const n = b.length;
  const bNorm = norm(b);
  const report: RefinementReport = { outerIterations: 0, innerIterations: [], lowProducts: 0, highProducts: 0, residualHistory: [1], switchedToPreciseAt: null };
  let fast = true;
  if (bNorm === 0) return { ...zeroRightHandSide('cg', n, damping), refinement: { ...report, residualHistory: [0] } };
  const deflation = opts.deflation && opts.deflation.size > 0 ? opts.deflation : undefined;
  const pre = opts.preconditioner;
  if (pre && deflation) throw new RangeError('reliableUpdateCG: a preconditioner and a deflation space together are not supported');
  const z = opts.start ? Float64Array.from(opts.start) : new Float64Array(n);
  const best = new Float64Array(n);
  const r = Float64Array.from(b);
  const p = new Float64Array(n);
  const ap = new Float64Array(n);
  const work = new Float64Array(n);
  const s = pre ? new Float64Array(n) : r; // s = P⁻¹ r
  let bestRel = 1; // z = 0 has relative residual 1; a given start is measured below
  let lastHalving = 0;
  let halvingReference = 1;
  let iterations = 0;
  let sinceLast = 0;
  let trueRel = 1;
  let stale = opts.start !== undefined; // z moved since trueRel was computed
  let sinceUpdateMax = norm(r);
  let stopReason: SolveResult['stopReason'] = 'max-iterations';
  const history: SolveResult['history'] = [{ iteration: 0, relativeResidual: 1 }];

  /** Precise residual replacement. */
  const update = async (): Promise<number> => {
    trueRel = (await trueResidual(high, damping, b, z, r, work)) / bNorm;
    stale = false;
    // r = b − (A_high+εI) z to float64 rounding here, before a deflated correction moves both with its own products.
    opts.onPreciseResidual?.(z, r);
    report.highProducts++;
    report.outerIterations++;
    report.innerIterations.push(sinceLast);
    report.residualHistory.push(trueRel);
    sinceLast = 0;
    sinceUpdateMax = norm(r);
    if (trueRel < bestRel) { bestRel = trueRel; best.set(z); }
    if (trueRel <= 0.5 * halvingReference) { halvingReference = trueRel; lastHalving = iterations; }
    return trueRel;
  };
  /**
   * Deflated: the exact solve on span W of what the residual has along it (all of it at the start; after a precise
   * replacement, what rounding in the float32 recurrence let back in), so Wᵀ r = 0 again (deflation.ts).
   */
  const deflate = () => {
    if (!deflation) return;
    deflation.correct(z, r);
    stale = true;
    sinceUpdateMax = norm(r);
  };
  /** p ← P⁻¹ r, made A-orthogonal to W when deflated: the first direction, and CG's restart; returns ⟨r, P⁻¹ r⟩. */
  const restartDirection = (): number => {
    pre?.apply(r, s);
    p.set(s);
    deflation?.projectDirection(r, p);
    return dot(r, s);
  };

  if (opts.start) await update(); // the given iterate's precise residual
  if (deflation && !(trueRel <= tolerance && !stale)) {
    deflate(); // the exact solve on span W; its precise residual says whether that was all (b ∈ span W)
    await update();
    if (trueRel > tolerance) deflate();
  }
  const done = trueRel <= tolerance && !stale;
  if (done) stopReason = 'converged';
  let rr = restartDirection();
  // One recurrence from zero until a restart (the switch to precise products restarts the directions); never a
  // preconditioned one (its coefficients are those of P⁻¹(A+εI), not the Lanczos tridiagonal of A+εI and b).
  let fromZero = !opts.start && !deflation && !pre;

  while (!done && iterations < maxIterations) {
    checkAborted(opts.signal);
    if (opts.budget?.exhausted) { stopReason = 'budget'; break; }
    await dampedProduct(fast ? low : high, damping, p, ap);
    if (fast) report.lowProducts++;
    else report.highProducts++;
    const pap = dot(p, ap);
    if (!Number.isFinite(pap)) { stopReason = 'non-finite'; break; }
    if (pap <= 0) { stopReason = 'breakdown'; break; }
    const alpha = rr / pap;
    axpy(alpha, p, z);
    axpy(-alpha, ap, r);
    if (deflation && (iterations + 1) % DEFLATED_CORRECT_EVERY === 0) deflation.correct(z, r);
    stale = true;
    iterations++;
    sinceLast++;
    let rrNew = dot(r, r);
    const rNorm = Math.sqrt(rrNew);
    const rel = rNorm / bNorm;
    if (iterations % historyEvery === 0) history.push({ iteration: iterations, relativeResidual: rel });
    opts.onProgress?.(iterations, rel);
    if (!Number.isFinite(rel)) { stopReason = 'non-finite'; break; }
    // Deflated, rounding in the float32 products leaves W-components in the recurrence residual that no direction
    // (all A-orthogonal to W) can remove; only a replacement's deflate() does. A recurrence stuck on them never
    // falls by updateFactor, so the replacement is forced every DEFLATED_UPDATE_EVERY iterations. Measured on the
    // examples' LeNet (image 1, gaussian:std=1e-3): without it 20 000 iterations ended at 4.2e-3 (plain: 8 642 to 1e-6).
    const forced = deflation !== undefined && sinceLast >= DEFLATED_UPDATE_EVERY;
    if (rel <= tolerance || rNorm <= updateFactor * sinceUpdateMax || forced) {
      await update();
      if (trueRel <= tolerance) { stopReason = 'converged'; break; }
      deflate();
      rrNew = dot(r, r); // β = ‖r_{k+1}‖²/‖r_k‖² with the replaced r_{k+1}
      if (iterations - lastHalving >= Math.max(STALL_MIN, iterations / 2)) {
        if (!fast || !switchToPrecise) { stopReason = 'stagnated'; break; }
        // The fast products no longer pay: plain CG on the precise products from the best z, at its true residual.
        fast = false;
        report.switchedToPreciseAt = iterations;
        z.set(best);
        await update();
        deflate();
        lastHalving = iterations;
        rr = restartDirection();
        sinceUpdateMax = norm(r);
        fromZero = false;
        continue;
      }
    }
    sinceUpdateMax = Math.max(sinceUpdateMax, rNorm);
    const r2 = rrNew; // ‖r_{k+1}‖² of the recurrence (replaced when a replacement came)
    if (pre) { pre.apply(r, s); rrNew = dot(r, s); } // β = ⟨r_{k+1}, P⁻¹ r_{k+1}⟩/⟨r_k, P⁻¹ r_k⟩
    const beta = rrNew / rr;
    xpby(s, beta, p);
    deflation?.projectDirection(r, p);
    rr = rrNew;
    opts.onStep?.({ iteration: iterations, alpha, beta, solution: z, direction: p, residualNorm: Math.sqrt(r2), fromZero });
  }
  if (stopReason !== 'converged' && stale) await update();
  let solution = z;
  let relativeResidual = trueRel;
  if (bestRel < trueRel) { solution = best; relativeResidual = bestRel; }
  const converged = relativeResidual <= tolerance;
  if (converged) stopReason = 'converged';
  history.push({ iteration: iterations, relativeResidual });
  return {
    method: 'cg', solution, iterations, products: report.lowProducts + report.highProducts, relativeResidual, converged,
    stopReason, attainableResidual: 0, limitedByPrecision: false, damping, history, refinement: report,
  };
}

// Lower and upper estimates of the solution norm ‖x‖ = ‖(A+εI)⁻¹ b‖ (the I²F, I2F.md) from the CG iterates while
// the solve runs, so a long solve shows an answer that sharpens instead of "running" (issue 18, part 3).
//
// CG from x_0 = 0 is the Lanczos process on A+εI and b in disguise: its α and β give the tridiagonal T_k (solve.ts
// CGStep), and ‖x‖² = bᵀ(A+εI)⁻²b is a Riemann–Stieltjes integral of f(λ) = λ⁻² over the spectral measure of b
// (Golub & Meurant, "Matrices, Moments and Quadrature with Applications", 2010, ch. 6–7). f's derivatives alternate
// in sign (f^(2j) > 0, f^(2j+1) < 0), so:
// - the k-node Gauss rule is a LOWER bound, and it equals ‖x_k‖² (x_k = ‖b‖ V_k T_k⁻¹ e1); Hestenes & Stiefel (1952,
//   Thm 6:3) proved the same from the other side: ‖x_k‖ increases monotonically to ‖x‖. Certified in exact
//   arithmetic with no spectral information at all;
// - the (k+1)-node Gauss–Radau rule with one node fixed at μ ≤ λmin(A+εI) is an UPPER bound. Extending T_k by one
//   row whose last diagonal makes μ an eigenvalue changes only the last LDLᵀ pivot, i.e. only CG's last step length:
//   the rule's value is ‖x_k + α̃_k p_k‖² with 1/α̃_k = μ + η_k²(1/δ_k(μ) − α_{k−1}), δ_k(μ) the last pivot of
//   T_k − μI and η_k² = β_k/α_{k−1}² (the same construction as Meurant & Tichý's CGQ for the A-norm of the error,
//   Numer. Algorithms 2019). Certified when μ is a true lower bound of λmin on b's spectral support.
// With damping ε > 0, μ = ε is such a bound (A = J Jᵀ is PSD): the band is certified at both ends. Undamped, λmin is
// unknown (J Jᵀ is often singular, I2F.md; b ∈ range(A) and CG converges to the pseudo-inverse solution, so the
// relevant λmin is the smallest nonzero eigenvalue b reaches). We then use μ = RITZ_FRACTION × the smallest Ritz
// value of T_k: an ESTIMATE, since θ_min(T_k) ≥ λmin and it approaches λmin from above only as CG resolves the small
// end. The upper end is then labelled an estimate; it becomes a bound once θ_min(T_k) ≤ λmin/RITZ_FRACTION.
// In floating point the Gauss and Radau values of T_k stay valid up to small terms while CG's local orthogonality
// holds (Strakoš & Tichý, ETNA 2002), which the float32-perturbed tests check (test/unit/engine/quadrature.test.ts).
//
// Steps that are not one recurrence from zero (a deflated or restarted continuation, a preconditioned CG: CGStep.
// fromZero false) keep the last from-zero band (its lower end stays a bound: it was ‖x_j‖ ≤ ‖x‖) and intersect it
// with the residual bound ‖x − x_k‖ ≤ ‖r_k‖/μ, certified or estimated as μ is.
//
// The energy lower bound, for any iterate y (preconditioned or not), whenever b − (A+εI)y is known from exact
// products (SolveOptions.onPreciseResidual): Cauchy–Schwarz in the (A+εI) inner product gives (bᵀy)² = (xᵀ(A+εI)y)² ≤
// (xᵀ(A+εI)x)(yᵀ(A+εI)y) = (bᵀx)(yᵀ(A+εI)y), and ‖x‖‖b‖ ≥ bᵀx, so ‖x‖ ≥ (bᵀy)² / (‖b‖ · yᵀ(A+εI)y) with
// yᵀ(A+εI)y = bᵀy − yᵀr. It holds for a singular A too (x = A⁺b, b ∈ range(A): the same steps with the PSD
// semi-inner product). It tends to bᵀx/‖b‖ ≥ ‖b‖/λmax (the I_lb of I2F.md), below ‖x‖ by the share of x in the
// small eigenvalues, but it keeps rising while a preconditioned solve runs, where the from-zero band froze at the
// iteration the preconditioner took over (0 when it did from the first).

import type { CGStep } from './solve';

/** μ = this fraction of the smallest Ritz value of T_k when no certified lower bound of λmin is known. */
export const RITZ_FRACTION = 0.5;

export interface NormBand {
  /** CG iteration the band belongs to. */
  iteration: number;
  /** A lower bound of ‖x‖ (certified in exact arithmetic: Gauss / Hestenes–Stiefel, and the energy bound). */
  lower: number;
  /** Upper end: a bound when `upperCertified`, otherwise an estimate (see the file's opening). +∞ when unknown. */
  upper: number;
  /** ‖x_k‖ of the current iterate (its vector). */
  iterate: number;
  upperCertified: boolean;
  /** The node of the Gauss–Radau rule and where it came from. */
  mu: number;
  muSource: 'damping' | 'given' | 'ritz';
  /** Smallest Ritz value of T_k of the last from-zero recurrence (an upper estimate of λmin), when computed. */
  smallestRitz?: number;
}

export interface NormBandOptions {
  /** Absolute damping ε of the system: ε > 0 is a certified lower bound of λmin(A+εI). */
  damping?: number;
  /** A certified lower bound of λmin(A) on b's support, when one is known (added to ε). */
  lambdaMinBound?: number;
  /** The right-hand side b: with it, precise residuals (observePreciseResidual) raise the lower end (the energy bound above). */
  rhs?: Float64Array;
}

/** Follows one CG solve's steps (solve.ts SolveOptions.onStep) and answers the band of ‖x‖ at the latest step. */
export class SolutionNormBand {
  private readonly alphas: number[] = [];
  private readonly betas: number[] = [];
  private readonly certifiedMu: number;
  private mu: number;
  private muSource: NormBand['muSource'];
  /** δ_k(μ): last pivot of T_k − μI, and the k it belongs to. */
  private pivot = NaN;
  private pivotK = 0;
  private ritz: number | undefined;
  private nextRitzAt = 1;
  private last: NormBand | undefined;
  /** The last band of the from-zero recurrence (kept once steps stop being from zero). */
  private zeroBand: NormBand | undefined;
  private continued = false;
  /** Gauss quantities in Lanczos coordinates: ‖x_k‖², x_kᵀp_k, ‖p_k‖² (see observeFromZero). */
  private xx = 0;
  private xp = 0;
  private pp = 0;
  private readonly rhs: Float64Array | undefined;
  private readonly rhsNorm: number;
  /** The largest energy lower bound seen (0 before any precise residual). */
  private energyLower = 0;

  constructor(opts: NormBandOptions = {}) {
    const eps = opts.damping ?? 0;
    const given = opts.lambdaMinBound ?? 0;
    this.certifiedMu = Math.max(0, eps) + Math.max(0, given);
    this.mu = this.certifiedMu;
    this.muSource = given > 0 ? 'given' : eps > 0 ? 'damping' : 'ritz';
    this.rhs = opts.rhs;
    this.rhsNorm = opts.rhs ? Math.sqrt(dotSelf(opts.rhs)) : 0;
  }

  /** Feed every step of the solve (SolveOptions.onStep). */
  observe(step: CGStep): void {
    if (!(step.alpha > 0) || !Number.isFinite(step.beta)) return;
    // Once a step is not from zero, the recurrence's tridiagonal is no longer T_k of b: later steps never are.
    if (step.fromZero && !this.continued) this.observeFromZero(step);
    else {
      this.continued = true;
      this.observeContinuation(step);
    }
  }

  /**
   * An iterate y with its residual r = b − (A+εI)y from exact products (SolveOptions.onPreciseResidual): raises the
   * lower end to (bᵀy)² / (‖b‖ · yᵀ(A+εI)y), yᵀ(A+εI)y = bᵀy − yᵀr (the file's opening), at once, so a solve's last
   * check (a budget stop) counts without a step after it.
   */
  observePreciseResidual(y: Float64Array, r: Float64Array): void {
    const b = this.rhs;
    if (!b || !(this.rhsNorm > 0)) return;
    let by = 0, yr = 0;
    for (let i = 0; i < y.length; i++) { by += b[i] * y[i]; yr += y[i] * r[i]; }
    const energy = by - yr;
    // A nonpositive energy is rounding (A+εI is PSD): no bound from this iterate.
    if (!(by > 0 && energy > 0)) return;
    this.energyLower = Math.max(this.energyLower, (by * by) / (energy * this.rhsNorm));
    if (this.last && this.energyLower > this.last.lower) {
      this.last = { ...this.last, lower: this.energyLower, upper: Math.max(this.last.upper, this.energyLower) };
    }
  }

  /** The band at the latest step (undefined before the first one). */
  band(): NormBand | undefined {
    return this.last;
  }

  private observeFromZero(step: CGStep): void {
    this.alphas.push(step.alpha);
    this.betas.push(step.beta);
    const k = this.alphas.length;
    // ‖x_k‖², x_kᵀp_k, ‖p_k‖² in Lanczos coordinates (Hestenes–Stiefel's recurrences, which assume r_k ⊥ p_{k−1}
    // and x_k ⊥ r_k): the Gauss value ‖b‖²‖T_k⁻¹e1‖² of the coefficients, not the dot products of the vectors. After
    // CG loses global orthogonality (past ~d_x iterations at κ ≥ 1e5) the vectors' x_kᵀp_k even turned negative and
    // the band with them fell 7e-5 below ‖x‖ (dense κ 1e7 test); the coefficients are exact CG's on a nearby
    // matrix (Greenbaum 1989), whose quadrature stays a bound to rounding (quadrature.test.ts).
    const a = step.alpha, be = step.beta, rho = step.residualNorm * step.residualNorm;
    if (k === 1) this.pp = rho / be; // p_0 = b: ‖b‖² = ρ_0 = ρ_1/β_1
    this.xx += 2 * a * this.xp + a * a * this.pp;
    this.xp = be * (this.xp + a * this.pp);
    this.pp = rho + be * be * this.pp;
    const xx = this.xx, xp = this.xp, pp = this.pp;
    // Past the attainable accuracy of float32 products without residual replacement the recurrence residual keeps
    // falling while x_k stalls, and the coefficients' Gauss value overshot ‖x‖ by 1.5e-3 (dense κ 1e5, ε 1e-2) where
    // the vector's ‖x_k‖ stayed within 1e-5: the lower end is the smaller of the two (one dot product).
    const vector = dotSelf(step.solution);
    if (this.certifiedMu <= 0 && k >= this.nextRitzAt) {
      // The smallest Ritz value moves slowly: recomputing it (O(64 k)) every k/16 steps keeps the cost O(k) amortised.
      this.ritz = smallestEigenvalue(this.alphas, this.betas);
      this.nextRitzAt = k + Math.max(1, Math.floor(k / 16));
      const mu = RITZ_FRACTION * this.ritz;
      if (mu !== this.mu) {
        this.mu = mu;
        this.pivotK = 0;
      }
    }
    this.advancePivot(k);
    // Every ‖x_j‖ is a lower bound: keep the largest (rounding made the vector's norm wobble by 1e-15 once converged).
    const lower = Math.max(this.zeroBand?.lower ?? 0, Math.sqrt(Math.min(xx, vector)), this.energyLower);
    let upper = Infinity;
    if (this.mu > 0 && this.pivot > 0) {
      const a = this.alphas[k - 1];
      const eta2 = this.betas[k - 1] / (a * a);
      const dRadau = this.mu + eta2 * (1 / this.pivot - a);
      if (dRadau > 0) {
        const at = 1 / dRadau;
        upper = Math.sqrt(Math.max(xx, xx + 2 * at * xp + at * at * pp));
      }
    }
    const band: NormBand = {
      iteration: step.iteration, lower, upper: Math.max(upper, lower), iterate: Math.sqrt(vector),
      upperCertified: this.muSource !== 'ritz' && Number.isFinite(upper),
      mu: this.mu, muSource: this.muSource, ...(this.ritz !== undefined ? { smallestRitz: this.ritz } : {}),
    };
    this.zeroBand = band;
    this.last = band;
  }

  /** Not a recurrence from zero: the last from-zero band ∩ ‖x_k‖ ± ‖r_k‖/μ. */
  private observeContinuation(step: CGStep): void {
    const iterate = Math.sqrt(dotSelf(step.solution));
    const certified = this.muSource !== 'ritz';
    const radius = this.mu > 0 ? step.residualNorm / this.mu : Infinity;
    const prior = this.zeroBand;
    let lower = Math.max(prior?.lower ?? 0, this.energyLower);
    if (certified) lower = Math.max(lower, iterate - radius);
    let upper = iterate + radius;
    if (prior && prior.upperCertified === certified) upper = Math.min(upper, prior.upper);
    this.last = {
      iteration: step.iteration, lower, upper: Math.max(upper, lower), iterate, upperCertified: certified && Number.isFinite(upper),
      mu: this.mu, muSource: this.muSource, ...(this.ritz !== undefined ? { smallestRitz: this.ritz } : {}),
    };
  }

  /** δ_k(μ) for the current μ, continued from the last k it was computed for (from the start after μ changed). */
  private advancePivot(k: number): void {
    const mu = this.mu;
    let d = this.pivot;
    for (let j = this.pivotK + 1; j <= k; j++) d = nextPivot(this.alphas, this.betas, j, mu, j === 1 ? NaN : d);
    this.pivot = d;
    this.pivotK = k;
  }
}

function dotSelf(x: Float64Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

/**
 * The j-th pivot (1-based) of the LDLᵀ factorisation of T − σI from the (j−1)-th: T_jj − σ − η_{j−1}²/δ_{j−1}, with
 * T_11 = 1/α_0, T_jj = 1/α_{j−1} + β_{j−1}/α_{j−2}, η_j² = β_j/α_{j−1}² (solve.ts CGStep).
 */
function nextPivot(alphas: readonly number[], betas: readonly number[], j: number, sigma: number, previous: number): number {
  if (j === 1) return 1 / alphas[0] - sigma;
  const aPrev = alphas[j - 2];
  const diag = 1 / alphas[j - 1] + betas[j - 2] / aPrev;
  const eta2 = betas[j - 2] / (aPrev * aPrev);
  // A zero pivot means σ is an eigenvalue of a leading block: nudge it so the count stays well defined.
  const prev = previous === 0 ? Number.MIN_VALUE : previous;
  return diag - sigma - eta2 / prev;
}

/** Eigenvalues of T_k below σ (Sylvester's inertia: the negative pivots of T_k − σI). */
function countBelow(alphas: readonly number[], betas: readonly number[], sigma: number): number {
  let count = 0;
  let d = NaN;
  for (let j = 1; j <= alphas.length; j++) {
    d = nextPivot(alphas, betas, j, sigma, d);
    if (d < 0) count++;
  }
  return count;
}

/**
 * Smallest eigenvalue of T_k (the smallest Ritz value of A+εI on the Krylov space) by bisection on the inertia,
 * geometric because it may sit 1e-8 below λmax (κ ≈ 1e7, I2F.md). T_k is positive definite, so it lies in
 * (0, T_11]. 64 halvings of the exponent range give ~1e-6 relative accuracy, plenty for a quadrature node.
 */
export function smallestEigenvalue(alphas: readonly number[], betas: readonly number[]): number {
  let hi = 1 / alphas[0]; // Rayleigh quotient of e1: θ_min ≤ T_11
  let lo = hi * 1e-30;
  if (countBelow(alphas, betas, lo) > 0) return 0; // numerically indefinite: no positive node
  for (let i = 0; i < 64; i++) {
    const mid = Math.sqrt(lo * hi);
    if (countBelow(alphas, betas, mid) > 0) hi = mid;
    else lo = mid;
  }
  return lo;
}

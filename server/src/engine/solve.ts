// What the Krylov solvers of (J Jᵀ + εI) z = b share: the product type, options, result, and the true-residual check.

import { axpy, norm, subtract } from './linalg';
import type { SolveBudget } from './budget';
import type { DeflationSpace } from './deflation';
import type { Preconditioner } from './preconditioner';

/** out ← A v for a symmetric positive semi-definite A given only by its products (here A = J Jᵀ, I2F.md). */
export type SymmetricProduct = (v: Float64Array, out: Float64Array) => Promise<void>;

export type SolverMethod = 'cg' | 'minres';

export interface SolveOptions {
  /** Stop when the TRUE relative residual ‖b − (A+εI)z‖/‖b‖ is at most this (default 1e-6, as I2F.md asks). */
  tolerance?: number;
  /** Product budget for the iterations (default 20 000: see DEFAULT_MAX_ITERATIONS). */
  maxIterations?: number;
  /** Absolute damping ε ≥ 0 added to A (default 0: the undamped I²F the real attack achieves). */
  damping?: number;
  signal?: AbortSignal;
  /**
   * Wall-clock allowance shared by an analysis's solves (budget.ts): checked before each iteration's product; when it
   * is spent the solve stops with stopReason 'budget' and its best iterate, not converged unless at tolerance.
   */
  budget?: SolveBudget;
  onProgress?: (iteration: number, relativeResidual: number) => void;
  /**
   * Called each time the solver has r = b − (A+εI) x from exact (float64) products (mixed precision's residual
   * replacements, its final check included): the only residual the energy lower bound of quadrature.ts trusts. The
   * recurrence residual of float32 products drifts from the truth by rounding summed over the steps (the residual
   * gap), too much for a bound that reads xᵀ(A+εI)x off it. The vectors are the solver's own (read only, valid
   * during the call).
   */
  onPreciseResidual?: (solution: Float64Array, residual: Float64Array) => void;
  /**
   * Each CG iteration's coefficients and vectors (CGStep), for estimates built from the recurrence itself: the
   * solution-norm band (quadrature.ts). Called after the new direction is formed; CG-type solvers only.
   */
  onStep?: (step: CGStep) => void;
  /** Keep one history point every this many iterations (default 25), plus the first and the last. */
  historyEvery?: number;
  /**
   * Recompute the true residual every this many iterations (one extra product each) and continue from it
   * (residual replacement); 0 = only when the recurrence claims convergence. Default: see each solver.
   */
  residualCheckEvery?: number;
  /**
   * Unit roundoff of the products (2⁻²⁴ ≈ 6e-8 for float32 kernels; default 0 = exact). Products with roundoff u
   * cannot give a true residual below about u·‖A+εI‖·‖z‖/‖b‖; a solve that stagnates at that floor is reported
   * converged 'to product precision' (see attainableResidual) instead of failing a tolerance it cannot reach.
   */
  productRoundoff?: number;
  /** ‖A‖ = λmax(A) when known (Lanczos); otherwise the solver uses the largest Rayleigh quotient it met. */
  operatorNorm?: number;
  /**
   * Deflated CG (deflation.ts): solve exactly on the span of these Ritz vectors and iterate on its A-orthogonal
   * complement, where κ is λ(k+1)/λmin instead of λmax/λmin. CG and the mixed-precision CG (refine.ts); not MINRES.
   */
  deflation?: DeflationSpace;
  /**
   * Preconditioned CG with this P⁻¹ (preconditioner.ts, e.g. the Nyström sketch of nystrom.ts): CG and the
   * mixed-precision CG; not together with `deflation`, not MINRES. Convergence and every reported residual stay the
   * TRUE ‖b − (A+εI)z‖/‖b‖, never the preconditioned one.
   */
  preconditioner?: Preconditioner;
  /** Initial iterate (default 0): a solve continued after its deflation space was built starts from where it was. */
  start?: Float64Array;
}

/**
 * One step of a CG recurrence as the quadrature estimates read it (quadrature.ts). After step k (k ≥ 1):
 * x_k = x_{k−1} + α_{k−1} p_{k−1}, r_k = r_{k−1} − α_{k−1} A p_{k−1}, β_k = ‖r_k‖²/‖r_{k−1}‖², p_k = r_k + β_k p_{k−1}.
 * α and β are the entries of the Lanczos tridiagonal T_k of A+εI and b (Golub & Meurant 2010, §3.3):
 * T_11 = 1/α_0, T_jj = 1/α_{j−1} + β_{j−1}/α_{j−2}, T_{j,j+1} = √β_j/α_{j−1}. The vectors are the solver's own
 * (read only, valid during the call).
 */
export interface CGStep {
  iteration: number;
  /** α_{k−1}. */
  alpha: number;
  /** β_k. */
  beta: number;
  /** x_k. */
  solution: Float64Array;
  /** p_k (after the update). */
  direction: Float64Array;
  /** ‖r_k‖ of the recurrence (after a residual replacement: the replaced one). */
  residualNorm: number;
  /**
   * True while the steps are one CG recurrence for (A+εI) x = b started at x_0 = 0 with no restart: then
   * Hestenes–Stiefel's ‖x_k‖ ≤ ‖x‖ and the Gauss/Gauss–Radau rules apply. False for a nonzero start, a deflated
   * or preconditioned recurrence, or after a restart of the directions: only residual-based bounds apply.
   */
  fromZero: boolean;
}

export interface SolveHistoryPoint {
  iteration: number;
  /** The solver's own (recurrence) residual estimate, relative to ‖b‖. */
  relativeResidual: number;
}

export interface SolveResult {
  method: SolverMethod;
  solution: Float64Array;
  /** Iterations of the Krylov recurrence (each one fused J Jᵀ v product). */
  iterations: number;
  /** All products spent, including true-residual checks. */
  products: number;
  /** ‖b − (A+εI)z‖/‖b‖ recomputed from z at the end (0 when b = 0). */
  relativeResidual: number;
  converged: boolean;
  /**
   * Why the solver stopped. 'stagnated': the true residual stopped improving (float32 products limit it); 'budget':
   * the wall-clock budget (SolveOptions.budget) was spent.
   */
  stopReason: 'converged' | 'max-iterations' | 'stagnated' | 'breakdown' | 'non-finite' | 'budget';
  /**
   * The residual floor float products allow, ATTAINABLE_FACTOR·u·‖A+εI‖·‖z‖/‖b‖ (0 for exact products). When
   * relativeResidual is above the tolerance but at most this, converged is true and limitedByPrecision says so.
   */
  attainableResidual: number;
  limitedByPrecision: boolean;
  damping: number;
  history: SolveHistoryPoint[];
}

/**
 * Default product budget. CG/MINRES need about ½·√κ·ln(2/tol) iterations in exact arithmetic: 7 250 at κ = 1e6,
 * tol = 1e-6; I2F.md measured ~5 000 (DLG LeNet, κ 3.7e6) and ~7 300 (ResNet, singular, κ 1.3e7 on its range).
 * The dlg_lenet fixture (κ 1.2e7) needs 6 967 iterations with float64 products and 10 081 with float32 products
 * and float64 reliable updates (refine.ts): 20 000 leaves margin for κ ≈ 1e7. Float32-only solves rarely spend it:
 * they stop at their floor by the stagnation test. It is deliberately not tied to d_x: in floating point conjugacy
 * is lost and the count exceeds d_x (5 000 > 3 072 on the LeNet), while for large d_x the count follows κ, not d_x.
 */
export const DEFAULT_MAX_ITERATIONS = 20_000;
export const DEFAULT_TOLERANCE = 1e-6;

/**
 * Multiplier on u·‖A‖·‖z‖/‖b‖ that a stagnated float32-product solve is allowed. Measured (solverExperiment.ts,
 * d_x 300, products rounded to float32 on input and output, float64 state): CG's best true residual stalls at
 * 0.05–0.07× u·λmax·‖z‖/‖b‖ when left to run (4.5e-6 at κ = 1e6, 7.1e-6 at κ = 3.7e6, 9.7e-6 singular with
 * κ = 1.3e7 on the range), and at 0.13–0.21× with the shorter at-floor stagnation window below, which halves the
 * products spent (3 350 vs 6 800 at κ = 1e6) for a solution error of 2e-4…3e-3 relative. MINRES: 0.13–0.25×.
 */
export const ATTAINABLE_FACTOR = 0.25;

/** The true-residual floor of products with unit roundoff u (0 when exact). */
export function attainableResidual(u: number, dampedNorm: number, zNorm: number, bNorm: number): number {
  return u > 0 ? (ATTAINABLE_FACTOR * u * dampedNorm * zNorm) / bNorm : 0;
}

/** out ← (A + εI) v. */
export async function dampedProduct(a: SymmetricProduct, damping: number, v: Float64Array, out: Float64Array): Promise<void> {
  await a(v, out);
  if (damping !== 0) axpy(damping, v, out);
}

/** r ← b − (A + εI) z using `work` for the product; returns ‖r‖. */
export async function trueResidual(
  a: SymmetricProduct,
  damping: number,
  b: Float64Array,
  z: Float64Array,
  r: Float64Array,
  work: Float64Array,
): Promise<number> {
  await dampedProduct(a, damping, z, work);
  subtract(b, work, r);
  return norm(r);
}

/** Validated options with defaults filled in. */
export function resolveSolveOptions(opts: SolveOptions) {
  const tolerance = opts.tolerance ?? DEFAULT_TOLERANCE;
  const maxIterations = opts.maxIterations ?? DEFAULT_MAX_ITERATIONS;
  const damping = opts.damping ?? 0;
  if (!(tolerance > 0)) throw new RangeError(`tolerance must be > 0, got ${tolerance}`);
  if (!(maxIterations >= 0) || !Number.isInteger(maxIterations)) throw new RangeError(`maxIterations must be a non-negative integer, got ${maxIterations}`);
  if (!(damping >= 0) || !Number.isFinite(damping)) throw new RangeError(`damping must be finite and ≥ 0, got ${damping}`);
  const productRoundoff = opts.productRoundoff ?? 0;
  if (!(productRoundoff >= 0 && productRoundoff < 1)) throw new RangeError(`productRoundoff must be in [0, 1), got ${productRoundoff}`);
  return { tolerance, maxIterations, damping, productRoundoff, historyEvery: Math.max(1, opts.historyEvery ?? 25) };
}

/**
 * True-residual bookkeeping shared by the solvers: recomputes ‖b − (A+εI)z‖ (one product), keeps the best iterate
 * seen, and says when iterating has stopped paying. Float32 products put a floor under the attainable true residual
 * (I2F.md: float32 CG stalls near 1e-5) while the recurrence keeps shrinking; a solve whose best true residual has
 * not halved for max(1000, iterations/2) iterations has stagnated and returns its best iterate.
 */
export class ResidualMonitor {
  readonly best: Float64Array;
  bestRelative = Infinity;
  private halvingReference = Infinity;
  private lastHalving = 0;
  private readonly residual: Float64Array;
  private readonly work: Float64Array;

  constructor(
    private readonly a: SymmetricProduct,
    private readonly damping: number,
    private readonly b: Float64Array,
    private readonly bNorm: number,
  ) {
    const n = b.length;
    this.best = new Float64Array(n);
    this.residual = new Float64Array(n);
    this.work = new Float64Array(n);
  }

  /** Relative true residual of z; records z as best when it is. `into` receives the residual vector if given. */
  async check(z: Float64Array, iteration: number, into?: Float64Array): Promise<number> {
    const r = into ?? this.residual;
    const rel = (await trueResidual(this.a, this.damping, this.b, z, r, this.work)) / this.bNorm;
    if (rel < this.bestRelative || !Number.isFinite(this.bestRelative)) {
      this.bestRelative = rel;
      this.best.set(z);
    }
    if (rel <= 0.5 * this.halvingReference) {
      this.halvingReference = rel;
      this.lastHalving = iteration;
    }
    return rel;
  }

  /** The best iterate is at the float-product floor (attainableResidual) already. */
  atFloor(productRoundoff: number, dampedNorm: number): boolean {
    return this.bestRelative <= attainableResidual(productRoundoff, dampedNorm, norm(this.best), this.bNorm);
  }

  /**
   * No halving of the best true residual for max(1000, iterations/2) iterations; once the best is already at the
   * float-product floor (atFloor), a shorter max(250, iterations/10) suffices: below the floor nothing is left.
   */
  stagnated(iteration: number, atFloor = false): boolean {
    const since = iteration - this.lastHalving;
    return since >= Math.max(1000, iteration / 2) || (atFloor && since >= Math.max(250, iteration / 10));
  }
}

/** ‖A+εI‖: λmax + ε when Lanczos supplied λmax, else the largest Rayleigh quotient of A+εI the solver met. */
export class NormEstimate {
  value: number;
  constructor(knownLambdaMax: number | undefined, damping: number) {
    this.value = knownLambdaMax !== undefined ? knownLambdaMax + damping : 0;
  }
  observe(vAv: number, vv: number): void {
    if (vv > 0 && vAv / vv > this.value) this.value = vAv / vv;
  }
}

/** Throws the signal's reason (an AbortError by default) when the caller cancelled. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? abortError();
}

export function abortError(): Error {
  const e = new Error('The operation was aborted');
  e.name = 'AbortError';
  return e;
}

/** The trivial answer for b = 0 (δ = 0 ⇒ I = 0 exactly, I2F.md). */
export function zeroRightHandSide(method: SolverMethod, n: number, damping: number): SolveResult {
  return {
    method, solution: new Float64Array(n), iterations: 0, products: 0, relativeResidual: 0, converged: true,
    stopReason: 'converged', damping, history: [{ iteration: 0, relativeResidual: 0 }], attainableResidual: 0,
    limitedByPrecision: false,
  };
}

/**
 * The common end of a Krylov solve: make sure the returned iterate's true residual is known, prefer the best iterate
 * the monitor saw (after stagnation the last one is usually a little worse), and decide convergence against the
 * tolerance or, for float products, the floor they allow.
 */
export async function finishSolve(
  method: SolverMethod,
  s: {
    z: Float64Array; zTrue: number; iterations: number; products: number; stopReason: SolveResult['stopReason'];
    monitor: ResidualMonitor; tolerance: number; productRoundoff: number; normA: number; bNorm: number; damping: number;
    history: SolveHistoryPoint[];
  },
): Promise<SolveResult> {
  let { zTrue, products, stopReason } = s;
  if (Number.isNaN(zTrue)) {
    zTrue = await s.monitor.check(s.z, s.iterations);
    products++;
  }
  const solution = s.z;
  let relativeResidual = zTrue;
  if (s.monitor.bestRelative < zTrue) {
    solution.set(s.monitor.best);
    relativeResidual = s.monitor.bestRelative;
  }
  const floor = attainableResidual(s.productRoundoff, s.normA, norm(solution), s.bNorm);
  const converged = relativeResidual <= Math.max(s.tolerance, floor);
  if (relativeResidual <= s.tolerance) stopReason = 'converged';
  const history = s.history;
  if (history[history.length - 1].iteration !== s.iterations) history.push({ iteration: s.iterations, relativeResidual });
  return {
    method, solution, iterations: s.iterations, products, relativeResidual, converged, stopReason, damping: s.damping, history,
    attainableResidual: floor, limitedByPrecision: converged && relativeResidual > s.tolerance,
  };
}

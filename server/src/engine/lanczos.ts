// Lanczos with full re-orthogonalisation on J Jᵀ: λmax for the lower bound, extreme Ritz pairs and their residuals.

import { axpy, dot, norm } from './linalg';
import { Random } from './random';
import type { SolveBudget } from './budget';
import { checkAborted, SymmetricProduct } from './solve';
import { tridiagonalEigen } from './tridiagonal';

/** Anything with the fused Gram product: an InversionOperator qualifies. */
export interface GramOperator {
  readonly inputSize: number;
  gramVector(v: Float64Array, out: Float64Array): Promise<void>;
}

export interface LanczosOptions {
  /** Maximum steps k (capped at n). Memory: k vectors of n doubles. */
  steps: number;
  seed?: number;
  /** Start vector (normalised internally); default a seeded standard normal draw. */
  start?: Float64Array;
  /** Return the Ritz vectors of the top this-many Ritz values (default 0). */
  ritzVectors?: number;
  /** Stop early once the top Ritz pair's residual ≤ tolerance·θ_max (checked every step; default: never). */
  topTolerance?: number;
  signal?: AbortSignal;
  /** Stop early (with the steps done so far) once this wall-clock allowance is spent (budget.ts). */
  budget?: SolveBudget;
  onProgress?: (step: number, steps: number) => void;
  /** With topTolerance: the top Ritz value and its residual after each step (a running λmax, e.g. for the editor). */
  onTop?: (value: number, residual: number, step: number) => void;
}

export interface LanczosResult {
  /** Ritz values, descending. */
  values: number[];
  /** ‖A y − θ y‖ for each Ritz pair (same order): |β_k · s_k,i|, the standard a-posteriori bound. */
  residuals: number[];
  /** Ritz vectors of the top `ritzVectors` values, unit length. */
  vectors: Float64Array[];
  steps: number;
  /** The Krylov space became invariant (β ≈ 0): the Ritz values are exact eigenvalues of A on it. */
  invariant: boolean;
}

/**
 * k steps of symmetric Lanczos with full re-orthogonalisation (classical Gram–Schmidt twice against every stored
 * basis vector), which I2F.md asks for: without it, ghost copies of converged eigenvalues appear and the bottom of
 * the spectrum is unusable. Costs k products plus O(k²·n) flops.
 */
export async function lanczos(a: SymmetricProduct, n: number, opts: LanczosOptions): Promise<LanczosResult> {
  const k = Math.max(1, Math.min(opts.steps, n));
  const basis: Float64Array[] = [];
  const alpha: number[] = [];
  const beta: number[] = [];
  const w = new Float64Array(n);

  const q0 = opts.start ? Float64Array.from(opts.start) : new Random(opts.seed ?? 0).fillNormal(new Float64Array(n));
  const q0n = norm(q0);
  if (!(q0n > 0)) throw new RangeError('lanczos: zero start vector');
  for (let i = 0; i < n; i++) q0[i] /= q0n;
  basis.push(q0);

  let invariant = false;
  let scale = 0;
  for (let j = 0; j < k; j++) {
    checkAborted(opts.signal);
    if (j > 0 && opts.budget?.exhausted) { basis.length = j; break; }
    const q = basis[j];
    await a(q, w);
    const aj = dot(q, w);
    alpha.push(aj);
    axpy(-aj, q, w);
    if (j > 0) axpy(-beta[j - 1], basis[j - 1], w);
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i <= j; i++) axpy(-dot(basis[i], w), basis[i], w);
    }
    const bj = norm(w);
    beta.push(bj);
    scale = Math.max(scale, Math.abs(aj) + bj);
    opts.onProgress?.(j + 1, k);
    if (bj <= 1e-13 * scale || !Number.isFinite(bj)) {
      invariant = true;
      break;
    }
    if (opts.topTolerance !== undefined && j >= 1) {
      const { values, vectors } = tridiagonalEigen(alpha, beta, j + 1);
      const m = j + 1;
      const top = values[m - 1];
      const residual = Math.abs(bj * vectors[(m - 1) * m + (m - 1)]);
      opts.onTop?.(top, residual, m);
      if (residual <= opts.topTolerance * Math.abs(top)) break;
    }
    if (j + 1 < k) {
      const next = new Float64Array(n);
      for (let i = 0; i < n; i++) next[i] = w[i] / bj;
      basis.push(next);
    }
  }

  const m = alpha.length;
  const { values, vectors } = tridiagonalEigen(alpha, beta, m);
  const lastBeta = invariant ? 0 : beta[m - 1];
  const out: LanczosResult = { values: [], residuals: [], vectors: [], steps: m, invariant };
  for (let i = m - 1; i >= 0; i--) {
    out.values.push(values[i]);
    out.residuals.push(Math.abs(lastBeta * vectors[i * m + (m - 1)]));
  }
  const wanted = Math.min(opts.ritzVectors ?? 0, m);
  for (let t = 0; t < wanted; t++) {
    const i = m - 1 - t;
    const y = new Float64Array(n);
    for (let j = 0; j < m; j++) axpy(vectors[i * m + j], basis[j], y);
    out.vectors.push(y);
  }
  return out;
}

export interface LambdaMaxResult {
  /** Largest eigenvalue of J Jᵀ (the top Ritz value). */
  value: number;
  /** Its Ritz residual ‖A y − θ y‖; |λmax − θ| ≤ residual (and ≤ residual²/gap). */
  residual: number;
  steps: number;
  converged: boolean;
}

/**
 * λmax(J Jᵀ) for the lower bound I_lb = ‖J δ‖/λmax (I2F.md). 20 steps reached machine precision on the DLG LeNet
 * (I2F.md), so 20 is the default budget; it stops earlier once the Ritz residual is below tolerance·λmax.
 */
export async function lambdaMax(
  op: GramOperator,
  opts: { steps?: number; tolerance?: number; seed?: number; signal?: AbortSignal; onTop?: LanczosOptions['onTop'] } = {},
): Promise<LambdaMaxResult> {
  const tolerance = opts.tolerance ?? 1e-10;
  const r = await lanczos((v, o) => op.gramVector(v, o), op.inputSize, {
    steps: opts.steps ?? 20, seed: opts.seed, topTolerance: tolerance, signal: opts.signal, ...(opts.onTop ? { onTop: opts.onTop } : {}),
  });
  const value = r.values[0];
  const residual = r.residuals[0];
  return { value, residual, steps: r.steps, converged: r.invariant || residual <= tolerance * Math.abs(value) };
}

export interface ExtremeSpectrum {
  /** The k largest Ritz values, descending, with their Ritz residuals. */
  top: number[];
  topResiduals: number[];
  /** The k smallest Ritz values, ascending, with their residuals: λmin converges slowly (I2F.md: 300 steps were
   * 2× off on the LeNet), so read bottom[i] as trustworthy only when bottomResiduals[i] is small against it. */
  bottom: number[];
  bottomResiduals: number[];
  steps: number;
  /** Lanczos ran n steps (or found an invariant space containing the start): these are all the eigenvalues. */
  complete: boolean;
  /** All Ritz values, descending (the whole spectrum when complete). */
  ritzValues: number[];
}

type SpectrumOptions = { steps?: number; seed?: number; signal?: AbortSignal; onProgress?: (step: number, steps: number) => void };

/** k extreme eigenvalues of J Jᵀ at each end; default steps max(4k, 100), capped at d_x. */
export async function extremeSpectrum(op: GramOperator, k: number, opts: SpectrumOptions = {}): Promise<ExtremeSpectrum> {
  return (await extremeSpectrumWithVectors(op, k, 0, opts)).spectrum;
}

/**
 * extremeSpectrum plus the Ritz vectors of the top `ritzVectors` values of the same run (the analysis deflates its
 * solves with them instead of running Lanczos again, deflation.ts). The vectors stay out of ExtremeSpectrum, which
 * is reported as JSON.
 */
export async function extremeSpectrumWithVectors(
  op: GramOperator,
  k: number,
  ritzVectors: number,
  opts: SpectrumOptions = {},
): Promise<{ spectrum: ExtremeSpectrum; ritz: LanczosResult }> {
  const n = op.inputSize;
  const steps = Math.min(n, opts.steps ?? Math.max(4 * k, 100));
  const r = await lanczos((v, o) => op.gramVector(v, o), n, { steps, seed: opts.seed, signal: opts.signal, onProgress: opts.onProgress, ritzVectors });
  return { spectrum: summarise(r, k, n), ritz: r };
}

function summarise(r: LanczosResult, k: number, n: number): ExtremeSpectrum {
  const m = r.values.length;
  const kk = Math.min(k, m);
  const asc = (xs: number[]) => xs.slice(m - kk).reverse();
  return {
    top: r.values.slice(0, kk),
    topResiduals: r.residuals.slice(0, kk),
    bottom: asc(r.values),
    bottomResiduals: asc(r.residuals),
    steps: r.steps,
    complete: r.steps === n,
    ritzValues: r.values,
  };
}

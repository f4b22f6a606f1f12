// Deflation of the CG solves of J Jᵀ z = b by the top Ritz vectors of a Lanczos run: CG on the A-orthogonal
// complement of their span, exact on the span itself (Saad, Yeung, Erhel & Guyomarc'h 2000, "A deflated version of
// the conjugate gradient algorithm"; Nicolaides 1987).
//
// Why the TOP end: the convergence of CG is set by κ = λmax/λmin, and on J Jᵀ the top of the spectrum decays slowly
// (dlg_lenet, reference eigenvalues: λ1 20.4, λ21 2.56, λ41 1.24, λ101 0.54 with λmin 1.7e-6), so removing the top
// k eigenvalues divides κ by λ1/λ(k+1) = 8 / 16 / 37. Those top Ritz pairs are what Lanczos finds first: 100 steps
// pin the top 40 to Ritz residuals ≤ 1e-6·θ. In exact arithmetic CG would handle isolated top eigenvalues almost for
// free; in floating point (float32 products, lost conjugacy) they are found again and again, which is why
// dlg_lenet needs 10 081 iterations for d_x = 3 072. Measured on a diagonal model of its exact spectrum (float32
// products, tolerance 1e-6): 9 712 iterations plain; deflating the top 20 / 40 / 80 exact eigenvectors 4 462 / 3 311
// / 2 498; the top 40 Ritz vectors of 100 Lanczos steps 3 284.
//
// The projection is exact for the span of W whatever its accuracy: inexact Ritz vectors only leave some of the top
// spectrum for CG to handle. W lies in range(A) (Ritz values > 0), so a singular A still gives the pseudo-inverse
// solution from z = 0.

import { cholesky, dot, norm } from './linalg';
import { lanczos, type LanczosResult } from './lanczos';
import type { SolveBudget } from './budget';
import { checkAborted, type SymmetricProduct } from './solve';
import { vectorBlocks, type VectorBlock } from './vectorBlocks';

export interface DeflationOptions {
  /** Ritz vectors to deflate (the top ones). */
  vectors: number;
  /** Lanczos steps that compute them (≥ vectors). */
  steps: number;
  seed?: number;
  signal?: AbortSignal;
  budget?: SolveBudget;
  /** A more precise product of the same A for the purification into range(A) (default: `a` itself). */
  purify?: SymmetricProduct;
}

/**
 * Ritz pairs deflated only when their Lanczos residual |β s| is at most this times θ. Measured on dlg_lenet (100
 * steps of the spectrum's Lanczos): pairs 1–31 at ≤ 1e-16, 32–40 at 6e-13…1e-5, then 4e-4…1e-1. Deflating the top 40
 * converged in 4 247 iterations; the top 60 (the unconverged 41–60 included) never did (20 000 iterations, true
 * residual stuck at 1.6e-6, where plain CG needs 10 081).
 */
export const RITZ_RESIDUAL_LIMIT = 1e-4;

/** W (k orthonormal Ritz vectors), A W, and the Cholesky factor of E = Wᵀ A W: what a deflated CG iteration needs. */
export class DeflationSpace {
  readonly size: number;
  /** W's and A W's columns (views of their blocks' storage: WebAssembly memory with the SIMD kernels). */
  readonly vectors: readonly Float64Array[];
  readonly products: readonly Float64Array[];
  /** Cholesky factor L of E (row-major k × k, lower), E = L Lᵀ. */
  private readonly factor: Float64Array;
  private readonly coefficients: Float64Array;
  private readonly w: VectorBlock;
  private readonly aw: VectorBlock;

  private constructor(
    vectors: Float64Array[],
    products: Float64Array[],
    /** Ritz values of the deflated vectors, descending. */
    readonly ritzValues: number[],
    /** Products the Lanczos run, the purification (on `purify` when given) and A W took: the cost of the space. */
    readonly buildProducts: number,
    readonly lanczosSteps: number,
  ) {
    const k = vectors.length;
    this.size = k;
    this.coefficients = new Float64Array(k);
    const e = new Float64Array(k * k);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j <= i; j++) {
        const v = 0.5 * (dot(vectors[i], products[j]) + dot(vectors[j], products[i])); // symmetrised Wᵀ A W
        e[i * k + j] = v;
        e[j * k + i] = v;
      }
    }
    const factor = cholesky(e, k);
    if (!factor) throw new RangeError('deflation: Wᵀ A W is not positive definite');
    this.factor = factor;
    [this.w, this.aw] = vectorBlocks([vectors, products], vectors[0]?.length ?? 0);
    this.vectors = this.w.rows;
    this.products = this.aw.rows;
  }

  /**
   * Builds the space from `opts.steps` Lanczos steps on A (full re-orthogonalisation, lanczos.ts) and 2k more
   * products (the purification into range(A) and A W). Returns null when no usable space results (k = 0, a zero or non-SPD Wᵀ A W).
   */
  static async build(a: SymmetricProduct, n: number, opts: DeflationOptions): Promise<DeflationSpace | null> {
    const steps = Math.min(n, Math.max(opts.steps, opts.vectors));
    if (opts.vectors <= 0 || steps <= 0) return null;
    const l = await lanczos(a, n, { steps, seed: opts.seed, ritzVectors: opts.vectors, signal: opts.signal, budget: opts.budget });
    return DeflationSpace.fromRitz(a, n, l, { ...opts, lanczosSteps: l.steps });
  }

  /**
   * The space from the top Ritz pairs of a Lanczos run made already (the analysis's spectrum): 2k products.
   * `lanczosSteps` is what the run cost this space (0 when it was paid for by something else).
   */
  static async fromRitz(
    a: SymmetricProduct,
    n: number,
    ritz: Pick<LanczosResult, 'values' | 'vectors' | 'residuals'>,
    opts: Pick<DeflationOptions, 'vectors' | 'signal' | 'purify'> & { lanczosSteps: number },
  ): Promise<DeflationSpace | null> {
    // Only converged Ritz pairs (see RITZ_RESIDUAL_LIMIT) with a clearly positive value (in range(A)).
    const keep: number[] = [];
    for (let i = 0; i < Math.min(opts.vectors, ritz.vectors.length); i++) {
      if (ritz.values[i] > 1e-8 * ritz.values[0] && ritz.residuals[i] <= RITZ_RESIDUAL_LIMIT * ritz.values[i]) keep.push(i);
    }
    if (keep.length === 0) return null;
    // Purified into range(A): W ← A y / ‖A y‖. Lanczos on float32 products divides their rounding (u·λmax in every
    // direction, the null space included) by β_j each step, and the null-space part it leaves in y is invisible to
    // the residual: deflated with y itself, a singular test system (deflation.test.ts) ended 2.6e-5 off the
    // pseudo-inverse solution in its null space against 1.2e-6 plain. A y has only its own rounding there, so the
    // analysis purifies with the float64 products: with float32 ones smooth_cnn (singular) kept a floor, I²F 1.9e-5
    // off PyTorch even at tolerance 1e-8 (plain CG 1.4e-6); with float64 ones 1.8e-7.
    const vectors: Float64Array[] = [];
    const products: Float64Array[] = [];
    for (const i of keep) {
      checkAborted(opts.signal);
      const w = new Float64Array(n);
      await (opts.purify ?? a)(ritz.vectors[i], w);
      const s = 1 / norm(w);
      for (let j = 0; j < n; j++) w[j] *= s;
      const aw = new Float64Array(n);
      await a(w, aw);
      vectors.push(w);
      products.push(aw);
    }
    try {
      return new DeflationSpace(vectors, products, keep.map((i) => ritz.values[i]), opts.lanczosSteps + 2 * vectors.length, opts.lanczosSteps);
    } catch {
      return null; // E not numerically SPD: solve without deflation rather than with a broken projection
    }
  }

  /** From explicit W and A W (tests; a caller that has them already). Throws when Wᵀ A W is not SPD. */
  static fromVectors(vectors: Float64Array[], products: Float64Array[], ritzValues: number[] = []): DeflationSpace {
    return new DeflationSpace(vectors, products, ritzValues, 0, 0);
  }

  /** c ← E⁻¹ Xᵀ r with X = W (`useProducts` false) or X = A W (true); returns the shared coefficient buffer. */
  private solveCoefficients(r: Float64Array, useProducts: boolean): Float64Array {
    const k = this.size, c = this.coefficients, l = this.factor;
    (useProducts ? this.aw : this.w).dots(r, c);
    for (let i = 0; i < k; i++) { // L y = c
      let s = c[i];
      for (let j = 0; j < i; j++) s -= l[i * k + j] * c[j];
      c[i] = s / l[i * k + i];
    }
    for (let i = k - 1; i >= 0; i--) { // Lᵀ x = y
      let s = c[i];
      for (let j = i + 1; j < k; j++) s -= l[j * k + i] * c[j];
      c[i] = s / l[i * k + i];
    }
    return c;
  }

  /**
   * The exact solve on span W: z ← z + W E⁻¹ Wᵀ r, r ← r − A W E⁻¹ Wᵀ r, after which Wᵀ r = 0 (to rounding).
   * Deflated CG starts from it and re-applies it after each residual replacement (which brings W-components back).
   */
  correct(z: Float64Array, r: Float64Array): void {
    const c = this.solveCoefficients(r, false);
    this.w.addCombination(c, z);
    for (let i = 0; i < this.size; i++) c[i] = -c[i];
    this.aw.addCombination(c, r);
  }

  /** p ← p − W E⁻¹ (A W)ᵀ r: makes the new direction A-orthogonal to W (the deflated CG direction update). */
  projectDirection(r: Float64Array, p: Float64Array): void {
    const c = this.solveCoefficients(r, true);
    for (let i = 0; i < this.size; i++) c[i] = -c[i];
    this.w.addCombination(c, p);
  }
}

// A low-rank spectral preconditioner for (J Jᵀ + μI) z = b: an approximate top eigen-decomposition Â = U Λ̂ Uᵀ of
// A = J Jᵀ (U orthonormal, n × k) flattens the top k eigenvalues to λ̂_k + μ and leaves the rest of the spectrum as
// it is (Frangella, Tropp & Udell 2023, "Randomized Nyström preconditioning", SIAM J. Matrix Anal. Appl. 44(2), eq. 5.3):
//
//   P⁻¹ = (λ̂_k + μ) U (Λ̂ + μI)⁻¹ Uᵀ + (I − U Uᵀ).
//
// Preconditioned CG (cg.ts, refine.ts) then converges at the rate of κ(P^{-1/2} (A + μI) P^{-1/2}) ≤
// (λ̂_k + μ + ‖A − Â‖)/(λmin + μ) (their Proposition 5.3 for μ > 0) instead of (λmax + μ)/(λmin + μ). Unlike deflation
// (deflation.ts) nothing has to be A-orthogonal to U: an inexact U only weakens P, so a sketch of float32 products is
// usable as it is, and the iteration needs no correction steps.
//
// Undamped (μ = 0), b = J δ ∈ range(A): P⁻¹ maps range(A) to itself when U lies in range(A), so the iterates from
// z = 0 stay in range(A) and CG converges to the pseudo-inverse solution. A sketch U = A Ω T lies in range(A) up to
// the products' rounding (u·λmax/λ̂_i in its i-th column), which is why components with λ̂_i at the rounding level
// are dropped (nystrom.ts) rather than flattened.

import { vectorBlocks, type VectorBlock } from './vectorBlocks';

export interface Preconditioner {
  /** out ← P⁻¹ r (out ≠ r). */
  apply(r: Float64Array, out: Float64Array): void;
}

export class SpectralPreconditioner implements Preconditioner {
  /** k: the eigen-directions flattened. */
  readonly rank: number;
  /** The orthonormal U (views into the kernel block's storage when it runs in WebAssembly). */
  readonly vectors: readonly Float64Array[];
  private readonly block: VectorBlock;
  private readonly coefficients: Float64Array;
  private readonly scales: Float64Array;

  /**
   * `vectors`: k orthonormal approximate eigenvectors of A (arrays, copied into the kernels' memory, or a block
   * whose rows they are, used as it is); `values`: their eigenvalue estimates λ̂, descending and
   * > 0; `shift`: μ, the damping of the system the preconditioner serves (0 undamped).
   */
  constructor(vectors: Float64Array[] | VectorBlock, readonly values: Float64Array, readonly shift: number) {
    const k = Array.isArray(vectors) ? vectors.length : vectors.rows.length;
    if (values.length !== k) throw new RangeError(`SpectralPreconditioner: ${k} vectors but ${values.length} values`);
    if (!(shift >= 0) || !Number.isFinite(shift)) throw new RangeError(`SpectralPreconditioner: shift must be finite and ≥ 0, got ${shift}`);
    for (let i = 0; i < k; i++) {
      if (!(values[i] + shift > 0)) throw new RangeError(`SpectralPreconditioner: λ̂ + μ must be > 0 (λ̂_${i} = ${values[i]}, μ = ${shift})`);
      if (i > 0 && values[i] > values[i - 1]) throw new RangeError('SpectralPreconditioner: values must be descending');
    }
    this.rank = k;
    // P⁻¹'s two passes (4k·d_x flops) are the kernels of deflated CG (vectorBlocks.ts: f64x2 SIMD, about 5× the JS
    // loops), over a block already in WebAssembly memory when given one (nystrom.ts: U where the build left it).
    this.block = Array.isArray(vectors) ? vectorBlocks([vectors], vectors[0]?.length ?? 0)[0] : vectors;
    this.vectors = this.block.rows;
    this.coefficients = new Float64Array(k);
    // P⁻¹ r = r + Σ_i ((λ̂_k + μ)/(λ̂_i + μ) − 1) ⟨u_i, r⟩ u_i
    this.scales = new Float64Array(k);
    const floor = k > 0 ? values[k - 1] + shift : 0;
    for (let i = 0; i < k; i++) this.scales[i] = floor / (values[i] + shift) - 1;
  }

  /** (λ̂_k + μ): where the flattened part of the spectrum lands. */
  get flattenedTo(): number {
    return this.rank > 0 ? this.values[this.rank - 1] + this.shift : NaN;
  }

  apply(r: Float64Array, out: Float64Array): void {
    out.set(r);
    if (this.rank === 0) return;
    const c = this.coefficients;
    this.block.dots(r, c);
    for (let i = 0; i < this.rank; i++) c[i] *= this.scales[i];
    this.block.addCombination(c, out);
  }
}

/**
 * 'auto' (influence.ts DEFAULT_PRECONDITIONER) takes the Nyström sketch when the model has at least this many
 * parameters and an input of at least NYSTROM_AUTO_MIN_INPUT. The sketch's per-iteration P⁻¹ (2ℓ·d_x multiply-adds,
 * about 2.5 ms at ℓ = 400, d_x = 3 072) and its O(n·ℓ²) build are JavaScript vector work that pays only where a
 * product costs far more (bench/FINDINGS.md, "Nyström preconditioner"): dlg_lenet (15,826 θ, product 0.7 ms) 17.9 s
 * CPU against deflation's 8.3 s; ResNet-8 (78,042 θ, ~10 ms) 12.8 vs 13.1 s, a wash; ResNet-18 (11.2M θ, ~0.2–0.3 s)
 * halves the iterations (249 vs 510), and at ImageNet size (ResNet-50, 3.3 s per product) the products are all that
 * counts. Decided from the model, not from a timing, so the same analysis takes the same path (and gives the same
 * digits) however loaded the machine is.
 */
export const NYSTROM_AUTO_MIN_PARAMETERS = 1_000_000;
/**
 * Below this d_x 'auto' deflates: 40 Ritz vectors are a large share of a small input's spectrum and its products are
 * cheap (smooth_cnn, d_x 576: deflated 2.0 s CPU, Nyström 2.9 s), and the choice of the engine's dense test systems
 * (d_x ≤ 300) does not hang on the machine's load.
 */
export const NYSTROM_AUTO_MIN_INPUT = 1024;
/**
 * From this d_x 'auto' takes the sketch whatever the model's size: deflation's 40 Ritz vectors are 0.3% of a batch of
 * four 32×32 pictures' spectrum, and the small end that is left holds the solve back. Measured on the examples' LeNet
 * at batch 4 (d_x 12 288, 19,438 θ, Gaussian noise solve, undamped, mixed precision; bench/batchSolve.ts, FINDINGS.md
 * "LeNet batch 4"): deflated CG stopped at the 20 000-iteration cap at a true residual of 1.7e-6 (98 CPU s, load 3–5),
 * Nyström (ℓ = 400) converged in 10 466 iterations (101 CPU s with the sketch). Below it deflation stays the cheaper
 * one: lenet5_pool (d_x 6 144) 1 689 deflated iterations / 7.9 CPU s against Nyström's 760 / 18.6 s.
 */
export const NYSTROM_AUTO_LARGE_INPUT = 8192;

/** What 'auto' accelerates an analysis's CG solves with, for d_x = `inputSize` and d_θ = `parameterCount`. */
export function autoAcceleration(inputSize: number, parameterCount: number): 'nystrom' | 'deflation' {
  if (inputSize >= NYSTROM_AUTO_LARGE_INPUT) return 'nystrom';
  return inputSize >= NYSTROM_AUTO_MIN_INPUT && parameterCount >= NYSTROM_AUTO_MIN_PARAMETERS ? 'nystrom' : 'deflation';
}

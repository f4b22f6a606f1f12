// The randomized Nyström preconditioner of J Jᵀ (Frangella, Tropp & Udell 2023, "Randomized Nyström
// preconditioning", SIAM J. Matrix Anal. Appl. 44(2), Algorithm 2.1 with the stabilising shift of Li et al. 2017):
// ℓ products Y = A Ω with a random test matrix Ω give the rank-ℓ approximation Â = Y (Ωᵀ Y)⁺ Yᵀ ⪯ A and its
// eigen-decomposition U Λ̂ Uᵀ, from which preconditioner.ts builds P⁻¹.
//
// Why a sketch and not more Lanczos (deflation.ts): the ℓ products are independent, so a backend with block
// products (operator.ts gramBlock) runs them k at a time, where Lanczos is one product after another; and a sketch
// of float32 products serves a preconditioner as it is (P only has to be SPD), where deflation needs its vectors
// purified with float64 products and corrected every few iterations (refine.ts DEFLATED_CORRECT_EVERY).
// Measured (bench/FINDINGS.md, "Nyström preconditioner"): on dlg_lenet's exact spectrum (numpy model, float32
// products) CG to 1e-6 takes 4 870 iterations plain, 1 300 with the exact top 40 eigenvectors flattened and 880 /
// 540 with ℓ = 200 / 400 Nyström sketches.

import { gramBlock, type InversionOperator } from './operator';
import type { SolveBudget } from './budget';
import { vectorMatrix } from './blockKernels';
import { SpectralPreconditioner } from './preconditioner';
import { Random } from './random';
import { checkAborted } from './solve';
import { symmetricEigen } from './symmetricEigen';
import { cholesky } from './linalg';

export interface NystromOptions {
  /** ℓ: sketch size, i.e. products (default DEFAULT_NYSTROM_RANK; capped at n). */
  rank?: number;
  seed?: number;
  /** μ: the damping ε of the systems the preconditioner will serve (0 undamped). */
  shift?: number;
  /** Unit roundoff of the products (2⁻²⁴ for float32 kernels): eigenvalues below its reach are not flattened. */
  productRoundoff?: number;
  /** Products per block call (default: the backend's maxBlock, else 8). */
  block?: number;
  signal?: AbortSignal;
  /** When spent mid-sketch, the preconditioner is built from the columns done so far (a smaller sketch, still valid). */
  budget?: SolveBudget;
  /**
   * With a budget: the share of its time left at the start that the sketch may take. After each block call the rank
   * is cut to what fits at the product time measured so far (default: no cut; the analysis passes
   * NYSTROM_BUDGET_SHARE), so the solve keeps the rest to iterate (ResNet-50: a rank-200 sketch at 17–20 s per product
   * under load spent a whole 1 800 s budget, 0 CG iterations).
   */
  budgetShare?: number;
  onProgress?: (done: number, total: number) => void;
  /** false: the build's algebra in the JS loops (blockKernels.ts), for tests; default the SIMD kernels where they run. */
  simd?: boolean;
}

export interface NystromResult {
  preconditioner: SpectralPreconditioner;
  /** J Jᵀ v products the sketch took (= the columns sketched). */
  products: number;
  /** ν: the shift that made Ωᵀ Y numerically positive definite. */
  stabilisingShift: number;
  /** λ̂, descending: the eigenvalue estimates of every sketched direction (the kept ones are the preconditioner's). */
  eigenvalues: Float64Array;
  /** Wall seconds of the build's own algebra after the products (Ωᵀ Y, Cholesky, B = Y C⁻ᵀ, Bᵀ B, its eigensystem, U). */
  algebraSeconds: number;
}

/**
 * Default ℓ (capped at d_x/2 by the analysis). Measured on the fixtures (bench/FINDINGS.md, undamped, mixed
 * precision, tolerance 1e-6, plain for the first 100 iterations): ℓ = 200 / 400 gave dlg_lenet 2 329 / 1 539
 * iterations (deflated CG 4 109), resnet8 443 / 324 (850), lenet5_pool 1 118 / 760 (1 689): only ℓ = 400 halves
 * the deflated count on all three.
 */
export const DEFAULT_NYSTROM_RANK = 400;

/**
 * The sketch's share of a solve budget (NystromOptions.budgetShare). A model, not a measurement on ResNet-50: on
 * dlg_lenet's exact spectrum (numpy, float32 products; bench/FINDINGS.md) CG after ℓ = 100 / 200 / 400 sketches took
 * 1 250 / 880 / 540 iterations, so a budget of 1 000 products converges with ℓ = 400 (0.4: 940 in all) and not with
 * ℓ = 200 or 300 (0.2–0.3); ℓ is still at most the rank asked for.
 */
export const NYSTROM_BUDGET_SHARE = 0.4;

/**
 * Directions whose λ̂ lies below this many product roundoffs of λ̂_1 (and below √eps·λ̂_1 for exact products) are not
 * flattened: there the sketch is its products' rounding (which also has null-space content, u·λmax/λ̂_i in column
 * i, that an undamped solve must not be steered into).
 */
export const NYSTROM_KEEP_ROUNDOFFS = 100;

/** Columns of Ω drawn again at a time for Y + νΩ and Ωᵀ Y (16 · n doubles: 19 MB at n = 150 528). */
const OMEGA_BLOCK = 16;

/** Sketches A = J Jᵀ with ℓ products and returns the Nyström preconditioner of A + μI. */
export async function nystromPreconditioner(
  op: Pick<InversionOperator, 'gramVector' | 'gramVectors' | 'maxBlock'>,
  n: number,
  opts: NystromOptions = {},
): Promise<NystromResult> {
  const l = Math.max(1, Math.min(n, Math.floor(opts.rank ?? DEFAULT_NYSTROM_RANK)));
  const shift = opts.shift ?? 0;
  const block = Math.max(1, Math.floor(opts.block ?? op.maxBlock ?? 8));
  // Ω: Gaussian columns scaled to about unit length. Not orthonormalised: Â is invariant under Ω → Ω R, and for
  // ℓ ≪ n the columns are nearly orthogonal already; it saves 2nℓ² flops (ResNet-50: n = 150 528).
  const seed = opts.seed ?? 0;
  const rand = new Random(seed);
  // Y lives in the build's matrix from the start (the SIMD one: WebAssembly memory), so it is never copied whole.
  const y = vectorMatrix(l, n, { simd: opts.simd });
  const s = 1 / Math.sqrt(n);
  const draw = (r: Random, w: Float64Array) => {
    r.fillNormal(w);
    for (let j = 0; j < n; j++) w[j] *= s;
  };
  let done = 0;
  const budget = opts.budget;
  const share = budget && opts.budgetShare !== undefined && opts.budgetShare > 0 ? opts.budgetShare : undefined;
  const began = budget?.elapsedSeconds ?? 0;
  const allowance = share !== undefined ? share * budget!.remainingSeconds : Infinity;
  while (done < l) {
    checkAborted(opts.signal);
    if (budget?.exhausted && done > 0) break;
    const c = Math.min(block, l - done);
    // The next block only if the products so far say it fits the sketch's share of the budget.
    if (share !== undefined && done > 0 && ((budget!.elapsedSeconds - began) / done) * (done + c) > allowance) break;
    const vs: Float64Array[] = [];
    const outs: Float64Array[] = [];
    for (let i = 0; i < c; i++) {
      const w = new Float64Array(n);
      draw(rand, w);
      vs.push(w);
      outs.push(new Float64Array(n));
    }
    await gramBlock(op, vs, outs);
    for (const o of outs) y.append(o);
    done += c;
    opts.onProgress?.(done, l);
  }
  const k = y.rows.length;
  const algebraStart = performance.now();

  // ν = √n·eps·‖Y‖ (Frangella et al.'s shift, with ‖Y‖_F ≥ ‖Y‖₂), raised ×100 until Ωᵀ Y_ν has a Cholesky factor.
  let yy = 0;
  for (const col of y.rows) for (let j = 0; j < n; j++) yy += col[j] * col[j];
  let nu = Math.sqrt(n) * Number.EPSILON * Math.sqrt(yy);
  if (!(nu > 0)) nu = Number.MIN_VALUE; // A Ω = 0: the sketch has nothing (Cholesky fails below and nothing is kept)
  // Ω is not kept (ℓ·n doubles: 482 MB on ResNet-50 at 224×224) but drawn again from the seed, OMEGA_BLOCK columns at
  // a time, bit for bit the sketch's (the same draws in the same order): ~57 ns per entry, 3.4 s CPU per pass there.
  const redrawOmega = (visit: (block: Float64Array[], first: number) => void) => {
    const r = new Random(seed);
    const buffer = Array.from({ length: Math.min(OMEGA_BLOCK, k) }, () => new Float64Array(n));
    for (let first = 0; first < k; first += OMEGA_BLOCK) {
      const block = buffer.slice(0, Math.min(OMEGA_BLOCK, k - first));
      for (const w of block) draw(r, w);
      visit(block, first);
    }
  };
  const addOmega = (scale: number) => redrawOmega((block, first) => {
    block.forEach((w, i) => { const yi = y.rows[first + i]; for (let j = 0; j < n; j++) yi[j] += scale * w[j]; });
  });
  // Ωᵀ Y_ν, symmetrised (float32 products make Ωᵀ A Ω slightly asymmetric).
  const symmetricCross = (): Float64Array => {
    const g = new Float64Array(k * k);
    redrawOmega((block, first) => y.crossProducts(block, g, first));
    for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) g[i * k + j] = g[j * k + i] = 0.5 * (g[i * k + j] + g[j * k + i]);
    return g;
  };
  addOmega(nu);
  let chol = cholesky(symmetricCross(), k);
  for (let attempt = 0; !chol && attempt < 8; attempt++) {
    const raise = 99 * nu;
    nu += raise;
    addOmega(raise);
    chol = cholesky(symmetricCross(), k);
  }
  const algebraSeconds = () => (performance.now() - algebraStart) / 1000;
  const empty = (): NystromResult => ({
    preconditioner: new SpectralPreconditioner([], new Float64Array(0), shift), products: k, stabilisingShift: nu, eigenvalues: new Float64Array(0),
    algebraSeconds: algebraSeconds(),
  });
  if (!chol) return empty();

  // Â_ν = B Bᵀ with B = Y_ν C⁻ᵀ (C Cᵀ = Ωᵀ Y_ν), formed in place over Y; then B's SVD through the k × k Gram
  // matrix Bᵀ B = V Σ² Vᵀ, and U = B V Σ⁻¹. Forming Y_νᵀ Y_ν first instead (and C⁻¹ (Y_νᵀ Y_ν) C⁻ᵀ) squares the
  // condition of the sketch: on a rank-8 J Jᵀ with ℓ = 12 it gave three spurious eigenvalues of 1e-2…0.5·λ_8.
  y.solveLower(chol);
  const { values: sigma2, vectors: v } = symmetricEigen(y.gram(), k);
  const eigenvalues = new Float64Array(k);
  for (let i = 0; i < k; i++) eigenvalues[i] = Math.max(0, sigma2[i] - nu);
  // Below √eps·λ̂_1 even exact products leave only rounding (Bᵀ B's is eps·λ̂_1).
  const relativeFloor = Math.max(NYSTROM_KEEP_ROUNDOFFS * (opts.productRoundoff ?? 0), Math.sqrt(Number.EPSILON));
  const keepAbove = Math.max(relativeFloor * eigenvalues[0], 10 * nu);
  let kept = 0;
  while (kept < k && eigenvalues[kept] > keepAbove && sigma2[kept] > 0) kept++;
  if (kept === 0) return empty();

  // T (k × kept, row-major): column i = v_i / σ_i; U = B T in place over B's first `kept` rows.
  const t = new Float64Array(k * kept);
  for (let i = 0; i < kept; i++) {
    const inv = 1 / Math.sqrt(sigma2[i]);
    for (let j = 0; j < k; j++) t[j * kept + i] = v[i * k + j] * inv;
  }
  y.transform(t, kept);
  // U stays where the build left it: P⁻¹'s kernels run on the SIMD matrix's memory (no copy of ℓ·n doubles).
  const u = y.vectorBlock() ?? [...y.rows];
  return {
    preconditioner: new SpectralPreconditioner(u, eigenvalues.slice(0, kept), shift),
    products: k, stabilisingShift: nu, eigenvalues, algebraSeconds: algebraSeconds(),
  };
}

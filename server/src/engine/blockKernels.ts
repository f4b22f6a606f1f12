// The Nyström build's O(n·ℓ²) algebra (nystrom.ts) on ℓ vectors of length n held as the rows of a matrix: the cross
// products Ωᵀ Y with another block, the Gram matrix Bᵀ B, and the two row-wise transforms B = Y C⁻ᵀ (a triangular
// solve with the k × k Cholesky factor for every one of the n coordinates) and U = B T. WebAssembly f64x2 SIMD where
// the runtime validates it (wasmAssembly.ts; the memory also serves the preconditioner's P⁻¹ kernels of
// vectorBlocks.ts, so U is never copied), the JS loops otherwise and for the tests.
//
// Why: on ResNet-50 at 224×224 (n = 150 528, ℓ = 400) these are ≈7·10¹⁰ multiply-adds, which V8 runs scalar at
// ≈2.5 ns each whatever the loop order (a row-tiled JS rewrite was not faster): 180 s of CPU beside a 665 s sketch.
// With two f64 lanes and register tiles the same work takes ~15 s, ~4–6 G multiply-adds per CPU second
// (bench/nystromBuild.ts; bench/FINDINGS.md, "The Nyström build in WebAssembly").
//
// Layout: rows padded to a multiple of 4 (zero rows) and columns to a multiple of 8 (zero entries), so no kernel has
// a remainder loop. The kernels walk the columns in chunks of CHUNK_COLUMNS, so that a chunk of all ℓ rows (ℓ × 128
// doubles = 400 KB at ℓ = 400) stays in the 512 KB L2 cache while every tile of the product reuses it; the
// triangular solve and the transform copy each chunk into a contiguous scratch block first (rows 1 KB apart instead
// of 1.2 MB: fewer TLB misses), then write the result into the rows in place. Memory: the rows themselves and a
// scratch of ℓ × 128 doubles; Ω stays in the caller's arrays (nystrom.ts redraws it by blocks) and is copied in a
// chunk at a time.

import { vectorBlocks, vectorKernels, wasmVectorBlock, type VectorBlock, type VectorKernelExports } from './vectorBlocks';
import {
  add, assembleModule, f64Add, f64Load, f64Store, f64x2Mul, f64x2Splat, f64x2Sub, forLoop, F64, get, I32, i32, instantiate,
  lane, mul, set, V128, v128Load, v128Load64Splat, v128Store, v128Zero, f64x2Add, validates, type WasmFunction,
} from './wasmAssembly';

/** Columns per chunk of the SIMD kernels (a multiple of 8; see the header: ℓ × 128 doubles fit L2 at ℓ = 400). */
export const CHUNK_COLUMNS = 128;

/** Up to `capacity` vectors of length n as the rows of a matrix, with the Nyström build's products and transforms. */
export interface VectorMatrix {
  readonly n: number;
  /** The rows held (views of length n; for the SIMD matrix into its memory, valid as long as the matrix). */
  readonly rows: readonly Float64Array[];
  /** Appends a row (copied into the SIMD matrix's memory; the JS matrix keeps the array itself). */
  append(v: Float64Array): void;
  /**
   * Rows `first` … `first + others.length − 1` of G (k × k row-major, k = rows held): G[(first + i)·k + j] =
   * ⟨others_i, rows_j⟩. By blocks of Ω, so that Ω need not be held whole; each entry sums in the same order
   * whatever the blocks.
   */
  crossProducts(others: readonly Float64Array[], g: Float64Array, first: number): void;
  /** G (k × k row-major, symmetric): G[i·k + j] = ⟨rows_i, rows_j⟩. */
  gram(): Float64Array;
  /** rows ← C⁻¹ rows for lower-triangular C (k × k row-major): row i ← (row i − Σ_{t<i} C_it row t) / C_ii. */
  solveLower(c: Float64Array): void;
  /** rows_i ← Σ_j T[j·m + i] rows_j for i < m (T k × m row-major); the rows from m on are dropped. */
  transform(t: Float64Array, m: number): void;
  /** The rows as the P⁻¹ kernels' block in this matrix's own memory (no copy), or null where there is none (JS). */
  vectorBlock(): VectorBlock | null;
}

/**
 * A matrix for up to `capacity` rows of length n: in one WebAssembly memory when `simd` is not false and the runtime
 * validates the kernels and has the memory (wasm32: at most 4 GiB), else the JS loops over plain arrays.
 */
export function vectorMatrix(capacity: number, n: number, opts: { simd?: boolean } = {}): VectorMatrix {
  if (opts.simd !== false) {
    const wasm = WasmVectorMatrix.create(capacity, n);
    if (wasm) return wasm;
  }
  return new JsVectorMatrix(n);
}

/** Whether this runtime runs the block kernels (WebAssembly with fixed-width SIMD). */
export function blockKernelsAvailable(): boolean {
  return validates(kernelModule());
}

/** The loops the build ran before the SIMD kernels: the fallback, and the tests' reference. */
class JsVectorMatrix implements VectorMatrix {
  readonly rows: Float64Array[] = [];

  constructor(readonly n: number) {}

  append(v: Float64Array): void {
    if (v.length !== this.n) throw new RangeError(`vectorMatrix: a vector of length ${v.length}, expected ${this.n}`);
    this.rows.push(v);
  }

  crossProducts(others: readonly Float64Array[], g: Float64Array, first: number): void {
    const k = this.rows.length;
    const [block] = vectorBlocks([this.rows], this.n, { simd: false });
    const row = new Float64Array(k);
    for (let i = 0; i < others.length; i++) {
      block.dots(others[i], row);
      g.set(row, (first + i) * k);
    }
  }

  gram(): Float64Array {
    const y = this.rows, k = y.length;
    const g = new Float64Array(k * k);
    const row = new Float64Array(k);
    for (let i = 0; i < k; i++) { // the lower triangle, mirrored
      vectorBlocks([y.slice(0, i + 1)], this.n, { simd: false })[0].dots(y[i], row);
      for (let j = 0; j <= i; j++) g[i * k + j] = g[j * k + i] = row[j];
    }
    return g;
  }

  /** Coordinate by coordinate: gather the k entries, forward-substitute, scatter. */
  solveLower(c: Float64Array): void {
    const y = this.rows, k = y.length;
    const yr = new Float64Array(k);
    for (let r = 0; r < this.n; r++) {
      for (let j = 0; j < k; j++) yr[j] = y[j][r];
      for (let i = 0; i < k; i++) {
        let s = yr[i];
        for (let t = 0; t < i; t++) s -= c[i * k + t] * yr[t];
        yr[i] = s / c[i * k + i];
      }
      for (let j = 0; j < k; j++) y[j][r] = yr[j];
    }
  }

  transform(t: Float64Array, m: number): void {
    const y = this.rows, k = y.length;
    const yr = new Float64Array(k);
    const ur = new Float64Array(m);
    for (let r = 0; r < this.n; r++) {
      for (let j = 0; j < k; j++) yr[j] = y[j][r];
      ur.fill(0);
      for (let j = 0; j < k; j++) {
        const a = yr[j];
        if (a === 0) continue;
        const base = j * m;
        for (let i = 0; i < m; i++) ur[i] += a * t[base + i];
      }
      for (let i = 0; i < m; i++) y[i][r] = ur[i];
    }
    y.length = Math.min(m, k);
  }

  vectorBlock(): VectorBlock | null {
    return null;
  }
}

interface BlockKernelExports extends VectorKernelExports {
  /**
   * (x, xStride, nx, z, zStride, nz, len, out, outStride), byte offsets and strides but nx, nz:
   * out[i, j] += ⟨x_i, z_j⟩ over `len` bytes of each row, i < nx (a multiple of 4), j < nz (a multiple of 2).
   */
  gram(x: number, xStride: number, nx: number, z: number, zStride: number, nz: number, len: number, out: number, outStride: number): void;
  /** (w, count, in, inStride, out, len, scale): out ← (out − Σ_{j<count} w_j in_j) · scale over `len` bytes (a multiple of 64). */
  combineRows(w: number, count: number, input: number, inStride: number, out: number, len: number, scale: number): void;
  /** (w, wStride, count, in, inStride, out, outStride, len): out_m ← Σ_{j<count} w_{m,j} in_j for m < 4, `len` bytes (a multiple of 32). */
  transformRows(w: number, wStride: number, count: number, input: number, inStride: number, out: number, outStride: number, len: number): void;
}

const ceil = (v: number, m: number) => Math.ceil(v / m) * m;

/**
 * Memory (offsets in float64s): [rows: cap × cols][scratch: cap × CHUNK_COLUMNS][G: cap × cap][W: cap × cap]
 * [v: cols][c: cap], cap = capacity rounded up to 4, cols = n rounded up to 8. G is the products' output, W the
 * transforms' coefficients, v and c the P⁻¹ kernels' vector and coefficients (vectorBlocks.ts).
 */
class WasmVectorMatrix implements VectorMatrix {
  readonly rows: Float64Array[] = [];
  private readonly heap: Float64Array;
  private readonly cols: number;
  private readonly chunk: number;
  private readonly cap: number;
  private readonly scratchAt: number;
  private readonly gAt: number;
  private readonly wAt: number;
  private readonly vAt: number;
  private readonly cAt: number;

  static create(capacity: number, n: number): WasmVectorMatrix | null {
    const cap = ceil(Math.max(1, capacity), 4), cols = ceil(Math.max(1, n), 8);
    const chunk = Math.min(CHUNK_COLUMNS, cols);
    const floats = cap * cols + cap * chunk + 2 * cap * cap + cols + cap;
    if (floats * 8 > 2 ** 32 - 65536) return null; // wasm32 addresses at most 4 GiB (less one page for the first)
    const kernels = instantiate<BlockKernelExports>(kernelModule(), floats * 8);
    return kernels && new WasmVectorMatrix(kernels, n, cap, cols, chunk);
  }

  private constructor(private readonly kernels: BlockKernelExports, readonly n: number, cap: number, cols: number, chunk: number) {
    this.heap = new Float64Array(kernels.memory.buffer);
    this.cap = cap;
    this.cols = cols;
    this.chunk = chunk;
    this.scratchAt = cap * cols;
    this.gAt = this.scratchAt + cap * chunk;
    this.wAt = this.gAt + cap * cap;
    this.vAt = this.wAt + cap * cap;
    this.cAt = this.vAt + cols;
  }

  append(v: Float64Array): void {
    const i = this.rows.length;
    if (i >= this.cap) throw new RangeError(`vectorMatrix: more than ${this.cap} rows`);
    if (v.length !== this.n) throw new RangeError(`vectorMatrix: a vector of length ${v.length}, expected ${this.n}`);
    const at = i * this.cols;
    this.heap.set(v, at);
    this.rows.push(this.heap.subarray(at, at + this.n));
  }

  /** Each chunk of the others copied into the scratch (zero past n and past their count), then one tile pass against the rows' chunk. */
  crossProducts(others: readonly Float64Array[], g: Float64Array, first: number): void {
    const { heap, cols, chunk, cap, scratchAt, gAt, n } = this;
    const k = this.rows.length, b = others.length;
    if (first + b > k) throw new RangeError(`vectorMatrix: rows ${first}…${first + b - 1} of a ${k} × ${k} product`);
    heap.fill(0, gAt, gAt + cap * cap);
    heap.fill(0, scratchAt, scratchAt + cap * chunk);
    for (let c0 = 0; c0 < cols; c0 += chunk) {
      const len = Math.min(chunk, cols - c0), end = Math.min(c0 + len, n);
      for (let i = 0; i < b; i++) {
        const at = scratchAt + i * chunk;
        heap.set(others[i].subarray(c0, end), at);
        if (end - c0 < len) heap.fill(0, at + end - c0, at + len);
      }
      this.kernels.gram(scratchAt * 8, chunk * 8, ceil(b, 4), c0 * 8, cols * 8, ceil(k, 2), len * 8, gAt * 8, cap * 8);
    }
    for (let i = 0; i < b; i++) g.set(heap.subarray(gAt + i * cap, gAt + i * cap + k), (first + i) * k);
  }

  /** The lower triangle's tiles (x rows i…i+3 against rows 0…i+3), chunk by chunk, mirrored. */
  gram(): Float64Array {
    const { heap, cols, chunk, cap, gAt } = this;
    const k = this.rows.length;
    heap.fill(0, gAt, gAt + cap * cap);
    for (let c0 = 0; c0 < cols; c0 += chunk) {
      const len = Math.min(chunk, cols - c0);
      for (let i = 0; i < k; i += 4) {
        this.kernels.gram((i * cols + c0) * 8, cols * 8, 4, c0 * 8, cols * 8, i + 4, len * 8, (gAt + i * cap) * 8, cap * 8);
      }
    }
    const g = this.extract(k);
    for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) g[j * k + i] = g[i * k + j];
    return g;
  }

  solveLower(c: Float64Array): void {
    const k = this.rows.length, { heap, wAt } = this;
    heap.set(c.subarray(0, k * k), wAt);
    this.chunkwise(k, 1, (i, scratchRowAt, len) => {
      const s = this.scratchAt * 8;
      this.kernels.combineRows((wAt + i * k) * 8, i, s, this.chunk * 8, scratchRowAt * 8, len * 8, 1 / c[i * k + i]);
    }, true);
  }

  /** Four output rows per kernel call (each input row's chunk loaded once for four); W's rows past m are zero. */
  transform(t: Float64Array, m: number): void {
    const k = this.rows.length, { heap, wAt, cols } = this;
    m = Math.min(m, k);
    heap.fill(0, wAt, wAt + ceil(m, 4) * k);
    for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) heap[wAt + i * k + j] = t[j * m + i];
    this.chunkwise(m, 4, (i, _scratchRowAt, len, c0) => {
      this.kernels.transformRows((wAt + i * k) * 8, k * 8, k, this.scratchAt * 8, this.chunk * 8, (i * cols + c0) * 8, cols * 8, len * 8);
    }, false);
    heap.fill(0, m * cols, ceil(k, 4) * cols); // the dropped rows are zero rows to the kernels (padding)
    this.rows.length = m;
  }

  vectorBlock(): VectorBlock {
    const k = this.rows.length;
    return wasmVectorBlock(this.kernels, this.heap, { start: 0, padded: ceil(Math.max(k, 1), 4), cols: this.cols, vAt: this.vAt, cAt: this.cAt }, k, this.n);
  }

  /**
   * Chunk by chunk: the k rows' chunk copied into the scratch, `step(i, …)` for i < m by `stride`, and with
   * `copyBack` the scratch copied back into the rows (the solve works in the scratch, the transform writes the rows).
   */
  private chunkwise(m: number, stride: number, step: (i: number, scratchRowAt: number, len: number, c0: number) => void, copyBack: boolean): void {
    const { heap, cols, chunk, scratchAt } = this;
    const k = this.rows.length;
    for (let c0 = 0; c0 < cols; c0 += chunk) {
      const len = Math.min(chunk, cols - c0);
      for (let i = 0; i < k; i++) heap.copyWithin(scratchAt + i * chunk, i * cols + c0, i * cols + c0 + len);
      for (let i = 0; i < m; i += stride) step(i, scratchAt + i * chunk, len, c0);
      if (copyBack) for (let i = 0; i < k; i++) heap.copyWithin(i * cols + c0, scratchAt + i * chunk, scratchAt + i * chunk + len);
    }
  }

  private extract(k: number): Float64Array {
    const g = new Float64Array(k * k);
    for (let i = 0; i < k; i++) g.set(this.heap.subarray(this.gAt + i * this.cap, this.gAt + i * this.cap + k), i * k);
    return g;
  }
}

let assembled: Uint8Array | undefined;

/** vectorBlocks.ts's dots and combine (for P⁻¹ over U in this memory), and the two kernels below. */
function kernelModule(): Uint8Array {
  return (assembled ??= assembleModule([...vectorKernels(), gramKernel(), combineRowsKernel(), transformRowsKernel()]));
}

/**
 * out[i, j] += ⟨x_i, z_j⟩ in 4 × 2 register tiles: per column pair 6 loads and 8 f64x2 multiply-adds into 8
 * accumulators (11 live v128 values: x86-64 has 16 registers, a 4 × 4 tile would spill).
 */
function gramKernel(): WasmFunction {
  const X = 0, XS = 1, NX = 2, Z = 3, ZS = 4, NZ = 5, LEN = 6, OUT = 7, OS = 8;
  const I = 9, J = 10, CB = 11, XR = [12, 13, 14, 15], ZR = [16, 17], O = 18, ACC = 19, A = 27, T = 29; // A, A + 1: z pair
  const at = (base: number) => [...get(base), ...get(CB), ...add];
  const code = forLoop(I, NX, 4,
    [...get(X), ...get(I), ...get(XS), ...mul, ...add, ...set(XR[0])],
    [1, 2, 3].flatMap((m) => [...get(XR[m - 1]), ...get(XS), ...add, ...set(XR[m])]),
    forLoop(J, NZ, 2,
      [...get(Z), ...get(J), ...get(ZS), ...mul, ...add, ...set(ZR[0]), ...get(ZR[0]), ...get(ZS), ...add, ...set(ZR[1])],
      [0, 1, 2, 3, 4, 5, 6, 7].flatMap((a) => [...v128Zero, ...set(ACC + a)]),
      forLoop(CB, LEN, 16,
        [0, 1].flatMap((p) => [...at(ZR[p]), ...v128Load(), ...set(A + p)]),
        [0, 1, 2, 3].flatMap((m) => [
          ...at(XR[m]), ...v128Load(), ...set(T),
          ...[0, 1].flatMap((p) => [...get(ACC + 2 * m + p), ...get(T), ...get(A + p), ...f64x2Mul, ...f64x2Add, ...set(ACC + 2 * m + p)]),
        ]),
      ),
      [...get(OUT), ...get(I), ...get(OS), ...mul, ...add, ...get(J), ...i32(8), ...mul, ...add, ...set(O)],
      [0, 1, 2, 3].flatMap((m) => [
        ...[0, 1].flatMap((p) => [
          ...get(O), ...get(O), ...f64Load(8 * p),
          ...get(ACC + 2 * m + p), ...lane(0), ...f64Add, ...get(ACC + 2 * m + p), ...lane(1), ...f64Add, ...f64Store(8 * p),
        ]),
        ...get(O), ...get(OS), ...add, ...set(O),
      ]),
    ),
  );
  return { name: 'gram', params: [I32, I32, I32, I32, I32, I32, I32, I32, I32], locals: [[10, I32], [11, V128]], code };
}

/**
 * out ← (out − Σ_j w_j in_j) · scale, 8 columns (4 f64x2 accumulators) at a time over all `count` input rows: per
 * input row one splat load of w_j and 4 loads: the triangular solve's step (w = C's row i, out = row i, scale
 * 1/C_ii), whose row i needs the rows above it finished (the transform, without that dependency, runs four output
 * rows at a time: transformRowsKernel).
 */
function combineRowsKernel(): WasmFunction {
  const W = 0, COUNT = 1, IN = 2, IS = 3, OUT = 4, LEN = 5, SCALE = 6;
  const CB = 7, J = 8, ROW = 9, WJ = 10, O = 11, ACC = 12, S = 16, SC = 17;
  const code = [
    ...get(SCALE), ...f64x2Splat, ...set(SC),
    ...forLoop(CB, LEN, 64,
      [...get(OUT), ...get(CB), ...add, ...set(O)],
      [0, 1, 2, 3].flatMap((m) => [...get(O), ...v128Load(16 * m), ...set(ACC + m)]),
      [...get(IN), ...get(CB), ...add, ...set(ROW), ...get(W), ...set(WJ)],
      forLoop(J, COUNT, 1,
        [...get(WJ), ...v128Load64Splat(), ...set(S)],
        [0, 1, 2, 3].flatMap((m) => [...get(ACC + m), ...get(S), ...get(ROW), ...v128Load(16 * m), ...f64x2Mul, ...f64x2Sub, ...set(ACC + m)]),
        [...get(ROW), ...get(IS), ...add, ...set(ROW), ...get(WJ), ...i32(8), ...add, ...set(WJ)],
      ),
      [0, 1, 2, 3].flatMap((m) => [...get(O), ...get(ACC + m), ...get(SC), ...f64x2Mul, ...v128Store(16 * m)]),
    ),
  ];
  return { name: 'combineRows', params: [I32, I32, I32, I32, I32, I32, F64], locals: [[5, I32], [6, V128]], code };
}

/**
 * out_m ← Σ_j w_{m,j} in_j for four output rows at once, 4 columns (2 f64x2) each: per input row 2 loads and 4
 * splat loads for 8 f64x2 multiply-adds, and each input row's chunk read once for the four (the one-row
 * combination read it once per output row).
 */
function transformRowsKernel(): WasmFunction {
  const W = 0, WS = 1, COUNT = 2, IN = 3, IS = 4, OUT = 5, OS = 6, LEN = 7;
  const CB = 8, J = 9, ROW = 10, J8 = 11, WR = [12, 13, 14, 15], O = 16, ACC = 17, A = 25, S = 27; // A, A + 1: the input pair
  const rows = [0, 1, 2, 3];
  const code = [
    ...get(W), ...set(WR[0]),
    ...[1, 2, 3].flatMap((m) => [...get(WR[m - 1]), ...get(WS), ...add, ...set(WR[m])]),
    ...forLoop(CB, LEN, 32,
      [0, 1, 2, 3, 4, 5, 6, 7].flatMap((a) => [...v128Zero, ...set(ACC + a)]),
      [...get(IN), ...get(CB), ...add, ...set(ROW), ...i32(0), ...set(J8)],
      forLoop(J, COUNT, 1,
        [...get(ROW), ...v128Load(), ...set(A), ...get(ROW), ...v128Load(16), ...set(A + 1)],
        rows.flatMap((m) => [
          ...get(WR[m]), ...get(J8), ...add, ...v128Load64Splat(), ...set(S),
          ...[0, 1].flatMap((p) => [...get(ACC + 2 * m + p), ...get(S), ...get(A + p), ...f64x2Mul, ...f64x2Add, ...set(ACC + 2 * m + p)]),
        ]),
        [...get(ROW), ...get(IS), ...add, ...set(ROW), ...get(J8), ...i32(8), ...add, ...set(J8)],
      ),
      [...get(OUT), ...get(CB), ...add, ...set(O)],
      rows.flatMap((m) => [
        ...get(O), ...get(ACC + 2 * m), ...v128Store(),
        ...get(O), ...get(ACC + 2 * m + 1), ...v128Store(16),
        ...get(O), ...get(OS), ...add, ...set(O),
      ]),
    ),
  ];
  return { name: 'transformRows', params: [I32, I32, I32, I32, I32, I32, I32, I32], locals: [[9, I32], [11, V128]], code };
}

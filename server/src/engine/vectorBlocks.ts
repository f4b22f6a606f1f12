// Blocks of k vectors of length n and the two kernels deflated CG runs on them every iteration (deflation.ts):
// c_i ← ⟨x_i, r⟩ for all i, and p ← p + Σ c_i x_i. WebAssembly f64x2 SIMD where the runtime has it, plain JS otherwise.
//
// Why WebAssembly: the projection is 2k·d_x multiply-adds per iteration beside one J Jᵀ product, and V8 runs the JS
// loops scalar at ~1 ns each however they are unrolled (measured, d_x 3 072, k 40, load 9–13 on 2 cores: 4-row
// dots 143 µs CPU, 8-row 134, 8-row with 2 columns per step 128; Float32 storage 243 vs 244 µs for dots and combine:
// not memory-bound). With f64x2 lanes 4 rows at a time the same dots take 28 µs and the combine 37 µs. On dlg_lenet
// the JS kernels were ~0.33 ms of a 1.23 ms CPU iteration (bench/FINDINGS.md, "CG-loop overhead").
//
// The module is assembled from its instructions (wasmAssembly.ts; no build step, no binary blob): two functions over
// row-major blocks in its own memory (or in blockKernels.ts's, which includes them), rows padded to a multiple of 4
// (zero rows) and columns to a multiple of 2 (zero entries), so neither kernel has a remainder loop. Sums run in two
// lanes, so results differ from the JS kernels' by rounding.

import { axpy, dot } from './linalg';
import {
  add, assembleModule, block, br, brIf, f64Add, f64Load, f64Store, f64x2Add, f64x2Mul, f64x2Splat, forLoop, geU, get, I32, i32,
  instantiate, lane, loop, mul, set, V128, v128Load, v128Store, v128Zero, validates, type WasmFunction, type WasmMemory,
} from './wasmAssembly';

/** k vectors of length n (the rows) with the two kernels; `rows[i]` are the vectors (views into the block's storage). */
export interface VectorBlock {
  readonly rows: readonly Float64Array[];
  /** c[i] ← ⟨rows[i], r⟩. */
  dots(r: Float64Array, c: Float64Array): void;
  /** p ← p + Σ c[i] rows[i]. */
  addCombination(c: Float64Array, p: Float64Array): void;
}

/**
 * Blocks over the given vectors (each block's vectors of one length n), in one WebAssembly memory when `simd` is not
 * false and the runtime validates the module, else as the JS kernels over the arrays themselves. The SIMD blocks copy
 * the vectors into their memory once and their `rows` are views of it (no second copy is kept).
 */
export function vectorBlocks(blocks: readonly (readonly Float64Array[])[], n: number, opts: { simd?: boolean } = {}): VectorBlock[] {
  if (opts.simd !== false) {
    const wasm = simdBlocks(blocks, n);
    if (wasm) return wasm;
  }
  return blocks.map((rows) => new JsVectorBlock(rows));
}

/** Whether this runtime runs the SIMD kernels (WebAssembly with fixed-width SIMD). */
export function simdAvailable(): boolean {
  return validates(kernelModule());
}

class JsVectorBlock implements VectorBlock {
  constructor(readonly rows: readonly Float64Array[]) {}

  /** Four rows per pass over r (one vector at a time measured 0.23 ms for k 40, d_x 3 072; this 0.14). */
  dots(r: Float64Array, c: Float64Array): void {
    const x = this.rows, k = x.length, n = r.length;
    let i = 0;
    for (; i + 3 < k; i += 4) {
      const x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let j = 0; j < n; j++) {
        const v = r[j];
        s0 += x0[j] * v;
        s1 += x1[j] * v;
        s2 += x2[j] * v;
        s3 += x3[j] * v;
      }
      c[i] = s0; c[i + 1] = s1; c[i + 2] = s2; c[i + 3] = s3;
    }
    for (; i < k; i++) c[i] = dot(x[i], r);
  }

  addCombination(c: Float64Array, p: Float64Array): void {
    const x = this.rows, k = x.length, n = p.length;
    let i = 0;
    for (; i + 3 < k; i += 4) {
      const x0 = x[i], x1 = x[i + 1], x2 = x[i + 2], x3 = x[i + 3];
      const c0 = c[i], c1 = c[i + 1], c2 = c[i + 2], c3 = c[i + 3];
      for (let j = 0; j < n; j++) p[j] += c0 * x0[j] + c1 * x1[j] + c2 * x2[j] + c3 * x3[j];
    }
    for (; i < k; i++) axpy(c[i], x[i], p);
  }
}

/** The two kernels' exports, in any module that includes `vectorKernels()`. */
export interface VectorKernelExports {
  memory: WasmMemory;
  /** (x, rows, rowBytes, v, c): c[i] ← ⟨x_i, v⟩, byte offsets; rows a multiple of 4, rowBytes of 16. */
  dots(x: number, rows: number, rowBytes: number, v: number, c: number): void;
  /** (x, rows, rowBytes, v, c): v ← v + Σ c[i] x_i. */
  combine(x: number, rows: number, rowBytes: number, v: number, c: number): void;
}

/** Where a block lives in a kernel memory (offsets in float64s): `padded` rows of `cols` from `start`, v and c scratch. */
export interface BlockLayout {
  start: number;
  /** The block's rows, a multiple of 4 ≥ the vectors; the rows past the vectors are zero. */
  padded: number;
  /** Row stride: n rounded up to a multiple of 2, the padding columns zero. */
  cols: number;
  /** One padded vector (`cols` floats) and one padded coefficient set (`padded` floats), shared by the blocks. */
  vAt: number;
  cAt: number;
}

/**
 * The VectorBlock of the first `k` rows at `layout` in a kernel memory (the rows must already be there, and the rows
 * from k to layout.padded zero). `heap` is a view of the whole memory, made after its last growth.
 */
export function wasmVectorBlock(kernels: VectorKernelExports, heap: Float64Array, layout: BlockLayout, k: number, n: number): VectorBlock {
  const { start, padded, cols, vAt, cAt } = layout;
  const rowBytes = cols * 8;
  const v = heap.subarray(vAt, vAt + cols);
  const c = heap.subarray(cAt, cAt + padded);
  return {
    rows: Array.from({ length: k }, (_, i) => heap.subarray(start + i * cols, start + i * cols + n)),
    dots(r: Float64Array, out: Float64Array): void {
      v.set(r); // the padding column stays 0
      kernels.dots(start * 8, padded, rowBytes, vAt * 8, cAt * 8);
      for (let i = 0; i < k; i++) out[i] = c[i];
    },
    addCombination(coefficients: Float64Array, p: Float64Array): void {
      for (let i = 0; i < k; i++) c[i] = coefficients[i];
      for (let i = k; i < padded; i++) c[i] = 0; // zero rows × 0, never a stale NaN × 0
      v.set(p);
      kernels.combine(start * 8, padded, rowBytes, vAt * 8, cAt * 8);
      p.set(v.subarray(0, n));
    },
  };
}

/** One shared memory for all blocks: [block 0][block 1]…[v: one padded vector][c: one padded coefficient set]. */
function simdBlocks(blocks: readonly (readonly Float64Array[])[], n: number): VectorBlock[] | null {
  const cols = n + (n & 1);
  const padded = blocks.map((b) => Math.ceil(b.length / 4) * 4);
  const maxRows = Math.max(4, ...padded);
  const floats = padded.reduce((a, k) => a + k * cols, 0) + cols + maxRows;
  // No memory that large (wasm32: 4 GiB) or no SIMD: the JS kernels work on the arrays themselves.
  const kernels = instantiate<VectorKernelExports>(kernelModule(), floats * 8);
  if (!kernels) return null;
  const heap = new Float64Array(kernels.memory.buffer);
  let offset = 0;
  const starts = padded.map((k) => { const s = offset; offset += k * cols; return s; });
  const vAt = offset, cAt = offset + cols;
  return blocks.map((rows, b) => {
    rows.forEach((row, i) => {
      if (row.length !== n) throw new RangeError(`vectorBlocks: a vector of length ${row.length}, expected ${n}`);
      heap.set(row, starts[b] + i * cols);
    });
    return wasmVectorBlock(kernels, heap, { start: starts[b], padded: padded[b], cols, vAt, cAt }, rows.length, n);
  });
}

let assembled: Uint8Array | undefined;

/** The WebAssembly module of the two kernels, assembled once. */
function kernelModule(): Uint8Array {
  return (assembled ??= assembleModule(vectorKernels()));
}

/**
 * The functions `dots` and `combine` (type (i32 ×5) → ()), for any module that needs them over its own memory.
 * Parameters (byte offsets but `rows`): 0 x, 1 rows, 2 rowBytes, 3 v, 4 c. Locals: 5 i (row), 6 jb (column byte),
 * 7/13/14/15 the four rows' addresses, 8–11 four f64x2 accumulators (dots) or splat coefficients (combine), 12 v's pair.
 */
export function vectorKernels(): WasmFunction[] {
  const X = 0, ROWS = 1, RB = 2, V = 3, C = 4, I = 5, JB = 6, ACC = 8, T = 12;
  const ROW = [7, 13, 14, 15];
  const rowAddresses = [
    get(X), get(I), get(RB), mul, add, set(ROW[0]),
    get(ROW[0]), get(RB), add, set(ROW[1]),
    get(ROW[1]), get(RB), add, set(ROW[2]),
    get(ROW[2]), get(RB), add, set(ROW[3]),
  ].flat();
  const at = (base: number) => [...get(base), ...get(JB), ...add];
  const coefficients = [...get(C), ...get(I), ...i32(8), ...mul, ...add]; // &c[i]
  const overColumns = (...body: number[][]) => forLoop(JB, RB, 16, ...body);
  const overRowQuads = (...body: number[][]) => block(loop(get(I), get(ROWS), geU, brIf(1), rowAddresses, ...body, get(I), i32(4), add, set(I), br(0)));

  const dots = overRowQuads(
    [0, 1, 2, 3].flatMap((m) => [...v128Zero, ...set(ACC + m)]),
    overColumns(
      at(V), v128Load(), set(T),
      [0, 1, 2, 3].flatMap((m) => [...get(ACC + m), ...at(ROW[m]), ...v128Load(), ...get(T), ...f64x2Mul, ...f64x2Add, ...set(ACC + m)]),
    ),
    [0, 1, 2, 3].flatMap((m) => [...coefficients, ...get(ACC + m), ...lane(0), ...get(ACC + m), ...lane(1), ...f64Add, ...f64Store(8 * m)]),
  );
  const combine = overRowQuads(
    [0, 1, 2, 3].flatMap((m) => [...coefficients, ...f64Load(8 * m), ...f64x2Splat, ...set(ACC + m)]),
    overColumns(
      at(V), at(V), v128Load(),
      [0, 1, 2, 3].flatMap((m) => [...get(ACC + m), ...at(ROW[m]), ...v128Load(), ...f64x2Mul, ...f64x2Add]),
      v128Store(),
    ),
  );
  const params = [I32, I32, I32, I32, I32];
  const locals: [number, number][] = [[3, I32], [5, V128], [3, I32]]; // 5–7 i32, 8–12 v128, 13–15 i32
  return [{ name: 'dots', params, locals, code: dots }, { name: 'combine', params, locals, code: combine }];
}

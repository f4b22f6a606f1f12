// Blocks of k vectors of length n and the two kernels deflated CG runs on them every iteration (deflation.ts):
// c_i ← ⟨x_i, r⟩ for all i, and p ← p + Σ c_i x_i. WebAssembly f64x2 SIMD where the runtime has it, plain JS otherwise.
//
// Why WebAssembly: the projection is 2k·d_x multiply-adds per iteration beside one J Jᵀ product, and V8 runs the JS
// loops scalar at ~1 ns each however they are unrolled (measured, d_x 3 072, k 40, load 9–13 on 2 cores: 4-row
// dots 143 µs CPU, 8-row 134, 8-row with 2 columns per step 128; Float32 storage 243 vs 244 µs for dots and combine:
// not memory-bound). With f64x2 lanes 4 rows at a time the same dots take 28 µs and the combine 37 µs. On dlg_lenet
// the JS kernels were ~0.33 ms of a 1.23 ms CPU iteration (bench/FINDINGS.md, "CG-loop overhead").
//
// The module is assembled here from its instructions (no build step, no binary blob): two functions over row-major
// blocks in its own memory, rows padded to a multiple of 4 (zero rows) and columns to a multiple of 2 (zero entries),
// so neither kernel has a remainder loop. Sums run in two lanes, so results differ from the JS kernels' by rounding.

import { axpy, dot } from './linalg';

/** The part of the WebAssembly JS API used here (the project's TypeScript libs declare none of it). */
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

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
  return typeof WebAssembly === 'object' && WebAssembly.validate(kernelModule());
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

interface KernelExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  /** (x, rows, rowBytes, v, c): c[i] ← ⟨x_i, v⟩, byte offsets; rows a multiple of 4, rowBytes of 16. */
  dots(x: number, rows: number, rowBytes: number, v: number, c: number): void;
  /** (x, rows, rowBytes, v, c): v ← v + Σ c[i] x_i. */
  combine(x: number, rows: number, rowBytes: number, v: number, c: number): void;
}

/** One shared memory for all blocks: [block 0][block 1]…[v: one padded vector][c: one padded coefficient set]. */
function simdBlocks(blocks: readonly (readonly Float64Array[])[], n: number): VectorBlock[] | null {
  if (!simdAvailable()) return null;
  const cols = n + (n & 1);
  const rowBytes = cols * 8;
  const padded = blocks.map((b) => Math.ceil(b.length / 4) * 4);
  const maxRows = Math.max(4, ...padded);
  const floats = padded.reduce((a, k) => a + k * cols, 0) + cols + maxRows;
  let kernels: KernelExports;
  try {
    kernels = new WebAssembly.Instance(new WebAssembly.Module(kernelModule()), {}).exports as unknown as KernelExports;
    const pages = Math.ceil((floats * 8) / 65536);
    kernels.memory.grow(pages); // one growth, before any view is made (growing detaches views)
  } catch {
    return null; // no memory that large (wasm32: 4 GiB): the JS kernels work on the arrays themselves
  }
  const heap = new Float64Array(kernels.memory.buffer);
  let offset = 0;
  const starts = padded.map((k) => { const s = offset; offset += k * cols; return s; });
  const vAt = offset, cAt = offset + cols;
  const v = heap.subarray(vAt, vAt + cols);
  const c = heap.subarray(cAt, cAt + maxRows);
  return blocks.map((rows, b) => {
    const views = rows.map((row, i) => {
      if (row.length !== n) throw new RangeError(`vectorBlocks: a vector of length ${row.length}, expected ${n}`);
      const view = heap.subarray(starts[b] + i * cols, starts[b] + i * cols + n);
      view.set(row);
      return view;
    });
    const k = rows.length;
    return {
      rows: views,
      dots(r: Float64Array, out: Float64Array): void {
        v.set(r); // the padding column stays 0
        kernels.dots(starts[b] * 8, padded[b], rowBytes, vAt * 8, cAt * 8);
        for (let i = 0; i < k; i++) out[i] = c[i];
      },
      addCombination(coefficients: Float64Array, p: Float64Array): void {
        for (let i = 0; i < k; i++) c[i] = coefficients[i];
        for (let i = k; i < padded[b]; i++) c[i] = 0; // zero rows × 0, never a stale NaN × 0
        v.set(p);
        kernels.combine(starts[b] * 8, padded[b], rowBytes, vAt * 8, cAt * 8);
        p.set(v.subarray(0, n));
      },
    };
  });
}

let assembled: Uint8Array | undefined;

/** The WebAssembly module (binary format, core spec 1.0 + fixed-width SIMD), assembled once. */
function kernelModule(): Uint8Array {
  return (assembled ??= assemble());
}

function assemble(): Uint8Array {
  const uleb = (v: number): number[] => { const o: number[] = []; do { let b = v & 0x7f; v >>>= 7; if (v) b |= 0x80; o.push(b); } while (v); return o; };
  const sleb = (v: number): number[] => {
    const o: number[] = [];
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) { o.push(b); return o; }
      o.push(b | 0x80);
    }
  };
  const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
  const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
  const name = (s: string) => vec([...s].map((ch) => [ch.charCodeAt(0)]));
  const I32 = 0x7f, V128 = 0x7b;
  const get = (i: number) => [0x20, ...uleb(i)], set = (i: number) => [0x21, ...uleb(i)];
  const i32 = (v: number) => [0x41, ...sleb(v)];
  const add = [0x6a], mul = [0x6c], geU = [0x4f];
  const v128Load = [0xfd, 0x00, 4, 0], v128Store = [0xfd, 0x0b, 4, 0]; // memarg: align 2⁴, offset 0
  const f64x2Add = [0xfd, 0xf0, 0x01], f64x2Mul = [0xfd, 0xf2, 0x01], f64x2Splat = [0xfd, 0x14];
  const lane = (l: number) => [0xfd, 0x21, l]; // f64x2.extract_lane
  const f64Load = (off: number) => [0x2b, 3, ...uleb(off)], f64Store = (off: number) => [0x39, 3, ...uleb(off)];
  const f64Add = [0xa0];
  const v128Zero = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const block = (...body: number[][]) => [0x02, 0x40, ...body.flat(), 0x0b];
  const loop = (...body: number[][]) => [0x03, 0x40, ...body.flat(), 0x0b];
  const br = (d: number) => [0x0c, d], brIf = (d: number) => [0x0d, d];

  // Parameters (byte offsets but `rows`): 0 x, 1 rows, 2 rowBytes, 3 v, 4 c. Locals: 5 i (row), 6 jb (column byte),
  // 7/13/14/15 the four rows' addresses, 8–11 four f64x2 accumulators (dots) or splat coefficients (combine), 12 v's pair.
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
  const overColumns = (...body: number[][]) => [...i32(0), ...set(JB), ...block(loop(get(JB), get(RB), geU, brIf(1), ...body, get(JB), i32(16), add, set(JB), br(0)))];
  const overRowQuads = (...body: number[][]) => block(loop(get(I), get(ROWS), geU, brIf(1), rowAddresses, ...body, get(I), i32(4), add, set(I), br(0)));

  const dots = overRowQuads(
    [0, 1, 2, 3].flatMap((m) => [...v128Zero, ...set(ACC + m)]),
    overColumns(
      at(V), v128Load, set(T),
      [0, 1, 2, 3].flatMap((m) => [...get(ACC + m), ...at(ROW[m]), ...v128Load, ...get(T), ...f64x2Mul, ...f64x2Add, ...set(ACC + m)]),
    ),
    [0, 1, 2, 3].flatMap((m) => [...coefficients, ...get(ACC + m), ...lane(0), ...get(ACC + m), ...lane(1), ...f64Add, ...f64Store(8 * m)]),
  );
  const combine = overRowQuads(
    [0, 1, 2, 3].flatMap((m) => [...coefficients, ...f64Load(8 * m), ...f64x2Splat, ...set(ACC + m)]),
    overColumns(
      at(V), at(V), v128Load,
      [0, 1, 2, 3].flatMap((m) => [...get(ACC + m), ...at(ROW[m]), ...v128Load, ...f64x2Mul, ...f64x2Add]),
      v128Store,
    ),
  );
  const locals = vec([[...uleb(3), I32], [...uleb(5), V128], [...uleb(3), I32]]); // 5–7 i32, 8–12 v128, 13–15 i32
  const body = (code: number[]) => { const b = [...locals, ...code, 0x0b]; return [...uleb(b.length), ...b]; };
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32]]), 0x00]])), // type 0: (i32 ×5) → ()
    ...section(3, vec([[0], [0]])), // two functions of type 0
    ...section(5, vec([[0x00, 1]])), // one memory, at least 1 page
    ...section(7, vec([[...name('memory'), 0x02, 0], [...name('dots'), 0x00, 0], [...name('combine'), 0x00, 1]])),
    ...section(10, vec([body(dots), body(combine)])),
  ]);
}

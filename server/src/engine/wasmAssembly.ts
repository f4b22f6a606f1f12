// WebAssembly modules assembled in TypeScript from their instructions (binary format, core spec 1.0 + fixed-width
// SIMD): the encodings, the instructions the engine's kernels use, and the module around a list of functions. Shared
// by vectorBlocks.ts (deflated CG's and P⁻¹'s dots and combinations) and blockKernels.ts (the Nyström build's
// products of blocks), so that there is no build step and no binary blob, and each kernel file holds only its loops.

/** The part of the WebAssembly JS API used here (the project's TypeScript libs declare none of it). */
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

/** Value types. */
export const I32 = 0x7f, F64 = 0x7c, V128 = 0x7b;

export function uleb(v: number): number[] {
  const o: number[] = [];
  do { let b = v & 0x7f; v >>>= 7; if (v) b |= 0x80; o.push(b); } while (v);
  return o;
}

export function sleb(v: number): number[] {
  const o: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) { o.push(b); return o; }
    o.push(b | 0x80);
  }
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const name = (s: string) => vec([...s].map((ch) => [ch.charCodeAt(0)]));

// Instructions. Memory arguments are (alignment exponent, static byte offset); alignment is a hint only.
export const get = (i: number) => [0x20, ...uleb(i)], set = (i: number) => [0x21, ...uleb(i)];
export const i32 = (v: number) => [0x41, ...sleb(v)];
export const add = [0x6a], sub = [0x6b], mul = [0x6c], geU = [0x4f];
export const v128Load = (offset = 0) => [0xfd, 0x00, 4, ...uleb(offset)];
export const v128Store = (offset = 0) => [0xfd, 0x0b, 4, ...uleb(offset)];
/** v128.load64_splat: one f64 from memory into both lanes. */
export const v128Load64Splat = (offset = 0) => [0xfd, 0x0a, 3, ...uleb(offset)];
export const f64x2Add = [0xfd, 0xf0, 0x01], f64x2Sub = [0xfd, 0xf1, 0x01], f64x2Mul = [0xfd, 0xf2, 0x01], f64x2Splat = [0xfd, 0x14];
export const lane = (l: number) => [0xfd, 0x21, l]; // f64x2.extract_lane
export const f64Load = (offset: number) => [0x2b, 3, ...uleb(offset)], f64Store = (offset: number) => [0x39, 3, ...uleb(offset)];
export const f64Add = [0xa0];
export const v128Zero = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
export const block = (...body: number[][]) => [0x02, 0x40, ...body.flat(), 0x0b];
export const loop = (...body: number[][]) => [0x03, 0x40, ...body.flat(), 0x0b];
export const br = (d: number) => [0x0c, d], brIf = (d: number) => [0x0d, d];

/**
 * `for (counter = 0; counter < limit; counter += step) body`, counter and limit locals (the limit read each pass).
 * The body may not branch out of the loop.
 */
export function forLoop(counter: number, limit: number, step: number, ...body: number[][]): number[] {
  return [...i32(0), ...set(counter), ...block(loop(get(counter), get(limit), geU, brIf(1), ...body, get(counter), i32(step), add, set(counter), br(0)))];
}

/** One exported function: its parameter types, its locals (as runs of one type, after the parameters) and its code. */
export interface WasmFunction {
  name: string;
  params: number[];
  locals: [count: number, type: number][];
  code: number[];
}

/** The module of the given functions (no results) with one exported memory "memory" of at least one page. */
export function assembleModule(functions: readonly WasmFunction[]): Uint8Array {
  const types = functions.map((f) => [0x60, ...vec(f.params.map((t) => [t])), 0x00]);
  const body = (f: WasmFunction) => {
    const b = [...vec(f.locals.map(([count, type]) => [...uleb(count), type])), ...f.code, 0x0b];
    return [...uleb(b.length), ...b];
  };
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // \0asm, version 1
    ...section(1, vec(types)), // type i: function i's signature
    ...section(3, vec(functions.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, 1]])), // one memory, at least 1 page
    ...section(7, vec([[...name('memory'), 0x02, 0], ...functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)])])),
    ...section(10, vec(functions.map(body))),
  ]);
}

/** Whether this runtime validates the module (WebAssembly with fixed-width SIMD). */
export function validates(bytes: Uint8Array): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
}

/** The memory every assembled module exports. */
export interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}

/**
 * A fresh instance with its memory grown once to hold `bytes` (before any view is made: growing detaches views),
 * or null when the runtime has no memory that large (wasm32: at most 4 GiB) or does not validate the module.
 */
export function instantiate<T extends { memory: WasmMemory }>(bytes: Uint8Array, memoryBytes: number): T | null {
  if (!validates(bytes)) return null;
  try {
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as T;
    const pages = Math.ceil(memoryBytes / 65536);
    if (pages > 0) exports.memory.grow(pages);
    return exports;
  } catch {
    return null;
  }
}

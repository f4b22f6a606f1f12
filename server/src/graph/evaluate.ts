// A small CPU evaluator for the constant sub-graphs exporters write (shape chains, scalar arithmetic, masks),
// plus the index helpers (broadcasting, slicing) that shape inference shares with it.

import type { DType, Node, Tensor } from './ir';
import { sizeOf } from './ir';
import { attrFloat, attrInt, attrInts, attrString } from './attributes';
import { halfToNumber } from './tensorBytes';

/** ONNX TensorProto.DataType codes for the element types the IR has. */
const ONNX_DTYPES: Record<number, DType> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
};

/** The IR element type of an ONNX data type code (Cast's `to`), or undefined for types we do not model. */
export function dtypeFromOnnx(code: number): DType | undefined {
  return ONNX_DTYPES[code];
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16';
}

/** A tensor's elements as JS numbers (int64 shape values always fit: they are sizes and indices). */
export function tensorToNumbers(t: Tensor): number[] {
  const d = t.data;
  if (d instanceof BigInt64Array) return Array.from(d, (v) => Number(v));
  if (t.dtype === 'float16') return Array.from(d as Uint16Array, halfToNumber);
  return Array.from(d as ArrayLike<number>);
}

/** Builds a tensor from numbers, rounding to the element type; undefined for float16 (we never produce it). */
export function numbersToTensor(dtype: DType, dims: number[], values: number[]): Tensor | undefined {
  switch (dtype) {
    case 'float32':
      return { dtype, dims, data: Float32Array.from(values) };
    case 'float64':
      return { dtype, dims, data: Float64Array.from(values) };
    case 'int32':
      return { dtype, dims, data: Int32Array.from(values, (v) => Math.trunc(v)) };
    case 'int64':
      return { dtype, dims, data: BigInt64Array.from(values, (v) => BigInt(Math.trunc(clampInt64(v)))) };
    case 'int8':
      return { dtype, dims, data: Int8Array.from(values, (v) => Math.trunc(v)) };
    case 'uint8':
      return { dtype, dims, data: Uint8Array.from(values, (v) => Math.trunc(v)) };
    case 'bool':
      return { dtype, dims, data: Uint8Array.from(values, (v) => (v ? 1 : 0)) };
    default:
      return undefined;
  }
}

// Slice ends are often INT64_MAX; as numbers they round to 2^63, which BigInt() would overflow on the way back.
function clampInt64(v: number): number {
  if (!Number.isFinite(v)) return v > 0 ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  return Math.max(-(2 ** 63), Math.min(2 ** 63 - 1024, v));
}

/** numpy broadcasting of several shapes; undefined when two sizes differ and neither is 1. */
export function broadcastDims(shapes: readonly (readonly number[])[]): number[] | undefined {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const s of shapes) {
      const k = s.length - rank + i;
      const v = k < 0 ? 1 : s[k];
      if (v === 1) continue;
      if (d === 1) d = v;
      else if (d !== v) return undefined;
    }
    out.push(d);
  }
  return out;
}

/** Row-major strides; broadcast dimensions of size 1 get stride 0 when `forDims` is longer or larger. */
function broadcastStrides(dims: readonly number[], outDims: readonly number[]): number[] {
  const strides = new Array<number>(outDims.length).fill(0);
  let s = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    const k = outDims.length - dims.length + i;
    strides[k] = dims[i] === 1 && outDims[k] !== 1 ? 0 : s;
    s *= dims[i];
  }
  return strides;
}

/** Visits every multi-index of `dims` in row-major order. */
function forEachIndex(dims: readonly number[], visit: (idx: number[], flat: number) => void): void {
  const n = sizeOf(dims);
  const idx = new Array<number>(dims.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    visit(idx, flat);
    for (let k = dims.length - 1; k >= 0; k--) {
      if (++idx[k] < dims[k]) break;
      idx[k] = 0;
    }
  }
}

/** Normalises a possibly negative axis into [0, rank); undefined when out of range. */
export function normAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}

export interface SliceAxis {
  axis: number;
  start: number;
  step: number;
  length: number;
}

/**
 * ONNX Slice semantics per axis: negative starts/ends count from the end, then clamp to [0, d] (step > 0) or
 * [-1, d-1] (step < 0), and the length is ceil((end - start) / step) but at least 0. Returns a message on a bad axis
 * or a zero step.
 */
export function sliceAxes(
  dims: readonly number[],
  starts: number[],
  ends: number[],
  axes: number[] | undefined,
  steps: number[] | undefined,
): SliceAxis[] | string {
  if (starts.length !== ends.length) return `starts has ${starts.length} entries but ends has ${ends.length}`;
  const result: SliceAxis[] = [];
  const seen = new Set<number>();
  for (let j = 0; j < starts.length; j++) {
    const axis = normAxis(axes ? axes[j] : j, dims.length);
    if (axis === undefined) return `axis ${axes ? axes[j] : j} is out of range for rank ${dims.length}`;
    if (seen.has(axis)) return `axis ${axis} is sliced twice`;
    seen.add(axis);
    const step = steps ? steps[j] : 1;
    if (step === 0) return 'a step is 0';
    const d = dims[axis];
    let s = starts[j] < 0 ? starts[j] + d : starts[j];
    let e = ends[j] < 0 ? ends[j] + d : ends[j];
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    result.push({ axis, start: s, step, length: Math.max(0, Math.ceil((e - s) / step)) });
  }
  return result;
}

// Ops whose values evaluate here; everything else stays a node.
const ELEMENTWISE: Record<string, (...x: number[]) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
  Pow: (a, b) => a ** b,
  Max: (...x) => Math.max(...x),
  Min: (...x) => Math.min(...x),
  Sum: (...x) => x.reduce((p, q) => p + q, 0),
  Equal: (a, b) => +(a === b),
  Less: (a, b) => +(a < b),
  Greater: (a, b) => +(a > b),
  LessOrEqual: (a, b) => +(a <= b),
  GreaterOrEqual: (a, b) => +(a >= b),
  And: (a, b) => +(!!a && !!b),
  Or: (a, b) => +(!!a || !!b),
  Where: (c, a, b) => (c ? a : b),
  Neg: (a) => -a,
  Sqrt: Math.sqrt,
  Abs: Math.abs,
  Reciprocal: (a) => 1 / a,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Exp: Math.exp,
  Log: Math.log,
  Not: (a) => +!a,
  Sign: Math.sign,
  Relu: (a) => Math.max(a, 0),
};

const RESHAPING = new Set(['Identity', 'Dropout', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

export const EVALUABLE_OPS: ReadonlySet<string> = new Set([
  ...Object.keys(ELEMENTWISE),
  ...RESHAPING,
  'Constant',
  'Shape',
  'Size',
  'Cast',
  'Gather',
  'Concat',
  'Slice',
  'Transpose',
  'Expand',
  'Tile',
  'Range',
  'ConstantOfShape',
]);

/**
 * Evaluates one node whose inputs are all known. `outTypes` come from shape inference (which checked the node),
 * so only the values are computed here. Returns undefined for ops or types the evaluator does not do.
 */
export function evaluateNode(
  node: Node,
  inputs: (Tensor | undefined)[],
  outTypes: { dtype: DType; dims: number[] }[],
): Tensor[] | undefined {
  const op = node.opType;
  if (!EVALUABLE_OPS.has(op) || outTypes.length === 0) return undefined;
  const out = outTypes[0];
  const vals = inputs.map((t) => (t ? tensorToNumbers(t) : undefined));
  const x = inputs[0];
  const xs = vals[0] ?? [];
  let result: number[];

  const f = ELEMENTWISE[op];
  if (f) {
    const present = inputs.filter((t): t is Tensor => !!t);
    const strides = present.map((t) => broadcastStrides(t.dims, out.dims));
    const pv = vals.filter((v): v is number[] => !!v);
    const integer = !isFloat(present[0].dtype) && op === 'Div';
    result = new Array<number>(sizeOf(out.dims));
    const args = new Array<number>(present.length);
    forEachIndex(out.dims, (idx, flat) => {
      for (let k = 0; k < present.length; k++) {
        let off = 0;
        for (let a = 0; a < idx.length; a++) off += idx[a] * strides[k][a];
        args[k] = pv[k][off];
      }
      const v = f(...args);
      result[flat] = integer ? Math.trunc(v) : v;
    });
  } else if (RESHAPING.has(op)) {
    result = xs;
  } else if (op === 'Constant') {
    return undefined; // shape inference reads Constant attributes directly
  } else if (op === 'Shape') {
    return undefined; // ditto: a Shape's value comes from its input's type, not its input's value
  } else if (op === 'Size') {
    result = [xs.length];
  } else if (op === 'Cast') {
    result = xs;
  } else if (op === 'Gather') {
    const data = x!;
    const axis = normAxis(attrInt(node, 'axis', 0), data.dims.length)!;
    const outer = sizeOf(data.dims.slice(0, axis));
    const len = data.dims[axis];
    const inner = sizeOf(data.dims.slice(axis + 1));
    result = [];
    for (let o = 0; o < outer; o++)
      for (const j of vals[1]!) {
        const k = j < 0 ? j + len : j;
        if (k < 0 || k >= len) return undefined;
        for (let i = 0; i < inner; i++) result.push(xs[(o * len + k) * inner + i]);
      }
  } else if (op === 'Concat') {
    const axis = normAxis(attrInt(node, 'axis', 0), out.dims.length)!;
    const outer = sizeOf(out.dims.slice(0, axis));
    result = [];
    const parts = inputs.map((t, k) => ({ t, v: vals[k] })).filter((p) => p.t);
    for (let o = 0; o < outer; o++)
      for (const { t, v } of parts) {
        const chunk = sizeOf(t!.dims.slice(axis));
        for (let i = 0; i < chunk; i++) result.push(v![o * chunk + i]);
      }
  } else if (op === 'Slice') {
    const axes = sliceAxes(x!.dims, vals[1]!, vals[2]!, vals[3], vals[4]);
    if (typeof axes === 'string') return undefined;
    const start = x!.dims.map(() => 0);
    const step = x!.dims.map(() => 1);
    for (const a of axes) {
      start[a.axis] = a.start;
      step[a.axis] = a.step;
    }
    const strides = broadcastStrides(x!.dims, x!.dims);
    result = new Array<number>(sizeOf(out.dims));
    forEachIndex(out.dims, (idx, flat) => {
      let off = 0;
      for (let a = 0; a < idx.length; a++) off += (start[a] + idx[a] * step[a]) * strides[a];
      result[flat] = xs[off];
    });
  } else if (op === 'Transpose') {
    const rank = x!.dims.length;
    const perm = attrInts(node, 'perm') ?? [...Array(rank).keys()].reverse();
    const strides = broadcastStrides(x!.dims, x!.dims);
    result = new Array<number>(sizeOf(out.dims));
    forEachIndex(out.dims, (idx, flat) => {
      let off = 0;
      for (let a = 0; a < rank; a++) off += idx[a] * strides[perm[a]];
      result[flat] = xs[off];
    });
  } else if (op === 'Expand' || op === 'Tile') {
    const d = x!.dims;
    const strides = broadcastStrides(d, d);
    const lead = out.dims.length - d.length;
    result = new Array<number>(sizeOf(out.dims));
    forEachIndex(out.dims, (idx, flat) => {
      let off = 0;
      for (let a = 0; a < d.length; a++) off += ((d[a] === 1 ? 0 : idx[a + lead]) % d[a]) * strides[a];
      result[flat] = xs[off];
    });
  } else if (op === 'Range') {
    const [start, , delta] = [vals[0]![0], vals[1]![0], vals[2]![0]];
    result = Array.from({ length: out.dims[0] }, (_, i) => start + i * delta);
  } else if (op === 'ConstantOfShape') {
    const v = node.attributes.value;
    const fill = v && v.type === 'tensor' ? (tensorToNumbers(v.value)[0] ?? 0) : 0;
    result = new Array<number>(sizeOf(out.dims)).fill(fill);
  } else {
    return undefined;
  }
  const t = numbersToTensor(out.dtype, out.dims, result);
  if (!t) return undefined;
  if (op === 'Dropout' && outTypes.length > 1) {
    const mask = numbersToTensor('bool', outTypes[1].dims, new Array<number>(result.length).fill(1))!;
    return [t, mask];
  }
  return [t];
}

export { attrFloat, attrInt, attrInts, attrString };

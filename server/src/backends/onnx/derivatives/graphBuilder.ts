// Emits ONNX nodes with fresh names while tracking every value's static shape, so derivative rules can
// un-broadcast, reshape and slice without a second shape-inference pass.

import type { AttributeValue, DType, Node, Tensor, ValueInfo } from '../../../graph/ir';
import { sizeOf } from '../../../graph/ir';

export interface ValueType {
  dtype: DType;
  dims: number[];
}

/** Attribute shorthand: numbers become ints or floats as declared by the caller. */
export type Attrs = Record<string, AttributeValue>;
export const int = (value: number): AttributeValue => ({ type: 'int', value });
export const float = (value: number): AttributeValue => ({ type: 'float', value });
export const ints = (value: number[]): AttributeValue => ({ type: 'ints', value });
export const str = (value: string): AttributeValue => ({ type: 'string', value });

/** The float element type of every value a builder emits (float64: the precise products, MEASURED.md). */
export type FloatType = 'float32' | 'float64';

/** ONNX TensorProto.DataType code of a float type (Cast's `to`). */
export const onnxFloatCode = (t: FloatType): number => (t === 'float64' ? 11 : 1);

export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly initializers = new Map<string, Tensor>();
  readonly types = new Map<string, ValueType>();
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  private counter = 0;
  private readonly constantCache = new Map<string, string>();
  private readonly opCache = new Map<string, string>();
  private readonly reshapeSource = new Map<string, string>();
  private readonly transposeSource = new Map<string, { source: string; perm: number[] }>();
  /** One tensor object for every zeros() fill value, so equal ConstantOfShape nodes are recognised as one. */
  private readonly zeroValue: Tensor;

  constructor(private readonly prefix = 'd', readonly floatType: FloatType = 'float32') {
    this.zeroValue = { dtype: floatType, dims: [1], data: floatType === 'float64' ? new Float64Array(1) : new Float32Array(1) };
  }

  fresh(hint: string): string {
    return `${this.prefix}${this.counter++}_${hint}`;
  }

  type(name: string): ValueType {
    const t = this.types.get(name);
    if (!t) throw new Error(`derivative builder: no shape recorded for value '${name}'`);
    return t;
  }

  dims(name: string): number[] {
    return this.type(name).dims;
  }

  setType(name: string, type: ValueType): void {
    this.types.set(name, { dtype: type.dtype, dims: [...type.dims] });
  }

  addInput(name: string, type: ValueType): string {
    this.setType(name, type);
    this.inputs.push({ name, dtype: type.dtype, dims: [...type.dims] });
    return name;
  }

  addOutput(name: string): void {
    const t = this.type(name);
    this.outputs.push({ name, dtype: t.dtype, dims: [...t.dims] });
  }

  addInitializer(name: string, tensor: Tensor): string {
    this.initializers.set(name, tensor);
    this.setType(name, { dtype: tensor.dtype, dims: tensor.dims });
    return name;
  }

  /**
   * Appends a node with one output whose type the caller states; returns the output's name. The same op on the
   * same inputs with the same attributes returns the earlier output instead (common subexpressions: the reverse and
   * both tangent passes each ask for σ'(x) = y(1 − y), Relu masks, reshapes of the same value, …).
   */
  op(opType: string, inputs: string[], out: ValueType, attributes: Attrs = {}, hint = opType): string {
    const key = `${opType}|${inputs.join(',')}|${attributeKey(attributes)}`;
    const hit = this.opCache.get(key);
    if (hit !== undefined) return hit;
    const name = this.fresh(hint);
    this.nodes.push({ name: `n_${name}`, opType, domain: '', inputs, outputs: [name], attributes });
    this.setType(name, out);
    this.opCache.set(key, name);
    return name;
  }

  /** Appends a node whose outputs are named by the caller (forward nodes keep their names). */
  raw(node: Node, outTypes: ValueType[]): void {
    this.nodes.push(node);
    node.outputs.forEach((o, i) => {
      if (o) this.setType(o, outTypes[i]);
    });
  }

  // ---- constants (deduplicated: a rule asking for the same scalar twice gets one initialiser) ----

  /** A scalar of the builder's float type (or `dtype`). */
  scalar(value: number, dtype: DType = this.floatType): string {
    return this.constant(dtype === 'float64' ? new Float64Array([value]) : new Float32Array([value]), [], dtype);
  }

  /** A constant tensor of the builder's float type. */
  floats(values: ArrayLike<number>, dims: number[]): string {
    const data = this.floatType === 'float64' ? Float64Array.from(values) : Float32Array.from(values);
    return this.constant(data, dims, this.floatType);
  }

  int64s(values: readonly number[], dims: number[] = [values.length]): string {
    return this.constant(BigInt64Array.from(values.map((v) => BigInt(v))), dims, 'int64');
  }

  constant(data: Float32Array | Float64Array | BigInt64Array | Int32Array, dims: number[], dtype: DType): string {
    const small = data.length <= 16;
    const key = small ? `${dtype}|${dims.join(',')}|${Array.from(data as ArrayLike<number | bigint>).join(',')}` : '';
    if (small) {
      const hit = this.constantCache.get(key);
      if (hit) return hit;
    }
    const name = this.fresh('const');
    this.addInitializer(name, { dtype, dims: [...dims], data });
    if (small) this.constantCache.set(key, name);
    return name;
  }

  // ---- common emitters ----

  /** A value of the builder's float type with these dims. */
  real(dims: number[]): ValueType {
    return { dtype: this.floatType, dims: [...dims] };
  }

  add(a: string, b: string): string {
    return this.op('Add', [a, b], this.real(broadcastDims(this.dims(a), this.dims(b))));
  }

  sub(a: string, b: string): string {
    return this.op('Sub', [a, b], this.real(broadcastDims(this.dims(a), this.dims(b))));
  }

  mul(a: string, b: string): string {
    return this.op('Mul', [a, b], this.real(broadcastDims(this.dims(a), this.dims(b))));
  }

  div(a: string, b: string): string {
    return this.op('Div', [a, b], this.real(broadcastDims(this.dims(a), this.dims(b))));
  }

  neg(a: string): string {
    return this.op('Neg', [a], this.type(a));
  }

  scale(a: string, factor: number): string {
    if (factor === 1) return a;
    return this.mul(a, this.scalar(factor));
  }

  reshape(a: string, dims: number[]): string {
    if (sameDims(this.dims(a), dims)) return a;
    // A reshape of a reshape is one reshape of the original (the transposes above make such chains).
    const source = this.reshapeSource.get(a) ?? a;
    if (sameDims(this.dims(source), dims)) return source;
    const out = this.op('Reshape', [source, this.int64s(dims)], { dtype: this.type(a).dtype, dims });
    this.reshapeSource.set(out, source);
    return out;
  }

  transpose(a: string, perm: number[]): string {
    if (perm.every((p, i) => p === i)) return a;
    // A transpose of a transpose is one transpose of the original: a single pass over the data (the block products'
    // θ-space tangents, k × d_θ, otherwise went through two in a row: bench/blocks.ts's profile).
    const earlier = this.transposeSource.get(a);
    if (earlier) return this.transpose(earlier.source, perm.map((p) => earlier.perm[p]));
    const d = this.dims(a);
    // Moving only size-1 axes keeps the memory order: a Reshape (free) instead of a Transpose (a copy).
    const moved = perm.filter((p) => d[p] !== 1);
    if (moved.every((p, i) => i === 0 || p > moved[i - 1])) return this.reshape(a, perm.map((p) => d[p]));
    const out = this.op('Transpose', [a], { dtype: this.type(a).dtype, dims: perm.map((p) => d[p]) }, { perm: ints(perm) });
    this.transposeSource.set(out, { source: a, perm });
    return out;
  }

  expand(a: string, dims: number[]): string {
    if (sameDims(this.dims(a), dims)) return a;
    return this.op('Expand', [a, this.int64s(dims)], { dtype: this.type(a).dtype, dims });
  }

  reduceSum(a: string, axes: number[], keepdims: boolean): string {
    if (axes.length === 0) return a;
    const d = this.dims(a);
    const out = keepdims ? d.map((n, i) => (axes.includes(i) ? 1 : n)) : d.filter((_, i) => !axes.includes(i));
    return this.op('ReduceSum', [a, this.int64s(axes)], this.real(out), { keepdims: int(keepdims ? 1 : 0) });
  }

  /** Sums `a` down to `target` dims: the reverse of numpy broadcasting (leading axes and size-1 axes). */
  unbroadcast(a: string, target: number[]): string {
    const d = this.dims(a);
    if (sameDims(d, target)) return a;
    const lead = d.length - target.length;
    const axes: number[] = [];
    for (let i = 0; i < d.length; i++) {
      if (i < lead || (target[i - lead] === 1 && d[i] !== 1)) axes.push(i);
    }
    const summed = this.reduceSum(a, axes, true);
    return this.reshape(summed, target);
  }

  /** A zero tensor of the given shape (ConstantOfShape: nothing large is stored in the file). */
  zeros(dims: number[]): string {
    return this.op('ConstantOfShape', [this.int64s(dims)], this.real(dims), {
      value: { type: 'tensor', value: this.zeroValue },
    }, 'zeros');
  }

  size(name: string): number {
    return sizeOf(this.dims(name));
  }
}

/** A canonical string of attributes (tensor-valued ones by identity: rules never rebuild equal tensors). */
function attributeKey(attributes: Attrs): string {
  return Object.keys(attributes).sort().map((k) => {
    const a = attributes[k];
    return `${k}=${a.type === 'tensor' || a.type === 'graph' ? `#${identity(a.value)}` : JSON.stringify(a.value)}`;
  }).join(';');
}

const identities = new WeakMap<object, number>();
let nextIdentity = 0;
function identity(o: object): number {
  let id = identities.get(o);
  if (id === undefined) identities.set(o, (id = nextIdentity++));
  return id;
}

export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export function broadcastDims(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`cannot broadcast [${a}] with [${b}]`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

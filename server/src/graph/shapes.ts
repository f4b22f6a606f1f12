// Static shape and element type of every value of a graph, for concrete input sizes (the analysis always knows B).

import { UserError } from '../errors';
import type { DType, Graph, Node, Tensor } from './ir';
import { sizeOf } from './ir';
import {
  EVALUABLE_OPS,
  attrFloat,
  attrInt,
  attrInts,
  attrString,
  broadcastDims,
  dtypeFromOnnx,
  evaluateNode,
  normAxis,
  numbersToTensor,
  sliceAxes,
  tensorToNumbers,
} from './evaluate';
import { topologicalOrder } from './topology';

export interface ValueType {
  dtype: DType;
  dims: number[];
}

export interface ShapeOptions {
  /** The model file, for messages. */
  file?: string;
  /**
   * Largest constant (in elements) propagated as a value. Values resolve shape inputs (Reshape targets, Slice
   * bounds, Unsqueeze axes…), which are tiny; the cap keeps a Transpose of a big weight from being computed.
   */
  maxConstantElements?: number;
}

export interface ShapeAnalysis {
  types: Map<string, ValueType>;
  /** Values known before running the model: initialisers, Constant nodes, and small evaluated chains of them. */
  constants: Map<string, Tensor>;
}

/**
 * Shape and dtype of every value: graph inputs (dims from `inputs`, else the declared static dims), initialisers and
 * every node output. Throws UserError('shape-error', …, {node, op}) on any inconsistency, and
 * UserError('unsupported-op') for an op it has no rule for.
 */
export function inferShapes(graph: Graph, inputs: Map<string, number[]>, options: ShapeOptions = {}): Map<string, ValueType> {
  return analyseShapes(graph, inputs, options).types;
}

/** inferShapes plus the constant values it found on the way (fold.ts reuses them). */
export function analyseShapes(graph: Graph, inputs: Map<string, number[]>, options: ShapeOptions = {}): ShapeAnalysis {
  const types = new Map<string, ValueType>();
  const constants = new Map<string, Tensor>();
  const maxConst = options.maxConstantElements ?? 1 << 16;
  const file = options.file;

  for (const [name, t] of graph.initializers) {
    types.set(name, { dtype: t.dtype, dims: [...t.dims] });
    constants.set(name, t);
  }
  for (const vi of graph.inputs) {
    if (graph.initializers.has(vi.name)) continue;
    const given = inputs.get(vi.name);
    let dims: number[];
    if (given) {
      if (given.length !== vi.dims.length)
        throw new UserError(
          'shape-error',
          `input '${vi.name}' has rank ${vi.dims.length} in the model but ${given.length} dims were given (${fmt(given)})`,
          { file },
        );
      vi.dims.forEach((d, i) => {
        if (typeof d === 'number' && d >= 0 && d !== given[i])
          throw new UserError(
            'shape-error',
            `input '${vi.name}' has size ${d} on axis ${i} in the model but ${given[i]} was given`,
            { file },
          );
      });
      dims = [...given];
    } else if (vi.dims.every((d) => typeof d === 'number' && d >= 0)) {
      dims = vi.dims as number[];
    } else {
      throw new UserError(
        'shape-error',
        `input '${vi.name}' has symbolic dims ${fmt(vi.dims)}: give concrete sizes (e.g. the batch size) for the analysis`,
        { file },
      );
    }
    types.set(vi.name, { dtype: vi.dtype, dims });
  }

  for (const node of topologicalOrder(graph)) {
    const { outputs, produced } = inferNode(node, types, constants, file);
    for (const [name, value] of produced) constants.set(name, value);
    if (produced.size === 0 && EVALUABLE_OPS.has(node.opType)) {
      const ins = node.inputs.map((n) => (n === '' ? undefined : constants.get(n)));
      const allKnown = node.inputs.every((n, i) => n === '' || ins[i] !== undefined);
      const small = outputs.every((t) => sizeOf(t.dims) <= maxConst);
      if (allKnown && small && node.inputs.some((n) => n !== '')) {
        const values = evaluateNode(node, ins, outputs);
        if (values) node.outputs.forEach((name, i) => name !== '' && values[i] && constants.set(name, values[i]));
      }
    }
  }
  // A graph output nothing produces (its node deleted or renamed) would surface later as a bare TypeError.
  for (const out of graph.outputs) {
    if (!types.has(out.name)) throw new UserError('corrupt-model', `graph output '${out.name}' is produced by no node, initialiser or input`, { file });
  }
  return { types, constants };
}

/**
 * Types of one node's outputs from its input types (and the constant values of shape inputs), recorded in `types`.
 * `produced` holds output values the rule knows outright (Constant, Shape, Size).
 */
export function inferNode(
  node: Node,
  types: Map<string, ValueType>,
  constants: ReadonlyMap<string, Tensor>,
  file?: string,
): { outputs: ValueType[]; produced: Map<string, Tensor> } {
  const ctx = new RuleContext(node, types, constants, file);
  // Own keys only: an op named 'toString' or '__proto__' would otherwise find Object.prototype's members.
  const rule = Object.hasOwn(RULES, node.opType) ? RULES[node.opType] : undefined;
  if (!rule || (node.domain !== '' && node.domain !== 'ai.onnx'))
    throw new UserError(
      'unsupported-op',
      `no shape rule for op ${node.domain && node.domain !== 'ai.onnx' ? `${node.domain}::` : ''}${node.opType}`,
      { file, node: node.name, op: node.opType },
    );
  const outputs = rule(ctx);
  node.outputs.forEach((name, i) => {
    if (name === '') return;
    const t = outputs[i];
    if (!t) ctx.fail(`produces no output ${i} ('${name}')`);
    if (t.dims.some((d) => !Number.isInteger(d) || d < 0)) ctx.fail(`computed an invalid shape ${fmt(t.dims)} for '${name}'`);
    types.set(name, t);
  });
  return { outputs, produced: ctx.produced };
}

function fmt(dims: readonly (number | string)[]): string {
  return `[${dims.join(', ')}]`;
}

/** What a shape rule can read about its node: input types, constant input values, attributes; and how to fail. */
class RuleContext {
  /** Output values a rule knows outright (Constant, Shape). */
  readonly produced = new Map<string, Tensor>();

  constructor(
    readonly node: Node,
    private readonly types: Map<string, ValueType>,
    private readonly constants: ReadonlyMap<string, Tensor>,
    private readonly file: string | undefined,
  ) {}

  fail(message: string): never {
    throw new UserError('shape-error', message, { file: this.file, node: this.node.name, op: this.node.opType });
  }

  has(i: number): boolean {
    return i < this.node.inputs.length && this.node.inputs[i] !== '';
  }

  input(i: number): ValueType {
    if (!this.has(i)) this.fail(`input ${i} is required but missing`);
    const name = this.node.inputs[i];
    const t = this.types.get(name);
    if (!t) this.fail(`input '${name}' is not produced by any node, initialiser or graph input`);
    return t;
  }

  dims(i: number): number[] {
    return this.input(i).dims;
  }

  /** The values of a shape-determining input; fails when it is only known at run time. */
  value(i: number, what: string): number[] {
    const v = this.optionalValue(i);
    if (v === undefined)
      this.fail(`${what} (input '${this.node.inputs[i]}') is computed at run time: static shapes need it constant`);
    return v;
  }

  /** An optional shape input: absent is fine, present-but-dynamic is as bad as a dynamic required one. */
  optionalValueOrFail(i: number, what: string): number[] | undefined {
    return this.has(i) ? this.value(i, what) : undefined;
  }

  optionalValue(i: number): number[] | undefined {
    if (!this.has(i)) return undefined;
    this.input(i);
    const t = this.constants.get(this.node.inputs[i]);
    return t ? tensorToNumbers(t) : undefined;
  }

  /** Axes given as an attribute (older opsets) or as an input (opset 13+ for Squeeze/Unsqueeze/ReduceSum, 18+ others). */
  axes(inputIndex: number): number[] | undefined {
    return attrInts(this.node, 'axes') ?? (this.has(inputIndex) ? this.value(inputIndex, 'axes') : undefined);
  }

  int(name: string, fallback: number): number {
    return attrInt(this.node, name, fallback);
  }
  ints(name: string): number[] | undefined {
    return attrInts(this.node, name);
  }
  float(name: string, fallback: number): number {
    return attrFloat(this.node, name, fallback);
  }
  string(name: string, fallback: string): string {
    return attrString(this.node, name, fallback);
  }

  axis(axis: number, rank: number): number {
    const a = normAxis(axis, rank);
    if (a === undefined) this.fail(`axis ${axis} is out of range for rank ${rank}`);
    return a;
  }

  broadcast(indices: number[]): number[] {
    const shapes = indices.filter((i) => this.has(i)).map((i) => this.dims(i));
    const out = broadcastDims(shapes);
    if (!out) this.fail(`shapes ${shapes.map(fmt).join(' and ')} do not broadcast`);
    return out;
  }
}

type Rule = (c: RuleContext) => ValueType[];

const same: Rule = (c: RuleContext) => [c.input(0)];

/** Elementwise ops that take any number of inputs; the others take exactly two (ONNX), as their derivatives assume. */
const VARIADIC = new Set(['Sum', 'Mean', 'Max', 'Min']);

const elementwise: Rule = (c: RuleContext) => {
  if (!VARIADIC.has(c.node.opType)) {
    c.input(1);
    if (c.node.inputs.length > 2) c.fail(`takes two inputs but has ${c.node.inputs.length}`);
  }
  const idx = c.node.inputs.map((_, i) => i);
  return [{ dtype: c.input(0).dtype, dims: c.broadcast(idx) }];
};

const comparison: Rule = (c: RuleContext) => [{ dtype: 'bool', dims: c.broadcast([0, 1]) }];

const softmaxLike: Rule = (c: RuleContext) => {
  const x = c.input(0);
  c.axis(c.int('axis', -1), x.dims.length);
  return [x];
};

/** Output size of a sliding window (Conv, pooling) along one axis; ceil_mode drops a last window that starts in the end padding, as PyTorch and onnxruntime do. */
function windowOut(
  c: RuleContext,
  axis: number,
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
  padBegin: number,
  padEnd: number,
  autoPad: string,
  ceilMode: boolean,
): number {
  const span = (kernel - 1) * dilation + 1;
  if (stride < 1 || dilation < 1 || kernel < 1)
    c.fail(`kernel ${kernel}, stride ${stride}, dilation ${dilation} on spatial axis ${axis} must all be ≥ 1`);
  let out: number;
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') out = Math.ceil(size / stride);
  else if (autoPad === 'VALID') out = Math.floor((size - span) / stride) + 1;
  else {
    const room = size + padBegin + padEnd - span;
    if (room < 0) out = 0;
    else if (ceilMode) {
      out = Math.ceil(room / stride) + 1;
      if ((out - 1) * stride >= size + padBegin) out--;
    } else out = Math.floor(room / stride) + 1;
  }
  if (out < 1)
    c.fail(`window of ${span} (kernel ${kernel}, dilation ${dilation}) does not fit spatial axis ${axis} of size ${size} with pads ${padBegin}+${padEnd}`);
  return out;
}

interface WindowAttrs {
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  autoPad: string;
}

function windowAttrs(c: RuleContext, n: number, kernel: number[] | undefined): WindowAttrs {
  if (!kernel) c.fail('kernel_shape is required');
  if (kernel.length !== n) c.fail(`kernel_shape ${fmt(kernel)} has ${kernel.length} axes but the input has ${n} spatial axes`);
  const strides = c.ints('strides') ?? new Array<number>(n).fill(1);
  const dilations = c.ints('dilations') ?? new Array<number>(n).fill(1);
  const pads = c.ints('pads') ?? new Array<number>(2 * n).fill(0);
  const autoPad = c.string('auto_pad', 'NOTSET');
  if (strides.length !== n) c.fail(`strides ${fmt(strides)} should have ${n} entries`);
  if (dilations.length !== n) c.fail(`dilations ${fmt(dilations)} should have ${n} entries`);
  if (pads.length !== 2 * n) c.fail(`pads ${fmt(pads)} should have ${2 * n} entries`);
  if (!['NOTSET', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad)) c.fail(`unknown auto_pad '${autoPad}'`);
  return { kernel, strides, dilations, pads, autoPad };
}

function spatialOut(c: RuleContext, x: number[], w: WindowAttrs, ceilMode: boolean): number[] {
  const n = x.length - 2;
  return x
    .slice(2)
    .map((size, i) =>
      windowOut(c, i, size, w.kernel[i], w.strides[i], w.dilations[i], w.pads[i], w.pads[i + n], w.autoPad, ceilMode),
    );
}

const conv: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const w = c.dims(1);
  if (x.dims.length < 3) c.fail(`input has shape ${fmt(x.dims)}: Conv needs [N, C, spatial…]`);
  if (w.length !== x.dims.length) c.fail(`weight has shape ${fmt(w)}, rank ${w.length}, but the input has rank ${x.dims.length}`);
  const group = c.int('group', 1);
  if (w[1] * group !== x.dims[1])
    c.fail(`input has ${x.dims[1]} channels but the weight ${fmt(w)} with group ${group} expects ${w[1] * group}`);
  if (w[0] % group !== 0) c.fail(`${w[0]} output channels are not divisible by group ${group}`);
  const kernel = c.ints('kernel_shape') ?? w.slice(2);
  if (kernel.some((k, i) => k !== w[i + 2])) c.fail(`kernel_shape ${fmt(kernel)} disagrees with the weight ${fmt(w)}`);
  if (c.has(2) && (c.dims(2).length !== 1 || c.dims(2)[0] !== w[0]))
    c.fail(`bias has shape ${fmt(c.dims(2))} but there are ${w[0]} output channels`);
  const attrs = windowAttrs(c, x.dims.length - 2, kernel);
  return [{ dtype: x.dtype, dims: [x.dims[0], w[0], ...spatialOut(c, x.dims, attrs, false)] }];
};

const convTranspose: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const w = c.dims(1);
  const n = x.dims.length - 2;
  if (n < 1) c.fail(`input has shape ${fmt(x.dims)}: ConvTranspose needs [N, C, spatial…]`);
  if (w.length !== x.dims.length) c.fail(`weight has shape ${fmt(w)}, rank ${w.length}, but the input has rank ${x.dims.length}`);
  const group = c.int('group', 1);
  if (w[0] !== x.dims[1]) c.fail(`input has ${x.dims[1]} channels but the weight ${fmt(w)} expects ${w[0]}`);
  const m = w[1] * group;
  if (c.has(2) && (c.dims(2).length !== 1 || c.dims(2)[0] !== m))
    c.fail(`bias has shape ${fmt(c.dims(2))} but there are ${m} output channels`);
  const attrs = windowAttrs(c, n, c.ints('kernel_shape') ?? w.slice(2));
  const outputPadding = c.ints('output_padding') ?? new Array<number>(n).fill(0);
  const outputShape = c.ints('output_shape');
  const spatial = x.dims.slice(2).map((size, i) => {
    if (outputShape) return outputShape[outputShape.length - n + i];
    const s = attrs.strides[i];
    const span = (attrs.kernel[i] - 1) * attrs.dilations[i] + 1;
    if (outputPadding[i] >= Math.max(s, attrs.dilations[i]))
      c.fail(`output_padding ${outputPadding[i]} must be smaller than the stride or dilation on spatial axis ${i}`);
    if (attrs.autoPad === 'SAME_UPPER' || attrs.autoPad === 'SAME_LOWER') return size * s;
    const pads = attrs.autoPad === 'VALID' ? 0 : attrs.pads[i] + attrs.pads[i + n];
    return s * (size - 1) + outputPadding[i] + span - pads;
  });
  if (spatial.some((d) => d < 1)) c.fail(`output spatial size ${fmt(spatial)} is empty`);
  return [{ dtype: x.dtype, dims: [x.dims[0], m, ...spatial] }];
};

const pool: Rule = (c: RuleContext) => {
  const x = c.input(0);
  if (x.dims.length < 3) c.fail(`input has shape ${fmt(x.dims)}: pooling needs [N, C, spatial…]`);
  const attrs = windowAttrs(c, x.dims.length - 2, c.ints('kernel_shape'));
  const dims = [x.dims[0], x.dims[1], ...spatialOut(c, x.dims, attrs, c.int('ceil_mode', 0) === 1)];
  return [
    { dtype: x.dtype, dims },
    { dtype: 'int64', dims },
  ];
};

const globalPool: Rule = (c: RuleContext) => {
  const x = c.input(0);
  if (x.dims.length < 3) c.fail(`input has shape ${fmt(x.dims)}: global pooling needs [N, C, spatial…]`);
  return [{ dtype: x.dtype, dims: [x.dims[0], x.dims[1], ...x.dims.slice(2).map(() => 1)] }];
};

const batchNorm: Rule = (c: RuleContext) => {
  const x = c.input(0);
  if (x.dims.length < 2) c.fail(`input has shape ${fmt(x.dims)}: BatchNormalization needs [N, C, …]`);
  const ch = x.dims[1];
  ['scale', 'B', 'mean', 'var'].forEach((what, k) => {
    const d = c.dims(k + 1);
    if (d.length !== 1 || d[0] !== ch) c.fail(`${what} has shape ${fmt(d)} but the input has ${ch} channels`);
  });
  const stat = { dtype: c.input(3).dtype, dims: [ch] };
  return [x, stat, stat];
};

const instanceNorm: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const ch = x.dims[1];
  for (const k of [1, 2]) if (c.dims(k).length !== 1 || c.dims(k)[0] !== ch) c.fail(`scale/bias must have shape [${ch}]`);
  return [x];
};

const layerNorm: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const axis = c.axis(c.int('axis', -1), x.dims.length);
  const normalised = x.dims.slice(axis);
  for (const k of [1, 2]) {
    if (!c.has(k)) continue;
    const d = c.dims(k);
    const b = broadcastDims([normalised, d]);
    if (!b || b.length !== normalised.length || b.some((v, i) => v !== normalised[i]))
      c.fail(`${k === 1 ? 'scale' : 'bias'} of shape ${fmt(d)} does not broadcast to the normalised shape ${fmt(normalised)}`);
  }
  const statDtype = dtypeFromOnnx(c.int('stash_type', 1)) ?? 'float32';
  const stat = { dtype: statDtype, dims: x.dims.map((d, i) => (i < axis ? d : 1)) };
  return [x, stat, stat];
};

const gemm: Rule = (c: RuleContext) => {
  const a = c.input(0);
  const b = c.dims(1);
  if (a.dims.length !== 2 || b.length !== 2) c.fail(`Gemm needs 2-D A and B, got ${fmt(a.dims)} and ${fmt(b)}`);
  const [m, ka] = c.int('transA', 0) ? [a.dims[1], a.dims[0]] : a.dims;
  const [kb, n] = c.int('transB', 0) ? [b[1], b[0]] : b;
  if (ka !== kb)
    c.fail(`A ${fmt(a.dims)}${c.int('transA', 0) ? 'ᵀ' : ''} and B ${fmt(b)}${c.int('transB', 0) ? 'ᵀ' : ''} have inner sizes ${ka} and ${kb}`);
  if (c.has(2)) {
    const cc = c.dims(2);
    const bc = broadcastDims([[m, n], cc]);
    if (!bc || bc.length !== 2 || bc[0] !== m || bc[1] !== n) c.fail(`C of shape ${fmt(cc)} does not broadcast to [${m}, ${n}]`);
  }
  return [{ dtype: a.dtype, dims: [m, n] }];
};

const matmul: Rule = (c: RuleContext) => {
  const a = c.input(0);
  const b = c.dims(1);
  if (a.dims.length === 0 || b.length === 0) c.fail('MatMul operands must have rank ≥ 1');
  const aa = a.dims.length === 1 ? [1, a.dims[0]] : a.dims;
  const bb = b.length === 1 ? [b[0], 1] : b;
  if (aa[aa.length - 1] !== bb[bb.length - 2])
    c.fail(`shapes ${fmt(a.dims)} and ${fmt(b)} have inner sizes ${aa[aa.length - 1]} and ${bb[bb.length - 2]}`);
  const batch = broadcastDims([aa.slice(0, -2), bb.slice(0, -2)]);
  if (!batch) c.fail(`batch dims of ${fmt(a.dims)} and ${fmt(b)} do not broadcast`);
  const out = [...batch];
  if (a.dims.length > 1) out.push(aa[aa.length - 2]);
  if (b.length > 1) out.push(bb[bb.length - 1]);
  return [{ dtype: a.dtype, dims: out }];
};

const flatten: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const r = x.dims.length;
  let axis = c.int('axis', 1);
  if (axis < -r || axis > r) c.fail(`axis ${axis} is out of range for rank ${r}`);
  if (axis < 0) axis += r;
  return [{ dtype: x.dtype, dims: [sizeOf(x.dims.slice(0, axis)), sizeOf(x.dims.slice(axis))] }];
};

const reshape: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const target = c.value(1, 'the target shape');
  const allowZero = c.int('allowzero', 0) === 1;
  const out: number[] = [];
  let infer = -1;
  target.forEach((v, i) => {
    if (v === 0 && !allowZero) {
      if (i >= x.dims.length) c.fail(`target ${fmt(target)} copies axis ${i} (0) but the input ${fmt(x.dims)} has rank ${x.dims.length}`);
      out.push(x.dims[i]);
    } else if (v === -1) {
      if (infer >= 0) c.fail(`target ${fmt(target)} has more than one -1`);
      infer = i;
      out.push(1);
    } else if (v < 0) c.fail(`target ${fmt(target)} has a negative size ${v}`);
    else out.push(v);
  });
  const total = sizeOf(x.dims);
  if (infer >= 0) {
    const rest = sizeOf(out);
    if (rest === 0 || total % rest !== 0)
      c.fail(`cannot reshape ${fmt(x.dims)} (${total} elements) to ${fmt(target)}`);
    out[infer] = total / rest;
  } else if (sizeOf(out) !== total) c.fail(`cannot reshape ${fmt(x.dims)} (${total} elements) to ${fmt(target)}`);
  return [{ dtype: x.dtype, dims: out }];
};

const transpose: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const r = x.dims.length;
  const perm = c.ints('perm') ?? [...Array(r).keys()].reverse();
  if (perm.length !== r || [...perm].sort((p, q) => p - q).some((p, i) => p !== i))
    c.fail(`perm ${fmt(perm)} is not a permutation of the ${r} axes of ${fmt(x.dims)}`);
  return [{ dtype: x.dtype, dims: perm.map((p) => x.dims[p]) }];
};

const concat: Rule = (c: RuleContext) => {
  const present = c.node.inputs.map((_, i) => i).filter((i) => c.has(i));
  if (!present.length) c.fail('needs at least one input');
  const first = c.input(present[0]);
  const r = first.dims.length;
  const attr = c.node.attributes.axis;
  if (!attr) c.fail('axis is required');
  const axis = c.axis(c.int('axis', 0), r);
  const out = [...first.dims];
  out[axis] = 0;
  for (const i of present) {
    const d = c.dims(i);
    if (d.length !== r || d.some((v, k) => k !== axis && v !== first.dims[k]))
      c.fail(`inputs ${present.map((k) => fmt(c.dims(k))).join(', ')} differ outside axis ${axis}`);
    out[axis] += d[axis];
  }
  return [{ dtype: first.dtype, dims: out }];
};

const slice: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const fromInputs = c.node.inputs.length > 1;
  const starts = fromInputs ? c.value(1, 'starts') : c.ints('starts');
  const ends = fromInputs ? c.value(2, 'ends') : c.ints('ends');
  const axes = fromInputs ? c.optionalValueOrFail(3, 'axes') : c.ints('axes');
  const steps = fromInputs ? c.optionalValueOrFail(4, 'steps') : undefined;
  if (!starts || !ends) c.fail('starts and ends are required');
  const result = sliceAxes(x.dims, starts, ends, axes, steps);
  if (typeof result === 'string') c.fail(result);
  const dims = [...x.dims];
  for (const a of result) dims[a.axis] = a.length;
  return [{ dtype: x.dtype, dims }];
};

const pad: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const r = x.dims.length;
  const pads = c.ints('pads') ?? c.value(1, 'pads');
  const axes = c.has(3) ? c.value(3, 'axes').map((a) => c.axis(a, r)) : [...Array(r).keys()];
  if (pads.length !== 2 * axes.length) c.fail(`pads ${fmt(pads)} should have ${2 * axes.length} entries`);
  const dims = [...x.dims];
  axes.forEach((a, k) => {
    dims[a] += pads[k] + pads[k + axes.length];
  });
  if (dims.some((d) => d < 0)) c.fail(`negative pads ${fmt(pads)} crop ${fmt(x.dims)} below zero`);
  return [{ dtype: x.dtype, dims }];
};

function tensorAttrType(t: Tensor): ValueType {
  return { dtype: t.dtype, dims: [...t.dims] };
}

const constant: Rule = (c: RuleContext) => {
  const a = Object.entries(c.node.attributes).find(([k]) => k.startsWith('value') || k === 'sparse_value');
  if (!a) c.fail('has no value attribute');
  const [key, v] = a;
  let t: Tensor | undefined;
  if (v.type === 'tensor') t = v.value;
  else if (key === 'value_float' && v.type === 'float') t = numbersToTensor('float32', [], [v.value]);
  else if (key === 'value_floats' && v.type === 'floats') t = numbersToTensor('float32', [v.value.length], v.value);
  else if (key === 'value_int' && v.type === 'int') t = numbersToTensor('int64', [], [v.value]);
  else if (key === 'value_ints' && v.type === 'ints') t = numbersToTensor('int64', [v.value.length], v.value);
  if (!t) c.fail(`value attribute '${key}' is not supported (only dense tensors, floats and ints)`);
  if (sizeOf(t.dims) !== t.data.length) c.fail(`value has dims ${fmt(t.dims)} but ${t.data.length} elements`);
  c.produced.set(c.node.outputs[0], t);
  return [tensorAttrType(t)];
};

const shape: Rule = (c: RuleContext) => {
  const x = c.dims(0);
  const r = x.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = clamp(c.int('start', 0));
  const end = clamp(c.int('end', r));
  const dims = x.slice(start, Math.max(start, end));
  c.produced.set(c.node.outputs[0], numbersToTensor('int64', [dims.length], dims)!);
  return [{ dtype: 'int64', dims: [dims.length] }];
};

const size: Rule = (c: RuleContext) => {
  c.produced.set(c.node.outputs[0], numbersToTensor('int64', [], [sizeOf(c.dims(0))])!);
  return [{ dtype: 'int64', dims: [] }];
};

const gather: Rule = (c: RuleContext) => {
  const data = c.input(0);
  const idx = c.dims(1);
  if (data.dims.length === 0) c.fail('cannot gather from a scalar');
  const axis = c.axis(c.int('axis', 0), data.dims.length);
  const known = c.optionalValue(1);
  const len = data.dims[axis];
  const bad = known?.find((k) => k < -len || k >= len);
  if (bad !== undefined) c.fail(`index ${bad} is out of range for axis ${axis} of size ${len}`);
  return [{ dtype: data.dtype, dims: [...data.dims.slice(0, axis), ...idx, ...data.dims.slice(axis + 1)] }];
};

const gatherElements: Rule = (c: RuleContext) => {
  const data = c.input(0);
  const idx = c.dims(1);
  if (idx.length !== data.dims.length) c.fail(`indices ${fmt(idx)} and data ${fmt(data.dims)} must have the same rank`);
  c.axis(c.int('axis', 0), data.dims.length);
  return [{ dtype: data.dtype, dims: [...idx] }];
};

const scatterElements: Rule = (c: RuleContext) => {
  const data = c.input(0);
  const idx = c.dims(1);
  const upd = c.dims(2);
  if (idx.length !== data.dims.length) c.fail(`indices ${fmt(idx)} and data ${fmt(data.dims)} must have the same rank`);
  if (upd.length !== idx.length || upd.some((d, i) => d !== idx[i])) c.fail(`updates ${fmt(upd)} must have the shape of indices ${fmt(idx)}`);
  c.axis(c.int('axis', 0), data.dims.length);
  const reduction = c.string('reduction', 'none');
  if (!['none', 'add', 'mul', 'max', 'min'].includes(reduction)) c.fail(`unknown reduction '${reduction}'`);
  return [data];
};

const unsqueeze: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const axes = c.axes(1);
  if (!axes) c.fail('axes are required');
  const r = x.dims.length + axes.length;
  const at = new Set(axes.map((a) => c.axis(a, r)));
  if (at.size !== axes.length) c.fail(`axes ${fmt(axes)} repeat an axis`);
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < r; i++) out.push(at.has(i) ? 1 : x.dims[k++]);
  return [{ dtype: x.dtype, dims: out }];
};

const squeeze: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const axes = c.axes(1);
  if (!axes) return [{ dtype: x.dtype, dims: x.dims.filter((d) => d !== 1) }];
  const drop = new Set(axes.map((a) => c.axis(a, x.dims.length)));
  for (const a of drop) if (x.dims[a] !== 1) c.fail(`cannot squeeze axis ${a} of size ${x.dims[a]} in ${fmt(x.dims)}`);
  return [{ dtype: x.dtype, dims: x.dims.filter((_, i) => !drop.has(i)) }];
};

const reduce: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const keep = c.int('keepdims', 1) === 1;
  let axes = c.axes(1);
  if (!axes || axes.length === 0) {
    if (c.int('noop_with_empty_axes', 0) === 1) return [x];
    axes = [...x.dims.keys()];
  }
  const set = new Set(axes.map((a) => c.axis(a, x.dims.length)));
  const dims = keep ? x.dims.map((d, i) => (set.has(i) ? 1 : d)) : x.dims.filter((_, i) => !set.has(i));
  return [{ dtype: x.dtype, dims }];
};

const argReduce: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const axis = c.axis(c.int('axis', 0), x.dims.length);
  const keep = c.int('keepdims', 1) === 1;
  return [{ dtype: 'int64', dims: keep ? x.dims.map((d, i) => (i === axis ? 1 : d)) : x.dims.filter((_, i) => i !== axis) }];
};

const expand: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const target = c.value(1, 'the target shape');
  const dims = broadcastDims([x.dims, target]);
  if (!dims) c.fail(`cannot expand ${fmt(x.dims)} to ${fmt(target)}`);
  return [{ dtype: x.dtype, dims }];
};

const tile: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const repeats = c.value(1, 'repeats');
  if (repeats.length !== x.dims.length) c.fail(`repeats ${fmt(repeats)} should have ${x.dims.length} entries`);
  return [{ dtype: x.dtype, dims: x.dims.map((d, i) => d * repeats[i]) }];
};

const where: Rule = (c: RuleContext) => [{ dtype: c.input(1).dtype, dims: c.broadcast([0, 1, 2]) }];

const constantOfShape: Rule = (c: RuleContext) => {
  const dims = c.value(0, 'the shape');
  const v = c.node.attributes.value;
  const dtype = v && v.type === 'tensor' ? v.value.dtype : 'float32';
  if (dims.some((d) => d < 0)) c.fail(`shape ${fmt(dims)} has a negative size`);
  return [{ dtype, dims }];
};

const range: Rule = (c: RuleContext) => {
  const [start, limit, delta] = [0, 1, 2].map((i) => {
    const v = c.value(i, ['start', 'limit', 'delta'][i]);
    if (v.length !== 1) c.fail(`${['start', 'limit', 'delta'][i]} must be a scalar`);
    return v[0];
  });
  if (delta === 0) c.fail('delta is 0');
  return [{ dtype: c.input(0).dtype, dims: [Math.max(Math.ceil((limit - start) / delta), 0)] }];
};

const split: Rule = (c: RuleContext) => {
  const x = c.input(0);
  const axis = c.axis(c.int('axis', 0), x.dims.length);
  const n = c.node.outputs.length;
  const d = x.dims[axis];
  let sizes = c.ints('split') ?? (c.has(1) ? c.value(1, 'split') : undefined);
  if (!sizes) {
    const parts = c.int('num_outputs', n);
    const chunk = Math.ceil(d / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, d - i * chunk)));
  }
  if (sizes.length !== n) c.fail(`split ${fmt(sizes)} has ${sizes.length} parts but the node has ${n} outputs`);
  if (sizes.reduce((p, q) => p + q, 0) !== d) c.fail(`split ${fmt(sizes)} does not add up to ${d} on axis ${axis}`);
  return sizes.map((s) => ({ dtype: x.dtype, dims: x.dims.map((v, i) => (i === axis ? s : v)) }));
};

const cast: Rule = (c: RuleContext) => {
  const to = dtypeFromOnnx(c.int('to', 0));
  if (!to) c.fail(`casts to ONNX data type ${c.int('to', 0)}, which the analysis does not model`);
  return [{ dtype: to, dims: c.dims(0) }];
};

const dropout: Rule = (c: RuleContext) => {
  const x = c.input(0);
  return [x, { dtype: 'bool', dims: x.dims }];
};

/** Einsum with explicit or implicit output and one optional ellipsis per term (numpy rules). */
const einsum: Rule = (c: RuleContext) => {
  const eq = c.string('equation', '').replace(/\s+/g, '');
  const [lhs, rhs] = eq.split('->');
  const terms = lhs.split(',');
  const present = c.node.inputs.map((_, i) => i).filter((i) => c.has(i));
  if (terms.length !== present.length) c.fail(`equation '${eq}' has ${terms.length} operands but the node has ${present.length}`);
  const sizes = new Map<string, number>();
  const counts = new Map<string, number>();
  const ellipses: number[][] = [];
  terms.forEach((term, k) => {
    const dims = c.dims(present[k]);
    const [before, after] = term.includes('...') ? term.split('...') : [term, undefined];
    const letters = before.length + (after?.length ?? 0);
    if (after === undefined ? letters !== dims.length : letters > dims.length)
      c.fail(`term '${term}' does not match operand ${k} of shape ${fmt(dims)}`);
    const named = [...before].map((ch, i) => [ch, dims[i]] as const);
    if (after !== undefined) {
      ellipses.push(dims.slice(before.length, dims.length - after.length));
      named.push(...[...after].map((ch, i) => [ch, dims[dims.length - after.length + i]] as const));
    }
    for (const [ch, d] of named) {
      if (!/[a-zA-Z]/.test(ch)) c.fail(`equation '${eq}' has an invalid label '${ch}'`);
      const prev = sizes.get(ch);
      if (prev !== undefined && prev !== d && prev !== 1 && d !== 1) c.fail(`label '${ch}' has sizes ${prev} and ${d}`);
      sizes.set(ch, prev === undefined || prev === 1 ? d : prev);
      counts.set(ch, (counts.get(ch) ?? 0) + 1);
    }
  });
  const ell = broadcastDims(ellipses);
  if (!ell) c.fail(`ellipsis dims ${ellipses.map(fmt).join(', ')} do not broadcast`);
  const out =
    rhs !== undefined
      ? rhs
      : (ellipses.length ? '...' : '') + [...counts].filter(([, n]) => n === 1).map(([ch]) => ch).sort().join('');
  const dims: number[] = [];
  const [ob, oa] = out.includes('...') ? out.split('...') : [out, undefined];
  const label = (ch: string) => {
    const d = sizes.get(ch);
    if (d === undefined) c.fail(`output label '${ch}' appears in no operand`);
    return d;
  };
  dims.push(...[...ob].map(label));
  if (oa !== undefined) dims.push(...ell, ...[...oa].map(label));
  return [{ dtype: c.input(present[0]).dtype, dims }];
};

const clip: Rule = (c: RuleContext) => {
  for (const i of [1, 2]) if (c.has(i) && sizeOf(c.dims(i)) !== 1) c.fail(`min/max must be scalars, got ${fmt(c.dims(i))}`);
  return [c.input(0)];
};

const UNARY = [
  'Identity', 'Neg', 'Sqrt', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Erf', 'Gelu', 'Exp', 'Log', 'Reciprocal',
  'Abs', 'Sign', 'Floor', 'Ceil', 'Round', 'Elu', 'Selu', 'Celu', 'Softplus', 'Softsign', 'HardSigmoid',
  'HardSwish', 'Mish', 'ThresholdedRelu', 'Sin', 'Cos', 'Shrink',
];
const BINARY = ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'PRelu', 'Mod'];
const COMPARE = ['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor'];

export const RULES: Record<string, Rule> = {
  ...Object.fromEntries(UNARY.map((op) => [op, same])),
  ...Object.fromEntries(BINARY.map((op) => [op, elementwise])),
  ...Object.fromEntries(COMPARE.map((op) => [op, comparison])),
  Not: (c) => [{ dtype: 'bool', dims: c.dims(0) }],
  Softmax: softmaxLike,
  LogSoftmax: softmaxLike,
  Hardmax: softmaxLike,
  Clip: clip,
  Cast: cast,
  Dropout: dropout,
  Gemm: gemm,
  MatMul: matmul,
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: pool,
  AveragePool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  BatchNormalization: batchNorm,
  InstanceNormalization: instanceNorm,
  LayerNormalization: layerNorm,
  Flatten: flatten,
  Reshape: reshape,
  Transpose: transpose,
  Concat: concat,
  Slice: slice,
  Pad: pad,
  Constant: constant,
  Shape: shape,
  Size: size,
  Gather: gather,
  GatherElements: gatherElements,
  ScatterElements: scatterElements,
  Unsqueeze: unsqueeze,
  Squeeze: squeeze,
  ReduceMean: reduce,
  ReduceSum: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceProd: reduce,
  ReduceL2: reduce,
  ReduceSumSquare: reduce,
  ReduceLogSumExp: reduce,
  ArgMax: argReduce,
  ArgMin: argReduce,
  Expand: expand,
  Tile: tile,
  Where: where,
  ConstantOfShape: constantOfShape,
  Range: range,
  Split: split,
  Einsum: einsum,
};

/** Ops with a shape rule (support.ts's allow-list is a subset: the forward ops we also differentiate). */
export const SHAPE_OPS: ReadonlySet<string> = new Set(Object.keys(RULES));

// Runs the engine's IR (ONNX semantics: NCHW, OIHW) as tfjs ops, using only kernels whose gradients
// gradients.ts registers, so nested tf.grad through it is exact at second order. Pooling is written as window
// slices (MaxPool picks the first maximal element by argMax/oneHot, like PyTorch; no MaxPool kernel, whose WASM
// argmax is wrong for windows whose max ≤ 0); softmax-like ops are z − logSumExp(z) with a constant shift.

import * as tf from '@tensorflow/tfjs-core';
import { UserError } from '../../errors';
import type { Graph, Node, Tensor } from '../../graph/ir';
import { attrFloat, attrInt, attrInts, attrString, tensorToNumbers } from '../../graph/evaluate';
import type { ValueType } from '../../graph/shapes';
import { conv2dValid, sliceAxis, subsampleAxis } from './gradients';

export interface InterpreterGraph {
  graph: Graph;
  types: Map<string, ValueType>;
  file: string;
}

/** Largest finite float32 below zero: pads MaxPool windows (−∞ would give 0·∞ = NaN in the one-hot selection). */
const MAX_POOL_PAD = -3.0e38;

/** Ops the interpreter runs (after fold.ts: shape chains and Constant nodes are already gone). */
export const INTERPRETED_OPS: ReadonlySet<string> = new Set([
  'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'Neg', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Erf',
  'Gelu', 'Softmax', 'LogSoftmax', 'Conv', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'BatchNormalization',
  'LayerNormalization', 'Flatten', 'Reshape', 'Transpose', 'Concat', 'Slice', 'Pad', 'Identity', 'Dropout',
  'Unsqueeze', 'Squeeze', 'Cast', 'ReduceMean', 'ReduceSum', 'Expand', 'Split', 'Gather',
]);

/** Constant (non-θ) initialisers as tfjs tensors, made once per graph and kept until `dispose`. */
export class TfjsConstants {
  readonly values = new Map<string, tf.Tensor>();
  constructor(readonly ig: InterpreterGraph, trainable: ReadonlySet<string>) {
    for (const [name, t] of ig.graph.initializers) if (!trainable.has(name)) this.values.set(name, tf.keep(toTf(t)));
  }
  dispose(): void {
    for (const t of this.values.values()) t.dispose();
    this.values.clear();
  }
}

export function toTf(t: Tensor): tf.Tensor {
  switch (t.dtype) {
    case 'float32':
      return tf.tensor(t.data as Float32Array, t.dims, 'float32');
    case 'float64':
      return tf.tensor(Float32Array.from(t.data as Float64Array), t.dims, 'float32');
    case 'int64':
      return tf.tensor(Int32Array.from(t.data as BigInt64Array, Number), t.dims, 'int32');
    case 'int32':
    case 'int8':
    case 'uint8':
      return tf.tensor(Int32Array.from(t.data as Int32Array), t.dims, 'int32');
    case 'bool':
      return tf.tensor(Uint8Array.from(t.data as Uint8Array), t.dims, 'bool');
    default:
      throw new UserError('unsupported-dtype', `initialiser of type ${t.dtype} cannot run on the tfjs engine`);
  }
}

/** Names of the interpreter's unsupported nodes (checked before any product so the error is up front). */
export function checkInterpretable(ig: InterpreterGraph): void {
  const bad = ig.graph.nodes.find((n) => !INTERPRETED_OPS.has(n.opType));
  if (bad) {
    throw new UserError('unsupported-op', `op ${bad.opType} in node '${bad.name}' cannot run on the tfjs engine (use --backend onnx)`, { file: ig.file, node: bad.name, op: bad.opType });
  }
}

/**
 * The model's output for input `x` and parameters `theta` (by initialiser name). Call inside tf.tidy / tf.grad:
 * every intermediate is a tape tensor.
 */
/** Runs the graph and returns its first output, or the value `output` (a final Sigmoid's input for BCE). */
export function runGraph(ig: InterpreterGraph, constants: TfjsConstants, x: tf.Tensor, theta: ReadonlyMap<string, tf.Tensor>, output = ig.graph.outputs[0].name): tf.Tensor {
  const { graph } = ig;
  const env = new Map<string, tf.Tensor>();
  env.set(graph.inputs[0].name, x);
  const get = (name: string): tf.Tensor => {
    const v = env.get(name) ?? theta.get(name) ?? constants.values.get(name);
    if (!v) throw new Error(`tfjs interpreter: value '${name}' is not computed yet`);
    return v;
  };
  const constantNumbers = (name: string): number[] => {
    const t = graph.initializers.get(name);
    if (!t) throw new UserError('unsupported-model', `value '${name}' must be a constant for the tfjs engine`, { file: ig.file });
    return tensorToNumbers(t);
  };
  for (const node of graph.nodes) {
    try {
      const outs = runNode(node, (i) => get(node.inputs[i]), constantNumbers, ig.types);
      outs.forEach((t, k) => node.outputs[k] && env.set(node.outputs[k], t));
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError('engine-error', `tfjs engine failed at node '${node.name}' (${node.opType}): ${(e as Error).message}`, { file: ig.file, node: node.name, op: node.opType });
    }
  }
  return get(output);
}

function runNode(node: Node, input: (i: number) => tf.Tensor, constantNumbers: (name: string) => number[], types: Map<string, ValueType>): tf.Tensor[] {
  const has = (i: number) => node.inputs.length > i && node.inputs[i] !== '';
  const outDims = (k = 0) => types.get(node.outputs[k])?.dims;
  switch (node.opType) {
    case 'Identity':
    case 'Dropout':
    case 'Cast':
      return [input(0)];
    case 'Add':
      return [tf.add(input(0), input(1))];
    case 'Sub':
      return [tf.sub(input(0), input(1))];
    case 'Mul':
      return [tf.mul(input(0), input(1))];
    case 'Div':
      return [tf.div(input(0), input(1))];
    case 'Pow':
      return [tf.pow(input(0), input(1))];
    case 'Sqrt':
      return [tf.sqrt(input(0))];
    case 'Neg':
      return [tf.neg(input(0))];
    case 'Sigmoid':
      return [tf.sigmoid(input(0))];
    case 'Tanh':
      return [tf.tanh(input(0))];
    case 'Erf':
      return [tf.erf(input(0))];
    case 'Relu':
      return [relu(input(0))];
    case 'LeakyRelu': {
      const x = input(0);
      const alpha = attrFloat(node, 'alpha', 0.01);
      const mask = tf.cast(tf.greater(x, 0), 'float32');
      return [tf.mul(x, tf.add(mask, tf.mul(tf.sub(1, mask), alpha)))];
    }
    case 'Gelu': {
      if (attrString(node, 'approximate', 'none') !== 'none') throw new UserError('unsupported-op', `Gelu approximate='tanh' is not supported by the tfjs engine`);
      const x = input(0);
      return [tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))))];
    }
    case 'Softmax':
    case 'LogSoftmax': {
      const x = input(0);
      const axis = normAxis(attrInt(node, 'axis', -1), x.rank);
      const logp = logSoftmax(x, axis);
      return [node.opType === 'Softmax' ? tf.exp(logp) : logp];
    }
    case 'MatMul':
      return [tf.matMul(input(0), input(1))];
    case 'Gemm': {
      let y = tf.matMul(input(0), input(1), attrInt(node, 'transA', 0) === 1, attrInt(node, 'transB', 0) === 1);
      const alpha = attrFloat(node, 'alpha', 1);
      if (alpha !== 1) y = tf.mul(y, alpha);
      if (has(2)) {
        const beta = attrFloat(node, 'beta', 1);
        y = tf.add(y, beta === 1 ? input(2) : tf.mul(input(2), beta));
      }
      return [y];
    }
    case 'Conv':
      return [conv(node, input(0), input(1), has(2) ? input(2) : undefined)];
    case 'MaxPool':
    case 'AveragePool':
      if (node.outputs.length > 1 && node.outputs[1]) throw new UserError('unsupported-op', `MaxPool with an Indices output is not supported by the tfjs engine`);
      return [pool(node, input(0), outDims()!)];
    case 'GlobalAveragePool': {
      const x = input(0);
      const axes = [...Array(x.rank).keys()].slice(2);
      const n = axes.reduce((p, a) => p * x.shape[a], 1);
      return [tf.div(tf.sum(x, axes, true), n)];
    }
    case 'BatchNormalization': {
      // Inference form (running statistics): y = (x − mean)/√(var + ε)·scale + B, per channel (axis 1).
      const x = input(0);
      const eps = attrFloat(node, 'epsilon', 1e-5);
      const perChannel = (t: tf.Tensor) => tf.reshape(t, [1, t.size, ...Array(x.rank - 2).fill(1)]);
      const invStd = tf.div(1, tf.sqrt(tf.add(perChannel(input(4)), eps)));
      const normed = tf.mul(tf.sub(x, perChannel(input(3))), invStd);
      return [tf.add(tf.mul(normed, perChannel(input(1))), perChannel(input(2)))];
    }
    case 'LayerNormalization': {
      const x = input(0);
      const axis = normAxis(attrInt(node, 'axis', -1), x.rank);
      const eps = attrFloat(node, 'epsilon', 1e-5);
      const axes = [...Array(x.rank).keys()].slice(axis);
      const n = axes.reduce((p, a) => p * x.shape[a], 1);
      const centred = tf.sub(x, tf.div(tf.sum(x, axes, true), n));
      const variance = tf.div(tf.sum(tf.mul(centred, centred), axes, true), n);
      let y = tf.div(centred, tf.sqrt(tf.add(variance, eps)));
      y = tf.mul(y, input(1));
      if (has(2)) y = tf.add(y, input(2));
      return [y];
    }
    case 'Flatten': {
      const x = input(0);
      const axis = normAxis(attrInt(node, 'axis', 1), x.rank);
      const lead = x.shape.slice(0, axis).reduce((p, d) => p * d, 1);
      return [tf.reshape(x, [lead, x.size / lead])];
    }
    case 'Reshape':
    case 'Unsqueeze':
    case 'Squeeze':
    case 'Expand': {
      const dims = outDims();
      if (!dims) throw new Error(`no static shape for '${node.outputs[0]}'`);
      const x = input(0);
      if (node.opType === 'Expand') return [tf.mul(x, tf.ones(dims))];
      return [tf.reshape(x, dims)];
    }
    case 'Transpose': {
      const x = input(0);
      const perm = attrInts(node, 'perm') ?? [...Array(x.rank).keys()].reverse();
      return [tf.transpose(x, perm)];
    }
    case 'Concat': {
      const parts = node.inputs.map((_, i) => input(i));
      return [tf.concat(parts, normAxis(attrInt(node, 'axis', 0), parts[0].rank))];
    }
    case 'Split': {
      const x = input(0);
      const axis = normAxis(attrInt(node, 'axis', 0), x.rank);
      let start = 0;
      return node.outputs.map((o) => {
        const size = types.get(o)!.dims[axis];
        const part = sliceAxis(x, axis, start, size);
        start += size;
        return part;
      });
    }
    case 'Slice': {
      const x = input(0);
      const dims = outDims()!;
      const starts = has(1) ? constantNumbers(node.inputs[1]) : attrInts(node, 'starts')!;
      const axes = has(3) ? constantNumbers(node.inputs[3]) : (attrInts(node, 'axes') ?? starts.map((_, i) => i));
      const steps = has(4) ? constantNumbers(node.inputs[4]) : starts.map(() => 1);
      let y = x;
      axes.forEach((a0, k) => {
        const a = normAxis(a0, x.rank);
        const n = x.shape[a];
        let s = starts[k] < 0 ? starts[k] + n : starts[k];
        s = Math.min(Math.max(s, 0), steps[k] > 0 ? n : n - 1);
        if (steps[k] === 1) y = sliceAxis(y, a, s, dims[a]);
        else if (steps[k] > 1) y = subsampleAxis(y, a, s, steps[k], dims[a]);
        else throw new UserError('unsupported-op', `Slice with step ${steps[k]} is not supported by the tfjs engine`);
      });
      return [y];
    }
    case 'Pad': {
      const x = input(0);
      const mode = attrString(node, 'mode', 'constant');
      if (mode !== 'constant') throw new UserError('unsupported-op', `Pad mode '${mode}' is not supported by the tfjs engine`);
      const pads = has(1) ? constantNumbers(node.inputs[1]) : attrInts(node, 'pads')!;
      const value = has(2) ? constantNumbers(node.inputs[2])[0] : attrFloat(node, 'value', 0);
      const axes = has(3) ? constantNumbers(node.inputs[3]).map((a) => normAxis(a, x.rank)) : [...Array(x.rank).keys()];
      const r = axes.length;
      const pairs = x.shape.map(() => [0, 0] as [number, number]);
      axes.forEach((a, k) => (pairs[a] = [pads[k], pads[k + r]]));
      return [padSigned(x, pairs, value)];
    }
    case 'Gather': {
      // Constant indices (attention's q/k/v picks, class tokens): slices and a concat, whose gradients are
      // pads and slices (no GatherV2/UnsortedSegmentSum pair to keep exact at second order).
      const x = input(0);
      const axis = normAxis(attrInt(node, 'axis', 0), x.rank);
      const indices = constantNumbers(node.inputs[1]).map((i) => (i < 0 ? i + x.shape[axis] : i));
      const parts = indices.map((i) => sliceAxis(x, axis, i, 1));
      const joined = parts.length === 1 ? parts[0] : tf.concat(parts, axis);
      return [tf.reshape(joined, outDims()!)];
    }
    case 'ReduceMean':
    case 'ReduceSum': {
      const x = input(0);
      const given = has(1) ? constantNumbers(node.inputs[1]) : attrInts(node, 'axes');
      const keep = attrInt(node, 'keepdims', 1) === 1;
      if (!given?.length && attrInt(node, 'noop_with_empty_axes', 0) === 1) return [x];
      const axes = given?.length ? given.map((a) => normAxis(a, x.rank)) : [...Array(x.rank).keys()];
      const s = tf.sum(x, axes, keep);
      return [node.opType === 'ReduceSum' ? s : tf.div(s, axes.reduce((p, a) => p * x.shape[a], 1))];
    }
    default:
      throw new UserError('unsupported-op', `op ${node.opType} cannot run on the tfjs engine`);
  }
}

function normAxis(a: number, rank: number): number {
  return a < 0 ? a + rank : a;
}

export function relu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.cast(tf.greater(x, 0), 'float32'));
}

/** Max over `axis` as a value with no gradient: the shift of logSumExp, whose result does not depend on it. */
const shiftOf = (axis: number) =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    // Only the shape is captured: the tensor itself may be disposed by an inner tidy before a later pass.
    const shape = x.shape;
    return { value: tf.max(x, axis, true), gradFunc: () => tf.zeros(shape) };
  });

/** log softmax as z − logSumExp(z) (tfjs's own logSoftmax and softmax rules are wrong at second order). */
export function logSoftmax(z: tf.Tensor, axis: number): tf.Tensor {
  const shifted = tf.sub(z, shiftOf(axis)(z) as tf.Tensor);
  return tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), axis, true)));
}

/** Pads with possibly negative amounts (ONNX allows cropping pads). */
function padSigned(x: tf.Tensor, pairs: [number, number][], value = 0): tf.Tensor {
  let y = x;
  pairs.forEach(([b, e], a) => {
    if (b < 0 || e < 0) y = sliceAxis(y, a, Math.max(0, -b), y.shape[a] - Math.max(0, -b) - Math.max(0, -e));
  });
  const positive = pairs.map(([b, e]) => [Math.max(0, b), Math.max(0, e)] as [number, number]);
  return positive.some(([b, e]) => b || e) ? tf.pad(y, positive, value) : y;
}

interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin…, end…] per spatial axis, after auto_pad. */
  pads: number[];
}

function windowOf(node: Node, spatial: number[], kernel: number[]): Window {
  const r = spatial.length;
  const strides = attrInts(node, 'strides') ?? Array(r).fill(1);
  const dilations = attrInts(node, 'dilations') ?? Array(r).fill(1);
  let pads = attrInts(node, 'pads') ?? Array(2 * r).fill(0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = Array(2 * r).fill(0);
    for (let i = 0; i < r; i++) {
      const out = Math.ceil(spatial[i] / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - spatial[i]);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[i + r] = total - pads[i];
    }
  } else if (autoPad === 'VALID') pads = Array(2 * r).fill(0);
  return { kernel, strides, dilations, pads };
}

function conv(node: Node, x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor | undefined): tf.Tensor {
  if (x.rank !== 4) throw new UserError('unsupported-op', `Conv on rank-${x.rank} input: the tfjs engine runs 2-D convolutions only`);
  const group = attrInt(node, 'group', 1);
  const win = windowOf(node, x.shape.slice(2), w.shape.slice(2));
  const s: [number, number] = [win.strides[0], win.strides[1]];
  const d: [number, number] = [win.dilations[0], win.dilations[1]];
  // NCHW → NHWC with the pads applied; OIHW → HWIO.
  const xn = padSigned(tf.transpose(x, [0, 2, 3, 1]), [[0, 0], [win.pads[0], win.pads[2]], [win.pads[1], win.pads[3]], [0, 0]]) as tf.Tensor4D;
  const wn = tf.transpose(w, [2, 3, 1, 0]) as tf.Tensor4D;
  let y: tf.Tensor4D;
  if (group === 1) y = conv2dValid(xn, wn, s, d);
  else {
    const cin = wn.shape[2];
    const cout = wn.shape[3] / group;
    const parts: tf.Tensor4D[] = [];
    for (let g = 0; g < group; g++) {
      const xg = sliceAxis(xn, 3, g * cin, cin) as tf.Tensor4D;
      const wg = sliceAxis(wn, 3, g * cout, cout) as tf.Tensor4D;
      parts.push(conv2dValid(xg, wg, s, d));
    }
    y = tf.concat(parts, 3);
  }
  let out = tf.transpose(y, [0, 3, 1, 2]);
  if (bias) out = tf.add(out, tf.reshape(bias, [1, bias.size, 1, 1]));
  return out;
}

/** MaxPool and AveragePool (NCHW, 2-D) as a stack of strided window slices. */
function pool(node: Node, x: tf.Tensor, outDims: number[]): tf.Tensor {
  if (x.rank !== 4) throw new UserError('unsupported-op', `${node.opType} on rank-${x.rank} input: the tfjs engine pools 2-D only`);
  const kernel = attrInts(node, 'kernel_shape')!;
  const win = windowOf(node, x.shape.slice(2), kernel);
  const [H, W] = [x.shape[2]!, x.shape[3]!];
  const [sh, sw] = win.strides;
  const [dh, dw] = win.dilations;
  // Output size from shape inference (it knows ceil_mode's rule: the last window must start inside the input).
  const [ho, wo] = outDims.slice(2);
  const isMax = node.opType === 'MaxPool';
  // Pad enough for every window (ceil_mode may reach past the declared end pad).
  const needH = (ho - 1) * sh + (kernel[0] - 1) * dh + 1;
  const needW = (wo - 1) * sw + (kernel[1] - 1) * dw + 1;
  const endH = needH - H - win.pads[0];
  const endW = needW - W - win.pads[1];
  const padded = padSigned(x, [[0, 0], [0, 0], [win.pads[0], endH], [win.pads[1], endW]], isMax ? MAX_POOL_PAD : 0);
  const [N, C] = [x.shape[0], x.shape[1]!];
  const k = kernel[0] * kernel[1];
  let stack: tf.Tensor;
  if (sh === kernel[0] && sw === kernel[1] && dh === 1 && dw === 1) {
    // Non-overlapping windows (the usual 2×2/2): one reshape + transpose gives [N, C, ho, wo, kh·kw] in the same
    // (i, j) order as the slices below, instead of kh·kw strided slices, which tfjs-backend-wasm runs in JavaScript.
    const cropped = padded.shape[2] === ho * sh && padded.shape[3] === wo * sw ? padded : tf.slice(padded, [0, 0, 0, 0], [N, C, ho * sh, wo * sw]);
    const blocks = tf.reshape(cropped, [N, C, ho, kernel[0], wo, kernel[1]]);
    stack = tf.reshape(tf.transpose(blocks, [0, 1, 2, 4, 3, 5]), [N, C, ho, wo, k]);
  } else {
    const slices: tf.Tensor[] = [];
    for (let i = 0; i < kernel[0]; i++) {
      for (let j = 0; j < kernel[1]; j++) {
        const rows = subsampleAxis(padded, 2, i * dh, sh, ho);
        slices.push(tf.reshape(subsampleAxis(rows, 3, j * dw, sw, wo), [N, C, ho, wo, 1]));
      }
    }
    stack = tf.concat(slices, 4);
  }
  if (isMax) {
    // First maximal element of each window (PyTorch's choice on ties), as a constant one-hot selection.
    const pick = tf.cast(tf.oneHot(tf.argMax(stack, 4), k), 'float32');
    return tf.sum(tf.mul(stack, pick), 4);
  }
  const summed = tf.sum(stack, 4);
  const includePad = attrInt(node, 'count_include_pad', 0) === 1;
  return tf.mul(summed, averageDivisor(H, W, ho, wo, kernel, win, includePad));
}

/** 1/(elements counted per window): all kernel elements inside the declared pads, or only real ones. */
function averageDivisor(H: number, W: number, ho: number, wo: number, kernel: number[], win: Window, includePad: boolean): tf.Tensor {
  const inv = new Float32Array(ho * wo);
  const [sh, sw] = win.strides;
  const [dh, dw] = win.dilations;
  const limitH = includePad ? H + win.pads[2] : H;
  const limitW = includePad ? W + win.pads[3] : W;
  const lowH = includePad ? -win.pads[0] : 0;
  const lowW = includePad ? -win.pads[1] : 0;
  for (let a = 0; a < ho; a++) {
    for (let b = 0; b < wo; b++) {
      let count = 0;
      for (let i = 0; i < kernel[0]; i++) {
        const r = a * sh - win.pads[0] + i * dh;
        if (r < lowH || r >= limitH) continue;
        for (let j = 0; j < kernel[1]; j++) {
          const c = b * sw - win.pads[1] + j * dw;
          if (c >= lowW && c < limitW) count++;
        }
      }
      inv[a * wo + b] = 1 / Math.max(count, 1);
    }
  }
  return tf.tensor(inv, [1, 1, ho, wo]);
}

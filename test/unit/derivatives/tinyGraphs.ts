// Tiny hand-built forward graphs (smooth where finite differences must be trusted) and the operator over them.

import type { AttributeValue, Graph, Node, Tensor } from '../../../server/src/graph/ir';
import { inferShapes } from '../../../server/src/graph/shapes';
import { OnnxInversionOperator, type GramRoute } from '../../../server/src/backends/onnx/onnxOperator';
import { decomposePiecewiseLinear } from '../../../server/src/graph/decompose';
import type { LossKind } from '../../../server/src/backends/onnx/derivatives/productGraphs';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomTensor(dims: number[], rand: () => number, scale = 1): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', dims, data: Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale) };
}

export const ints = (value: number[]): AttributeValue => ({ type: 'ints', value });
export const int = (value: number): AttributeValue => ({ type: 'int', value });
export const flt = (value: number): AttributeValue => ({ type: 'float', value });

export function node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeValue> = {}): Node {
  return { name: outputs[0], opType, domain: '', inputs, outputs, attributes };
}

export function i64(values: number[]): Tensor {
  return { dtype: 'int64', dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) };
}

export interface TinyModel {
  graph: Graph;
  inputDims: number[];
  trainable: string[];
  loss: LossKind;
  classes: number;
}

export function operatorFor(m: TinyModel, x: Float32Array, labels: number[], target?: Float32Array, gramRoute?: GramRoute): OnnxInversionOperator {
  const batch = m.inputDims[0];
  const onehot = new Float32Array(batch * m.classes);
  labels.forEach((y, i) => (onehot[i * m.classes + y] = 1));
  return OnnxInversionOperator.create({
    file: 'tiny.onnx',
    trainable: m.trainable,
    loss: m.loss,
    batch,
    input: x,
    target: target ?? onehot,
    gramRoute,
    specialise: (b) => {
      const dims = [b, ...m.inputDims.slice(1)];
      return { graph: m.graph, types: inferShapes(m.graph, new Map([[m.graph.inputs[0].name, dims]])), opset: 17 };
    },
  });
}

export function graph(inputDims: number[], init: Record<string, Tensor>, nodes: Node[], output: string): Graph {
  return {
    name: 'tiny',
    nodes,
    initializers: new Map(Object.entries(init)),
    inputs: [{ name: 'x', dtype: 'float32', dims: inputDims }],
    outputs: [{ name: output, dtype: 'float32', dims: [] }],
  };
}

/** x[2,5] → Gemm → Sigmoid → Gemm → logits[2,3]. */
export function tinyMlp(seed = 1): TinyModel {
  const r = rng(seed);
  const init = { w1: randomTensor([4, 5], r), b1: randomTensor([4], r), w2: randomTensor([3, 4], r), b2: randomTensor([3], r) };
  const nodes = [
    node('Gemm', ['x', 'w1', 'b1'], ['h'], { transB: int(1) }),
    node('Sigmoid', ['h'], ['s']),
    node('Gemm', ['s', 'w2', 'b2'], ['z'], { transB: int(1), alpha: flt(0.7), beta: flt(1.3) }),
  ];
  return { graph: graph([2, 5], init, nodes, 'z'), inputDims: [2, 5], trainable: ['w1', 'b1', 'w2', 'b2'], loss: 'cross-entropy', classes: 3 };
}

/** Grouped, strided, dilated, asymmetrically padded convolutions with tanh and average pooling. */
export function tinyConv(seed = 2): TinyModel {
  const r = rng(seed);
  const init = {
    c1w: randomTensor([4, 1, 3, 3], r, 0.7), c1b: randomTensor([4], r),
    c2w: randomTensor([3, 4, 2, 2], r, 0.7),
    fw: randomTensor([3, 24], r, 0.5), fb: randomTensor([3], r),
    shape: i64([2, 24]),
  };
  const nodes = [
    node('Conv', ['x', 'c1w', 'c1b'], ['c1'], { group: int(2), strides: ints([2, 1]), pads: ints([1, 0, 2, 1]) }),
    node('Tanh', ['c1'], ['t1']),
    node('AveragePool', ['t1'], ['p1'], { kernel_shape: ints([2, 2]), strides: ints([1, 1]), pads: ints([0, 0, 1, 1]), count_include_pad: int(0) }),
    node('Conv', ['p1', 'c2w'], ['c2'], { dilations: ints([2, 2]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }),
    node('Sigmoid', ['c2'], ['t2']),
    node('Reshape', ['t2', 'shape'], ['flat']),
    node('Gemm', ['flat', 'fw', 'fb'], ['z'], { transB: int(1) }),
  ];
  return { graph: graph([2, 2, 7, 8], init, nodes, 'z'), inputDims: [2, 2, 7, 8], trainable: ['c1w', 'c1b', 'c2w', 'fw', 'fb'], loss: 'cross-entropy', classes: 3 };
}

/** 1×1 convolutions with stride 1 and no padding, plain and grouped (float64: a Reshape instead of im2col). */
export function tinyPointwise(seed = 5): TinyModel {
  const r = rng(seed);
  const init = {
    c1w: randomTensor([4, 2, 1, 1], r, 0.7), c1b: randomTensor([4], r),
    c2w: randomTensor([4, 2, 1, 1], r, 0.7),
    fw: randomTensor([3, 48], r, 0.5), fb: randomTensor([3], r),
    shape: i64([2, 48]),
  };
  const nodes = [
    node('Conv', ['x', 'c1w', 'c1b'], ['c1']),
    node('Tanh', ['c1'], ['t1']),
    node('Conv', ['t1', 'c2w'], ['c2'], { group: int(2), kernel_shape: ints([1, 1]), strides: ints([1, 1]), pads: ints([0, 0, 0, 0]) }),
    node('Sigmoid', ['c2'], ['t2']),
    node('Reshape', ['t2', 'shape'], ['flat']),
    node('Gemm', ['flat', 'fw', 'fb'], ['z'], { transB: int(1) }),
  ];
  return { graph: graph([2, 2, 3, 4], init, nodes, 'z'), inputDims: [2, 2, 3, 4], trainable: ['c1w', 'c1b', 'c2w', 'fw', 'fb'], loss: 'cross-entropy', classes: 3 };
}

/** A little attention block: MatMul, Softmax, layer norm written out, erf-GELU, Transpose, Concat, Slice. */
export function tinyAttention(seed = 3): TinyModel {
  const r = rng(seed);
  const init = {
    wq: randomTensor([4, 4], r, 0.8), wk: randomTensor([4, 4], r, 0.8), wv: randomTensor([4, 4], r, 0.8),
    gamma: randomTensor([4], r), beta: randomTensor([4], r),
    two: { dtype: 'float32', dims: [], data: new Float32Array([2]) } as Tensor,
    eps: { dtype: 'float32', dims: [], data: new Float32Array([1e-5]) } as Tensor,
    half: { dtype: 'float32', dims: [], data: new Float32Array([0.5]) } as Tensor,
    one: { dtype: 'float32', dims: [], data: new Float32Array([1]) } as Tensor,
    rsqrt2: { dtype: 'float32', dims: [], data: new Float32Array([Math.SQRT1_2]) } as Tensor,
    st: i64([1]), en: i64([3]), ax: i64([1]),
    flatShape: i64([1, 16]),
    fw: randomTensor([16, 3], r, 0.5),
  };
  const nodes = [
    node('MatMul', ['x', 'wq'], ['q']),
    node('MatMul', ['x', 'wk'], ['k']),
    node('MatMul', ['x', 'wv'], ['v']),
    node('Transpose', ['k'], ['kt'], { perm: ints([0, 2, 1]) }),
    node('MatMul', ['q', 'kt'], ['scores']),
    node('Softmax', ['scores'], ['att'], { axis: int(-1) }),
    node('MatMul', ['att', 'v'], ['ctx']),
    node('Add', ['ctx', 'x'], ['res']),
    node('ReduceMean', ['res'], ['mu'], { axes: ints([-1]) }),
    node('Sub', ['res', 'mu'], ['cen']),
    node('Pow', ['cen', 'two'], ['sq']),
    node('ReduceMean', ['sq'], ['var'], { axes: ints([-1]) }),
    node('Add', ['var', 'eps'], ['vareps']),
    node('Sqrt', ['vareps'], ['std']),
    node('Div', ['cen', 'std'], ['nrm']),
    node('Mul', ['nrm', 'gamma'], ['sc']),
    node('Add', ['sc', 'beta'], ['ln']),
    node('Mul', ['ln', 'rsqrt2'], ['lr']),
    node('Erf', ['lr'], ['er']),
    node('Add', ['er', 'one'], ['er1']),
    node('Mul', ['ln', 'er1'], ['gx']),
    node('Mul', ['gx', 'half'], ['gelu']),
    node('Slice', ['gelu', 'st', 'en', 'ax'], ['mid']),
    node('Concat', ['mid', 'mid'], ['cat'], { axis: int(1) }),
    node('Reshape', ['cat', 'flatShape'], ['flat']),
    node('MatMul', ['flat', 'fw'], ['z']),
  ];
  return { graph: graph([1, 3, 4], init, nodes, 'z'), inputDims: [1, 3, 4], trainable: ['wq', 'wk', 'wv', 'gamma', 'beta', 'fw'], loss: 'cross-entropy', classes: 3 };
}

/**
 * Piecewise-linear ops: Pad, MaxPool (ceil mode, overlapping windows), BatchNorm (inference), Relu, LeakyRelu,
 * Gather, Where, GlobalAveragePool. Finite differences hold here only away from kinks: tests use a small step.
 */
export function tinyPiecewise(seed = 4): TinyModel {
  const r = rng(seed);
  const f = (v: number[]): Tensor => ({ dtype: 'float32', dims: [v.length], data: Float32Array.from(v) });
  const init = {
    cw: randomTensor([3, 2, 3, 3], r, 0.6), cb: randomTensor([3], r),
    pads: i64([0, 0, 1, 0, 0, 0, 0, 1]), padValue: { dtype: 'float32', dims: [], data: new Float32Array([0.25]) } as Tensor,
    scale: randomTensor([3], r), bias: randomTensor([3], r),
    mean: f([0.1, -0.2, 0.05]), var: f([0.5, 1.5, 0.8]),
    idx: i64([2, 0]),
    zero: { dtype: 'float32', dims: [], data: new Float32Array([0]) } as Tensor,
    fw: randomTensor([4, 2], r), fb: randomTensor([4], r),
    shape: i64([2, 2]),
  };
  const nodes = [
    node('Pad', ['x', 'pads', 'padValue'], ['xp']),
    node('Conv', ['xp', 'cw', 'cb'], ['c'], { pads: ints([1, 1, 1, 1]) }),
    node('BatchNormalization', ['c', 'scale', 'bias', 'mean', 'var'], ['bn'], { epsilon: flt(1e-3) }),
    node('LeakyRelu', ['bn'], ['lr'], { alpha: flt(0.1) }),
    node('MaxPool', ['lr'], ['mp'], { kernel_shape: ints([3, 3]), strides: ints([2, 2]), ceil_mode: int(1) }),
    node('Relu', ['mp'], ['rl']),
    node('Greater', ['mp', 'zero'], ['pos']),
    node('Where', ['pos', 'rl', 'mp'], ['wh']),
    node('GlobalAveragePool', ['wh'], ['gap']),
    node('Gather', ['gap', 'idx'], ['gat'], { axis: int(1) }),
    node('Reshape', ['gat', 'shape'], ['flat']),
    node('Gemm', ['flat', 'fw', 'fb'], ['z'], { transB: int(1) }),
  ];
  return { graph: graph([2, 2, 6, 5], init, nodes, 'z'), inputDims: [2, 2, 6, 5], trainable: ['cw', 'cb', 'scale', 'bias', 'fw', 'fb'], loss: 'cross-entropy', classes: 4 };
}

/** The MLP under a mean-squared-error loss (models without a class output). */
export function tinyRegression(seed = 5): TinyModel {
  return { ...tinyMlp(seed), loss: 'mse' };
}

/**
 * The activations of mobile architectures: Conv → Clip (bounds as inputs, as ReLU6 exports) → HardSwish → MaxPool
 * with dilation and padding → HardSigmoid (non-default α, β) → Gemm. `graph` is as a file holds it; the operator
 * runs on the graph OnnxModel.specialise would give (the activations rewritten by graph/decompose.ts).
 */
export function tinyMobile(seed = 6): TinyModel & { original: Graph } {
  const r = rng(seed);
  const scalar = (v: number): Tensor => ({ dtype: 'float32', dims: [], data: Float32Array.of(v) });
  const init = {
    cw: randomTensor([3, 2, 3, 3], r, 0.6), cb: randomTensor([3], r, 0.2),
    lo: scalar(-0.3), hi: scalar(0.4),
    fw: randomTensor([4, 126], r, 0.3), fb: randomTensor([4], r),
  };
  const nodes = [
    node('Conv', ['x', 'cw', 'cb'], ['c'], { pads: ints([1, 1, 1, 1]) }),
    node('Clip', ['c', 'lo', 'hi'], ['clip']),
    node('HardSwish', ['c'], ['hsw']),
    node('Add', ['clip', 'hsw'], ['sum']),
    node('MaxPool', ['sum'], ['mp'], { kernel_shape: ints([2, 2]), dilations: ints([2, 2]), pads: ints([1, 1, 1, 1]), strides: ints([1, 1]) }),
    node('HardSigmoid', ['mp'], ['hsg'], { alpha: flt(0.3), beta: flt(0.4) }),
    node('Flatten', ['hsg'], ['flat'], { axis: int(1) }),
    node('Gemm', ['flat', 'fw', 'fb'], ['z'], { transB: int(1) }),
  ];
  const original = graph([2, 2, 7, 6], init, nodes, 'z');
  return { original, graph: decomposePiecewiseLinear(original), inputDims: [2, 2, 7, 6], trainable: ['cw', 'cb', 'fw', 'fb'], loss: 'cross-entropy', classes: 4 };
}

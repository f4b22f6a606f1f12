// Rewrites a model's forward graph into the small set of primitive ops the derivative rules know, with every
// shape concrete for one batch size: BatchNorm, LayerNorm, Gelu, Flatten, (Un)Squeeze and ReduceMean become
// elementwise ops, reductions and reshapes; Identity and Dropout disappear.

import type { Graph, Node, Tensor } from '../../../graph/ir';
import { sizeOf } from '../../../graph/ir';
import { UserError } from '../../../errors';
import { attrFloat, attrInt, attrInts, attrString, windowOf } from './attributes';
import { float, GraphBuilder, int, ints, type ValueType } from './graphBuilder';

/** Ops the reverse and tangent rules handle after lowering. */
export const PRIMITIVE_OPS = new Set([
  'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Neg', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Erf', 'Exp', 'Log',
  'Sqrt', 'Pow', 'Reciprocal', 'Softmax', 'LogSoftmax', 'Conv', 'MaxPool', 'AveragePool', 'GlobalAveragePool',
  'Reshape', 'Transpose', 'Concat', 'Slice', 'Pad', 'Gather', 'Expand', 'ReduceSum', 'Where',
]);

export interface LoweredForward {
  builder: GraphBuilder;
  /** Name of the model's input x in the builder. */
  input: string;
  /** Name of the logits (the model's output; a final Softmax/LogSoftmax is stripped, see below). */
  output: string;
}

/**
 * Lowers `graph` (constants folded, one real input) into `builder`. `types` gives every value's static type for
 * the chosen batch size. Trainable initialisers are copied under their own names so θ keeps the file's names.
 */
export function lowerForward(graph: Graph, types: Map<string, ValueType>, opset: number, file: string, b = new GraphBuilder()): LoweredForward {
  const alias = new Map<string, string>();
  const name = (v: string): string => alias.get(v) ?? v;
  const typeOf = (v: string): ValueType => {
    const t = types.get(v) ?? b.types.get(name(v));
    if (!t) throw new UserError('shape-error', `no static shape for value '${v}'`, { file });
    return t;
  };
  const fail = (node: Node, why: string): never => {
    throw new UserError('unsupported-op', why, { file, node: node.name, op: node.opType });
  };
  const constTensor = (v: string): Tensor | undefined => graph.initializers.get(v);
  const constInts = (v: string | undefined): number[] | undefined => {
    if (!v) return undefined;
    const t = constTensor(v);
    if (!t) return undefined;
    return Array.from(t.data as ArrayLike<number | bigint>, Number);
  };

  if (graph.inputs.length !== 1) {
    throw new UserError('unsupported-model', `the model has ${graph.inputs.length} real inputs; the analysis needs exactly one (the batch x)`, { file });
  }
  const input = graph.inputs[0].name;
  b.addInput(input, typeOf(input));
  for (const [n, t] of graph.initializers) b.addInitializer(n, t);

  for (const node of graph.nodes) {
    const ins = node.inputs.map((v) => (v ? name(v) : ''));
    const out = node.outputs[0];
    const outType = (i = 0): ValueType => typeOf(node.outputs[i]);
    const keep = (attributes = node.attributes, inputs = ins): void => {
      // Copies: derivative rules may add outputs (MaxPool's argmax) and must not touch the cached forward graph.
      b.raw({ ...node, inputs: [...inputs], outputs: [...node.outputs], attributes: { ...attributes } }, node.outputs.map((o) => (o ? typeOf(o) : { dtype: 'float32', dims: [] })));
    };
    switch (node.opType) {
      case 'Identity':
      case 'Dropout':
        alias.set(out, ins[0]);
        break;
      case 'Cast': {
        const to = attrInt(node, 'to', 1);
        if (to === 1 && typeOf(node.inputs[0]).dtype === 'float32') alias.set(out, ins[0]);
        else keep();
        break;
      }
      case 'Flatten':
      case 'Squeeze':
      case 'Unsqueeze':
      case 'Reshape':
        b.raw({ name: node.name, opType: 'Reshape', domain: '', inputs: [ins[0], b.int64s(outType().dims)], outputs: [out], attributes: {} }, [outType()]);
        break;
      case 'ReduceMean': {
        const dims = typeOf(node.inputs[0]).dims;
        let axes = attrInts(node, 'axes') ?? constInts(node.inputs[1]) ?? dims.map((_, i) => i);
        axes = axes.map((a) => (a < 0 ? a + dims.length : a));
        const keepdims = attrInt(node, 'keepdims', 1) === 1;
        const count = axes.reduce((n, a) => n * dims[a], 1);
        const s = b.reduceSum(ins[0], axes, keepdims);
        b.raw({ name: node.name, opType: 'Mul', domain: '', inputs: [s, b.scalar(1 / count)], outputs: [out], attributes: {} }, [outType()]);
        break;
      }
      case 'ReduceSum': {
        const dims = typeOf(node.inputs[0]).dims;
        let axes = constInts(node.inputs[1]) ?? attrInts(node, 'axes') ?? dims.map((_, i) => i);
        axes = axes.map((a) => (a < 0 ? a + dims.length : a));
        b.raw({ name: node.name, opType: 'ReduceSum', domain: '', inputs: [ins[0], b.int64s(axes)], outputs: [out], attributes: { keepdims: int(attrInt(node, 'keepdims', 1)) } }, [outType()]);
        break;
      }
      case 'BatchNormalization': {
        // Inference mode: y = (x − mean)·scale/√(var+ε) + B. mean and var are statistics, not θ (ARCHITECTURE.md).
        const [x, scale, bias, mean, variance] = ins;
        const m = constTensor(mean);
        const v = constTensor(variance);
        if (!m || !v) fail(node, 'BatchNormalization in training mode (running mean/var not constant) is not supported');
        const eps = attrFloat(node, 'epsilon', 1e-5);
        const c = m!.dims[0];
        const xd = typeOf(node.inputs[0]).dims;
        const bcast = [1, c, ...xd.slice(2).map(() => 1)];
        const invStd = new Float32Array(c);
        const meanData = new Float32Array(c);
        for (let i = 0; i < c; i++) {
          invStd[i] = 1 / Math.sqrt(Number(v!.data[i]) + eps);
          meanData[i] = Number(m!.data[i]);
        }
        const centred = b.sub(x, b.constant(meanData, bcast, 'float32'));
        const normed = b.mul(centred, b.constant(invStd, bcast, 'float32'));
        const scaled = b.mul(normed, b.reshape(scale, bcast));
        b.raw({ name: node.name, opType: 'Add', domain: '', inputs: [scaled, b.reshape(bias, bcast)], outputs: [out], attributes: {} }, [outType()]);
        break;
      }
      case 'LayerNormalization': {
        const [x, scale, bias] = ins;
        const xd = typeOf(node.inputs[0]).dims;
        let axis = attrInt(node, 'axis', -1);
        if (axis < 0) axis += xd.length;
        const axes = xd.map((_, i) => i).filter((i) => i >= axis);
        const n = axes.reduce((k, a) => k * xd[a], 1);
        const mean = b.scale(b.reduceSum(x, axes, true), 1 / n);
        const centred = b.sub(x, mean);
        const variance = b.scale(b.reduceSum(b.mul(centred, centred), axes, true), 1 / n);
        const std = b.op('Sqrt', [b.add(variance, b.scalar(attrFloat(node, 'epsilon', 1e-5)))], b.type(variance));
        let y = b.mul(b.div(centred, std), scale);
        if (bias) y = b.add(y, bias);
        alias.set(out, y);
        break;
      }
      case 'Gelu': {
        const x = ins[0];
        const t = typeOf(node.inputs[0]);
        let inner: string;
        if (attrString(node, 'approximate', 'none') === 'tanh') {
          // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
          const cube = b.mul(b.mul(x, x), x);
          inner = b.op('Tanh', [b.scale(b.add(x, b.scale(cube, 0.044715)), Math.sqrt(2 / Math.PI))], t);
        } else {
          inner = b.op('Erf', [b.scale(x, Math.SQRT1_2)], t);
        }
        alias.set(out, b.mul(b.scale(x, 0.5), b.add(inner, b.scalar(1))));
        break;
      }
      case 'Softmax':
      case 'LogSoftmax': {
        const xd = typeOf(node.inputs[0]).dims;
        let axis = attrInt(node, 'axis', opset >= 13 ? -1 : 1);
        if (axis < 0) axis += xd.length;
        if (opset >= 13 || axis === xd.length - 1) {
          keep({ axis: int(axis) });
        } else {
          // Before opset 13 Softmax flattened the input to 2-D at `axis`.
          const flat = b.reshape(ins[0], [sizeOf(xd.slice(0, axis)), sizeOf(xd.slice(axis))]);
          const s = b.op(node.opType, [flat], b.type(flat), { axis: int(1) });
          alias.set(out, b.reshape(s, xd));
        }
        break;
      }
      case 'Conv': {
        const xd = typeOf(node.inputs[0]).dims;
        const wd = typeOf(node.inputs[1]).dims;
        const w = windowOf(node, xd.slice(2), wd.slice(2));
        keep({ strides: ints(w.strides), dilations: ints(w.dilations), pads: ints(w.pads), group: int(attrInt(node, 'group', 1)) });
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const xd = typeOf(node.inputs[0]).dims;
        const kernel = attrInts(node, 'kernel_shape') ?? fail(node, 'pooling without kernel_shape');
        const w = windowOf(node, xd.slice(2), kernel as number[]);
        const attrs = { ...node.attributes, strides: ints(w.strides), pads: ints(w.pads), kernel_shape: ints(w.kernel) } as Node['attributes'];
        delete attrs.auto_pad;
        if (node.opType === 'MaxPool') {
          if (attrInt(node, 'storage_order', 0) !== 0) fail(node, 'MaxPool with storage_order=1 is not supported');
          attrs.dilations = ints(w.dilations);
        }
        keep(attrs);
        break;
      }
      case 'Pad': {
        const mode = attrString(node, 'mode', 'constant');
        if (mode !== 'constant') fail(node, `Pad mode '${mode}' is not supported (only constant)`);
        const pads = constInts(node.inputs[1]) ?? attrInts(node, 'pads');
        if (!pads) fail(node, 'Pad needs constant pads');
        const value = node.inputs[2] ? constTensor(node.inputs[2]) : undefined;
        const padValue = value ? Number(value.data[0]) : attrFloat(node, 'value', 0);
        b.raw({ name: node.name, opType: 'Pad', domain: '', inputs: [ins[0], b.int64s(pads!), b.scalar(padValue)], outputs: [out], attributes: { mode: { type: 'string', value: 'constant' } } }, [outType()]);
        break;
      }
      case 'Constant':
        fail(node, 'Constant node survived folding');
        break;
      default:
        if (!PRIMITIVE_OPS.has(node.opType) && !NON_DIFFERENTIABLE_OPS.has(node.opType)) {
          fail(node, `op ${node.opType} is not supported by the derivative builder`);
        }
        keep();
    }
  }

  let output = name(graph.outputs[0].name);
  // A model that ends in Softmax/LogSoftmax exports probabilities: the loss needs the logits before it.
  const last = b.nodes.find((n) => n.outputs[0] === output);
  if (last && (last.opType === 'Softmax' || last.opType === 'LogSoftmax')) output = last.inputs[0];
  return { builder: b, input, output };
}

/** Ops whose outputs carry no derivative (masks, indices, shapes): kept as they are, never differentiated. */
export const NON_DIFFERENTIABLE_OPS = new Set(['Shape', 'Equal', 'Greater', 'Less', 'Not', 'Cast', 'ConstantOfShape', 'Range']);

// re-exported for rules that emit float attributes
export { float };

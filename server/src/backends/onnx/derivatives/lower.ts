// Rewrites a model's forward graph into the small set of primitive ops the derivative rules know, with every
// shape concrete for one batch size: BatchNorm, LayerNorm, Gelu, Flatten, (Un)Squeeze and ReduceMean become
// elementwise ops, reductions and reshapes; Identity and Dropout disappear.

import type { Graph, Node, Tensor } from '../../../graph/ir';
import { sizeOf } from '../../../graph/ir';
import { UserError } from '../../../errors';
import { attrFloat as attrFloat32, attrInt, attrInts, attrString, windowOf, type Window } from './attributes';
import { float, GraphBuilder, int, ints, onnxFloatCode, type ValueType } from './graphBuilder';
import { averagePoolDivisors, indexMapConstant, matmul, positiveMask } from './reverse';

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
  /**
   * When the model ends in a Sigmoid (it exports probabilities for a binary or multi-label task): that Sigmoid's
   * input. Binary cross-entropy is taken on it as BCE-with-logits (productGraphs.ts), the same function as
   * PyTorch's BCELoss on the Sigmoid's output, computed without log(σ) underflowing.
   */
  sigmoidInput?: string;
}

/**
 * Lowers `graph` (constants folded, one real input) into `builder`. `types` gives every value's static type for
 * the chosen batch size. Trainable initialisers are copied under their own names so θ keeps the file's names.
 */
export function lowerForward(graph: Graph, types: Map<string, ValueType>, opset: number, file: string, b = new GraphBuilder(), trainableNames: readonly string[] = []): LoweredForward {
  const alias = new Map<string, string>();
  const name = (v: string): string => alias.get(v) ?? v;
  const precise = b.floatType === 'float64';
  const typeOf = (v: string): ValueType => {
    const t = types.get(v) ?? b.types.get(name(v));
    if (!t) throw new UserError('shape-error', `no static shape for value '${v}'`, { file });
    // In float64 mode every float value of the model is computed in double (its weights widened exactly).
    return precise && t.dtype === 'float32' ? { dtype: 'float64', dims: t.dims } : t;
  };
  // ONNX stores float attributes as float32: in float64 mode read them as the decimal the exporter wrote
  // (LeakyReLU's 0.01 is 0.00999999978 in float32, a 2e-8 relative error in every product otherwise).
  const attrFloat = (node: Node, key: string, fallback: number): number => {
    const v = attrFloat32(node, key, fallback);
    return precise ? float32Decimal(v) : v;
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
  // θ is widened exactly (the references use exactly the stored float32 weights); a scalar constant is read as the
  // literal the exporter rounded (1/√8 for attention, √2 for GELU, 0.01): widening those exactly would put a 1e-8
  // relative difference into every float64 product.
  const trainable = new Set(trainableNames);
  for (const [n, t] of graph.initializers) b.addInitializer(n, precise ? widen(t, !trainable.has(n)) : t);

  for (const node of graph.nodes) {
    const ins = node.inputs.map((v) => (v ? name(v) : ''));
    const out = node.outputs[0];
    const outType = (i = 0): ValueType => typeOf(node.outputs[i]);
    const keep = (attributes = node.attributes, inputs = ins): void => {
      if (precise) attributes = preciseAttributes(node.opType, attributes);
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
        const from = typeOf(node.inputs[0]).dtype;
        if ((to === 1 || to === 11) && (from === 'float32' || from === 'float64')) alias.set(out, ins[0]);
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
        const invStd = new Float64Array(c);
        const meanData = new Float64Array(c);
        for (let i = 0; i < c; i++) {
          invStd[i] = 1 / Math.sqrt(Number(v!.data[i]) + eps);
          meanData[i] = Number(m!.data[i]);
        }
        const centred = b.sub(x, b.floats(meanData, bcast));
        const normed = b.mul(centred, b.floats(invStd, bcast));
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
      case 'InstanceNormalization': {
        // y = (x − mean)/√(var + ε)·scale + B over each (example, channel)'s spatial positions. torch.onnx.export
        // writes nn.GroupNorm as Reshape → InstanceNormalization (scale 1, B 0) → Reshape → Mul/Add, and nn.InstanceNorm
        // directly: both are what Opacus' ModuleValidator.fix leaves in a model.
        const [x, scale, bias] = ins;
        const xd = typeOf(node.inputs[0]).dims;
        const axes = xd.map((_, i) => i).filter((i) => i >= 2);
        const n = axes.reduce((k, a) => k * xd[a], 1);
        const bcast = [1, xd[1], ...axes.map(() => 1)];
        const mean = b.scale(b.reduceSum(x, axes, true), 1 / n);
        const centred = b.sub(x, mean);
        const variance = b.scale(b.reduceSum(b.mul(centred, centred), axes, true), 1 / n);
        const std = b.op('Sqrt', [b.add(variance, b.scalar(attrFloat(node, 'epsilon', 1e-5)))], b.type(variance));
        alias.set(out, b.add(b.mul(b.div(centred, std), b.reshape(scale, bcast)), b.reshape(bias, bcast)));
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
          inner = precise ? erfInDouble(b, b.scale(x, Math.SQRT1_2)) : b.op('Erf', [b.scale(x, Math.SQRT1_2)], t);
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
        if (precise) {
          alias.set(out, convAsMatMul(b, ins, xd, wd, w, attrInt(node, 'group', 1), outType().dims));
          break;
        }
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
        if (precise && node.opType === 'AveragePool') {
          alias.set(out, averagePoolAsSum(b, { ...node, attributes: attrs }, ins[0], xd, w, outType().dims));
          break;
        }
        if (node.opType === 'MaxPool') {
          if (attrInt(node, 'storage_order', 0) !== 0) fail(node, 'MaxPool with storage_order=1 is not supported');
          attrs.dilations = ints(w.dilations);
        }
        keep(attrs);
        break;
      }
      case 'GlobalAveragePool': {
        if (!precise) { keep(); break; }
        // No float64 kernel: the mean over the spatial axes.
        const xd = typeOf(node.inputs[0]).dims;
        const spatial = xd.slice(2).map((_, i) => i + 2);
        alias.set(out, b.scale(b.reduceSum(ins[0], spatial, true), 1 / sizeOf(xd.slice(2))));
        break;
      }
      case 'LeakyRelu': {
        if (!precise) { keep(); break; }
        // The double kernel reads alpha as float32: x·where(x > 0, 1, α) with α in double instead.
        alias.set(out, b.mul(ins[0], positiveMask(b, ins[0], attrFloat(node, 'alpha', 0.01))));
        break;
      }
      case 'Erf':
        if (precise) alias.set(out, erfInDouble(b, ins[0]));
        else keep();
        break;
      case 'Pad': {
        const mode = attrString(node, 'mode', 'constant');
        if (mode !== 'constant') fail(node, `Pad mode '${mode}' is not supported (only constant)`);
        const pads = constInts(node.inputs[1]) ?? attrInts(node, 'pads');
        if (!pads) fail(node, 'Pad needs constant pads');
        const value = node.inputs[2] ? constTensor(node.inputs[2]) : undefined;
        const padValue = value ? Number(value.data[0]) : attrFloat(node, 'value', 0);
        b.raw({ name: node.name, opType: 'Pad', domain: '', inputs: [ins[0], b.int64s(pads!), b.scalar(precise ? float32Decimal(padValue) : padValue)], outputs: [out], attributes: { mode: { type: 'string', value: 'constant' } } }, [outType()]);
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
  const sigmoidInput = last?.opType === 'Sigmoid' ? last.inputs[0] : undefined;
  return { builder: b, input, output, ...(sigmoidInput ? { sigmoidInput } : {}) };
}

/** |x| below which erfInDouble sums its series; above it, the continued fraction of erfc. */
const ERF_SERIES_LIMIT = 3.5;
/** Series terms: at |x| = 3.5 the 56th term is e⁻³⁰ of the sum. */
const ERF_SERIES_TERMS = 56;
/** Continued-fraction depth: at |x| ≥ 3.5, erfc ≤ 7.4e-7 needs ~1e-10 relative accuracy, reached well before. */
const ERFC_FRACTION_DEPTH = 40;

/**
 * erf(x) in double from ops with float64 kernels and derivative rules (onnxruntime has no double Erf, MEASURED.md):
 * erf(a) = 2/√π · a · e^{−a²} · Σₙ (2a²)ⁿ/(2n+1)!! for a = |x| < 3.5 (all terms positive: no cancellation), and
 * 1 − e^{−a²}/√π · 1/(a + ½/(a + 1/(a + 3/2/(a + …)))) beyond; sign restored. Each branch reads a sanitised input
 * (Where), so the unused branch never produces an infinity whose zero-weighted derivative would become NaN.
 */
function erfInDouble(b: GraphBuilder, x: string): string {
  const dims = b.dims(x);
  const bool = { dtype: 'bool' as const, dims };
  const negative = b.op('Less', [x, b.scalar(0)], bool, {}, 'erf_neg');
  const sign = b.op('Where', [negative, b.scalar(-1), b.scalar(1)], b.real(dims), {}, 'erf_sign');
  const a = b.mul(x, sign);
  const small = b.op('Less', [a, b.scalar(ERF_SERIES_LIMIT)], bool, {}, 'erf_small');
  // Series branch.
  const as = b.op('Where', [small, a, b.scalar(0)], b.real(dims), {}, 'erf_series_in');
  const q = b.mul(as, as);
  const q2 = b.scale(q, 2);
  const coefficients = [1];
  for (let n = 1; n <= ERF_SERIES_TERMS; n++) coefficients.push(coefficients[n - 1] / (2 * n + 1));
  let sum = b.scalar(coefficients[ERF_SERIES_TERMS]);
  for (let n = ERF_SERIES_TERMS - 1; n >= 0; n--) sum = b.add(b.mul(sum, q2), b.scalar(coefficients[n]));
  const gauss = b.op('Exp', [b.neg(q)], b.real(dims));
  const series = b.mul(b.mul(b.scale(as, 2 / Math.sqrt(Math.PI)), gauss), sum);
  // Continued-fraction branch (evaluated backwards).
  const at = b.op('Where', [small, b.scalar(ERF_SERIES_LIMIT + 1), a], b.real(dims), {}, 'erf_tail_in');
  let f = at;
  for (let k = ERFC_FRACTION_DEPTH; k >= 1; k--) f = b.add(at, b.div(b.scalar(k / 2), f));
  const tailGauss = b.op('Exp', [b.neg(b.mul(at, at))], b.real(dims));
  const tail = b.sub(b.scalar(1), b.div(b.scale(tailGauss, 1 / Math.sqrt(Math.PI)), f));
  const magnitude = b.op('Where', [small, series, tail], b.real(dims), {}, 'erf_abs');
  return b.mul(magnitude, sign);
}

/** float32 → float64 (exact; a non-θ scalar as its literal, float32Literal); other tensors unchanged. */
function widen(t: Tensor, literalScalar = false): Tensor {
  if (t.dtype !== 'float32') return t;
  const data = Float64Array.from(t.data as Float32Array);
  if (literalScalar && data.length === 1) data[0] = float32Literal(data[0]);
  return { dtype: 'float64', dims: [...t.dims], data };
}

/**
 * The simple double an exporter most likely rounded to this float32: a decimal of at most 6 significant digits,
 * else ±√(p/q) for p, q ≤ 64 (1/√d_head, √2), else the float32 value itself.
 */
export function float32Literal(v: number): number {
  if (!Number.isFinite(v) || v === 0 || Math.fround(v) !== v) return v;
  const d = float32Decimal(v);
  if (Number(d.toPrecision(6)) === d) return d;
  const sign = Math.sign(v);
  for (let q = 1; q <= 64; q++) {
    for (let p = 1; p <= 64; p++) {
      const c = sign * Math.sqrt(p / q);
      if (Math.fround(c) === v) return c;
    }
  }
  return v;
}

/** The shortest decimal that rounds to the same float32 (what an exporter wrote as 0.01, 1e-5, …). */
export function float32Decimal(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const f = Math.fround(v);
  if (f !== v) return v; // not a float32 value: already a double
  for (let p = 1; p <= 9; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return v;
}

/** Attributes of a kept node for float64 mode: Cast to float means double; float tensor values are widened. */
function preciseAttributes(opType: string, attributes: Node['attributes']): Node['attributes'] {
  const out = { ...attributes };
  if (opType === 'Cast' && out.to && out.to.type === 'int' && out.to.value === 1) out.to = int(onnxFloatCode('float64'));
  const value = out.value;
  if (value && value.type === 'tensor' && value.value.dtype === 'float32') out.value = { type: 'tensor', value: widen(value.value) };
  return out;
}

/**
 * Conv without a Conv kernel (onnxruntime has none in float64, MEASURED.md): im2col by one Gather through a static
 * index map over the padded input, then a batched MatMul per group. The reverse and tangent rules of Pad, Gather
 * and MatMul then differentiate it unchanged.
 */
function convAsMatMul(b: GraphBuilder, ins: string[], xd: number[], wd: number[], w: Window, group: number, yd: number[]): string {
  const [n] = xd;
  const outChannels = wd[0];
  const cg = wd[1];
  const kernel = wd.slice(2);
  const cols = im2col(b, ins[0], xd, kernel, w.strides, w.dilations, w.pads, group, cg, yd.slice(2)); // [N, G, Cg·K, P]
  const weights = b.reshape(ins[1], [group, outChannels / group, cg * sizeOf(kernel)]);
  let y = b.reshape(matmul(b, weights, cols), yd); // [N, G, Og, P] → [N, O, S…]
  if (ins[2]) y = b.add(y, b.reshape(ins[2], [1, outChannels, ...yd.slice(2).map(() => 1)]));
  void n;
  return y;
}

/** AveragePool in float64: the same im2col with one channel per group, a sum over the window, × 1/count. */
function averagePoolAsSum(b: GraphBuilder, node: Node, x: string, xd: number[], w: Window, yd: number[]): string {
  const [, c] = xd;
  const cols = im2col(b, x, xd, w.kernel, w.strides, w.kernel.map(() => 1), w.pads, c, 1, yd.slice(2)); // [N, C, K, P]
  const sum = b.reduceSum(cols, [2], false); // [N, C, P]
  const { data, uniform } = averagePoolDivisors(node, xd.slice(2), yd.slice(2));
  const divisor = uniform !== null ? b.scalar(1 / uniform) : b.floats(data.map((v) => (v ? 1 / v : 0)), [1, 1, data.length]);
  return b.reshape(b.mul(sum, divisor), yd);
}

/**
 * [N, G·Cg, S…] → [N, G, Cg·K, P]: every output position's receptive field, gathered from the zero-padded input
 * (the end is padded further when ceil_mode windows overhang it; they read zeros there).
 */
function im2col(b: GraphBuilder, x: string, xd: number[], kernel: number[], strides: number[], dilations: number[], pads: number[], group: number, cg: number, ySpatial: number[]): string {
  const r = kernel.length;
  const [n, c] = xd;
  const spatial = xd.slice(2);
  // A 1×1 window with stride 1 and no padding (ResNet bottlenecks' conv1/conv3) gathers every input element once in
  // order: the columns are the input itself, and a Reshape (free, its derivatives too) replaces the Gather, its
  // index map and the scatter of its reverse rule (on ResNet-50 two thirds of the convs).
  if (sizeOf(kernel) === 1 && pads.every((p) => p === 0) && strides.every((s) => s === 1) && ySpatial.every((s, i) => s === spatial[i]))
    return b.reshape(x, [n, group, cg, sizeOf(spatial)]);
  const begin = pads.slice(0, r);
  const end = spatial.map((s, i) => Math.max(pads[r + i], (ySpatial[i] - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - s - begin[i]));
  const padded = spatial.map((s, i) => s + begin[i] + end[i]);
  let xp = x;
  if (begin.some((p) => p > 0) || end.some((p) => p > 0)) {
    xp = b.op('Pad', [x, b.int64s([0, 0, ...begin, 0, 0, ...end]), b.scalar(0)], b.real([n, c, ...padded]), { mode: { type: 'string', value: 'constant' } }, 'im2col_pad');
  }
  const plane = sizeOf(padded);
  const flat = b.reshape(xp, [n, c * plane]);
  const K = sizeOf(kernel);
  const P = sizeOf(ySpatial);
  const pStride = new Array(r).fill(1);
  for (let i = r - 2; i >= 0; i--) pStride[i] = pStride[i + 1] * padded[i + 1];
  // Offsets within one padded plane: of each kernel tap, and of each output position's window origin.
  const tap = new Int32Array(K);
  const origin = new Int32Array(P);
  forEachIndex(kernel, (k, idx) => { let o = 0; for (let a = 0; a < r; a++) o += idx[a] * dilations[a] * pStride[a]; tap[k] = o; });
  forEachIndex(ySpatial, (p, idx) => { let o = 0; for (let a = 0; a < r; a++) o += idx[a] * strides[a] * pStride[a]; origin[p] = o; });
  const map = new Int32Array(group * cg * K * P);
  let m = 0;
  for (let ch = 0; ch < group * cg; ch++) {
    for (let k = 0; k < K; k++) {
      const base = ch * plane + tap[k];
      for (let p = 0; p < P; p++) map[m++] = base + origin[p];
    }
  }
  // Flat indices and a Reshape of the result: the reverse rule's scatter reads the same flat map (one initialiser).
  const cols = b.op('Gather', [flat, indexMapConstant(b, map, [map.length])], b.real([n, map.length]), { axis: int(1) }, 'im2col');
  return b.reshape(cols, [n, group, cg * K, P]);
}

function forEachIndex(dims: number[], f: (flat: number, idx: number[]) => void): void {
  const idx = new Array(dims.length).fill(0);
  const total = sizeOf(dims);
  for (let k = 0; k < total; k++) {
    f(k, idx);
    for (let a = dims.length - 1; a >= 0; a--) {
      if (++idx[a] < dims[a]) break;
      idx[a] = 0;
    }
  }
}

/** Ops whose outputs carry no derivative (masks, indices, shapes): kept as they are, never differentiated. */
export const NON_DIFFERENTIABLE_OPS = new Set(['Shape', 'Equal', 'Greater', 'Less', 'Not', 'Cast', 'ConstantOfShape', 'Range']);

// re-exported for rules that emit float attributes
export { float };

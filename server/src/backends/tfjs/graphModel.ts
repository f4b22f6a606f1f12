// A TensorFlow.js graph model (tfjs-converter output: a TensorFlow GraphDef as JSON in modelTopology.node[], every
// Const's value in the weights manifest under the node's name) → IR, re-laid out for ONNX semantics like the layers
// loader: NHWC → NCHW activations, HWIO → OIHW kernels, MatMul kernels as Gemm [out, in] with transB, and the
// converter's fused ops (_FusedMatMul, _FusedConv2D, FusedDepthwiseConv2dNative) split back into their parts.
// A trailing Softmax (seen through Identity) is dropped: the analysis takes the cross-entropy on logits.

import { UserError } from '../../errors';
import type { Graph, Model, Node, Tensor } from '../../graph/ir';
import { relayoutKernel, type ActivationLayout } from './layout';

/** One GraphDef attribute as the converter writes it to JSON (strings base64, int64 as decimal strings). */
interface AttrValue {
  s?: string;
  i?: string | number;
  f?: number;
  b?: boolean;
  type?: string;
  list?: { s?: string[]; i?: (string | number)[]; f?: number[] };
  shape?: { dim?: { size: string | number }[]; unknownRank?: boolean };
}

export interface GraphNodeJson {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, AttrValue>;
}

/** The converter ops the loader maps (the message for any other op lists them). */
const GRAPH_OPS = ['Placeholder', 'Const', 'Identity', 'MatMul', '_FusedMatMul', 'BiasAdd', 'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv', 'Conv2D', '_FusedConv2D', 'DepthwiseConv2dNative',
  'FusedDepthwiseConv2dNative', 'Relu', 'Relu6', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Softmax', 'MaxPool', 'AvgPool', 'Mean', 'Squeeze', 'Reshape', 'ConcatV2',
  'FusedBatchNormV3'];

type Value = { kind: 'act'; name: string; layout: ActivationLayout } | { kind: 'const'; name: string; tensor: Tensor };

export class GraphModelBuilder {
  private readonly nodes: Node[] = [];
  private readonly inits = new Map<string, Tensor>();
  private readonly byName = new Map<string, GraphNodeJson>();
  private readonly values = new Map<string, Value>();
  private readonly visiting = new Set<string>();
  /** How many graph nodes read each node's output: a bias folds into its Conv/Gemm only if nothing else reads it. */
  private readonly consumers = new Map<string, number>();
  private inputDims: (number | string)[] = [];
  private inputName?: string;
  private counter = 0;

  constructor(private readonly file: string, private readonly weights: Map<string, Tensor>) {}

  build(topology: { node?: unknown }, signature?: { outputs?: Record<string, { name?: string }> }): Model {
    if (!Array.isArray(topology.node)) throw new UserError('corrupt-model', 'graph model: modelTopology.node is not a list of nodes', { file: this.file });
    for (const n of topology.node as GraphNodeJson[]) {
      if (typeof n?.name !== 'string' || typeof n.op !== 'string') throw new UserError('corrupt-model', 'graph model: a node lacks a name or an op', { file: this.file });
      this.byName.set(n.name, n);
      for (const i of n.input ?? []) if (!i.startsWith('^')) this.consumers.set(ref(i), (this.consumers.get(ref(i)) ?? 0) + 1);
    }
    const outputs = signature?.outputs ? Object.values(signature.outputs).map((o) => ref(o.name ?? '')) : [...this.byName.keys()].filter((n) => !this.consumers.has(n) && this.byName.get(n)!.op !== 'Const');
    if (outputs.length !== 1 || !this.byName.has(outputs[0])) {
      throw new UserError('unsupported-model', `graph model has ${outputs.length} outputs (${outputs.join(', ')}); the analysis needs exactly one, the logits`, { file: this.file });
    }
    // The loss takes logits: skip a final Softmax (converters keep Keras's softmax activation, then an Identity).
    let out = outputs[0];
    for (let n = this.byName.get(out); n && (n.op === 'Identity' || n.op === 'Softmax'); n = this.byName.get(out)) out = ref(n.input![0]);
    const y = this.value(out);
    if (y.kind !== 'act') throw new UserError('unsupported-model', `graph model output '${out}' is a constant`, { file: this.file });
    if (!this.inputName) throw new UserError('unsupported-model', 'graph model has no Placeholder input', { file: this.file });
    const graph: Graph = {
      name: 'tfjs-graph',
      nodes: this.nodes,
      initializers: this.inits,
      inputs: [{ name: 'input', dtype: 'float32', dims: this.inputDims }],
      outputs: [{ name: y.name, dtype: 'float32', dims: [] }],
    };
    return { graph, opsets: [{ domain: '', version: 13 }], producerName: 'tfjs-graph', producerVersion: '', irVersion: 8 };
  }

  private fail(node: GraphNodeJson, message: string, code = 'unsupported-op'): never {
    // The location names the node and op (UserError.describe puts them before the message).
    throw new UserError(code, message, { file: this.file, node: node.name, op: node.op });
  }

  private value(name: string): Value {
    const done = this.values.get(name);
    if (done) return done;
    const node = this.byName.get(name);
    if (!node) throw new UserError('corrupt-model', `graph model: node '${name}' is read but not defined`, { file: this.file, node: name });
    if (this.visiting.has(name)) this.fail(node, 'the graph has a cycle through this node', 'corrupt-model');
    this.visiting.add(name);
    const v = this.convert(node);
    this.visiting.delete(name);
    this.values.set(name, v);
    return v;
  }

  private inputs(node: GraphNodeJson): Value[] {
    return (node.input ?? []).filter((i) => !i.startsWith('^')).map((i) => {
      // Only first outputs carry activations here (FusedBatchNorm's others are batch statistics).
      if (/:[1-9]\d*$/.test(i)) this.fail(node, `reads output ${i.split(':').pop()} of '${ref(i)}', which the loader does not map`);
      return this.value(ref(i));
    });
  }

  private act(node: GraphNodeJson, v: Value | undefined, what = 'its input'): Extract<Value, { kind: 'act' }> {
    if (!v || v.kind !== 'act') this.fail(node, `${what} must be computed from the model input (a constant here)`);
    return v;
  }

  private constant(node: GraphNodeJson, v: Value | undefined, what: string): Tensor {
    if (!v || v.kind !== 'const') this.fail(node, `${what} must be a constant (a weight in the manifest)`);
    return v.tensor;
  }

  private emit(opType: string, inputs: string[], attributes: Node['attributes'], name: string): string {
    const out = `${name}_${this.counter++}`;
    this.nodes.push({ name, opType, domain: '', inputs, outputs: [out], attributes });
    return out;
  }

  private init(name: string, t: Tensor): string {
    let unique = name;
    for (let k = 1; this.inits.has(unique); k++) unique = `${name}_${k}`;
    this.inits.set(unique, t);
    return unique;
  }

  private convert(node: GraphNodeJson): Value {
    const a = node.attr ?? {};
    switch (node.op) {
      case 'Placeholder': {
        if (this.inputName) this.fail(node, `a second input (the first is '${this.inputName}'); the analysis needs exactly one`, 'unsupported-model');
        this.inputName = node.name;
        const dims = (a.shape?.shape?.dim ?? []).map((d) => Number(d.size));
        const rest = dims.slice(1);
        if (a.shape?.shape?.unknownRank || rest.some((d) => !(d > 0))) this.fail(node, `input shape [${dims}] is not static beyond the batch axis; the analysis needs a fixed input size`, 'dynamic-shape');
        if (rest.length === 3) {
          this.inputDims = ['batch', rest[2], rest[0], rest[1]];
          return { kind: 'act', name: 'input', layout: 'nchw' };
        }
        if (rest.length === 1) {
          this.inputDims = ['batch', rest[0]];
          return { kind: 'act', name: 'input', layout: 'flat' };
        }
        return this.fail(node, `input of rank ${dims.length}: only images [N, H, W, C] and vectors [N, D] are supported`, 'unsupported-model');
      }
      case 'Const': {
        const t = this.weights.get(node.name);
        if (!t) this.fail(node, `constant '${node.name}' is not in the weights manifest`, 'missing-weights');
        return { kind: 'const', name: node.name, tensor: t };
      }
      case 'Identity':
      case 'StopGradient':
        return this.inputs(node)[0];
      case 'MatMul':
      case '_FusedMatMul': {
        const [x, w, ...args] = this.inputs(node);
        const xa = this.act(node, x);
        if (xa.layout !== 'flat') this.fail(node, 'a matrix product on an image tensor (flatten first)');
        if (a.transpose_a?.b) this.fail(node, 'transpose_a is not supported');
        const k = this.constant(node, w, 'the kernel');
        // Gemm's B as [out, in] with transB, the layout ONNX exporters give a Linear layer (so θ lines up with them).
        const [nin, nout] = a.transpose_b?.b ? [k.dims[1], k.dims[0]] : k.dims;
        const wt = a.transpose_b?.b ? k : transpose2d(k);
        const ins = [xa.name, this.init(ref(node.input![1]), { dtype: 'float32', dims: [nout, nin], data: wt.data })];
        return this.fused(node, 'Gemm', ins, { transB: { type: 'int', value: 1 } }, args, 'flat');
      }
      case 'Conv2D':
      case '_FusedConv2D':
      case 'DepthwiseConv2dNative':
      case 'FusedDepthwiseConv2dNative': {
        const [x, w, ...args] = this.inputs(node);
        const xa = this.act(node, x);
        if (xa.layout !== 'nchw') this.fail(node, 'needs an image input');
        const format = str(a.data_format) ?? 'NHWC';
        if (format !== 'NHWC') this.fail(node, `data_format ${format} is not supported (NHWC only)`);
        const depthwise = node.op.includes('Depthwise');
        const k = this.constant(node, w, 'the filter');
        const [kh, kw, cin] = k.dims;
        const strides = ints(a.strides) ?? [1, 1, 1, 1];
        const dilations = ints(a.dilations) ?? [1, 1, 1, 1];
        const attributes: Node['attributes'] = {
          kernel_shape: { type: 'ints', value: [kh, kw] },
          strides: { type: 'ints', value: [strides[1], strides[2]] },
          dilations: { type: 'ints', value: [dilations[1], dilations[2]] },
          group: { type: 'int', value: depthwise ? cin : 1 },
          ...this.padding(node, a),
        };
        const ins = [xa.name, this.init(ref(node.input![1]), relayoutKernel(k, depthwise))];
        return this.fused(node, 'Conv', ins, attributes, args, 'nchw');
      }
      case 'BiasAdd':
      case 'Add':
      case 'AddV2':
      case 'Sub':
      case 'Mul':
      case 'RealDiv': {
        const opType = ({ BiasAdd: 'Add', Add: 'Add', AddV2: 'Add', Sub: 'Sub', Mul: 'Mul', RealDiv: 'Div' } as Record<string, string>)[node.op];
        const [p, q] = this.inputs(node);
        if (p.kind === 'act' && q.kind === 'act') {
          if (p.layout !== q.layout) this.fail(node, 'combines tensors of different ranks');
          return { kind: 'act', name: this.emit(opType, [p.name, q.name], {}, node.name), layout: p.layout };
        }
        const x = this.act(node, p.kind === 'act' ? p : q, 'one operand');
        const c = (p.kind === 'const' ? p : q) as Extract<Value, { kind: 'const' }>;
        if (opType === 'Add') return this.addBias(node, x, c, ref(node.input![p.kind === 'act' ? 0 : 1]));
        // A constant scale or shift (Keras's Rescaling and Normalization layers convert to these).
        const k = this.init(c.name, this.constFor(node, c.tensor, x.layout));
        return { kind: 'act', name: this.emit(opType, p.kind === 'act' ? [x.name, k] : [k, x.name], {}, node.name), layout: x.layout };
      }
      case 'Relu':
      case 'Relu6':
      case 'Sigmoid':
      case 'Tanh':
      case 'LeakyRelu':
      case 'Softmax': {
        const x = this.act(node, this.inputs(node)[0]);
        return { kind: 'act', name: this.activation(node, node.op, x, a.alpha?.f), layout: x.layout };
      }
      case 'MaxPool':
      case 'AvgPool': {
        const x = this.act(node, this.inputs(node)[0]);
        if (x.layout !== 'nchw') this.fail(node, 'needs an image input');
        if ((str(a.data_format) ?? 'NHWC') !== 'NHWC') this.fail(node, 'data_format must be NHWC');
        const ksize = ints(a.ksize) ?? [1, 1, 1, 1];
        const strides = ints(a.strides) ?? [1, 1, 1, 1];
        // TF's SAME average pooling divides by the in-bounds count, as ONNX AveragePool's default count_include_pad=0.
        const y = this.emit(node.op === 'MaxPool' ? 'MaxPool' : 'AveragePool', [x.name], {
          kernel_shape: { type: 'ints', value: [ksize[1], ksize[2]] },
          strides: { type: 'ints', value: [strides[1], strides[2]] },
          ...this.padding(node, a),
        }, node.name);
        return { kind: 'act', name: y, layout: 'nchw' };
      }
      case 'Mean': {
        const [xv, axesv] = this.inputs(node);
        const x = this.act(node, xv);
        const axes = [...this.constant(node, axesv, 'the axes').data].map((v) => (Number(v) + 4) % 4).sort();
        if (x.layout !== 'nchw' || axes.join() !== '1,2') this.fail(node, `a mean over axes [${axes}] (only the spatial mean over H and W, global average pooling, is supported)`);
        const g = this.emit('GlobalAveragePool', [x.name], {}, node.name);
        if (a.keep_dims?.b) return { kind: 'act', name: g, layout: 'nchw' };
        return { kind: 'act', name: this.emit('Flatten', [g], { axis: { type: 'int', value: 1 } }, `${node.name}/flatten`), layout: 'flat' };
      }
      case 'Squeeze': {
        const x = this.act(node, this.inputs(node)[0]);
        const dims = (ints(a.squeeze_dims) ?? ints(a.axis) ?? []).map((d) => (d + 4) % 4).sort();
        if (x.layout !== 'nchw' || dims.join() !== '1,2') this.fail(node, `squeezing axes [${dims}] (only the 1×1 spatial axes after pooling are supported)`);
        return { kind: 'act', name: this.emit('Flatten', [x.name], { axis: { type: 'int', value: 1 } }, node.name), layout: 'flat' };
      }
      case 'Reshape': {
        const [xv, sv] = this.inputs(node);
        const x = this.act(node, xv);
        const shape = [...this.constant(node, sv, 'the shape').data].map(Number);
        if (shape.length !== 2) this.fail(node, `a reshape to [${shape}] (only flattening to [batch, features] is supported)`);
        if (x.layout === 'flat') return x;
        // TF flattens NHWC in (H, W, C) order: back to NHWC first so the next kernel's rows apply as stored.
        const t = this.emit('Transpose', [x.name], { perm: { type: 'ints', value: [0, 2, 3, 1] } }, `${node.name}/to_nhwc`);
        return { kind: 'act', name: this.emit('Flatten', [t], { axis: { type: 'int', value: 1 } }, node.name), layout: 'flat' };
      }
      case 'ConcatV2': {
        const all = this.inputs(node);
        const axisT = this.constant(node, all.pop(), 'the axis (last input)');
        const parts = all.map((v) => this.act(node, v, 'every concatenated tensor'));
        const layout = parts[0].layout;
        if (parts.some((p) => p.layout !== layout)) this.fail(node, 'concatenates tensors of different ranks');
        const axis = Number(axisT.data[0]);
        const onnxAxis = layout === 'nchw' ? [0, 2, 3, 1][(axis + 4) % 4] : (axis + 2) % 2;
        return { kind: 'act', name: this.emit('Concat', parts.map((p) => p.name), { axis: { type: 'int', value: onnxAxis } }, node.name), layout };
      }
      case 'FusedBatchNorm':
      case 'FusedBatchNormV3': {
        const [xv, scale, offset, mean, variance] = this.inputs(node);
        const x = this.act(node, xv);
        if (a.is_training?.b) this.fail(node, 'is_training is set (an inference graph is needed)');
        const slot = (v: Value | undefined, what: string, i: number) => this.init(ref(node.input![i]), this.constant(node, v, what));
        const y = this.emit('BatchNormalization', [x.name, slot(scale, 'scale', 1), slot(offset, 'offset', 2), slot(mean, 'mean', 3), slot(variance, 'variance', 4)], {
          epsilon: { type: 'float', value: a.epsilon?.f ?? 1e-3 },
        }, node.name);
        return { kind: 'act', name: y, layout: x.layout };
      }
      default:
        return this.fail(node, `op ${node.op} is not supported by the TensorFlow.js graph-model loader (it maps ${GRAPH_OPS.join(', ')})`);
    }
  }

  private padding(node: GraphNodeJson, a: Record<string, AttrValue>): Node['attributes'] {
    const p = str(a.padding) ?? 'VALID';
    if (p === 'SAME') return { auto_pad: { type: 'string', value: 'SAME_UPPER' } };
    if (p === 'VALID') return { auto_pad: { type: 'string', value: 'VALID' } };
    if (p === 'EXPLICIT') {
      // explicit_paddings: [before, after] per NHWC axis → ONNX pads [top, left, bottom, right].
      const e = ints(a.explicit_paddings) ?? [];
      return { pads: { type: 'ints', value: [e[2], e[4], e[3], e[5]] } };
    }
    return this.fail(node, `padding '${p}'`);
  }

  /** Conv/Gemm with the converter's fused_ops applied after it: BiasAdd (first extra input), then one activation. */
  private fused(node: GraphNodeJson, opType: string, ins: string[], attributes: Node['attributes'], args: Value[], layout: ActivationLayout): Value {
    const ops = (node.attr?.fused_ops?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));
    let rest = ops;
    if (ops[0] === 'BiasAdd') {
      ins.push(this.init(ref(node.input![2]), this.constant(node, args[0], 'the fused bias')));
      rest = ops.slice(1);
    }
    if (rest.length > 1 || (rest.length === 1 && !['Relu', 'Relu6', 'Sigmoid', 'Tanh', 'LeakyRelu'].includes(rest[0]))) this.fail(node, `fused ops [${ops.join(', ')}] are not supported`);
    let y = this.emit(opType, ins, attributes, node.name);
    if (rest.length) y = this.activation(node, rest[0], { kind: 'act', name: y, layout }, node.attr?.leakyrelu_alpha?.f);
    return { kind: 'act', name: y, layout };
  }

  private activation(node: GraphNodeJson, op: string, x: Extract<Value, { kind: 'act' }>, alpha?: number): string {
    switch (op) {
      case 'Relu':
      case 'Sigmoid':
      case 'Tanh':
        return this.emit(op, [x.name], {}, `${node.name}/${op.toLowerCase()}`);
      case 'LeakyRelu':
        return this.emit('LeakyRelu', [x.name], { alpha: { type: 'float', value: alpha ?? 0.2 } }, `${node.name}/leakyrelu`);
      case 'Relu6': {
        // min(max(x, 0), 6) = Relu(x) − Relu(x − 6): exact, and built from ops both engines differentiate.
        const six = this.init(`${node.name}/six`, { dtype: 'float32', dims: [], data: Float32Array.of(6) });
        const r = this.emit('Relu', [x.name], {}, `${node.name}/relu`);
        const shifted = this.emit('Relu', [this.emit('Sub', [x.name, six], {}, `${node.name}/minus6`)], {}, `${node.name}/relu_minus6`);
        return this.emit('Sub', [r, shifted], {}, `${node.name}/relu6`);
      }
      case 'Softmax':
        return this.emit('Softmax', [x.name], { axis: { type: 'int', value: x.layout === 'nchw' ? 1 : -1 } }, node.name);
      default:
        return this.fail(node, `activation ${op} is not supported`);
    }
  }

  /** x + bias: folded into the Conv/Gemm that computed x when that op has no bias and x feeds nothing else. */
  private addBias(node: GraphNodeJson, x: Extract<Value, { kind: 'act' }>, c: Extract<Value, { kind: 'const' }>, xNode: string): Value {
    const producer = this.nodes.find((n) => n.outputs[0] === x.name);
    const channels = c.tensor.dims.length === 1 ? c.tensor.dims[0] : -1;
    const readElsewhere = this.nodes.some((n) => n.inputs.includes(x.name)) || (this.consumers.get(xNode) ?? 0) !== 1;
    if (producer && (producer.opType === 'Conv' || producer.opType === 'Gemm') && producer.inputs.length === 2 && channels > 0 && !readElsewhere) {
      producer.inputs.push(this.init(c.name, c.tensor));
      return x;
    }
    return { kind: 'act', name: this.emit('Add', [x.name, this.init(c.name, this.constFor(node, c.tensor, x.layout))], {}, node.name), layout: x.layout };
  }

  /** A constant that broadcasts against an NHWC tensor, re-laid out to broadcast the same way against NCHW. */
  private constFor(node: GraphNodeJson, t: Tensor, layout: ActivationLayout): Tensor {
    if (layout === 'flat' || t.dims.length === 0 || t.dims.every((d) => d === 1)) return t;
    if (t.dims.length === 1) return { ...t, dims: [t.dims[0], 1, 1] }; // per channel: [C] → [C, 1, 1]
    if (t.dims.length === 3 || t.dims.length === 4) {
      // [(N,) H, W, C] → [(N,) C, H, W]
      const lead = t.dims.length === 4 ? [t.dims[0]] : [];
      const [h, w, ch] = t.dims.slice(-3);
      const n = lead[0] ?? 1;
      const src = t.data as Float32Array;
      const out = new Float32Array(src.length);
      for (let b = 0; b < n; b++) for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) for (let k = 0; k < ch; k++) out[((b * ch + k) * h + i) * w + j] = src[((b * h + i) * w + j) * ch + k];
      return { dtype: 'float32', dims: [...lead, ch, h, w], data: out };
    }
    return this.fail(node, `a constant of shape [${t.dims}] broadcast against an image tensor`);
  }
}

/** 'conv1/Conv2D:0' → 'conv1/Conv2D'; '^dep' control inputs are skipped by the callers. */
function ref(input: string): string {
  return input.replace(/^\^/, '').replace(/:\d+$/, '');
}

function str(v: AttrValue | undefined): string | undefined {
  return v?.s === undefined ? undefined : Buffer.from(v.s, 'base64').toString('utf8');
}

function ints(v: AttrValue | undefined): number[] | undefined {
  return v?.list?.i?.map(Number);
}

function transpose2d(k: Tensor): Tensor {
  const [r, c] = k.dims;
  const src = k.data as Float32Array;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = src[i * c + j];
  return { dtype: 'float32', dims: [c, r], data: out };
}

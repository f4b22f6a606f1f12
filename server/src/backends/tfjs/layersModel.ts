// A TensorFlow.js layers model (Keras modelTopology: Sequential or functional Model) → IR, re-laid out for ONNX
// semantics: NHWC → NCHW activations, HWIO → OIHW kernels, Dense kernels as Gemm [out, in] with transB, so both
// engines analyse it natively. A trailing softmax is dropped: the analysis takes the cross-entropy on logits
// (I2F.md, "The loss"). A layer saved with `trainable: false` (Keras transfer learning: `base.trainable = False`) keeps
// its weights in the graph as frozen parameters (graph/parameters.ts): training shares no gradient of theirs.

import { UserError } from '../../errors';
import type { Graph, Model, Node, Tensor } from '../../graph/ir';
import { FROZEN_PARAMETERS_KEY } from '../../graph/parameters';
import { relayoutKernel, type ActivationLayout } from './layout';

export interface LayerJson {
  class_name: string;
  config: Record<string, unknown> & { name?: string };
  name?: string;
  inbound_nodes?: unknown[];
}

type Layout = ActivationLayout;

export class LayersBuilder {
  private readonly nodes: Node[] = [];
  private readonly inits = new Map<string, Tensor>();
  /** Initialisers of layers saved with `trainable: false`. */
  private readonly frozen: string[] = [];
  private readonly layout = new Map<string, { layout: Layout; rank: number }>();
  private inputDims: (number | string)[] = [];
  private counter = 0;

  constructor(private readonly file: string, private readonly weights: Map<string, Tensor>) {}

  build(modelConfig: { class_name: string; config: unknown }): Model {
    try {
      return this.buildUnchecked(modelConfig);
    } catch (e) {
      throw this.malformed(e, "model.json's modelTopology");
    }
  }

  /**
   * The topology is the user's JSON, read field by field on trust: a field of the wrong type (null, a number where a
   * list belongs) surfaces as a TypeError or RangeError somewhere below. Those become a located corrupt-model error;
   * anything else is ours and stays as it is.
   */
  private malformed(e: unknown, where: string): unknown {
    if (!(e instanceof TypeError || e instanceof RangeError)) return e;
    return new UserError('corrupt-model', `${where} is malformed: ${e.message}`, { file: this.file });
  }

  private buildUnchecked(modelConfig: { class_name: string; config: unknown }): Model {
    const cls = modelConfig.class_name;
    const cfg = modelConfig.config as { layers?: LayerJson[]; input_layers?: unknown[][]; output_layers?: unknown[][] } | LayerJson[];
    const layers: LayerJson[] = Array.isArray(cfg) ? cfg : (cfg.layers ?? []);
    let output: string;
    if (cls === 'Sequential') {
      let x = 'input';
      layers.forEach((layer, i) => {
        if (i === 0 || layer.class_name === 'InputLayer') this.declareInput(layer, i === 0 && layer.class_name !== 'InputLayer');
        if (layer.class_name === 'InputLayer') return;
        x = this.layer(layer, [x], i === layers.length - 1);
      });
      output = x;
    } else if (cls === 'Model' || cls === 'Functional') {
      const values = new Map<string, string>();
      const outName = ((cfg as { output_layers: unknown[][] }).output_layers[0][0]) as string;
      for (const layer of layers) {
        const name = layer.name ?? layer.config.name!;
        if (layer.class_name === 'InputLayer') {
          this.declareInput(layer, false);
          values.set(name, 'input');
          continue;
        }
        const inbound = ((layer.inbound_nodes ?? [])[0] ?? []) as unknown[][];
        const inputs = inbound.map((e) => {
          const v = values.get(e[0] as string);
          if (!v) throw new UserError('unsupported-model', `layer '${name}' reads '${e[0]}', which is not computed before it (or is shared)`, { file: this.file });
          return v;
        });
        values.set(name, this.layer(layer, inputs, name === outName));
      }
      output = values.get(outName)!;
    } else {
      throw new UserError('unsupported-model', `model class '${cls}' (expected Sequential or Model)`, { file: this.file });
    }
    const graph: Graph = {
      name: 'tfjs',
      nodes: this.nodes,
      initializers: this.inits,
      inputs: [{ name: 'input', dtype: 'float32', dims: this.inputDims }],
      outputs: [{ name: output, dtype: 'float32', dims: [] }],
    };
    const frozen = this.frozen.length ? { metadataProps: { [FROZEN_PARAMETERS_KEY]: JSON.stringify(this.frozen) } } : {};
    return { graph, opsets: [{ domain: '', version: 13 }], producerName: 'tfjs-layers', producerVersion: '', irVersion: 8, ...frozen };
  }

  private declareInput(layer: LayerJson, fromFirstLayer: boolean): void {
    const shape = (layer.config.batch_input_shape ?? layer.config.batchInputShape) as (number | null)[] | undefined;
    if (!shape) throw new UserError('unsupported-model', `${fromFirstLayer ? 'the first layer' : `input layer '${layer.config.name}'`} declares no batch_input_shape`, { file: this.file });
    const rest = shape.slice(1).map((d, i) => {
      if (typeof d !== 'number') throw new UserError('dynamic-shape', `input dimension ${i + 1} is not static; the analysis needs a fixed input size`, { file: this.file });
      return d;
    });
    if (rest.length === 3) {
      // NHWC in the file; NCHW in the IR (inputs, J u and Jᵀ v are laid out channel-first).
      this.inputDims = ['batch', rest[2], rest[0], rest[1]];
      this.layout.set('input', { layout: 'nchw', rank: 4 });
    } else if (rest.length === 1) {
      this.inputDims = ['batch', rest[0]];
      this.layout.set('input', { layout: 'flat', rank: 2 });
    } else throw new UserError('unsupported-model', `input of rank ${rest.length + 1}: only images [H, W, C] and vectors are supported`, { file: this.file });
  }

  private fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  private emit(opType: string, inputs: string[], attributes: Node['attributes'] = {}, name?: string, like?: string): string {
    const out = this.fresh(name ?? opType);
    this.nodes.push({ name: name ?? out, opType, domain: '', inputs, outputs: [out], attributes });
    if (like) this.layout.set(out, this.layout.get(like)!);
    return out;
  }

  private weight(layer: string, key: string): Tensor {
    const exact = this.weights.get(`${layer}/${key}`);
    const found = exact ?? [...this.weights.entries()].find(([n]) => n.startsWith(`${layer}/`) && n.endsWith(`/${key}`))?.[1];
    if (!found) throw new UserError('missing-weights', `layer '${layer}' needs a weight '${layer}/${key}', which no shard holds`, { file: this.file });
    return found;
  }

  private init(name: string, t: Tensor): string {
    this.inits.set(name, t);
    return name;
  }

  private activation(kind: unknown, x: string, layerName: string, last: boolean): string {
    switch (kind ?? 'linear') {
      case 'linear':
        return x;
      case 'relu':
        return this.emit('Relu', [x], {}, `${layerName}/relu`, x);
      case 'relu6':
        return this.clippedRelu(x, 6, `${layerName}/relu6`);
      case 'sigmoid':
        return this.emit('Sigmoid', [x], {}, `${layerName}/sigmoid`, x);
      case 'tanh':
        return this.emit('Tanh', [x], {}, `${layerName}/tanh`, x);
      case 'softmax':
        if (last) return x; // the loss takes logits
        return this.emit('Softmax', [x], { axis: { type: 'int', value: this.layout.get(x)!.layout === 'nchw' ? 1 : -1 } }, `${layerName}/softmax`, x);
      default:
        throw new UserError('unsupported-op', `activation '${kind}' of layer '${layerName}' is not supported`, { file: this.file, node: layerName });
    }
  }

  /** min(max(x, 0), m) = Relu(x) − Relu(x − m): exact, and built from ops both engines differentiate. */
  private clippedRelu(x: string, m: number, name: string): string {
    const cap = this.init(`${name}/max_value`, { dtype: 'float32', dims: [], data: Float32Array.of(m) });
    const r = this.emit('Relu', [x], {}, `${name}/relu`, x);
    const over = this.emit('Relu', [this.emit('Sub', [x, cap], {}, `${name}/minus_max`, x)], {}, `${name}/relu_over`, x);
    return this.emit('Sub', [r, over], {}, name, x);
  }

  private layer(layer: LayerJson, inputs: string[], last: boolean): string {
    try {
      const before = new Set(this.inits.keys());
      const out = this.layerUnchecked(layer, inputs, last);
      if (layer.config?.trainable === false) for (const k of this.inits.keys()) if (!before.has(k)) this.frozen.push(k);
      return out;
    } catch (e) {
      const name = layer?.config?.name ?? layer?.name;
      throw this.malformed(e, `layer ${typeof name === 'string' ? `'${name}' ` : ''}(${String(layer?.class_name)}) of model.json`);
    }
  }

  private layerUnchecked(layer: LayerJson, inputs: string[], last: boolean): string {
    const c = layer.config;
    const name = (c.name as string) ?? layer.name ?? this.fresh(layer.class_name);
    const x = inputs[0];
    const lay = this.layout.get(x);
    const ints = (v: unknown, n = 2) => (Array.isArray(v) ? (v as number[]) : Array(n).fill(v as number));
    const padding = (p: unknown) => ({ type: 'string' as const, value: p === 'same' ? 'SAME_UPPER' : 'VALID' });
    switch (layer.class_name) {
      case 'Dense': {
        if (lay?.layout !== 'flat') throw new UserError('unsupported-op', `Dense layer '${name}' on a ${lay?.rank}-D input (flatten first)`, { file: this.file, node: name });
        const k = this.weight(name, 'kernel');
        const [nin, nout] = k.dims;
        const wt = new Float32Array(nin * nout);
        const src = k.data as Float32Array;
        for (let i = 0; i < nin; i++) for (let o = 0; o < nout; o++) wt[o * nin + i] = src[i * nout + o];
        const ins = [x, this.init(`${name}/kernel`, { dtype: 'float32', dims: [nout, nin], data: wt })];
        if (c.use_bias !== false) ins.push(this.init(`${name}/bias`, this.weight(name, 'bias')));
        const y = this.emit('Gemm', ins, { transB: { type: 'int', value: 1 } }, name, x);
        return this.activation(c.activation, y, name, last);
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        if (lay?.layout !== 'nchw') throw new UserError('unsupported-op', `${layer.class_name} layer '${name}' needs an image input`, { file: this.file, node: name });
        if (c.data_format === 'channels_first') throw new UserError('unsupported-op', `layer '${name}': data_format channels_first is not supported`, { file: this.file, node: name });
        const depthwise = layer.class_name === 'DepthwiseConv2D';
        const k = this.weight(name, depthwise ? 'depthwise_kernel' : 'kernel');
        const [kh, kw, cin] = k.dims;
        const ins = [x, this.init(`${name}/${depthwise ? 'depthwise_kernel' : 'kernel'}`, relayoutKernel(k, depthwise))];
        if (c.use_bias !== false) ins.push(this.init(`${name}/bias`, this.weight(name, 'bias')));
        const y = this.emit('Conv', ins, {
          kernel_shape: { type: 'ints', value: [kh, kw] },
          strides: { type: 'ints', value: ints(c.strides ?? 1) },
          dilations: { type: 'ints', value: ints(c.dilation_rate ?? 1) },
          auto_pad: padding(c.padding),
          group: { type: 'int', value: depthwise ? cin : 1 },
        }, name, x);
        return this.activation(c.activation, y, name, last);
      }
      case 'Activation':
        return this.activation(c.activation, x, name, last);
      case 'ReLU': {
        // Keras ReLU(max_value, negative_slope, threshold): MobileNets use max_value 6; ignoring any of them would
        // analyse another function than the model computes.
        const max = c.max_value ?? c.maxValue;
        const slope = (c.negative_slope ?? c.negativeSlope ?? 0) as number;
        const threshold = (c.threshold ?? 0) as number;
        if (threshold !== 0 || slope !== 0) {
          throw new UserError('unsupported-op', `ReLU layer '${name}' with threshold ${threshold} and negative_slope ${slope}: only max_value is supported (use LeakyReLU for a slope)`, { file: this.file, node: name, op: 'ReLU' });
        }
        return max != null ? this.clippedRelu(x, max as number, name) : this.emit('Relu', [x], {}, name, x);
      }
      case 'LeakyReLU':
        return this.emit('LeakyRelu', [x], { alpha: { type: 'float', value: (c.alpha as number) ?? 0.3 } }, name, x);
      case 'Softmax':
        return this.activation('softmax', x, name, last);
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const pool = ints(c.pool_size ?? 2);
        return this.emit(layer.class_name === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x], {
          kernel_shape: { type: 'ints', value: pool },
          strides: { type: 'ints', value: ints(c.strides ?? pool) },
          auto_pad: padding(c.padding),
        }, name, x);
      }
      case 'GlobalAveragePooling2D': {
        const g = this.emit('GlobalAveragePool', [x], {}, name);
        const y = this.emit('Flatten', [g], { axis: { type: 'int', value: 1 } }, `${name}/flatten`);
        this.layout.set(y, { layout: 'flat', rank: 2 });
        return y;
      }
      case 'Flatten': {
        // Keras flattens NHWC in (H, W, C) order: transpose back before flattening so Dense kernels apply as stored.
        const src = lay?.layout === 'nchw' ? this.emit('Transpose', [x], { perm: { type: 'ints', value: [0, 2, 3, 1] } }, `${name}/to_nhwc`) : x;
        const y = this.emit('Flatten', [src], { axis: { type: 'int', value: 1 } }, name);
        this.layout.set(y, { layout: 'flat', rank: 2 });
        return y;
      }
      case 'Dropout':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
        return x;
      case 'BatchNormalization': {
        const eps = (c.epsilon as number) ?? 1e-3;
        const mean = this.weight(name, 'moving_mean');
        const ones = (n: number) => ({ dtype: 'float32' as const, dims: [n], data: new Float32Array(n).fill(1) });
        const zeros = (n: number) => ({ dtype: 'float32' as const, dims: [n], data: new Float32Array(n) });
        const n = mean.dims[0];
        const gamma = c.scale === false ? ones(n) : this.weight(name, 'gamma');
        const beta = c.center === false ? zeros(n) : this.weight(name, 'beta');
        return this.emit('BatchNormalization', [
          x,
          this.init(`${name}/gamma`, gamma),
          this.init(`${name}/beta`, beta),
          this.init(`${name}/moving_mean`, mean),
          this.init(`${name}/moving_variance`, this.weight(name, 'moving_variance')),
        ], { epsilon: { type: 'float', value: eps } }, name, x);
      }
      case 'Add':
        return inputs.slice(1).reduce((acc, v, i) => this.emit('Add', [acc, v], {}, i ? `${name}_${i}` : name, x), x);
      case 'Multiply':
        return inputs.slice(1).reduce((acc, v, i) => this.emit('Mul', [acc, v], {}, i ? `${name}_${i}` : name, x), x);
      case 'Average': {
        const sum = inputs.slice(1).reduce((acc, v, i) => this.emit('Add', [acc, v], {}, `${name}/add_${i}`, x), x);
        const inv = this.init(`${name}/inverse_count`, { dtype: 'float32', dims: [], data: Float32Array.of(1 / inputs.length) });
        return this.emit('Mul', [sum, inv], {}, name, x);
      }
      case 'Rescaling': {
        // x·scale + offset (Keras preprocessing: a constant, not a weight; scalars, so no re-layout).
        const scale = this.init(`${name}/scale`, { dtype: 'float32', dims: [], data: Float32Array.of((c.scale as number) ?? 1) });
        const offset = this.init(`${name}/offset`, { dtype: 'float32', dims: [], data: Float32Array.of((c.offset as number) ?? 0) });
        return this.emit('Add', [this.emit('Mul', [x, scale], {}, `${name}/scale`, x), offset], {}, name, x);
      }
      case 'ZeroPadding2D': {
        if (lay?.layout !== 'nchw') throw new UserError('unsupported-op', `ZeroPadding2D layer '${name}' needs an image input`, { file: this.file, node: name });
        if (c.data_format === 'channels_first') throw new UserError('unsupported-op', `layer '${name}': data_format channels_first is not supported`, { file: this.file, node: name });
        // padding: n, [h, w] or [[top, bottom], [left, right]] → ONNX pads [0, 0, top, left, 0, 0, bottom, right].
        const p = c.padding ?? 1;
        const [[t, b], [l, r]] = typeof p === 'number' ? [[p, p], [p, p]] : (p as unknown[]).map((v) => (Array.isArray(v) ? v : [v, v])) as number[][];
        const pads = this.init(`${name}/pads`, { dtype: 'int64', dims: [8], data: BigInt64Array.from([0, 0, t, l, 0, 0, b, r].map(BigInt)) });
        return this.emit('Pad', [x, pads], { mode: { type: 'string', value: 'constant' } }, name, x);
      }
      case 'Concatenate': {
        const axis = (c.axis as number) ?? -1;
        const onnxAxis = lay?.layout === 'nchw' ? (axis === -1 || axis === 3 ? 1 : axis === 1 ? 2 : axis === 2 ? 3 : 0) : axis;
        return this.emit('Concat', inputs, { axis: { type: 'int', value: onnxAxis } }, name, x);
      }
      default:
        throw new UserError('unsupported-op', `layer '${name}' of class ${layer.class_name} is not supported by the tfjs loader`, { file: this.file, node: name, op: layer.class_name });
    }
  }
}

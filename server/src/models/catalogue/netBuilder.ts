// Writes a PyTorch module tree as an IR graph the way torch.onnx.export would with BatchNorm kept apart
// (training=PRESERVE, no constant folding): every parameter an initialiser named as `named_parameters` names it,
// BatchNorm as BatchNormalization with its running statistics as non-θ initialisers, and weights drawn from the
// distributions PyTorch (or the model family's own init code) uses, from a seed.

import type { AttributeValue, Model, Node, Tensor } from '../../graph/ir';
import { sizeOf } from '../../graph/ir';
import { Random } from '../../engine/random';
import type { ArchitectureShape } from './architecture';

/** How a weight tensor is first drawn, as the family's `__init__` / `reset_parameters` does. */
export type Init =
  /** nn.Conv2d / nn.Linear default: kaiming_uniform_(a=√5), i.e. U(−1/√fan_in, 1/√fan_in); their bias alike. */
  | { kind: 'torch-default' }
  /** kaiming_normal_(mode, nonlinearity='relu'): N(0, 2/fan). */
  | { kind: 'kaiming-normal'; mode: 'fan_in' | 'fan_out' }
  | { kind: 'normal'; std: number }
  | { kind: 'uniform'; bound: number }
  | { kind: 'constant'; value: number };

export interface ConvSpec {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  bias?: boolean;
  weightInit?: Init;
  /** Bias init (default: the layer default U(−1/√fan_in, 1/√fan_in), or zeros where the family zeroes it). */
  biasInit?: Init;
}

/** A value in the graph with its static shape (batch axis first, symbolic). */
export interface Value {
  name: string;
  /** Per-example dims (without the batch axis). */
  dims: number[];
}

export class NetBuilder {
  readonly nodes: Node[] = [];
  readonly initializers = new Map<string, Tensor>();
  private counter = 0;
  private readonly rng: Random;

  /**
   * `normalisation: 'groupnorm'` writes every batchNorm() as nn.GroupNorm(gcd(32, C), C) under the same names, as
   * Opacus' ModuleValidator.fix replaces each BatchNorm before DP training (opacus/validators/batch_norm.py, since
   * Opacus 1.1; before it min(32, C), the same for every ResNet width, 64·2^k).
   */
  constructor(seed: number, private readonly normalisation: ArchitectureShape['normalisation'] = undefined) {
    this.rng = new Random(seed);
  }

  private fresh(op: string): string {
    return `/${op}_${this.counter++}`;
  }

  node(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, outputs = 1): string[] {
    const name = this.fresh(opType);
    const outs = Array.from({ length: outputs }, (_, i) => `${name}_output_${i}`);
    this.nodes.push({ name, opType, domain: '', inputs, outputs: outs, attributes });
    return outs;
  }

  /** A constant initialiser the exporter would name `onnx::…`: never θ. */
  constant(values: number[], dims: number[] = [values.length], dtype: 'float32' | 'int64' = 'float32'): string {
    const name = `onnx::Constant_${this.counter++}`;
    this.initializers.set(name, dtype === 'int64'
      ? { dtype, dims, data: BigInt64Array.from(values, (v) => BigInt(v)) }
      : { dtype, dims, data: Float32Array.from(values) });
    return name;
  }

  /** A named float initialiser drawn from `init`; fanIn/fanOut as torch.nn.init computes them. */
  parameter(name: string, dims: number[], init: Init, fan: { in: number; out: number }): string {
    const n = sizeOf(dims);
    const data = new Float32Array(n);
    switch (init.kind) {
      case 'constant':
        data.fill(init.value);
        break;
      case 'torch-default':
      case 'uniform': {
        const bound = init.kind === 'uniform' ? init.bound : 1 / Math.sqrt(fan.in);
        for (let i = 0; i < n; i++) data[i] = (2 * this.rng.uniform() - 1) * bound;
        break;
      }
      case 'kaiming-normal':
      case 'normal': {
        const std = init.kind === 'normal' ? init.std : Math.sqrt(2 / (init.mode === 'fan_in' ? fan.in : fan.out));
        for (let i = 0; i < n; i++) data[i] = this.rng.normal() * std;
        break;
      }
    }
    this.initializers.set(name, { dtype: 'float32', dims, data });
    return name;
  }

  conv(prefix: string, x: Value, s: ConvSpec): Value {
    const groups = s.groups ?? 1;
    const k = s.kernel;
    const stride = s.stride ?? 1;
    const pad = s.padding ?? 0;
    const dil = s.dilation ?? 1;
    const fanIn = (s.inChannels / groups) * k * k;
    // torch.nn.init's fans come from the weight's shape [out, in/groups, k, k]: fan_out is not divided by groups.
    const fanOut = s.outChannels * k * k;
    if (x.dims[0] !== s.inChannels) throw new Error(`${prefix}: expects ${s.inChannels} channels, got ${x.dims[0]}`);
    const w = this.parameter(`${prefix}.weight`, [s.outChannels, s.inChannels / groups, k, k], s.weightInit ?? { kind: 'torch-default' }, { in: fanIn, out: fanOut });
    const inputs = [x.name, w];
    if (s.bias) inputs.push(this.parameter(`${prefix}.bias`, [s.outChannels], s.biasInit ?? { kind: 'uniform', bound: 1 / Math.sqrt(fanIn) }, { in: fanIn, out: fanOut }));
    const [y] = this.node('Conv', inputs, {
      dilations: ints([dil, dil]), group: int(groups), kernel_shape: ints([k, k]), pads: ints([pad, pad, pad, pad]), strides: ints([stride, stride]),
    });
    const out = (d: number) => Math.floor((d + 2 * pad - dil * (k - 1) - 1) / stride) + 1;
    return { name: y, dims: [s.outChannels, out(x.dims[1]), out(x.dims[2])] };
  }

  /** nn.BatchNorm2d in eval mode: weight 1, bias 0, running mean 0, running var 1 (PyTorch's reset_parameters). */
  batchNorm(prefix: string, x: Value, eps = 1e-5, momentum = 0.1): Value {
    const c = x.dims[0];
    if (this.normalisation === 'groupnorm') {
      // Opacus' GroupNorm keeps nn.GroupNorm's own ε (1e-5), not the BatchNorm's; gcd(32, C) always divides C.
      const groups = gcd(32, c);
      return this.groupNorm(prefix, x, groups, 'channel');
    }
    const fan = { in: c, out: c };
    const scale = this.parameter(`${prefix}.weight`, [c], { kind: 'constant', value: 1 }, fan);
    const bias = this.parameter(`${prefix}.bias`, [c], { kind: 'constant', value: 0 }, fan);
    const mean = this.parameter(`${prefix}.running_mean`, [c], { kind: 'constant', value: 0 }, fan);
    const variance = this.parameter(`${prefix}.running_var`, [c], { kind: 'constant', value: 1 }, fan);
    const [y] = this.node('BatchNormalization', [x.name, scale, bias, mean, variance], { epsilon: float(eps), momentum: float(1 - momentum) });
    return { name: y, dims: x.dims };
  }

  /**
   * Group normalisation written with elementwise ops: per example and group of consecutive channels,
   * (x − mean) / √(var + ε) with the biased variance, then an affine weight and bias (θ). `affine: 'channel'` is
   * nn.GroupNorm (weight [C]); `'group'` is FedML's GroupNorm2d, a BatchNorm over C/groups features run on the
   * grouped view, whose weight and bias are one per group ([groups]).
   */
  groupNorm(prefix: string, x: Value, groups: number, affine: 'channel' | 'group', eps = 1e-5): Value {
    const [c, h, w] = x.dims;
    const grouped = this.reshape(x, [groups, (c / groups) * h * w]);
    const [mean] = this.node('ReduceMean', [grouped.name], { axes: ints([2]), keepdims: int(1) });
    const [centred] = this.node('Sub', [grouped.name, mean]);
    const [sq] = this.node('Mul', [centred, centred]);
    const [variance] = this.node('ReduceMean', [sq], { axes: ints([2]), keepdims: int(1) });
    const [shifted] = this.node('Add', [variance, this.constant([eps], [])]);
    const [std] = this.node('Sqrt', [shifted]);
    const [normed] = this.node('Div', [centred, std]);
    const n = affine === 'channel' ? c : groups;
    const fan = { in: n, out: n };
    // θ keeps named_parameters' shape [n]; a reshape broadcasts it over the pixels (or the group's entries).
    const shape = affine === 'channel' ? [c, 1, 1] : [groups, 1];
    const weight = this.reshape({ name: this.parameter(`${prefix}.weight`, [n], { kind: 'constant', value: 1 }, fan), dims: [n] }, shape, false);
    const bias = this.reshape({ name: this.parameter(`${prefix}.bias`, [n], { kind: 'constant', value: 0 }, fan), dims: [n] }, shape, false);
    let y: string;
    if (affine === 'group') {
      const [scaled] = this.node('Mul', [normed, weight.name]);
      [y] = this.node('Add', [scaled, bias.name]);
      return this.reshape({ name: y, dims: grouped.dims }, [c, h, w]);
    }
    const back = this.reshape({ name: normed, dims: grouped.dims }, [c, h, w]);
    const [scaled] = this.node('Mul', [back.name, weight.name]);
    [y] = this.node('Add', [scaled, bias.name]);
    return { name: y, dims: x.dims };
  }

  /** Overwrites a parameter's values (a family's init that sets some tensors apart, e.g. zeroed last norms). */
  fill(name: string, value: number): void {
    (this.initializers.get(name)!.data as Float32Array).fill(value);
  }

  linear(prefix: string, x: Value, inFeatures: number, outFeatures: number, weightInit: Init = { kind: 'torch-default' }, biasInit?: Init): Value {
    if (x.dims.length !== 1 || x.dims[0] !== inFeatures) throw new Error(`${prefix}: expects ${inFeatures} features, got [${x.dims}]`);
    const fan = { in: inFeatures, out: outFeatures };
    const w = this.parameter(`${prefix}.weight`, [outFeatures, inFeatures], weightInit, fan);
    const b = this.parameter(`${prefix}.bias`, [outFeatures], biasInit ?? { kind: 'uniform', bound: 1 / Math.sqrt(inFeatures) }, fan);
    const [y] = this.node('Gemm', [x.name, w, b], { alpha: float(1), beta: float(1), transB: int(1) });
    return { name: y, dims: [outFeatures] };
  }

  relu(x: Value): Value {
    return { name: this.node('Relu', [x.name])[0], dims: x.dims };
  }

  /** nn.ReLU6 as the exporter writes it (opset ≥ 11): Clip with min and max inputs. */
  relu6(x: Value): Value {
    return { name: this.node('Clip', [x.name, this.constant([0], []), this.constant([6], [])])[0], dims: x.dims };
  }

  sigmoid(x: Value): Value {
    return { name: this.node('Sigmoid', [x.name])[0], dims: x.dims };
  }

  /** nn.SiLU as the exporter writes it: x · σ(x). */
  silu(x: Value): Value {
    const s = this.sigmoid(x);
    return this.mul(x, s);
  }

  /** nn.Hardsigmoid: ONNX HardSigmoid with PyTorch's α = 1/6, β = 1/2. */
  hardSigmoid(x: Value): Value {
    return { name: this.node('HardSigmoid', [x.name], { alpha: float(1 / 6), beta: float(0.5) })[0], dims: x.dims };
  }

  hardSwish(x: Value): Value {
    return { name: this.node('HardSwish', [x.name])[0], dims: x.dims };
  }

  add(a: Value, b: Value): Value {
    return { name: this.node('Add', [a.name, b.name])[0], dims: a.dims };
  }

  /** Broadcasting product ([C,H,W] × [C,1,1] in squeeze-excitation). */
  mul(a: Value, b: Value): Value {
    return { name: this.node('Mul', [a.name, b.name])[0], dims: a.dims.length >= b.dims.length ? a.dims : b.dims };
  }

  concat(parts: Value[]): Value {
    const [y] = this.node('Concat', parts.map((p) => p.name), { axis: int(1) });
    return { name: y, dims: [parts.reduce((n, p) => n + p.dims[0], 0), ...parts[0].dims.slice(1)] };
  }

  maxPool(x: Value, kernel: number, stride: number, padding = 0, ceilMode = false): Value {
    const [y] = this.node('MaxPool', [x.name], { ceil_mode: int(ceilMode ? 1 : 0), kernel_shape: ints([kernel, kernel]), pads: ints([padding, padding, padding, padding]), strides: ints([stride, stride]) });
    return { name: y, dims: [x.dims[0], ...x.dims.slice(1).map((d) => pooled(d, kernel, stride, padding, ceilMode))] };
  }

  avgPool(x: Value, kernel: number, stride: number, padding = 0): Value {
    const [y] = this.node('AveragePool', [x.name], { ceil_mode: int(0), count_include_pad: int(1), kernel_shape: ints([kernel, kernel]), pads: ints([padding, padding, padding, padding]), strides: ints([stride, stride]) });
    return { name: y, dims: [x.dims[0], ...x.dims.slice(1).map((d) => pooled(d, kernel, stride, padding, false))] };
  }

  /** AdaptiveAvgPool2d(1): [C,H,W] → [C,1,1]. */
  globalAvgPool(x: Value): Value {
    return { name: this.node('GlobalAveragePool', [x.name])[0], dims: [x.dims[0], 1, 1] };
  }

  /**
   * AdaptiveAvgPool2d((s, s)) where PyTorch's windows are uniform: H a multiple of s (an AveragePool) or H = 1
   * (every window is the one pixel: a broadcast). Other sizes have overlapping uneven windows: refused.
   */
  adaptiveAvgPool(x: Value, size: number, where: string): Value {
    const [c, h, w] = x.dims;
    if (h === size && w === size) return x;
    if (h === 1 && w === 1) {
      const [y] = this.node('Expand', [x.name, this.constant([1, c, size, size], [4], 'int64')]);
      return { name: y, dims: [c, size, size] };
    }
    if (h % size === 0 && w % size === 0 && h === w) return this.avgPool(x, h / size, h / size);
    throw new Error(`${where}: its AdaptiveAvgPool2d((${size}, ${size})) gets a ${h}×${w} feature map here; only multiples of ${size} (or 1×1) are written. Use an input size whose feature map is one of those (e.g. 32×32 or 224×224).`);
  }

  flatten(x: Value): Value {
    return { name: this.node('Flatten', [x.name], { axis: int(1) })[0], dims: [sizeOf(x.dims)] };
  }

  /** To per-example `dims` (the batch axis kept), or to exactly `dims` for a parameter (batched = false). */
  reshape(x: Value, dims: number[], batched = true): Value {
    const target = batched ? [-1, ...dims] : dims;
    const [y] = this.node('Reshape', [x.name, this.constant(target, [target.length], 'int64')]);
    return { name: y, dims };
  }

  /** The finished model: one input `input` [batch, …inputDims], one output `logits`. */
  finish(out: Value, inputDims: number[], producer: string): Model {
    const last = this.nodes[this.nodes.length - 1];
    if (!last || !last.outputs.includes(out.name)) throw new Error('the output must be the last node written');
    last.outputs = last.outputs.map((o) => (o === out.name ? 'logits' : o));
    return {
      graph: {
        name: producer,
        nodes: this.nodes,
        initializers: this.initializers,
        inputs: [{ name: 'input', dtype: 'float32', dims: ['batch', ...inputDims] }],
        outputs: [{ name: 'logits', dtype: 'float32', dims: ['batch', ...out.dims] }],
      },
      opsets: [{ domain: '', version: 13 }],
      producerName: 'i2f-privacy-lint catalogue',
      producerVersion: producer,
      irVersion: 8,
    };
  }
}

export const INPUT: (dims: number[]) => Value = (dims) => ({ name: 'input', dims });

function pooled(d: number, k: number, s: number, p: number, ceil: boolean): number {
  const raw = (d + 2 * p - k) / s;
  let out = (ceil ? Math.ceil(raw) : Math.floor(raw)) + 1;
  // PyTorch (and ONNX) drop a last window that would start in the right padding.
  if (ceil && (out - 1) * s >= d + p) out--;
  return out;
}

function int(value: number): AttributeValue {
  return { type: 'int', value };
}
function ints(value: number[]): AttributeValue {
  return { type: 'ints', value };
}
function float(value: number): AttributeValue {
  return { type: 'float', value };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

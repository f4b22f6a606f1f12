// Reverse-mode rules (vector–Jacobian products) for the primitive forward ops, written only with standard ONNX
// ops because the inference build of onnxruntime has no gradient kernels (ARCHITECTURE.md): Conv's input
// gradient is a ConvTranspose, its weight gradient a Conv with batch and channel roles swapped, pooling
// gradients a ScatterElements(add) or a grouped ConvTranspose.

import type { Node, Tensor } from '../../../graph/ir';
import { sizeOf } from '../../../graph/ir';
import { UserError } from '../../../errors';
import { attrFloat, attrInt, attrInts } from './attributes';
import { GraphBuilder, int, ints, onnxFloatCode, str } from './graphBuilder';
import { gatherIndexMap, sliceIndexMap } from './indexMaps';

export interface ReverseContext {
  b: GraphBuilder;
  file: string;
  /** True when `value` depends on x or θ, i.e. needs a gradient. */
  active(value: string): boolean;
  /** Adds one contribution to the gradient of `value`. */
  accumulate(value: string, grad: string): void;
  /** Constant initialiser data of a value, if it is one. */
  constant(value: string): Tensor | undefined;
}

export function constInts(ctx: { constant(v: string): Tensor | undefined }, value: string | undefined): number[] | undefined {
  if (!value) return undefined;
  const t = ctx.constant(value);
  return t ? Array.from(t.data as ArrayLike<number | bigint>, Number) : undefined;
}

function unsupported(ctx: ReverseContext, node: Node, why: string): never {
  throw new UserError('unsupported-op', why, { file: ctx.file, node: node.name, op: node.opType });
}

/** Swaps the last two axes (the matrix transpose of a batched MatMul operand). */
export function swapLast(b: GraphBuilder, v: string): string {
  const r = b.dims(v).length;
  const perm = [...Array(r).keys()];
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return b.transpose(v, perm);
}

export function matmul(b: GraphBuilder, a: string, c: string): string {
  const ad = b.dims(a);
  const cd = b.dims(c);
  const batchA = ad.slice(0, -2);
  const batchC = cd.slice(0, -2);
  const n = Math.max(batchA.length, batchC.length);
  const batch: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = batchA[batchA.length - n + i] ?? 1;
    const y = batchC[batchC.length - n + i] ?? 1;
    batch.push(x === 1 ? y : x);
  }
  return b.op('MatMul', [a, c], b.real([...batch, ad[ad.length - 2], cd[cd.length - 1]]));
}

/** Output dims of Gemm(A, B) with the given transposition flags. */
export function gemmDims(b: GraphBuilder, a: string, c: string, transA: number, transB: number): number[] {
  const ad = b.dims(a);
  const cd = b.dims(c);
  return [transA ? ad[1] : ad[0], transB ? cd[0] : cd[1]];
}

export function gemm(b: GraphBuilder, a: string, c: string, alpha: number, transA: number, transB: number): string {
  return b.op('Gemm', [a, c], b.real(gemmDims(b, a, c, transA, transB)), {
    alpha: { type: 'float', value: alpha }, transA: int(transA), transB: int(transB),
  });
}

/** A float mask of x > 0 (non-differentiable: its ops get no tangent). */
export function positiveMask(b: GraphBuilder, x: string, negativeSlope = 0): string {
  const dims = b.dims(x);
  const cond = b.op('Greater', [x, b.scalar(0)], { dtype: 'bool', dims }, {}, 'positive');
  if (negativeSlope === 0) return b.op('Cast', [cond], b.real(dims), { to: int(onnxFloatCode(b.floatType)) }, 'mask');
  return b.op('Where', [cond, b.scalar(1), b.scalar(negativeSlope)], b.real(dims), {}, 'mask');
}

/** Gradient of a Conv's input: ConvTranspose with output_padding (or extra end cropping) so it matches x. */
export function convInputGradient(b: GraphBuilder, gy: string, w: string, xDims: number[], strides: number[], pads: number[], dilations: number[], group: number): string {
  const r = strides.length;
  const kernel = b.dims(w).slice(2);
  const yDims = b.dims(gy);
  const outPad: number[] = [];
  const p = [...pads];
  for (let i = 0; i < r; i++) {
    const full = strides[i] * (yDims[2 + i] - 1) + (kernel[i] - 1) * dilations[i] + 1 - p[i] - p[i + r];
    const extra = xDims[2 + i] - full;
    if (extra >= 0) outPad.push(extra);
    else {
      // ceil_mode windows ran past the padded input: crop the overhang at the end instead.
      outPad.push(0);
      p[i + r] += -extra;
    }
  }
  return b.op('ConvTranspose', [gy, w], b.real(xDims), {
    strides: ints(strides), pads: ints(p), dilations: ints(dilations), group: int(group), output_padding: ints(outPad),
  }, 'convT');
}

/**
 * Gradient of a Conv's weight: for groups G, correlate x (as [Cg, G·N, H, W]) with ∂y (as [G·Og, N, Hy, Wy]) in
 * a grouped Conv whose stride is the original dilation and whose dilation is the original stride, then crop to
 * the kernel and put the axes back to [G·Og, Cg, k…].
 */
export function convWeightGradient(b: GraphBuilder, x: string, gy: string, wDims: number[], strides: number[], pads: number[], dilations: number[], group: number): string {
  const xd = b.dims(x);
  const yd = b.dims(gy);
  const r = strides.length;
  const [n, c] = xd;
  const cg = c / group;
  const og = yd[1] / group;
  const spatialX = xd.slice(2);
  const spatialY = yd.slice(2);
  const axesAfter = [...Array(r).keys()].map((i) => i + 3);
  // x: [N, G, Cg, S…] → [Cg, G, N, S…] → [Cg, G·N, S…]
  const xs = b.reshape(x, [n, group, cg, ...spatialX]);
  const xt = b.transpose(xs, [2, 1, 0, ...axesAfter]);
  const input = b.reshape(xt, [cg, group * n, ...spatialX]);
  // ∂y: [N, G, Og, Sy…] → [G, Og, N, Sy…] → [G·Og, N, Sy…]
  const ys = b.reshape(gy, [n, group, og, ...spatialY]);
  const yt = b.transpose(ys, [1, 2, 0, ...axesAfter]);
  const kernel = b.reshape(yt, [group * og, n, ...spatialY]);
  const outSpatial = spatialX.map((s, i) => Math.floor((s + pads[i] + pads[i + r] - strides[i] * (spatialY[i] - 1) - 1) / dilations[i]) + 1);
  const corr = b.op('Conv', [input, kernel], b.real([cg, group * og, ...outSpatial]), {
    strides: ints(dilations), dilations: ints(strides), pads: ints(pads), group: int(group),
  }, 'convW');
  const k = wDims.slice(2);
  let cropped = corr;
  if (outSpatial.some((s, i) => s !== k[i])) {
    const axes = [...Array(r).keys()].map((i) => i + 2);
    cropped = b.op('Slice', [corr, b.int64s(k.map(() => 0)), b.int64s(k), b.int64s(axes)], b.real([cg, group * og, ...k]), {}, 'crop');
  }
  return b.transpose(cropped, [1, 0, ...[...Array(r).keys()].map((i) => i + 2)]);
}

/** Scatter-add of ∂y into zeros of x's size through a flat index map (Slice, Gather, MaxPool reverse). */
export function scatterFlat(b: GraphBuilder, gy: string, flatIndices: string, xDims: number[]): string {
  const n = sizeOf(xDims);
  const flatGy = b.reshape(gy, [sizeOf(b.dims(gy))]);
  const idx = b.reshape(flatIndices, [sizeOf(b.dims(flatIndices))]);
  const scattered = b.op('ScatterElements', [b.zeros([n]), idx, flatGy], b.real([n]), { axis: int(0), reduction: str('add') }, 'scatter');
  return b.reshape(scattered, xDims);
}

/** Gathers through a flat index map (the tangent of Slice/Gather/MaxPool). */
export function gatherFlat(b: GraphBuilder, x: string, flatIndices: string): string {
  const flatX = b.reshape(x, [b.size(x)]);
  return b.op('Gather', [flatX, flatIndices], b.real(b.dims(flatIndices)), { axis: int(0) }, 'gather');
}

export function indexMapConstant(b: GraphBuilder, flat: Int32Array, dims: number[]): string {
  // int32 (Gather and ScatterElements take either) and one initialiser per distinct map: a float64 ResNet-50 J u
  // graph held 333 MB of int64 maps, every im2col map twice (its Gather's reverse rule rebuilds the same map at
  // batch 1) and convs of one geometry once each; int32 and shared, 97 MB (bench/large.ts, 2026-11-25).
  // Kept flat, so maps that differ only in shape are one initialiser (a Reshape of a constant is free).
  let maps = sharedMaps.get(b);
  if (!maps) sharedMaps.set(b, (maps = new Map()));
  const key = fingerprint(flat);
  let same = maps.get(key)?.find((m) => m.data.length === flat.length && m.data.every((v, i) => v === flat[i]));
  if (!same) {
    same = { name: b.constant(flat, [flat.length], 'int32'), data: flat };
    maps.set(key, [...(maps.get(key) ?? []), same]);
  }
  return b.reshape(same.name, dims);
}

const sharedMaps = new WeakMap<GraphBuilder, Map<string, { name: string; data: Int32Array }[]>>();

/** FNV-1a over the map's entries: equal maps share a key, and a collision only costs one full comparison. */
function fingerprint(flat: Int32Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < flat.length; i++) h = Math.imul(h ^ flat[i], 0x01000193);
  return `${flat.length}:${h >>> 0}`;
}

/** MaxPool's argmax output (added to the node when the model did not ask for it). */
export function maxPoolIndices(b: GraphBuilder, node: Node): string {
  if (!node.outputs[1]) {
    node.outputs[1] = b.fresh('argmax');
    b.setType(node.outputs[1], { dtype: 'int64', dims: b.dims(node.outputs[0]) });
  }
  return node.outputs[1];
}

/**
 * Per-output-position divisor of an AveragePool (count_include_pad and ceil_mode decide how many positions each
 * window averages), shaped [1, 1, Sy…].
 */
export function averagePoolDivisors(node: Node, xSpatial: number[], ySpatial: number[]): { data: Float64Array; uniform: number | null } {
  const kernel = attrInts(node, 'kernel_shape')!;
  const r = kernel.length;
  const strides = attrInts(node, 'strides') ?? kernel.map(() => 1);
  const pads = attrInts(node, 'pads') ?? new Array(2 * r).fill(0);
  const includePad = attrInt(node, 'count_include_pad', 0) === 1;
  const data = new Float64Array(sizeOf(ySpatial));
  const idx = new Array(r).fill(0);
  for (let k = 0; k < data.length; k++) {
    let count = 1;
    for (let a = 0; a < r; a++) {
      const lo = idx[a] * strides[a] - pads[a];
      const hi = lo + kernel[a];
      const minPos = includePad ? -pads[a] : 0;
      const maxPos = includePad ? xSpatial[a] + pads[a + r] : xSpatial[a];
      count *= Math.max(0, Math.min(hi, maxPos) - Math.max(lo, minPos));
    }
    data[k] = count;
    for (let a = r - 1; a >= 0; a--) {
      if (++idx[a] < ySpatial[a]) break;
      idx[a] = 0;
    }
  }
  const first = data[0];
  return { data, uniform: data.every((v) => v === first) ? first : null };
}

export function reverseNode(node: Node, gy: string, ctx: ReverseContext): void {
  const { b } = ctx;
  const [a, c] = node.inputs;
  const y = node.outputs[0];
  const yDims = b.dims(y);
  const give = (v: string, g: string): void => {
    if (v && ctx.active(v)) ctx.accumulate(v, g);
  };
  const want = (v: string | undefined): boolean => !!v && ctx.active(v);
  switch (node.opType) {
    case 'Add':
      give(a, b.unbroadcast(gy, b.dims(a)));
      give(c, b.unbroadcast(gy, b.dims(c)));
      return;
    case 'Sub':
      give(a, b.unbroadcast(gy, b.dims(a)));
      if (want(c)) give(c, b.unbroadcast(b.neg(gy), b.dims(c)));
      return;
    case 'Mul':
      if (want(a)) give(a, b.unbroadcast(b.mul(gy, c), b.dims(a)));
      if (want(c)) give(c, b.unbroadcast(b.mul(gy, a), b.dims(c)));
      return;
    case 'Div':
      if (want(a)) give(a, b.unbroadcast(b.div(gy, c), b.dims(a)));
      if (want(c)) give(c, b.unbroadcast(b.neg(b.div(b.mul(gy, y), c)), b.dims(c)));
      return;
    case 'Neg':
      give(a, b.neg(gy));
      return;
    case 'Relu':
      give(a, b.mul(gy, positiveMask(b, a)));
      return;
    case 'LeakyRelu':
      give(a, b.mul(gy, positiveMask(b, a, attrFloat(node, 'alpha', 0.01))));
      return;
    case 'Sigmoid':
      give(a, b.mul(gy, b.mul(y, b.sub(b.scalar(1), y))));
      return;
    case 'Tanh':
      give(a, b.mul(gy, b.sub(b.scalar(1), b.mul(y, y))));
      return;
    case 'Erf': {
      const e = b.op('Exp', [b.neg(b.mul(a, a))], b.type(a));
      give(a, b.mul(gy, b.scale(e, 2 / Math.sqrt(Math.PI))));
      return;
    }
    case 'Exp':
      give(a, b.mul(gy, y));
      return;
    case 'Log':
      give(a, b.div(gy, a));
      return;
    case 'Sqrt':
      give(a, b.div(b.scale(gy, 0.5), y));
      return;
    case 'Reciprocal':
      give(a, b.neg(b.mul(gy, b.mul(y, y))));
      return;
    case 'Pow': {
      const e = ctx.constant(c);
      if (!e || e.data.length !== 1) unsupported(ctx, node, 'Pow needs a constant scalar exponent');
      const p = Number(e!.data[0]);
      const d = p === 2 ? b.scale(a, 2) : b.scale(b.op('Pow', [a, b.scalar(p - 1)], b.type(a)), p);
      give(a, b.mul(gy, d));
      return;
    }
    case 'Softmax': {
      const axis = attrInt(node, 'axis', -1);
      const ax = axis < 0 ? axis + yDims.length : axis;
      const dot = b.reduceSum(b.mul(gy, y), [ax], true);
      give(a, b.mul(y, b.sub(gy, dot)));
      return;
    }
    case 'LogSoftmax': {
      const axis = attrInt(node, 'axis', -1);
      const ax = axis < 0 ? axis + yDims.length : axis;
      const total = b.reduceSum(gy, [ax], true);
      const soft = b.op('Exp', [y], b.type(y));
      give(a, b.sub(gy, b.mul(soft, total)));
      return;
    }
    case 'Gemm': {
      const alpha = attrFloat(node, 'alpha', 1);
      const beta = attrFloat(node, 'beta', 1);
      const transA = attrInt(node, 'transA', 0);
      const transB = attrInt(node, 'transB', 0);
      if (want(a)) give(a, transA ? gemm(b, c, gy, alpha, transB, 1) : gemm(b, gy, c, alpha, 0, transB ? 0 : 1));
      if (want(c)) give(c, transB ? gemm(b, gy, a, alpha, 1, transA) : gemm(b, a, gy, alpha, transA ? 0 : 1, 0));
      const bias = node.inputs[2];
      if (want(bias)) give(bias, b.unbroadcast(b.scale(gy, beta), b.dims(bias)));
      return;
    }
    case 'MatMul': {
      if (b.dims(a).length < 2 || b.dims(c).length < 2) unsupported(ctx, node, 'MatMul with a 1-D operand is not supported');
      if (want(a)) give(a, b.unbroadcast(matmul(b, gy, swapLast(b, c)), b.dims(a)));
      if (want(c)) give(c, b.unbroadcast(matmul(b, swapLast(b, a), gy), b.dims(c)));
      return;
    }
    case 'Conv': {
      const strides = attrInts(node, 'strides')!;
      const pads = attrInts(node, 'pads')!;
      const dilations = attrInts(node, 'dilations')!;
      const group = attrInt(node, 'group', 1);
      if (want(a)) give(a, convInputGradient(b, gy, c, b.dims(a), strides, pads, dilations, group));
      if (want(c)) give(c, convWeightGradient(b, a, gy, b.dims(c), strides, pads, dilations, group));
      const bias = node.inputs[2];
      if (want(bias)) give(bias, b.reduceSum(gy, [0, ...yDims.slice(2).map((_, i) => i + 2)], false));
      return;
    }
    case 'MaxPool': {
      const idx = maxPoolIndices(b, node);
      give(a, scatterFlat(b, gy, idx, b.dims(a)));
      return;
    }
    case 'AveragePool': {
      const xd = b.dims(a);
      const { data, uniform } = averagePoolDivisors(node, xd.slice(2), yDims.slice(2));
      const divisor = uniform !== null ? b.scalar(1 / uniform) : b.floats(data.map((v) => (v ? 1 / v : 0)), [1, 1, ...yDims.slice(2)]);
      const scaled = b.mul(gy, divisor);
      const kernel = attrInts(node, 'kernel_shape')!;
      const channels = xd[1];
      const ones = b.floats(new Float32Array(channels * sizeOf(kernel)).fill(1), [channels, 1, ...kernel]);
      const strides = attrInts(node, 'strides') ?? kernel.map(() => 1);
      const pads = attrInts(node, 'pads') ?? new Array(2 * kernel.length).fill(0);
      give(a, convInputGradient(b, scaled, ones, xd, strides, pads, kernel.map(() => 1), channels));
      return;
    }
    case 'GlobalAveragePool': {
      const xd = b.dims(a);
      give(a, b.expand(b.scale(gy, 1 / sizeOf(xd.slice(2))), xd));
      return;
    }
    case 'Reshape':
      give(a, b.reshape(gy, b.dims(a)));
      return;
    case 'Transpose': {
      const perm = attrInts(node, 'perm') ?? [...b.dims(a).keys()].reverse();
      const inv = new Array(perm.length);
      perm.forEach((p, i) => (inv[p] = i));
      give(a, b.transpose(gy, inv));
      return;
    }
    case 'Expand':
      give(a, b.unbroadcast(gy, b.dims(a)));
      return;
    case 'ReduceSum': {
      const xd = b.dims(a);
      const axes = (constInts(ctx, c) ?? xd.map((_, i) => i)).map((x) => (x < 0 ? x + xd.length : x));
      const kept = xd.map((n, i) => (axes.includes(i) ? 1 : n));
      give(a, b.expand(b.reshape(gy, kept), xd));
      return;
    }
    case 'Concat': {
      let axis = attrInt(node, 'axis', 0);
      if (axis < 0) axis += yDims.length;
      let offset = 0;
      for (const v of node.inputs) {
        const d = b.dims(v);
        if (want(v)) {
          const part = b.op('Slice', [gy, b.int64s([offset]), b.int64s([offset + d[axis]]), b.int64s([axis])], b.real(d), {}, 'unconcat');
          give(v, part);
        }
        offset += d[axis];
      }
      return;
    }
    case 'Slice': {
      const xd = b.dims(a);
      const starts = constInts(ctx, node.inputs[1]);
      const ends = constInts(ctx, node.inputs[2]);
      if (!starts || !ends) unsupported(ctx, node, 'Slice needs constant starts/ends');
      const map = sliceIndexMap(xd, starts!, ends!, constInts(ctx, node.inputs[3]), constInts(ctx, node.inputs[4]));
      give(a, scatterFlat(b, gy, indexMapConstant(b, map.flat, map.outDims), xd));
      return;
    }
    case 'Gather': {
      const xd = b.dims(a);
      const t = ctx.constant(c);
      if (!t) unsupported(ctx, node, 'Gather with non-constant indices is not supported');
      const map = gatherIndexMap(xd, Array.from(t!.data as ArrayLike<number | bigint>, Number), t!.dims, attrInt(node, 'axis', 0));
      give(a, scatterFlat(b, gy, indexMapConstant(b, map.flat, map.outDims), xd));
      return;
    }
    case 'Pad': {
      const xd = b.dims(a);
      const pads = constInts(ctx, node.inputs[1])!;
      if (pads.some((p) => p < 0)) unsupported(ctx, node, 'Pad with negative pads is not supported');
      const r = xd.length;
      const starts = xd.map((_, i) => pads[i]);
      const ends = xd.map((n, i) => pads[i] + n);
      give(a, b.op('Slice', [gy, b.int64s(starts), b.int64s(ends), b.int64s([...xd.keys()])], b.real(xd), {}, 'unpad'));
      void r;
      return;
    }
    case 'Where': {
      const cond = node.inputs[0];
      const t = node.inputs[1];
      const f = node.inputs[2];
      const zero = b.scalar(0);
      if (want(t)) give(t, b.unbroadcast(b.op('Where', [cond, gy, zero], b.real(yDims)), b.dims(t)));
      if (want(f)) give(f, b.unbroadcast(b.op('Where', [cond, zero, gy], b.real(yDims)), b.dims(f)));
      return;
    }
    default:
      unsupported(ctx, node, `no reverse rule for ${node.opType}`);
  }
}

// Forward-mode rules for k tangents at once (issue 18, "Block products"): every tangent carries a leading block
// axis, [k, …dims of its primal value], while the primal values (x, activations, the backward pass) stay one batch.
// The rules are tangent.ts's, rewritten so the heavy ops see the k tangents as one operand:
//   · elementwise and MatMul ops broadcast the primal over the block axis (tangents are lifted to the output's rank
//     first, so numpy broadcasting aligns a lower-rank operand with the primal dims, never with k);
//   · Conv, ConvTranspose and the pools fold k into the batch axis for a blocked input ([k·N, C, …]);
//   · a blocked Conv weight (θ-tangent, or the ∂y that the weight-gradient correlation uses as its kernel) becomes
//     k times the output channels of one (grouped) Conv; a blocked ConvTranspose weight k times its groups; the
//     output is unfolded back to [k, N, O, …];
//   · axis attributes and constant axis inputs move up by one.

import type { Node } from '../../../graph/ir';
import { sizeOf } from '../../../graph/ir';
import { UserError } from '../../../errors';
import { attrFloat, attrInt, attrInts } from './attributes';
import { broadcastDims, GraphBuilder, int, sameDims } from './graphBuilder';
import { constInts, maxPoolIndices, positiveMask } from './reverse';
import { oneHotKernel } from './gramWeights';
import type { TangentContext } from './tangent';

export interface BlockTangentContext extends TangentContext {
  /**
   * The term of a Conv / ConvTranspose whose weight moves, when the caller builds it another way (gramWeights.ts:
   * through the Gram matrices of the first pass's operands); undefined: the rule's own.
   */
  movingWeight?(node: Node): string | undefined;
}

const NO_TANGENT = new Set(['Greater', 'Less', 'Equal', 'Not', 'Shape', 'ConstantOfShape', 'Range', 'Cast']);

/** Tangent [k, …d] reshaped to [k, 1, …, 1, …d] of rank `rank` + 1, so it broadcasts like its rank-`rank` primal. */
function lift(b: GraphBuilder, t: string, rank: number): string {
  const d = b.dims(t);
  const inner = d.length - 1;
  if (inner >= rank) return t;
  return b.reshape(t, [d[0], ...new Array(rank - inner).fill(1), ...d.slice(1)]);
}

/** Moves axis `from` of `v` to position `to` (a Transpose, or a Reshape when only size-1 axes move). */
function moveAxis(b: GraphBuilder, v: string, from: number, to: number): string {
  const perm = [...b.dims(v).keys()].filter((a) => a !== from);
  perm.splice(to, 0, from);
  return b.transpose(v, perm);
}

/**
 * Conv of a primal input with a blocked weight [k, …wDims] as one (grouped) Conv with k times the output channels:
 * per group the k weights are stacked along the output-channel axis, so each group's GEMM is k times taller and
 * reads its input once; the output [N, G·k·Og, …] is unfolded to [k, N, G·Og, …].
 */
function convBlockedWeight(b: GraphBuilder, x: string, tw: string, attrs: Node['attributes'], yDims: number[], k: number): string {
  const group = attrInt({ attributes: attrs } as Node, 'group', 1);
  const wd = b.dims(tw).slice(1);
  const spatial = wd.slice(2);
  const ySpatial = yDims.slice(2);
  const [n, o] = yDims;
  const og = o / group;
  // [k, G·Og, Cg, s…] → [k, G, Og, Cg, s…] → [G, k, Og, Cg, s…] → [G·k·Og, Cg, s…] (a Reshape when G = 1)
  const split = b.reshape(tw, [k, group, og, wd[1], ...spatial]);
  const w = b.reshape(moveAxis(b, split, 1, 0), [group * k * og, wd[1], ...spatial]);
  const out = b.op('Conv', [x, w], b.real([n, group * k * og, ...ySpatial]), { ...attrs }, 'Conv');
  const after = ySpatial.map((_, i) => i + 3);
  if (group === 1) {
    // [N, k·O, S…] → [N, k, O, S…] → [k, N, O, S…]: one Transpose, which a following one (the weight gradient's
    // axis swap) folds into (GraphBuilder.transpose).
    return b.transpose(b.reshape(out, [n, k, o, ...ySpatial]), [1, 0, 2, ...after]);
  }
  // [N, G·k·Og, S…] → [N, G, k, Og, S…] → [k, N, G, Og, S…] → [k, N, O, S…]
  const unfolded = b.reshape(out, [n, group, k, og, ...ySpatial]);
  return b.reshape(b.transpose(unfolded, [2, 0, 1, 3, ...after.map((a) => a + 1)]), [k, ...yDims]);
}

/**
 * ConvTranspose of a primal input with a blocked weight [k, C, Og, s…]: the input repeated k times along its
 * channels and the k weights as k times the groups, so the weight is only reshaped (moving k next to Og instead
 * would transpose k × d_W floats per call); the output [N, k·O, …] is unfolded to [k, N, O, …].
 */
function convTransposeBlockedWeight(b: GraphBuilder, x: string, tw: string, attrs: Node['attributes'], yDims: number[], k: number): string {
  const group = attrInt({ attributes: attrs } as Node, 'group', 1);
  const wd = b.dims(tw).slice(1);
  const xd = b.dims(x);
  const ySpatial = yDims.slice(2);
  const [n, o] = yDims;
  const repeated = b.reshape(b.expand(b.reshape(x, [xd[0], 1, ...xd.slice(1)]), [xd[0], k, ...xd.slice(1)]), [xd[0], k * xd[1], ...xd.slice(2)]);
  const w = b.reshape(tw, [k * wd[0], ...wd.slice(1)]);
  const out = b.op('ConvTranspose', [repeated, w], b.real([n, k * o, ...ySpatial]), { ...attrs, group: int(k * group) }, 'ConvTranspose');
  return b.transpose(b.reshape(out, [n, k, o, ...ySpatial]), [1, 0, 2, ...ySpatial.map((_, i) => i + 3)]);
}

/**
 * Conv(ta_i, c) + Conv(a, tc_i) for the k vectors as one Conv with k·G groups: per vector and group the input
 * channels are [a, ta_i] and the kernel's [tc_i, c], so the contraction sums both terms (a·tc_i + ta_i·c).
 */
function convBothMoving(b: GraphBuilder, a: string, ta: string, c: string, tc: string, attrs: Node['attributes'], yDims: number[], k: number): string {
  const group = attrInt({ attributes: attrs } as Node, 'group', 1);
  const [n, ch, ...s] = b.dims(a);
  const [o, cg, ...kernel] = b.dims(c);
  const og = o / group;
  const ySpatial = yDims.slice(2);
  const after = (from: number, count: number) => [...Array(count).keys()].map((i) => i + from);
  // input [N, k, G, 2, Cg, S…] → [N, k·G·2·Cg, S…]
  const aPart = b.expand(b.reshape(a, [n, 1, group, 1, cg, ...s]), [n, k, group, 1, cg, ...s]);
  const taPart = b.transpose(b.reshape(ta, [k, n, group, 1, cg, ...s]), [1, 0, 2, 3, 4, ...after(5, s.length)]);
  const input = b.reshape(b.op('Concat', [aPart, taPart], b.real([n, k, group, 2, cg, ...s]), { axis: int(3) }), [n, k * group * 2 * cg, ...s]);
  // kernel [k, G, Og, 2, Cg, K…] → [k·G·Og, 2·Cg, K…]
  const tcPart = b.reshape(tc, [k, group, og, 1, cg, ...kernel]);
  const cPart = b.expand(b.reshape(c, [1, group, og, 1, cg, ...kernel]), [k, group, og, 1, cg, ...kernel]);
  const w = b.reshape(b.op('Concat', [tcPart, cPart], b.real([k, group, og, 2, cg, ...kernel]), { axis: int(3) }), [k * group * og, 2 * cg, ...kernel]);
  void ch;
  const out = b.op('Conv', [input, w], b.real([n, k * o, ...ySpatial]), { ...attrs, group: int(k * group) }, 'Conv');
  // [N, k·O, S…] → [N, k, O, S…] → [k, N, O, S…] (a Transpose a following one folds into)
  return b.transpose(b.reshape(out, [n, k, o, ...ySpatial]), [1, 0, 2, ...after(3, ySpatial.length)]);
}

/**
 * Conv / ConvTranspose maps with at most this many positions per image (ResNet-18's 4×4 stage at 32×32) run the
 * blocked input as one GEMM over all k·N images: onnxruntime's own kernels do one GEMM per image there, N = 16
 * columns that stream the whole weight each time (bench/FINDINGS.md, "Block products").
 */
export const GEMM_MAX_POSITIONS = 16;

/**
 * Conv(t, W) for a blocked input t [k, N, C, S…] and a primal weight (group 1) as im2col + one GEMM:
 * W [O, C·K] by the columns of all k·N images [C·K, k·N·P'], then back to [k, N, O, S'…].
 */
function convByGemm(b: GraphBuilder, node: Node, t: string, w: string, yDims: number[], k: number): string {
  const d = b.dims(t);
  const [n, c] = [d[1], d[2]];
  const wd = b.dims(w);
  const kernel = wd.slice(2);
  const ck = c * sizeOf(kernel);
  const [, o, ...ySpatial] = yDims;
  const positions = sizeOf(ySpatial);
  const images = k * n;
  const cols = b.op('Conv', [b.reshape(t, [images, ...d.slice(2)]), oneHotKernel(b, c, kernel)], b.real([images, ck, ...ySpatial]), { ...node.attributes, group: int(c) }, 'columns');
  const columns = b.reshape(b.transpose(b.reshape(cols, [images, ck, positions]), [1, 0, 2]), [ck, images * positions]);
  const out = b.op('MatMul', [b.reshape(w, [o, ck]), columns], b.real([o, images * positions]));
  return b.reshape(b.transpose(b.reshape(out, [o, images, positions]), [1, 0, 2]), [k, n, o, ...ySpatial]);
}

/**
 * ConvTranspose(t, W) for a blocked input t [k, N, O, S…] and a primal weight [O, C, k…] (group 1) as one GEMM
 * Wᵀ [C·K, O] by t's k·N images [O, k·N·P], then col2im (the one-hot ConvTranspose with the node's geometry).
 */
function convTransposeByGemm(b: GraphBuilder, node: Node, t: string, w: string, yDims: number[], k: number): string {
  const d = b.dims(t);
  const [n, o, ...spatial] = d.slice(1);
  const wd = b.dims(w);
  const c = wd[1];
  const kernel = wd.slice(2);
  const ck = c * sizeOf(kernel);
  const positions = sizeOf(spatial);
  const images = k * n;
  const rows = b.reshape(b.transpose(b.reshape(t, [images, o, positions]), [1, 0, 2]), [o, images * positions]);
  const cols = b.op('MatMul', [b.transpose(b.reshape(w, [o, ck]), [1, 0]), rows], b.real([ck, images * positions]));
  const image = b.reshape(b.transpose(b.reshape(cols, [ck, images, positions]), [1, 0, 2]), [images, ck, ...spatial]);
  const out = b.op('ConvTranspose', [image, oneHotKernel(b, c, kernel)], b.real([images, ...yDims.slice(1)]), { ...node.attributes, group: int(c) }, 'col2im');
  return b.reshape(out, [k, ...yDims]);
}

/**
 * Whether a Conv / ConvTranspose's blocked-input term goes through convByGemm / convTransposeByGemm: a layer of the
 * model (its weight an initialiser: θ or a constant; not the backward pass's weight-gradient correlation, whose
 * "kernel" is ∂y and whose output map is the kernel's taps), group 1, a small map.
 */
function smallMap(b: GraphBuilder, node: Node, yDims: number[]): boolean {
  if (attrInt(node, 'group', 1) !== 1 || b.floatType !== 'float32' || !b.initializers.has(node.inputs[1])) return false;
  const spatial = node.opType === 'Conv' ? yDims.slice(2) : b.dims(node.inputs[0]).slice(2);
  return sizeOf(spatial) <= GEMM_MAX_POSITIONS;
}

/** An op whose input 0 is batch-major [N, …] applied to a blocked input by folding k into N. */
function foldBatch(b: GraphBuilder, opType: string, t: string, inputs: string[], attrs: Node['attributes'], yDims: number[], k: number): string {
  const d = b.dims(t);
  const folded = b.reshape(t, [k * d[1], ...d.slice(2)]);
  const out = b.op(opType, [folded, ...inputs], b.real([k * yDims[0], ...yDims.slice(1)]), { ...attrs }, opType);
  return b.reshape(out, [k, ...yDims]);
}

/** A·C for 2-D A (or Aᵀ) and C (or Cᵀ) where exactly one operand is blocked [k, …]; returns [k, M, N]. */
function gemmBlock(b: GraphBuilder, a: string, c: string, blocked: 'a' | 'c', transA: number, transB: number, alpha: number, k: number): string {
  const t2 = (v: string): string => b.transpose(v, [1, 0]);
  let out: string;
  if (blocked === 'a') {
    // [k, M, K]·[K, N] is one GEMM of [k·M, K] by [K, N]: Gemm keeps C's transB without a copy of the weight.
    const ta = transA ? b.transpose(a, [0, 2, 1]) : a;
    const [, m, kk] = b.dims(ta);
    const n = transB ? b.dims(c)[0] : b.dims(c)[1];
    const flat = b.op('Gemm', [b.reshape(ta, [k * m, kk]), c], b.real([k * m, n]), { transB: int(transB) });
    out = b.reshape(flat, [k, m, n]);
  } else {
    const a2 = transA ? t2(a) : a;
    const [m] = b.dims(a2);
    const cd = b.dims(c);
    if (!transB) {
      out = b.op('MatMul', [a2, c], b.real([k, m, cd[2]]));
    } else if (sizeOf(cd) <= k * m * cd[1]) {
      out = b.op('MatMul', [a2, b.transpose(c, [0, 2, 1])], b.real([k, m, cd[1]]));
    } else {
      // C blocked and transposed, larger than the product: (C·A₂ᵀ)ᵀ transposes the smaller [k, N, M] instead.
      const prod = b.op('MatMul', [c, t2(a2)], b.real([k, cd[1], m]));
      out = b.transpose(prod, [0, 2, 1]);
    }
  }
  return b.scale(out, alpha);
}

/** Returns the blocked tangent [k, …y] of the node's first output, or undefined when it is zero. */
export function blockTangentNode(node: Node, ctx: BlockTangentContext, k: number): string | undefined {
  const { b } = ctx;
  const t = (i: number): string | undefined => (node.inputs[i] ? ctx.tangent(node.inputs[i]) : undefined);
  if (NO_TANGENT.has(node.opType)) return undefined;
  if (!node.inputs.some((_, i) => t(i))) return undefined;
  const [a, c] = node.inputs;
  const ta = t(0);
  const tc = t(1);
  const y = node.outputs[0];
  const yDims = b.dims(y);
  const r = yDims.length;
  const out = [k, ...yDims];
  const up = (v: string | undefined): string | undefined => v && lift(b, v, r);
  const fit = (v: string): string => (sameDims(b.dims(v), out) ? v : b.expand(v, out));
  const sum = (terms: (string | undefined)[]): string | undefined => {
    const present = terms.filter((x): x is string => !!x).map((x) => lift(b, x, r));
    if (present.length === 0) return undefined;
    return fit(present.slice(1).reduce((acc, v) => b.add(acc, v), present[0]));
  };
  const axisOf = (fallback: number, rank = r): number => {
    const axis = attrInt(node, 'axis', fallback);
    return (axis < 0 ? axis + rank : axis) + 1;
  };
  const ua = up(ta)!;
  switch (node.opType) {
    case 'Add':
      return sum([ta, tc]);
    case 'Sub':
      return sum([ta, tc && b.neg(tc)]);
    case 'Mul':
      return sum([ta && b.mul(ua, c), tc && b.mul(a, up(tc)!)]);
    case 'Div':
      return sum([ta && b.div(ua, c), tc && b.neg(b.div(b.mul(y, up(tc)!), c))]);
    case 'Neg':
      return b.neg(ta!);
    case 'Relu':
      return b.mul(ta!, positiveMask(b, a));
    case 'LeakyRelu':
      return b.mul(ta!, positiveMask(b, a, attrFloat(node, 'alpha', 0.01)));
    case 'Sigmoid':
      return b.mul(ta!, b.mul(y, b.sub(b.scalar(1), y)));
    case 'Tanh':
      return b.mul(ta!, b.sub(b.scalar(1), b.mul(y, y)));
    case 'Erf': {
      const e = b.op('Exp', [b.neg(b.mul(a, a))], b.type(a));
      return b.mul(ta!, b.scale(e, 2 / Math.sqrt(Math.PI)));
    }
    case 'Exp':
      return b.mul(ta!, y);
    case 'Log':
      return b.div(ta!, a);
    case 'Sqrt':
      return b.div(b.scale(ta!, 0.5), y);
    case 'Reciprocal':
      return b.neg(b.mul(ta!, b.mul(y, y)));
    case 'Pow': {
      const e = ctx.constant(c);
      if (!e || e.data.length !== 1 || tc) throw new UserError('unsupported-op', 'Pow needs a constant scalar exponent', { file: ctx.file, node: node.name, op: 'Pow' });
      const p = Number(e.data[0]);
      const d = p === 2 ? b.scale(a, 2) : b.scale(b.op('Pow', [a, b.scalar(p - 1)], b.type(a)), p);
      return b.mul(ta!, d);
    }
    case 'Softmax': {
      const ax = axisOf(-1);
      return b.mul(y, b.sub(ta!, b.reduceSum(b.mul(ta!, y), [ax], true)));
    }
    case 'LogSoftmax': {
      const ax = axisOf(-1);
      const soft = b.op('Exp', [y], b.type(y));
      return b.sub(ta!, b.reduceSum(b.mul(ta!, soft), [ax], true));
    }
    case 'Gemm': {
      const alpha = attrFloat(node, 'alpha', 1);
      const beta = attrFloat(node, 'beta', 1);
      const transA = attrInt(node, 'transA', 0);
      const transB = attrInt(node, 'transB', 0);
      const tBias = t(2);
      return sum([
        ta && gemmBlock(b, ta, c, 'a', transA, transB, alpha, k),
        tc && gemmBlock(b, a, tc, 'c', transA, transB, alpha, k),
        tBias && b.scale(tBias, beta),
      ]);
    }
    case 'MatMul': {
      const mm = (x: string, w: string): string => {
        const xd = b.dims(x);
        const wd = b.dims(w);
        const n = Math.max(xd.length, wd.length);
        const batch: number[] = [];
        for (let i = 0; i < n - 2; i++) {
          const p = xd[xd.length - n + i] ?? 1;
          const q = wd[wd.length - n + i] ?? 1;
          batch.push(p === 1 ? q : p);
        }
        return b.op('MatMul', [x, w], b.real([...batch, xd[xd.length - 2], wd[wd.length - 1]]));
      };
      return sum([ta && mm(ua, c), tc && mm(a, up(tc)!)]);
    }
    case 'Conv':
    case 'ConvTranspose': {
      const attrs = node.attributes;
      const tBias = t(2);
      const moving = tc && ctx.movingWeight?.(node);
      const inputTerm = (): string | undefined => {
        if (!ta) return undefined;
        if (smallMap(b, node, yDims)) return node.opType === 'Conv' ? convByGemm(b, node, ta, c, yDims, k) : convTransposeByGemm(b, node, ta, c, yDims, k);
        return foldBatch(b, node.opType, ta, [c], attrs, yDims, k);
      };
      if (moving) return sum([inputTerm(), moving, tBias && b.reshape(tBias, [k, 1, yDims[1], ...yDims.slice(2).map(() => 1)])]);
      // Both operands moving and the output larger than them (the weight-gradient correlation, whose output is a
      // weight): both terms in one grouped Conv over the concatenated channels, never two k × d_W outputs and an Add.
      if (node.opType === 'Conv' && ta && tc && 2 * (b.size(a) + b.size(c)) <= b.size(y)) {
        return sum([convBothMoving(b, a, ta, c, tc, attrs, yDims, k), tBias && b.reshape(tBias, [k, 1, yDims[1], ...yDims.slice(2).map(() => 1)])]);
      }
      return sum([
        inputTerm(),
        tc && (node.opType === 'Conv' ? convBlockedWeight(b, a, tc, attrs, yDims, k) : convTransposeBlockedWeight(b, a, tc, attrs, yDims, k)),
        tBias && b.reshape(tBias, [k, 1, yDims[1], ...yDims.slice(2).map(() => 1)]),
      ]);
    }
    case 'MaxPool': {
      // The argmax indices are flat over the primal [N, C, …]: gather each of the k rows through them.
      const flat = b.reshape(ta!, [k, b.size(a)]);
      const idx = maxPoolIndices(b, node);
      return b.op('Gather', [flat, idx], b.real(out), { axis: int(1) }, 'gather');
    }
    case 'AveragePool':
    case 'GlobalAveragePool':
      return foldBatch(b, node.opType, ta!, [], node.attributes, yDims, k);
    case 'Reshape':
      return b.reshape(ta!, out);
    case 'Transpose': {
      const perm = attrInts(node, 'perm') ?? [...Array(r).keys()].reverse();
      return b.transpose(ta!, [0, ...perm.map((p) => p + 1)]);
    }
    case 'Expand':
      return b.expand(ua, out);
    case 'ReduceSum': {
      const rank = b.dims(a).length;
      const axes = constInts(ctx, node.inputs[1]) ?? [...Array(rank).keys()];
      if (axes.length === 0 && attrInt(node, 'noop_with_empty_axes', 0) === 1) return ta;
      const all = axes.length === 0 ? [...Array(rank).keys()] : axes;
      return b.op('ReduceSum', [ta!, b.int64s(all.map((x) => (x < 0 ? x + rank : x) + 1))], b.real(out), { keepdims: int(attrInt(node, 'keepdims', 1)) });
    }
    case 'Slice': {
      const rank = b.dims(a).length;
      const starts = constInts(ctx, node.inputs[1]);
      if (!starts) throw new UserError('unsupported-op', 'Slice needs constant starts', { file: ctx.file, node: node.name, op: 'Slice' });
      const axes = (constInts(ctx, node.inputs[3]) ?? starts.map((_, i) => i)).map((x) => (x < 0 ? x + rank : x) + 1);
      const inputs = [ta!, node.inputs[1], node.inputs[2], b.int64s(axes)];
      if (node.inputs[4]) inputs.push(node.inputs[4]);
      return b.op('Slice', inputs, b.real(out));
    }
    case 'Gather':
      return b.op('Gather', [ta!, c], b.real(out), { axis: int(axisOf(0, b.dims(a).length)) });
    case 'Pad': {
      const pads = constInts(ctx, node.inputs[1]);
      if (!pads) throw new UserError('unsupported-op', 'Pad needs constant pads', { file: ctx.file, node: node.name, op: 'Pad' });
      const half = pads.length / 2;
      const blockPads = [0, ...pads.slice(0, half), 0, ...pads.slice(half)];
      return b.op('Pad', [ta!, b.int64s(blockPads), b.scalar(0)], b.real(out), { ...node.attributes });
    }
    case 'Concat': {
      const parts = node.inputs.map((v) => ctx.tangent(v) ?? b.zeros([k, ...b.dims(v)]));
      return b.op('Concat', parts, b.real(out), { axis: int(axisOf(0)) });
    }
    case 'Where': {
      const cond = node.inputs[0];
      const tt = t(1) ? up(t(1))! : b.scalar(0);
      const tf = t(2) ? up(t(2))! : b.scalar(0);
      const dims = broadcastDims(broadcastDims(b.dims(cond), b.dims(tt)), b.dims(tf));
      return fit(b.op('Where', [cond, tt, tf], b.real(dims)));
    }
    case 'ScatterElements': {
      // Linear in data and updates; the (constant) indices are repeated over the block axis.
      const dd = b.dims(a);
      const idx = node.inputs[1];
      const upd = node.inputs[2];
      const data = ta ?? b.zeros([k, ...dd]);
      const tu = t(2) ?? b.zeros([k, ...b.dims(upd)]);
      const blockIdx = b.expand(b.reshape(idx, [1, ...b.dims(idx)]), [k, ...b.dims(idx)]);
      return b.op('ScatterElements', [data, blockIdx, tu], b.real(out), { ...node.attributes, axis: int(axisOf(0, dd.length)) });
    }
    default:
      throw new UserError('unsupported-op', `no tangent rule for ${node.opType}`, { file: ctx.file, node: node.name, op: node.opType });
  }
}

// The θ-tangent of a convolution weight through the Gram matrices of its im2col, for the block J Jᵀ V (issue 18,
// "Block products"). Forward-over-reverse makes, per vector i and conv layer (x0's im2col A = col(a) [C·K, P],
// ∂L/∂y as [O, P], the first pass's tangents tA_i = col(ta_i) and tGy_i; P = N · output positions):
//   tW_i = tGy_i Aᵀ + ∂y tA_iᵀ                      (the weight gradient's tangent, [O, C·K]: Jᵀ V's slice)
// and the second pass uses tW_i twice: the forward Conv(a, tW_i) = tW_i A and the input gradient's
// ConvTranspose(∂y, tW_i) = col2im(tW_iᵀ ∂y). Both contract tW_i with the primal operands it was made of, so
//   tW_i A      = tGy_i (AᵀA) + ∂y (tA_iᵀ A)
//   tW_iᵀ ∂y    = A (tGy_iᵀ ∂y) + tA_i (∂yᵀ∂y)
// need only P × P matrices: AᵀA and ∂yᵀ∂y once per call (shared by the k vectors), tA_iᵀA and tGy_iᵀ∂y per vector.
// Per vector that is 3·CK·P² + 3·O·P² multiply-adds (+ the im2col and col2im of one vector, 2·CK·P·K) instead of
// 4·O·CK·P for making tW_i and using it twice, and no k × d_W tensor (nor its transposes) is ever written: on
// ResNet-18 at 32×32 the 8×8 and 4×4 stages (P = 64, 16 against O = 256, 512) carry half the network's FLOPs
// and most of its weights (bench/FINDINGS.md, "Block products"). Where P is large (early layers) the direct
// path is cheaper and stays (gramPays).
//
// The im2col is a depthwise Conv with one-hot kernels (C·K output channels, the layer's own strides, pads and
// dilations), its adjoint col2im the matching ConvTranspose (convInputGradient), so every geometry the Conv
// takes is handled by onnxruntime's own index arithmetic.

import type { Graph, Node } from '../../../graph/ir';
import { sizeOf } from '../../../graph/ir';
import { attrInt, attrInts } from './attributes';
import { GraphBuilder, int, ints, sameDims } from './graphBuilder';
import { convInputGradient } from './reverse';

/** One convolution whose weight θ-tangent this file builds. */
export interface GramLayer {
  /** The weight (a θ entry). */
  weight: string;
  conv: Node;
  /** The input gradient's ConvTranspose(∂y, W) (reverse.ts convInputGradient). */
  convT: Node;
  /** ∂L/∂y of the conv (the ConvTranspose's input). */
  gy: string;
  /**
   * 'gram': tW is never made, its two uses come from the Gram matrices (gramWeightTerms); 'gemm': tW itself as two
   * GEMMs over the im2col (weightTangentByGemm), for the second pass's usual rules.
   */
  route: 'gram' | 'gemm';
}

/**
 * Whether the Gram route is cheaper for a layer, in multiply-adds per vector (module comment): kept only when it
 * does under half the direct work, as the small P × P GEMMs run slower per FLOP than the direct convolutions.
 */
export function gramPays(c: number, o: number, kernel: number, p: number): number {
  const ck = c * kernel;
  const gram = 3 * ck * p * p + 3 * o * p * p + 2 * ck * p * kernel;
  const direct = 4 * o * ck * p;
  return gram / direct;
}

/** Above this ratio of gramPays the layer keeps the direct path. */
export const GRAM_MAX_RATIO = 0.5;

/** 'cost': gramPays picks the route per layer; 'all' / 'gemm': every eligible layer one way (tests); 'off': neither. */
export type GramWeightsMode = 'cost' | 'all' | 'gemm' | 'off';

/**
 * The conv weights this file takes over, keyed by weight name: a float32 graph, the parameter read by exactly one
 * forward Conv (group 1, as its weight) and otherwise only by that Conv's input-gradient ConvTranspose, so its
 * gradient is that one correlation. Route 'gram' where gramPays is under GRAM_MAX_RATIO ('cost'), else 'gemm'.
 */
export function planGramLayers(b: GraphBuilder, primal: readonly Node[], forwardCount: number, parameters: readonly string[], mode: GramWeightsMode = 'cost'): Map<string, GramLayer> {
  const plan = new Map<string, GramLayer>();
  if (b.floatType !== 'float32' || mode === 'off') return plan;
  const readers = new Map<string, { node: Node; index: number }[]>();
  primal.forEach((node, index) => {
    for (const v of new Set(node.inputs)) {
      if (!v) continue;
      const list = readers.get(v);
      if (list) list.push({ node, index });
      else readers.set(v, [{ node, index }]);
    }
  });
  for (const p of parameters) {
    const uses = readers.get(p) ?? [];
    const forward = uses.filter((u) => u.index < forwardCount);
    const backward = uses.filter((u) => u.index >= forwardCount);
    if (forward.length !== 1 || backward.length !== 1) continue;
    const conv = forward[0].node;
    const convT = backward[0].node;
    if (conv.opType !== 'Conv' || conv.inputs[1] !== p || conv.inputs[0] === p || conv.inputs[2] === p) continue;
    if (attrInt(conv, 'group', 1) !== 1) continue;
    if (convT.opType !== 'ConvTranspose' || convT.inputs[1] !== p || convT.inputs[0] === p || attrInt(convT, 'group', 1) !== 1) continue;
    const [a] = conv.inputs;
    const y = conv.outputs[0];
    const gy = convT.inputs[0];
    if (!sameDims(b.dims(gy), b.dims(y)) || !sameDims(b.dims(convT.outputs[0]), b.dims(a))) continue;
    if ((['strides', 'dilations'] as const).some((key) => JSON.stringify(attrInts(conv, key)) !== JSON.stringify(attrInts(convT, key)))) continue;
    const wd = b.dims(p);
    const yd = b.dims(y);
    const p_ = yd[0] * sizeOf(yd.slice(2));
    const route = mode === 'all' || (mode === 'cost' && gramPays(wd[1], wd[0], sizeOf(wd.slice(2)), p_) <= GRAM_MAX_RATIO) ? 'gram' : 'gemm';
    plan.set(p, { weight: p, conv, convT, gy, route });
  }
  return plan;
}

/** A forward-graph Conv planGramLayers may take over, with its dims (input: undefined where the types lack it). */
export interface RoutableConv {
  node: Node;
  weight: number[];
  input: number[] | undefined;
  output: number[];
  /** P: output positions over the batch. */
  positions: number;
}

/**
 * The forward graph's Convs that planGramLayers can take over as far as the forward graph tells (group 1, a trainable
 * weight), read from the graph and its types alone (no derivative graph built): what onnxOperator.ts's GramRoute and
 * blockMemory.ts's estimate both count. A weight two Convs share is listed twice although the plan leaves it on the
 * direct path (estimates; no measured model ties conv weights).
 */
export function* routableConvs(graph: Graph, types: ReadonlyMap<string, { dims: number[] }>, trainable: readonly string[]): Generator<RoutableConv> {
  const theta = new Set(trainable);
  const dims = (v: string): number[] | undefined => types.get(v)?.dims ?? graph.initializers.get(v)?.dims;
  for (const node of graph.nodes) {
    if (node.opType !== 'Conv' || !theta.has(node.inputs[1]) || attrInt(node, 'group', 1) !== 1) continue;
    const weight = dims(node.inputs[1]);
    const output = dims(node.outputs[0]);
    if (!weight || !output) continue;
    yield { node, weight, input: dims(node.inputs[0]), output, positions: output[0] * sizeOf(output.slice(2)) };
  }
}

/**
 * Multiply-adds of one weight tangent tW = ∂y-tangent ⊗ a (O·C·K·P) summed over routableConvs: the work whose route
 * the block graph changes (an estimate, for onnxOperator.ts's GramRoute).
 */
export function routableWeightWork(graph: Graph, types: ReadonlyMap<string, { dims: number[] }>, trainable: readonly string[]): number {
  let work = 0;
  for (const c of routableConvs(graph, types, trainable)) work += sizeOf(c.weight) * c.positions;
  return work;
}

/** Geometry of one layer and its im2col operator. */
interface Im2col {
  n: number;
  c: number;
  o: number;
  kernelSize: number;
  xDims: number[];
  ySpatial: number[];
  /** Output positions per image, and P = N · that. */
  positions: number;
  p: number;
  strides: number[];
  pads: number[];
  dilations: number[];
  /** The one-hot depthwise kernel [C·K, 1, k…]. */
  oneHot: string;
}

function im2colOf(b: GraphBuilder, layer: GramLayer): Im2col {
  const [a, w] = layer.conv.inputs;
  const xDims = b.dims(a);
  const wd = b.dims(w);
  const yd = b.dims(layer.conv.outputs[0]);
  const kernel = wd.slice(2);
  const r = kernel.length;
  const kernelSize = sizeOf(kernel);
  const c = wd[1];
  return {
    n: xDims[0], c, o: wd[0], kernelSize, xDims, ySpatial: yd.slice(2),
    positions: sizeOf(yd.slice(2)), p: yd[0] * sizeOf(yd.slice(2)),
    strides: attrInts(layer.conv, 'strides') ?? new Array(r).fill(1),
    pads: attrInts(layer.conv, 'pads') ?? new Array(2 * r).fill(0),
    dilations: attrInts(layer.conv, 'dilations') ?? new Array(r).fill(1),
    oneHot: oneHotKernel(b, c, kernel),
  };
}

/**
 * The im2col kernel of C channels: a depthwise Conv weight [C·K, 1, k…] whose output channel c·K + j copies tap j
 * of channel c (group C), so Conv with it gives the columns and ConvTranspose with it scatters them back (col2im).
 */
export function oneHotKernel(b: GraphBuilder, c: number, kernel: number[]): string {
  const kernelSize = sizeOf(kernel);
  const hot = new Float32Array(c * kernelSize * kernelSize);
  for (let ch = 0; ch < c; ch++) for (let j = 0; j < kernelSize; j++) hot[(ch * kernelSize + j) * kernelSize + j] = 1;
  return b.floats(hot, [c * kernelSize, 1, ...kernel]);
}

/** col(v) for v [M, C, S…] (M = k·N for tangents): [M, C·K, positions]. */
function im2col(b: GraphBuilder, g: Im2col, v: string): string {
  const m = b.dims(v)[0];
  // A 1×1 kernel at stride 1 without padding: the columns are the input itself.
  if (g.kernelSize === 1 && g.strides.every((s) => s === 1) && g.pads.every((p) => p === 0)) return b.reshape(v, [m, g.c, g.positions]);
  const cols = b.op('Conv', [v, g.oneHot], b.real([m, g.c * g.kernelSize, ...g.ySpatial]), {
    strides: ints(g.strides), pads: ints(g.pads), dilations: ints(g.dilations), group: int(g.c),
  }, 'im2col');
  return b.reshape(cols, [m, g.c * g.kernelSize, g.positions]);
}

/** [k·N or N, R, positions] (batch-major) → [k, R, P] with P = N · positions (or [R, P] unblocked). */
function toColumns(b: GraphBuilder, g: Im2col, v: string, k?: number): string {
  const rows = b.dims(v)[1];
  if (k === undefined) return b.reshape(b.transpose(b.reshape(v, [g.n, rows, g.positions]), [1, 0, 2]), [rows, g.p]);
  return b.reshape(b.transpose(b.reshape(v, [k, g.n, rows, g.positions]), [0, 2, 1, 3]), [k, rows, g.p]);
}

/** [k, R, P] → [k, N, R, positions] (the batch-major layout back). */
function fromColumns(b: GraphBuilder, g: Im2col, v: string, k: number): string {
  const rows = b.dims(v)[1];
  return b.transpose(b.reshape(v, [k, rows, g.n, g.positions]), [0, 2, 1, 3]);
}

const matmul = (b: GraphBuilder, x: string, y: string, hint = 'MatMul'): string => {
  const xd = b.dims(x);
  const yd = b.dims(y);
  const batch = xd.length === 3 ? [xd[0]] : yd.length === 3 ? [yd[0]] : [];
  return b.op('MatMul', [x, y], b.real([...batch, xd[xd.length - 2], yd[yd.length - 1]]), {}, hint);
};

/**
 * The second pass's moving-weight terms of one Gram layer: `forward` for Conv(a, tW) ([k, …y]) and `backward` for
 * ConvTranspose(∂y, tW) ([k, …x]), from the first pass's tangents of a and ∂y (`first`, blocked [k, …]).
 * Returns undefined for a term whose tW is zero (neither a nor ∂y moves in the first pass).
 */
export function gramWeightTerms(b: GraphBuilder, layer: GramLayer, first: (v: string) => string | undefined, k: number): { forward?: string; backward?: string } {
  const g = im2colOf(b, layer);
  const a = layer.conv.inputs[0];
  const ta = first(a);
  const tgy = first(layer.gy);
  if (!ta && !tgy) return {};
  // Primal, once per call: A [CK, P], Aᵀ, ∂y [O, P] and ∂yᵀ, AᵀA and ∂yᵀ∂y [P, P].
  const A = toColumns(b, g, im2col(b, g, a));
  const AT = b.transpose(A, [1, 0]);
  const gy = toColumns(b, g, b.reshape(layer.gy, [g.n, g.o, g.positions]));
  const gyT = b.transpose(gy, [1, 0]);
  // Per vector: tA [k, CK, P], tGy [k, O, P].
  const tA = ta && toColumns(b, g, im2col(b, g, b.reshape(ta, [k * g.n, ...g.xDims.slice(1)])), k);
  const tGy = tgy && toColumns(b, g, b.reshape(tgy, [k * g.n, g.o, g.positions]), k);
  const sum = (x: string | undefined, y: string | undefined): string => (x && y ? b.add(x, y) : (x ?? y)!);
  // tW A = tGy (AᵀA) + ∂y (tAᵀA), with tAᵀA the transpose of Aᵀ tA (a P × P per vector, not the CK × P tA).
  const forwardCols = sum(
    tGy && matmul(b, tGy, matmul(b, AT, A, 'gram')),
    tA && matmul(b, gy, b.transpose(matmul(b, AT, tA), [0, 2, 1])),
  );
  const yDims = [k, g.n, g.o, ...g.ySpatial];
  const forward = b.reshape(fromColumns(b, g, forwardCols, k), yDims);
  // tWᵀ ∂y = A (tGyᵀ ∂y) + tA (∂yᵀ∂y), then col2im.
  const cols = sum(
    tGy && matmul(b, A, b.transpose(matmul(b, gyT, tGy), [0, 2, 1])),
    tA && matmul(b, tA, matmul(b, gyT, gy, 'gram')),
  );
  const image = b.reshape(fromColumns(b, g, cols, k), [k * g.n, g.c * g.kernelSize, ...g.ySpatial]);
  const xBlock = [k * g.n, ...g.xDims.slice(1)];
  const backward = b.reshape(convInputGradient(b, image, g.oneHot, xBlock, g.strides, g.pads, g.dilations, g.c), [k, ...g.xDims]);
  return { forward, backward };
}

/**
 * tW_i = tGy_i Aᵀ + ∂y tA_iᵀ for the k vectors as two GEMMs, [k, …W]: the first one GEMM of [k·O, P] by [P, C·K]
 * (Aᵀ shared), the second ∂y [O, P] by each tA_iᵀ (onnxruntime folds the transpose into the GEMM). Both write
 * the weight's own layout [O, C·K], where the correlation Conv (reverse.ts convWeightGradient) runs C·k images of
 * N = K columns each and leaves [C, k·O, K] to crop and transpose (bench/FINDINGS.md, "Block products").
 */
export function weightTangentByGemm(b: GraphBuilder, layer: GramLayer, first: (v: string) => string | undefined, k: number): string | undefined {
  const g = im2colOf(b, layer);
  const a = layer.conv.inputs[0];
  const ta = first(a);
  const tgy = first(layer.gy);
  if (!ta && !tgy) return undefined;
  const A = toColumns(b, g, im2col(b, g, a));
  const ck = g.c * g.kernelSize;
  const terms: string[] = [];
  if (tgy) {
    const tGy = toColumns(b, g, b.reshape(tgy, [k * g.n, g.o, g.positions]), k);
    terms.push(b.reshape(matmul(b, b.reshape(tGy, [k * g.o, g.p]), b.transpose(A, [1, 0]), 'tW'), [k, g.o, ck]));
  }
  if (ta) {
    const gy = toColumns(b, g, b.reshape(layer.gy, [g.n, g.o, g.positions]));
    const tA = toColumns(b, g, im2col(b, g, b.reshape(ta, [k * g.n, ...g.xDims.slice(1)])), k);
    terms.push(matmul(b, gy, b.transpose(tA, [0, 2, 1]), 'tW'));
  }
  const sum = terms.length === 2 ? b.add(terms[0], terms[1]) : terms[0];
  return b.reshape(sum, [k, ...b.dims(layer.weight)]);
}

/**
 * ConvTranspose(∂y, tW_i) for a materialised blocked weight tangent tW [k, …W] (the 'gemm' route) as one batched
 * GEMM tW_iᵀ ∂y [k, C·K, P] (∂y shared; onnxruntime folds the transpose into the GEMM) and col2im, instead of ∂y
 * repeated k times along its channels into a k-group ConvTranspose (blockTangent.ts convTransposeBlockedWeight).
 */
export function convTransposeOfWeightTangent(b: GraphBuilder, layer: GramLayer, tW: string, k: number): string {
  const g = im2colOf(b, layer);
  const ck = g.c * g.kernelSize;
  const gy = toColumns(b, g, b.reshape(layer.gy, [g.n, g.o, g.positions]));
  const cols = matmul(b, b.transpose(b.reshape(tW, [k, g.o, ck]), [0, 2, 1]), gy);
  const image = b.reshape(fromColumns(b, g, cols, k), [k * g.n, ck, ...g.ySpatial]);
  const xBlock = [k * g.n, ...g.xDims.slice(1)];
  return b.reshape(convInputGradient(b, image, g.oneHot, xBlock, g.strides, g.pads, g.dilations, g.c), [k, ...g.xDims]);
}

// Forward-mode rules (Jacobian–vector products) for every op that appears in a forward or backward graph: the
// second half of forward-over-reverse. Bilinear ops (Mul, MatMul, Gemm, Conv, ConvTranspose) give two terms;
// masks, argmax indices and shapes carry no tangent.

import type { Node, Tensor } from '../../../graph/ir';
import { UserError } from '../../../errors';
import { attrFloat, attrInt, attrInts } from './attributes';
import { GraphBuilder, sameDims } from './graphBuilder';
import { constInts, gatherFlat, gemm, matmul, maxPoolIndices, positiveMask } from './reverse';

export interface TangentContext {
  b: GraphBuilder;
  file: string;
  /** The tangent of a value, if it has one (undefined = zero). */
  tangent(value: string): string | undefined;
  constant(value: string): Tensor | undefined;
}

const NO_TANGENT = new Set(['Greater', 'Less', 'Equal', 'Not', 'Shape', 'ConstantOfShape', 'Range', 'Cast']);

/** Returns the tangent of the node's first output, or undefined when it is zero / not differentiable. */
export function tangentNode(node: Node, ctx: TangentContext): string | undefined {
  const { b } = ctx;
  const t = (i: number): string | undefined => (node.inputs[i] ? ctx.tangent(node.inputs[i]) : undefined);
  const ta = t(0);
  const tc = t(1);
  if (NO_TANGENT.has(node.opType)) return undefined;
  if (!node.inputs.some((_, i) => t(i))) return undefined;
  const [a, c] = node.inputs;
  const y = node.outputs[0];
  const yDims = b.dims(y);
  const fit = (v: string): string => (sameDims(b.dims(v), yDims) ? v : b.expand(v, yDims));
  const sum = (terms: (string | undefined)[]): string | undefined => {
    const present = terms.filter((x): x is string => !!x);
    if (present.length === 0) return undefined;
    return fit(present.slice(1).reduce((acc, v) => b.add(acc, v), present[0]));
  };
  switch (node.opType) {
    case 'Add':
      return sum([ta, tc]);
    case 'Sub':
      return sum([ta, tc && b.neg(tc)]);
    case 'Mul':
      return sum([ta && b.mul(ta, c), tc && b.mul(a, tc)]);
    case 'Div':
      // d(a/c) = (da − y·dc)/c
      return sum([ta && b.div(ta, c), tc && b.neg(b.div(b.mul(y, tc), c))]);
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
      const axis = attrInt(node, 'axis', -1);
      const ax = axis < 0 ? axis + yDims.length : axis;
      return b.mul(y, b.sub(ta!, b.reduceSum(b.mul(ta!, y), [ax], true)));
    }
    case 'LogSoftmax': {
      const axis = attrInt(node, 'axis', -1);
      const ax = axis < 0 ? axis + yDims.length : axis;
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
        ta && gemm(b, ta, c, alpha, transA, transB),
        tc && gemm(b, a, tc, alpha, transA, transB),
        tBias && b.scale(tBias, beta),
      ]);
    }
    case 'MatMul':
      return sum([ta && matmul(b, ta, c), tc && matmul(b, a, tc)]);
    case 'Conv':
    case 'ConvTranspose': {
      const attrs = { ...node.attributes };
      const conv = (x: string, w: string): string => b.op(node.opType, [x, w], b.real(yDims), attrs, node.opType);
      const tBias = t(2);
      return sum([
        ta && conv(ta, c),
        tc && conv(a, tc),
        tBias && b.reshape(tBias, [1, yDims[1], ...yDims.slice(2).map(() => 1)]),
      ]);
    }
    case 'MaxPool':
      return gatherFlat(b, ta!, maxPoolIndices(b, node));
    case 'AveragePool':
    case 'GlobalAveragePool':
      return b.op(node.opType, [ta!], b.real(yDims), { ...node.attributes });
    case 'Reshape':
      return b.reshape(ta!, yDims);
    case 'Transpose':
      return b.op('Transpose', [ta!], b.real(yDims), { ...node.attributes });
    case 'Expand':
      return b.expand(ta!, yDims);
    case 'ReduceSum':
    case 'Slice':
    case 'Gather':
    case 'Pad': {
      // Linear in the data input; the other inputs are constant parameters (axes, starts, indices, pads).
      const inputs = [...node.inputs];
      inputs[0] = ta!;
      if (node.opType === 'Pad' && inputs[2]) inputs[2] = b.scalar(0);
      return b.op(node.opType, inputs, b.real(yDims), { ...node.attributes });
    }
    case 'Concat': {
      const parts = node.inputs.map((v) => ctx.tangent(v) ?? b.zeros(b.dims(v)));
      return b.op('Concat', parts, b.real(yDims), { ...node.attributes });
    }
    case 'Where': {
      const cond = node.inputs[0];
      const tt = t(1) ?? b.scalar(0);
      const tf = t(2) ?? b.scalar(0);
      return b.op('Where', [cond, tt, tf], b.real(yDims));
    }
    case 'ScatterElements': {
      // Linear in data and updates (the indices are argmaxes or static maps: constant).
      const data = ta ?? b.zeros(b.dims(a));
      const upd = t(2) ?? b.zeros(b.dims(node.inputs[2]));
      return b.op('ScatterElements', [data, node.inputs[1], upd], b.real(yDims), { ...node.attributes });
    }
    default:
      throw new UserError('unsupported-op', `no tangent rule for ${node.opType}`, { file: ctx.file, node: node.name, op: node.opType });
  }
}

export { attrInts, constInts };

// Rewrites the piecewise-linear activations of mobile architectures into Relu, Sub, Add and Mul, which every
// derivative engine already differentiates to second order in float32 and float64: Clip (ReLU6 exports as
// Clip(x, 0, 6)), HardSigmoid and HardSwish (MobileNetV3). The rewrite is exact away from the kinks, where the
// derivatives of both sides are the same step functions, and changes the forward values by float rounding only.
//
//   clip(x, a, b)     = a + relu(x − a) − relu(x − b)           (a ≤ b; a missing bound drops its term)
//   hardsigmoid(x)    = relu(αx + β) − relu(αx + β − 1)          (ONNX: max(0, min(1, αx + β)))
//   hardswish(x)      = x · hardsigmoid(x) with α = 1/6, β = 1/2

import type { Graph, Node, Tensor } from './ir';
import { UserError } from '../errors';

export const DECOMPOSED_OPS: ReadonlySet<string> = new Set(['Clip', 'HardSigmoid', 'HardSwish']);

/** A copy of the graph with Clip / HardSigmoid / HardSwish rewritten; the same graph object when it has none. */
export function decomposePiecewiseLinear(graph: Graph, file?: string): Graph {
  if (!graph.nodes.some((n) => DECOMPOSED_OPS.has(n.opType) && (n.domain === '' || n.domain === 'ai.onnx'))) return graph;
  const initializers = new Map(graph.initializers);
  const nodes: Node[] = [];
  let k = 0;
  const scalar = (value: number): string => {
    const name = `onnx::decompose_const_${k++}`;
    const t: Tensor = { dtype: 'float32', dims: [], data: Float32Array.of(value) };
    initializers.set(name, t);
    return name;
  };
  const emit = (base: string, opType: string, inputs: string[], output?: string): string => {
    const out = output ?? `${base}/${opType}_${k++}`;
    nodes.push({ name: `${base}/${opType}_${k++}`, opType, domain: '', inputs, outputs: [out], attributes: {} });
    return out;
  };
  /** a + relu(x − a) − relu(x − b), with either bound possibly absent. */
  const clip = (base: string, x: string, lo: string | undefined, hi: string | undefined, out: string): void => {
    if (!lo && !hi) {
      emit(base, 'Identity', [x], out);
      return;
    }
    if (lo && hi) {
      const upper = emit(base, 'Relu', [emit(base, 'Sub', [x, lo])]);
      const over = emit(base, 'Relu', [emit(base, 'Sub', [x, hi])]);
      emit(base, 'Sub', [emit(base, 'Add', [lo, upper]), over], out);
    } else if (lo) {
      emit(base, 'Add', [lo, emit(base, 'Relu', [emit(base, 'Sub', [x, lo])])], out);
    } else {
      emit(base, 'Sub', [x, emit(base, 'Relu', [emit(base, 'Sub', [x, hi!])])], out);
    }
  };
  const floatAttr = (n: Node, name: string, fallback: number): number => {
    const a = n.attributes[name];
    return a && a.type === 'float' ? a.value : fallback;
  };
  for (const n of graph.nodes) {
    if (!DECOMPOSED_OPS.has(n.opType) || (n.domain !== '' && n.domain !== 'ai.onnx')) {
      nodes.push(n);
      continue;
    }
    const base = n.name || `${n.opType}_${k++}`;
    const [x] = n.inputs;
    const out = n.outputs[0];
    if (n.opType === 'Clip') {
      // Opset ≥ 11: min and max are optional inputs; before that, float attributes.
      let lo: string | undefined = n.inputs[1] || undefined;
      let hi: string | undefined = n.inputs[2] || undefined;
      if (n.attributes.min) lo = scalar(floatAttr(n, 'min', 0));
      if (n.attributes.max) hi = scalar(floatAttr(n, 'max', 0));
      const bound = (name: string | undefined) => (name ? initializers.get(name) : undefined);
      const [a, b] = [bound(lo), bound(hi)];
      if (a && b && a.data.length === 1 && b.data.length === 1 && Number(a.data[0]) > Number(b.data[0]))
        throw new UserError('unsupported-op', `Clip with min ${a.data[0]} above max ${b.data[0]}`, { file, node: n.name, op: n.opType });
      clip(base, x, lo, hi, out);
    } else {
      const alpha = n.opType === 'HardSwish' ? 1 / 6 : floatAttr(n, 'alpha', 0.2);
      const beta = n.opType === 'HardSwish' ? 0.5 : floatAttr(n, 'beta', 0.5);
      const z = emit(base, 'Add', [emit(base, 'Mul', [x, scalar(alpha)]), scalar(beta)]);
      const hs = emit(base, 'Sub', [emit(base, 'Relu', [z]), emit(base, 'Relu', [emit(base, 'Sub', [z, scalar(1)])])], n.opType === 'HardSigmoid' ? out : undefined);
      if (n.opType === 'HardSwish') emit(base, 'Mul', [x, hs], out);
    }
  }
  return { ...graph, nodes, initializers };
}

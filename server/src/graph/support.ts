// Decides whether the analysis can take a model: the forward ops it differentiates, the default domain only, and a
// known opset; plus the op histogram reports show.

import { UserError } from '../errors';
import type { Graph, Model } from './ir';
import { defaultOpset } from './ir';

export { topologicalOrder } from './topology';

/** Forward ops torch.onnx.export writes for MLPs, LeNets, ResNets (BatchNorm inference) and small ViTs. */
export const SUPPORTED_OPS: ReadonlySet<string> = new Set([
  'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Sqrt', 'Neg', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Erf',
  'Gelu', 'Softmax', 'LogSoftmax', 'Conv', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'BatchNormalization',
  'LayerNormalization', 'InstanceNormalization', 'Flatten', 'Reshape', 'Transpose', 'Concat', 'Slice', 'Pad', 'Identity', 'Dropout',
  'Constant', 'Shape', 'Gather', 'Unsqueeze', 'Squeeze', 'Cast', 'ReduceMean', 'ReduceSum', 'Expand', 'Where',
  'Equal', 'ConstantOfShape', 'Range', 'Split', 'Einsum',
  // Rewritten into Relu/Add/Sub/Mul before differentiation (decompose.ts): ReLU6, MobileNetV3's hard activations.
  'Clip', 'HardSigmoid', 'HardSwish',
]);

/** Opsets whose forward ops we know; older files predate the op definitions above, newer ones may change them. */
export const MIN_OPSET = 7;
export const MAX_OPSET = 21;

export interface UnsupportedOp {
  op: string;
  node: string;
  domain: string;
}

const isDefaultDomain = (domain: string) => domain === '' || domain === 'ai.onnx';

/**
 * Every node the analysis cannot take (custom domains included), in file order. An If is taken when both its branches
 * are: the fold at a fixed batch (fold.ts) replaces it by the branch its condition selects, or refuses it when the
 * condition depends on the input's values.
 */
export function unsupportedOps(model: Model): UnsupportedOp[] {
  return unsupportedIn(model.graph);
}

function unsupportedIn(graph: Graph): UnsupportedOp[] {
  return graph.nodes.flatMap((n): UnsupportedOp[] => {
    const self = [{ op: n.opType, node: n.name, domain: n.domain }];
    if (!isDefaultDomain(n.domain)) return self;
    if (n.opType === 'If') {
      const branches = [n.attributes.then_branch, n.attributes.else_branch];
      return branches.every((b) => b?.type === 'graph') ? branches.flatMap((b) => unsupportedIn((b as { value: Graph }).value)) : self;
    }
    return SUPPORTED_OPS.has(n.opType) ? [] : self;
  });
}

/**
 * Throws UserError('unsupported-opset' | 'unsupported-op') naming the file and, for ops, the first offending node
 * (and how many others there are, so a user knows the size of the problem).
 */
export function checkSupport(model: Model, file: string): void {
  const opset = defaultOpset(model);
  if (opset < MIN_OPSET || opset > MAX_OPSET)
    throw new UserError(
      'unsupported-opset',
      `${file} uses ONNX opset ${opset || '(none declared)'}; the analysis supports opsets ${MIN_OPSET}–${MAX_OPSET}: re-export with e.g. opset_version=17`,
      { file },
    );
  const bad = unsupportedOps(model);
  if (!bad.length) return;
  const first = bad[0];
  const kinds = [...new Set(bad.map((b) => qualified(b)))];
  const custom = !isDefaultDomain(first.domain);
  const why = custom
    ? `is a custom op from domain '${first.domain}', which the analysis cannot differentiate`
    : 'is not an op the analysis can differentiate';
  const more = bad.length > 1 ? ` (${bad.length} unsupported nodes in all: ${kinds.join(', ')})` : '';
  throw new UserError('unsupported-op', `op ${qualified(first)} in node '${first.node}' of ${file} ${why}${more}`, {
    file,
    node: first.node,
    op: first.op,
  });
}

function qualified(u: UnsupportedOp): string {
  return isDefaultDomain(u.domain) ? u.op : `${u.domain}::${u.op}`;
}

/** How many nodes of each op a graph has, most frequent first (ties by name), for reports. */
export function opHistogram(model: Model | Graph): { op: string; domain: string; count: number }[] {
  const graph = 'graph' in model ? model.graph : model;
  const counts = new Map<string, { op: string; domain: string; count: number }>();
  for (const n of graph.nodes) {
    const domain = isDefaultDomain(n.domain) ? '' : n.domain;
    const key = `${domain}::${n.opType}`;
    const entry = counts.get(key) ?? { op: n.opType, domain, count: 0 };
    entry.count++;
    counts.set(key, entry);
  }
  return [...counts.values()].sort((a, b) => b.count - a.count || a.op.localeCompare(b.op));
}

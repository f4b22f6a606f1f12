// What a model's first output is: logits, or probabilities behind a final Sigmoid. Binary cross-entropy is taken on
// the Sigmoid's input (BCELoss(σ(z), t) = BCEWithLogitsLoss(z, t)), and a binary model's own prediction reads its
// output as a probability (> 1/2) rather than a logit (> 0). Likewise cross-entropy is taken on the input of a final
// Softmax/LogSoftmax (a model exporting probabilities or log-probabilities: CE on logits = NLL on log_softmax).

import type { Graph } from './ir';

/** The input of the Sigmoid that produces the graph's first output (Identity and Dropout seen through), if any. */
export function finalSigmoidInput(graph: Graph): string | undefined {
  return finalInputOf(graph, ['Sigmoid']);
}

/** The input of the Softmax/LogSoftmax that produces the graph's first output (as finalSigmoidInput), if any. */
export function finalSoftmaxInput(graph: Graph): string | undefined {
  return finalInputOf(graph, ['Softmax', 'LogSoftmax']);
}

function finalInputOf(graph: Graph, ops: readonly string[]): string | undefined {
  const producer = new Map<string, Graph['nodes'][number]>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  let v = graph.outputs[0]?.name;
  for (let hops = 0; v !== undefined && hops < graph.nodes.length; hops++) {
    const node = producer.get(v);
    if (!node) return undefined;
    if (ops.includes(node.opType)) return node.inputs[0];
    if (node.opType !== 'Identity' && node.opType !== 'Dropout') return undefined;
    v = node.inputs[0];
  }
  return undefined;
}

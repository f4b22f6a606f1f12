// What a model's first output is: logits, or probabilities behind a final Sigmoid. Binary cross-entropy is taken on
// the Sigmoid's input (BCELoss(σ(z), t) = BCEWithLogitsLoss(z, t)), and a binary model's own prediction reads its
// output as a probability (> 1/2) rather than a logit (> 0).

import type { Graph } from './ir';

/** The input of the Sigmoid that produces the graph's first output (Identity and Dropout seen through), if any. */
export function finalSigmoidInput(graph: Graph): string | undefined {
  const producer = new Map<string, Graph['nodes'][number]>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) producer.set(o, n);
  let v = graph.outputs[0]?.name;
  for (let hops = 0; v !== undefined && hops < graph.nodes.length; hops++) {
    const node = producer.get(v);
    if (!node) return undefined;
    if (node.opType === 'Sigmoid') return node.inputs[0];
    if (node.opType !== 'Identity' && node.opType !== 'Dropout') return undefined;
    v = node.inputs[0];
  }
  return undefined;
}

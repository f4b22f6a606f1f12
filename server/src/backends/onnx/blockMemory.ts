// What one more vector of a block J Jᵀ V call keeps alive (gramVectors, maxBlock): measured as peak RSS against k
// with bench/blocks.ts (`--ks K --no-single`, one process per k; bench/FINDINGS.md, issue 18, "maxBlock from the
// memory the block graph keeps"), and estimated here from the forward graph alone so that maxBlock is known before
// any product graph is built.
//
// Per vector, in float32 values:
//   2 · A                the two tangent passes each carry a tangent of the forward activations (A: the forward
//                        graph's float values that are not initialisers, at the operator's batch)
//   + d_θ − W_gram       the θ-space tangents made between the passes: every parameter's, except the conv weights
//                        gramWeights.ts routes through the Gram matrices, whose tangent is never built
//   + Σ_gram (|a| + |y|) the first pass's tangents of those layers' input and output, kept for the second pass
// ResNet-18 at 32×32: 5.07M values, 20.3 MB per vector against 20–23 MB measured (k = 2…16); ResNet-50 at 224×224:
// 87.7M values, 351 MB against 243–315 MB per step of k from 1 to 6 and 347 MB averaged over k = 1…12 (the CPU
// arena grows in uneven steps). The old rule, d_θ plus every float value of the forward graph (initialisers too),
// gave 98 MB on ResNet-18 (5× the measured) and 355 MB on ResNet-50.

import type { Graph } from '../../graph/ir';
import { sizeOf } from '../../graph/ir';
import { GRAM_MAX_RATIO, gramPays, routableConvs } from './derivatives/gramWeights';
import type { ValueType } from './derivatives/graphBuilder';

export interface BlockVectorFloats {
  /** A: float values of the forward graph that are not initialisers. */
  activations: number;
  /** d_θ. */
  parameters: number;
  /** Conv weights whose θ-tangent the Gram route never builds (W_gram). */
  gramWeights: number;
  /** Σ over those layers of their input and output sizes (first-pass tangents kept for the second pass). */
  gramOperands: number;
  /** Float32 values per vector: 2·A + d_θ − W_gram + gramOperands. */
  total: number;
}

/**
 * The estimate above for a forward graph specialised to a batch (types of every value) and its θ. A Conv counts as
 * Gram-routed as planGramLayers decides it in 'cost' mode (group 1, a trainable weight, gramPays ≤ GRAM_MAX_RATIO);
 * a weight two Convs share would stay on the direct path there, and counting it here as routed only happens for
 * models that tie conv weights (none of the measured ones).
 */
export function blockVectorFloats(graph: Graph, types: ReadonlyMap<string, ValueType>, trainable: readonly string[]): BlockVectorFloats {
  let activations = 0;
  for (const [name, t] of types) if (t.dtype === 'float32' && !graph.initializers.has(name)) activations += sizeOf(t.dims);
  let parameters = 0;
  for (const p of new Set(trainable)) parameters += sizeOf(graph.initializers.get(p)?.dims ?? []);
  let gramWeights = 0;
  let gramOperands = 0;
  for (const { weight, input, output, positions } of routableConvs(graph, types, trainable)) {
    if (!input || gramPays(weight[1], weight[0], sizeOf(weight.slice(2)), positions) > GRAM_MAX_RATIO) continue;
    gramWeights += sizeOf(weight);
    gramOperands += sizeOf(input) + sizeOf(output);
  }
  return { activations, parameters, gramWeights, gramOperands, total: 2 * activations + parameters - gramWeights + gramOperands };
}

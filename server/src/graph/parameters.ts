// Identifies θ: the initialisers PyTorch's named_parameters would list, in the order the graph first uses them, less
// those the model's code froze (requires_grad False), whose gradient training never computes nor shares.

import type { Model, Tensor } from './ir';
import { sizeOf } from './ir';
import { isFloat } from './evaluate';
import { topologicalOrder } from './topology';

/**
 * Slots where any float initialiser is a learned weight, whatever its name: torch.onnx.export renames weights it
 * computed at export time ('onnx::Conv_193' after fusing BatchNorm into Conv, 'onnx::MatMul_12' for a pre-transposed
 * Linear weight), and those are still what a client trains and shares.
 * BatchNormalization lists only scale and B: running mean and variance are statistics (ARCHITECTURE.md).
 */
const WEIGHT_SLOTS: Record<string, number[]> = {
  Conv: [1, 2],
  ConvTranspose: [1, 2],
  Gemm: [0, 1, 2],
  MatMul: [0, 1],
  Einsum: [0, 1, 2, 3],
  BatchNormalization: [1, 2],
  InstanceNormalization: [1, 2],
  LayerNormalization: [1, 2],
  GroupNormalization: [1, 2],
  PRelu: [1],
  Gather: [0], // an embedding table (shape chains gather from int64 values, which are not float)
};

/**
 * Slots where a float initialiser is a weight only if it has more than one element and a name the user gave
 * (not 'onnx::…'): LayerNorm written as Mul/Add, a position embedding added, a class token concatenated. Scalars
 * and exporter-named tensors there are constants (ε, 1/√d, 0.5 of GELU). Sub, Div and Pow operands are never θ:
 * what a model subtracts or divides by is a normalisation buffer (mean, std), not a trained weight.
 */
const ELEMENTWISE_SLOTS: Record<string, 'all'> = { Add: 'all', Mul: 'all', Concat: 'all' };

/** Ops that only re-lay a tensor out: a weight seen through them keeps its role (Linear as MatMul(x, Transpose(W))). */
const LAYOUT_OPS = new Set(['Identity', 'Transpose', 'Reshape', 'Flatten', 'Unsqueeze', 'Squeeze', 'Cast', 'Expand', 'Dropout']);

/**
 * ModelProto.metadata_props key of the parameters the model's own code froze, as a JSON array of names: written by the
 * export bridge (python/exportModel.ts) from `requires_grad` when the factory returns the model, as a transfer-learning
 * model freezes its backbone (`model.requires_grad_(False); model.heads.requires_grad_(True)`).
 */
export const FROZEN_PARAMETERS_KEY = 'i2f.frozen_parameters';

/**
 * The parameters the file says are frozen. A value that is not a JSON array of strings freezes nothing: every
 * parameter then counts, the more exposed reading (more of the gradient shared).
 */
export function frozenParameters(model: Model): Set<string> {
  const raw = model.metadataProps?.[FROZEN_PARAMETERS_KEY];
  if (raw === undefined) return new Set();
  try {
    const names: unknown = JSON.parse(raw);
    return Array.isArray(names) && names.every((n) => typeof n === 'string') ? new Set(names as string[]) : new Set();
  } catch {
    return new Set();
  }
}

/**
 * θ: the model's parameters (namedParameters) less those frozen (frozenParameters). Only these have a gradient in
 * training, so g, J and every product are taken with respect to them alone.
 */
export function trainableParameters(model: Model): string[] {
  const frozen = frozenParameters(model);
  const named = namedParameters(model);
  return frozen.size ? named.filter((n) => !frozen.has(n)) : named;
}

/**
 * The parameters as PyTorch's named_parameters would list them (see WEIGHT_SLOTS and ELEMENTWISE_SLOTS for the rule):
 * float initialisers that some node uses as a weight, bias or scale, directly or through layout ops. An initialiser
 * read only by shape computations (Shape, Reshape targets, Slice bounds) or as a statistic is not one. Order: first
 * use in the topologically sorted graph.
 */
export function namedParameters(model: Model): string[] {
  const { initializers } = model.graph;
  const origin = new Map<string, string>(); // value → the float initialiser it is a view of
  for (const [name, t] of initializers) if (isFloat(t.dtype)) origin.set(name, name);

  const theta: string[] = [];
  const seen = new Set<string>();
  const take = (name: string) => {
    if (!seen.has(name)) {
      seen.add(name);
      theta.push(name);
    }
  };
  for (const node of topologicalOrder(model.graph)) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    if (LAYOUT_OPS.has(node.opType)) {
      const o = origin.get(node.inputs[0]);
      if (o && node.outputs[0]) origin.set(node.outputs[0], o);
      continue;
    }
    // Own keys only (an op named 'toString' is the file's word, not a member of these tables).
    const weightSlots = Object.hasOwn(WEIGHT_SLOTS, node.opType) ? WEIGHT_SLOTS[node.opType] : undefined;
    const elementwise = Object.hasOwn(ELEMENTWISE_SLOTS, node.opType) ? ELEMENTWISE_SLOTS[node.opType] : undefined;
    node.inputs.forEach((input, slot) => {
      const o = input === '' ? undefined : origin.get(input);
      if (!o) return;
      if (weightSlots?.includes(slot)) take(o);
      else if (elementwise && isLearnedLooking(o, initializers.get(o)!)) take(o);
    });
  }
  return theta;
}

function isLearnedLooking(name: string, t: Tensor): boolean {
  return sizeOf(t.dims) > 1 && !name.startsWith('onnx::');
}

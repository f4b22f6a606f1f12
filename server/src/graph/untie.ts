// Undoes torch.onnx.export's merging of parameters that happen to hold equal values: the exporter keeps one
// initialiser and turns each other parameter into `Identity(kept)` named after it (fresh LayerNorm/BatchNorm weights
// are all ones, biases all zeros). Clients train and share those parameters separately, so θ must list each one.

import type { Model } from './ir';
import { isFloat } from './evaluate';

/**
 * Gives every `Identity(initialiser)` whose output carries a user-given name (not 'onnx::…') its own copy of the
 * data under that name and drops the Identity. Returns the names made distinct again.
 */
export function untieExportedParameters(model: Model): string[] {
  const { graph } = model;
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const untied: string[] = [];
  graph.nodes = graph.nodes.filter((node) => {
    if (node.opType !== 'Identity' || (node.domain !== '' && node.domain !== 'ai.onnx')) return true;
    const source = graph.initializers.get(node.inputs[0]);
    const name = node.outputs[0];
    if (!source || !isFloat(source.dtype) || name.startsWith('onnx::') || outputs.has(name) || graph.initializers.has(name)) return true;
    graph.initializers.set(name, { dtype: source.dtype, dims: [...source.dims], data: source.data.slice() });
    untied.push(name);
    return false;
  });
  return untied;
}

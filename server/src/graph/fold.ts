// Simplifies a forward graph for analysis at one batch size: constants become initialisers, shape chains fold,
// inference no-ops (Identity, Dropout) disappear, an If whose condition folds becomes the branch it takes, a final
// Sigmoid is moved past the reshapes after it, and every trainable parameter stays a named input of a node.

import type { Graph, Model, Node, Tensor, ValueInfo } from './ir';
import { sizeOf } from './ir';
import { EVALUABLE_OPS, evaluateNode } from './evaluate';
import { inferNode, type ValueType } from './shapes';
import { UserError } from '../errors';
import { topologicalOrder } from './topology';

export interface FoldOptions {
  /** Batch size to specialise to: every graph input's leading dynamic axis becomes this. */
  batch?: number;
  /** Concrete dims per graph input (overrides `batch` for the inputs it names). */
  inputs?: Map<string, number[]>;
  /** The model file, for messages. */
  file?: string;
  /** Largest constant (in elements) a folded node may produce; bigger constant sub-graphs stay nodes. */
  maxFoldedElements?: number;
}

/**
 * A copy of `model` simplified for derivative graphs and shape inference. Never folds through a trainable parameter:
 * a node that reads θ (even `Transpose(fc.weight)`) stays a node, so θ keeps its name and layout. With `batch` (or
 * `inputs`) the graph is specialised: inputs get concrete dims, so Shape of the batch input becomes a constant and
 * Shape→Gather→Unsqueeze→Concat→Reshape chains fold to constant targets. Without concrete dims only what does not
 * depend on the input's size folds. The input model is not changed.
 */
export function simplifyForAnalysis(model: Model, trainable: ReadonlySet<string>, options: FoldOptions = {}): Model {
  const graph = model.graph;
  const { file } = options;
  const maxFolded = options.maxFoldedElements ?? 1 << 20;

  const inputs = specialiseInputs(graph.inputs, options);
  const types = new Map<string, ValueType>();
  for (const [name, t] of graph.initializers) types.set(name, { dtype: t.dtype, dims: [...t.dims] });
  for (const vi of inputs)
    if (vi.dims.every((d) => typeof d === 'number' && d >= 0)) types.set(vi.name, { dtype: vi.dtype, dims: vi.dims as number[] });

  // `constants` are values a fold may read: never a trainable parameter, nor anything computed from one.
  const constants = new Map<string, Tensor>();
  for (const [name, t] of graph.initializers) if (!trainable.has(name)) constants.set(name, t);
  const created = new Map<string, Tensor>();

  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const graphInputs = new Set(graph.inputs.map((i) => i.name));
  const alias = new Map<string, string>(); // removed no-op output → its input
  const rename = new Map<string, string>(); // producer output → the graph-output name a removed Identity carried
  const resolve = (name: string): string => {
    let n = name;
    for (let guard = 0; alias.has(n) && guard < 1e6; guard++) n = alias.get(n)!;
    return n;
  };
  const consumers = new Map<string, number>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i !== '') consumers.set(i, (consumers.get(i) ?? 0) + 1);

  const kept: Node[] = [];
  const order = topologicalOrder(graph);
  for (let k = 0; k < order.length; k++) {
    const original = order[k];
    const node: Node = { ...original, inputs: original.inputs.map((i) => (i === '' ? '' : resolve(i))) };
    // PyTorch's exporter guards `squeeze(d)` on a dimension it cannot size with If(Shape(x)[d] == 1): at a fixed batch
    // the condition is a constant, and the branch it takes runs in the If's place (its nodes next, in order).
    if (node.opType === 'If' && constants.has(node.inputs[0])) {
      const taken = takenBranch(node, constants.get(node.inputs[0])!);
      if (taken) {
        order.splice(k + 1, 0, ...taken.nodes);
        for (const [name, t] of taken.initializers) {
          constants.set(name, t);
          created.set(name, t);
          types.set(name, { dtype: t.dtype, dims: [...t.dims] });
        }
        continue;
      }
    }
    if (node.opType === 'If')
      throw new UserError('unsupported-op', `the condition of If node '${node.name}' depends on the input's values, so the branch the model takes is not known before it runs: the analysis differentiates one fixed graph`, { file, node: node.name, op: 'If' });
    const known = node.inputs.every((i) => i === '' || types.has(i));
    let outputs: ValueType[] | undefined;
    let produced = new Map<string, Tensor>();
    if (known) ({ outputs, produced } = inferNode(node, types, constants, file));

    // Constant, Shape and Size know their value from attributes or input types.
    if (produced.size && node.outputs.every((o) => o === '' || produced.has(o))) {
      for (const [name, t] of produced) {
        constants.set(name, t);
        created.set(name, t);
      }
      continue;
    }

    if (removeNoOp(node)) continue;

    const allConstant = node.inputs.some((i) => i !== '') && node.inputs.every((i) => i === '' || constants.has(i));
    if (outputs && allConstant && EVALUABLE_OPS.has(node.opType) && outputs.every((t) => sizeOf(t.dims) <= maxFolded)) {
      const values = evaluateNode(node, node.inputs.map((i) => (i === '' ? undefined : constants.get(i))), outputs);
      if (values && node.outputs.every((o, k) => o === '' || values[k])) {
        node.outputs.forEach((o, k) => {
          if (o === '') return;
          constants.set(o, values[k]);
          created.set(o, values[k]);
        });
        continue;
      }
    }
    kept.push(node);
  }

  /** Identity and Dropout (inference) pass their input through; removing them must keep graph-output names. */
  function removeNoOp(node: Node): boolean {
    if (node.opType !== 'Identity' && node.opType !== 'Dropout') return false;
    const [out, mask] = node.outputs;
    if (mask && (consumers.has(mask) || graphOutputs.has(mask))) return false;
    const src = node.inputs[0];
    if (!graphOutputs.has(out)) {
      alias.set(out, src);
      return true;
    }
    // The output is a graph output: rename the producer's value instead, if it is a node's and not shared.
    if (graphOutputs.has(src) || graphInputs.has(src) || graph.initializers.has(src) || created.has(src) || rename.has(src))
      return false;
    rename.set(src, out);
    return true;
  }

  const finalName = (n: string) => (n === '' ? '' : (rename.get(n) ?? n));
  const nodes = kept.map((n) => ({ ...n, inputs: n.inputs.map(finalName), outputs: n.outputs.map(finalName) }));
  const outputs = graph.outputs.map((o) => ({ ...o, name: finalName(resolve(o.name)) }));
  const live = sigmoidLast(liveNodes(nodes, outputs), outputs);

  const used = new Set<string>(outputs.map((o) => o.name));
  for (const n of live) for (const i of n.inputs) if (i !== '') used.add(i);
  const initializers = new Map<string, Tensor>();
  for (const [name, t] of graph.initializers) if (used.has(name) || trainable.has(name)) initializers.set(name, t);
  for (const [name, t] of created) if (used.has(name)) initializers.set(name, t);

  const simplified: Graph = { name: graph.name, nodes: live, initializers, inputs, outputs };
  return { ...model, graph: simplified };
}

/**
 * The nodes that run in place of an If whose condition is the constant `cond`: the taken branch's nodes, its values
 * renamed under the If's name (a branch's names are its own scope), then an Identity from each branch output to the
 * If's output (removed as a no-op). Names from the enclosing graph are read as they are. Undefined when the branch is
 * not a plain graph.
 */
function takenBranch(node: Node, cond: Tensor): { nodes: Node[]; initializers: Map<string, Tensor> } | undefined {
  if (cond.data.length !== 1) return undefined;
  const branch = node.attributes[Number(cond.data[0]) ? 'then_branch' : 'else_branch'];
  if (branch?.type !== 'graph' || branch.value.outputs.length !== node.outputs.length) return undefined;
  const g = branch.value;
  const local = new Map<string, string>();
  const scoped = (n: string) => `${node.name || 'If'}/${n}`;
  for (const name of g.initializers.keys()) local.set(name, scoped(name));
  for (const n of g.nodes) for (const o of n.outputs) if (o !== '') local.set(o, scoped(o));
  const rename = (n: string) => (n === '' ? '' : (local.get(n) ?? n));
  const nodes: Node[] = g.nodes.map((n, i) => ({ ...n, name: scoped(n.name || `node${i}`), inputs: n.inputs.map(rename), outputs: n.outputs.map(rename) }));
  node.outputs.forEach((o, i) => {
    if (o !== '') nodes.push({ name: scoped(`output${i}`), opType: 'Identity', domain: '', inputs: [rename(g.outputs[i].name)], outputs: [o], attributes: {} });
  });
  const initializers = new Map<string, Tensor>();
  for (const [name, t] of g.initializers) initializers.set(scoped(name), t);
  return { nodes, initializers };
}

/** Graph inputs with the batch (or given dims) filled in; a mismatch with a declared static size is the user's. */
function specialiseInputs(inputs: ValueInfo[], options: FoldOptions): ValueInfo[] {
  return inputs.map((vi) => {
    const given = options.inputs?.get(vi.name);
    if (given) {
      const clash = vi.dims.findIndex((d, i) => typeof d === 'number' && d >= 0 && d !== given[i]);
      if (given.length !== vi.dims.length || clash >= 0)
        throw new UserError(
          'shape-error',
          `input '${vi.name}' is [${vi.dims.join(', ')}] in the model but [${given.join(', ')}] was given`,
          { file: options.file },
        );
      return { ...vi, dims: [...given] };
    }
    if (options.batch !== undefined && vi.dims.length > 0) {
      const d0 = vi.dims[0];
      if (typeof d0 === 'number' && d0 >= 0 && d0 !== options.batch)
        throw new UserError(
          'shape-error',
          `input '${vi.name}' has a fixed batch size ${d0}; the analysis asked for ${options.batch} (export with a dynamic batch axis)`,
          { file: options.file },
        );
      return { ...vi, dims: [options.batch, ...vi.dims.slice(1)] };
    }
    return vi;
  });
}

/** Ops that only rearrange their first input's elements (the order kept): an elementwise op commutes with them. */
const RESHAPES = new Set(['Reshape', 'Squeeze', 'Unsqueeze', 'Flatten']);

/**
 * `Sigmoid → Reshape/Squeeze/… → output` (a DCGAN discriminator's `sigmoid(…).view(-1, 1).squeeze(1)`, a binary
 * classifier's `.squeeze()`) rewritten as `Reshape/Squeeze/… → Sigmoid → output`: the same numbers, since Sigmoid acts
 * element by element, and the model then ends in its Sigmoid, so binary cross-entropy is taken as BCELoss on it
 * (analysis/lossChoice.ts, graph/outputActivation.ts) rather than as if the probabilities were logits. Only a chain
 * whose values feed nothing else is moved.
 */
function sigmoidLast(nodes: Node[], outputs: ValueInfo[]): Node[] {
  const out = outputs[0]?.name;
  if (out === undefined) return nodes;
  const producer = new Map<string, number>();
  nodes.forEach((n, k) => n.outputs.forEach((o) => o !== '' && producer.set(o, k)));
  const uses = new Map<string, number>();
  for (const n of nodes) for (const i of n.inputs) if (i !== '') uses.set(i, (uses.get(i) ?? 0) + 1);
  const graphOutputs = new Set(outputs.map((o) => o.name));
  const chain: number[] = [];
  let v = out;
  for (let k = producer.get(v); k !== undefined && RESHAPES.has(nodes[k].opType); k = producer.get(v)) {
    chain.push(k);
    v = nodes[k].inputs[0];
    if (uses.get(v) !== 1 || graphOutputs.has(v)) return nodes;
  }
  const s = producer.get(v);
  if (!chain.length || s === undefined || nodes[s].opType !== 'Sigmoid') return nodes;
  const sigmoid = nodes[s];
  const logits = sigmoid.inputs[0];
  const moved = new Map<number, Node>();
  // The first reshape reads the Sigmoid's input; the last writes a new value, which the Sigmoid turns into the output.
  const first = chain[chain.length - 1];
  const last = chain[0];
  const beforeSigmoid = `${out}/before_sigmoid`;
  for (const k of chain) {
    const n = nodes[k];
    moved.set(k, { ...n, inputs: k === first ? [logits, ...n.inputs.slice(1)] : n.inputs, outputs: k === last ? [beforeSigmoid] : n.outputs });
  }
  const rest = nodes.flatMap((n, k) => (k === s ? [] : [moved.get(k) ?? n]));
  return [...rest, { ...sigmoid, inputs: [beforeSigmoid], outputs: [out] }];
}

/** Nodes that contribute to a graph output, in order (drops what folding left dangling). */
function liveNodes(nodes: Node[], outputs: ValueInfo[]): Node[] {
  const needed = new Set(outputs.map((o) => o.name));
  const keep = new Array<boolean>(nodes.length).fill(false);
  for (let k = nodes.length - 1; k >= 0; k--) {
    if (!nodes[k].outputs.some((o) => o !== '' && needed.has(o))) continue;
    keep[k] = true;
    for (const i of nodes[k].inputs) if (i !== '') needed.add(i);
  }
  return nodes.filter((_, k) => keep[k]);
}

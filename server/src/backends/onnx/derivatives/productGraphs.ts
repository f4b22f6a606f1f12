// Builds the four derivative graphs the engine runs (ARCHITECTURE.md, "The numerical core"):
//   gradient:  (x, target)        → loss, g = ∇θ L                       (reverse mode)
//   Ju:        (x, target, u ∈ Θ) → J u = d/dt ∇x L(θ + t u)              (forward over reverse, θ-tangent)
//   JTv:       (x, target, v ∈ X) → Jᵀ v = d/dt ∇θ L(x + t v)             (forward over reverse, x-tangent)
//   gram:      (x, target, v ∈ X) → J Jᵀ v, both passes fused in one graph
// as ONNX models for onnxruntime's inference build, with θ baked in as initialisers. The three products also come
// in a block form for k vectors at once (`block`: inputs i2f_V / i2f_U [k, d], outputs [k, d]): the same primal
// pass, tangents with a leading block axis (blockTangent.ts), so Conv and MatMul run on the k vectors together.

import type { Graph, Model, Node, Tensor } from '../../../graph/ir';
import { sizeOf } from '../../../graph/ir';
import { UserError } from '../../../errors';
import { GraphBuilder, int, type FloatType, type ValueType } from './graphBuilder';
import { lowerForward, NON_DIFFERENTIABLE_OPS } from './lower';
import { reverseNode } from './reverse';
import { tangentNode } from './tangent';
import { blockTangentNode } from './blockTangent';
import { convTransposeOfWeightTangent, gramWeightTerms, planGramLayers, weightTangentByGemm, type GramLayer, type GramWeightsMode } from './gramWeights';

/**
 * The training loss the gradient is taken of: 'cross-entropy' (softmax over the outputs, torch CrossEntropyLoss),
 * 'binary-cross-entropy' (torch BCELoss on a final Sigmoid, else BCEWithLogitsLoss on the outputs: one independent
 * {0,1} target per output, for binary and multi-label models), 'mse' (torch MSELoss).
 */
export type LossKind = 'cross-entropy' | 'binary-cross-entropy' | 'mse';
export type ProductKind = 'gradient' | 'jacobianVector' | 'jacobianTransposeVector' | 'gram';

export interface ParameterSlot {
  name: string;
  dims: number[];
  offset: number;
  size: number;
}

export interface ProductLayout {
  inputName: string;
  inputDims: number[];
  /** Shape of the loss target fed to every graph: one-hot [B, K] for cross-entropy, the output's shape for BCE and MSE. */
  targetDims: number[];
  /** Output of the model the loss is taken on (its logits). */
  outputDims: number[];
  parameters: ParameterSlot[];
  inputSize: number;
  parameterCount: number;
}

export interface ProductGraphOptions {
  /** Forward graph with constants folded, for one batch size. */
  graph: Graph;
  /** Static type of every value of `graph` at that batch size. */
  types: Map<string, ValueType>;
  /** θ: trainable initialiser names, in the order g is laid out. */
  trainable: string[];
  loss: LossKind;
  opset: number;
  file: string;
  /**
   * Element type of every float value of the products (default float32). float64 widens the weights exactly and
   * lowers Conv, AveragePool, GlobalAveragePool and LeakyRelu into ops with double kernels (lower.ts).
   */
  floatType?: FloatType;
  /**
   * Block J Jᵀ V only: how conv weights' θ-tangents are built (gramWeights.ts): 'cost' (default) through the Gram
   * matrices where gramPays says so and as im2col GEMMs elsewhere, 'all' / 'gemm' every eligible one through the
   * Gram matrices / as GEMMs (tests), 'off' by the tangent rules alone.
   */
  gramWeights?: GramWeightsMode;
}

const OPSET = 17; // ScatterElements(reduction=add) needs ≥ 16; every emitted op is stable at 17.

export function productLayout(opts: ProductGraphOptions): ProductLayout {
  const { graph, types, trainable } = opts;
  const input = graph.inputs[0];
  const inputDims = types.get(input.name)!.dims;
  let offset = 0;
  const parameters = trainable.map((name) => {
    const t = graph.initializers.get(name);
    if (!t) throw new UserError('unknown-parameter', `parameter '${name}' is not an initialiser of the model`, { file: opts.file });
    const size = sizeOf(t.dims);
    const slot = { name, dims: [...t.dims], offset, size };
    offset += size;
    return slot;
  });
  const lowered = lowerForward(graph, types, opts.opset, opts.file);
  // A final Sigmoid's input has the output's shape, so the target's shape does not depend on where BCE is taken.
  const outputDims = lowered.builder.dims(lowered.output);
  const targetDims = opts.loss === 'cross-entropy' ? [outputDims[0], sizeOf(outputDims.slice(1))] : outputDims;
  return { inputName: input.name, inputDims, targetDims, outputDims, parameters, inputSize: sizeOf(inputDims), parameterCount: offset };
}

interface Differentiated {
  b: GraphBuilder;
  file: string;
  layout: ProductLayout;
  input: string;
  target: string;
  loss: string;
  /** Primal nodes (forward, loss, backward): what tangent passes run over. */
  primal: Node[];
  /** How many of `primal` are the forward graph's (the rest: the loss and the backward pass). */
  forwardCount: number;
  /** ∂L/∂p for each θ entry (undefined: p does not reach the loss) and ∂L/∂x. */
  paramGrads: (string | undefined)[];
  inputGrad: string | undefined;
  constant(v: string): Tensor | undefined;
}

function differentiate(opts: ProductGraphOptions, layout: ProductLayout): Differentiated {
  const b = new GraphBuilder('d', opts.floatType ?? 'float32');
  const lowered = lowerForward(opts.graph, opts.types, opts.opset, opts.file, b, opts.trainable);
  const { input } = lowered;
  // BCELoss(σ(z), t) = BCEWithLogitsLoss(z, t): on a model ending in Sigmoid the loss is taken on its input z, and the
  // Sigmoid node is left unread (toModel drops it).
  const output = opts.loss === 'binary-cross-entropy' && lowered.sigmoidInput ? lowered.sigmoidInput : lowered.output;
  const target = b.addInput('i2f_target', b.real(layout.targetDims));
  const constant = (v: string): Tensor | undefined => (layout.parameters.some((p) => p.name === v) ? undefined : b.initializers.get(v));

  // Loss and its gradient with respect to the logits, written directly (the tangent pass differentiates these).
  const batch = layout.inputDims[0];
  let loss: string;
  let gLogits: string;
  const z = opts.loss === 'cross-entropy' ? b.reshape(output, layout.targetDims) : output;
  if (opts.loss === 'cross-entropy') {
    // L = −(1/B) Σ_b Σ_k t_bk log softmax(z_b)_k ;  ∂L/∂z = (softmax(z) − t)/B
    const logp = b.op('LogSoftmax', [z], b.type(z), { axis: int(1) });
    loss = b.neg(b.scale(b.reduceSum(b.mul(logp, target), [0, 1], false), 1 / batch));
    const p = b.op('Softmax', [z], b.type(z), { axis: int(1) });
    gLogits = b.scale(b.sub(p, target), 1 / batch);
  } else if (opts.loss === 'binary-cross-entropy') {
    // L = (1/n) Σ softplus(z) − t z over all n = B·K outputs (torch's mean reduction), with softplus(z) written
    // stably as relu(z) + log(1 + exp(−|z|)) and −|z| = z − 2 relu(z) (ops that all have tangent rules);
    // ∂L/∂z = (σ(z) − t)/n. torch's BCELoss clamps log p at −100, which differs only where σ(z) rounds to 0 or 1.
    const n = sizeOf(layout.outputDims);
    const r = b.op('Relu', [z], b.type(z));
    const negAbs = b.sub(z, b.scale(r, 2));
    const softplus = b.add(r, b.op('Log', [b.add(b.scalar(1), b.op('Exp', [negAbs], b.type(z)))], b.type(z)));
    loss = b.scale(b.reduceSum(b.sub(softplus, b.mul(target, z)), [...layout.outputDims.keys()], false), 1 / n);
    const p = b.op('Sigmoid', [z], b.type(z));
    gLogits = b.scale(b.sub(p, target), 1 / n);
  } else {
    // L = mean over all elements of (z − t)² (torch MSELoss) ;  ∂L/∂z = 2(z − t)/n
    const d = b.sub(z, target);
    const n = sizeOf(layout.outputDims);
    loss = b.scale(b.reduceSum(b.mul(d, d), [...layout.outputDims.keys()], false), 1 / n);
    gLogits = b.scale(d, 2 / n);
  }
  gLogits = b.reshape(gLogits, b.dims(output));

  // Which values depend on x or θ (only those get gradients and tangents).
  const active = new Set<string>([input, ...layout.parameters.map((p) => p.name)]);
  const forwardNodes = [...b.nodes];
  for (const node of forwardNodes) {
    // Masks (Greater, Cast of a bool, …) depend on x but carry no derivative: no gradient flows into them.
    if (NON_DIFFERENTIABLE_OPS.has(node.opType)) continue;
    if (node.inputs.some((v) => active.has(v))) node.outputs.forEach((o) => o && active.add(o));
  }

  // Reverse sweep: accumulate contributions, sum them when the producing node is reached.
  const contributions = new Map<string, string[]>();
  const accumulate = (v: string, g: string): void => {
    const list = contributions.get(v);
    if (list) list.push(g);
    else contributions.set(v, [g]);
  };
  const total = (v: string): string | undefined => {
    const list = contributions.get(v);
    if (!list || list.length === 0) return undefined;
    const g = list.slice(1).reduce((acc, x) => b.add(acc, x), list[0]);
    contributions.set(v, [g]);
    return g;
  };
  accumulate(output, gLogits);
  const rctx = { b, file: opts.file, active: (v: string) => active.has(v), accumulate, constant };
  const logitsProducer = forwardNodes.findIndex((n) => n.outputs.includes(output));
  for (let i = logitsProducer; i >= 0; i--) {
    const node = forwardNodes[i];
    if (!node.outputs.some((o) => active.has(o))) continue;
    const gy = total(node.outputs[0]);
    if (!gy) continue;
    reverseNode(node, gy, rctx);
  }
  const paramGrads = layout.parameters.map((p) => total(p.name));
  const inputGrad = total(input);
  return { b, file: opts.file, layout, input, target, loss, primal: [...b.nodes], forwardCount: forwardNodes.length, paramGrads, inputGrad, constant };
}

/** Runs the tangent rules over `nodes` with the given seeds; returns the tangent lookup. */
function tangentPass(d: Differentiated, seeds: Map<string, string>, nodes: Node[]): (v: string) => string | undefined {
  const tangents = new Map(seeds);
  const ctx = { b: d.b, file: d.file, tangent: (v: string) => tangents.get(v), constant: d.constant };
  for (const node of nodes) {
    const t = tangentNode(node, ctx);
    if (t) tangents.set(node.outputs[0], t);
  }
  return (v) => tangents.get(v);
}

/** The same over k tangents at once: seeds and results are [k, …dims] (blockTangent.ts). */
function blockTangentPass(d: Differentiated, seeds: Map<string, string>, nodes: Node[], k: number, movingWeight?: (node: Node) => string | undefined): (v: string) => string | undefined {
  const tangents = new Map(seeds);
  const ctx = { b: d.b, file: d.file, tangent: (v: string) => tangents.get(v), constant: d.constant, movingWeight };
  for (const node of nodes) {
    const t = blockTangentNode(node, ctx, k);
    if (t) tangents.set(node.outputs[0], t);
  }
  return (v) => tangents.get(v);
}

/** [k, d_θ] → one [k, …dims] tangent per parameter. */
function splitParameterBlock(d: Differentiated, flat: string, k: number): Map<string, string> {
  const seeds = new Map<string, string>();
  for (const p of d.layout.parameters) {
    const part = d.b.op('Slice', [flat, d.b.int64s([p.offset]), d.b.int64s([p.offset + p.size]), d.b.int64s([1])], d.b.real([k, p.size]), {}, 'theta');
    seeds.set(p.name, d.b.reshape(part, [k, ...p.dims]));
  }
  return seeds;
}

/** Per-parameter [k, …dims] tangents → [k, d_θ] (zeros where a parameter has none). */
function concatParameterBlock(d: Differentiated, parts: (string | undefined)[], k: number): string {
  const flat = d.layout.parameters.map((p, i) => {
    const v = parts[i];
    return v ? d.b.reshape(v, [k, p.size]) : d.b.zeros([k, p.size]);
  });
  if (flat.length === 1) return flat[0];
  return d.b.op('Concat', flat, d.b.real([k, d.layout.parameterCount]), { axis: int(1) }, 'theta_flat');
}

function flatInputBlock(d: Differentiated, v: string | undefined, k: number): string {
  return v ? d.b.reshape(v, [k, d.layout.inputSize]) : d.b.zeros([k, d.layout.inputSize]);
}

/** θ-space vector → one initialiser-shaped tangent per parameter (Slice + Reshape of the flat input). */
function splitParameters(d: Differentiated, flat: string): Map<string, string> {
  const seeds = new Map<string, string>();
  for (const p of d.layout.parameters) {
    const part = d.b.op('Slice', [flat, d.b.int64s([p.offset]), d.b.int64s([p.offset + p.size]), d.b.int64s([0])], d.b.real([p.size]), {}, 'theta');
    seeds.set(p.name, d.b.reshape(part, p.dims));
  }
  return seeds;
}

/** Concatenates per-parameter tensors into one flat θ-space output (zeros where a parameter has none). */
function concatParameters(d: Differentiated, parts: (string | undefined)[]): string {
  const flat = d.layout.parameters.map((p, i) => {
    const v = parts[i];
    return v ? d.b.reshape(v, [p.size]) : d.b.zeros([p.size]);
  });
  if (flat.length === 1) return flat[0];
  return d.b.op('Concat', flat, d.b.real([d.layout.parameterCount]), { axis: int(0) }, 'theta_flat');
}

function flatInput(d: Differentiated, v: string | undefined): string {
  return v ? d.b.reshape(v, [d.layout.inputSize]) : d.b.zeros([d.layout.inputSize]);
}

function toModel(d: Differentiated, kind: ProductKind, outputs: { name: string; as: string }[]): Model {
  const b = d.b;
  for (const o of outputs) {
    b.raw({ name: `out_${o.as}`, opType: 'Identity', domain: '', inputs: [o.name], outputs: [o.as], attributes: {} }, [b.type(o.name)]);
    b.addOutput(o.as);
  }
  // Only the nodes the outputs depend on (the gram graph needs neither the loss nor the primal θ-gradients, only
  // their tangents) and only the initialisers those nodes read go into the file.
  const nodes = liveNodes(b.nodes, b.outputs.map((o) => o.name));
  const used = new Set<string>();
  for (const n of nodes) for (const v of n.inputs) used.add(v);
  const initializers = new Map([...b.initializers].filter(([name]) => used.has(name)));
  return {
    irVersion: 8,
    producerName: 'i2f-privacy-lint',
    producerVersion: kind,
    opsets: [{ domain: '', version: OPSET }],
    graph: { name: `i2f_${kind}`, nodes, initializers, inputs: b.inputs, outputs: b.outputs },
  };
}

/**
 * A product graph cut where the vectors come in (`moving`: i2f_V or i2f_v): `primal` computes from x and the target
 * alone every value the rest reads (`boundary`, its outputs), `tangent` takes those as inputs beside the vectors.
 * The primal half (forward and backward at x, the Gram matrices AᵀA and ∂yᵀ∂y, the im2col of the activations) is
 * the same for every call at one x, so an operator runs it once per x and feeds its outputs to every product.
 */
export function splitAtVectors(model: Model, types: (v: string) => ValueType, moving: string): { primal: Model; tangent: Model; boundary: string[] } {
  const { graph } = model;
  // Values of initialisers alone (a transposed weight, a one-hot im2col kernel's reshape) stay on the tangent side,
  // where onnxruntime folds them once at session creation; only what depends on x or the target crosses.
  const constant = new Set(graph.initializers.keys());
  const movingValues = new Set([moving]);
  const tangentNodes: Node[] = [];
  const primalNodes: Node[] = [];
  for (const n of graph.nodes) {
    const outs = n.outputs.filter((o) => o);
    if (n.inputs.some((v) => v && movingValues.has(v))) {
      tangentNodes.push(n);
      for (const o of outs) movingValues.add(o);
    } else if (n.inputs.every((v) => !v || constant.has(v))) {
      tangentNodes.push(n);
      primalNodes.push(n);
      for (const o of outs) constant.add(o);
    } else primalNodes.push(n);
  }
  const producedByPrimal = new Set(primalNodes.flatMap((n) => n.outputs.filter((o) => o && !constant.has(o))));
  const boundary = [...new Set(tangentNodes.flatMap((n) => n.inputs.filter((v) => v && producedByPrimal.has(v))))];
  const info = (v: string) => ({ name: v, dtype: types(v).dtype, dims: [...types(v).dims] });
  const half = (nodes: Node[], extraInputs: string[], outputs: Graph['outputs'], name: string): Model => {
    const read = new Set(nodes.flatMap((n) => n.inputs.filter((v) => v)));
    return {
      ...model,
      graph: {
        name,
        nodes,
        initializers: new Map([...graph.initializers].filter(([v]) => read.has(v))),
        inputs: [...graph.inputs.filter((i) => read.has(i.name)), ...extraInputs.map(info)],
        outputs,
      },
    };
  };
  const primal = half(liveNodes(primalNodes, boundary), [], boundary.map(info), `${graph.name}_primal`);
  const tangent = half(liveNodes(tangentNodes, graph.outputs.map((o) => o.name)), boundary, graph.outputs, `${graph.name}_tangent`);
  return { primal, tangent, boundary };
}

/** The nodes some output depends on, in their original (topological) order. */
function liveNodes(nodes: readonly Node[], outputs: readonly string[]): Node[] {
  const needed = new Set(outputs);
  const keep: boolean[] = new Array(nodes.length).fill(false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (!n.outputs.some((o) => o && needed.has(o))) continue;
    keep[i] = true;
    for (const v of n.inputs) if (v) needed.add(v);
  }
  return nodes.filter((_, i) => keep[i]);
}

/**
 * One product's graph. With `block` = k (not for 'gradient'), the product of k vectors at once: inputs i2f_V
 * [k, d_x] (Jᵀ V, J Jᵀ V) or i2f_U [k, d_θ] (J U), outputs JTV [k, d_θ], JU and JJTV [k, d_x].
 */
export function buildProductGraph(opts: ProductGraphOptions, kind: ProductKind, block?: number): { model: Model; layout: ProductLayout; types: (v: string) => ValueType } {
  const layout = productLayout(opts);
  const d = differentiate(opts, layout);
  const b = d.b;
  let model: Model;
  if (block !== undefined && kind !== 'gradient') {
    const k = block;
    if (!Number.isInteger(k) || k < 1) throw new Error(`block products need a positive integer block size, not ${k}`);
    const xSeeds = (): Map<string, string> => new Map([[d.input, b.reshape(b.addInput('i2f_V', b.real([k, layout.inputSize])), [k, ...layout.inputDims])]]);
    if (kind === 'jacobianTransposeVector') {
      const tangent = blockTangentPass(d, xSeeds(), d.primal, k);
      model = toModel(d, kind, [{ name: concatParameterBlock(d, d.paramGrads.map((g) => g && tangent(g)), k), as: 'JTV' }]);
    } else if (kind === 'jacobianVector') {
      const u = b.addInput('i2f_U', b.real([k, layout.parameterCount]));
      const tangent = blockTangentPass(d, splitParameterBlock(d, u, k), d.primal, k);
      model = toModel(d, kind, [{ name: flatInputBlock(d, d.inputGrad && tangent(d.inputGrad), k), as: 'JU' }]);
    } else {
      const first = blockTangentPass(d, xSeeds(), d.primal, k);
      // Conv weights whose tangent this graph builds from the first pass's operands (gramWeights.ts): 'gram' ones
      // never materialise tW (the second pass takes Conv(a, tW) and ConvTranspose(∂y, tW) from the Gram matrices),
      // 'gemm' ones make it as two GEMMs over the im2col; either way the correlation's own tangent is left unread
      // and toModel drops it.
      const plan = planGramLayers(b, d.primal, d.forwardCount, layout.parameters.map((p) => p.name), opts.gramWeights);
      const w = new Map<string, string>();
      layout.parameters.forEach((p, i) => {
        const layer = plan.get(p.name);
        const g = d.paramGrads[i];
        const t = layer?.route === 'gemm' ? weightTangentByGemm(b, layer, first, k) : g && first(g);
        if (t) w.set(p.name, t);
      });
      const byNode = new Map<string, GramLayer>();
      for (const layer of plan.values()) {
        byNode.set(layer.convT.name, layer);
        if (layer.route === 'gram') byNode.set(layer.conv.name, layer);
      }
      const terms = new Map<GramLayer, { forward?: string; backward?: string }>();
      const movingWeight = (node: Node): string | undefined => {
        const layer = byNode.get(node.name);
        if (!layer) return undefined;
        if (layer.route === 'gemm') {
          const tW = w.get(layer.weight);
          return tW && convTransposeOfWeightTangent(b, layer, tW, k);
        }
        let t = terms.get(layer);
        if (!t) terms.set(layer, (t = gramWeightTerms(b, layer, first, k)));
        return node === layer.conv ? t.forward : t.backward;
      };
      const second = blockTangentPass(d, w, d.primal, k, movingWeight);
      model = toModel(d, kind, [{ name: flatInputBlock(d, d.inputGrad && second(d.inputGrad), k), as: 'JJTV' }]);
    }
    return { model, layout, types: (v) => b.type(v) };
  }
  if (kind === 'gradient') {
    model = toModel(d, kind, [{ name: d.loss, as: 'loss' }, { name: concatParameters(d, d.paramGrads), as: 'g' }]);
  } else if (kind === 'jacobianTransposeVector') {
    const v = b.addInput('i2f_v', b.real([layout.inputSize]));
    const tangent = tangentPass(d, new Map([[d.input, b.reshape(v, layout.inputDims)]]), d.primal);
    model = toModel(d, kind, [{ name: concatParameters(d, d.paramGrads.map((g) => g && tangent(g))), as: 'JTv' }]);
  } else if (kind === 'jacobianVector') {
    const u = b.addInput('i2f_u', b.real([layout.parameterCount]));
    const tangent = tangentPass(d, splitParameters(d, u), d.primal);
    model = toModel(d, kind, [{ name: flatInput(d, d.inputGrad && tangent(d.inputGrad)), as: 'Ju' }]);
  } else {
    const v = b.addInput('i2f_v', b.real([layout.inputSize]));
    const first = tangentPass(d, new Map([[d.input, b.reshape(v, layout.inputDims)]]), d.primal);
    const w = new Map<string, string>();
    layout.parameters.forEach((p, i) => {
      const g = d.paramGrads[i];
      const t = g && first(g);
      if (t) w.set(p.name, t);
    });
    const second = tangentPass(d, w, d.primal);
    model = toModel(d, kind, [{ name: flatInput(d, d.inputGrad && second(d.inputGrad)), as: 'JJTv' }]);
  }
  return { model, layout, types: (v) => b.type(v) };
}

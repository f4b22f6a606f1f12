// Token-id models (text): the ONNX input is int64 token ids feeding Gather(E, ids) on an embedding matrix E, as
// torch.onnx exports nn.Embedding. Gradient inversion cannot differentiate through integer ids, so the analysis
// moves to EMBEDDING SPACE: x becomes the Gather's output, float [B, T, D] = E[ids], and J, the I²F and the spectrum
// are all about x. E stays in θ (its gradient rows are part of what a client shares): the split graph computes
//     e = x + Gather(E + (−E₀), ids)          E₀ a frozen copy of E, ids the batch's token ids (constants)
// whose value is exactly x (E + (−E₀) is exactly zero at θ) while ∂L/∂E is still the scatter of ∂L/∂e over ids,
// and the θ-tangent u_E still reaches e as u_E[ids]. This matches PyTorch's `x + E[ids] − E[ids].detach()`
// (tools/fixtures/text_fixtures.py). A position embedding added after the Gather is an ordinary θ added to x.

import type { Graph, Model, Node, Tensor } from '../../graph/ir';
import { sizeOf } from '../../graph/ir';
import { UserError } from '../../errors';

export interface TokenEmbedding {
  /** The model's int64/int32 token-id input. */
  inputName: string;
  /** The embedding matrix E (an initialiser, θ). */
  matrix: string;
  vocabSize: number;
  /** Embedding width D. */
  dim: number;
  /** Tokens per example T (the input's static dims after the batch axis). */
  tokenDims: number[];
  /** The Gather's output: the analysis input x after the split. */
  embeddedName: string;
}

/** Describes the embedding lookup of a token-id model, or undefined if the model's input is not integer ids. */
export function findTokenEmbedding(model: Model, file = ''): TokenEmbedding | undefined {
  const g = model.graph;
  if (g.inputs.length !== 1) return undefined;
  const input = g.inputs[0];
  if (input.dtype !== 'int64' && input.dtype !== 'int32') return undefined;
  const consumers = g.nodes.filter((n) => n.inputs.includes(input.name));
  const gather = consumers.find((n) => n.opType === 'Gather' && n.inputs[1] === input.name && g.initializers.has(n.inputs[0]));
  if (!gather || consumers.length !== 1) {
    throw new UserError(
      'unsupported-model',
      `the model's input '${input.name}' is integer token ids, but it does not feed exactly one Gather on an embedding matrix (${consumers.map((n) => n.opType).join(', ') || 'no consumer'}); the analysis runs in embedding space and needs that lookup`,
      { file },
    );
  }
  const axis = gather.attributes.axis?.type === 'int' ? gather.attributes.axis.value : 0;
  const E = g.initializers.get(gather.inputs[0])!;
  if (axis !== 0 || E.dims.length !== 2 || (E.dtype !== 'float32' && E.dtype !== 'float64')) {
    throw new UserError('unsupported-model', `the token lookup '${gather.name}' is not a row lookup in a 2-D float embedding matrix`, { file, node: gather.name });
  }
  const tokenDims = input.dims.slice(1).map((d, i) => {
    if (typeof d !== 'number' || d <= 0) {
      throw new UserError('dynamic-shape', `input '${input.name}' has a non-static dimension ${i + 1} ('${d}'); export the text model with a fixed sequence length (pad the ids; only the batch axis may be dynamic)`, { file });
    }
    return d;
  });
  return { inputName: input.name, matrix: gather.inputs[0], vocabSize: E.dims[0], dim: E.dims[1], tokenDims, embeddedName: gather.outputs[0] };
}

/** E as float64 rows [V, D]. */
export function embeddingMatrix(model: Model, info: TokenEmbedding): Float64Array {
  return Float64Array.from(model.graph.initializers.get(info.matrix)!.data as Float32Array);
}

/** x = E[ids]: the embedded batch, float32 [B, T…, D] flattened. */
export function embedTokens(model: Model, info: TokenEmbedding, ids: ArrayLike<number>): Float32Array {
  const E = model.graph.initializers.get(info.matrix)!.data as Float32Array;
  const D = info.dim;
  const out = new Float32Array(ids.length * D);
  for (let i = 0; i < ids.length; i++) {
    const t = ids[i];
    if (!Number.isInteger(t) || t < 0 || t >= info.vocabSize) throw new UserError('data-shape', `token id ${t} is outside the vocabulary (0..${info.vocabSize - 1})`);
    out.set(E.subarray(t * D, (t + 1) * D), i * D);
  }
  return out;
}

/**
 * The model rewritten for one batch of token ids: its single input is the float embedding x [B, T…, D] (named
 * after the Gather's output), the ids are a constant, E stays a trainable initialiser (see the file comment).
 * The batch axis is fixed to `batch` (the ids are data of that batch).
 */
export function splitAtEmbedding(model: Model, info: TokenEmbedding, ids: ArrayLike<number>, batch: number): Model {
  const g = model.graph;
  if (ids.length !== batch * sizeOf(info.tokenDims)) throw new Error(`splitAtEmbedding: ${ids.length} ids for batch ${batch} × [${info.tokenDims}]`);
  const E = g.initializers.get(info.matrix)!;
  const frozenName = `onnx::i2f_${info.matrix}_frozen_negated`; // 'onnx::' prefix: never mistaken for θ
  const idsName = 'onnx::i2f_token_ids';
  const zeroName = 'onnx::i2f_embedding_offset';
  const rowsName = 'onnx::i2f_embedding_rows';
  const negated = E.dtype === 'float64' ? Float64Array.from(E.data as Float64Array, (v) => -v) : Float32Array.from(E.data as Float32Array, (v) => -v);
  const idsTensor: Tensor = { dtype: 'int64', dims: [batch, ...info.tokenDims], data: BigInt64Array.from(Array.from(ids, (t) => BigInt(t))) };
  const initializers = new Map(g.initializers);
  initializers.set(frozenName, { dtype: E.dtype, dims: [...E.dims], data: negated });
  initializers.set(idsName, idsTensor);
  const dtype = E.dtype === 'float64' ? 'float64' : 'float32';
  const x = info.embeddedName;
  const xIn = `${x}__i2f_x`;
  const node = (name: string, opType: string, inputs: string[], outputs: string[]): Node => ({ name, opType, domain: '', inputs, outputs, attributes: {} });
  const nodes: Node[] = [
    node('i2f_embedding_offset', 'Add', [info.matrix, frozenName], [zeroName]),
    { ...node('i2f_embedding_rows', 'Gather', [zeroName, idsName], [rowsName]), attributes: { axis: { type: 'int', value: 0 } } },
    node('i2f_embedding_input', 'Add', [xIn, rowsName], [x]),
    ...g.nodes.filter((n) => !(n.opType === 'Gather' && n.outputs[0] === x)),
  ];
  const graph: Graph = {
    ...g,
    nodes,
    initializers,
    inputs: [{ name: xIn, dtype, dims: [batch, ...info.tokenDims, info.dim] }],
  };
  return { ...model, graph };
}

export interface TokenRecovery {
  metric: 'L2' | 'cosine';
  /** Fraction of all tokens whose nearest embedding row is the true token. */
  recovered: number;
  /** Fraction recovered at each position (over the batch). */
  perPosition: number[];
  /** Nearest token id at every position of every example (flattened [B, T]). */
  nearest: number[];
}

/**
 * The attacker's tokens from an embedding-space reconstruction: the nearest row of E (L2 by default) at each
 * position, and how many match the true ids.
 */
export function recoverTokens(E: Float64Array, dim: number, reconstruction: ArrayLike<number>, ids: ArrayLike<number>, positions: number, metric: 'L2' | 'cosine' = 'L2'): TokenRecovery {
  const V = E.length / dim;
  const rowNorm = new Float64Array(V);
  for (let r = 0; r < V; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += E[r * dim + j] ** 2;
    rowNorm[r] = Math.sqrt(s);
  }
  const nearest: number[] = [];
  const hits = new Array(positions).fill(0);
  const counts = new Array(positions).fill(0);
  let total = 0;
  for (let i = 0; i < ids.length; i++) {
    let best = -1;
    let bestScore = Infinity;
    let xn = 0;
    for (let j = 0; j < dim; j++) xn += reconstruction[i * dim + j] ** 2;
    xn = Math.sqrt(xn);
    for (let r = 0; r < V; r++) {
      let score = 0;
      if (metric === 'L2') {
        for (let j = 0; j < dim; j++) score += (reconstruction[i * dim + j] - E[r * dim + j]) ** 2;
      } else {
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += reconstruction[i * dim + j] * E[r * dim + j];
        score = -dot / (xn * rowNorm[r] || 1);
      }
      if (score < bestScore) {
        bestScore = score;
        best = r;
      }
    }
    nearest.push(best);
    const p = i % positions;
    counts[p]++;
    if (best === ids[i]) {
      hits[p]++;
      total++;
    }
  }
  return { metric, recovered: ids.length ? total / ids.length : 0, perPosition: hits.map((h, p) => (counts[p] ? h / counts[p] : 0)), nearest };
}

// An ONNX checkpoint (or a TensorFlow.js model mapped onto the same IR) ready for analysis: loaded, checked, optionally re-weighted from a training
// checkpoint (state_dict, safetensors, Hugging Face folder), θ identified, and specialised to any batch size on demand (folded, every shape static).

import { UserError } from '../../errors';
import type { Model } from '../../graph/ir';
import { defaultOpset, sizeOf } from '../../graph/ir';
import { inferShapes } from '../../graph/shapes';
import { simplifyForAnalysis } from '../../graph/fold';
import { decomposePiecewiseLinear } from '../../graph/decompose';
import { trainableParameters } from '../../graph/parameters';
import { checkSupport } from '../../graph/support';
import { untieExportedParameters } from '../../graph/untie';
import { applyCheckpoint } from '../../checkpoints/applyCheckpoint';
import { readCheckpoint } from '../../checkpoints/readCheckpoint';
import { loadModelFile } from '../modelFile';
import { encodeModel } from './onnxProto';
import { ExternalGraphFolder, initializerBytes } from './externalData';
import { createSession, EXTERNAL_GRAPH_BYTES, isLargeModel, OnnxInversionOperator, ort, type ForwardGraph, type GramRoute, type SessionSettings } from './onnxOperator';
import type { LossKind } from './derivatives/productGraphs';

export interface OpenOptions {
  weights?: string;
  maxBytes?: number;
}

export class OnnxModel {
  private readonly specialised = new Map<number, ForwardGraph>();

  private constructor(
    readonly file: string,
    readonly model: Model,
    /** θ in layout order. */
    readonly trainable: string[],
    /** One example's input shape (without the batch axis). */
    readonly sampleDims: number[],
  ) {}

  static async open(file: string, opts: OpenOptions = {}): Promise<OnnxModel> {
    // An .onnx file, or a TensorFlow.js model.json re-laid out to ONNX semantics (modelFile.ts).
    const model = await loadModelFile(file, { maxBytes: opts.maxBytes });
    checkSupport(model, file);
    if (model.graph.inputs.length !== 1) {
      throw new UserError('unsupported-model', `the model has ${model.graph.inputs.length} inputs (${model.graph.inputs.map((i) => i.name).join(', ')}); the analysis needs exactly one, the batch x`, { file });
    }
    untieExportedParameters(model);
    if (opts.weights) await applyWeights(model, opts.weights, file, opts.maxBytes);
    return OnnxModel.fromModel(file, model);
  }

  /** An already loaded (or rewritten, e.g. split at a token embedding: embedding.ts) model with one static input. */
  static fromModel(file: string, model: Model): OnnxModel {
    // The loss reads the first graph output (the logits); a graph with none has nothing to invert.
    if (model.graph.outputs.length === 0) throw new UserError('unsupported-model', 'the model has no graph outputs; the analysis needs its logits as the first output', { file });
    const input = model.graph.inputs[0];
    const sampleDims = input.dims.slice(1).map((d, i) => {
      if (typeof d !== 'number' || d <= 0) {
        throw new UserError('dynamic-shape', `input '${input.name}' has a non-static dimension ${i + 1} ('${d}'); export the model with a fixed input size (only the batch axis may be dynamic)`, { file });
      }
      return d;
    });
    return new OnnxModel(file, model, trainableParameters(model), sampleDims);
  }

  get inputName(): string {
    return this.model.graph.inputs[0].name;
  }

  get parameterCount(): number {
    return this.trainable.reduce((n, name) => n + sizeOf(this.model.graph.initializers.get(name)!.dims), 0);
  }

  get sampleSize(): number {
    return sizeOf(this.sampleDims);
  }

  /** The forward graph folded and shape-inferred for batch size `batch` (cached per batch size). */
  specialise(batch: number): ForwardGraph {
    let spec = this.specialised.get(batch);
    if (!spec) {
      const dims = new Map([[this.inputName, [batch, ...this.sampleDims]]]);
      const folded = simplifyForAnalysis(this.model, new Set(this.trainable), { batch, file: this.file });
      // After folding, so a Clip in a constant shape chain is evaluated rather than rewritten.
      const graph = decomposePiecewiseLinear(folded.graph, this.file);
      const types = inferShapes(graph, dims, { file: this.file });
      spec = { graph, types, opset: defaultOpset(this.model) };
      this.specialised.set(batch, spec);
    }
    return spec;
  }

  /** The model's outputs (logits) for a batch: used for default labels and the class count. */
  async predict(x: Float32Array, batch: number, session?: SessionSettings): Promise<{ logits: Float32Array; dims: number[] }> {
    this.requireFloatInput();
    const spec = this.specialise(batch);
    const out = spec.graph.outputs[0].name;
    const m: Model = { ...this.model, graph: { ...spec.graph, outputs: [{ name: out, dtype: 'float32', dims: spec.types.get(out)!.dims }] } };
    // Over protobuf's limit the forward graph goes to disk with θ as external data, like the product graphs.
    const folder = initializerBytes(m) > EXTERNAL_GRAPH_BYTES ? new ExternalGraphFolder() : undefined;
    let s: Awaited<ReturnType<typeof createSession>>;
    try {
      // Large models as their products (onnxOperator.ts): no arena, no memory pattern, no prepacked weight copies.
      const large = isLargeModel(this.model.graph, this.parameterCount) ? { memoryArena: false, memoryPattern: false, prepacking: false } : {};
      s = await createSession(folder ? folder.write(m, 'forward') : encodeModel(m), { ...large, ...session });
    } finally {
      folder?.dispose();
    }
    try {
      const r = await s.run({ [this.inputName]: new (ort().Tensor)('float32', x, [batch, ...this.sampleDims]) });
      const t = r[out];
      return { logits: t.data as Float32Array, dims: [...t.dims] };
    } finally {
      await s.release();
    }
  }

  /** Token-id models are analysed on their embedding-space split (embedding.ts, analysis/tokens.ts), never directly. */
  /** A model without trainable parameters shares no gradient: there is nothing to invert (and no θ-space products). */
  requireParameters(): void {
    if (this.trainable.length === 0)
      throw new UserError('no-parameters', 'the model has no trainable parameters (no weight, bias or scale initialiser), so training shares no gradient and there is nothing an attacker could invert', { file: this.file });
  }

  private requireFloatInput(): void {
    const input = this.model.graph.inputs[0];
    if (input.dtype === 'float32' || input.dtype === 'float64') return;
    throw new UserError('unsupported-model', `input '${input.name}' is ${input.dtype} token ids: this model is analysed in embedding space, which \`i2f analyze\` and the audit support; this command does not yet`, { file: this.file });
  }

  operator(opts: { batch: number; input: Float32Array; target: Float32Array; loss: LossKind; session?: SessionSettings; gramRoute?: GramRoute }): OnnxInversionOperator {
    this.requireParameters();
    this.requireFloatInput();
    return OnnxInversionOperator.create({
      file: this.file,
      trainable: this.trainable,
      loss: opts.loss,
      specialise: (b) => this.specialise(b),
      batch: opts.batch,
      input: opts.input,
      target: opts.target,
      session: opts.session,
      gramRoute: opts.gramRoute,
    });
  }
}

/**
 * Replaces θ and BatchNorm statistics from a training checkpoint (the architecture exported once, any round's
 * weights): a state_dict `.pt`/`.bin`/`.ckpt`, a `.safetensors` file or a Hugging Face folder (checkpoints/).
 */
async function applyWeights(model: Model, weightsFile: string, file: string, maxBytes?: number): Promise<void> {
  const checkpoint = await readCheckpoint(weightsFile, { maxBytes });
  applyCheckpoint(model, checkpoint, trainableParameters(model), file);
}

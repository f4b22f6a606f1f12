// The engine's InversionOperator on onnxruntime-node: one session per derivative graph (built lazily; small models
// keep them for the operator's life, large ones keep one at a time), fast float32 products behind a Float64Array
// interface, plus float64 J u and J Jᵀ v (`precise`: Conv and AveragePool lowered to double-kernel ops, lower.ts) for
// the engine's iterative refinement. Input and output buffers are allocated once (per-call glue once cost 5× the
// product, MEASURED.md). Large models' product graphs are written to disk with θ as external data (externalData.ts).
// J Jᵀ v runs on the block graph (also at k = 1, GramRoute) where conv work makes it cheaper, and on large models as
// two halves: the primal one once per x, its outputs fed to the tangent one on every call (gramPrimal).

import type { InferenceSession as OrtSession, Tensor as OrtTensor } from 'onnxruntime-node';
import type { InversionOperator, PreciseProducts } from '../../engine/operator';
import { UserError } from '../../errors';
import { encodeModel } from './onnxProto';
import { EXTERNAL_MIN_BYTES, ExternalGraphFolder, initializerBytes } from './externalData';
import { buildProductGraph, productLayout, splitAtVectors, type LossKind, type ProductGraphOptions, type ProductKind, type ProductLayout } from './derivatives/productGraphs';
import type { Graph, Model } from '../../graph/ir';
import { GraphBuilder, type FloatType, type ValueType } from './derivatives/graphBuilder';
import { lowerForward } from './derivatives/lower';
import { routableWeightWork, type GramWeightsMode } from './derivatives/gramWeights';
import { blockVectorFloats } from './blockMemory';

type Ort = typeof import('onnxruntime-node');
let ortModule: Ort | undefined;
export function ort(): Ort {
  // Loaded on first use: the language server must start (and run cheap rules) even where the native binary cannot.
  ortModule ??= require('onnxruntime-node') as Ort;
  return ortModule;
}

export interface ForwardGraph {
  graph: Graph;
  types: Map<string, ValueType>;
  opset: number;
}

export interface SessionSettings {
  /** onnxruntime execution providers in order of preference, e.g. ['cuda', 'cpu']. */
  executionProviders?: string[];
  intraOpNumThreads?: number;
  /** onnxruntime's CPU memory arena; default: on below LARGE_MODEL_PARAMETERS trainable parameters, off above. */
  memoryArena?: boolean;
  /** onnxruntime's memory-pattern planning (preallocates a run's buffers); default as memoryArena. */
  memoryPattern?: boolean;
  /** onnxruntime's weight prepacking (a packed copy of each MatMul/Gemm weight); default as memoryArena. */
  prepacking?: boolean;
  /**
   * Product sessions alive at once (default: unlimited below LARGE_MODEL_PARAMETERS, 1 above: the least recently
   * used idle session is released before another is built; graphs on disk make rebuilding it cheap).
   */
  maxSessions?: number;
  /**
   * A product graph whose initialisers exceed this many bytes is written to a temporary folder with them as
   * external data and loaded from there (default EXTERNAL_GRAPH_BYTES; always so above LARGE_MODEL_PARAMETERS).
   */
  externalGraphBytes?: number;
}

/**
 * Well under protobuf's 2 GiB message limit (the graph structure and float64 index maps come on top of θ): above it
 * a product graph cannot be one in-memory ModelProto.
 */
export const EXTERNAL_GRAPH_BYTES = 2 ** 30;

/**
 * Above this many parameters the CPU arena is switched off: on ResNet-18 (11.2M) λmax + I_lb peaked at 1,279 MB
 * with it and 1,002 MB without (and ran no slower); on the LeNets it made products ~5% faster (measured 2026-11-25).
 */
export const LARGE_MODEL_PARAMETERS = 1_000_000;

/**
 * Whether a model is large for memory's sake: by its weights, frozen ones included (graph/parameters.ts), since every
 * session holds them all whatever θ is. Flowertune-vit's ViT-B/16 with its head alone trainable (78K of 86M) was
 * taken for small by θ: unlimited sessions, each with arena, prepacked copies and the weights in memory, went past
 * 22 GB and was killed (2026-12-07); judged by its weights it runs as the large model it is.
 */
export function isLargeModel(graph: Graph, trainableCount: number): boolean {
  if (trainableCount >= LARGE_MODEL_PARAMETERS) return true;
  let weights = 0;
  for (const t of graph.initializers.values()) if (t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'float16') weights += t.data.length;
  return weights >= LARGE_MODEL_PARAMETERS;
}

/**
 * Memory a block product's per-vector tangents may take (gramVectors, maxBlock; blockMemory.ts estimates them). At
 * 1 GiB ResNet-50 at 224×224 takes 3 vectors per call (≈ 350 MB each, measured), which is also where its per-vector
 * time stops improving: k = 3…6 within ±5% of one another, k = 8 and more slower again (bench/FINDINGS.md, issue 18,
 * "maxBlock from the memory the block graph keeps"). With the primal half run once per x (gramPrimal) what a block
 * shared is gone too: k = 1 and k = 3 cost the same per vector there (1,005 / 997 ms CPU).
 */
export const BLOCK_MEMORY_BYTES = 2 ** 30;
/**
 * The largest block gramVectors is offered at: per vector no model measured is faster at k = 16 than at 8 (CPU ms:
 * DLG LeNet 0.8 / 0.9, LeNet-5 0.5 / 0.5, ResNet-8 5.2 / 5.0, ResNet-18 at 32×32 117.7 / 113.8, 115.7 at 12), the
 * memory grows (ResNet-18 791 against 546 MB peak), and ResNet-50 at 224×224 is slower at 8 and above than at 3–6.
 */
export const MAX_BLOCK = 8;

/** The largest k whose per-vector tangents (float32 values, blockVectorFloats) fit BLOCK_MEMORY_BYTES; at least 1. */
export function blockLimit(floatsPerVector: number): number {
  return Math.max(1, Math.min(MAX_BLOCK, Math.floor(BLOCK_MEMORY_BYTES / (4 * floatsPerVector))));
}

export interface OnnxOperatorOptions {
  file: string;
  trainable: string[];
  loss: LossKind;
  /** The forward graph specialised (folded, shapes known) to a batch size. */
  specialise(batch: number): ForwardGraph;
  batch: number;
  /** The batch x, float32, flattened batch-major. */
  input: Float32Array;
  /** Loss target per example: one-hot rows (cross-entropy) or regression targets (MSE), flattened. */
  target: Float32Array;
  session?: SessionSettings;
  /** How gramVector runs (GramRoute; default 'auto'). */
  gramRoute?: GramRoute;
}

/**
 * The graph a single float32 J Jᵀ v runs on: 'block' the block graph at k = 1 (gramWeights.ts's conv weight
 * routes: the Gram matrices or im2col GEMMs instead of materialised weight tangents), 'single' the plain
 * forward-over-reverse graph (tangent.ts). 'auto' (the default) takes the block graph where the conv weights it
 * reroutes carry at least BLOCK_SINGLE_MIN_WORK multiply-adds per tangent (routableWeightWork), and falls back to the
 * plain graph where the block rules cannot build the model (a UserError). Measured in bench/FINDINGS.md, issue 18,
 * "Single products through the block graph".
 */
export type GramRoute = 'auto' | 'single' | 'block';

/**
 * Conv weight-tangent multiply-adds (routableWeightWork) from which 'auto' runs single products on the block graph.
 * Block graph at k = 1 over the plain graph, CPU per product (bench/singleRoute.ts, 2026-12-07, two runs at load
 * 1.9–2.2 and 4.6–4.9): ResNet-18 CIFAR (555M) 0.53–0.55, ResNet-8 (12.5M) 0.78–0.82; around parity MobileNetV2 ×0.5
 * at 32×32 (1.7M) 0.94–1.00, ShuffleNetV2 ×0.5 (0.8M) 1.01–1.06; slower on DLG LeNet (0.9M) 1.12–1.29, LeNet-5
 * (0.6M) 1.20–1.24, SmoothCNN 1.24, ViT-tiny 1.02–1.34 (no route pays for the block layout's Reshapes/Transposes).
 */
export const BLOCK_SINGLE_MIN_WORK = 4e6;

interface Product {
  session: OrtSession;
  layout: ProductLayout;
  /** The graph's inputs (a run's feeds are cut to them: the split J Jᵀ V halves read different ones). */
  inputs: string[];
}

/**
 * The halves of a block J Jᵀ V graph cut where the vectors come in (productGraphs.ts splitAtVectors): 'primal' runs
 * once per x (forward and backward at x, the Gram matrices), 'tangent' on every call with its outputs as inputs.
 */
type ProductPart = 'primal' | 'tangent';

/** Float64 copies of the point the products are taken at, and buffers for the precise products. */
class PreciseBuffers {
  readonly x: Float64Array;
  readonly xVec: Float64Array;
  readonly xTensor: OrtTensor;
  readonly targetTensor: OrtTensor;
  readonly xVecTensor: OrtTensor;
  private thetaBuffer: { theta: Float64Array; tensor: OrtTensor } | undefined;
  constructor(private readonly layout: ProductLayout, x: Float32Array, target: Float32Array) {
    const T = ort().Tensor;
    this.x = Float64Array.from(x);
    this.xVec = new Float64Array(layout.inputSize);
    this.xTensor = new T('float64', this.x, layout.inputDims);
    this.targetTensor = new T('float64', Float64Array.from(target), layout.targetDims);
    this.xVecTensor = new T('float64', this.xVec, [layout.inputSize]);
  }

  /**
   * u as J u's float64 input. Small models reuse one buffer (per-call allocation once cost more than the product,
   * MEASURED.md); large ones wrap u itself: a d_θ-double copy is 204 MB on ResNet-50, a tensor wrapper nothing.
   */
  thetaTensor(u: Float64Array, large: boolean): OrtTensor {
    if (large) return new (ort().Tensor)('float64', u, [this.layout.parameterCount]);
    this.thetaBuffer ??= (() => {
      const theta = new Float64Array(this.layout.parameterCount);
      return { theta, tensor: new (ort().Tensor)('float64', theta, [this.layout.parameterCount]) };
    })();
    this.thetaBuffer.theta.set(u);
    return this.thetaBuffer.tensor;
  }
}

export class OnnxInversionOperator implements InversionOperator {
  readonly inputSize: number;
  readonly parameterCount: number;
  readonly parameters: ProductLayout['parameters'];
  private readonly products = new Map<string, Promise<Product>>();
  /**
   * Calls in flight per product (counted when the call starts, before any await): such a session is never released
   * under them, even when another product's call wants its place.
   */
  private readonly leases = new Map<string, number>();
  /** Product graphs already written to disk (large models): a released session is rebuilt from its file. */
  private readonly written = new Map<string, { file: string; layout: ProductLayout; inputs: string[] }>();
  /** The other half of a split graph built with the first (so one graph build makes both). */
  private readonly stashed = new Map<string, { model: Model; layout: ProductLayout }>();
  /** The primal half's outputs at the current x, per block graph (cleared by setInput). */
  private readonly primalOutputs = new Map<string, OrtSession.OnnxValueMapType>();
  private folder: ExternalGraphFolder | undefined;
  private readonly x32: Float32Array;
  private theta32Buffer: Float32Array | undefined;
  private gradientFetches: OrtSession.FetchesType | undefined;
  private thetaTensorBuffer: OrtTensor | undefined;
  private readonly xVec32: Float32Array;
  private xTensor: OrtTensor;
  private readonly targetTensor: OrtTensor;
  private readonly xVecTensor: OrtTensor;
  private readonly forward: ForwardGraph;
  private preciseBuffers: PreciseBuffers | undefined;
  private preciseChecked = false;
  private preciseProducts: PreciseProducts | undefined;
  private readonly blockBuffers = new Map<number, { data: Float32Array; tensor: OrtTensor }>();
  private blockFloatsCache: number | undefined;
  /** Whether gramVector runs on the block graph at k = 1 (decided on the first call, see GramRoute). */
  private gramByBlock: boolean | undefined;

  private constructor(private readonly opts: OnnxOperatorOptions, readonly layout: ProductLayout) {
    const T = ort().Tensor;
    this.forward = opts.specialise(opts.batch);
    this.inputSize = layout.inputSize;
    this.parameterCount = layout.parameterCount;
    this.parameters = layout.parameters;
    this.x32 = Float32Array.from(opts.input);
    this.xVec32 = new Float32Array(layout.inputSize);
    this.xTensor = new T('float32', this.x32, layout.inputDims);
    this.targetTensor = new T('float32', Float32Array.from(opts.target), layout.targetDims);
    this.xVecTensor = new T('float32', this.xVec32, [layout.inputSize]);
  }

  /** The θ-space input of J u, allocated on first use (d_θ floats: 100 MB on ResNet-50, often never needed). */
  private get theta32(): Float32Array {
    this.theta32Buffer ??= new Float32Array(this.layout.parameterCount);
    return this.theta32Buffer;
  }

  private get thetaTensor(): OrtTensor {
    this.thetaTensorBuffer ??= new (ort().Tensor)('float32', this.theta32, [this.layout.parameterCount]);
    return this.thetaTensorBuffer;
  }

  private largeCache: boolean | undefined;
  private get large(): boolean {
    this.largeCache ??= isLargeModel(this.forward.graph, this.parameterCount);
    return this.largeCache;
  }

  static create(opts: OnnxOperatorOptions): OnnxInversionOperator {
    const spec = opts.specialise(opts.batch);
    const layout = productLayout(graphOptions(opts, spec));
    return new OnnxInversionOperator(opts, layout);
  }

  /** The ONNX model of one product (for inspection, tests and the bench). */
  productModel(kind: ProductKind, batch = this.opts.batch, floatType: FloatType = 'float32', block?: number, gramWeights?: GramWeightsMode) {
    const spec = batch === this.opts.batch ? this.forward : this.opts.specialise(batch);
    return buildProductGraph({ ...graphOptions(this.opts, spec), floatType, gramWeights }, kind, block);
  }

  /**
   * Float64 J u and J Jᵀ v (sessions built on first use), or undefined when the model has an op without a double
   * kernel and no double lowering (Erf: exact GELU). Checked once by lowering the forward graph in float64.
   */
  get precise(): PreciseProducts | undefined {
    if (!this.preciseChecked) {
      this.preciseChecked = true;
      try {
        lowerForward(this.forward.graph, this.forward.types, this.forward.opset, this.opts.file, new GraphBuilder('d', 'float64'));
        this.preciseProducts = {
          roundoff: 2 ** -53,
          jacobianVector: (u, out) => this.jacobianVector64(u, out),
          gramVector: (v, out) => this.gramVector64(v, out),
        };
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
      }
    }
    return this.preciseProducts;
  }

  private get buffers64(): PreciseBuffers {
    this.preciseBuffers ??= new PreciseBuffers(this.layout, this.x32, this.targetTensor.data as Float32Array);
    return this.preciseBuffers;
  }

  private async jacobianVector64(u: Float64Array, out: Float64Array): Promise<void> {
    const p = this.buffers64;
    const r = await this.run('jacobianVector', { [this.layout.inputName]: p.xTensor, i2f_target: p.targetTensor, i2f_u: p.thetaTensor(u, this.large) }, 'float64');
    out.set(r.Ju.data as Float64Array);
  }

  private async gramVector64(v: Float64Array, out: Float64Array): Promise<void> {
    const p = this.buffers64;
    p.xVec.set(v);
    const r = await this.run('gram', { [this.layout.inputName]: p.xTensor, i2f_target: p.targetTensor, i2f_v: p.xVecTensor }, 'float64');
    out.set(r.JJTv.data as Float64Array);
  }

  /** One session.run on a product's session, which stays alive (not released by another product) meanwhile. */
  private async run(kind: ProductKind, feeds: OrtSession.FeedsType, floatType: FloatType = 'float32', batch = this.opts.batch, block?: number, fetches?: OrtSession.FetchesType, part?: ProductPart): Promise<OrtSession.ReturnType> {
    const key = productKey(kind, batch, floatType, block, part);
    this.leases.set(key, (this.leases.get(key) ?? 0) + 1);
    try {
      const p = await this.product(kind, batch, floatType, block, part);
      const f = part ? Object.fromEntries(p.inputs.map((name) => [name, (feeds as Record<string, OrtTensor>)[name]])) : feeds;
      return await (fetches ? p.session.run(f, fetches) : p.session.run(f));
    } finally {
      this.leases.set(key, this.leases.get(key)! - 1);
    }
  }

  /** Product graphs this operator wrote to disk with external data (large models; for the bench and tests). */
  get graphFiles(): string[] {
    return [...this.written.values()].map((w) => w.file);
  }

  /** Sessions this operator has alive now (for the bench and tests). */
  get liveSessions(): number {
    return this.products.size;
  }

  private get maxSessions(): number {
    return this.opts.session?.maxSessions ?? (this.large ? 1 : Infinity);
  }

  private async product(kind: ProductKind, batch = this.opts.batch, floatType: FloatType = 'float32', block?: number, part?: ProductPart): Promise<Product> {
    const key = productKey(kind, batch, floatType, block, part);
    let p = this.products.get(key);
    if (!p) {
      // Released before the new one is built: the peak is the sessions kept plus the one being built.
      await this.releaseIdle(key);
      p = this.products.get(key);
      if (!p) {
        p = this.buildProduct(key, kind, batch, floatType, block, part);
        this.products.set(key, p);
        p.catch(() => this.products.delete(key));
      }
    }
    return p;
  }

  private async buildProduct(key: string, kind: ProductKind, batch: number, floatType: FloatType, block?: number, part?: ProductPart): Promise<Product> {
    let source: Uint8Array | string;
    let layout: ProductLayout;
    let inputs: string[];
    const onDisk = this.written.get(key);
    if (onDisk) {
      ({ file: source, layout, inputs } = onDisk);
    } else {
      let entry = this.stashed.get(key);
      this.stashed.delete(key);
      if (!entry) {
        const built = this.productModel(kind, batch, floatType, block);
        entry = { model: built.model, layout: built.layout };
        if (part) {
          const halves = splitAtVectors(built.model, built.types, 'i2f_V');
          entry = { model: halves[part], layout: built.layout };
          const other: ProductPart = part === 'primal' ? 'tangent' : 'primal';
          this.stashed.set(productKey(kind, batch, floatType, block, other), { model: halves[other], layout: built.layout });
        }
      }
      const { model } = entry;
      layout = entry.layout;
      inputs = model.graph.inputs.map((i) => i.name);
      const threshold = this.opts.session?.externalGraphBytes ?? EXTERNAL_GRAPH_BYTES;
      if (this.large || initializerBytes(model) > threshold) {
        // A lowered threshold (tests) lowers the per-tensor one with it, so even small models' θ goes out.
        this.folder ??= new ExternalGraphFolder(undefined, Math.min(EXTERNAL_MIN_BYTES, threshold));
        source = this.folder.write(model, key.replace(/[^A-Za-z0-9]+/g, '_'));
        this.written.set(key, { file: source, layout, inputs });
      } else {
        source = encodeModel(model);
      }
    }
    // Block sessions keep the arena on large models too: their k × d_θ tangents are above glibc's 32 MB mmap
    // threshold, so without it every run page-faults them in afresh (ResNet-18, k = 8: CPU per vector 0.81–0.85 of
    // k = 1 with the arena, 0.95–1.16 without, the same peak RSS; bench/FINDINGS.md, "Block products").
    const arena = !this.large || block !== undefined;
    const session = await createSession(source, { memoryArena: arena, memoryPattern: !this.large, prepacking: !this.large, ...this.opts.session });
    return { session, layout, inputs };
  }

  /** Releases idle sessions, least recently built first, until one more fits under maxSessions. */
  private async releaseIdle(keep: string): Promise<void> {
    for (const [key, pending] of [...this.products]) {
      if (this.products.size < this.maxSessions) return;
      if (key === keep || (this.leases.get(key) ?? 0) > 0) continue;
      const p = await pending.catch(() => undefined);
      if ((this.leases.get(key) ?? 0) > 0 || this.products.get(key) !== pending) continue;
      this.products.delete(key);
      await p?.session.release();
    }
  }

  setInput(x: Float64Array): void {
    this.x32.set(x);
    this.primalOutputs.clear();
    this.preciseBuffers?.x.set(x);
  }

  async gradient(out: Float64Array): Promise<number> {
    // g into an output tensor made once (small models): a fresh d_θ output per call cost the examples MLP ~0.1 ms of
    // its 0.45 ms raw run (bench/gFloor.ts, bench/FINDINGS.md); large models call g once and keep no second θ copy.
    const m = this.layout.parameterCount;
    const fetches = this.large ? undefined : this.gradientFetches ??= { g: new (ort().Tensor)('float32', new Float32Array(m), [m]), loss: null };
    const r = await this.run('gradient', { [this.layout.inputName]: this.xTensor, i2f_target: this.targetTensor }, 'float32', this.opts.batch, undefined, fetches);
    out.set(r.g.data as Float32Array);
    return Number((r.loss.data as Float32Array)[0]);
  }

  async jacobianVector(u: Float64Array, out: Float64Array): Promise<void> {
    this.theta32.set(u);
    const r = await this.run('jacobianVector', { [this.layout.inputName]: this.xTensor, i2f_target: this.targetTensor, i2f_u: this.thetaTensor });
    out.set(r.Ju.data as Float32Array);
  }

  async jacobianTransposeVector(v: Float64Array, out: Float64Array): Promise<void> {
    this.xVec32.set(v);
    const r = await this.run('jacobianTransposeVector', { [this.layout.inputName]: this.xTensor, i2f_target: this.targetTensor, i2f_v: this.xVecTensor });
    out.set(r.JTv.data as Float32Array);
  }

  async gramVector(v: Float64Array, out: Float64Array): Promise<void> {
    const route = this.opts.gramRoute ?? 'auto';
    if (route === 'single' || (route === 'auto' && this.gramByBlock === undefined && this.routableWork < BLOCK_SINGLE_MIN_WORK)) this.gramByBlock = false;
    if (this.gramByBlock !== false) {
      try {
        await this.gramBlockRun([v], [out]);
        this.gramByBlock = true;
        return;
      } catch (e) {
        // The block rules refused the model (an op or attribute only tangent.ts handles): the plain graph, from now on.
        if (route === 'block' || this.gramByBlock || !(e instanceof UserError)) throw e;
        this.gramByBlock = false;
      }
    }
    this.xVec32.set(v);
    const r = await this.run('gram', { [this.layout.inputName]: this.xTensor, i2f_target: this.targetTensor, i2f_v: this.xVecTensor });
    out.set(r.JJTv.data as Float32Array);
  }

  /**
   * J Jᵀ vᵢ for k vectors through one block graph (a leading block axis through both tangent passes, so Conv and
   * MatMul run on the k vectors at once; productGraphs.ts, blockTangent.ts). One graph and session per distinct k;
   * callers go through gramBlock, which splits at maxBlock.
   */
  async gramVectors(vs: readonly Float64Array[], outs: readonly Float64Array[]): Promise<void> {
    if (vs.length !== outs.length) throw new Error(`gramVectors: ${vs.length} vectors but ${outs.length} outputs`);
    if (vs.length === 0) return;
    if (vs.length === 1) return this.gramVector(vs[0], outs[0]);
    await this.gramBlockRun(vs, outs);
  }

  /** The block J Jᵀ V graph's session for vs.length vectors (also k = 1: gramVector's route). */
  private async gramBlockRun(vs: readonly Float64Array[], outs: readonly Float64Array[]): Promise<void> {
    const k = vs.length;
    const n = this.inputSize;
    const buffer = this.blockBuffer(k);
    vs.forEach((v, i) => buffer.data.set(v, i * n));
    const point = { [this.layout.inputName]: this.xTensor, i2f_target: this.targetTensor };
    // Large models run the primal half once per x (gramPrimal); on small ones feeding its many outputs costs about
    // what recomputing them does (DLG LeNet and ResNet-8, k = 1…8: within noise or up to 10% slower).
    const r = this.large
      ? await this.run('gram', { ...point, ...(await this.gramPrimal(k)), i2f_V: buffer.tensor }, 'float32', this.opts.batch, k, undefined, 'tangent')
      : await this.run('gram', { ...point, i2f_V: buffer.tensor }, 'float32', this.opts.batch, k);
    const result = r.JJTV.data as Float32Array;
    outs.forEach((out, i) => out.set(result.subarray(i * n, (i + 1) * n)));
  }

  /**
   * The primal half of the k-vector J Jᵀ V graph at the current x (run once per x and block size; large models keep
   * one block size's, ≈ 300 MB of values on ResNet-50 at 224×224): forward and backward at x, the Gram matrices and
   * im2cols of the activations, which every call would otherwise recompute (bench/FINDINGS.md, issue 18).
   */
  private async gramPrimal(k: number): Promise<OrtSession.OnnxValueMapType> {
    const key = productKey('gram', this.opts.batch, 'float32', k, 'primal');
    let outputs = this.primalOutputs.get(key);
    if (!outputs) {
      outputs = await this.run('gram', { [this.layout.inputName]: this.xTensor, i2f_target: this.targetTensor }, 'float32', this.opts.batch, k, undefined, 'primal');
      this.primalOutputs.clear(); // one block size's kept (only large models split, gramBlockRun)
      this.primalOutputs.set(key, outputs);
    }
    return outputs;
  }

  /** Jᵀ vᵢ for k vectors through one block graph (outs[i] ← Jᵀ vs[i], each d_θ; not on InversionOperator yet). */
  async jacobianTransposeVectors(vs: readonly Float64Array[], outs: readonly Float64Array[]): Promise<void> {
    await this.runBlock('jacobianTransposeVector', 'i2f_V', 'JTV', vs, outs, this.inputSize, this.parameterCount);
  }

  /** J uᵢ for k θ-space vectors through one block graph (outs[i] ← J us[i], each d_x). */
  async jacobianVectors(us: readonly Float64Array[], outs: readonly Float64Array[]): Promise<void> {
    await this.runBlock('jacobianVector', 'i2f_U', 'JU', us, outs, this.parameterCount, this.inputSize);
  }

  private async runBlock(kind: ProductKind, input: string, output: string, vs: readonly Float64Array[], outs: readonly Float64Array[], inSize: number, outSize: number): Promise<void> {
    if (vs.length !== outs.length) throw new Error(`${kind} block: ${vs.length} vectors but ${outs.length} outputs`);
    const k = vs.length;
    if (k === 0) return;
    const data = new Float32Array(k * inSize);
    vs.forEach((v, i) => data.set(v, i * inSize));
    const r = await this.run(kind, { [this.layout.inputName]: this.xTensor, i2f_target: this.targetTensor, [input]: new (ort().Tensor)('float32', data, [k, inSize]) }, 'float32', this.opts.batch, k);
    const result = r[output].data as Float32Array;
    outs.forEach((out, i) => out.set(result.subarray(i * outSize, (i + 1) * outSize)));
  }

  /** The graph gramVector ran on ('block': the block graph at k = 1; undefined before its first call). */
  get gramVectorGraph(): 'block' | 'single' | undefined {
    return this.gramByBlock === undefined ? undefined : this.gramByBlock ? 'block' : 'single';
  }

  /** One session alive at a time (large models): gramBlock gives a round's chunks one block size (engine/operator.ts). */
  get oneBlockSize(): boolean {
    return Number.isFinite(this.maxSessions);
  }

  /**
   * The largest k gramVectors takes in one call: what k vectors' tangents take in the block graph (blockMemory.ts,
   * from the forward graph: the activation tangents of both passes and the θ-tangents the Gram route does not
   * avoid) within BLOCK_MEMORY_BYTES.
   */
  get maxBlock(): number {
    this.blockFloatsCache ??= blockVectorFloats(this.forward.graph, this.forward.types, this.opts.trainable).total;
    return blockLimit(this.blockFloatsCache);
  }

  /** Conv weight-tangent multiply-adds the block graph reroutes (gramWeights.ts routableWeightWork), at this batch. */
  get routableWork(): number {
    return routableWeightWork(this.forward.graph, this.forward.types, this.opts.trainable);
  }

  private blockBuffer(k: number): { data: Float32Array; tensor: OrtTensor } {
    let buffer = this.blockBuffers.get(k);
    if (!buffer) {
      const data = new Float32Array(k * this.inputSize);
      buffer = { data, tensor: new (ort().Tensor)('float32', data, [k, this.inputSize]) };
      this.blockBuffers.set(k, buffer);
    }
    return buffer;
  }

  async exampleGradients(): Promise<Float64Array[]> {
    const B = this.opts.batch;
    if (B === 1) {
      const g = new Float64Array(this.parameterCount);
      await this.gradient(g);
      return [g];
    }
    const { layout } = await this.product('gradient', 1);
    const T = ort().Tensor;
    const per = layout.inputSize;
    const perTarget = this.targetTensor.data.length / B;
    const result: Float64Array[] = [];
    for (let i = 0; i < B; i++) {
      const x = new T('float32', this.x32.subarray(i * per, (i + 1) * per), layout.inputDims);
      const t = new T('float32', (this.targetTensor.data as Float32Array).subarray(i * perTarget, (i + 1) * perTarget), layout.targetDims);
      const r = await this.run('gradient', { [layout.inputName]: x, i2f_target: t }, 'float32', 1);
      result.push(Float64Array.from(r.g.data as Float32Array));
    }
    return result;
  }

  async dispose(): Promise<void> {
    const all = [...this.products.values()];
    this.products.clear();
    for (const p of all) {
      try {
        await (await p).session.release();
      } catch {
        // a session that failed to build has nothing to release
      }
    }
    this.folder?.dispose();
    this.folder = undefined;
    this.written.clear();
    this.stashed.clear();
    this.primalOutputs.clear();
  }
}

function productKey(kind: ProductKind, batch: number, floatType: FloatType, block?: number, part?: ProductPart): string {
  return `${kind}@${batch}:${floatType}${block === undefined ? '' : `x${block}`}${part ? `/${part}` : ''}`;
}

function graphOptions(opts: OnnxOperatorOptions, spec: ForwardGraph): ProductGraphOptions {
  return { graph: spec.graph, types: spec.types, trainable: opts.trainable, loss: opts.loss, opset: spec.opset, file: opts.file };
}

/** Execution providers that failed to load in this process (e.g. CUDA without its libraries), each logged once. */
export const unavailableProviders = new Map<string, string>();

/**
 * A session on the preferred execution providers, falling back to the CPU when one cannot load here: onnxruntime
 * fails session creation outright (it does not skip the provider) when, say, the CUDA libraries are missing.
 */
export async function createSession(bytes: Uint8Array | string, s: SessionSettings = {}): Promise<OrtSession> {
  const wanted = (s.executionProviders ?? ['cpu']).filter((p) => !unavailableProviders.has(p));
  // A path: onnxruntime reads the graph and its external data (beside it) itself, never one 2 GiB buffer.
  const create = (o: OrtSession.SessionOptions) => (typeof bytes === 'string' ? ort().InferenceSession.create(bytes, o) : ort().InferenceSession.create(bytes, o));
  try {
    return await create(sessionOptions({ ...s, executionProviders: wanted.length ? wanted : ['cpu'] }));
  } catch (e) {
    const accelerators = wanted.filter((p) => p !== 'cpu');
    if (accelerators.length === 0) throw e;
    for (const p of accelerators) unavailableProviders.set(p, (e as Error).message.split('\n')[0]);
    return create(sessionOptions({ ...s, executionProviders: ['cpu'] }));
  }
}

export function sessionOptions(s: SessionSettings = {}): OrtSession.SessionOptions {
  return {
    executionProviders: (s.executionProviders ?? ['cpu']) as OrtSession.SessionOptions['executionProviders'],
    intraOpNumThreads: s.intraOpNumThreads ?? 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableCpuMemArena: s.memoryArena ?? true,
    enableMemPattern: s.memoryPattern ?? s.memoryArena ?? true,
    ...((s.prepacking ?? s.memoryArena ?? true) ? {} : { extra: { session: { disable_prepacking: '1' } } }),
  };
}

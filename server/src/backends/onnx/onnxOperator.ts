// The engine's InversionOperator on onnxruntime-node: one session per derivative graph (built lazily, kept for
// the operator's life), fast float32 products behind a Float64Array interface, plus float64 J u and J Jᵀ v
// (`precise`: Conv and AveragePool lowered to double-kernel ops, lower.ts) for the engine's iterative refinement.
// Input and output buffers are allocated once (per-call glue once cost 5× the product, MEASURED.md).

import type { InferenceSession as OrtSession, Tensor as OrtTensor } from 'onnxruntime-node';
import type { InversionOperator, PreciseProducts } from '../../engine/operator';
import { UserError } from '../../errors';
import { encodeModel } from './onnxProto';
import { buildProductGraph, productLayout, type LossKind, type ProductGraphOptions, type ProductKind, type ProductLayout } from './derivatives/productGraphs';
import type { Graph } from '../../graph/ir';
import { GraphBuilder, type FloatType, type ValueType } from './derivatives/graphBuilder';
import { lowerForward } from './derivatives/lower';

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
}

/**
 * Above this many parameters the CPU arena is switched off: on ResNet-18 (11.2M) λmax + I_lb peaked at 1,279 MB
 * with it and 1,002 MB without (and ran no slower); on the LeNets it made products ~5% faster (measured 2026-11-25).
 */
export const LARGE_MODEL_PARAMETERS = 1_000_000;

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
}

interface Product {
  session: OrtSession;
  layout: ProductLayout;
}

/** Float64 copies of the point the products are taken at, and buffers for the precise products. */
class PreciseBuffers {
  readonly x: Float64Array;
  readonly theta: Float64Array;
  readonly xVec: Float64Array;
  readonly xTensor: OrtTensor;
  readonly targetTensor: OrtTensor;
  readonly thetaTensor: OrtTensor;
  readonly xVecTensor: OrtTensor;
  constructor(layout: ProductLayout, x: Float32Array, target: Float32Array) {
    const T = ort().Tensor;
    this.x = Float64Array.from(x);
    this.theta = new Float64Array(layout.parameterCount);
    this.xVec = new Float64Array(layout.inputSize);
    this.xTensor = new T('float64', this.x, layout.inputDims);
    this.targetTensor = new T('float64', Float64Array.from(target), layout.targetDims);
    this.thetaTensor = new T('float64', this.theta, [layout.parameterCount]);
    this.xVecTensor = new T('float64', this.xVec, [layout.inputSize]);
  }
}

export class OnnxInversionOperator implements InversionOperator {
  readonly inputSize: number;
  readonly parameterCount: number;
  readonly parameters: ProductLayout['parameters'];
  private readonly products = new Map<string, Promise<Product>>();
  private readonly x32: Float32Array;
  private readonly theta32: Float32Array;
  private readonly xVec32: Float32Array;
  private xTensor: OrtTensor;
  private readonly targetTensor: OrtTensor;
  private readonly thetaTensor: OrtTensor;
  private readonly xVecTensor: OrtTensor;
  private readonly forward: ForwardGraph;
  private preciseBuffers: PreciseBuffers | undefined;
  private preciseChecked = false;
  private preciseProducts: PreciseProducts | undefined;

  private constructor(private readonly opts: OnnxOperatorOptions, readonly layout: ProductLayout) {
    const T = ort().Tensor;
    this.forward = opts.specialise(opts.batch);
    this.inputSize = layout.inputSize;
    this.parameterCount = layout.parameterCount;
    this.parameters = layout.parameters;
    this.x32 = Float32Array.from(opts.input);
    this.theta32 = new Float32Array(layout.parameterCount);
    this.xVec32 = new Float32Array(layout.inputSize);
    this.xTensor = new T('float32', this.x32, layout.inputDims);
    this.targetTensor = new T('float32', Float32Array.from(opts.target), layout.targetDims);
    this.thetaTensor = new T('float32', this.theta32, [layout.parameterCount]);
    this.xVecTensor = new T('float32', this.xVec32, [layout.inputSize]);
  }

  static create(opts: OnnxOperatorOptions): OnnxInversionOperator {
    const spec = opts.specialise(opts.batch);
    const layout = productLayout(graphOptions(opts, spec));
    return new OnnxInversionOperator(opts, layout);
  }

  /** The ONNX model of one product (for inspection, tests and the bench). */
  productModel(kind: ProductKind, batch = this.opts.batch, floatType: FloatType = 'float32') {
    const spec = batch === this.opts.batch ? this.forward : this.opts.specialise(batch);
    return buildProductGraph({ ...graphOptions(this.opts, spec), floatType }, kind);
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
    const { session } = await this.product('jacobianVector', this.opts.batch, 'float64');
    const p = this.buffers64;
    p.theta.set(u);
    const r = await session.run({ [this.layout.inputName]: p.xTensor, i2f_target: p.targetTensor, i2f_u: p.thetaTensor });
    out.set(r.Ju.data as Float64Array);
  }

  private async gramVector64(v: Float64Array, out: Float64Array): Promise<void> {
    const { session } = await this.product('gram', this.opts.batch, 'float64');
    const p = this.buffers64;
    p.xVec.set(v);
    const r = await session.run({ [this.layout.inputName]: p.xTensor, i2f_target: p.targetTensor, i2f_v: p.xVecTensor });
    out.set(r.JJTv.data as Float64Array);
  }

  private product(kind: ProductKind, batch = this.opts.batch, floatType: FloatType = 'float32'): Promise<Product> {
    const key = `${kind}@${batch}:${floatType}`;
    let p = this.products.get(key);
    if (!p) {
      p = (async () => {
        const { model, layout } = this.productModel(kind, batch, floatType);
        const bytes = encodeModel(model);
        const session = await createSession(bytes, { memoryArena: this.parameterCount < LARGE_MODEL_PARAMETERS, ...this.opts.session });
        return { session, layout };
      })();
      this.products.set(key, p);
    }
    return p;
  }

  setInput(x: Float64Array): void {
    this.x32.set(x);
    this.preciseBuffers?.x.set(x);
  }

  async gradient(out: Float64Array): Promise<number> {
    const { session } = await this.product('gradient');
    const r = await session.run({ [this.layout.inputName]: this.xTensor, i2f_target: this.targetTensor });
    out.set(r.g.data as Float32Array);
    return Number((r.loss.data as Float32Array)[0]);
  }

  async jacobianVector(u: Float64Array, out: Float64Array): Promise<void> {
    const { session } = await this.product('jacobianVector');
    this.theta32.set(u);
    const r = await session.run({ [this.layout.inputName]: this.xTensor, i2f_target: this.targetTensor, i2f_u: this.thetaTensor });
    out.set(r.Ju.data as Float32Array);
  }

  async jacobianTransposeVector(v: Float64Array, out: Float64Array): Promise<void> {
    const { session } = await this.product('jacobianTransposeVector');
    this.xVec32.set(v);
    const r = await session.run({ [this.layout.inputName]: this.xTensor, i2f_target: this.targetTensor, i2f_v: this.xVecTensor });
    out.set(r.JTv.data as Float32Array);
  }

  async gramVector(v: Float64Array, out: Float64Array): Promise<void> {
    const { session } = await this.product('gram');
    this.xVec32.set(v);
    const r = await session.run({ [this.layout.inputName]: this.xTensor, i2f_target: this.targetTensor, i2f_v: this.xVecTensor });
    out.set(r.JJTv.data as Float32Array);
  }

  async exampleGradients(): Promise<Float64Array[]> {
    const B = this.opts.batch;
    if (B === 1) {
      const g = new Float64Array(this.parameterCount);
      await this.gradient(g);
      return [g];
    }
    const { session, layout } = await this.product('gradient', 1);
    const T = ort().Tensor;
    const per = layout.inputSize;
    const perTarget = this.targetTensor.data.length / B;
    const result: Float64Array[] = [];
    for (let i = 0; i < B; i++) {
      const x = new T('float32', this.x32.subarray(i * per, (i + 1) * per), layout.inputDims);
      const t = new T('float32', (this.targetTensor.data as Float32Array).subarray(i * perTarget, (i + 1) * perTarget), layout.targetDims);
      const r = await session.run({ [layout.inputName]: x, i2f_target: t });
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
  }
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
export async function createSession(bytes: Uint8Array, s: SessionSettings = {}): Promise<OrtSession> {
  const wanted = (s.executionProviders ?? ['cpu']).filter((p) => !unavailableProviders.has(p));
  try {
    return await ort().InferenceSession.create(bytes, sessionOptions({ ...s, executionProviders: wanted.length ? wanted : ['cpu'] }));
  } catch (e) {
    const accelerators = wanted.filter((p) => p !== 'cpu');
    if (accelerators.length === 0) throw e;
    for (const p of accelerators) unavailableProviders.set(p, (e as Error).message.split('\n')[0]);
    return ort().InferenceSession.create(bytes, sessionOptions({ ...s, executionProviders: ['cpu'] }));
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
  };
}

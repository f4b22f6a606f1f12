// The engine's InversionOperator by nested reverse-mode autodiff in TensorFlow.js, on the IR interpreter:
//   g    = ∇θ L
//   J u  = ∇x ⟨∇θ L, u⟩                  (reverse over reverse)
//   Jᵀ v = ∇θ ⟨∇x L, v⟩ = d/dt ∇θ L(x + t v)   (mixed second derivatives commute)
// Independent of the ONNX derivative graphs (different rules, different kernels): the cross-check engine.

import * as tf from '@tensorflow/tfjs-core';
import type { InversionOperator } from '../../engine/operator';
import { sizeOf } from '../../graph/ir';
import { UserError } from '../../errors';
import { activateBackend, resolveBackend, type TfjsBackendChoice } from './backend';
import { finalSigmoidInput, finalSoftmaxInput } from '../../graph/outputActivation';
import type { LossKind } from '../onnx/derivatives/productGraphs';
import { checkInterpretable, logSoftmax, relu, runGraph, TfjsConstants, toTf, type InterpreterGraph } from './interpreter';

/** The same losses as the ONNX engine's (productGraphs.ts LossKind), written independently in tfjs ops. */
export type TfjsLossKind = LossKind;

export interface TfjsOperatorOptions {
  file: string;
  trainable: string[];
  loss: TfjsLossKind;
  /** The forward graph specialised (folded, shapes known) to a batch size. */
  specialise(batch: number): { graph: InterpreterGraph['graph']; types: InterpreterGraph['types'] };
  batch: number;
  /** The batch x, float32, flattened batch-major. */
  input: Float32Array;
  /** One-hot rows (cross-entropy), {0,1} per output (binary cross-entropy) or regression targets (MSE), flattened. */
  target: Float32Array;
  backend?: TfjsBackendChoice;
}

interface Slot {
  name: string;
  dims: number[];
  offset: number;
  size: number;
}

export class TfjsInversionOperator implements InversionOperator {
  readonly inputSize: number;
  readonly parameterCount: number;
  readonly parameters: Slot[];
  private readonly graphs = new Map<number, { ig: InterpreterGraph; constants: TfjsConstants }>();
  private x: tf.Tensor;
  private readonly target: tf.Tensor;
  private readonly theta: tf.Tensor[];
  private readonly inputDims: number[];
  private disposed = false;

  private constructor(private readonly opts: TfjsOperatorOptions, readonly backend: string) {
    const { graph } = this.graphFor(opts.batch).ig;
    this.parameters = [];
    let offset = 0;
    for (const name of opts.trainable) {
      const t = graph.initializers.get(name);
      if (!t) throw new UserError('unsupported-model', `parameter '${name}' is not in the specialised graph`, { file: opts.file });
      const size = sizeOf(t.dims);
      this.parameters.push({ name, dims: [...t.dims], offset, size });
      offset += size;
    }
    this.parameterCount = offset;
    this.inputDims = this.graphFor(opts.batch).ig.types.get(graph.inputs[0].name)!.dims;
    this.inputSize = sizeOf(this.inputDims);
    this.theta = opts.trainable.map((name) => tf.keep(toTf(graph.initializers.get(name)!)));
    this.x = tf.keep(tf.tensor(Float32Array.from(opts.input), this.inputDims));
    const outDims = this.graphFor(opts.batch).ig.types.get(graph.outputs[0].name)!.dims;
    const targetDims = opts.loss === 'cross-entropy' ? [outDims[0], sizeOf(outDims.slice(1))] : outDims;
    this.target = tf.keep(tf.tensor(Float32Array.from(opts.target), targetDims));
  }

  static async create(opts: TfjsOperatorOptions): Promise<TfjsInversionOperator> {
    const spec = opts.specialise(opts.batch);
    checkInterpretable({ ...spec, file: opts.file });
    const parameters = opts.trainable.reduce((n, name) => n + sizeOf(spec.graph.initializers.get(name)?.dims ?? []), 0);
    const hasConv = spec.graph.nodes.some((n) => n.opType === 'Conv');
    const backend = await activateBackend(resolveBackend(opts.backend ?? 'auto', { parameters, hasConv }));
    return new TfjsInversionOperator(opts, backend);
  }

  private graphFor(batch: number) {
    let g = this.graphs.get(batch);
    if (!g) {
      const spec = this.opts.specialise(batch);
      const ig: InterpreterGraph = { graph: spec.graph, types: spec.types, file: this.opts.file };
      g = { ig, constants: new TfjsConstants(ig, new Set(this.opts.trainable)) };
      this.graphs.set(batch, g);
    }
    return g;
  }

  private async ready(): Promise<void> {
    if (this.disposed) throw new Error('TfjsInversionOperator used after dispose()');
    if (tf.getBackend() !== this.backend) await activateBackend(this.backend as 'cpu' | 'wasm' | 'tensorflow');
  }

  /** The loss at (x, θ) for a batch of `batch` examples. */
  private loss(x: tf.Tensor, theta: tf.Tensor[], target: tf.Tensor, batch: number): tf.Scalar {
    const { ig, constants } = this.graphFor(batch);
    const byName = new Map(this.opts.trainable.map((n, i) => [n, theta[i]]));
    if (this.opts.loss === 'binary-cross-entropy') {
      // BCELoss on a final Sigmoid = BCE-with-logits on its input z: mean over all outputs of softplus(z) − t z,
      // softplus(z) = relu(z) + log(1 + exp(z − 2 relu(z))) (no overflow; exp and log have recomputing rules).
      const z = runGraph(ig, constants, x, byName, finalSigmoidInput(ig.graph));
      const r = relu(z);
      const softplus = tf.add(r, tf.log(tf.add(1, tf.exp(tf.sub(z, tf.mul(2, r))))));
      return tf.div(tf.sum(tf.sub(softplus, tf.mul(target, z))), z.size) as tf.Scalar;
    }
    // The logits before a final Softmax/LogSoftmax, as the ONNX engine takes them (derivatives/lower.ts): a loss of the
    // probabilities would be a softmax of a softmax, with g and J several times smaller than the model's training loss.
    const out = runGraph(ig, constants, x, byName, finalSoftmaxInput(ig.graph));
    if (this.opts.loss === 'cross-entropy') {
      // L = −(1/B) Σ t · log softmax(z), with log softmax = z − logSumExp(z) (tfjs's own is wrong at 2nd order).
      const z = tf.reshape(out, target.shape);
      return tf.div(tf.neg(tf.sum(tf.mul(target, logSoftmax(z, 1)))), batch) as tf.Scalar;
    }
    const d = tf.sub(out, target);
    return tf.div(tf.sum(tf.mul(d, d)), d.size) as tf.Scalar;
  }

  private thetaFrom(u: Float64Array): tf.Tensor[] {
    return this.parameters.map((p) => tf.tensor(Float32Array.from(u.subarray(p.offset, p.offset + p.size)), p.dims));
  }

  private writeFlat(parts: tf.Tensor[], out: Float64Array): void {
    const flat = tf.concat(parts.map((t) => tf.reshape(t, [-1])));
    out.set(flat.dataSync());
  }

  setInput(x: Float64Array): void {
    const next = tf.keep(tf.tensor(Float32Array.from(x), this.inputDims));
    this.x.dispose();
    this.x = next;
  }

  async gradient(out: Float64Array): Promise<number> {
    await this.ready();
    return tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads((...th: tf.Tensor[]) => this.loss(this.x, th, this.target, this.opts.batch))(this.theta);
      this.writeFlat(grads, out);
      return value.dataSync()[0];
    });
  }

  async jacobianVector(u: Float64Array, out: Float64Array): Promise<void> {
    await this.ready();
    tf.tidy(() => {
      const uT = this.thetaFrom(u);
      const inner = (x: tf.Tensor) => {
        const g = tf.grads((...th: tf.Tensor[]) => this.loss(x, th, this.target, this.opts.batch))(this.theta);
        return tf.addN(g.map((gk, k) => tf.sum(tf.mul(gk, uT[k])))) as tf.Scalar;
      };
      out.set(tf.grad(inner)(this.x).dataSync());
    });
  }

  async jacobianTransposeVector(v: Float64Array, out: Float64Array): Promise<void> {
    await this.ready();
    tf.tidy(() => {
      const vT = tf.tensor(Float32Array.from(v), this.inputDims);
      const inner = (...th: tf.Tensor[]) => {
        const gx = tf.grad((x: tf.Tensor) => this.loss(x, th, this.target, this.opts.batch))(this.x);
        return tf.sum(tf.mul(gx, vT)) as tf.Scalar;
      };
      this.writeFlat(tf.grads(inner)(this.theta), out);
    });
  }

  async gramVector(v: Float64Array, out: Float64Array): Promise<void> {
    const w = new Float64Array(this.parameterCount);
    await this.jacobianTransposeVector(v, w);
    await this.jacobianVector(w, out);
  }

  async exampleGradients(): Promise<Float64Array[]> {
    await this.ready();
    const B = this.opts.batch;
    const result: Float64Array[] = [];
    for (let i = 0; i < B; i++) {
      const g = new Float64Array(this.parameterCount);
      tf.tidy(() => {
        const xi = tf.slice(this.x, [i, ...this.inputDims.slice(1).map(() => 0)], [1, ...this.inputDims.slice(1)]);
        const ti = tf.slice(this.target, [i, ...this.target.shape.slice(1).map(() => 0)], [1, ...this.target.shape.slice(1)]);
        const grads = tf.grads((...th: tf.Tensor[]) => this.loss(xi, th, ti, 1))(this.theta);
        this.writeFlat(grads, g);
      });
      result.push(g);
    }
    return result;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.x.dispose();
    this.target.dispose();
    for (const t of this.theta) t.dispose();
    for (const g of this.graphs.values()) g.constants.dispose();
    this.graphs.clear();
  }
}

// The product interface every backend implements and the engine's solvers consume (I2F.md, "The estimate"):
// J = ∂(∇θ L)/∂x is d_x × d_θ; nothing here ever forms it, only its products with vectors.

export interface InversionOperator {
  /** d_x: the whole batch's input, flattened (batch-major, then the model's own layout). */
  readonly inputSize: number;
  /** d_θ: the trainable parameters, flattened in `parameterNames` order. */
  readonly parameterCount: number;
  /** Trainable parameters (θ) in the order g, u and δ are laid out; with their shapes. */
  readonly parameters: readonly { name: string; dims: number[]; offset: number; size: number }[];

  /** Moves the point the products are taken at (default: the batch the operator was built for). */
  setInput(x: Float64Array): void;
  /** g = ∇θ L(x, y; θ) into `out` (length d_θ); returns the loss. */
  gradient(out: Float64Array): Promise<number>;
  /** J u = ∇x ⟨∇θ L, u⟩ for u in θ-space, into `out` (length d_x). */
  jacobianVector(u: Float64Array, out: Float64Array): Promise<void>;
  /** Jᵀ v = d/dt ∇θ L(x + t v) for v in x-space, into `out` (length d_θ). */
  jacobianTransposeVector(v: Float64Array, out: Float64Array): Promise<void>;
  /** J Jᵀ v (length d_x), fused into one product where the backend can. */
  gramVector(v: Float64Array, out: Float64Array): Promise<void>;
  /**
   * J Jᵀ vᵢ for k vectors in one call (outs[i] ← J Jᵀ vs[i]), where the backend batches them through its kernels
   * (a leading block dimension, so Conv and MatMul run on k at once). Optional: `gramBlock` below falls back to
   * k single products. `maxBlock` is the largest k the backend will take in one call (memory), when it is limited.
   */
  gramVectors?(vs: readonly Float64Array[], outs: readonly Float64Array[]): Promise<void>;
  readonly maxBlock?: number;
  /**
   * The same J u and J Jᵀ v computed in higher precision than the products above (e.g. float64 kernels behind
   * float32 ones), for the residuals of mixed-precision iterative refinement (refine.ts). Optional: a backend
   * whose products are already exact to double rounding, or that has no more precise kernels, omits it.
   */
  readonly precise?: PreciseProducts;
  /** Per-example gradients ∇θ L(x_i, y_i) (needed by DP-SGD's clipping), each of length d_θ. */
  exampleGradients(): Promise<Float64Array[]>;
  dispose(): Promise<void>;
}

/** Higher-precision products of the same J (see InversionOperator.precise). */
export interface PreciseProducts {
  /** Unit roundoff of these products (2⁻⁵³ for float64 kernels). */
  readonly roundoff: number;
  jacobianVector(u: Float64Array, out: Float64Array): Promise<void>;
  gramVector(v: Float64Array, out: Float64Array): Promise<void>;
}

/** outs[i] ← J Jᵀ vs[i] for every i: the backend's block product when it has one, in chunks of its maxBlock. */
export async function gramBlock(op: Pick<InversionOperator, 'gramVector' | 'gramVectors' | 'maxBlock'>, vs: readonly Float64Array[], outs: readonly Float64Array[]): Promise<void> {
  if (vs.length !== outs.length) throw new Error(`gramBlock: ${vs.length} vectors but ${outs.length} outputs`);
  if (!op.gramVectors) {
    for (let i = 0; i < vs.length; i++) await op.gramVector(vs[i], outs[i]);
    return;
  }
  // Chunks as even as maxBlock allows (4 at maxBlock 3: 2 + 2, not 3 + 1): a backend builds one session per block
  // size, and a large model keeps one session alive at a time (onnxOperator.ts maxSessions), so alternating sizes
  // rebuilt a session every call.
  const limit = Math.max(1, op.maxBlock ?? vs.length);
  const step = Math.ceil(vs.length / Math.ceil(vs.length / limit));
  for (let i = 0; i < vs.length; i += step) await op.gramVectors(vs.slice(i, i + step), outs.slice(i, i + step));
}

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
   * True when the backend keeps one product session alive at a time (large models), so that a call of another block
   * size rebuilds it: `gramBlock` then gives every chunk of a round the same size (zero vectors pad the last one).
   */
  readonly oneBlockSize?: boolean;
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
export async function gramBlock(op: Pick<InversionOperator, 'gramVector' | 'gramVectors' | 'maxBlock' | 'oneBlockSize'>, vs: readonly Float64Array[], outs: readonly Float64Array[]): Promise<void> {
  if (vs.length !== outs.length) throw new Error(`gramBlock: ${vs.length} vectors but ${outs.length} outputs`);
  if (!op.gramVectors) {
    for (let i = 0; i < vs.length; i++) await op.gramVector(vs[i], outs[i]);
    return;
  }
  // Chunks as even as maxBlock allows (4 at maxBlock 3: 2 + 2, not 3 + 1): a backend builds one session per block
  // size, and a large model keeps one session alive at a time (onnxOperator.ts maxSessions), so alternating sizes
  // rebuilt a session every call. Where the sizes still differ (5 at maxBlock 3: 3 + 2; 7: 3 + 3 + 1, the 1 on the
  // single product's session) and the backend says it keeps one session (oneBlockSize), the last chunk is padded
  // with zero vectors: one more vector's share of a call instead of two session builds and their first, slower runs
  // per round (ResNet-50, rounds of 5 at maxBlock 3: 7.3 s CPU per round padded against 8.2–8.9 s unpadded, load
  // 3.4–3.9; bench/FINDINGS.md "Block products"). A round that has one chunk is never padded: when a round shrinks
  // for good (a solve converged) one rebuild beats padding every call.
  const limit = Math.max(1, op.maxBlock ?? vs.length);
  const chunks = Math.ceil(vs.length / limit);
  const step = Math.ceil(vs.length / chunks);
  for (let i = 0; i < vs.length; i += step) {
    const v = vs.slice(i, i + step), o = outs.slice(i, i + step);
    if (op.oneBlockSize && chunks > 1 && v.length < step) {
      const n = vs[0].length;
      while (v.length < step) {
        v.push(new Float64Array(n));
        o.push(new Float64Array(n));
      }
    }
    await op.gramVectors(v, o);
  }
}

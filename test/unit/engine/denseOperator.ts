// A real InversionOperator over a dense J with a chosen singular spectrum (J = U Σ Vᵀ), the tests' independent truth.

import type { InversionOperator, PreciseProducts } from '../../../server/src/engine/operator';
import { Random } from '../../../server/src/engine/random';

/** Columns of an n × k matrix with orthonormal columns, Haar-random (Gram–Schmidt twice on Gaussian columns). Column-major. */
export function orthonormalColumns(n: number, k: number, seed: number): Float64Array[] {
  const rng = new Random(seed);
  const cols: Float64Array[] = [];
  for (let j = 0; j < k; j++) {
    const q = rng.fillNormal(new Float64Array(n));
    for (let pass = 0; pass < 2; pass++) {
      for (const c of cols) {
        let d = 0;
        for (let i = 0; i < n; i++) d += c[i] * q[i];
        for (let i = 0; i < n; i++) q[i] -= d * c[i];
      }
    }
    let s = 0;
    for (let i = 0; i < n; i++) s += q[i] * q[i];
    s = Math.sqrt(s);
    for (let i = 0; i < n; i++) q[i] /= s;
    cols.push(q);
  }
  return cols;
}

/** Log-uniformly spaced eigenvalues λ of J Jᵀ from λmax down to λmax/κ (the hard case for Krylov solvers). */
export function geometricSpectrum(n: number, lambdaMax: number, kappa: number): number[] {
  return Array.from({ length: n }, (_, i) => lambdaMax * Math.pow(kappa, -(n === 1 ? 0 : i / (n - 1))));
}

export interface DenseJacobian {
  dx: number;
  dtheta: number;
  /** Row-major d_x × d_θ. */
  j: Float64Array;
  /** Left singular vectors (x-space), one per λ. */
  u: Float64Array[];
  /** Right singular vectors (θ-space), one per λ. */
  v: Float64Array[];
  /** Eigenvalues λ = σ² of J Jᵀ, descending; zeros for a singular J. */
  lambdas: number[];
}

/** J = Σ σ_i u_i v_iᵀ with σ_i = √λ_i; λ_i = 0 entries make J Jᵀ singular. */
export function denseJacobian(dx: number, dtheta: number, lambdas: number[], seed: number): DenseJacobian {
  if (lambdas.length !== dx || dtheta < dx) throw new Error('need one λ per input and d_θ ≥ d_x');
  const u = orthonormalColumns(dx, dx, seed);
  const v = orthonormalColumns(dtheta, dx, seed + 1);
  const j = new Float64Array(dx * dtheta);
  for (let k = 0; k < dx; k++) {
    const s = Math.sqrt(lambdas[k]);
    if (s === 0) continue;
    const uk = u[k], vk = v[k];
    for (let r = 0; r < dx; r++) {
      const f = s * uk[r];
      const row = r * dtheta;
      for (let c = 0; c < dtheta; c++) j[row + c] += f * vk[c];
    }
  }
  return { dx, dtheta, j, u, v, lambdas: lambdas.slice() };
}

/** The damped influence truth from the factors: I = Σ_i σ_i/(λ_i+ε) ⟨v_i, δ⟩ u_i (pseudo-inverse on zero λ, ε = 0). */
export function exactInfluence(jac: DenseJacobian, delta: Float64Array, damping = 0): Float64Array {
  const out = new Float64Array(jac.dx);
  for (let k = 0; k < jac.dx; k++) {
    const l = jac.lambdas[k];
    if (l === 0) continue;
    let c = 0;
    const vk = jac.v[k];
    for (let i = 0; i < jac.dtheta; i++) c += vk[i] * delta[i];
    const f = (Math.sqrt(l) / (l + damping)) * c;
    const uk = jac.u[k];
    for (let i = 0; i < jac.dx; i++) out[i] += f * uk[i];
  }
  return out;
}

/** Solves (J Jᵀ + εI) z = b by Cholesky of the formed Gram matrix (an independent float64 dense solve). */
export function choleskySolve(jac: DenseJacobian, b: Float64Array, damping = 0): Float64Array {
  const n = jac.dx, m = jac.dtheta, J = jac.j;
  const a = new Float64Array(n * n);
  for (let r = 0; r < n; r++)
    for (let c = 0; c <= r; c++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += J[r * m + k] * J[c * m + k];
      a[r * n + c] = a[c * n + r] = s + (r === c ? damping : 0);
    }
  for (let k = 0; k < n; k++) {
    let d = a[k * n + k];
    for (let p = 0; p < k; p++) d -= a[k * n + p] ** 2;
    if (!(d > 0)) throw new Error('matrix not positive definite');
    const l = Math.sqrt(d);
    a[k * n + k] = l;
    for (let r = k + 1; r < n; r++) {
      let s = a[r * n + k];
      for (let p = 0; p < k; p++) s -= a[r * n + p] * a[k * n + p];
      a[r * n + k] = s / l;
    }
  }
  const y = Float64Array.from(b);
  for (let r = 0; r < n; r++) {
    for (let p = 0; p < r; p++) y[r] -= a[r * n + p] * y[p];
    y[r] /= a[r * n + r];
  }
  for (let r = n - 1; r >= 0; r--) {
    for (let p = r + 1; p < n; p++) y[r] -= a[p * n + r] * y[p];
    y[r] /= a[r * n + r];
  }
  return y;
}

export interface DenseOperatorOptions {
  /** Round each product's input and output to float32, like the ONNX backend's float32 Conv kernels (MEASURED.md). */
  float32?: boolean;
  /** Offer exact (float64) J u and J Jᵀ v as `precise`, like the ONNX backend's float64 graphs beside float32 ones. */
  precise?: boolean;
  /** Parameter tensors (name, size) that split θ; default one tensor 'w'. */
  tensors?: { name: string; size: number }[];
  gradient?: Float64Array;
  exampleGradients?: Float64Array[];
  loss?: number;
}

/** The engine's product interface over a dense J: a real implementation, not a mock (every product is J's). */
export class DenseInversionOperator implements InversionOperator {
  readonly inputSize: number;
  readonly parameterCount: number;
  readonly parameters: { name: string; dims: number[]; offset: number; size: number }[];
  /** Products computed so far, by kind. */
  readonly counts = { gradient: 0, jacobianVector: 0, jacobianTransposeVector: 0, gramVector: 0, preciseJacobianVector: 0, preciseGramVector: 0 };
  readonly precise?: PreciseProducts;
  private readonly work: Float64Array;

  constructor(readonly jac: DenseJacobian, private readonly opts: DenseOperatorOptions = {}) {
    this.inputSize = jac.dx;
    this.parameterCount = jac.dtheta;
    const tensors = opts.tensors ?? [{ name: 'w', size: jac.dtheta }];
    let offset = 0;
    this.parameters = tensors.map((t) => {
      const p = { name: t.name, dims: [t.size], offset, size: t.size };
      offset += t.size;
      return p;
    });
    if (offset !== jac.dtheta) throw new Error('tensor sizes must add up to d_θ');
    this.work = new Float64Array(jac.dtheta);
    if (opts.precise) {
      const work = new Float64Array(jac.dtheta);
      this.precise = {
        roundoff: 2 ** -53,
        jacobianVector: async (u, out) => {
          this.counts.preciseJacobianVector++;
          this.mulJ(u, out);
        },
        gramVector: async (v, out) => {
          this.counts.preciseGramVector++;
          this.mulJt(v, work);
          this.mulJ(work, out);
        },
      };
    }
  }

  setInput(): void {}

  async gradient(out: Float64Array): Promise<number> {
    this.counts.gradient++;
    out.set(this.opts.gradient ?? new Float64Array(this.parameterCount));
    return this.opts.loss ?? 0;
  }

  async jacobianVector(u: Float64Array, out: Float64Array): Promise<void> {
    this.counts.jacobianVector++;
    this.mulJ(this.round(u, this.work), out);
    this.roundInPlace(out);
  }

  async jacobianTransposeVector(v: Float64Array, out: Float64Array): Promise<void> {
    this.counts.jacobianTransposeVector++;
    this.mulJt(this.opts.float32 ? Float64Array.from(v, Math.fround) : v, out);
    this.roundInPlace(out);
  }

  async gramVector(v: Float64Array, out: Float64Array): Promise<void> {
    this.counts.gramVector++;
    const n = this.inputSize;
    const vin = this.opts.float32 ? roundInto(v, this.gramIn ??= new Float64Array(n)) : v;
    this.mulJt(vin, this.work);
    this.roundInPlace(this.work);
    this.mulJ(this.work, out);
    this.roundInPlace(out);
  }
  private gramIn?: Float64Array;

  async exampleGradients(): Promise<Float64Array[]> {
    return (this.opts.exampleGradients ?? []).map((g) => Float64Array.from(g));
  }

  async dispose(): Promise<void> {}

  private mulJ(u: Float64Array, out: Float64Array): void {
    const { dx, dtheta, j } = this.jac;
    for (let r = 0; r < dx; r++) {
      let s = 0;
      const row = r * dtheta;
      for (let c = 0; c < dtheta; c++) s += j[row + c] * u[c];
      out[r] = s;
    }
  }

  private mulJt(v: Float64Array, out: Float64Array): void {
    const { dx, dtheta, j } = this.jac;
    out.fill(0);
    for (let r = 0; r < dx; r++) {
      const f = v[r];
      const row = r * dtheta;
      for (let c = 0; c < dtheta; c++) out[c] += j[row + c] * f;
    }
  }

  private round(x: Float64Array, into: Float64Array): Float64Array {
    return this.opts.float32 ? roundInto(x, into) : x;
  }

  private roundInPlace(x: Float64Array): void {
    if (this.opts.float32) for (let i = 0; i < x.length; i++) x[i] = Math.fround(x[i]);
  }
}

function roundInto(x: Float64Array, into: Float64Array): Float64Array {
  for (let i = 0; i < x.length; i++) into[i] = Math.fround(x[i]);
  return into;
}

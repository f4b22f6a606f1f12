// Eigen-decomposition of small dense symmetric matrices (the ℓ × ℓ core of a Nyström sketch, nystrom.ts):
// Householder reduction to tridiagonal form, then the implicit QL of tridiagonal.ts. O(k³) flops; cyclic Jacobi
// took 1.5 s for k = 200 here (about ten sweeps of k²/2 rotations), this takes milliseconds.

import { tridiagonalEigen } from './tridiagonal';

/**
 * Eigenvalues (descending) and orthonormal eigenvectors of the symmetric k × k matrix `a` (row-major; only read,
 * its lower triangle is mirrored). Vectors are column-major: component j of eigenvector i is vectors[i·k + j].
 */
export function symmetricEigen(a: Float64Array, k: number): { values: Float64Array; vectors: Float64Array } {
  if (a.length !== k * k) throw new RangeError(`symmetricEigen: ${a.length} entries for a ${k} × ${k} matrix`);
  const m = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j <= i; j++) m[i * k + j] = m[j * k + i] = a[i * k + j];
  const q = new Float64Array(k * k); // accumulated reflections, row-major: A = Q T Qᵀ
  for (let i = 0; i < k; i++) q[i * k + i] = 1;
  const v = new Float64Array(k);
  const p = new Float64Array(k);
  for (let j = 0; j + 2 < k; j++) {
    // Reflector H = I − 2 v vᵀ zeroing column j below its sub-diagonal.
    let xx = 0;
    for (let i = j + 1; i < k; i++) xx += m[i * k + j] * m[i * k + j];
    const x0 = m[(j + 1) * k + j];
    const alpha = x0 >= 0 ? -Math.sqrt(xx) : Math.sqrt(xx);
    v.fill(0);
    for (let i = j + 1; i < k; i++) v[i] = m[i * k + j];
    v[j + 1] -= alpha;
    let vv = 0;
    for (let i = j + 1; i < k; i++) vv += v[i] * v[i];
    if (!(vv > 0)) continue;
    const inv = 1 / Math.sqrt(vv);
    for (let i = j + 1; i < k; i++) v[i] *= inv;
    // H M H = M − v wᵀ − w vᵀ with p = M v, w = 2(p − (vᵀp) v).
    for (let r = j; r < k; r++) {
      let s = 0;
      for (let c = j + 1; c < k; c++) s += m[r * k + c] * v[c];
      p[r] = s;
    }
    let vp = 0;
    for (let r = j + 1; r < k; r++) vp += v[r] * p[r];
    for (let r = j; r < k; r++) p[r] = 2 * (p[r] - vp * v[r]); // w (v[j] = 0)
    for (let r = j; r < k; r++) {
      const vr = v[r], wr = p[r];
      for (let c = j; c < k; c++) m[r * k + c] -= vr * p[c] + wr * v[c];
    }
    // Q ← Q H
    for (let r = 0; r < k; r++) {
      let s = 0;
      for (let c = j + 1; c < k; c++) s += q[r * k + c] * v[c];
      s *= 2;
      for (let c = j + 1; c < k; c++) q[r * k + c] -= s * v[c];
    }
  }
  const d = new Float64Array(k);
  const e = new Float64Array(k);
  for (let i = 0; i < k; i++) d[i] = m[i * k + i];
  for (let i = 0; i + 1 < k; i++) e[i] = m[(i + 1) * k + i];
  const t = tridiagonalEigen(d, e, k); // ascending, column-major
  const values = new Float64Array(k);
  const vectors = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    const src = k - 1 - i; // descending
    values[i] = t.values[src];
    for (let r = 0; r < k; r++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += q[r * k + c] * t.vectors[src * k + c];
      vectors[i * k + r] = s;
    }
  }
  return { values, vectors };
}

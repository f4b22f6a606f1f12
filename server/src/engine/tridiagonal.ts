// Eigen-decomposition of the small symmetric tridiagonal matrices Lanczos produces (implicit QL, EISPACK tql2).

/**
 * Eigenvalues (ascending) and orthonormal eigenvectors of the k×k symmetric tridiagonal T with diagonal `alpha`
 * and off-diagonal `beta` (beta[i] couples i and i+1; length k−1 or more, extra entries ignored).
 * Vectors are column-major in `vectors`: component j of eigenvector i is vectors[i·k + j].
 */
export function tridiagonalEigen(alpha: ArrayLike<number>, beta: ArrayLike<number>, k: number): { values: Float64Array; vectors: Float64Array } {
  const d = new Float64Array(k);
  const e = new Float64Array(k);
  for (let i = 0; i < k; i++) d[i] = alpha[i];
  for (let i = 0; i + 1 < k; i++) e[i] = beta[i];
  // z[row*k + col]: row = component, col = eigenvector (JAMA layout), transposed at the end
  const z = new Float64Array(k * k);
  for (let i = 0; i < k; i++) z[i * k + i] = 1;

  let f = 0;
  let tst1 = 0;
  const eps = Number.EPSILON;
  for (let l = 0; l < k; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < k - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iter = 0;
      do {
        if (++iter > 60) throw new Error('tridiagonalEigen: no convergence');
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < k; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1, c2 = 1, c3 = 1, s = 0, s2 = 0;
        const el1 = e[l + 1];
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          for (let row = 0; row < k; row++) {
            const zi1 = z[row * k + i + 1];
            const zi = z[row * k + i];
            z[row * k + i + 1] = s * zi + c * zi1;
            z[row * k + i] = c * zi - s * zi1;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] = d[l] + f;
    e[l] = 0;
  }

  const order = Array.from({ length: k }, (_, i) => i).sort((a, b) => d[a] - d[b]);
  const values = new Float64Array(k);
  const vectors = new Float64Array(k * k);
  order.forEach((src, dst) => {
    values[dst] = d[src];
    for (let row = 0; row < k; row++) vectors[dst * k + row] = z[row * k + src];
  });
  return { values, vectors };
}

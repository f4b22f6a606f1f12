// Dense vector kernels on Float64Array for the solvers: every one writes into caller-owned storage (no allocation).

/** ⟨a, b⟩, with a 4-way unrolled sum (≈ pairwise-sum accuracy for the d_x ≤ 150k vectors the solvers use). */
export function dot(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

/** ‖a‖₂, scaled so that huge or tiny entries neither overflow nor underflow. */
export function norm(a: Float64Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (v > max) max = v;
    else if (v !== v) return NaN;
  }
  if (max === 0 || !Number.isFinite(max)) return max;
  if (max > 1e-150 && max < 1e150) return Math.sqrt(dot(a, a));
  const inv = 1 / max;
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const v = a[i] * inv;
    s += v * v;
  }
  return max * Math.sqrt(s);
}

/** y ← y + α x. */
export function axpy(alpha: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i] += alpha * x[i];
}

/** y ← x + β y (the CG direction update p ← r + β p). */
export function xpby(x: Float64Array, beta: number, y: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i] = x[i] + beta * y[i];
}

/** out ← α x + β y. */
export function linearCombination(alpha: number, x: Float64Array, beta: number, y: Float64Array, out: Float64Array): void {
  for (let i = 0; i < out.length; i++) out[i] = alpha * x[i] + beta * y[i];
}

/** x ← α x. */
export function scale(alpha: number, x: Float64Array): void {
  for (let i = 0; i < x.length; i++) x[i] *= alpha;
}

/** out ← x. */
export function copy(x: Float64Array, out: Float64Array): void {
  out.set(x);
}

/** x ← 0. */
export function zero(x: Float64Array): void {
  x.fill(0);
}

/** out ← a − b. */
export function subtract(a: Float64Array, b: Float64Array, out: Float64Array): void {
  for (let i = 0; i < out.length; i++) out[i] = a[i] - b[i];
}

/** True when every entry is finite (no NaN, no ±∞). */
export function allFinite(x: Float64Array): boolean {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) return false;
  return true;
}

/** Throws when a vector does not have the length a product or solver expects (a programming error, not a user one). */
export function assertLength(x: Float64Array, n: number, what: string): void {
  if (x.length !== n) throw new RangeError(`${what}: length ${x.length}, expected ${n}`);
}

/** Row-major lower Cholesky factor of the SPD k × k matrix a, or null when a pivot is not positive. */
export function cholesky(a: Float64Array, k: number): Float64Array | null {
  const l = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * k + j];
      for (let t = 0; t < j; t++) s -= l[i * k + t] * l[j * k + t];
      if (i === j) {
        if (!(s > 0)) return null;
        l[i * k + i] = Math.sqrt(s);
      } else {
        l[i * k + j] = s / l[j * k + j];
      }
    }
  }
  return l;
}

// Discrete Fourier transforms of any length, in double precision: an iterative radix-2 FFT, and Bluestein's chirp-z
// for the lengths that are not powers of two (the PRV accountant's grids are arbitrary even sizes: its circular
// self-convolution must be of exactly that size, or the mass that wraps around lands elsewhere).

/** A complex vector as two arrays (real, imaginary parts). */
export interface ComplexArray {
  re: Float64Array;
  im: Float64Array;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** e^(−2πi k/n) for k < n/2, each from its own cos/sin (no accumulated rotation error). */
function twiddles(n: number): ComplexArray {
  const half = n >> 1;
  const re = new Float64Array(half);
  const im = new Float64Array(half);
  for (let k = 0; k < half; k++) {
    const a = (-2 * Math.PI * k) / n;
    re[k] = Math.cos(a);
    im[k] = Math.sin(a);
  }
  return { re, im };
}

const twiddleCache = new Map<number, ComplexArray>();
function cachedTwiddles(n: number): ComplexArray {
  let t = twiddleCache.get(n);
  if (!t) {
    // Only the latest size is kept: a search evaluates many grids of different sizes, each several MB of twiddles.
    twiddleCache.clear();
    t = twiddles(n);
    twiddleCache.set(n, t);
  }
  return t;
}

/** 2¹⁴ complex points: 256 KB, a typical L2 cache. */
const BLOCK = 1 << 14;

/** One radix-2 stage of sub-transforms of length `len` over [from, to). */
function butterflies(re: Float64Array, im: Float64Array, w: ComplexArray, n: number, len: number, from: number, to: number): void {
  const half = len >> 1;
  const stride = (n / len) | 0; // an integer (not a double) index keeps V8's array access fast
  const wre = w.re;
  const wim = w.im;
  for (let start = from; start < to; start += len) {
    for (let k = 0, t = 0; k < half; k++, t += stride) {
      const wr = wre[t];
      const wi = wim[t];
      const a = start + k;
      const b = a + half;
      const br = re[b] * wr - im[b] * wi;
      const bi = re[b] * wi + im[b] * wr;
      re[b] = re[a] - br;
      im[b] = im[a] - bi;
      re[a] += br;
      im[a] += bi;
    }
  }
}

/**
 * In-place forward DFT X_k = Σ_j x_j e^(−2πi jk/n) for a power-of-two n (decimation in time after a bit-reversal
 * permutation). Rounding error grows as O(ε log n) relative to the vector's norm.
 */
export function fftPowerOfTwo(x: ComplexArray): void {
  const n = x.re.length;
  if (!isPowerOfTwo(n)) throw new RangeError(`radix-2 FFT needs a power-of-two length, not ${n}`);
  const { re, im } = x;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      let t = re[i];
      re[i] = re[j];
      re[j] = t;
      t = im[i];
      im[i] = im[j];
      im[j] = t;
    }
  }
  const w = cachedTwiddles(n);
  // The stages up to BLOCK points combine only points inside one BLOCK-aligned block, so each block runs all of them
  // while it is in cache; the larger stages are whole passes over the arrays (for 4M points: 8 passes, not 22).
  const block = Math.min(n, BLOCK);
  for (let base = 0; base < n; base += block) {
    for (let len = 2; len <= block; len <<= 1) butterflies(re, im, w, n, len, base, base + block);
  }
  for (let len = block << 1; len <= n; len <<= 1) butterflies(re, im, w, n, len, 0, n);
}

interface BluesteinPlan {
  m: number;
  /** The chirp w_j = e^(−πi j²/n). */
  cr: Float64Array;
  ci: Float64Array;
  /** FFT_M of b_j = conj(w_j) at j and M − j (the convolution's negative lags wrap around). */
  filter: ComplexArray;
}

/** The last plan is kept: a forward and an inverse transform of the same length share it (the composition does). */
let lastPlan: { n: number; plan: BluesteinPlan } | undefined;

function bluesteinPlan(n: number): BluesteinPlan {
  if (lastPlan?.n === n) return lastPlan.plan;
  lastPlan = undefined;
  let m = 1;
  while (m < 2 * n - 1) m <<= 1;
  const cr = new Float64Array(n);
  const ci = new Float64Array(n);
  const twoN = 2 * n;
  for (let j = 0; j < n; j++) {
    const angle = (-Math.PI * ((j * j) % twoN)) / n;
    cr[j] = Math.cos(angle);
    ci[j] = Math.sin(angle);
  }
  const filter: ComplexArray = { re: new Float64Array(m), im: new Float64Array(m) };
  filter.re[0] = cr[0];
  filter.im[0] = -ci[0];
  for (let j = 1; j < n; j++) {
    filter.re[j] = filter.re[m - j] = cr[j];
    filter.im[j] = filter.im[m - j] = -ci[j];
  }
  fftPowerOfTwo(filter);
  const plan = { m, cr, ci, filter };
  lastPlan = { n, plan };
  return plan;
}

/** Drop the kept Bluestein plan and twiddles (tens of MB on large grids) once a computation is over. */
export function releaseDftPlans(): void {
  lastPlan = undefined;
  twiddleCache.clear();
}

/**
 * The forward DFT of any length n, returned as a new vector. Powers of two go straight to the radix-2 FFT; other
 * lengths by Bluestein's identity jk = (j² + k² − (k − j)²)/2, which turns the DFT into a convolution with the chirp
 * e^(πi m²/n), done by radix-2 FFTs of length M ≥ 2n − 1 (Bluestein 1970). The chirp's angle uses m² mod 2n in
 * exact integer arithmetic (m² < 2⁵³ for n < 9·10⁷), so it is accurate to one rounding whatever n is.
 * Memory: two complex vectors of length M (≈ 4n complex numbers, 64 n bytes), one of them the kept plan's filter.
 */
export function dft(x: ComplexArray): ComplexArray {
  const n = x.re.length;
  if (n === 0) return { re: new Float64Array(0), im: new Float64Array(0) };
  if (isPowerOfTwo(n)) {
    const out = { re: Float64Array.from(x.re), im: Float64Array.from(x.im) };
    fftPowerOfTwo(out);
    return out;
  }
  if (n > 90_000_000) throw new RangeError(`DFT length ${n} is past what this Bluestein transform keeps exact`);
  const { m, cr, ci, filter } = bluesteinPlan(n);
  // a_j = x_j w_j, zero-padded to M
  const a: ComplexArray = { re: new Float64Array(m), im: new Float64Array(m) };
  for (let j = 0; j < n; j++) {
    a.re[j] = x.re[j] * cr[j] - x.im[j] * ci[j];
    a.im[j] = x.re[j] * ci[j] + x.im[j] * cr[j];
  }
  fftPowerOfTwo(a);
  const b = filter;

  // pointwise product, then the inverse transform as conj(FFT(conj(·)))/M
  for (let k = 0; k < m; k++) {
    const r = a.re[k] * b.re[k] - a.im[k] * b.im[k];
    const i = a.re[k] * b.im[k] + a.im[k] * b.re[k];
    a.re[k] = r;
    a.im[k] = -i;
  }
  fftPowerOfTwo(a);
  const out: ComplexArray = { re: new Float64Array(n), im: new Float64Array(n) };
  for (let k = 0; k < n; k++) {
    const r = a.re[k] / m;
    const i = -a.im[k] / m;
    out.re[k] = r * cr[k] - i * ci[k];
    out.im[k] = r * ci[k] + i * cr[k];
  }
  return out;
}

/** The inverse DFT x_j = (1/n) Σ_k X_k e^(2πi jk/n), as conj(DFT(conj X))/n. */
export function inverseDft(x: ComplexArray): ComplexArray {
  const n = x.re.length;
  const conj = { re: x.re, im: x.im.map((v) => -v) };
  const y = dft(conj);
  for (let k = 0; k < n; k++) {
    y.re[k] /= n;
    y.im[k] = -y.im[k] / n;
  }
  return y;
}

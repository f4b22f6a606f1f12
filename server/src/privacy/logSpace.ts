// Arithmetic on logarithms of positive numbers, and log erfc, for the RDP series that span hundreds of orders of magnitude.

/** log(e^a + e^b) without overflow; −∞ is the log of 0. */
export function logAdd(a: number, b: number): number {
  const lo = Math.min(a, b);
  const hi = Math.max(a, b);
  if (lo === -Infinity) return hi;
  return Math.log1p(Math.exp(lo - hi)) + hi;
}

/** log(e^a − e^b) for a ≥ b; −∞ when they are equal. */
export function logSub(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (a <= b) return -Infinity;
  const d = a - b;
  // expm1 overflows past ~709: then e^a − e^b = e^a (1 − e^−d) ≈ e^a to double precision.
  return d > 700 ? a : Math.log(Math.expm1(d)) + b;
}

const SQRT_PI = Math.sqrt(Math.PI);
const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);

/**
 * erf by its everywhere-positive series erf(x) = 2/√π · e^(−x²) · Σ (2x²)ⁿ x / (1·3·…·(2n+1)) (Abramowitz &
 * Stegun 7.1.6): no cancellation between terms, so full double precision for |x| < 2, where we use it.
 */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
  }
  return ((2 / SQRT_PI) * Math.exp(-x2)) * sum;
}

/**
 * log(√π · e^(x²) · erfc(x)) for x ≥ 2 by the continued fraction erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x +
 * (3/2)/(x + …)))) (A&S 7.1.14), evaluated by the modified Lentz method: it converges faster the larger x is.
 */
function logScaledErfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 5000; n++) {
    const a = n / 2;
    d = x + a * d;
    d = Math.abs(d) < tiny ? tiny : d;
    c = x + a / c;
    c = Math.abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return -Math.log(f);
}

/** log erfc(x) for any real x, to ~1e-14 relative in erfc (tested against mpmath at 30 digits). */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x >= 2) return -x * x - LOG_SQRT_PI + logScaledErfcContinuedFraction(x);
  if (x > -2) return Math.log1p(-erfSeries(x));
  // erfc(x) = 2 − erfc(−x) for negative x, with erfc(−x) ≤ erfc(2) small.
  return Math.log(2 - Math.exp(-x * x - LOG_SQRT_PI + logScaledErfcContinuedFraction(-x)));
}

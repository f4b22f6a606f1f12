// ε of DP-SGD under Gaussian DP with Poisson subsampling by the central limit theorem (Bu, Dong, Long, Su 2020,
// "Deep learning with Gaussian differential privacy"), as Opacus' GaussianAccountant computes it: an approximation
// that can under-state ε for few steps or large q (Opacus warns so); we offer it only to reproduce Opacus' σ.

import { erfc } from './erfc';

/** Φ(x), the standard normal CDF. */
function normalCdf(x: number): number {
  return erfc(-x / Math.SQRT2) / 2;
}

/** μ = √(e^(1/σ²) − 1)·√T·q (Opacus' compute_mu_poisson). */
export function gdpMu(sampleRate: number, noiseMultiplier: number, steps: number): number {
  return Math.sqrt(Math.exp(noiseMultiplier ** -2) - 1) * Math.sqrt(steps) * sampleRate;
}

/** δ(ε) of μ-GDP: Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2) (Dong, Roth, Su 2019, Corollary 2.13). */
export function gdpDelta(epsilon: number, mu: number): number {
  return normalCdf(-epsilon / mu + mu / 2) - Math.exp(epsilon) * normalCdf(-epsilon / mu - mu / 2);
}

/**
 * The ε with δ(ε) = δ in [0, 500] (Opacus brackets the root there and solves by Brent's method to ~2e-12; we bisect
 * to the last representable digit, since δ(ε) is decreasing). Throws when δ(0) ≤ δ or δ(500) > δ (Opacus' brentq
 * raises then too: the bracket holds no sign change).
 */
export function gdpEpsilon(sampleRate: number, noiseMultiplier: number, steps: number, delta: number): number {
  const mu = gdpMu(sampleRate, noiseMultiplier, steps);
  const f = (e: number) => gdpDelta(e, mu) - delta;
  let lo = 0;
  let hi = 500;
  const flo = f(lo);
  const fhi = f(hi);
  if (!(flo > 0 && fhi < 0)) {
    throw new RangeError(`Gaussian DP with μ = ${mu} has no ε in [0, 500] at δ = ${delta}`);
  }
  for (let i = 0; i < 200 && hi - lo > 4e-16 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) > 0) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

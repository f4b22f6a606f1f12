// Rényi DP of one step of the Poisson-subsampled Gaussian mechanism (DP-SGD's step), at integer and fractional orders, in log space.

import { logAdd, logErfc, logSub } from './logSpace';

/**
 * The orders Opacus's RDPAccountant minimises over (`DEFAULT_ALPHAS`): 1.1, 1.2, …, 10.9 and 12, 13, …, 63.
 * Built from integers so 1.1 is the same double as Python's 1 + 1/10.
 */
export const DEFAULT_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10),
  ...Array.from({ length: 52 }, (_, i) => 12 + i),
]);

/**
 * log A_α for an integer α (Mironov, Talwar, Zhang 2019, Sec. 3.3):
 * A_α = Σ_{k=0..α} C(α,k) (1−q)^(α−k) q^k exp((k² − k)/(2σ²)), every term positive.
 */
function logAInteger(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  let logBinom = 0; // log C(α, 0)
  let acc = -Infinity;
  for (let k = 0; k <= alpha; k++) {
    if (k > 0) logBinom += Math.log((alpha - k + 1) / k);
    acc = logAdd(acc, logBinom + k * logQ + (alpha - k) * log1mQ + (k * k - k) / (2 * sigma * sigma));
  }
  return acc;
}

/**
 * log A_α for a fractional α (Mironov et al. 2019, Sec. 3.3): the integral split at z0 = σ² log(1/q − 1) + 1/2
 * into two binomial series A_0 + A_1,
 *   A_0 = Σ_k C(α,k) (1−q)^(α−k) q^k     exp((k² − k)/(2σ²)) · ½ erfc((k − z0)/(√2σ)),
 *   A_1 = Σ_k C(α,k) (1−q)^k     q^(α−k) exp((j² − j)/(2σ²)) · ½ erfc((z0 − j)/(√2σ)),  j = α − k.
 * C(α,k) changes sign with each k > α, so terms are added or subtracted in log space; the series is summed until
 * both terms fall below e^−30 (the cutoff of TensorFlow Privacy's and Opacus's implementations; past α the
 * series alternates, so what is left is smaller than the last term).
 */
function logAFractional(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const root2Sigma = Math.SQRT2 * sigma;
  const twoSigma2 = 2 * sigma * sigma;
  let a0 = -Infinity;
  let a1 = -Infinity;
  let logBinom = 0; // log |C(α, k)|
  let positive = true; // sign of C(α, k)
  for (let k = 0; k < 1_000_000; k++) {
    if (k > 0) {
      const factor = (alpha - k + 1) / k;
      logBinom += Math.log(Math.abs(factor));
      if (factor < 0) positive = !positive;
    }
    const j = alpha - k;
    const s0 = logBinom + k * logQ + j * log1mQ + (k * k - k) / twoSigma2 + Math.log(0.5) + logErfc((k - z0) / root2Sigma);
    const s1 = logBinom + j * logQ + k * log1mQ + (j * j - j) / twoSigma2 + Math.log(0.5) + logErfc((z0 - j) / root2Sigma);
    if (positive) {
      a0 = logAdd(a0, s0);
      a1 = logAdd(a1, s1);
    } else {
      a0 = logSub(a0, s0);
      a1 = logSub(a1, s1);
    }
    if (Math.max(s0, s1) < -30) break;
  }
  return logAdd(a0, a1);
}

/**
 * RDP ε_α of ONE step of the sampled Gaussian mechanism with sampling rate q and noise multiplier σ: log(A_α)/(α−1).
 * q = 1 is the plain Gaussian mechanism, α/(2σ²); q = 0 releases nothing; σ = 0 is no privacy (∞).
 */
export function sampledGaussianRdp(q: number, sigma: number, alpha: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`sampling rate must be in [0, 1], not ${q}`);
  if (!(sigma >= 0)) throw new RangeError(`noise multiplier must be ≥ 0, not ${sigma}`);
  if (!(alpha > 1)) throw new RangeError(`RDP order must be > 1, not ${alpha}`);
  if (q === 0) return 0;
  if (sigma === 0 || alpha === Infinity) return Infinity;
  if (q === 1) return alpha / (2 * sigma * sigma);
  const logA = Number.isInteger(alpha) ? logAInteger(q, sigma, alpha) : logAFractional(q, sigma, alpha);
  return logA / (alpha - 1);
}

/** One step's RDP at each order. */
export function sampledGaussianRdpCurve(q: number, sigma: number, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  return orders.map((alpha) => sampledGaussianRdp(q, sigma, alpha));
}

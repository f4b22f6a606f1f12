// ε of DP-SGD by numerical composition of privacy loss random variables (Gopi, Lee, Wutschitz, "Numerical
// composition of differential privacy", NeurIPS 2021), computed as Opacus' PRVAccountant.get_epsilon computes it,
// the accountant Opacus' PrivacyEngine uses by default: tighter than RDP, so the σ it picks for a target ε is smaller.

import { releaseDftPlans } from './fft';
import type { MechanismRun } from './rdpAccountant';
import { checkRun } from './rdpAccountant';
import { selfCompose, discretise, type DiscretePrv } from './prvCompose';
import { alignedDomain, domainStep, meshSize, safeDomainHalfWidth } from './prvDomain';
import { SubsampledGaussianPrv, TruncatedPrv } from './subsampledGaussianPrv';

/** numpy's long double machine epsilon on x86-64 (80-bit extended, 2⁻⁶³): Opacus' guard against rounding uses it. */
const LONG_DOUBLE_EPSILON = 2 ** -63;

export interface PrvEpsilon {
  accountant: 'prv';
  /** The upper bound Opacus reports: ε at δ − δ_err, plus ε_err. */
  epsilon: number;
  /** The estimate at δ itself, and the lower bound (at δ + δ_err, minus ε_err). */
  estimate: number;
  lower: number;
  delta: number;
  epsError: number;
  deltaError: number;
  /** Grid points of the discretisation (memory and time grow with it). */
  gridSize: number;
}

export interface PrvOptions {
  /** Opacus' defaults: ε_err 0.01, δ_err δ/1000. */
  epsError?: number;
  deltaError?: number;
  /** Refuse grids larger than this (memory ≈ 90 bytes a point at the peak); Opacus has no such limit. */
  maxGridSize?: number;
}

/** 8M points: ≈ 0.7 GB at the peak, seconds to a minute of CPU. Past it the language server would stall or run out of memory. */
export const MAX_PRV_GRID = 8_000_000;

/**
 * The three ε of a composed discrete PRV at δ (Opacus' DiscretePRV.compute_epsilon): with the tail sums
 * d1_i = Σ_{j≥i} p_j and d2_i = Σ_{j≥i} p_j e^(−t_j), δ(ε) = d1_i − e^ε d2_i for ε in the cell before t_i, so the
 * first i with e^(t_i) d2_i − d1_i ≥ −δ gives ε = log((d1_i − δ)/d2_i). The tail sums are accumulated from the end
 * one term at a time, as numpy's cumsum does, and the index found by numpy's left binary search.
 */
export function epsilonOfComposed(d: DiscretePrv, delta: number, deltaError: number, epsError: number): { lower: number; estimate: number; upper: number } {
  if (delta <= 0) return { lower: Infinity, estimate: Infinity, upper: Infinity };
  const n = d.pmf.length;
  if (LONG_DOUBLE_EPSILON * n > delta - deltaError) {
    throw new RangeError(`δ ${delta} is too small for a PRV grid of ${n} points: rounding would dominate`);
  }
  const dt = domainStep(d.domain);
  const d1 = new Float64Array(n);
  const d2 = new Float64Array(n);
  const nDelta = new Float64Array(n);
  let s1 = 0;
  let s2 = 0;
  for (let i = n - 1; i >= 0; i--) {
    // numpy's linspace: start + i·step, the last point exactly tMax.
    const t = i === n - 1 ? d.domain.tMax : d.domain.tMin + i * dt;
    s1 += d.pmf[i];
    s2 += d.pmf[i] * Math.exp(-t);
    d1[i] = s1;
    d2[i] = s2;
    nDelta[i] = Math.exp(t) * s2 - s1;
  }
  const find = (target: number): number => {
    const key = -target;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = lo + ((hi - lo) >> 1);
      if (nDelta[mid] < key) lo = mid + 1;
      else hi = mid;
    }
    if (lo <= 0) throw new RangeError(`ε cannot be computed at δ ${target} on this grid (δ is reached at its very start)`);
    return Math.log((d1[lo] - target) / d2[lo]);
  };
  return { upper: find(delta - deltaError) + epsError, lower: find(delta + deltaError) - epsError, estimate: find(delta) };
}

/**
 * ε at δ after `steps` steps of the Poisson-subsampled Gaussian mechanism with the same (q, σ), as Opacus'
 * PRVAccountant.get_epsilon(delta) returns it (its upper bound). Memory ≈ 90 bytes per grid point at the peak
 * (the Bluestein transform on half the grid); the grid has 2L/dt points with L the safe half-width
 * (prvDomain.ts) and dt ∝ 1/√steps.
 */
export function prvEpsilon(run: MechanismRun, delta: number, options: PrvOptions = {}): PrvEpsilon {
  checkRun(run);
  if (!(delta > 0 && delta < 1)) throw new RangeError(`δ must be strictly between 0 and 1, not ${delta}`);
  if (!(Number.isInteger(run.steps) && run.steps >= 1)) throw new RangeError(`the PRV accountant needs whole steps ≥ 1, not ${run.steps}`);
  const epsError = options.epsError ?? 0.01;
  const deltaError = options.deltaError ?? delta / 1000;
  const prv = new SubsampledGaussianPrv(run.sampleRate, run.noiseMultiplier);
  const half = safeDomainHalfWidth(run.sampleRate, run.noiseMultiplier, run.steps, epsError, deltaError);
  const domain = alignedDomain(-half, half, meshSize(run.steps, epsError, deltaError));
  const maxGrid = options.maxGridSize ?? MAX_PRV_GRID;
  if (domain.size > maxGrid) throw new RangeError(`the PRV grid for σ ${run.noiseMultiplier} over ${run.steps} steps has ${domain.size} points, past the ${maxGrid} this accountant takes on`);
  const discrete = discretise(new TruncatedPrv(prv, domain.tMin, domain.tMax), domain);
  const composed = selfCompose(discrete, run.steps);
  releaseDftPlans();
  const eps = epsilonOfComposed(composed, delta, deltaError, epsError);
  return { accountant: 'prv', epsilon: eps.upper, estimate: eps.estimate, lower: eps.lower, delta, epsError, deltaError, gridSize: domain.size };
}

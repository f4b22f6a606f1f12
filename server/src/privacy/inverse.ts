// The inverse questions of accounting: the noise multiplier that meets a target ε, and the epochs a budget allows.

import { checkRun, epsilonFloor, RdpCurve } from './rdpAccountant';
import { DEFAULT_ORDERS } from './sampledGaussian';

/** Opacus refuses noise multipliers past this (`MAX_SIGMA` in `get_noise_multiplier`): so do we. */
export const MAX_NOISE_MULTIPLIER = 2000;

export type NoiseForEpsilon =
  | { kind: 'found'; noiseMultiplier: number; epsilon: number; order: number }
  /** No noise reaches the target: it is below the conversion's floor at this δ, or needs σ > MAX_NOISE_MULTIPLIER. */
  | { kind: 'unreachable'; reason: string; floor: number };

/**
 * The smallest σ whose ε at δ over `steps` steps of rate q is ≤ target (what Opacus's `get_noise_multiplier`
 * looks for), by bisection: ε is decreasing in σ (each order's RDP is, and so is their minimum). Opacus stops
 * within 0.01 of the target ε; we bisect σ to 1e-12 relative, so ε(σ) meets the target to ~1e-9.
 */
export function noiseForEpsilon(
  targetEpsilon: number,
  delta: number,
  sampleRate: number,
  steps: number,
  orders: readonly number[] = DEFAULT_ORDERS,
): NoiseForEpsilon {
  checkRun({ sampleRate, noiseMultiplier: 1, steps });
  if (!(targetEpsilon > 0)) throw new RangeError(`target ε must be > 0, not ${targetEpsilon}`);
  const floor = epsilonFloor(delta, orders);
  if (targetEpsilon <= floor) {
    return { kind: 'unreachable', floor, reason: `ε ${targetEpsilon} is at or below ${floor.toPrecision(3)}, the least any noise gives at δ = ${delta} with RDP accounting over these orders` };
  }
  const eps = (sigma: number) => new RdpCurve(sampleRate, sigma, orders).spent(steps, delta);
  let low = 0;
  let high = 1;
  let atHigh = eps(high);
  while (atHigh.epsilon > targetEpsilon) {
    low = high;
    high *= 2;
    if (high > MAX_NOISE_MULTIPLIER) {
      return { kind: 'unreachable', floor, reason: `it needs a noise multiplier above ${MAX_NOISE_MULTIPLIER}` };
    }
    atHigh = eps(high);
  }
  while (high - low > 1e-12 * high) {
    const mid = (low + high) / 2;
    const atMid = eps(mid);
    if (atMid.epsilon <= targetEpsilon) {
      high = mid;
      atHigh = atMid;
    } else {
      low = mid;
    }
  }
  return { kind: 'found', noiseMultiplier: high, epsilon: atHigh.epsilon, order: atHigh.order };
}

export interface StepsForBudget {
  /** Whole steps with ε ≤ target (Infinity when a step costs nothing). */
  steps: number;
  /** The same as epochs of `stepsPerEpoch` steps, rounded down; undefined without stepsPerEpoch. */
  epochs?: number;
  /** The real-valued T at which ε reaches the target exactly. */
  exactSteps: number;
}

/** How many steps (and whole epochs) of (q, σ) stay within ε at δ. */
export function stepsForEpsilon(
  targetEpsilon: number,
  delta: number,
  sampleRate: number,
  noiseMultiplier: number,
  stepsPerEpoch?: number,
  orders: readonly number[] = DEFAULT_ORDERS,
): StepsForBudget {
  checkRun({ sampleRate, noiseMultiplier, steps: 0 });
  const exactSteps = new RdpCurve(sampleRate, noiseMultiplier, orders).maxSteps(targetEpsilon, delta);
  const steps = Math.floor(exactSteps);
  return { steps, exactSteps, ...(stepsPerEpoch ? { epochs: Math.floor(steps / stepsPerEpoch) } : {}) };
}

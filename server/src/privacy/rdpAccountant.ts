// DP-SGD's privacy spent: one step's RDP composed over the steps, converted to (ε, δ) as Opacus's RDPAccountant does.

import { DEFAULT_ORDERS, sampledGaussianRdpCurve } from './sampledGaussian';

/** A run of the sampled Gaussian mechanism: the same q and σ at every step. */
export interface MechanismRun {
  /** q: probability each example (or client) is in a step's batch (Poisson sampling). */
  sampleRate: number;
  /** σ: noise std over the clipping norm. */
  noiseMultiplier: number;
  /** T: steps (or rounds). */
  steps: number;
}

/** What the CLI prints with --json and the audit carries per config: the shape. */
export interface PrivacySpent extends MechanismRun {
  accountant: 'rdp';
  epsilon: number;
  delta: number;
  /** The RDP order α at which the conversion is tightest; at the first or last default order a better one may lie outside. */
  order: number;
}

/**
 * Balle, Barthe, Gaboardi, Hsu, Sato 2020 (Theorem 21), the conversion Opacus's `get_privacy_spent` uses:
 * ε(α) = RDP_α + log((α − 1)/α) − (log δ + log α)/(α − 1). Tighter than Mironov 2017's RDP_α + log(1/δ)/(α − 1).
 */
export function epsilonAtOrder(rdp: number, alpha: number, delta: number): number {
  return rdp + Math.log((alpha - 1) / alpha) - (Math.log(delta) + Math.log(alpha)) / (alpha - 1);
}

/** The smallest ε over the orders for a composed RDP curve (NaN orders are skipped, as numpy's nanargmin does). */
export function epsilonFromRdp(rdp: readonly number[], orders: readonly number[], delta: number): { epsilon: number; order: number } {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`δ must be strictly between 0 and 1, not ${delta}`);
  let best = { epsilon: Infinity, order: orders[orders.length - 1] };
  for (let i = 0; i < orders.length; i++) {
    const eps = epsilonAtOrder(rdp[i], orders[i], delta);
    if (eps < best.epsilon) best = { epsilon: eps, order: orders[i] };
  }
  // ε below 0 can come out of the formula for δ near 1; a guarantee is never better than ε = 0.
  return { epsilon: Math.max(0, best.epsilon), order: best.order };
}

export function checkRun(run: MechanismRun): void {
  if (!(run.sampleRate > 0 && run.sampleRate <= 1)) throw new RangeError(`sample rate must be in (0, 1], not ${run.sampleRate}`);
  if (!(run.noiseMultiplier >= 0) || !Number.isFinite(run.noiseMultiplier)) throw new RangeError(`noise multiplier must be a finite number ≥ 0, not ${run.noiseMultiplier}`);
  if (!(run.steps >= 0) || !Number.isFinite(run.steps)) throw new RangeError(`steps must be a finite number ≥ 0, not ${run.steps}`);
}

/**
 * One step's RDP curve for (q, σ): the expensive part (a series per fractional order), computed once and reused
 * for any number of steps and any δ, since RDP composes additively (Mironov 2017, Proposition 1).
 */
export class RdpCurve {
  readonly perStep: readonly number[];
  constructor(
    readonly sampleRate: number,
    readonly noiseMultiplier: number,
    readonly orders: readonly number[] = DEFAULT_ORDERS,
  ) {
    this.perStep = sampledGaussianRdpCurve(sampleRate, noiseMultiplier, orders);
  }

  spent(steps: number, delta: number): PrivacySpent {
    const composed = this.perStep.map((r) => r * steps);
    const { epsilon, order } = epsilonFromRdp(composed, this.orders, delta);
    return { accountant: 'rdp', epsilon, delta, order, steps, sampleRate: this.sampleRate, noiseMultiplier: this.noiseMultiplier };
  }

  /**
   * The most steps with ε ≤ target at δ. ε(T) = min_α (T·RDP_α + c_α) with c_α the conversion's constant, so
   * ε(T) ≤ target exactly when some α has T ≤ (target − c_α)/RDP_α: the largest such T, in closed form.
   * Infinity when no step costs anything (q = 0); 0 when even T = 0 exceeds the target (δ too small for it).
   */
  maxSteps(targetEpsilon: number, delta: number): number {
    let best = -Infinity;
    for (let i = 0; i < this.orders.length; i++) {
      const c = epsilonAtOrder(0, this.orders[i], delta);
      if (c > targetEpsilon) continue;
      const r = this.perStep[i];
      best = Math.max(best, r > 0 ? (targetEpsilon - c) / r : Infinity);
    }
    return best === -Infinity ? 0 : best;
  }
}

/** ε at δ after `steps` steps of the sampled Gaussian mechanism (Opacus's RDPAccountant over its default orders). */
export function rdpEpsilon(run: MechanismRun, delta: number, orders: readonly number[] = DEFAULT_ORDERS): PrivacySpent {
  checkRun(run);
  return new RdpCurve(run.sampleRate, run.noiseMultiplier, orders).spent(run.steps, delta);
}

/** The smallest ε any noise can reach at δ over these orders: the conversion's floor, reached as σ → ∞. */
export function epsilonFloor(delta: number, orders: readonly number[] = DEFAULT_ORDERS): number {
  return epsilonFromRdp(orders.map(() => 0), orders, delta).epsilon;
}

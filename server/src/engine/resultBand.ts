// The graded band of an unfinished I²F: each end of the solves' solution-norm bands (quadrature.ts) graded through the
// same path as a finished result (evaluateNoiseScale: box cap, validity, attack spread, risk.ts), so a long solve
// shows "PSNR 18–31 dB, at least MEDIUM" from its first iterations and a budget-stopped one still says what it knows.
//
// What each end means: the conservative end is the SMALLER attacker error (the lower ends of the bands: certified in
// exact arithmetic, quadrature.ts), i.e. the higher PSNR and the higher risk; it decides the level. The comforting end
// uses the upper ends: bounds with damping, estimates undamped (quadrature.ts), unbounded for a solve not started.
// The level is settled ("graded") when both ends give the same one and the comforting end is a bound (or the level is
// LOW, which the certified lower end decides alone): undamped, an estimated upper end never settles a level.
//
// Expected error over the noise: E‖I(δ_det + s z)‖² = ‖I(δ_det)‖² + s²T (I2F.md); T is a Hutchinson mean of ‖I(z_j)‖²
// over probes. While the probes run, T's ends are the means of their bands over the probes solved or running; the
// probes' own sampling spread (the standard error a finished result reports) is NOT in the band (`omits` says so).
// Before the noise solve starts, T is in [0, unbounded). Per-example errors take the current iterate's shares.

import type { RiskLevel } from './risk';

/** ‖x‖ of one solve's solution lies in [lower, upper] (upper: +∞ or null in JSON when unknown). */
export interface NormRange {
  lower: number;
  upper: number | null;
  upperCertified: boolean;
  /** Iterations the solve had done. */
  iteration: number;
}

/** The unfinished solves of a result (NoiseResponse.bands): present only while, or because, one did not finish. */
export interface SolveBands {
  /** ‖I(δ_det)‖; absent when that solve converged (or there is no deterministic part). */
  deterministic?: NormRange;
  /** ‖I(z)‖ of the seeded draw; absent when converged; lower 0 and upper null when not started. */
  noise?: NormRange;
  /** ‖I(z_j)‖ of each extra trace probe solved or running (the converged ones with lower = upper). */
  trace?: NormRange[];
  /** Probes the trace estimate was planned with, the seeded draw included. */
  tracePlanned: number;
}

export interface ResultBand {
  /** The attacker's error I²F (expected over the noise when there is noise): [conservative, comforting]. */
  i2f: [number, number];
  /** Graded PSNR (dB, the number the level comes from) at each end: [conservative (higher), comforting]. */
  psnr: [number, number];
  /** Level at each end; the result's risk is the conservative one. */
  risk: [RiskLevel, RiskLevel];
  /**
   * The level is final: both ends give it and the comforting end is a bound (damped), or it is LOW, which the
   * certified lower end alone decides. An undamped band whose estimated ends agree is not settled.
   */
  settled: boolean;
  /** The comforting end is a bound (damped solves); otherwise an estimate or unbounded. */
  upperCertified: boolean;
  /** The comforting end is unknown (a solve not started): only the conservative end is a number. */
  unbounded: boolean;
  /** What the band leaves out, when anything (trace probes not run, their sampling spread). */
  omits?: string;
}

/** A norm standing for "unbounded": far past the box's worst case (validity.ts caps every RMSE there). */
export function unboundedNorm(dataRange: number, n: number): number {
  return 1e6 * Math.max(dataRange, 1) * Math.sqrt(n);
}

export function upperOf(r: NormRange | undefined): number {
  return r && typeof r.upper === 'number' && Number.isFinite(r.upper) ? r.upper : Infinity;
}

/** v scaled to norm `target` (unchanged when it has none). */
export function scaledTo(v: Float64Array, target: number): Float64Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const norm = Math.sqrt(s);
  if (!(norm > 0) || !Number.isFinite(target)) return v;
  const f = target / norm;
  return v.map((x) => x * f);
}

/** Order of the levels from most to least exposed (the conservative end is the earlier). */
export const RISK_ORDER: readonly RiskLevel[] = ['high', 'medium', 'low'];


// How far a first-order I²F prediction can be trusted, and what the user is shown when it cannot: the first-order
// regime (‖δ‖/‖g‖), the attacker's box (RMSE caps), the directions J Jᵀ determines at all, the λmax certificate.

import { psnr } from './metrics';

/**
 * ‖δ‖/‖g‖ up to which the linearised attack was measured to hold: the DLG LeNet's attack/prediction ratio is
 * 0.8–1.1 up to 1e-2·‖g0‖ and grows to 1.5–2.4 at 3e-2–1e-1 (I2F.md; test/unit/attack/lenet.test.ts).
 */
export const FIRST_ORDER_LIMIT = 1e-2;

/**
 * Unit roundoff of the shared gradient (float32, as clients send it): a change of x that moves g by less than
 * u·‖g‖ is lost in the rounding of what the attacker receives.
 */
export const SHARED_GRADIENT_ROUNDOFF = 2 ** -24;

/**
 * The attack's error measured down to 0.8× the first-order prediction inside its regime (DLG LeNet, I2F.md): the risk
 * is graded on the predicted PSNR raised by 20·log10(1/0.8) ≈ 1.9 dB, so a prediction just under a threshold is not
 * graded below an attack that lands just over it.
 */
export const ATTACK_SPREAD_DB = 20 * Math.log10(1 / 0.8);

/**
 * Outside the first-order regime the attack was measured to beat the linear prediction by more: on the DLG LeNet
 * (examples' image 0, Gaussian std 1e-3, ‖δ‖/‖g‖ 3e-2) L-BFGS on the L2 objective reached 17.3 dB where the prediction
 * said 12.2 (error ratio 0.56), and the cosine objective beat it by 2.0 dB at 1.4e-2 (bench/verdictSweep.ts). There
 * the raw prediction is graded with 20·log10(1/0.5) ≈ 6.0 dB; a prediction already at the box floor stays there
 * (6.02 + 6.0 is just over 12 dB only for a raw PSNR above the floor, which is then not capped).
 */
export const OUT_OF_REGIME_SPREAD_DB = 20 * Math.log10(1 / 0.5);

/** Eigenvalues below this fraction of λmax count as "tiny" in the share of E‖I(z)‖² they carry (the solve tolerance). */
export const TINY_EIGENVALUE = 1e-6;

/** What the engine keeps (NoiseResponse.validity) to re-assess validity at any noise scale without products. */
export interface ValidityInputs {
  gradientNorm: number;
  /** ‖δ_det‖² in θ-space (compression error, explicit δ). */
  deterministicDeltaNormSq: number;
  /** E‖z‖² of the unit noise draw: d_θ, or the coordinates a compression after noise keeps. */
  noiseDimension: number;
  lambdaMaxResidual: number;
  lambdaMaxConverged: boolean;
  /** √λmax·range·√d_x: the most a move of x across the whole box can change g (to first order). */
  sensitivity: number;
  /** With a complete spectrum: the share of d_x whose eigenvalue is above both the rounding of λmax and of g. */
  determinedShare?: number;
  /** With a complete spectrum: the share of E‖I(z)‖² carried by eigenvalues below TINY_EIGENVALUE·λmax. */
  tinyEigenShare?: number;
  /**
   * The data's box and the private batch x0: an attacker keeps its reconstruction in the box, so the linear estimate
   * x0 + I(δ) projected onto it is what such an attacker gets to first order (never further than the raw estimate).
   */
  box?: { lo: number; hi: number; x0: number[] };
  /** DP-SGD clipping: per-example factors c_i, the rescaling's norm (not analysed as δ), the noise's scale c_max. */
  clipping?: { clip: number; factors: number[]; rescaleNorm: number; noiseScale: number };
}

export interface Validity {
  /** √(‖δ_det‖² + s²·E‖z‖²)/‖g‖: the expected size of the defence against the gradient. */
  deltaRatio: number;
  /** deltaRatio ≤ FIRST_ORDER_LIMIT: inside the range where the first-order I²F was measured to hold. */
  firstOrder: boolean;
  /**
   * The raw (uncapped) expected RMSE of the batch and of its most exposed example: what the linear model says,
   * shown only as such. Past the box's worst case it is outside anything an attacker in the data's box produces.
   */
  rawRmse: number;
  rawPsnr: number;
  rawMostExposedRmse: number;
  rawMostExposedPsnr: number;
  /** The raw prediction exceeds the box's worst case (range/2): the RMSE shown is capped there. */
  outOfRange: boolean;
  /** PSNR of the box's worst case: the attacker who guesses the box centre is never further than range/2 per value. */
  boxFloorPsnr: number;
  /**
   * How much of x the gradient determines: 'none' when moving x across the whole box changes g by less than the
   * float32 rounding of g (√λmax·range·√d_x ≤ u·‖g‖); 'partial' / 'all' from a complete spectrum; else 'unknown'
   * (the spectrum's bottom was not computed, so no direction is known to be undetermined).
   */
  determined: 'all' | 'partial' | 'none' | 'unknown';
  determinedShare?: number;
  /**
   * g and λmax of J Jᵀ are both exactly zero: the loss analysed is constant around x (a softmax cross-entropy over
   * ONE output is log 1 = 0 whatever the model does), so nothing about the model was measured and nothing may be
   * concluded from it (risk 'uncertain', never LOW). Tiny but nonzero λmax with g ≠ 0 (EfficientNet at
   * initialisation, below float32 rounding) is a measurement and keeps determined 'none'; g = 0 with λmax > 0 (MSE
   * against the model's own outputs) is one too.
   */
  noGradient?: boolean;
  sensitivity: number;
  resolution: number;
  tinyEigenShare?: number;
  /**
   * The most exposed example's PSNR when the linear estimate of this noise draw is projected onto the data's box (an
   * attacker that keeps x in its box), when the box is known; ≥ the raw estimate's PSNR.
   */
  boxProjectedPsnr?: number;
  /**
   * The PSNR the risk level is graded on: the higher of the most exposed example's and boxProjectedPsnr, + ATTACK_SPREAD_DB;
   * outside the first-order regime at least the raw most exposed PSNR + OUT_OF_REGIME_SPREAD_DB.
   */
  gradedPsnr: number;
  /** λmax's Lanczos residual met its tolerance: only then is ‖Jδ‖/(λmax + ε) a certified lower bound. */
  lowerBoundCertified: boolean;
  lambdaMaxResidual: number;
  clipping?: ValidityInputs['clipping'];
}

/** The RMSE an attacker in a box of this range can at worst have: range/2 (guessing the box centre). */
export function boxWorstRmse(range: number): number {
  return range / 2;
}

/** RMSE shown to the user: the raw first-order value capped at the box's worst case (NaN stays NaN). */
export function capRmse(raw: number, range: number): number {
  return Number.isNaN(raw) ? raw : Math.min(raw, boxWorstRmse(range));
}

interface CacheView {
  lambdaMax: number;
  dataRange: number;
  validity?: ValidityInputs;
}

export function assessValidity(cache: CacheView, at: { std: number; rawExpectedRmse: number; rawMostExposedRmse: number; gradedPsnr: number; boxProjectedPsnr?: number }): Validity {
  const v = cache.validity;
  const range = cache.dataRange;
  const base = {
    rawRmse: at.rawExpectedRmse,
    rawPsnr: psnr(at.rawExpectedRmse, range),
    rawMostExposedRmse: at.rawMostExposedRmse,
    rawMostExposedPsnr: psnr(at.rawMostExposedRmse, range),
    outOfRange: at.rawExpectedRmse > boxWorstRmse(range) || at.rawMostExposedRmse > boxWorstRmse(range),
    boxFloorPsnr: psnr(boxWorstRmse(range), range),
    gradedPsnr: at.gradedPsnr,
    ...(at.boxProjectedPsnr !== undefined ? { boxProjectedPsnr: at.boxProjectedPsnr } : {}),
  };
  if (!v) {
    // A result cached before validity was recorded: nothing known, nothing claimed.
    return { ...base, deltaRatio: NaN, firstOrder: false, determined: 'unknown', sensitivity: NaN, resolution: NaN, lowerBoundCertified: false, lambdaMaxResidual: NaN };
  }
  const deltaNorm = Math.sqrt(v.deterministicDeltaNormSq + at.std * at.std * v.noiseDimension);
  const deltaRatio = v.gradientNorm > 0 ? deltaNorm / v.gradientNorm : deltaNorm > 0 ? Infinity : 0;
  const resolution = SHARED_GRADIENT_ROUNDOFF * v.gradientNorm;
  const none = !(cache.lambdaMax > 0) || v.sensitivity <= resolution;
  const noGradient = v.gradientNorm === 0 && cache.lambdaMax === 0;
  const determined: Validity['determined'] = none ? 'none'
    : v.determinedShare === undefined ? 'unknown' : v.determinedShare >= 1 ? 'all' : v.determinedShare > 0 ? 'partial' : 'none';
  return {
    ...base,
    deltaRatio,
    firstOrder: deltaRatio <= FIRST_ORDER_LIMIT,
    determined,
    ...(v.determinedShare !== undefined ? { determinedShare: none ? 0 : v.determinedShare } : none ? { determinedShare: 0 } : {}),
    ...(noGradient ? { noGradient } : {}),
    sensitivity: v.sensitivity,
    resolution,
    ...(v.tinyEigenShare !== undefined ? { tinyEigenShare: v.tinyEigenShare } : {}),
    lowerBoundCertified: v.lambdaMaxConverged,
    lambdaMaxResidual: v.lambdaMaxResidual,
    ...(v.clipping ? { clipping: v.clipping } : {}),
  };
}

/**
 * Per-example PSNR of the error e (one noise draw's linear estimate x0 + e) once projected onto the box: the error of
 * an attacker that clips its reconstruction to the data's range. Batch-major, B examples.
 */
export function boxProjectedPsnrs(e: Float64Array, box: NonNullable<ValidityInputs['box']>, batchSize: number, range: number): number[] {
  const n = e.length, per = n / batchSize;
  const out: number[] = [];
  for (let b = 0; b < batchSize; b++) {
    let s = 0;
    for (let i = b * per; i < (b + 1) * per; i++) {
      const x0 = box.x0[i];
      const d = Math.min(box.hi, Math.max(box.lo, x0 + e[i])) - x0;
      s += d * d;
    }
    out.push(psnr(Math.sqrt(s / per), range));
  }
  return out;
}

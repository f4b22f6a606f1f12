// Risk levels from the predicted reconstruction PSNR, with thresholds a user can change.

export type RiskLevel = 'high' | 'medium' | 'low' | 'uncertain';

/**
 * PSNR thresholds in dB on the data's own range. Why these defaults (conventions from the gradient-inversion
 * literature, not a calibration of ours):
 * - high ≥ 20 dB: RMSE ≤ 10% of the range. DLG / Inverting Gradients reconstructions at and above ~20 dB are
 *   visibly the original picture (faces, digits, objects recognisable), so the attacker has the data.
 * - medium ≥ 12 dB: RMSE ≤ 25% of the range. Layout, colours and silhouettes survive, details do not: partial
 *   leakage (a class or identity may still be guessable).
 * - low below 12 dB: the reconstruction is dominated by error, close to what guessing the mean image gives on
 *   natural images.
 * I2F.md: no defence (δ = 0) means I²F = 0, PSNR = +∞ and therefore 'high': nothing protects the batch.
 */
export interface RiskThresholds {
  highPsnr: number;
  mediumPsnr: number;
}

export const DEFAULT_RISK_THRESHOLDS: RiskThresholds = { highPsnr: 20, mediumPsnr: 12 };

export interface RiskInputs {
  /** Predicted PSNR of the attacker's reconstruction, dB (+∞ allowed: exact recovery). */
  psnr: number;
  /** The influence solve reached its tolerance (or its product-precision floor). */
  converged: boolean;
  /** Any other numbers the level relies on (I²F, λmax…); a NaN or ±∞ among them makes the level 'uncertain'. */
  numbers?: readonly number[];
}

/**
 * 'uncertain' whenever the solve did not converge or a number is not finite (I2F.md: a result that did not converge
 * is never reported as a confident number); otherwise the level of the PSNR.
 */
export function riskLevel(inputs: RiskInputs, thresholds: RiskThresholds = DEFAULT_RISK_THRESHOLDS): RiskLevel {
  if (!(thresholds.highPsnr >= thresholds.mediumPsnr)) throw new RangeError('risk thresholds: highPsnr must be ≥ mediumPsnr');
  if (!inputs.converged || Number.isNaN(inputs.psnr) || inputs.psnr === -Infinity) return 'uncertain';
  if (inputs.numbers?.some((x) => !Number.isFinite(x))) return 'uncertain';
  if (inputs.psnr >= thresholds.highPsnr) return 'high';
  if (inputs.psnr >= thresholds.mediumPsnr) return 'medium';
  return 'low';
}

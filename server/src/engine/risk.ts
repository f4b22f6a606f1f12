// Risk levels from the predicted reconstruction PSNR (text models: the recovered-token fraction), with thresholds a
// user can change.

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
  /**
   * Text models (token ids) are graded on the fraction of tokens the attacker recovers at their own position (nearest
   * embedding row of the predicted reconstruction), not on embedding-space PSNR, which no reader can interpret:
   * - high ≥ 0.5: at least half the words of the most exposed sequence come back in place; the attacker reads what
   *   the client wrote (the text analogue of a recognisable picture).
   * - medium ≥ 0.1: a few words leak in place (a name, a number, a rare word may be among them): partial leakage.
   * - low below 0.1: only scattered tokens (on a real vocabulary, far above the 1/V of guessing, still no sentence).
   */
  highTokens?: number;
  mediumTokens?: number;
}

export const DEFAULT_RISK_THRESHOLDS: Required<RiskThresholds> = { highPsnr: 20, mediumPsnr: 12, highTokens: 0.5, mediumTokens: 0.1 };

export interface RiskInputs {
  /** Predicted PSNR of the attacker's reconstruction, dB (+∞ allowed: exact recovery). */
  psnr: number;
  /** The influence solve reached its tolerance (or its product-precision floor). */
  converged: boolean;
  /** Token-id models: the fraction of tokens recovered (0…1); when given, the level is graded on it, not on the PSNR. */
  tokensRecovered?: number;
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
  if (inputs.tokensRecovered !== undefined) {
    const high = thresholds.highTokens ?? DEFAULT_RISK_THRESHOLDS.highTokens;
    const medium = thresholds.mediumTokens ?? DEFAULT_RISK_THRESHOLDS.mediumTokens;
    if (!(high >= medium)) throw new RangeError('risk thresholds: highTokens must be ≥ mediumTokens');
    if (!Number.isFinite(inputs.tokensRecovered)) return 'uncertain';
    return inputs.tokensRecovered >= high ? 'high' : inputs.tokensRecovered >= medium ? 'medium' : 'low';
  }
  if (inputs.psnr >= thresholds.highPsnr) return 'high';
  if (inputs.psnr >= thresholds.mediumPsnr) return 'medium';
  return 'low';
}

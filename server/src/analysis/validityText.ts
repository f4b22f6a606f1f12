// The validity of a batch's prediction in words (engine/validity.ts), said the same way by the finding, the hover,
// `i2f analyze` and the audit: the first-order regime, the box cap, the undetermined directions, the bound, clipping.

import type { AnalyzeReport, BatchReport } from './analyzeModel';
import { fmt } from './formatText';
import { ATTACK_SPREAD_DB, FIRST_ORDER_LIMIT, OUT_OF_REGIME_SPREAD_DB, type Validity } from '../engine/validity';

/** "the gradient carries essentially nothing about x" (validity.determined === 'none', a measurement), or undefined. */
export function nothingDeterminedSentence(b: BatchReport): string | undefined {
  const v = b.validity;
  if (!v || v.determined !== 'none' || v.noGradient) return undefined;
  return `the gradient carries essentially nothing about the input: moving x across its whole box changes g by at most ${fmt(v.sensitivity)} (√λmax·range·√d_x, λmax ${fmt(b.lambdaMax)}), below the float32 rounding of g (${fmt(v.resolution)}), so no direction of x is determined and an attacker can do no better than guess inside the box`;
}

/**
 * The loss analysed gives no gradient (validity.noGradient: g and λmax exactly 0), said with the loss and the output
 * it was taken on, or undefined: nothing was measured, so nothing may be concluded (engine/validity.ts).
 */
export function noGradientSentence(b: BatchReport, settings: Pick<AnalyzeReport['settings'], 'loss' | 'lossDescription' | 'outputShape'>): string | undefined {
  if (!b.validity?.noGradient) return undefined;
  const loss = settings.lossDescription ?? settings.loss;
  const shape = settings.outputShape ? `, output shape [${settings.outputShape.join(', ')}]` : '';
  const onlyOne = settings.loss === 'cross-entropy' && settings.outputShape && settings.outputShape.slice(1).reduce((a, d) => a * d, 1) === 1;
  const why = onlyOne ? ' (a softmax over one output is the constant 1, so cross-entropy there is 0 whatever the model does)' : '';
  return `the loss analysed, ${loss}${shape}, gives no gradient: g and J Jᵀ are exactly zero at the analysed inputs${why}, so nothing about what the model's training gradient reveals was measured`;
}

/**
 * The fix for noGradientSentence: the loss the model trains with when the one analysed cannot move (softmax
 * cross-entropy over one output); otherwise the output itself does not move at these inputs (every unit before it
 * inactive, say), which other samples or the trained weights may change.
 */
export function noGradientFix(settings: Pick<AnalyzeReport['settings'], 'loss' | 'outputShape'>): string {
  const outputs = settings.outputShape ? settings.outputShape.slice(1).reduce((a, d) => a * d, 1) : undefined;
  if (settings.loss === 'cross-entropy' && outputs === 1) {
    return 'Analyse the loss the model trains with: `i2f analyze MODEL --loss binary-cross-entropy` (the default, auto, takes it for one output per example or a final Sigmoid)';
  }
  return `The model's output does not move with its input or weights at these samples (e.g. every unit before it inactive): analyse it on real samples (\`samples:\` in the i2f: section, --data) or its trained weights, or with the loss it trains with (--loss cross-entropy, binary-cross-entropy or mse)`;
}

/** Short notes for the finding's message, most important first. */
export function validityNotes(b: BatchReport): string[] {
  const v = b.validity;
  if (!v) return [];
  const notes: string[] = [];
  const c = v.clipping;
  if (c) {
    const f = c.factors.length > 1 ? `factors ${c.factors.map((x) => fmt(x, 2)).join(', ')}` : `factor ${fmt(c.factors[0], 3)}`;
    notes.push(`Per-example clipping (C = ${fmt(c.clip)}, ${f}) only rescales the gradient: no defence against a scale-invariant attacker (Inverting Gradients' cosine objective) or one who knows C, so it is not counted as a perturbation${c.noiseScale < 1 ? `; the noise is compared with the clipped gradient (std ÷ ${fmt(c.noiseScale, 3)})` : ''}.`);
  }
  if (v.determined !== 'none' && Number.isFinite(v.deltaRatio) && !v.firstOrder) {
    notes.push(`‖δ‖/‖g‖ = ${fmt(v.deltaRatio, 2)} is outside the first-order regime (measured valid up to ${FIRST_ORDER_LIMIT}): the linear prediction is extrapolated there.`);
  }
  if (v.determined !== 'none' && v.outOfRange) {
    notes.push(`The raw first-order prediction (RMSE ${fmt(v.rawMostExposedRmse)}, PSNR ${fmt(v.rawMostExposedPsnr)} dB) is past anything an attacker in the data's box produces: shown capped at the box's worst case (PSNR ${fmt(v.boxFloorPsnr)} dB).`);
  }
  if (v.boxProjectedPsnr !== undefined && b.mostExposed && v.boxProjectedPsnr > b.mostExposed.psnr + 0.5 && Number.isFinite(v.boxProjectedPsnr)) {
    notes.push(`An attacker that keeps its reconstruction inside the data's box does better than the linear prediction: PSNR ${fmt(v.boxProjectedPsnr)} dB for the most exposed sample (the grade uses it).`);
  }
  if (v.determined === 'partial' && v.determinedShare !== undefined) {
    notes.push(`J Jᵀ determines ${Math.round(v.determinedShare * 100)}% of the input space; the other directions are not recovered from the gradient and are not counted as recovered.`);
  }
  if (v.tinyEigenShare !== undefined && v.tinyEigenShare > 0.5 && v.determined !== 'none') {
    notes.push(`${Math.round(v.tinyEigenShare * 100)}% of the noise's predicted error sits in eigen-directions below 1e-6·λmax.`);
  }
  if (!v.lowerBoundCertified) notes.push(`λmax did not converge (Lanczos residual ${fmt(v.lambdaMaxResidual, 2)}): the lower bound is not certified.`);
  return notes;
}

/** What the graded PSNR was taken from (engine/influence.ts evaluateNoiseScale), for the hover's "Graded on" row. */
export function gradedBasis(v: Validity): string {
  if (v.determined === 'none') return "the box's worst case: nothing is determined";
  const near = (a: number | undefined) => a !== undefined && Math.abs(v.gradedPsnr - a) <= 1e-9 * Math.max(1, Math.abs(a));
  if (!v.firstOrder && near(v.rawMostExposedPsnr + OUT_OF_REGIME_SPREAD_DB)) return `the raw most exposed sample + ${fmt(OUT_OF_REGIME_SPREAD_DB, 2)} dB: outside the first-order regime the attack beat the prediction by more`;
  if (v.boxProjectedPsnr !== undefined && near(v.boxProjectedPsnr + ATTACK_SPREAD_DB)) return `the estimate projected onto the data's box + ${fmt(ATTACK_SPREAD_DB, 2)} dB attack spread`;
  return `most exposed sample + ${fmt(ATTACK_SPREAD_DB, 2)} dB attack spread`;
}

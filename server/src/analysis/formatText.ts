// Human-readable `i2f analyze` output: the converged I²F first (what the real attack achieves, I2F.md), the lower
// bound as what it is, and an unconverged solve never shown as a confident number.

import type { AnalyzeReport, BatchReport } from './analyzeModel';
import { formatDuration } from '../engine/budget';
import type { ResultBand } from '../engine/resultBand';
import { noGradientFix, noGradientSentence } from './validityText';

export function fmt(x: number, digits = 3): string {
  if (x === Infinity) return '∞';
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5)) return x.toExponential(digits - 1);
  return x.toPrecision(digits);
}

/** "the solve budget of 600 s ran out at relative residual 3.1e-3 after 212 iterations (~2.4 h more needed)". */
export function budgetNote(s: BatchReport['solver']): string {
  const left = s.budget?.estimatedSecondsLeft;
  return `the solve budget of ${s.budget?.seconds} s ran out at relative residual ${fmt(s.relativeResidual, 2)} after ${s.iterations} iterations${left !== undefined ? ` (~${formatDuration(left)} more needed)` : ''}`;
}

export function riskLabel(b: BatchReport): string {
  if (b.validity?.noGradient) return 'UNCERTAIN (not analysed: the loss gives no gradient)';
  if (b.band && b.solver.budget?.exhausted) return `${bandRiskLabel(b.band)} (${budgetNote(b.solver)}; ${bandSentence(b.band, b.i2fExpected !== undefined)})`;
  if (b.risk === 'uncertain' && b.solver.budget?.exhausted) return `UNCERTAIN (${budgetNote(b.solver)})`;
  if (b.risk === 'uncertain') return `UNCERTAIN (solve did not converge: residual ${fmt(b.solver.relativeResidual, 2)} after ${b.solver.iterations} iterations)`;
  return b.risk.toUpperCase();
}

export function formatAnalysisText(report: AnalyzeReport): string {
  const lines: string[] = [];
  const m = report.model;
  if (m.description) lines.push(`Model: ${m.description}`);
  lines.push(`${m.path}: ${m.parameters.toLocaleString('en')} trainable parameters, input [${m.inputShape.join(', ')}], backend ${m.backend}`);
  if (m.exportNote) lines.push(`warning (I2F124): ${m.exportNote}`);
  for (const [p, why] of Object.entries(m.executionProviders?.unavailable ?? {})) lines.push(`execution provider ${p} is not available here (${why}); the products ran on the CPU`);
  lines.push(`samples: ${report.settings.data} (range ${fmt(report.settings.dataRange)}); damping ε = ${report.settings.damping}${report.settings.damping === 0 ? ' (undamped)' : ''}; tolerance ${report.settings.tolerance}`);
  lines.push(`loss: ${report.settings.lossDescription ?? report.settings.loss}${report.settings.outputShape ? ` (output [${report.settings.outputShape.join(', ')}])` : ''}`);
  for (const b of report.results) {
    lines.push('');
    lines.push(`batch of samples ${b.samples.join(', ')} (labels ${b.labels.join(', ')}), defence: ${b.defense.length ? b.defense.join(' then ') : 'none'}`);
    // Text models are graded on the tokens recovered (tokens.ts); their RMSE/PSNR are of embedding vectors.
    const best = b.tokens?.perSample.reduce((a, p) => (p.recovered > a.recovered ? p : a));
    lines.push(`  risk: ${riskLabel(b)}${best && b.risk !== 'uncertain' ? ` (graded on tokens: ${Math.round(best.recovered * 100)}% of sample ${best.sample}'s tokens recovered)` : ''}`);
    const psnr = b.i2fExpected !== undefined ? b.expectedPsnr : b.psnr;
    const rmse = b.i2fExpected !== undefined ? b.expectedRmse : b.rmse;
    lines.push(`  predicted attacker error${b.tokens ? ' (embedding space)' : ''}: RMSE ${fmt(rmse)}, PSNR ${fmt(psnr)} dB${b.i2fExpected !== undefined ? ' (expected over noise draws)' : ''}`);
    // The gradient determines nothing (validity.ts): say so before any number, which is then no result.
    const nothing = b.validity?.determined === 'none';
    const noGradient = noGradientSentence(b, report.settings);
    if (noGradient) lines.push(`  not analysed: ${noGradient}. ${noGradientFix(report.settings)}.`);
    else if (nothing) lines.push(`  nothing determined: moving x across its whole box changes g by at most ${fmt(b.validity!.sensitivity)} (√λmax·range·√d_x), below g's float32 rounding (${fmt(b.validity!.resolution)}); the attacker can only guess inside the box, and the I²F below is not a result`);
    const damped = b.solver.damping > 0 ? ` + ε ${fmt(b.solver.damping)})` : '';
    lines.push(`  ${nothing ? 'raw (not a result) ' : ''}I²F ${fmt(b.i2f)}${b.i2fExpected !== undefined ? `, expected ${fmt(b.i2fExpected)} ± ${fmt(b.i2fExpectedStdError ?? 0, 2)}` : ''}; lower bound I_lb ${fmt(b.lowerBound)} (‖Jδ‖ ${fmt(b.jDeltaNorm)} / ${damped ? '(' : ''}λmax ${fmt(b.lambdaMax)}${damped})`);
    lines.push(`  ‖g‖ ${fmt(b.gradientNorm)}, ‖δ‖ ${fmt(b.deltaNorm)}; solver ${b.solver.method}: ${b.solver.iterations} iterations, relative residual ${fmt(b.solver.relativeResidual, 2)}${b.solver.converged ? '' : ' (NOT converged)'}`);
    if (b.mostExposed && b.perSample.length > 1) lines.push(`  most exposed: sample ${b.mostExposed.sample} (PSNR ${fmt(b.mostExposed.psnr)} dB)`);
    const v = b.validity;
    if (v) {
      lines.push(`  validity: ‖δ‖/‖g‖ ${fmt(v.deltaRatio, 2)} (${v.firstOrder ? 'first-order regime' : 'outside the first-order regime: extrapolated'}); raw RMSE ${fmt(v.rawRmse)}${v.outOfRange ? ` (capped at the box's worst case, PSNR ${fmt(v.boxFloorPsnr)} dB)` : ''}; graded on ${fmt(v.gradedPsnr)} dB; determined: ${v.determined}${v.determinedShare !== undefined ? ` (${fmt(v.determinedShare * 100)}% of x)` : ''}${v.lowerBoundCertified ? '' : '; lower bound not certified (λmax not converged)'}`);
      if (v.clipping) lines.push(`  clipping C = ${fmt(v.clipping.clip)}: factors ${v.clipping.factors.map((x) => fmt(x)).join(', ')} (a rescaling, not counted as δ; noise compared with the clipped gradient, c_max ${fmt(v.clipping.noiseScale)})`);
    }
    if (b.noiseForTarget) {
      const n = b.noiseForTarget;
      lines.push(`  to push the attacker below ${n.targetPsnr} dB: Gaussian std ${fmt(n.std)}${n.noiseMultiplier !== undefined ? ` (noise multiplier ${fmt(n.noiseMultiplier)})` : ''}`);
    }
    if (b.spectrum) lines.push(`  spectrum of J Jᵀ: top ${b.spectrum.top.slice(0, 5).map((v) => fmt(v)).join(', ')} … bottom ${b.spectrum.bottom.slice(0, 3).map((v) => fmt(v)).join(', ')} (${b.spectrum.steps} Lanczos steps)`);
    lines.push(`  time: ${fmt(b.timing.total / 1000)} s`);
  }
  return lines.join('\n') + '\n';
}

// How a graded band reads (engine/resultBand.ts): the same words in findings, hovers, the text report and the status.

/** "HIGH" when settled, "HIGH (provisional: the band spans HIGH to MEDIUM, …)" while it straddles a threshold or rests on an estimate. */
export function bandRiskLabel(b: ResultBand): string {
  if (b.settled) return b.risk[0].toUpperCase();
  if (b.risk[0] === b.risk[1] && !b.unbounded) return `${b.risk[0].toUpperCase()} (provisional: both ends of the band give it, but its upper end is an estimate)`;
  return `${b.risk[0].toUpperCase()} (provisional: the band spans ${b.risk[0].toUpperCase()} to ${b.unbounded ? 'any lower level' : b.risk[1].toUpperCase()}, graded on its conservative end)`;
}

/** What the upper end is: "a bound", "an estimate" or unknown. */
function upperWord(b: ResultBand): string {
  return b.unbounded ? 'no upper end yet' : b.upperCertified ? 'both ends bounds' : 'upper end estimated';
}

/** "PSNR 31.2–18.4 dB" (conservative end first) or "PSNR ≤ 31.2 dB" when the comforting end is unknown. */
export function bandPsnr(b: ResultBand): string {
  return b.unbounded ? `PSNR ≤ ${fmt(b.psnr[0])} dB` : `PSNR ${fmt(b.psnr[0])}–${fmt(b.psnr[1])} dB`;
}

/** "I²F between 1.2e-3 and 4.5e-2 (upper end estimated), graded PSNR 31.2–18.4 dB; T from 1 of 2 trace probes …" */
export function bandSentence(b: ResultBand, expected: boolean): string {
  const what = expected ? 'expected I²F' : 'I²F';
  const range = b.unbounded ? `${what} at least ${fmt(b.i2f[0])}` : `${what} between ${fmt(b.i2f[0])} and ${fmt(b.i2f[1])}`;
  return `${range} (${upperWord(b)}), graded ${bandPsnr(b)}${b.omits ? `; ${b.omits}` : ''}`;
}

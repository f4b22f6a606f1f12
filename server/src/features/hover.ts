// Hover on a key that decides the risk: the full numbers of the latest analysis for this config.

import type { Hover, MarkupContent } from 'vscode-languageserver';
import type { Position } from '../config/keyTree';
import { dirname, relative } from 'node:path';
import { liveStd } from '../analysis/noiseRescale';
import { embeddingSpaceNote, percent, samplesLabel } from '../analysis/configFindings';
import { mostExposedTokens } from '../analysis/tokens';
import { bandPsnr, bandRiskLabel, fmt } from '../analysis/formatText';
import type { ResultBand } from '../engine/resultBand';
import { contains, decidingFields, expectedPsnr, expectedRmse, full, type ConfigView } from './configView';
import { analysisPlan, shownSpec } from '../config/defences';
import { ATTACKER_NAMES } from '../config/threatModel';
import type { ThreatModel } from '../config/threatModel';
import { Commands } from '../protocol';
import { privacyHoverLines } from '../analysis/privacyAccount';
import { FIRST_ORDER_LIMIT } from '../engine/validity';
import { gradedBasis } from '../analysis/validityText';

const ROLE = { defence: 'Defence', batch: 'Batch size', model: 'Model', target: 'Target PSNR' } as const;

export function hoverAt(view: ConfigView, position: Position): Hover | null {
  const setup = view.config.setup;
  const onPrivacyKey = [setup.noiseMultiplier, setup.targetEpsilon].some((f) => f && (contains(f.keyRange, position) || contains(f.valueRange, position)));
  // ε beside the PSNR: the noise key's hover (and target_epsilon's) opens with the DP account.
  const privacy = onPrivacyKey && view.privacy ? ['', ...privacyHoverLines(view.privacy.report)] : [];
  const hit = decidingFields(view.config).find((l) => contains(l.field.keyRange, position) || contains(l.field.valueRange, position));
  if (!hit) {
    if (!privacy.length) return null;
    const f = [setup.noiseMultiplier, setup.targetEpsilon].find((x) => x && (contains(x.keyRange, position) || contains(x.valueRange, position)))!;
    return markdown([`**I²F** · \`${f.key}\` = \`${String(f.value)}\``, ...privacy], f.keyRange);
  }
  const lines: string[] = [];
  lines.push(`**I²F** · ${ROLE[hit.role]} \`${hit.field.key}\` = \`${String(hit.field.value)}\`${hit.spec ? ` → \`${shownSpec(hit.spec)}\`` : ''}`);
  lines.push(...privacy);
  if (hit.note) lines.push('', hit.note);
  const code = hit.field.fromCode;
  if (code) {
    // A Python argument: where its value is written, every value it may take, and the path followed to it.
    const values = code.alternatives.length > 1 ? ` One of ${code.alternatives.map((a) => `\`${String(a.value)}\` (${a.source.label})`).join(', ')}; the weakest is analysed.` : '';
    lines.push('', `Read from \`${code.written}\`: ${code.source.label}.${values}`);
    if (code.steps.length) lines.push('', `Followed: ${code.steps.join(' → ')}.`);
  }
  lines.push('', ...attackerLines(analysisPlan(view.config.setup).threat));
  const result = view.result;
  if (!result) {
    const p = view.pending ? view.provisional : undefined;
    if (p) {
      // The band narrowing while the solve runs (engine/resultBand.ts): re-hover to see it sharpen.
      lines.push('', `**Risk so far: ${bandRiskLabel(p.band)}**`, '');
      lines.push(`_Analysis running: ${p.batches > 1 ? `batch ${p.batch + 1}/${p.batches}, ` : ''}${p.stage} iteration ${p.iteration}._`, '');
      lines.push('| | |', '|---|---|', ...bandRows(p.band, p.expected));
      if (p.lambdaMaxRunning) lines.push(`| λmax(J Jᵀ) | ≥ ${fmt(p.lambdaMax)} (its Lanczos running${p.lambdaMaxRunning.step > 0 ? `, step ${p.lambdaMaxRunning.step}` : ''}) |`, '| Lower bound I_lb | once λmax has converged |');
      else lines.push(`| λmax(J Jᵀ) | ${fmt(p.lambdaMax)} |`, `| Lower bound I_lb | ${fmt(p.lowerBound)} |`);
      return markdown(lines, hit.field.keyRange);
    }
    lines.push('', view.pending ? '_Analysis running…_' : view.failure ? `The model could not be analysed: ${view.failure}` : `_Not analysed${view.notAnalysed ? `: ${view.notAnalysed}` : ''}._`);
    return markdown(lines, hit.field.keyRange);
  }
  const { report, entry } = result;
  const target = view.config.setup.targetPsnr?.value ?? view.settings.targetPsnr;
  report.results.forEach((b, k) => {
    const psnrs = b.perSample.map((s) => s.psnr).sort((x, y) => x - y);
    const title = report.results.length > 1 ? `Batch ${k + 1} (samples ${b.samples.join(', ')})` : `Batch of ${b.samples.length} (samples ${b.samples.join(', ')})`;
    lines.push('', `**${title}: risk ${b.band ? bandRiskLabel(b.band) : b.risk.toUpperCase()}**`, '');
    lines.push('| | |', '|---|---|');
    // A solve the budget stopped: the band its iterates put the answer in (engine/resultBand.ts), before the numbers
    // of its conservative end.
    if (b.band) lines.push(...bandRows(b.band, b.i2fExpected !== undefined));
    const t = b.tokens;
    if (t) {
      const top = mostExposedTokens(t);
      lines.push(`| Tokens an attacker would recover | ${percent(top.recovered)} of sample #${top.sample}${t.perSample.length > 1 ? `, ${percent(t.recovered)} of the batch` : ''} (${t.metric} nearest embedding row of ${t.reconstruction}) |`);
      lines.push(`| Per position | ${t.perPosition.map(percent).join(' ')} |`);
      (t.text ?? []).forEach((s, i) => lines.push(`| Sample #${t.perSample[i]?.sample ?? i} → attacker's tokens | \`${s}\` → \`${t.recoveredText?.[i] ?? ''}\` |`));
    }
    const space = t ? ' (embedding space)' : '';
    lines.push(`| Predicted PSNR${space} (expected over noise) | ${full(expectedPsnr(b))} dB |`);
    lines.push(`| Predicted RMSE${space} | ${full(expectedRmse(b))} |`);
    lines.push(`| I²F ‖I(δ)‖ (this draw / RMS over draws) | ${full(b.i2f)}${b.i2fExpected !== undefined ? ` / ${full(b.i2fExpected)} ± ${full(b.i2fExpectedStdError ?? 0)}` : ''} |`);
    lines.push(`| Lower bound ‖Jδ‖/(λmax + ε) | ${full(b.lowerBound)}${b.validity && !b.validity.lowerBoundCertified ? ` (not certified: λmax's Lanczos residual ${full(b.validity.lambdaMaxResidual)})` : ''} |`);
    const v = b.validity;
    if (v) {
      lines.push(`| ‖δ‖/‖g‖ (first-order regime ≤ ${FIRST_ORDER_LIMIT}) | ${full(v.deltaRatio)}${v.firstOrder ? '' : ' (outside: extrapolated)'} |`);
      lines.push(`| Raw first-order RMSE, most exposed sample (uncapped) | ${full(v.rawMostExposedRmse)}${v.outOfRange ? ` (past the box's worst case: shown capped, PSNR ${full(v.boxFloorPsnr)} dB)` : ''} |`);
      lines.push(`| Graded on | PSNR ${full(v.gradedPsnr)} dB (${gradedBasis(v)}) |`);
      lines.push(`| Input space J Jᵀ determines | ${v.noGradient ? 'not measured: the loss analysed gives no gradient (g and λmax exactly 0)' : v.determined === 'none' ? 'none (the gradient carries essentially nothing about x)' : v.determinedShare !== undefined ? `${full(v.determinedShare * 100)}%` : 'not measured (needs the complete spectrum)'} |`);
      if (v.clipping) lines.push(`| Clipping factors c_i = min(1, C/‖g_i‖) | ${v.clipping.factors.map((x) => full(x)).join(', ')} (a rescaling: not counted as δ) |`);
    }
    lines.push(`| Gaussian std on the shared gradient | ${full(liveStd(entry, view.config.setup, k))} |`);
    if (psnrs.length > 1) lines.push(`| Per-sample PSNR min / median / max | ${full(psnrs[0])} / ${full(psnrs[Math.floor(psnrs.length / 2)])} / ${full(psnrs[psnrs.length - 1])} dB |`);
    if (b.mostExposed) lines.push(`| Most exposed sample | #${b.mostExposed.sample}: PSNR ${full(b.mostExposed.psnr)} dB, RMSE ${full(b.mostExposed.rmse)} |`);
    const tn = b.tokens?.noiseForTarget;
    if (tn) {
      lines.push(`| Noise for fewer than ${percent(tn.below)} of tokens (every sample) | std ${full(tn.std)}${tn.noiseMultiplier !== undefined ? `, noise multiplier ${full(tn.noiseMultiplier)}` : ''} |`);
    } else if (b.noiseForTarget) {
      const n = b.noiseForTarget;
      lines.push(`| Noise for the ${target} dB target | std ${full(n.std)} (every sample: ${full(n.stdForEverySample)})${n.noiseMultiplier !== undefined ? `, noise multiplier ${full(n.noiseMultiplier)}` : ''} |`);
    }
    lines.push(`| ε (damping) | ${full(b.solver.damping)} |`);
    lines.push(`| Loss analysed | ${report.settings.lossDescription ?? report.settings.loss} |`);
    lines.push(`| λmax of J Jᵀ | ${full(b.lambdaMax)} |`);
    lines.push(`| Solver | ${b.solver.method}, ${b.solver.iterations} iterations, relative residual ${full(b.solver.relativeResidual)}${b.solver.converged ? '' : ' (NOT converged)'} |`);
  });
  if (report.model.input) lines.push('', embeddingSpaceNote(report.model.input));
  lines.push('', `Model \`${view.config.model ? relative(dirname(view.config.path), view.config.model) : report.model.path}\` (${report.model.parameters.toLocaleString('en-US')} trainable parameters${view.config.weights ? `, weights \`${relative(dirname(view.config.path), view.config.weights)}\`` : ''}); samples: ${samplesLabel(view.config, report)}.`);
  lines.push('', `Analysed ${entry.createdAt} in ${(entry.ms / 1000).toFixed(1)} s${result.fromCache ? (result.rescaled ? '; this noise level answered from the cached noise response' : '; answered from the result cache') : ''}.`);
  // A command link (the VS Code client trusts this one command in hovers): both engines on this config's batches.
  lines.push('', `[Verify engines](command:${Commands.verifyEngines}?${encodeURIComponent(JSON.stringify([view.uri]))}) (ONNX against TensorFlow.js on these batches)`);
  return markdown(lines, hit.field.keyRange);
}

/** The band's two table rows: the I²F between its ends and the graded PSNR between theirs. */
function bandRows(band: ResultBand, expected: boolean): string[] {
  return [
    `| ${expected ? 'Expected I²F' : 'I²F'} (band from the CG iterates) | ${band.unbounded ? `≥ ${fmt(band.i2f[0])}` : `${fmt(band.i2f[0])} … ${fmt(band.i2f[1])}`} (${band.unbounded ? 'no upper end yet' : band.upperCertified ? 'both ends bounds' : 'lower end a bound, upper end an estimate'}) |`,
    `| Graded PSNR band | ${bandPsnr(band).replace(/^PSNR /, '')} (${band.settled ? 'settled: both ends give this level' : 'straddles a threshold: graded on the conservative end'}) |`,
    ...(band.omits ? [`| Not in the band | ${band.omits} |`] : []),
  ];
}

/** The attacker the finding is about, then the others and what they would face. */
function attackerLines(threat: ThreatModel): string[] {
  const specs = (d: { spec: string }[]) => (d.length ? d.map((x) => `\`${shownSpec(x.spec)}\``).join(' then ') : 'no defence');
  const line = (v: ThreatModel['chosen']) => `${ATTACKER_NAMES[v.attacker]} ${v.sees}: ${v.blind ? 'nothing to invert' : specs(v.defences)}`;
  return [`**Attacker:** ${line(threat.chosen)} (${threat.reason}).`, '', ...threat.others.map((v) => `- other: ${line(v)}`)];
}

function markdown(lines: string[], range: Hover['range']): Hover {
  const contents: MarkupContent = { kind: 'markdown', value: lines.join('\n') };
  return { contents, range };
}

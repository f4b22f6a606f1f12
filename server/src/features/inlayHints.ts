// Inlay hints after the values that decide the risk: the predicted PSNR and risk at a glance.

import { InlayHint } from 'vscode-languageserver';
import { analysisPlan } from '../config/defences';
import type { ConfigField } from '../config/trainingSetup';
import type { Range } from '../config/keyTree';
import { expectedPsnr, short, worstBatch, type ConfigView } from './configView';
import { percent } from '../analysis/configFindings';
import { mostExposedTokens } from '../analysis/tokens';
import { formatDelta, formatEpsilon } from '../analysis/privacyAccount';

export function inlayHints(view: ConfigView, range: Range): InlayHint[] {
  const b = view.result && worstBatch(view.result.report);
  const privacy = view.privacy?.report.status === 'computed' ? view.privacy : undefined;
  const spent = privacy?.report.status === 'computed' ? privacy.report : undefined;
  const epsilonLabel = spent ? `ε ${formatEpsilon(spent.epsilon)}` : undefined;
  const inRange = (r: Range) => r.end.line >= range.start.line && r.end.line <= range.end.line;
  if (!b) {
    // No analysis (yet, or no model): the ε alone after the noise multiplier.
    if (!privacy || !spent || !epsilonLabel || !inRange(privacy.noiseRange)) return [];
    return [{ position: privacy.noiseRange.end, label: epsilonLabel, paddingLeft: true, tooltip: epsilonTooltip(spent) }];
  }
  const plan = analysisPlan(view.config.setup);
  // One hint per defence (after its first value); a config with no defence gets it after its batch size.
  const setup = view.config.setup;
  // In Python the hint follows the DP call's noise argument, where the finding is (pysource/).
  // A σ reproduced from make_private_with_epsilon's target_epsilon is written nowhere: the hint follows the clipping.
  const written = setup.noiseFromTarget?.note ? undefined : setup.noiseMultiplier;
  const codeNoise = setup.format === 'python' ? [written ?? setup.noiseStd].filter((f): f is ConfigField<number> => !!f && f.file === view.config.path) : [];
  const anchors: ConfigField<unknown>[] = codeNoise.length ? codeNoise : [...plan.defences.map((d) => d.fields[0]), ...plan.relative.map((r) => r.fields[0])].filter((f) => !!f);
  if (!anchors.length && plan.batchFields[0]) anchors.push(plan.batchFields[0]);
  if (!anchors.length && view.config.setup.model) anchors.push(view.config.setup.model);
  const label = b.risk === 'uncertain' ? 'I²F: uncertain (solve did not converge)'
    : b.tokens ? `${percent(mostExposedTokens(b.tokens).recovered)} of tokens recovered · ${b.risk} risk`
      : `PSNR ${short(expectedPsnr(b))} dB · ${b.risk} risk`;
  const seen = new Set<number>();
  const onNoiseLine = (f: ConfigField<unknown>) => !!privacy && f.valueRange.end.line === privacy.noiseRange.end.line;
  const hints: InlayHint[] = anchors
    .filter((f) => f.valueRange.end.line >= range.start.line && f.valueRange.end.line <= range.end.line)
    .filter((f) => !seen.has(f.valueRange.end.line) && !!seen.add(f.valueRange.end.line))
    .map((f) => ({
      position: f.valueRange.end,
      label: onNoiseLine(f) && epsilonLabel ? `${label} · ${epsilonLabel}` : label,
      paddingLeft: true,
      tooltip: b.tokens
        ? `Tokens of the most exposed sample a gradient-inversion attacker recovers (nearest embedding row of the I²F reconstruction; all numbers in embedding space). Hover the key for the numbers.`
        : `Predicted reconstruction of the most exposed sample by a gradient-inversion attacker (I²F). Hover the key for the numbers.`,
    }));
  // The noise line carries no defence hint (e.g. noise written but not analysed as a defence): ε on its own.
  if (privacy && spent && epsilonLabel && inRange(privacy.noiseRange) && !hints.some((h) => h.position.line === privacy.noiseRange.end.line)) {
    hints.push({ position: privacy.noiseRange.end, label: epsilonLabel, paddingLeft: true, tooltip: epsilonTooltip(spent) });
  }
  return hints;
}

function epsilonTooltip(r: { epsilon: number; delta: number; order: number; steps: number; sampleRate: number }): string {
  return `DP guarantee ε at δ = ${formatDelta(r.delta)} (RDP accountant, order ${r.order}, ${r.steps} steps, q = ${Number(r.sampleRate.toPrecision(4))}). Hover the key for how q and steps were derived.`;
}

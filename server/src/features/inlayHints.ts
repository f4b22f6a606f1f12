// Inlay hints after the values that decide the risk: the predicted PSNR and risk at a glance.

import { InlayHint } from 'vscode-languageserver';
import { analysisPlan } from '../config/defences';
import type { ConfigField } from '../config/trainingSetup';
import type { Range } from '../config/keyTree';
import { expectedPsnr, short, worstBatch, type ConfigView } from './configView';
import { percent } from '../analysis/configFindings';
import { mostExposedTokens } from '../analysis/tokens';

export function inlayHints(view: ConfigView, range: Range): InlayHint[] {
  const b = view.result && worstBatch(view.result.report);
  if (!b) return [];
  const plan = analysisPlan(view.config.setup);
  // One hint per defence (after its first value); a config with no defence gets it after its batch size.
  const anchors: ConfigField<unknown>[] = [...plan.defences.map((d) => d.fields[0]), ...plan.relative.map((r) => r.fields[0])].filter((f) => !!f);
  if (!anchors.length && plan.batchFields[0]) anchors.push(plan.batchFields[0]);
  if (!anchors.length && view.config.setup.model) anchors.push(view.config.setup.model);
  const label = b.risk === 'uncertain' ? 'I²F: uncertain (solve did not converge)'
    : b.tokens ? `${percent(mostExposedTokens(b.tokens).recovered)} of tokens recovered · ${b.risk} risk`
      : `PSNR ${short(expectedPsnr(b))} dB · ${b.risk} risk`;
  const seen = new Set<number>();
  return anchors
    .filter((f) => f.valueRange.end.line >= range.start.line && f.valueRange.end.line <= range.end.line)
    .filter((f) => !seen.has(f.valueRange.end.line) && !!seen.add(f.valueRange.end.line))
    .map((f) => ({
      position: f.valueRange.end,
      label,
      paddingLeft: true,
      tooltip: b.tokens
        ? `Tokens of the most exposed sample a gradient-inversion attacker recovers (nearest embedding row of the I²F reconstruction; all numbers in embedding space). Hover the key for the numbers.`
        : `Predicted reconstruction of the most exposed sample by a gradient-inversion attacker (I²F). Hover the key for the numbers.`,
    }));
}

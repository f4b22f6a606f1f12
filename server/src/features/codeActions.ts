// Quick fixes that edit the config text in place (only the value, or one inserted line in the file's own style):
// set the noise to the level that reaches the target PSNR; add the missing noise multiplier to a clipping-only config;
// name the loss the model trains with when the one analysed gives no gradient (I2F159).

import { CodeActionKind, type CodeAction, type Diagnostic, type TextEdit } from 'vscode-languageserver';
import { analysisPlan } from '../config/defences';
import { noiseAddedByServer, type ConfigField } from '../config/trainingSetup';
import { LEAKAGE_RULE } from '../analysis/configFindings';
import { RULES } from '../config/ruleCatalog';
import type { ConfigView } from './configView';
import { formatDelta, noiseForTargetEpsilon } from '../analysis/privacyAccount';
import type { Range } from '../config/keyTree';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { lossKeyEdit, lossThatGivesGradient } from './lossKeyEdit';

/** Rounds up to 3 significant digits, so the suggested noise still reaches the target. */
export function roundUp3(x: number): number {
  if (!(x > 0) || !Number.isFinite(x)) return x;
  const e = Math.floor(Math.log10(x)) - 2;
  const scale = 10 ** e;
  return Number((Math.ceil(x / scale - 1e-9) * scale).toPrecision(3));
}

/** The number as it should be written where `old` was: keep a decimal point if the old value had one. */
function written(x: number, old: string): string {
  const s = String(x);
  return old.includes('.') && Number.isInteger(x) ? x.toFixed(1) : s;
}

function textAt(text: string, f: ConfigField<unknown>): string {
  const lines = text.split('\n');
  const { start, end } = f.valueRange;
  if (start.line !== end.line) return String(f.value);
  return (lines[start.line] ?? '').slice(start.character, end.character);
}

/** The noise the analysis says reaches the target, for the key this config writes it with. */
export function targetNoiseEdit(view: ConfigView): { field: ConfigField<number>; value: number; title: string } | undefined {
  const result = view.result;
  if (!result) return undefined;
  const setup = view.config.setup;
  const target = setup.targetPsnr?.value ?? view.settings.targetPsnr;
  // Text models: the noise that keeps every sample's recovered tokens below the medium threshold (tokens.ts).
  const text = result.report.results.filter((b) => b.tokens?.noiseForTarget && b.risk !== 'low' && b.risk !== 'uncertain' && b.tokens.noiseForTarget.std > 0 && Number.isFinite(b.tokens.noiseForTarget.std));
  const isText = result.report.results.some((b) => b.tokens);
  const batches = isText
    ? text.map((b) => ({ ...b, noiseForTarget: { targetPsnr: target, std: b.tokens!.noiseForTarget!.std, stdForEverySample: b.tokens!.noiseForTarget!.std, noiseMultiplier: b.tokens!.noiseForTarget!.noiseMultiplier } }))
    // Offered while the PSNR the finding is graded on (the prediction + the attack spread, validity.ts) is above the target.
    : result.report.results.filter((b) => b.noiseForTarget && (b.validity?.gradedPsnr ?? b.mostExposed?.psnr ?? (b.i2fExpected !== undefined ? b.expectedPsnr : b.psnr)) > target + 1e-9);
  if (!batches.length) return undefined;
  const goal = isText ? `predicted tokens recovered below ${Math.round(text[0].tokens!.noiseForTarget!.below * 100)}%` : `predicted PSNR ${target} dB`;
  // The most exposed sample decides (the finding is graded on it): the std that brings every sample to the goal.
  const std = Math.max(...batches.map((b) => b.noiseForTarget!.stdForEverySample));
  // A σ reproduced from make_private_with_epsilon's target_epsilon is written nowhere: there is no σ to edit.
  const sigma = setup.noiseFromTarget?.note ? undefined : setup.noiseMultiplier;
  const clip = setup.clippingNorm;
  if (sigma && !sigma.interpolatedFrom && clip && setup.clippingScope === 'per-example') {
    const nm = Math.max(...batches.map((b) => b.noiseForTarget!.noiseMultiplier ?? NaN));
    if (Number.isFinite(nm) && nm > 0) return { field: sigma, value: roundUp3(nm), title: `Set ${sigma.path.at(-1)} to ${roundUp3(nm)} (${goal})` };
  }
  const plan = analysisPlan(setup);
  if (sigma && !sigma.interpolatedFrom && clip && clip.value > 0 && noiseAddedByServer(setup)) {
    // Central DP: σ·C on one client's share, and only attackers who see the aggregate after the server's noise
    // face it; against the server itself no noise multiplier helps, so there is nothing to offer.
    if (!plan.defences.some((d) => d.fields.includes(sigma))) return undefined;
    const nm = std / clip.value;
    if (nm > 0) return { field: sigma, value: roundUp3(nm), title: `Set ${sigma.path.at(-1)} to ${roundUp3(nm)} (${goal})` };
  }
  const onlyStd = setup.noiseStd && plan.defences.filter((d) => d.kind === 'gaussian' || d.kind === 'dpsgd').length === 1;
  if (setup.noiseStd && onlyStd && !setup.noiseStd.interpolatedFrom && std > 0) {
    return { field: setup.noiseStd, value: roundUp3(std), title: `Set ${setup.noiseStd.path.at(-1)} to ${roundUp3(std)} (${goal})` };
  }
  return undefined;
}

/**
 * The noise multiplier that meets the config's target_epsilon (RDP accountant at its q, steps and δ), rounded up
 * to 3 significant digits so it still meets it; without a target, the one that meets i2f.thresholds.epsilon.
 */
export function targetEpsilonNoiseEdit(view: ConfigView): { field: ConfigField<number>; value: number; title: string } | undefined {
  const account = view.privacy;
  const sigma = view.config.setup.noiseMultiplier;
  if (!account?.inputs || account.report.status !== 'computed' || !sigma || sigma.interpolatedFrom) return undefined;
  const r = account.report;
  let target: number;
  let sigmaFor: number | undefined;
  if (r.targetEpsilon !== undefined && r.epsilon > r.targetEpsilon) {
    target = r.targetEpsilon;
    sigmaFor = r.noiseForTarget;
  } else if (r.epsilon > view.settings.thresholds.epsilon) {
    target = view.settings.thresholds.epsilon;
    const found = noiseForTargetEpsilon(target, r.delta, r.sampleRate, r.steps);
    sigmaFor = found.kind === 'found' ? found.noiseMultiplier : undefined;
  } else {
    return undefined;
  }
  if (sigmaFor === undefined) return undefined;
  const value = roundUp3(sigmaFor);
  return { field: sigma, value, title: `Set ${sigma.path.at(-1)} to ${value} (ε ≤ ${target} at δ = ${formatDelta(r.delta)})` };
}

function noiseKeyLike(clipKey: string): string {
  if (clipKey.includes('-')) return 'noise-multiplier';
  if (/[a-z][A-Z]/.test(clipKey)) return 'noiseMultiplier';
  return 'noise_multiplier';
}

/** One new line after the clipping norm's, indented like it, in the file's syntax. */
export function addNoiseMultiplierEdit(view: ConfigView, value: number): TextEdit | undefined {
  const clip = view.config.setup.clippingNorm;
  if (!clip || clip.interpolatedFrom) return undefined;
  const lines = view.text.split('\n');
  const line = lines[clip.keyRange.start.line] ?? '';
  const indent = /^\s*/.exec(line)![0];
  const key = noiseKeyLike(clip.path.at(-1) ?? '');
  const v = written(value, textAt(view.text, clip));
  switch (view.config.setup.format) {
    case 'json':
      return { range: { start: clip.valueRange.end, end: clip.valueRange.end }, newText: `,\n${indent}"${key}": ${v}` };
    case 'yaml':
    case 'toml':
    case 'hocon': {
      // Only when the key starts its own line (not inside a flow mapping or an inline table).
      const startsLine = line.slice(0, clip.keyRange.start.character).trim() === '' || /^\s*["']$/.test(line.slice(0, clip.keyRange.start.character));
      if (!startsLine || clip.valueRange.end.line !== clip.keyRange.start.line) return undefined;
      const text = view.config.setup.format === 'yaml' ? `${indent}${key}: ${v}` : `${indent}${key} = ${v}`;
      const next = clip.keyRange.start.line + 1;
      if (next < lines.length) return { range: { start: { line: next, character: 0 }, end: { line: next, character: 0 } }, newText: `${text}\n` };
      const eol = { line: clip.keyRange.start.line, character: line.length };
      return { range: { start: eol, end: eol }, newText: `\n${text}` };
    }
  }
}

/**
 * A value read from Python is edited where it is written: the literal (every branch of a conditional that is below
 * the new value), or the Flower app's pyproject.toml key it came from. Not offered when a value is computed.
 */
function codeValueEdits(view: ConfigView, field: ConfigField<number>, value: number): Record<string, TextEdit[]> | undefined {
  const code = field.fromCode!;
  const weak = code.alternatives.filter((a) => typeof a.value === 'number' && a.value < value);
  if (!weak.length || weak.some((a) => !a.source.editable)) return undefined;
  const changes: Record<string, TextEdit[]> = {};
  for (const a of weak) {
    const uri = a.source.file === view.config.path ? view.uri : pathToFileURL(a.source.file).href;
    const old = a.source.file === view.config.path ? sliceRange(view.text, a.source.range) : String(a.value);
    (changes[uri] ??= []).push({ range: a.source.range, newText: written(value, old) });
  }
  return changes;
}

function sliceRange(text: string, range: Range): string {
  const lines = text.split('\n');
  if (range.start.line !== range.end.line) return '';
  return (lines[range.start.line] ?? '').slice(range.start.character, range.end.character);
}

export function codeActions(view: ConfigView, diagnostics: Diagnostic[]): CodeAction[] {
  const out: CodeAction[] = [];
  for (const d of diagnostics) {
    if (d.code === LEAKAGE_RULE.code) {
      const fix = targetNoiseEdit(view);
      if (!fix) continue;
      const changes = fix.field.fromCode ? codeValueEdits(view, fix.field, fix.value) : { [view.uri]: [{ range: fix.field.valueRange, newText: written(fix.value, textAt(view.text, fix.field)) }] };
      if (!changes) continue;
      out.push({
        title: fix.field.fromCode && fix.field.fromCode.source.file !== view.config.path ? `${fix.title} in ${basename(fix.field.fromCode.source.file)}` : fix.title,
        kind: CodeActionKind.QuickFix,
        diagnostics: [d],
        isPreferred: true,
        edit: { changes },
      });
    } else if (d.code === RULES.targetEpsilonMissed.code || d.code === RULES.epsilonAboveThreshold.code) {
      const fix = targetEpsilonNoiseEdit(view);
      if (!fix) continue;
      out.push({
        title: fix.title,
        kind: CodeActionKind.QuickFix,
        diagnostics: [d],
        isPreferred: d.code === RULES.targetEpsilonMissed.code,
        edit: { changes: { [view.uri]: [{ range: fix.field.valueRange, newText: written(fix.value, textAt(view.text, fix.field)) }] } },
      });
    } else if (d.code === RULES.lossGivesNoGradient.code) {
      // The loss the model trains with, named in the i2f section (lossKeyEdit.ts); none when no loss gives a gradient.
      const settings = view.result?.report.settings;
      const outputs = settings?.outputShape ? settings.outputShape.slice(1).reduce((a, x) => a * x, 1) : undefined;
      const loss = settings && lossThatGivesGradient(settings.loss, outputs);
      const setup = view.config.setup;
      const own = setup.loss && setup.loss.file === view.config.path ? { range: setup.loss.valueRange } : undefined;
      const edit = loss && !view.notebook ? lossKeyEdit(view.text, setup.format, view.config.path, loss, own) : undefined;
      if (!edit) continue;
      out.push({
        title: `Analyse with ${loss}: set loss in the i2f section`,
        kind: CodeActionKind.QuickFix,
        diagnostics: [d],
        isPreferred: true,
        edit: { changes: { [view.uri]: [edit] } },
      });
    } else if (d.code === RULES.clippingWithoutNoise.code) {
      // The analysis's noise multiplier for the target when there is one, else Opacus' usual 1.0.
      const b = view.result?.report.results.map((r) => (r.tokens ? r.tokens.noiseForTarget?.noiseMultiplier : r.noiseForTarget?.noiseMultiplier) ?? NaN).filter((x) => Number.isFinite(x) && x > 0);
      const value = b && b.length ? roundUp3(Math.max(...b)) : 1;
      const edit = addNoiseMultiplierEdit(view, value);
      if (!edit) continue;
      out.push({
        title: `Add a noise multiplier (${value}) next to the clipping norm`,
        kind: CodeActionKind.QuickFix,
        diagnostics: [d],
        isPreferred: true,
        edit: { changes: { [view.uri]: [edit] } },
      });
    }
  }
  return out;
}

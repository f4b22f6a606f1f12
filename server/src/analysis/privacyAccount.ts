// A config's privacy account: its (ε, δ) by the RDP accountant, how q and steps were derived, the target it misses, the σ that meets it.

import { accountingInputs, type AccountingInputs, type AccountingSource, type MissingAccountingKey, type PrivacyUnit } from '../config/accountingInputs';
import type { Range } from '../config/keyTree';
import { noiseForEpsilon } from '../privacy/inverse';
import { RdpCurve, type PrivacySpent } from '../privacy/rdpAccountant';

/** Default of `i2f.thresholds.epsilon`: above ε = 10 a DP guarantee says little (Opacus and TF Privacy tutorials stay below). */
export const DEFAULT_EPSILON_THRESHOLD = 10;

/** What the audit's JSON carries per config (`privacy`), the CLI's shape plus how each input came about. */
export type PrivacyReport =
  | (PrivacySpent & {
      status: 'computed';
      unit: PrivacyUnit;
      derivation: { sampleRate: string; steps: string; delta: string };
      deltaSource: 'config' | 'default';
      targetEpsilon?: number;
      /** The σ that meets `target_epsilon` at this q, steps and δ, when one does. */
      noiseForTarget?: number;
      /** Why no σ meets the target, when none does. */
      targetUnreachable?: string;
    })
  | { status: 'missing'; unit: PrivacyUnit; noiseMultiplier: number; missing: MissingAccountingKey[] };

/** A computed account with the config places its findings point at. */
export interface PrivacyAccount {
  report: PrivacyReport;
  inputs?: AccountingInputs;
  /** The noise multiplier's value in the file: where the hover, the inlay hint and the quick fix sit. */
  noiseRange: Range;
  noiseKey: string;
  targetRange?: Range;
}

// One step's RDP curve per (q, σ) is the expensive part (up to ~0.1 s at q = 0.5): a hover, an inlay hint and
// diagnostics on the same file ask for it in turn, so keep the last few.
const curves = new Map<string, RdpCurve>();
function curveFor(q: number, sigma: number): RdpCurve {
  const key = `${q}/${sigma}`;
  let c = curves.get(key);
  if (!c) {
    c = new RdpCurve(q, sigma);
    if (curves.size >= 64) curves.delete(curves.keys().next().value!);
    curves.set(key, c);
  }
  return c;
}

// The σ for a target ε is a bisection (~0.2 s): a config's refreshes ask the same question while its text changes
// elsewhere, so remember the answers.
const inverses = new Map<string, ReturnType<typeof noiseForEpsilon>>();
function noiseFor(target: number, delta: number, q: number, steps: number): ReturnType<typeof noiseForEpsilon> {
  const key = `${target}/${delta}/${q}/${steps}`;
  let r = inverses.get(key);
  if (!r) {
    r = noiseForEpsilon(target, delta, q, steps);
    if (inverses.size >= 64) inverses.delete(inverses.keys().next().value!);
    inverses.set(key, r);
  }
  return r;
}

/** ε for the inputs at another noise multiplier (the spectrum page's frontier and the quick fix ask this). */
export function epsilonAt(inputs: { sampleRate: { value: number }; steps: { value: number }; delta: { value: number } }, noiseMultiplier: number): PrivacySpent {
  return curveFor(inputs.sampleRate.value, noiseMultiplier).spent(inputs.steps.value, inputs.delta.value);
}

/** The account of a recognised setup, or undefined when no accounting applies (no σ, DP off, local DP). */
export { noiseFor as noiseForTargetEpsilon };

export function privacyAccount(source: AccountingSource): PrivacyAccount | undefined {
  try {
    return accountOf(source);
  } catch {
    // A value the accountant cannot take (recognise.ts already reported it as I2F108) costs the ε, never the
    // config's other results or the audit.
    return undefined;
  }
}

function accountOf(source: AccountingSource): PrivacyAccount | undefined {
  const setup = accountingInputs(source);
  if (setup.kind === 'none') return undefined;
  if (setup.kind === 'missing') {
    return {
      report: { status: 'missing', unit: setup.unit, noiseMultiplier: setup.noiseMultiplier.value, missing: setup.missing },
      noiseRange: setup.noiseMultiplier.valueRange,
      noiseKey: setup.noiseMultiplier.key,
    };
  }
  const inputs = setup.inputs;
  const spent = epsilonAt(inputs, inputs.noiseMultiplier.value);
  const report: PrivacyReport = {
    status: 'computed',
    ...spent,
    unit: inputs.unit,
    derivation: { sampleRate: inputs.sampleRate.how, steps: inputs.steps.how, delta: inputs.delta.how },
    deltaSource: inputs.delta.source,
  };
  if (inputs.targetEpsilon) {
    report.targetEpsilon = inputs.targetEpsilon.value;
    const found = noiseFor(inputs.targetEpsilon.value, inputs.delta.value, inputs.sampleRate.value, inputs.steps.value);
    if (found.kind === 'found') report.noiseForTarget = found.noiseMultiplier;
    else report.targetUnreachable = found.reason;
  }
  return {
    report,
    inputs,
    noiseRange: inputs.noiseMultiplier.valueRange,
    noiseKey: inputs.noiseMultiplier.key,
    ...(inputs.targetEpsilon ? { targetRange: inputs.targetEpsilon.valueRange } : {}),
  };
}

/**
 * A standalone script's missing inputs (every entry has `fromScript`): what the script does not let us read and why,
 * then what in the script would; undefined for a config, whose hint names the section to add the keys to.
 */
export function scriptMissingText(missing: MissingAccountingKey[]): { unread: string; fix: string } | undefined {
  if (!missing.length || !missing.every((m) => m.fromScript)) return undefined;
  return {
    unread: missing.map((m) => `${m.what}: ${m.fromScript!.reason}`).join('; '),
    fix: [...new Set(missing.map((m) => m.fromScript!.fix))].join('; '),
  };
}

/** δ as people write it: 1e-5, not 0.00001. */
export function formatDelta(delta: number): string {
  return delta <= 1e-3 ? delta.toExponential() : String(delta);
}

/** "ε 2.6" for inlay hints and short texts: two significant digits, ∞ for no noise. */
export function formatEpsilon(epsilon: number): string {
  if (!Number.isFinite(epsilon)) return '∞';
  if (epsilon >= 100) return epsilon.toExponential(1).replace('e+', 'e');
  return Number(epsilon.toPrecision(2)).toString();
}

/** The hover's paragraph: ε at δ with accountant, order, steps and q, how each was derived, or which key is missing. */
export function privacyHoverLines(report: PrivacyReport): string[] {
  const who = report.unit === 'user' ? 'user-level (one client’s participation)' : 'example-level (one training example)';
  if (report.status === 'missing') {
    const script = scriptMissingText(report.missing);
    if (script) return [`**Privacy (ε, δ)**: not computed, ${who}: the script does not give ${script.unread}.`, `To see it: ${script.fix}. No number is invented.`];
    const lines = [`**Privacy (ε, δ)**: not computed, ${who}: the config lacks ${report.missing.map((m) => m.what).join(', ')}. Add to the \`${report.missing[0].section}\` section:`];
    lines.push('```', ...report.missing.map((m) => m.example), '```');
    lines.push(`(or the tool's own key: ${report.missing.map((m) => m.toolKeys.map((k) => `\`${k}\``).join(' / ')).join('; ')}). No number is invented.`);
    return lines;
  }
  const lines = [
    `**Privacy**: ε = ${formatNumber(report.epsilon)} at δ = ${formatDelta(report.delta)} (${who}; RDP accountant, order α = ${report.order}, ${report.steps} ${report.unit === 'user' ? 'rounds' : 'steps'}, q = ${formatNumber(report.sampleRate)}, σ = ${report.noiseMultiplier})`,
    `- q = ${report.derivation.sampleRate}`,
    `- steps = ${report.derivation.steps}`,
    `- δ = ${report.derivation.delta}`,
  ];
  if (report.targetEpsilon !== undefined) {
    if (report.noiseForTarget !== undefined) lines.push(`- target ε ${report.targetEpsilon}: noise multiplier ${report.noiseForTarget.toPrecision(4)} meets it`);
    else lines.push(`- target ε ${report.targetEpsilon} cannot be met: ${report.targetUnreachable}`);
  }
  return lines;
}

function formatNumber(x: number): string {
  if (!Number.isFinite(x)) return '∞';
  return Math.abs(x) >= 1e4 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(3) : Number(x.toPrecision(4)).toString();
}

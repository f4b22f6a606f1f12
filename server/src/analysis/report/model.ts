// What one `i2f audit` run found, before it is formatted (text, JSON, SARIF, HTML), and the --fail-on policy.

import type { PrivacyReport } from '../privacyAccount';
import { relative, sep } from 'node:path';
import type { AnalyzeReport } from '../analyzeModel';
import type { Finding } from '../configFindings';
import type { I2fSettings } from '../settings';
import type { DiscoveredConfig } from '../../workspace/discover';
import type { RuleSeverity } from '../../config/ruleCatalog';

export type FailOn = 'high' | 'medium' | 'low' | 'never';
export const FAIL_ON_VALUES: readonly FailOn[] = ['high', 'medium', 'low', 'never'];

/** The level a finding counts at for --fail-on ('none': never fails the audit). */
export type FindingLevel = 'high' | 'medium' | 'low' | 'none';

export type ConfigStatus =
  /** A new analysis ran in this audit. */
  | 'analysed'
  /** The result cache answered (possibly rescaled to this config's Gaussian noise). */
  | 'cached'
  /** No analysis was attempted: no model, a missing model, a model format we do not analyse yet. */
  | 'not-analysed'
  /** The analysis was attempted and failed (I2F002 says why). */
  | 'failed'
  /** The file looks like a training config but does not parse (I2F100). */
  | 'unreadable';

export interface ConfigOutcome {
  /** Absolute path of the config file. */
  file: string;
  status: ConfigStatus;
  config?: DiscoveredConfig;
  /** Why it was not analysed, or why the analysis failed. */
  reason?: string;
  /** The one-line fix for a config not analysed (or whose Python model could not be built): explain.ts. */
  fix?: string;
  /** The report re-evaluated for this config's noise, thresholds and target (what I2F001 says). */
  report?: AnalyzeReport;
  cacheKey?: string;
  /** The analysis result's noise std differs from the cached one: answered by rescaling. */
  rescaled?: boolean;
  /** Wall time of the analysis (of the cached one for 'cached'). */
  ms?: number;
  findings: Finding[];
  /** The leakage at each checkpoint its training wrote, in training order (checkpoint watching). */
  checkpointHistory?: import('../../webviewProtocol').CheckpointHistoryEntry[];
  /** The DP account of the config's noise multiplier (RDP accountant), when it has one to account. */
  privacy?: PrivacyReport;
}

export interface RootOutcome {
  /** Absolute path of the audited folder. */
  root: string;
  settings: I2fSettings;
  /** Files the settings came from (absolute), lowest precedence first; empty: defaults. */
  settingsSources: string[];
  /** Discovery stopped at a bound: the audit covers part of the folder. */
  truncated: boolean;
  configs: ConfigOutcome[];
  /** `i2f audit FILE` on a file that is not a training config: which, and why (explain.ts). */
  notAConfig?: { file: string; reason: string };
}

export interface AuditRun {
  tool: { name: string; version: string };
  createdAt: string;
  failOn: FailOn;
  roots: RootOutcome[];
}

const SEVERITY_LEVEL: Record<RuleSeverity, FindingLevel> = { error: 'high', warning: 'medium', information: 'low', hint: 'none' };
const RANK: Record<FindingLevel, number> = { none: 0, low: 1, medium: 2, high: 3 };

/**
 * The level a finding counts at for --fail-on. I2F001 counts at its risk, an `uncertain` result as high (the
 * audit cannot certify the config, so it fails closed). Every other finding (cheap config rules, I2F002) counts
 * at its severity: error → high, warning → medium, information → low, hint → never.
 */
export function findingLevel(f: Finding): FindingLevel {
  if (f.risk) return f.risk === 'uncertain' ? 'high' : f.risk;
  return SEVERITY_LEVEL[f.severity];
}

export function failsAt(f: Finding, failOn: FailOn): boolean {
  if (failOn === 'never') return false;
  return RANK[findingLevel(f)] >= RANK[failOn];
}

export function allFindings(run: AuditRun): Finding[] {
  return run.roots.flatMap((r) => r.configs.flatMap((c) => c.findings));
}

/** 1 when a finding at or above --fail-on exists, else 0. */
export function exitCodeOf(run: AuditRun): number {
  return allFindings(run).some((f) => failsAt(f, run.failOn)) ? 1 : 0;
}

export interface Summary {
  roots: number;
  configs: number;
  analysed: number;
  fromCache: number;
  notAnalysed: number;
  failed: number;
  unreadable: number;
  findings: number;
  severity: Record<RuleSeverity, number>;
  risk: { high: number; medium: number; low: number; uncertain: number };
  /** Findings at or above --fail-on. */
  failing: number;
}

export function summarise(run: AuditRun): Summary {
  const configs = run.roots.flatMap((r) => r.configs);
  const findings = allFindings(run);
  const status = (s: ConfigStatus) => configs.filter((c) => c.status === s).length;
  const severity = { error: 0, warning: 0, information: 0, hint: 0 };
  const risk = { high: 0, medium: 0, low: 0, uncertain: 0 };
  for (const f of findings) {
    severity[f.severity]++;
    if (f.risk) risk[f.risk]++;
  }
  return {
    roots: run.roots.length,
    configs: configs.length,
    analysed: status('analysed'),
    fromCache: status('cached'),
    notAnalysed: status('not-analysed'),
    failed: status('failed'),
    unreadable: status('unreadable'),
    findings: findings.length,
    severity,
    risk,
    failing: findings.filter((f) => failsAt(f, run.failOn)).length,
  };
}

const ORDER: Record<RuleSeverity, number> = { error: 0, warning: 1, information: 2, hint: 3 };

/** Deterministic order: by line, then severity, then code. */
/**
 * Where a finding is, for people: `line:col`, or in a notebook `cell N:line:col` (ruff's form, `nb.ipynb:cell 3:2:8`),
 * the cell numbered as Jupyter shows them and the line and column in that cell, all 1-based.
 */
export function findingPlace(f: Finding): string {
  if (f.cell) return `cell ${f.cell.cell}:${f.cell.range.start.line + 1}:${f.cell.range.start.character + 1}`;
  return `${f.range.start.line + 1}:${f.range.start.character + 1}`;
}

export function sortFindings(findings: Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character || ORDER[a.severity] - ORDER[b.severity] || a.code.localeCompare(b.code),
  );
}

/** Root-relative path with forward slashes (what JSON and SARIF carry). */
export function relativePosix(root: string, file: string): string {
  return relative(root, file).split(sep).join('/');
}

/** One line: configs by status, findings by severity, leakage by risk, and the --fail-on verdict. */
export function summaryLine(run: AuditRun): string {
  const s = summarise(run);
  const parts = [
    `${s.configs} training config(s): ${s.analysed} analysed, ${s.fromCache} from cache, ${s.notAnalysed} not analysed, ${s.failed} failed${s.unreadable ? `, ${s.unreadable} unreadable` : ''}`,
    `${s.findings} finding(s): ${s.severity.error} error(s), ${s.severity.warning} warning(s), ${s.severity.information + s.severity.hint} note(s)`,
    `leakage risk: ${s.risk.high} high, ${s.risk.medium} medium, ${s.risk.low} low${s.risk.uncertain ? `, ${s.risk.uncertain} uncertain` : ''}`,
  ];
  const verdict = run.failOn === 'never' ? 'fail-on never' : s.failing ? `FAILED (--fail-on ${run.failOn}: ${s.failing} finding(s) at or above ${run.failOn})` : `passed (--fail-on ${run.failOn})`;
  return `${parts.join('; ')}; ${verdict}`;
}

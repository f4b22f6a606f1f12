// What the LSP views (hover, inlay hints, code lenses, code actions) read about one training config: its parsed
// setup, settings, and the latest analysis result re-evaluated for its current text.

import { analysisPlan } from '../config/defences';
import type { ConfigField } from '../config/trainingSetup';
import type { Position, Range } from '../config/keyTree';
import type { AnalyzeReport, BatchReport } from '../analysis/analyzeModel';
import type { CachedAnalysis } from '../analysis/noiseRescale';
import type { I2fSettings } from '../analysis/settings';
import type { DiscoveredConfig } from '../workspace/discover';
import type { PrivacyAccount } from '../analysis/privacyAccount';
import { worstBatch as worstBatchOf } from '../analysis/configFindings';
import type { ProvisionalBand } from '../analysis/analyzeModel';
import type { NoiseSearchState } from '../analysis/noiseSearchFinding';
import type { NotebookCells } from './notebookCells';

export interface ConfigResult {
  report: AnalyzeReport;
  entry: CachedAnalysis;
  /** No new analysis ran for this text: the result cache (and possibly a noise rescale) answered. */
  fromCache: boolean;
  rescaled: boolean;
}

export interface ConfigView {
  uri: string;
  text: string;
  config: DiscoveredConfig;
  settings: I2fSettings;
  result?: ConfigResult;
  failure?: string;
  /** An analysis is queued or running for this text. */
  pending: boolean;
  /** While it runs: its latest provisional answer (the I²F's graded band, λmax, I_lb). */
  provisional?: ProvisionalBand;
  /** Why there is no analysis (untrusted workspace, disabled, no ONNX model). */
  notAnalysed?: string;
  /** The DP account of the config's noise (cheap: no model), when it has a noise multiplier to account. */
  privacy?: PrivacyAccount;
  /** An open notebook: `text` is its code cells joined, and positions map to the cells through these. */
  notebook?: NotebookCells;
  /** make_private_with_epsilon's σ not yet known (setup.noiseFromTarget.pending): where its search stands. */
  noiseSearch?: NoiseSearchState;
}

/** The most exposed batch, as configFindings.ts picks it: highest attacker PSNR (text: most tokens); uncertain never hides. */
export function worstBatch(report: AnalyzeReport): BatchReport | undefined {
  return report.results.length ? worstBatchOf(report) : undefined;
}

export function expectedPsnr(b: BatchReport): number {
  return b.i2fExpected !== undefined ? b.expectedPsnr : b.psnr;
}

export function expectedRmse(b: BatchReport): number {
  return b.i2fExpected !== undefined ? b.expectedRmse : b.rmse;
}

export interface LabelledField {
  field: ConfigField<unknown>;
  role: 'defence' | 'batch' | 'model' | 'target';
  /** For defences: the engine spec it became. */
  spec?: string;
  note?: string;
}

/** The keys that decide the risk, each with what it is. */
export function decidingFields(config: DiscoveredConfig): LabelledField[] {
  const setup = config.setup;
  const plan = analysisPlan(setup);
  const out: LabelledField[] = [];
  for (const d of plan.defences) for (const f of d.fields) out.push({ field: f, role: 'defence', spec: d.spec, note: d.note });
  // Defences only other attackers see (the server's noise when the finding is about the server) keep their hover.
  const seen = new Set(out.map((l) => l.field));
  for (const d of plan.threat.others.flatMap((v) => v.defences)) {
    for (const f of d.fields) if (!seen.has(f)) { seen.add(f); out.push({ field: f, role: 'defence', spec: d.spec, note: d.note }); }
  }
  for (const r of plan.relative) for (const f of r.fields) out.push({ field: f, role: 'defence', spec: `gaussian relative: σ0 ${r.sigma0} × ${r.percentile}th percentile of |g|` });
  for (const f of plan.batchFields) out.push({ field: f, role: 'batch' });
  if (setup.model) out.push({ field: setup.model, role: 'model' });
  if (setup.targetPsnr) out.push({ field: setup.targetPsnr, role: 'target' });
  return out;
}

export function contains(r: Range, p: Position): boolean {
  const after = p.line > r.start.line || (p.line === r.start.line && p.character >= r.start.character);
  const before = p.line < r.end.line || (p.line === r.end.line && p.character <= r.end.character);
  return after && before;
}

/** Numbers for people: 3 significant digits, exponent form when tiny or huge. */
export function short(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? '∞' : x < 0 ? '−∞' : 'NaN';
  if (x !== 0 && (Math.abs(x) >= 1e5 || Math.abs(x) < 1e-3)) return x.toExponential(2);
  return String(Number(x.toPrecision(3)));
}

/** Full numbers for hovers: 6 significant digits. */
export function full(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? '∞' : x < 0 ? '−∞' : 'NaN';
  if (x !== 0 && (Math.abs(x) >= 1e7 || Math.abs(x) < 1e-4)) return x.toExponential(5);
  return String(Number(x.toPrecision(6)));
}

// `i2f audit --format json`: the stable machine-readable report. Its shape is documented in docs/audit-json.md and
// fixed by docs/audit-json.schema.json; bump AUDIT_JSON_VERSION on any incompatible change (new optional fields
// are compatible). Paths are relative to their root, with forward slashes; numbers that are not finite are null.

import type { RuleSeverity } from '../../config/ruleCatalog';
import { ruleByCode } from '../../config/ruleCatalog';
import type { RiskLevel } from '../../engine/risk';
import { FIRST_ORDER_LIMIT, type Validity } from '../../engine/validity';
import type { AnalyzeReport, BatchReport } from '../analyzeModel';
import { ANALYSIS_FAILED_RULE, LEAKAGE_RULE, type Finding } from '../configFindings';
import { expectedPsnr, expectedRmse, worstBatch } from '../../features/configView';
import { mostExposedTokens, type TokenReport } from '../tokens';
import type { PrivacyReport } from '../privacyAccount';
import { failsAt, findingLevel, relativePosix, sortFindings, summarise, type AuditRun, type ConfigStatus, type FailOn, type FindingLevel, type Summary } from './model';

export const AUDIT_JSON_VERSION = 1;

type Num = number | null;

export interface AuditJson {
  version: 1;
  tool: { name: string; version: string };
  createdAt: string;
  failOn: FailOn;
  /** A finding at or above failOn exists (the exit code is 1). */
  failed: boolean;
  summary: Summary;
  roots: RootJson[];
}

export interface RootJson {
  path: string;
  settings: {
    sources: string[];
    thresholds: { high: number; medium: number; tokensHigh: number; tokensMedium: number; epsilon: number };
    damping: number;
    maxSamples: number;
    targetPsnr: number;
    maxModelSizeMB: number;
    /** Only when a solve budget is set (i2f.solveBudgetSeconds > 0). */
    solveBudgetSeconds?: number;
  };
  truncated: boolean;
  /** `i2f audit FILE` on a file that is not a training config: the file (relative) and why. */
  notAConfig?: { file: string; reason: string };
  configs: ConfigJson[];
  findings: FindingJson[];
}

export interface ConfigJson {
  file: string;
  status: ConfigStatus;
  reason?: string;
  /** The one-line fix for a config not analysed (or whose Python model could not be built). */
  fix?: string;
  model?: string;
  modelSource?: 'config' | 'same-folder' | 'none';
  cacheKey?: string;
  rescaled?: boolean;
  ms?: Num;
  leakage?: LeakageJson;
  privacy?: PrivacyJson;
  /** The leakage at each checkpoint the config's training wrote, in training order. */
  checkpoints?: { checkpoint: string; step?: number; psnr: Num; lowerBound: Num; lowerBoundPsnr: Num; risk: string }[];
}

/** `i2f privacy --json`'s object plus how q, steps and δ were derived; or which keys the account lacks. */
export type PrivacyJson =
  | {
      status: 'computed';
      accountant: 'rdp';
      epsilon: Num;
      delta: number;
      order: number;
      steps: number;
      sampleRate: number;
      noiseMultiplier: number;
      unit: 'example' | 'user';
      derivation: { sampleRate: string; steps: string; delta: string };
      deltaSource: 'config' | 'default';
      targetEpsilon?: number;
      noiseForTarget?: number;
      targetUnreachable?: string;
    }
  | { status: 'missing'; unit: 'example' | 'user'; noiseMultiplier: number; missing: { what: string; key: string; example: string; reason?: string; fix?: string }[] };

export function privacyJson(r: PrivacyReport): PrivacyJson {
  if (r.status === 'missing') {
    return { status: 'missing', unit: r.unit, noiseMultiplier: r.noiseMultiplier, missing: r.missing.map((m) => ({ what: m.what, key: m.i2fKey, example: m.example, ...(m.fromScript ? { reason: m.fromScript.reason, fix: m.fromScript.fix } : {}) })) };
  }
  return {
    status: 'computed', accountant: r.accountant, epsilon: Number.isFinite(r.epsilon) ? r.epsilon : null, delta: r.delta, order: r.order,
    steps: r.steps, sampleRate: r.sampleRate, noiseMultiplier: r.noiseMultiplier, unit: r.unit, derivation: r.derivation, deltaSource: r.deltaSource,
    ...(r.targetEpsilon !== undefined ? { targetEpsilon: r.targetEpsilon } : {}),
    ...(r.noiseForTarget !== undefined ? { noiseForTarget: r.noiseForTarget } : {}),
    ...(r.targetUnreachable !== undefined ? { targetUnreachable: r.targetUnreachable } : {}),
  };
}

export interface LeakageJson {
  risk: RiskLevel;
  psnr: Num;
  rmse: Num;
  i2f: Num;
  lowerBound: Num;
  lambdaMax: Num;
  mostExposedSample: number | null;
  parameters: number;
  batchSize: number;
  data: string;
  damping: number;
  noiseForTarget: { targetPsnr: Num; std: Num; stdForEverySample: Num; noiseMultiplier?: Num } | null;
  /** The loss the gradient was taken of (analysis/lossChoice.ts), in words, and the model output it was taken on. */
  loss?: { kind: string; description: string; outputShape: number[] };
  /** Token-id models: every number above is in embedding space (psnr, rmse, i2f, noiseForTarget's target). */
  embedding?: EmbeddingJson;
  /** Token-id models: the tokens an attacker would recover; the risk is graded on `mostExposed.recovered`. */
  tokens?: {
    metric: string; reconstruction: string; mostExposed: { sample: number; recovered: number }; recovered: number; perPosition: number[];
    /** The Gaussian std (and DP-SGD noise multiplier) from which on every sample keeps fewer than `below` of its tokens; std null: none does. */
    noiseForTarget?: { below: number; std: Num; noiseMultiplier?: Num };
  };
  /** The most exposed batch's validity (its batches[] entry has the same object). */
  validity?: ValidityJson;
  batches: BatchJson[];
}

export interface EmbeddingJson {
  note: string;
  tokenInput: string;
  embeddingMatrix: string;
  vocabSize: number;
  embeddingDim: number;
  sequenceLength: number;
}

export interface BatchTokensJson {
  metric: string;
  reconstruction: string;
  /** Fraction of the batch's tokens recovered at their position, per position, per sample. */
  recovered: number;
  perPosition: number[];
  perSample: { sample: number; recovered: number }[];
  ids: number[][];
  nearest: number[][];
  text?: string[];
  recoveredText?: string[];
}

/**
 * How far the batch's numbers hold (engine/validity.ts), as the finding's message says it: the first-order regime,
 * the share of x the gradient determines, the box cap, the raw (uncapped) prediction and the PSNR the risk is graded on.
 */
export interface ValidityJson {
  /** 'first-order': ‖δ‖/‖g‖ within the measured limit; 'extrapolated': beyond it; 'unknown': not recorded (old cache). */
  regime: 'first-order' | 'extrapolated' | 'unknown';
  /** √(‖δ_det‖² + s²·E‖z‖²)/‖g‖. */
  deltaRatio: Num;
  firstOrderLimit: number;
  /** How much of x J Jᵀ determines: 'none' when moving x across the whole box changes g less than g's float32 rounding. */
  determined: Validity['determined'];
  /** Share of d_x determined (with a complete spectrum, or 0 when nothing is). */
  determinedShare?: Num;
  /** The raw prediction is past the box's worst case: psnr/rmse are shown capped at boxFloorPsnr. */
  outOfRange: boolean;
  boxFloorPsnr: Num;
  /** The raw first-order numbers, shown only as such: batch RMSE/PSNR, the most exposed sample's, and the I²F. */
  raw: { rmse: Num; psnr: Num; mostExposedRmse: Num; mostExposedPsnr: Num; i2f: Num };
  /** The PSNR the risk is graded on: the prediction + the attack's measured spread (first-order or outside it). */
  gradedPsnr: Num;
  /** The most exposed sample's PSNR for an attacker that projects the linear estimate onto the data's box. */
  boxProjectedPsnr?: Num;
  /** Share of the noise's predicted error in eigen-directions below 1e-6·λmax (with a complete spectrum). */
  tinyEigenShare?: Num;
  /** λmax's Lanczos residual met its tolerance: only then is the lower bound a certified bound. */
  lowerBoundCertified: boolean;
  lambdaMaxResidual: Num;
  /** Per-example clipping, modelled as a rescaling: C, each example's factor C/‖g_i‖, the noise's scale. */
  clipping?: { clip: Num; factors: Num[]; noiseScale: Num };
}

export function validityJson(v: Validity, rawI2f: number): ValidityJson {
  return {
    regime: Number.isNaN(v.deltaRatio) ? 'unknown' : v.firstOrder ? 'first-order' : 'extrapolated',
    deltaRatio: n(v.deltaRatio),
    firstOrderLimit: FIRST_ORDER_LIMIT,
    determined: v.determined,
    ...(v.determinedShare !== undefined ? { determinedShare: n(v.determinedShare) } : {}),
    outOfRange: v.outOfRange,
    boxFloorPsnr: n(v.boxFloorPsnr),
    raw: { rmse: n(v.rawRmse), psnr: n(v.rawPsnr), mostExposedRmse: n(v.rawMostExposedRmse), mostExposedPsnr: n(v.rawMostExposedPsnr), i2f: n(rawI2f) },
    gradedPsnr: n(v.gradedPsnr),
    ...(v.boxProjectedPsnr !== undefined ? { boxProjectedPsnr: n(v.boxProjectedPsnr) } : {}),
    ...(v.tinyEigenShare !== undefined ? { tinyEigenShare: n(v.tinyEigenShare) } : {}),
    lowerBoundCertified: v.lowerBoundCertified,
    lambdaMaxResidual: n(v.lambdaMaxResidual),
    ...(v.clipping ? { clipping: { clip: n(v.clipping.clip), factors: v.clipping.factors.map(n), noiseScale: n(v.clipping.noiseScale) } } : {}),
  };
}

export interface BatchJson {
  samples: number[];
  labels: number[];
  defense: string[];
  risk: RiskLevel;
  psnr: Num;
  rmse: Num;
  i2f: Num;
  i2fExpected?: Num;
  lowerBound: Num;
  lambdaMax: Num;
  gradientNorm: Num;
  deltaNorm: Num;
  perSample: { sample: number; rmse: Num; psnr: Num }[];
  solver: { method: string; iterations: number; relativeResidual: Num; converged: boolean; damping: Num; budget?: BatchReport['solver']['budget'] };
  spectrum?: { top: Num[]; bottom: Num[]; complete: boolean };
  tokens?: BatchTokensJson;
  validity?: ValidityJson;
}

export interface FindingJson {
  code: string;
  title: string;
  severity: RuleSeverity;
  /** The level it counts at for --fail-on. */
  level: FindingLevel;
  /** At or above failOn. */
  failing: boolean;
  risk?: RiskLevel;
  message: string;
  file: string;
  /** 1-based. */
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
  /** 0-based, as LSP. */
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  documentation: string;
  key?: string;
  /** In a Jupyter notebook: the cell (1-based over all cells, as Jupyter numbers them) and the place in it, 1-based. */
  cell?: { number: number; line: number; column: number; endLine: number; endColumn: number };
}

const n = (x: number | undefined): Num => (typeof x === 'number' && Number.isFinite(x) ? x : null);

export function ruleTitle(code: string): string {
  if (code === LEAKAGE_RULE.code) return LEAKAGE_RULE.title;
  if (code === ANALYSIS_FAILED_RULE.code) return ANALYSIS_FAILED_RULE.title;
  return ruleByCode(code)?.title ?? code;
}

export function findingJson(root: string, f: Finding, failOn: FailOn): FindingJson {
  const { start, end } = f.range;
  return {
    code: f.code,
    title: ruleTitle(f.code),
    severity: f.severity,
    level: findingLevel(f),
    failing: failsAt(f, failOn),
    ...(f.risk ? { risk: f.risk } : {}),
    message: f.message,
    file: relativePosix(root, f.file),
    line: start.line + 1,
    column: start.character + 1,
    endLine: end.line + 1,
    endColumn: end.character + 1,
    range: { start: { line: start.line, character: start.character }, end: { line: end.line, character: end.character } },
    documentation: f.documentation,
    ...(f.key ? { key: f.key } : {}),
    ...(f.cell ? { cell: cellJson(f.cell) } : {}),
  };
}

/** A finding's notebook cell, 1-based (json.ts and sarif.ts). */
export function cellJson(c: NonNullable<Finding['cell']>): NonNullable<FindingJson['cell']> {
  return { number: c.cell, line: c.range.start.line + 1, column: c.range.start.character + 1, endLine: c.range.end.line + 1, endColumn: c.range.end.character + 1 };
}

function batchJson(b: BatchReport): BatchJson {
  return {
    samples: b.samples,
    labels: b.labels,
    defense: b.defense,
    risk: b.risk,
    psnr: n(expectedPsnr(b)),
    rmse: n(expectedRmse(b)),
    i2f: n(b.i2f),
    ...(b.i2fExpected !== undefined ? { i2fExpected: n(b.i2fExpected) } : {}),
    lowerBound: n(b.lowerBound),
    lambdaMax: n(b.lambdaMax),
    gradientNorm: n(b.gradientNorm),
    deltaNorm: n(b.deltaNorm),
    perSample: b.perSample.map((s) => ({ sample: s.sample, rmse: n(s.rmse), psnr: n(s.psnr) })),
    solver: {
      method: b.solver.method, iterations: b.solver.iterations, relativeResidual: n(b.solver.relativeResidual), converged: b.solver.converged, damping: n(b.solver.damping),
      ...(b.solver.budget ? { budget: { ...b.solver.budget } } : {}),
    },
    ...(b.spectrum ? { spectrum: { top: b.spectrum.top.map(n), bottom: b.spectrum.bottom.map(n), complete: b.spectrum.complete } } : {}),
    ...(b.tokens ? { tokens: batchTokensJson(b.tokens) } : {}),
    ...(b.validity ? { validity: validityJson(b.validity, b.i2fExpected ?? b.i2f) } : {}),
  };
}

function tokensJson(t: TokenReport): NonNullable<LeakageJson['tokens']> {
  const nft = t.noiseForTarget;
  return {
    metric: t.metric, reconstruction: t.reconstruction, mostExposed: mostExposedTokens(t), recovered: t.recovered, perPosition: t.perPosition,
    ...(nft ? { noiseForTarget: { below: nft.below, std: n(nft.std), ...(nft.noiseMultiplier !== undefined ? { noiseMultiplier: n(nft.noiseMultiplier) } : {}) } } : {}),
  };
}

function batchTokensJson(t: TokenReport): BatchTokensJson {
  return {
    metric: t.metric, reconstruction: t.reconstruction, recovered: t.recovered, perPosition: t.perPosition, perSample: t.perSample,
    ids: t.ids, nearest: t.nearest,
    ...(t.text ? { text: t.text } : {}),
    ...(t.recoveredText ? { recoveredText: t.recoveredText } : {}),
  };
}

export function leakageJson(report: AnalyzeReport): LeakageJson | undefined {
  const b = worstBatch(report);
  if (!b) return undefined;
  const t = b.noiseForTarget;
  const input = report.model.input;
  return {
    risk: b.risk,
    psnr: n(expectedPsnr(b)),
    rmse: n(expectedRmse(b)),
    i2f: n(b.i2fExpected ?? b.i2f),
    lowerBound: n(b.lowerBound),
    lambdaMax: n(b.lambdaMax),
    mostExposedSample: b.tokens ? mostExposedTokens(b.tokens).sample : b.mostExposed?.sample ?? b.samples[0] ?? null,
    parameters: report.model.parameters,
    batchSize: report.settings.batch,
    data: report.settings.data,
    damping: report.settings.damping,
    noiseForTarget: t ? { targetPsnr: n(t.targetPsnr), std: n(t.std), stdForEverySample: n(t.stdForEverySample), ...(t.noiseMultiplier !== undefined ? { noiseMultiplier: n(t.noiseMultiplier) } : {}) } : null,
    ...(report.settings.lossDescription && report.settings.outputShape
      ? { loss: { kind: report.settings.loss, description: report.settings.lossDescription, outputShape: report.settings.outputShape } }
      : {}),
    ...(input ? { embedding: { note: input.note, tokenInput: input.tokenInput, embeddingMatrix: input.embeddingMatrix, vocabSize: input.vocabSize, embeddingDim: input.embeddingDim, sequenceLength: input.sequenceLength } } : {}),
    ...(b.tokens ? { tokens: tokensJson(b.tokens) } : {}),
    ...(b.validity ? { validity: validityJson(b.validity, b.i2fExpected ?? b.i2f) } : {}),
    batches: report.results.map(batchJson),
  };
}

export function toAuditJson(run: AuditRun): AuditJson {
  const summary = summarise(run);
  return {
    version: AUDIT_JSON_VERSION,
    tool: run.tool,
    createdAt: run.createdAt,
    failOn: run.failOn,
    failed: summary.failing > 0,
    summary,
    roots: run.roots.map((r) => ({
      path: r.root,
      settings: {
        sources: r.settingsSources,
        thresholds: { ...r.settings.thresholds },
        damping: r.settings.damping,
        maxSamples: r.settings.maxSamples,
        targetPsnr: r.settings.targetPsnr,
        maxModelSizeMB: r.settings.maxModelSizeMB,
        ...(r.settings.solveBudgetSeconds > 0 ? { solveBudgetSeconds: r.settings.solveBudgetSeconds } : {}),
      },
      truncated: r.truncated,
      ...(r.notAConfig ? { notAConfig: { file: relativePosix(r.root, r.notAConfig.file), reason: r.notAConfig.reason } } : {}),
      configs: r.configs.map((c): ConfigJson => {
        const leakage = c.report ? leakageJson(c.report) : undefined;
        return {
          file: relativePosix(r.root, c.file),
          status: c.status,
          ...(c.reason ? { reason: c.reason } : {}),
          ...(c.fix ? { fix: c.fix } : {}),
          ...(c.config?.model ? { model: relativePosix(r.root, c.config.model) } : {}),
          ...(c.config ? { modelSource: c.config.modelSource } : {}),
          ...(c.cacheKey ? { cacheKey: c.cacheKey } : {}),
          ...(c.rescaled !== undefined ? { rescaled: c.rescaled } : {}),
          ...(c.ms !== undefined ? { ms: n(Math.round(c.ms)) } : {}),
          ...(leakage ? { leakage } : {}),
          ...(c.privacy ? { privacy: privacyJson(c.privacy) } : {}),
          ...(c.checkpointHistory?.length
            ? { checkpoints: c.checkpointHistory.map((e) => ({ checkpoint: e.checkpoint.split(/[\\/]/).join('/'), ...(e.step !== undefined ? { step: e.step } : {}), psnr: n(e.psnr ?? undefined), lowerBound: n(e.lowerBound ?? undefined), lowerBoundPsnr: n(e.lowerBoundPsnr ?? undefined), risk: e.risk })) }
            : {}),
        };
      }),
      findings: r.configs.flatMap((c) => sortFindings(c.findings).map((f) => findingJson(r.root, f, run.failOn))),
    })),
  };
}

// Re-answers a config from a cached analysis: the Gaussian noise scale, risk thresholds and target PSNR change the
// numbers without a single product (I is linear in δ: I(δ_det + s z) = I(δ_det) + s I(z), engine/influence.ts).

import { analysisPlan, type AnalysisPlan } from '../config/defences';
import { evaluateNoiseScale, noiseForTarget, type NoiseResponse } from '../engine/influence';
import { DEFAULT_RISK_THRESHOLDS, type RiskThresholds } from '../engine/risk';
import type { AnalyzeReport, BatchReport } from './analyzeModel';
import type { TrainingSetup } from '../config/trainingSetup';
import { noiseForTokens, tokenRisk, tokensAtStd } from './tokens';

/** The configured Gaussian noise, as the parts a noise-only edit may change. */
export interface NoiseParams {
  /** Σ std² of absolute Gaussian defences. */
  absoluteVariance: number;
  /** DP-SGD: std on the batch mean = σ·C/B, B the analysed batch. */
  dpsgd?: { clip: number; sigma: number };
}

export interface CachedBatch {
  /** Total Gaussian std the engine used for this batch (includes noise derived from g, e.g. NVFLARE's relative noise). */
  std: number;
  noise: NoiseResponse;
}

export interface CachedAnalysis {
  key: string;
  createdAt: string;
  /** Wall time of the analysis that produced it. */
  ms: number;
  report: AnalyzeReport;
  modelOps: string[];
  batches: CachedBatch[];
  /** The noise configured when it was analysed (to separate it from noise derived from g). */
  noise: NoiseParams;
}

function specNumber(spec: string, key: string): number {
  const m = new RegExp(`[:,]${key}=([^,]+)`).exec(spec);
  return m ? Number(m[1]) : NaN;
}

export function noiseParamsOf(plan: AnalysisPlan): NoiseParams {
  let absoluteVariance = 0;
  let dpsgd: NoiseParams['dpsgd'];
  for (const d of plan.defences) {
    if (d.kind === 'gaussian') absoluteVariance += specNumber(d.spec, 'std') ** 2;
    if (d.kind === 'dpsgd') dpsgd = { clip: specNumber(d.spec, 'clip'), sigma: specNumber(d.spec, 'noise') };
  }
  return { absoluteVariance, ...(dpsgd ? { dpsgd } : {}) };
}

/**
 * The defences with their noise scale removed: two configs with the same structural specs differ only in Gaussian
 * noise, so one analysis answers both. DP-SGD keeps its clipping (it decides the deterministic bias).
 */
export function structuralDefences(plan: AnalysisPlan): string[] {
  return plan.defences.filter((d) => d.kind !== 'gaussian').map((d) => (d.kind === 'dpsgd' ? `dpsgd:clip=${specNumber(d.spec, 'clip')}` : d.spec));
}

/** The configured noise variance as the engine analyses it: DP-SGD's σC/B seen against the clipped gradient (c_max). */
function configuredVariance(p: NoiseParams, batch: number, clipScale = 1): number {
  return p.absoluteVariance + (p.dpsgd ? ((p.dpsgd.sigma * p.dpsgd.clip) / (batch * clipScale)) ** 2 : 0);
}

function clipScaleOf(n: NoiseResponse): number {
  return n.validity?.clipping?.noiseScale ?? 1;
}

export interface Reevaluated {
  report: AnalyzeReport;
  /** The noise std differs from the one analysed: answered by rescaling the cached noise response. */
  rescaled: boolean;
}

/** The report the engine would give for `setup` (same structure, any Gaussian scale, any thresholds and target). */
export function reevaluate(entry: CachedAnalysis, setup: TrainingSetup, thresholds: RiskThresholds, targetPsnr: number): Reevaluated {
  const plan = analysisPlan(setup);
  const live = noiseParamsOf(plan);
  const target = setup.targetPsnr?.value ?? targetPsnr;
  let rescaled = false;
  const results = entry.report.results.map((orig, b): BatchReport => {
    const cached = entry.batches[b];
    if (!cached) return orig;
    const noise: NoiseResponse = { ...cached.noise, thresholds };
    const B = noise.batchSize;
    const c = clipScaleOf(noise);
    const derivedVariance = Math.max(0, cached.std ** 2 - configuredVariance(entry.noise, B, c));
    const std = Math.sqrt(derivedVariance + configuredVariance(live, B, c));
    // A non-finite gradient (NaN/Inf weights) leaves no clipping factor to rescale by: the engine's own answer for the
    // batch stands (it never grades a non-finite result with confidence).
    if (!Number.isFinite(std)) return orig;
    if (Math.abs(std - cached.std) > 1e-12 * Math.max(1, cached.std)) rescaled = true;
    const ev = evaluateNoiseScale(noise, std);
    const dpsgd = live.dpsgd && live.dpsgd.clip > 0
      ? { clip: live.dpsgd.clip, otherStd: Math.sqrt(derivedVariance + live.absoluteVariance), batchSize: B }
      : undefined;
    const nft = noiseForTarget(noise, target, dpsgd);
    const first = orig.samples[0] ?? 0;
    const sample = (s: { index: number; rmse: number; psnr: number }) => ({ sample: first + s.index, rmse: s.rmse, psnr: s.psnr });
    const { i2fExpected: _e, i2fExpectedStdError: _se, band: _band, ...rest } = orig;
    // Text: the tokens at the new std come from each token's nearest-row path along the noise (tokens.ts).
    const tokens = orig.tokens ? { ...tokensAtStd(orig.tokens, std, first) } : undefined;
    if (tokens) {
      // Text: the noise that brings every sample's recovered tokens below the medium threshold (low risk).
      const below = thresholds.mediumTokens ?? DEFAULT_RISK_THRESHOLDS.mediumTokens;
      const s = noiseForTokens(tokens, below);
      tokens.noiseForTarget = { below, std: s, ...(dpsgd && Number.isFinite(s) ? { noiseMultiplier: (Math.sqrt(Math.max(0, s * s - dpsgd.otherStd ** 2)) * dpsgd.batchSize * c) / dpsgd.clip } : {}) };
    }
    return {
      ...rest,
      defense: [...plan.defences.map((d) => d.spec), ...orig.defense.slice(plan.defences.length)],
      jDeltaNorm: ev.jDeltaNorm,
      lowerBound: ev.lowerBound,
      i2f: ev.i2f,
      ...(std > 0 ? { i2fExpected: ev.i2fExpected, i2fExpectedStdError: ev.i2fExpectedStdError } : {}),
      rmse: ev.rmse,
      psnr: ev.psnr,
      expectedRmse: ev.expectedRmse,
      expectedPsnr: ev.expectedPsnr,
      risk: tokens ? tokenRisk(ev.risk, tokens, thresholds) : ev.risk,
      ...(ev.band && !tokens ? { band: ev.band } : {}),
      validity: ev.validity,
      perSample: ev.perSample.map(sample),
      mostExposed: ev.mostExposed ? sample(ev.mostExposed) : null,
      noiseForTarget: nft,
      ...(tokens ? { tokens } : {}),
    };
  });
  return { report: { ...entry.report, results }, rescaled };
}

/** Gaussian std of a batch under the live config (for hovers). */
export function liveStd(entry: CachedAnalysis, setup: TrainingSetup, batch: number): number {
  const cached = entry.batches[batch];
  if (!cached) return 0;
  const B = cached.noise.batchSize;
  const c = clipScaleOf(cached.noise);
  const derived = Math.max(0, cached.std ** 2 - configuredVariance(entry.noise, B, c));
  return Math.sqrt(derived + configuredVariance(noiseParamsOf(analysisPlan(setup)), B, c));
}

// The spectrum page's data: per-batch I²F noise responses, the selected sample's extreme spectrum and leading
// eigen-directions (Lanczos Ritz vectors), and the projections that say where the defence puts its energy.
// computeSpectrumState runs the products (a worker's job); spectrumView / noiseView only re-read its numbers.

import { UserError } from '../errors';
import type { SessionSettings } from '../backends/onnx/onnxOperator';
import { describeDefence, quantile, type DefenceModel } from '../engine/defences';
import { analyzeInfluence, evaluateNoiseScale, noiseForTarget, type NoiseResponse } from '../engine/influence';
import { lanczos } from '../engine/lanczos';
import { dot } from '../engine/linalg';
import type { InversionOperator } from '../engine/operator';
import { deriveSeed } from '../engine/random';
import type { RiskThresholds } from '../engine/risk';
import type {
  ClassView, DirectionView, ImageLayout, NoiseView, SampleView, SpectrumSummary, SpectrumView,
} from '../webviewProtocol';
import { openRun } from './analyzeModel';
import { backendOf, batchOperator, type Backend } from './batchOperator';
import { batchTargets, type LossSetting } from './lossChoice';
import { tokenRisk, tokenSamples, tokensAtStd, type TokenReport } from './tokens';
import { privacyAtStd, privacyFrontier, type SpectrumPrivacy } from './privacyFrontier';

export const DEFAULT_SPECTRUM_K = 8;
/** The slider's maximum when no target is known: this multiple of the configured std (or of a unit-scale guess). */
const STD_MAX_FACTOR = 10;
/** PSNR the slider's maximum reaches when it can be solved for: well below every risk threshold. */
const SAFE_PSNR = 5;

export interface SpectrumRequest {
  /** The config the page belongs to (echoed in the view). */
  config: string;
  model: string;
  weights?: string;
  data?: string;
  labels?: string | number[];
  batch?: number;
  defences: string[];
  relativeGaussian?: { sigma0: number; percentile: number }[];
  delta?: string;
  damping: number;
  seed: number;
  loss: LossSetting;
  maxSamples?: number;
  syntheticSamples?: number;
  maxModelBytes?: number;
  thresholds?: RiskThresholds;
  tolerance?: number;
  session?: SessionSettings;
  /** The engine that runs the products (i2f.backend; default onnx), as analyzeModel. */
  backend?: Backend;
  /** Sample to show (its batch gets the spectrum and the Ritz vectors). */
  sample?: number;
  /** Directions at each end (default 8). */
  k?: number;
  /** Lanczos steps (default max(4k, 100), capped at d_x: the same as the engine's extremeSpectrum). */
  steps?: number;
  /** Noise std to show first (default: the configured one). */
  std?: number;
}

/** A NoiseResponse with plain arrays, so the state crosses process boundaries (JSON) and sits in a cache file. */
export interface NoiseResponseJson extends Omit<NoiseResponse, 'influenceDeterministic' | 'influenceNoise' | 'perSampleNoiseTrace'> {
  influenceDeterministic: number[] | null;
  influenceNoise: number[] | null;
  perSampleNoiseTrace: number[] | null;
}

/** Everything needed to answer any noise std without a product: the server keeps it by `view.key`. */
export interface SpectrumState {
  view: Omit<SpectrumView, 'noise' | 'privacy'>;
  /** Set by the server from the config's DP account: the page's privacy–PSNR frontier (privacyFrontier.ts). */
  privacy?: SpectrumPrivacy;
  batches: { first: number; size: number; cache: NoiseResponseJson; tokens?: TokenReport }[];
  /** The shown sample: its batch, position in it, and its slice of the batch vectors. */
  selected: {
    batch: number;
    offset: number;
    per: number;
    x0: number[];
    /** u_i·I(δ_det) and u_i·I(z) for the top directions. */
    projDeterministic: number[];
    projNoise: number[];
  };
}

export interface SpectrumHooks {
  signal?: AbortSignal;
  onProgress?: (stage: string, fraction: number) => void;
}

/** Runs the analysis behind the spectrum page: every batch's noise response plus the shown batch's spectrum. */
export async function computeSpectrumState(req: SpectrumRequest, hooks: SpectrumHooks = {}): Promise<SpectrumState> {
  const k = Math.max(1, Math.floor(req.k ?? DEFAULT_SPECTRUM_K));
  // Token-id models: the page is in embedding space, on the per-batch split model (tokens.ts), as `i2f analyze`.
  const tokens = tokenSamples(req.data, req.syntheticSamples, req.seed);
  const { defences, model, batch, samples, per, labelsGiven, delta } = await openRun(req, tokens.samplesOf);
  const text = tokens.session();
  const sampleDims = text ? text.sampleDims : model.sampleDims;
  const sample = req.sample ?? 0;
  if (!(Number.isInteger(sample) && sample >= 0 && sample < samples.count)) {
    throw new UserError('bad-sample', `sample ${sample} does not exist: the config gives ${samples.count} sample(s) (0–${samples.count - 1})`);
  }
  const batches = Math.ceil(samples.count / batch);
  const out: SpectrumState['batches'] = [];
  const labels: number[] = [];
  let selected: SpectrumState['selected'] | undefined;
  let spectrum: SpectrumSummary | undefined;
  let directions: DirectionView[] = [];
  let directionImages: number[][] = [];
  let defenceNames: string[] = defences.map(describeDefence);
  let configuredStd = 0;

  for (let b = 0; b < batches; b++) {
    const first = b * batch;
    const size = Math.min(batch, samples.count - first);
    const x = samples.data.subarray(first * per, (first + size) * per);
    const bm = text ? text.modelFor(first, size) : model;
    const predicted = await bm.predict(x, size, req.session);
    const { labels: batchLabels, target, loss } = batchTargets(req.loss, bm, predicted.logits, size, labelsGiven?.slice(first, first + size));
    labels.push(...batchLabels);
    const op = await batchOperator(backendOf(req), req.model, bm, { batch: size, input: x, target, loss, session: req.session });
    const shown = sample >= first && sample < first + size;
    try {
      const batchDefences = req.relativeGaussian?.length ? [...defences, ...(await relativeDefences(op, req.relativeGaussian))] : defences;
      const progress = (stage: string, f: number) => hooks.onProgress?.(batches > 1 ? `batch ${b + 1}/${batches}: ${stage}` : stage, f);
      // The same options analyzeModel passes (so the numbers equal the diagnostics'), plus a noise response.
      const r = await analyzeInfluence(op, {
        defences: batchDefences,
        delta: delta?.(op.parameters, op.parameterCount),
        damping: req.damping,
        tolerance: req.tolerance,
        spectrumK: shown ? k : 0,
        spectrumSteps: req.steps,
        seed: req.seed,
        dataRange: samples.range,
        batchSize: size,
        thresholds: req.thresholds,
        productRoundoff: 2 ** -24,
        noiseResponse: true,
        signal: hooks.signal,
        onProgress: progress,
      });
      out.push({ first, size, cache: noiseResponseToJson(r.cache), ...(text ? { tokens: text.recovery(first, size, x, r) } : {}) });
      if (!shown) continue;
      defenceNames = batchDefences.map(describeDefence);
      configuredStd = r.noise.std;

      // The Ritz vectors of the same Lanczos run extremeSpectrum made (same seed and steps: same Ritz values).
      const n = op.inputSize;
      const steps = Math.min(n, req.steps ?? Math.max(4 * k, 100));
      const lz = await lanczos((v, o) => op.gramVector(v, o), n, {
        steps, seed: deriveSeed(req.seed, 3), ritzVectors: k, signal: hooks.signal,
        onProgress: (i, m) => progress('eigen-directions', i / m),
      });
      const sp = r.spectrum!;
      const eps = r.solver.damping;
      const iDet = r.cache.influenceDeterministic;
      const iNoise = r.cache.influenceNoise;
      const projDeterministic = lz.vectors.map((u) => (iDet ? dot(u, iDet) : 0));
      const projNoise = lz.vectors.map((u) => (iNoise ? dot(u, iNoise) : 0));
      const lambdaMin = sp.bottom[0];
      const jDetSq = r.cache.jDeterministicNormSq;
      // J δ_det along u_i is (λ_i + ε)·u_i·I(δ_det): I = (J Jᵀ + εI)⁻¹ J δ is diagonal in the eigenbasis.
      const captured = lz.vectors.reduce((a, _, i) => a + ((lz.values[i] + eps) * projDeterministic[i]) ** 2, 0);
      spectrum = {
        top: sp.top, topResiduals: sp.topResiduals, bottom: sp.bottom, bottomResiduals: sp.bottomResiduals,
        lambdaMax: r.lambdaMax.value, lambdaMin, condition: lambdaMin > 0 ? r.lambdaMax.value / lambdaMin : Infinity,
        damping: eps, steps: sp.steps, complete: sp.complete, inputSize: n,
        jDeltaNorm: Math.sqrt(jDetSq), jDeltaShareTopK: jDetSq > 0 ? Math.min(1, captured / jDetSq) : 0,
      };
      directions = lz.vectors.map((_, i) => {
        const lambda = lz.values[i];
        const sigma = Math.sqrt(Math.max(0, lambda));
        return {
          index: i, lambda, sigma, residual: lz.residuals[i],
          costPerUnitNoise: lambda + eps > 0 ? sigma / (lambda + eps) : Infinity,
          deterministicError: projDeterministic[i], noiseErrorPerStd: projNoise[i],
        };
      });
      const offset = sample - first;
      directionImages = lz.vectors.map((u) => Array.from(u.subarray(offset * per, (offset + 1) * per)));
      selected = {
        batch: b, offset, per, x0: Array.from(x.subarray(offset * per, (offset + 1) * per)),
        projDeterministic, projNoise,
      };
    } finally {
      await op.dispose();
    }
  }
  if (!selected || !spectrum) throw new Error('spectrum: the shown sample was not analysed');

  const shownCache = out[selected.batch].cache;
  const image = text ? null : imageLayout(sampleDims, selected.x0, samples.range);
  const stdMax = sliderMaximum(out[selected.batch].cache, configuredStd);
  const view: SpectrumState['view'] = {
    key: '',
    config: req.config,
    model: req.model,
    defences: defenceNames,
    settings: {
      sample, samples: samples.count, k, damping: spectrum.damping, configuredStd, stdMax,
      dataRange: shownCache.dataRange, batch, seed: req.seed, backend: backendOf(req),
    },
    spectrum,
    directions,
    labels,
    input: {
      dims: sampleDims, image,
      ...(text ? { embedding: { note: text.modelInfo.note, tokens: text.modelInfo.sequenceLength, dim: text.modelInfo.embeddingDim } } : {}),
    },
    ...(image ? { images: { original: selected.x0, directions: directionImages } } : {}),
  };
  const state: SpectrumState = { view, batches: out, selected };
  state.view.key = spectrumKey(req, k, sample);
  return state;
}

/** The full page data at a noise std (default: the one the request asked for, else the configured one). */
export function spectrumView(state: SpectrumState, std = state.view.settings.configuredStd): SpectrumView {
  const privacy = state.privacy
    ? privacyFrontier(state.privacy, state.batches.map((b) => noiseResponseFromJson(b.cache)), state.view.settings.stdMax)
    : undefined;
  return { ...state.view, noise: noiseView(state, std), ...(privacy ? { privacy } : {}) };
}

/**
 * Everything that depends on the Gaussian std, from the cached responses alone: I(δ_det + s z) = I(δ_det) + s I(z)
 * and E‖I‖² = ‖I(δ_det)‖² + s²T (I2F.md), per batch for the per-sample bars, per direction for the energy plot.
 */
export function noiseView(state: SpectrumState, std: number): NoiseView {
  if (!(std >= 0) || !Number.isFinite(std)) throw new RangeError(`noise std must be a finite number ≥ 0, got ${std}`);
  const labels = state.view.labels;
  const perSample: SampleView[] = [];
  let shown: ReturnType<typeof evaluateNoiseScale> | undefined;
  let worstPsnr = -Infinity;
  for (const [b, entry] of state.batches.entries()) {
    const e = evaluateNoiseScale(noiseResponseFromJson(entry.cache), std);
    worstPsnr = Math.max(worstPsnr, e.expectedPsnr);
    for (const s of e.perSample) perSample.push({ sample: entry.first + s.index, label: labels[entry.first + s.index], rmse: s.rmse, psnr: s.psnr });
    if (b === state.selected.batch) shown = e;
  }
  const e = shown!;
  const { directions, settings } = state.view;
  const eps = settings.damping;
  const { projDeterministic: pd, projNoise: pn } = state.selected;
  const errorAlong = directions.map((_, i) => pd[i] + std * pn[i]);
  const deltaAlong = directions.map((d, i) => (d.sigma > 0 ? ((d.lambda + eps) * errorAlong[i]) / d.sigma : 0));
  const expectedErrorAlong = directions.map((d, i) => Math.sqrt(pd[i] ** 2 + (std * d.costPerUnitNoise) ** 2));
  const view: NoiseView = {
    std, i2f: e.i2f, i2fExpected: e.i2fExpected, rmse: e.rmse, psnr: e.psnr, expectedRmse: e.expectedRmse, expectedPsnr: e.expectedPsnr,
    lowerBound: e.lowerBound, jDeltaNorm: e.jDeltaNorm, risk: e.risk, converged: state.batches.every((b) => b.cache.converged),
    perSample, perClass: perClass(perSample), mostExposed: mostExposedSample(perSample),
    deltaAlong, errorAlong, expectedErrorAlong,
  };
  if (state.view.input.image) view.reconstruction = reconstruction(state, std);
  // The frontier's point at this std: the most exposed batch's PSNR, as the frontier's curve (privacyFrontier.ts).
  if (state.privacy) view.privacy = { ...privacyAtStd(state.privacy, std), psnr: Number.isFinite(worstPsnr) ? worstPsnr : null };
  const shownTokens = state.batches[state.selected.batch].tokens;
  if (shownTokens) {
    // Text: tokens at this std from each token's nearest-row path (no product), and the risk graded on them.
    const at = state.batches.map((b) => tokensAtStd(b.tokens!, std, b.first));
    const t = at[state.selected.batch];
    const o = state.selected.offset;
    view.risk = tokenRisk(e.risk, t, state.batches[state.selected.batch].cache.thresholds);
    const perSampleTokens = at.flatMap((b) => b.perSample);
    view.tokens = {
      metric: t.metric,
      recovered: perSampleTokens.reduce((a, p) => a + p.recovered, 0) / Math.max(1, perSampleTokens.length),
      perSample: perSampleTokens,
      shown: {
        sample: t.perSample[o].sample, recovered: t.perSample[o].recovered,
        perPosition: t.ids[o].map((id, j) => (t.nearest[o][j] === id ? 1 : 0)),
        ids: t.ids[o], nearest: t.nearest[o],
        ...(t.text ? { text: t.text[o] } : {}), ...(t.recoveredText ? { recoveredText: t.recoveredText[o] } : {}),
      },
    };
  }
  return view;
}

/** x0 + I(δ_det + s z) restricted to the shown sample: the linearised attacker's picture (I2F.md). */
function reconstruction(state: SpectrumState, std: number): number[] {
  const { batch, offset, per, x0 } = state.selected;
  const c = state.batches[batch].cache;
  const from = offset * per;
  return x0.map((v, i) => v + (c.influenceDeterministic ? c.influenceDeterministic[from + i] : 0) + (c.influenceNoise && std > 0 ? std * c.influenceNoise[from + i] : 0));
}

/** Per class: how many samples, and the spread of their PSNR (unfairness shows as a wide class or a high max). */
export function perClass(samples: readonly SampleView[]): ClassView[] {
  const groups = new Map<number, SampleView[]>();
  for (const s of samples) groups.set(s.label, [...(groups.get(s.label) ?? []), s]);
  return [...groups.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([label, xs]) => ({
      label, count: xs.length,
      meanPsnr: xs.reduce((a, s) => a + s.psnr, 0) / xs.length,
      maxPsnr: Math.max(...xs.map((s) => s.psnr)),
      minPsnr: Math.min(...xs.map((s) => s.psnr)),
    }));
}

/** Highest PSNR (lowest RMSE) wins: the sample the attacker rebuilds best (metrics.ts mostExposed). */
function mostExposedSample(samples: readonly SampleView[]): SampleView | null {
  let best: SampleView | null = null;
  for (const s of samples) if (!best || s.rmse < best.rmse) best = s;
  return best;
}

/** An input the page may draw: C×H×W with C ∈ {1, 3} (also H×W), at least 4×4. */
export function imageLayout(dims: readonly number[], x0: readonly number[], range: number): ImageLayout | null {
  const [c, h, w] = dims.length === 3 ? dims : dims.length === 2 ? [1, dims[0], dims[1]] : [0, 0, 0];
  if (!(c === 1 || c === 3) || h < 4 || w < 4) return null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x0) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  // Images in [0, 1] (range 1) keep that scale, so a dark picture stays dark; other data uses its own span.
  if (range === 1 && lo >= 0 && hi <= 1) return { channels: c, height: h, width: w, lo: 0, hi: 1 };
  return { channels: c, height: h, width: w, lo, hi: hi > lo ? hi : lo + range };
}

/** The std that brings the shown batch to SAFE_PSNR, else a multiple of the configured one. */
function sliderMaximum(cache: NoiseResponseJson, configured: number): number {
  const t = noiseForTarget(noiseResponseFromJson(cache), SAFE_PSNR);
  const candidates = [configured * STD_MAX_FACTOR, t && Number.isFinite(t.std) ? t.std * 1.5 : 0].filter((x) => x > 0);
  return candidates.length ? Math.max(...candidates) : 1;
}

function spectrumKey(req: SpectrumRequest, k: number, sample: number): string {
  // The engine is part of the key only when it is not the default (a tfjs state never answers for an onnx page).
  const parts = [req.config, req.model, req.weights ?? '', req.data ?? '', req.defences.join(';'), req.damping, req.seed, req.batch ?? 1, k, sample, req.steps ?? '',
    ...(backendOf(req) === 'onnx' ? [] : [backendOf(req)])];
  let h = 2166136261;
  for (const ch of parts.join('|')) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return `spectrum-${h.toString(16)}-${sample}-${k}`;
}

async function relativeDefences(op: InversionOperator, specs: { sigma0: number; percentile: number }[]): Promise<DefenceModel[]> {
  const g = new Float64Array(op.parameterCount);
  await op.gradient(g);
  const magnitudes = g.map(Math.abs);
  return specs.map((r) => ({ kind: 'gaussian', std: r.sigma0 * quantile(magnitudes, r.percentile / 100) }));
}

export function noiseResponseToJson(c: NoiseResponse): NoiseResponseJson {
  const arr = (a: Float64Array | null) => (a ? Array.from(a) : null);
  return { ...c, influenceDeterministic: arr(c.influenceDeterministic), influenceNoise: arr(c.influenceNoise), perSampleNoiseTrace: arr(c.perSampleNoiseTrace) };
}

export function noiseResponseFromJson(c: NoiseResponseJson): NoiseResponse {
  const arr = (a: number[] | null) => (a ? Float64Array.from(a) : null);
  return { ...c, influenceDeterministic: arr(c.influenceDeterministic), influenceNoise: arr(c.influenceNoise), perSampleNoiseTrace: arr(c.perSampleNoiseTrace) };
}

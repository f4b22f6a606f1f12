// One `i2f analyze` run: open the model, assemble batches of samples and labels, run the engine's I²F analysis
// per batch on the ONNX backend, and report it in the JSON shape the CLI contract fixes (README, "CLI").

import { UserError } from '../errors';
import { exportedThetaNote } from './exportedTheta';
import { OnnxModel } from '../backends/onnx/onnxModel';
import { modelFileFormat } from '../backends/modelFile';
import { unavailableProviders, type SessionSettings } from '../backends/onnx/onnxOperator';
import { describeDefence, parseDefences, quantile, type DefenceModel } from '../engine/defences';
import type { InversionOperator } from '../engine/operator';
import { analyzeInfluence, type InfluenceResult, type InfluenceStage, type ProvisionalInfluence } from '../engine/influence';
import type { ResultBand } from '../engine/resultBand';
import { describeSolveProgress, type Clock } from '../engine/budget';
import type { RiskLevel, RiskThresholds } from '../engine/risk';
import type { Validity } from '../engine/validity';
import { readSafetensors } from '../formats/safetensors';
import { backendOf, batchOperator } from './batchOperator';
import { crossCheck, type CrossCheckResult } from '../backends/tfjs/crossCheck';
import { loadSamples, parseLabels, type Samples } from './inputs';
import { batchTargets, describeLoss, type LossSetting } from './lossChoice';
import type { LossKind } from '../backends/onnx/derivatives/productGraphs';
import { tokenRisk, tokenSamples, type TokenModelInfo, type TokenReport } from './tokens';

export interface AnalyzeRequest {
  model: string;
  weights?: string;
  data?: string;
  /** Comma list or .npy path; default: the model's own predictions. */
  labels?: string | number[];
  /** Examples per batch (default 1: a single client example, the most exposed case). */
  batch?: number;
  /** Defence specs, applied in order ('gaussian:std=S', 'dpsgd:clip=C,noise=SIGMA', …). */
  defences: string[];
  /** Explicit δ: safetensors keyed by parameter name. */
  delta?: string;
  damping: number;
  spectrumK: number;
  seed: number;
  /** The training loss ('auto': binary cross-entropy for one output per example or a final Sigmoid, else cross-entropy). */
  loss: LossSetting;
  tolerance?: number;
  maxIterations?: number;
  targetPsnr?: number;
  thresholds?: RiskThresholds;
  /** Solves for the stochastic estimate of E‖I(z)‖² (engine default 4; the seeded draw is one of them). */
  traceSamples?: number;
  /** Number of samples to analyse when no --data is given (default: one batch). */
  syntheticSamples?: number;
  /** At most this many samples of --data are analysed (default: all). */
  maxSamples?: number;
  /**
   * NVFLARE GaussianPrivacy-style noise whose std is relative to the update: std = sigma0 × the `percentile`-th
   * percentile of |g| (computed from each batch's own gradient).
   */
  relativeGaussian?: { sigma0: number; percentile: number }[];
  maxModelBytes?: number;
  session?: SessionSettings;
  /** Engine for the products: the ONNX derivative graphs (default) or nested autodiff in TensorFlow.js. */
  backend?: 'onnx' | 'tfjs';
  /** Also run the other engine per batch and report the largest relative disagreement of g, J u, Jᵀ v. */
  crossCheck?: boolean;
  /** Wall seconds the I²F solves of each batch may take (undefined or 0: no limit; `--budget`, i2f.solveBudgetSeconds). */
  solveBudgetSeconds?: number;
}

export interface BatchReport {
  samples: number[];
  labels: number[];
  defense: string[];
  loss: number;
  gradientNorm: number;
  deltaNorm: number;
  jDeltaNorm: number;
  lambdaMax: number;
  lowerBound: number;
  i2f: number;
  /** Root-mean-square I²F over Gaussian draws (present when a defence adds Gaussian noise). */
  i2fExpected?: number;
  i2fExpectedStdError?: number;
  rmse: number;
  psnr: number;
  expectedRmse: number;
  expectedPsnr: number;
  risk: RiskLevel;
  /**
   * A solve the budget stopped: the band its iterates put the I²F in, graded at both ends (engine/resultBand.ts); the
   * risk is the conservative end's, and the other numbers are that end's too.
   */
  band?: ResultBand;
  /**
   * How far the first-order numbers hold (engine/validity.ts): ‖δ‖/‖g‖ against the measured regime, the raw RMSE
   * before the box cap, the share of x the gradient determines, whether the lower bound is certified, clipping.
   */
  validity?: Validity;
  perSample: { sample: number; rmse: number; psnr: number }[];
  mostExposed: { sample: number; rmse: number; psnr: number } | null;
  noiseForTarget?: { targetPsnr: number; std: number; stdForEverySample: number; noiseMultiplier?: number } | null;
  solver: {
    method: string; iterations: number; relativeResidual: number; converged: boolean; damping: number;
    /** Present when a solve budget was set: whether it ran out, and then the time the solve still needed. */
    budget?: { seconds: number; spentSeconds: number; exhausted: boolean; estimatedSecondsLeft?: number };
  };
  spectrum?: { top: number[]; bottom: number[]; bottomResiduals: number[]; steps: number; complete: boolean };
  timing: Record<string, number>;
  crossCheck?: CrossCheckResult;
  /** Token-id models: tokens an attacker recovers from x0 + I(δ) (nearest embedding row). */
  tokens?: TokenReport;
}

export interface AnalyzeReport {
  model: {
    path: string; format: 'onnx' | 'tfjs'; parameters: number; inputShape: number[]; backend: 'onnx' | 'tfjs'; theta: string[]; weights?: string; input?: TokenModelInfo;
    /** A model the catalogue wrote: what it is and whether it ran at initialisation (`i2f analyze resnet18 --dataset cifar10`). */
    description?: string;
    /** I2F124: θ renamed by the exporter (BatchNorm folded), with how to re-export (exportedTheta.ts). */
    exportNote?: string;
    /** Execution providers asked for, and those that could not load here (the products then ran on the CPU). */
    executionProviders?: { requested: string[]; unavailable: Record<string, string> };
  };
  settings: {
    damping: number; tolerance: number; seed: number;
    /** The loss analysed (a request's 'auto' resolved: lossChoice.ts). */
    loss: LossKind;
    /** It in words, with the output it is taken on: "binary cross-entropy (torch BCELoss on …), 1 output per example". */
    lossDescription?: string;
    /** The model's output for one batch, [B, …]: what the loss is taken on. */
    outputShape?: number[];
    batch: number; data: string; dataRange: number;
  };
  results: BatchReport[];
}

export interface AnalyzeHooks {
  onProgress?: (stage: string, fraction: number) => void;
  signal?: AbortSignal;
  /** Each batch's full engine result, e.g. for the language server's cache of noise responses (evaluateNoiseScale). */
  onInfluence?: (batchIndex: number, result: InfluenceResult) => void;
  /** The provisional answer while a batch's solves run (engine/influence.ts onBand); not for text models. */
  onBand?: (band: ProvisionalBand) => void;
  /** Clock of the solve budget (default performance.now): tests inject a deterministic one (worker.ts). */
  clock?: Clock;
}

/** The provisional answer as the editor shows it: small and plain (it crosses the worker's IPC channel). */
export interface ProvisionalBand {
  /** Batch index and count (the worst batch decides the finding; bands come from the one running). */
  batch: number;
  batches: number;
  stage: InfluenceStage;
  iteration: number;
  /** λmax, or while its Lanczos still runs (lambdaMaxRunning) its top Ritz value so far: λmax ≥ it. */
  lambdaMax: number;
  /** I_lb = ‖J δ‖/(λmax + ε); 0 (none claimed) while λmax's Lanczos runs. */
  lowerBound: number;
  /** λmax's Lanczos still runs alongside the solves (engine/influence.ts lambdaMaxAlongside): its steps so far. */
  lambdaMaxRunning?: { step: number };
  /** The I²F band is of the expected error over the noise. */
  expected: boolean;
  band: ResultBand;
}

export function provisionalBand(p: ProvisionalInfluence, batch: number, batches: number): ProvisionalBand {
  return {
    batch, batches, stage: p.stage, iteration: p.iteration, lambdaMax: p.lambdaMax, lowerBound: p.lowerBound,
    ...(p.lambdaMaxRunning ? { lambdaMaxRunning: { step: p.lambdaMaxRunning.step } } : {}),
    expected: p.evaluation.std > 0, band: p.evaluation.band,
  };
}

const DEFAULT_TOLERANCE = 1e-6;

/** What every run over a model's batches (analysis, spectrum, attack) reads from its request. */
export type RunRequest = Pick<AnalyzeRequest,
  'model' | 'weights' | 'maxModelBytes' | 'defences' | 'batch' | 'data' | 'syntheticSamples' | 'seed' | 'maxSamples' | 'labels' | 'delta'>;

export interface RunInputs {
  defences: DefenceModel[];
  model: OnnxModel;
  batch: number;
  samples: Samples;
  /** Values per sample (the model's input size, or embedding size × tokens for text models). */
  per: number;
  labelsGiven?: number[];
  delta?: Awaited<ReturnType<typeof readDelta>>;
}

/**
 * Opens a run: parses the defences, opens the model (with its weights), loads the samples (at most maxSamples), the
 * labels and an explicit δ, checking they fit together. `samplesOf` may supply the samples instead (text models
 * analysed in embedding space); without it, or when it gives none, they come from loadSamples.
 */
export async function openRun(req: RunRequest, samplesOf?: (model: OnnxModel, batch: number) => Promise<{ samples: Samples; per: number } | undefined>): Promise<RunInputs> {
  const defences = parseDefences(req.defences);
  const model = await OnnxModel.open(req.model, { weights: req.weights, maxBytes: req.maxModelBytes });
  const batch = req.batch ?? 1;
  const own = await samplesOf?.(model, batch);
  const per = own ? own.per : model.sampleSize;
  const all = own ? own.samples : await loadSamples(model, req.data, req.syntheticSamples ?? batch, req.seed);
  const samples = limitSamples(all, req.maxSamples, per);
  const labelsAll = Array.isArray(req.labels) ? req.labels : await parseLabels(req.labels);
  // Labels name either every sample of the data (a labels file beside it: maxSamples keeps the first ones' labels)
  // or exactly the samples kept.
  if (labelsAll && labelsAll.length !== all.count && labelsAll.length !== samples.count) {
    throw new UserError('bad-labels', `${labelsAll.length} labels for ${all.count === samples.count ? '' : `the first ${samples.count} of `}${all.count} samples`);
  }
  const labelsGiven = labelsAll?.slice(0, samples.count);
  const delta = req.delta ? await readDelta(req.delta, model) : undefined;
  return { defences, model, batch, samples, per, labelsGiven, delta };
}

export async function analyzeModel(req: AnalyzeRequest, hooks: AnalyzeHooks = {}): Promise<AnalyzeReport> {
  // Token-id models run in embedding space, one split model per batch (tokens.ts).
  const tokenRun = tokenSamples(req.data, req.syntheticSamples, req.seed);
  const { defences, model, batch, samples, per, labelsGiven, delta } = await openRun(req, tokenRun.samplesOf);
  const text = tokenRun.session();
  const tolerance = req.tolerance ?? DEFAULT_TOLERANCE;
  const results: BatchReport[] = [];
  const batches = Math.ceil(samples.count / batch);
  let analysed: { loss: LossKind; lossDescription: string; outputShape: number[] } | undefined;

  for (let k = 0; k < batches; k++) {
    const first = k * batch;
    const size = Math.min(batch, samples.count - first);
    const x = samples.data.subarray(first * per, (first + size) * per);
    const bm = text ? text.modelFor(first, size) : model;
    const predicted = await bm.predict(x, size, req.session);
    const targets = batchTargets(req.loss, bm, predicted.logits, size, labelsGiven?.slice(first, first + size));
    const { labels, target, loss } = targets;
    analysed ??= { loss, lossDescription: describeLoss(targets), outputShape: predicted.dims };
    const problem = { batch: size, input: x, target, loss, session: req.session };
    const backend = backendOf(req);
    const op = await batchOperator(backend, req.model, bm, problem);
    const t0 = performance.now();
    let solveNote = '';
    let agreement: CrossCheckResult | undefined;
    try {
      if (req.crossCheck) {
        const other = await batchOperator(backend === 'tfjs' ? 'onnx' : 'tfjs', req.model, bm, problem);
        try {
          agreement = backend === 'tfjs' ? await crossCheck(op, other, req.seed) : await crossCheck(other, op, req.seed);
        } finally {
          await other.dispose();
        }
      }
      const batchDefences = req.relativeGaussian?.length ? [...defences, ...(await relativeDefences(op, req.relativeGaussian))] : defences;
      const r = await analyzeInfluence(op, {
        defences: batchDefences,
        delta: delta?.(op.parameters, op.parameterCount),
        damping: req.damping,
        tolerance,
        maxIterations: req.maxIterations,
        spectrumK: req.spectrumK,
        seed: req.seed,
        dataRange: samples.range,
        ...(samples.lo !== undefined && !text ? { box: { lo: samples.lo, x0: x } } : {}),
        batchSize: size,
        targetPsnr: req.targetPsnr,
        ...(req.traceSamples !== undefined ? { traceSamples: req.traceSamples } : {}),
        thresholds: req.thresholds,
        productRoundoff: 2 ** -24,
        signal: hooks.signal,
        ...(req.solveBudgetSeconds ? { solveBudgetSeconds: req.solveBudgetSeconds } : {}),
        ...(hooks.clock ? { clock: hooks.clock } : {}),
        // A solve's label carries its iteration, residual and time left: "solve-noise: iteration 40, residual …, ~3 min left".
        onSolveProgress: (_stage, p, budget) => { solveNote = describeSolveProgress(p, budget); },
        // Text models are graded on tokens (tokens.ts), which a norm band does not give: no provisional answer.
        ...(hooks.onBand && !text ? { onBand: (p: ProvisionalInfluence) => hooks.onBand!(provisionalBand(p, k, batches)) } : {}),
        onProgress: (stage: InfluenceStage, f: number) => {
          if (f === 0) solveNote = '';
          const label = solveNote && f < 1 ? `${stage}: ${solveNote}` : stage;
          hooks.onProgress?.(batches > 1 ? `batch ${k + 1}/${batches}: ${label}` : label, f);
        },
      });
      hooks.onInfluence?.(k, r);
      const tokens = text?.recovery(first, size, x, r);
      const report = batchReport(r, first, labels, batchDefences.map(describeDefence), performance.now() - t0);
      // Text models are graded on the tokens an attacker recovers, not on embedding-space PSNR (risk.ts).
      if (tokens) report.risk = tokenRisk(report.risk, tokens, req.thresholds);
      results.push({ ...report, ...(agreement ? { crossCheck: agreement } : {}), ...(tokens ? { tokens } : {}) });
    } finally {
      await op.dispose();
    }
  }
  const exportNote = exportedThetaNote(model.trainable, model.model.graph.nodes.map((n) => n.opType));
  return {
    model: {
      path: req.model,
      format: modelFileFormat(req.model),
      parameters: model.parameterCount,
      inputShape: text ? [batch, ...text.info.tokenDims, text.info.dim] : [batch, ...model.sampleDims],
      backend: backendOf(req),
      theta: model.trainable,
      ...(exportNote ? { exportNote } : {}),
      ...(req.weights ? { weights: req.weights } : {}),
      ...(text ? { input: text.modelInfo } : {}),
      ...(req.session?.executionProviders
        ? { executionProviders: { requested: req.session.executionProviders, unavailable: Object.fromEntries([...unavailableProviders].filter(([p]) => req.session!.executionProviders!.includes(p))) } }
        : {}),
    },
    settings: {
      damping: req.damping, tolerance, seed: req.seed, loss: analysed?.loss ?? (req.loss === 'auto' ? 'cross-entropy' : req.loss),
      ...(analysed ? { lossDescription: analysed.lossDescription, outputShape: analysed.outputShape } : {}),
      batch, data: samples.source, dataRange: samples.range,
    },
    results,
  };
}

function batchReport(r: InfluenceResult, first: number, labels: number[], defense: string[], totalMs: number): BatchReport {
  const sample = (s: { index: number; rmse: number; psnr: number }) => ({ sample: first + s.index, rmse: s.rmse, psnr: s.psnr });
  const gaussian = r.noise.std > 0;
  const timing: Record<string, number> = {};
  for (const [k, v] of Object.entries(r.timing)) if (v !== undefined) timing[k] = round(v);
  timing.total = round(totalMs);
  return {
    samples: labels.map((_, i) => first + i),
    labels,
    defense,
    loss: r.loss,
    gradientNorm: r.gradientNorm,
    deltaNorm: r.deltaNorm,
    jDeltaNorm: r.jDeltaNorm,
    lambdaMax: r.lambdaMax.value,
    lowerBound: r.lowerBound,
    i2f: r.i2f,
    ...(gaussian ? { i2fExpected: r.i2fExpected, i2fExpectedStdError: r.i2fExpectedStdError } : {}),
    rmse: r.rmse,
    psnr: r.psnr,
    expectedRmse: r.expectedRmse,
    expectedPsnr: r.expectedPsnr,
    risk: r.risk,
    ...(r.band ? { band: r.band } : {}),
    validity: r.validity,
    perSample: r.perSample.map(sample),
    mostExposed: r.mostExposed ? sample(r.mostExposed) : null,
    ...(r.noiseForTarget !== undefined ? { noiseForTarget: r.noiseForTarget } : {}),
    solver: {
      method: r.solver.method,
      iterations: r.solver.iterations,
      relativeResidual: r.solver.relativeResidual,
      converged: r.solver.converged,
      damping: r.solver.damping,
      ...(r.solver.budget ? { budget: { ...r.solver.budget, ...budgetEstimate(r) } } : {}),
    },
    ...(r.spectrum
      ? { spectrum: { top: r.spectrum.top, bottom: r.spectrum.bottom, bottomResiduals: r.spectrum.bottomResiduals, steps: r.spectrum.steps, complete: r.spectrum.complete } }
      : {}),
    timing,
  };
}

/** The time the budget-stopped solve still needed (the first one the budget stopped: later ones never started). */
function budgetEstimate(r: InfluenceResult): { estimatedSecondsLeft?: number } {
  const stopped = r.solver.solves.find((s) => s.stopReason === 'budget');
  return stopped?.estimatedSecondsLeft !== undefined ? { estimatedSecondsLeft: round(stopped.estimatedSecondsLeft) } : {};
}

export function limitSamples(s: Awaited<ReturnType<typeof loadSamples>>, max: number | undefined, per: number) {
  if (max === undefined || s.count <= max) return s;
  return { ...s, data: s.data.subarray(0, max * per), count: max, source: `${s.source} (first ${max} of ${s.count})` };
}

/** std = sigma0 × percentile(|g|): the noise scale NVFLARE's GaussianPrivacy derives from the update itself. */
async function relativeDefences(op: InversionOperator, specs: { sigma0: number; percentile: number }[]): Promise<DefenceModel[]> {
  const g = new Float64Array(op.parameterCount);
  await op.gradient(g);
  const magnitudes = g.map(Math.abs);
  return specs.map((r) => ({ kind: 'gaussian', std: r.sigma0 * quantile(magnitudes, r.percentile / 100) }));
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Reads an explicit δ keyed by parameter names; parameters it omits get zero perturbation. */
export async function readDelta(file: string, model: OnnxModel) {
  const { tensors } = await readSafetensors(file);
  const inits = model.model.graph.initializers;
  for (const [name, t] of tensors) {
    const p = inits.get(name);
    if (!p || !model.trainable.includes(name)) {
      throw new UserError('delta-mismatch', `δ tensor '${name}' is not a trainable parameter of ${model.file} (θ: ${model.trainable.slice(0, 6).join(', ')}${model.trainable.length > 6 ? ', …' : ''})`, { file });
    }
    if (p.dims.length !== t.dims.length || p.dims.some((d, i) => d !== t.dims[i])) {
      throw new UserError('delta-mismatch', `δ tensor '${name}' has shape [${t.dims}] but the parameter's is [${p.dims}]`, { file });
    }
  }
  return (layout: readonly { name: string; offset: number; size: number }[], total: number): Float64Array => {
    const out = new Float64Array(total);
    for (const p of layout) {
      const t = tensors.get(p.name);
      if (t) out.set(Float64Array.from(t.data as ArrayLike<number>), p.offset);
    }
    return out;
  };
}

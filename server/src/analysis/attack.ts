// One `i2f attack` run: the gradient-inversion attack I²F predicts, on the same batches, labels and δ as
// `i2f analyze` (its request fields and loaders), next to the I²F prediction for the same δ (I2F.md, "The real
// attack, for confirmation"). `attackBatch` is the per-operator API the editor's "Confirm with a real attack"
// job and the spectrum panel use: it returns the original, predicted (x0 + I(δ)) and recovered inputs.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { UserError } from '../errors';
import { runAttack, spearman, type AttackObjective, type AttackOptimizer, type AttackProgress, type AttackResult } from '../engine/attack';
import { computeDefenceDelta, describeDefence, sharedGradient, type DefenceModel } from '../engine/defences';
import { analyzeInfluence, evaluateNoiseScale, type InfluenceResult } from '../engine/influence';
import { norm } from '../engine/linalg';
import { psnr, rmse } from '../engine/metrics';
import type { InversionOperator } from '../engine/operator';
import { deriveSeed, Random } from '../engine/random';
import { ssim, ssimDefined } from '../engine/ssim';
import { writeNpy } from '../formats/npy';
import { recoverTokens } from '../backends/onnx/embedding';
import { modelFileFormat } from '../backends/modelFile';
import { openRun, type AnalyzeRequest } from './analyzeModel';
import { backendOf, batchOperator, type Backend } from './batchOperator';
import { batchTargets } from './lossChoice';
import type { LossKind } from '../backends/onnx/derivatives/productGraphs';
import { TOKEN_METRIC, tokenFractions, tokenSamples, type TokenModelInfo, type TokenSession } from './tokens';

export interface AttackSettings {
  optimizer: AttackOptimizer;
  objective: AttackObjective;
  /** Iterations per restart (default 300 for L-BFGS, as DLG; 2000 for Adam). */
  steps?: number;
  learningRate?: number;
  /** Adam on sign(∇f) (default: true with the cosine objective, as Inverting Gradients). */
  signed?: boolean;
  tv: number;
  restarts: number;
  /** Project onto the data range after each step (default: on for Adam, off for L-BFGS). */
  box?: boolean;
}

/** A noise sweep: Gaussian std per level, absolute ('std') or relative ('rel': std = rel·‖g0‖/√d_θ, so ‖δ‖ ≈ rel·‖g0‖). */
export interface SweepSpec {
  kind: 'std' | 'rel';
  values: number[];
}

export type AttackRequest = Pick<AnalyzeRequest,
  'model' | 'weights' | 'data' | 'labels' | 'batch' | 'defences' | 'delta' | 'seed' | 'loss' | 'tolerance' |
  'maxIterations' | 'syntheticSamples' | 'maxSamples' | 'maxModelBytes' | 'session' | 'backend'> & {
  /** Damping of the I²F prediction (default 0: undamped, what the attack achieves). */
  damping?: number;
  attack: AttackSettings;
  sweep?: SweepSpec;
  /** Directory for the recovered (and original, predicted) inputs: PNG for images, .npy otherwise. */
  out?: string;
  /** Return the original, predicted and recovered inputs in each batch report (the spectrum page draws them). */
  keepInputs?: boolean;
};

export interface SampleAttackReport { sample: number; rmse: number; psnr: number; ssim: number | null; predictedRmse: number }

export interface SweepLevel {
  std: number;
  rel?: number;
  deltaNorm: number;
  rmse: number;
  psnr: number;
  ssim: number | null;
  predictedRmse: number;
  lowerBoundRmse: number;
  ratio: number;
  loss: number;
  steps: number;
  ms: number;
  /** Token-id models: fraction of tokens the attack recovers at this level, and the fraction predicted. */
  tokensRecovered?: number;
  predictedTokensRecovered?: number;
}

export interface AttackBatchReport {
  samples: number[];
  labels: number[];
  defense: string[];
  deltaNorm: number;
  /** Final gradient-matching loss and its start value. */
  loss: number;
  initialLoss: number;
  /** ‖δ‖²: the L2 loss at x0 itself; the attack's loss settles just below it (the part of δ J cannot absorb). */
  noiseFloor: number;
  rmse: number;
  psnr: number;
  /** Mean SSIM over the batch (null: not defined for 1-D inputs or images below 11×11). */
  ssim: number | null;
  /** The I²F prediction for the same δ (RMSE of I(δ) for this draw) and its PSNR. */
  predictedRmse: number;
  predictedPsnr: number;
  /** Root-mean-square prediction over noise draws (present with Gaussian noise). */
  expectedRmse?: number;
  lowerBoundRmse: number;
  /** Attack RMSE / predicted RMSE (1 = the prediction is exactly what the attack achieves). */
  ratio: number;
  steps: number;
  evaluations: number;
  ms: number;
  stepsPerSecond: number;
  stopReason: string;
  prediction: { converged: boolean; relativeResidual: number; iterations: number; damping: number; ms: number };
  perSample: SampleAttackReport[];
  files?: string[];
  sweep?: { levels: SweepLevel[]; spearman: number };
  /** Token-id models: the tokens the real attack recovers next to those the I²F prediction x0 + I(δ) recovers. */
  tokens?: AttackTokens;
  /** The batch's inputs (B × sample, flattened; plain arrays so they cross the worker's JSON channel). */
  inputs?: { original: number[]; predicted: number[]; recovered: number[] };
}

/** Token recovery (nearest embedding row at each position) of the attack's reconstruction and of x0 + I(δ). */
export interface AttackTokens {
  metric: string;
  /** Fraction of the batch's tokens the real attack recovers, overall and per position. */
  recovered: number;
  perPosition: number[];
  /**
   * Order-free: the fraction of each sequence's tokens found anywhere in the decoded sequence (multiset overlap).
   * A model that barely sees position (mean pooling, small position embedding) lets an attack from a random start
   * rebuild the words in another order: it learns the words, not where they stood.
   */
  bagRecovered: number;
  /** The same fractions decoded from the I²F prediction x0 + I(δ) for the same δ. */
  predicted: { recovered: number; perPosition: number[]; bagRecovered: number };
  perSample: { sample: number; recovered: number; predicted: number }[];
  ids: number[][];
  nearest: number[][];
  predictedNearest: number[][];
  text?: string[];
  recoveredText?: string[];
  predictedText?: string[];
}

export interface AttackReport {
  model: { path: string; format: 'onnx' | 'tfjs'; parameters: number; inputShape: number[]; backend: Backend; weights?: string; input?: TokenModelInfo };
  settings: {
    seed: number; loss: string; batch: number; data: string; dataRange: number; damping: number;
    attack: Required<Omit<AttackSettings, 'learningRate' | 'steps' | 'signed'>> & { steps: number; learningRate?: number; signed?: boolean };
  };
  results: AttackBatchReport[];
}

export interface AttackHooks {
  onProgress?: (stage: string, fraction: number) => void;
  signal?: AbortSignal;
}

/** Everything attackBatch needs besides the operator (one model at one batch). */
export interface AttackBatchOptions {
  x0: Float64Array;
  /** One example's input shape (no batch axis). */
  sampleDims: readonly number[];
  batchSize: number;
  /** The data's range [lo, hi] (PSNR uses hi − lo; the box and PNG scaling use both). */
  dataLo: number;
  dataHi: number;
  defences: readonly DefenceModel[];
  /** Explicit δ in θ-space, added to the defences' deterministic part. */
  delta?: Float64Array;
  seed: number;
  damping?: number;
  tolerance?: number;
  maxIterations?: number;
  attack: AttackSettings;
  sweep?: SweepSpec;
  /** Unit roundoff of the backend's products, for the prediction's solver (2⁻²⁴ for the ONNX float32 kernels). */
  productRoundoff?: number;
  signal?: AbortSignal;
  onProgress?: (stage: string, fraction: number) => void;
}

export interface AttackBatchResult {
  report: Omit<AttackBatchReport, 'samples' | 'labels' | 'files'>;
  original: Float64Array;
  /** x0 + I(δ): what the linearised attacker recovers (the prediction as a picture). */
  predicted: Float64Array;
  recovered: Float64Array;
  attack: AttackResult;
  influence: InfluenceResult;
  /** Recovered inputs per sweep level (sweep mode only). */
  sweepRecovered?: Float64Array[];
}

/** Image-shaped example (channel-first [C, H, W] with C = 1 or 3): written as PNG, eligible for TV and SSIM. */
export function isImageShape(dims: readonly number[]): boolean {
  return dims.length === 3 && (dims[0] === 1 || dims[0] === 3) && dims[1] > 1 && dims[2] > 1;
}

/** Runs prediction and attack for one batch on one operator (leaves the operator at x0). */
export async function attackBatch(op: InversionOperator, o: AttackBatchOptions): Promise<AttackBatchResult> {
  const n = op.inputSize, m = op.parameterCount, B = o.batchSize;
  const per = n / B;
  const range = o.dataHi - o.dataLo;
  const progress = o.onProgress ?? (() => {});
  op.setInput(o.x0);

  // δ exactly as analyzeInfluence draws it (same defences, same seed streams)
  const g0 = new Float64Array(m);
  await op.gradient(g0);
  const dd = await computeDefenceDelta(o.defences, g0, {
    parameters: op.parameters, exampleGradients: () => op.exampleGradients(), seed: deriveSeed(o.seed, 1),
  });
  const det = new Float64Array(m);
  if (dd.deterministic) det.set(dd.deterministic);
  if (o.delta) {
    if (o.delta.length !== m) throw new UserError('shape-mismatch', `Explicit δ has ${o.delta.length} entries, the model has ${m} trainable parameters`);
    for (let i = 0; i < m; i++) det[i] += o.delta[i];
  }
  const z = dd.noise ?? new Random(deriveSeed(o.seed, 1)).fillNormal(new Float64Array(m));
  const s0 = dd.gaussianStd;
  // The main attack faces the gradient the client really shares (clipping rescales, compressions act on the noisy
  // gradient), not the analysed model of it (defences.ts): the draw is the one the analysis uses, unmasked.
  const zFull = new Random(deriveSeed(o.seed, 1)).fillNormal(new Float64Array(m));
  const shared = await sharedGradient(o.defences, g0, {
    parameters: op.parameters, exampleGradients: () => op.exampleGradients(), seed: deriveSeed(o.seed, 1),
  }, zFull);
  if (o.delta) for (let i = 0; i < m; i++) shared[i] += o.delta[i];

  const t0 = performance.now();
  const influence = await analyzeInfluence(op, {
    defences: o.defences, delta: o.delta, damping: o.damping ?? 0, tolerance: o.tolerance, maxIterations: o.maxIterations,
    seed: o.seed, dataRange: range, batchSize: B, productRoundoff: o.productRoundoff, traceSamples: 1,
    noiseResponse: o.sweep !== undefined, signal: o.signal, onProgress: (st, f) => progress(`prediction: ${st}`, f),
  });
  const predictionMs = performance.now() - t0;
  op.setInput(o.x0);
  const cache = influence.cache;
  const prediction = {
    converged: influence.solver.converged, relativeResidual: influence.solver.relativeResidual,
    iterations: influence.solver.iterations, damping: influence.solver.damping, ms: Math.round(predictionMs),
  };

  const box = (o.attack.box ?? o.attack.optimizer === 'adam') ? { lo: o.dataLo, hi: o.dataHi } : null;
  const image = isImageShape(o.sampleDims);
  if (o.attack.tv > 0 && !image) throw new UserError('bad-option', `--tv needs image inputs [C, H, W]; this model's input is [${o.sampleDims}]`);
  const runOne = async (std: number, label: string, real?: Float64Array) => {
    const delta = new Float64Array(m);
    for (let i = 0; i < m; i++) delta[i] = real ? real[i] - g0[i] : det[i] + (std > 0 ? std * z[i] : 0);
    const target = new Float64Array(m);
    for (let i = 0; i < m; i++) target[i] = g0[i] + delta[i];
    const a = await runAttack(op, {
      target, objective: o.attack.objective, optimizer: o.attack.optimizer, steps: o.attack.steps,
      learningRate: o.attack.learningRate, signed: o.attack.signed, box, tv: o.attack.tv,
      imageShape: image ? [B, ...o.sampleDims] : undefined, restarts: o.attack.restarts, seed: o.seed,
      startRange: { lo: o.dataLo, hi: o.dataHi }, signal: o.signal,
      onProgress: (p: AttackProgress) => progress(label, (p.restart + p.step / Math.max(1, p.steps)) / p.restarts),
    });
    op.setInput(o.x0);
    const e = new Float64Array(n);
    for (let i = 0; i < n; i++) e[i] = a.x[i] - o.x0[i];
    const ssims: (number | null)[] = [];
    for (let b = 0; b < B; b++) {
      const r = image && ssimDefined(o.sampleDims)
        ? ssim(scaled(o.x0.subarray(b * per, (b + 1) * per), o.dataLo, range), scaled(a.x.subarray(b * per, (b + 1) * per), o.dataLo, range), o.sampleDims, 1)
        : null;
      ssims.push(r ? r.ssim : null);
    }
    const ssimMean = ssims.every((v) => v !== null) ? (ssims as number[]).reduce((p, q) => p + q, 0) / B : null;
    return { a, e, delta, ssims, ssimMean };
  };

  const main = await runOne(s0, 'attack', shared);
  const r = rmse(main.e);
  const deltaNorm = norm(main.delta);
  // Without clipping or a compression after noise the shared gradient is exactly the analysed g0 + δ.
  if (!dd.clipping && !dd.noiseMask && Math.abs(deltaNorm - influence.deltaNorm) > 1e-9 * Math.max(deltaNorm, 1e-300)) {
    throw new Error(`attack δ (‖δ‖ ${deltaNorm}) differs from the prediction's (${influence.deltaNorm})`);
  }
  const predicted = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    predicted[i] = o.x0[i] + (cache.influenceDeterministic ? cache.influenceDeterministic[i] : 0)
      + (s0 > 0 && cache.influenceNoise ? s0 * cache.influenceNoise[i] : 0);
  }
  const report: AttackBatchResult['report'] = {
    defense: [...o.defences.map(describeDefence), ...(o.delta ? ['explicit δ'] : [])],
    deltaNorm,
    loss: main.a.loss,
    initialLoss: main.a.history[0],
    noiseFloor: deltaNorm * deltaNorm,
    rmse: r,
    psnr: psnr(r, range),
    ssim: main.ssimMean,
    predictedRmse: influence.rmse,
    predictedPsnr: influence.psnr,
    ...(s0 > 0 ? { expectedRmse: influence.expectedRmse } : {}),
    lowerBoundRmse: influence.lowerBound / Math.sqrt(n),
    ratio: r / influence.rmse,
    steps: main.a.steps,
    evaluations: main.a.evaluations,
    ms: Math.round(main.a.ms),
    stepsPerSecond: main.a.steps / (main.a.ms / 1000),
    stopReason: main.a.runs[main.a.best].stopReason,
    prediction,
    perSample: influence.perSample.map((p, b) => {
      const rb = rmse(main.e, b * per, (b + 1) * per);
      return { sample: b, rmse: rb, psnr: psnr(rb, range), ssim: main.ssims[b], predictedRmse: rmse(predicted.map((v, i) => v - o.x0[i]), b * per, (b + 1) * per) };
    }),
  };

  let sweepRecovered: Float64Array[] | undefined;
  if (o.sweep) {
    const gNorm = norm(g0);
    const levels: SweepLevel[] = [];
    sweepRecovered = [];
    for (const [k, v] of o.sweep.values.entries()) {
      const extra = o.sweep.kind === 'rel' ? (v * gNorm) / Math.sqrt(m) : v;
      const std = Math.sqrt(s0 * s0 + extra * extra);
      const ev = evaluateNoiseScale(cache, std);
      const one = await runOne(std, `sweep ${k + 1}/${o.sweep.values.length}`);
      const rr = rmse(one.e);
      sweepRecovered.push(one.a.x);
      levels.push({
        std, ...(o.sweep.kind === 'rel' ? { rel: v } : {}), deltaNorm: norm(one.delta), rmse: rr, psnr: psnr(rr, range), ssim: one.ssimMean,
        predictedRmse: ev.rmse, lowerBoundRmse: ev.lowerBound / Math.sqrt(n), ratio: rr / ev.rmse, loss: one.a.loss,
        steps: one.a.steps, ms: Math.round(one.a.ms),
      });
    }
    report.sweep = { levels, spearman: spearman(levels.map((l) => l.predictedRmse), levels.map((l) => l.rmse)) };
  }
  return { report, original: Float64Array.from(o.x0), predicted, recovered: main.a.x, attack: main.a, influence, sweepRecovered };
}

function scaled(x: Float64Array, lo: number, range: number): Float64Array {
  return x.map((v) => (v - lo) / range);
}

/** PNG bytes of one channel-first example ([1|3, H, W]), values mapped from [lo, hi] to 0…255 (clipped). */
export function encodeExamplePng(x: ArrayLike<number>, dims: readonly number[], lo = 0, hi = 1): Buffer {
  const [C, H, W] = dims;
  const png = new PNG({ width: W, height: H });
  const byte = (v: number) => Math.max(0, Math.min(255, Math.round(((v - lo) / (hi - lo)) * 255)));
  for (let h = 0; h < H; h++) {
    for (let w = 0; w < W; w++) {
      const o = (h * W + w) * 4;
      for (let c = 0; c < 3; c++) png.data[o + c] = byte(x[(C === 1 ? 0 : c) * H * W + h * W + w]);
      png.data[o + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

async function writeOutputs(dir: string, prefix: string, firstSample: number, B: number, dims: readonly number[], lo: number, hi: number,
  arrays: Record<string, Float64Array>): Promise<string[]> {
  await fs.mkdir(dir, { recursive: true });
  const per = dims.reduce((a, d) => a * d, 1);
  const files: string[] = [];
  for (const [kind, data] of Object.entries(arrays)) {
    if (isImageShape(dims)) {
      for (let b = 0; b < B; b++) {
        const f = path.join(dir, `${prefix}sample${firstSample + b}_${kind}.png`);
        await fs.writeFile(f, encodeExamplePng(data.subarray(b * per, (b + 1) * per), dims, lo, hi));
        files.push(f);
      }
    } else {
      const f = path.join(dir, `${prefix}batch${firstSample}_${kind}.npy`);
      await fs.writeFile(f, writeNpy({ dtype: 'float64', dims: [B, ...dims], data: Float64Array.from(data) } as never));
      files.push(f);
    }
  }
  return files;
}

export async function attackModel(req: AttackRequest, hooks: AttackHooks = {}): Promise<AttackReport> {
  // Token-id models are attacked in embedding space, on the per-batch split model (tokens.ts), like `i2f analyze`.
  const tokens = tokenSamples(req.data, req.syntheticSamples, req.seed);
  const { defences, model, batch, samples, per, labelsGiven, delta } = await openRun(req, tokens.samplesOf);
  const text = tokens.session();
  let lo = Infinity;
  for (const v of samples.data) if (v < lo) lo = v;
  // Text: the box (and the random starts) span E's entries, the range of any embedding row. Other data: the box
  // holding [0, 1] and the data (inputs.ts), whose range is samples.range.
  const dataLo = text ? text.lo : Math.min(0, lo);
  const dataHi = dataLo + samples.range;
  const sampleDims = text ? text.sampleDims : model.sampleDims;
  const batches = Math.ceil(samples.count / batch);
  const results: AttackBatchReport[] = [];
  let analysedLoss: LossKind | undefined;
  for (let k = 0; k < batches; k++) {
    const first = k * batch;
    const size = Math.min(batch, samples.count - first);
    const x = samples.data.subarray(first * per, (first + size) * per);
    const bm = text ? text.modelFor(first, size) : model;
    const predicted = await bm.predict(x, size, req.session);
    const { labels, target, loss } = batchTargets(req.loss, bm, predicted.logits, size, labelsGiven?.slice(first, first + size));
    analysedLoss ??= loss;
    const op = await batchOperator(backendOf(req), req.model, bm, { batch: size, input: x, target, loss, session: req.session });
    try {
      const r = await attackBatch(op, {
        x0: Float64Array.from(x), sampleDims, batchSize: size, dataLo, dataHi, defences,
        delta: delta?.(op.parameters, op.parameterCount), seed: req.seed, damping: req.damping, tolerance: req.tolerance,
        maxIterations: req.maxIterations, attack: req.attack, sweep: req.sweep, productRoundoff: 2 ** -24, signal: hooks.signal,
        onProgress: (stage, f) => hooks.onProgress?.(batches > 1 ? `batch ${k + 1}/${batches}: ${stage}` : stage, f),
      });
      const report: AttackBatchReport = {
        samples: labels.map((_, i) => first + i), labels, ...r.report,
        perSample: r.report.perSample.map((p) => ({ ...p, sample: first + p.sample })),
        ...(text ? { tokens: attackTokens(text, first, size, r.recovered, r.predicted) } : {}),
        ...(req.keepInputs ? { inputs: { original: Array.from(r.original), predicted: Array.from(r.predicted), recovered: Array.from(r.recovered) } } : {}),
      };
      if (text && report.sweep && r.sweepRecovered) {
        const c = r.influence.cache;
        report.sweep.levels.forEach((l, j) => {
          const atStd = Float64Array.from(r.original, (v, i) => v + (c.influenceDeterministic ? c.influenceDeterministic[i] : 0) + (c.influenceNoise && l.std > 0 ? l.std * c.influenceNoise[i] : 0));
          l.tokensRecovered = decodeTokens(text, first, size, r.sweepRecovered![j]).recovered;
          l.predictedTokensRecovered = decodeTokens(text, first, size, atStd).recovered;
        });
      }
      if (req.out) {
        report.files = await writeOutputs(req.out, '', first, size, sampleDims, dataLo, dataHi,
          { original: r.original, predicted: r.predicted, recovered: r.recovered });
        for (const [j, xr] of (r.sweepRecovered ?? []).entries()) {
          report.files.push(...await writeOutputs(req.out, `sweep${j}_`, first, size, sampleDims, dataLo, dataHi, { recovered: xr }));
        }
      }
      results.push(report);
    } finally {
      await op.dispose();
    }
  }
  const a = req.attack;
  return {
    model: {
      path: req.model, format: modelFileFormat(req.model), parameters: model.parameterCount, inputShape: [batch, ...sampleDims], backend: backendOf(req),
      ...(req.weights ? { weights: req.weights } : {}),
      ...(text ? { input: text.modelInfo } : {}),
    },
    settings: {
      seed: req.seed, loss: analysedLoss ?? req.loss, batch, data: samples.source, dataRange: samples.range, damping: req.damping ?? 0,
      attack: {
        optimizer: a.optimizer, objective: a.objective, steps: a.steps ?? (a.optimizer === 'lbfgs' ? 300 : 2000), tv: a.tv,
        restarts: a.restarts, box: a.box ?? a.optimizer === 'adam',
        ...(a.learningRate !== undefined ? { learningRate: a.learningRate } : {}), ...(a.signed !== undefined ? { signed: a.signed } : {}),
      },
    },
    results,
  };
}

/** Nearest embedding rows of an embedding-space reconstruction of samples [first, first + size), and the fractions. */
function decodeTokens(text: TokenSession, first: number, size: number, x: ArrayLike<number>) {
  const T = text.modelInfo.sequenceLength;
  const ids = text.ids.slice(first * T, (first + size) * T);
  const nearest = recoverTokens(text.E, text.info.dim, x, ids, T, TOKEN_METRIC).nearest;
  return { ids, nearest, ...tokenFractions(nearest, ids, T, first) };
}

/** Mean over sequences of |multiset(decoded) ∩ multiset(ids)| / T. */
export function bagOverlap(nearest: readonly number[], ids: readonly number[], T: number): number {
  const n = ids.length / T;
  let total = 0;
  for (let b = 0; b < n; b++) {
    const left = new Map<number, number>();
    for (let j = 0; j < T; j++) left.set(ids[b * T + j], (left.get(ids[b * T + j]) ?? 0) + 1);
    for (let j = 0; j < T; j++) {
      const c = left.get(nearest[b * T + j]) ?? 0;
      if (c > 0) {
        left.set(nearest[b * T + j], c - 1);
        total++;
      }
    }
  }
  return n ? total / (n * T) : 0;
}

function attackTokens(text: TokenSession, first: number, size: number, recovered: Float64Array, predicted: Float64Array): AttackTokens {
  const T = text.modelInfo.sequenceLength;
  const a = decodeTokens(text, first, size, recovered);
  const p = decodeTokens(text, first, size, predicted);
  const rows = (v: number[]) => Array.from({ length: size }, (_, b) => v.slice(b * T, (b + 1) * T));
  const words = (v: number[]) => rows(v).map((r) => r.map((id) => text.vocab![id]).join(' '));
  return {
    metric: TOKEN_METRIC,
    recovered: a.recovered,
    perPosition: a.perPosition,
    bagRecovered: bagOverlap(a.nearest, a.ids, T),
    predicted: { recovered: p.recovered, perPosition: p.perPosition, bagRecovered: bagOverlap(p.nearest, p.ids, T) },
    perSample: a.perSample.map((s, b) => ({ ...s, predicted: p.perSample[b].recovered })),
    ids: rows(a.ids),
    nearest: rows(a.nearest),
    predictedNearest: rows(p.nearest),
    ...(text.vocab ? { text: words(a.ids), recoveredText: words(a.nearest), predictedText: words(p.nearest) } : {}),
  };
}

/** Parses --sweep 'std=1e-4,1e-3' or 'rel=1e-4,1e-3' (rel: std = rel·‖g0‖/√d_θ). */
export function parseSweep(spec: string): SweepSpec {
  const m = /^\s*(std|rel)\s*=\s*(.+)$/.exec(spec);
  const values = m ? m[2].split(',').map((s) => Number(s.trim())) : [];
  if (!m || values.length === 0 || values.some((v) => !Number.isFinite(v) || v < 0)) {
    throw new UserError('bad-option', `--sweep expects std=S1,S2,… or rel=R1,R2,… with numbers ≥ 0, got '${spec}'`);
  }
  return { kind: m[1] as SweepSpec['kind'], values };
}

/** Human-readable summary of an attack report (the CLI's default output). */
export function formatAttackText(rep: AttackReport): string {
  const f = (v: number | null | undefined, d = 4) => (v === null || v === undefined ? 'n/a' : Number.isFinite(v) ? v.toPrecision(d) : String(v));
  const lines = [...(rep.model.input ? [`Embedding space: ${rep.model.input.note}; RMSE and PSNR are of embedding vectors.`] : []), `${rep.model.path}: ${rep.settings.attack.optimizer} on the ${rep.settings.attack.objective} objective, ${rep.settings.attack.steps} steps${rep.settings.attack.restarts > 1 ? ` × ${rep.settings.attack.restarts} restarts` : ''}, data ${rep.settings.data}`];
  for (const r of rep.results) {
    lines.push(`samples ${r.samples.join(',')} (labels ${r.labels.join(',')}), defence ${r.defense.join(' + ') || 'none'}, ‖δ‖ ${f(r.deltaNorm)}`);
    lines.push(`  attack      RMSE ${f(r.rmse)}  PSNR ${f(r.psnr)} dB  SSIM ${f(r.ssim)}  (${r.steps} steps, ${(r.ms / 1000).toFixed(1)} s, ${r.stepsPerSecond.toFixed(0)} steps/s, ${r.stopReason})`);
    lines.push(`  prediction  RMSE ${f(r.predictedRmse)}  PSNR ${f(r.predictedPsnr)} dB  (I²F${r.prediction.converged ? '' : ', NOT converged'}, ${(r.prediction.ms / 1000).toFixed(1)} s)   lower bound RMSE ${f(r.lowerBoundRmse)}`);
    lines.push(`  attack / prediction ${f(r.ratio, 3)}   matching loss ${f(r.loss)} (start ${f(r.initialLoss)}, ‖δ‖² ${f(r.noiseFloor)})`);
    const t = r.tokens;
    if (t) {
      const pct = (v: number) => `${(v * 100).toFixed(0)}%`;
      lines.push(`  tokens      attack recovers ${pct(t.recovered)} (per position ${t.perPosition.map(pct).join(' ')}; in any order ${pct(t.bagRecovered)}), prediction x0 + I(δ) ${pct(t.predicted.recovered)} (per position ${t.predicted.perPosition.map(pct).join(' ')}; in any order ${pct(t.predicted.bagRecovered)}); ${t.metric} nearest embedding row`);
      (t.text ?? []).forEach((s, i) => lines.push(`    "${s}"\n      attack     → "${t.recoveredText![i]}"\n      prediction → "${t.predictedText![i]}"`));
    }
    if (r.sweep) {
      lines.push(`  sweep: std        predicted RMSE   attack RMSE   ratio${t ? '   tokens predicted / attack' : ''}`);
      for (const l of r.sweep.levels) lines.push(`         ${f(l.std, 3).padEnd(10)} ${f(l.predictedRmse).padEnd(16)} ${f(l.rmse).padEnd(13)} ${f(l.ratio, 3).padEnd(7)}${l.tokensRecovered !== undefined ? ` ${(l.predictedTokensRecovered! * 100).toFixed(0)}% / ${(l.tokensRecovered * 100).toFixed(0)}%` : ''}`);
      lines.push(`  Spearman(prediction, attack) = ${f(r.sweep.spearman, 3)}`);
    }
    for (const file of r.files ?? []) lines.push(`  wrote ${file}`);
  }
  return lines.join('\n') + '\n';
}

// What the webviews show and the messages that carry it: the server's custom requests for the spectrum page and the
// model report (protocol.ts re-exports them), and the typed messages between the extension and each page.
// Types and method names only (no runtime imports): the pages bundle it, the server and the client import it.

import type { RiskLevel } from './engine/risk';

// ── Server requests (client → server) ───────────────────────────────────────────────────────────────────────────

/** Computes (or returns cached) spectrum-page data for a training config's model and one of its samples. */
export const SpectrumDataRequest = 'i2f/spectrumData';
export interface SpectrumDataParams {
  /** The training config (its model, samples, defences and settings decide the analysis). */
  uri: string;
  /** Index of the sample to show (default 0). */
  sample?: number;
  /** Eigen-directions shown at each end of the spectrum (default 8). */
  k?: number;
  /** Absolute damping ε (default: the i2f.damping setting). */
  damping?: number;
  /** Gaussian noise std to show first (default: the config's own). */
  std?: number;
}
export type SpectrumDataResult = { ok: true; data: SpectrumView } | { ok: false; message: string };

/** Re-answers a changed Gaussian noise std from the cached spectrum state: no products, milliseconds. */
export const SpectrumNoiseRequest = 'i2f/spectrumNoise';
export interface SpectrumNoiseParams {
  /** SpectrumView.key of the state to re-evaluate. */
  key: string;
  std: number;
}
export type SpectrumNoiseResult = { ok: true; noise: NoiseView } | { ok: false; message: string };

/** Summarises a checkpoint from disk (the custom editor for .onnx and tfjs model.json). */
export const ModelSummaryRequest = 'i2f/modelSummary';
export interface ModelSummaryParams {
  /** The model file. */
  uri: string;
}
export type ModelSummaryResult = { ok: true; summary: ModelSummary; results: LatestResult[] } | { ok: false; message: string };

/** The leakage of every checkpoint of a config's training analysed so far (checkpoint watching), in training order. */
export const CheckpointHistoryRequest = 'i2f/checkpointHistory';
export interface CheckpointHistoryParams {
  /** The training config. */
  uri: string;
}
export type CheckpointHistoryResult = { ok: true; history: CheckpointHistoryView } | { ok: false; message: string };

export interface CheckpointHistoryEntry {
  /** Path relative to the config's folder (`out/checkpoint-500`, `runs/round-40.pt`). */
  checkpoint: string;
  path: string;
  /** Round / step / epoch parsed from the name. */
  step?: number;
  /** Predicted attacker PSNR (dB) of the most exposed batch; null when not finite. */
  psnr: number | null;
  /** ‖Jδ‖/λmax, the lower bound on the attacker's error, and the PSNR it caps the attacker at. */
  lowerBound: number | null;
  lowerBoundPsnr: number | null;
  risk: RiskLevel;
  analysedAt: string;
  /** The result's cache key. */
  key: string;
  /** The checkpoint's files' names, sizes and modification times when analysed (a rewrite changes it). */
  signature?: string;
}

export interface CheckpointHistoryView {
  config: string;
  entries: CheckpointHistoryEntry[];
}

// ── What the spectrum page shows ────────────────────────────────────────────────────────────────────────────────

export interface SpectrumView {
  /** Identifies the server's cached state (SpectrumNoiseRequest answers from it). */
  key: string;
  config: string;
  model: string;
  /** Human-readable defences in the order applied (describeDefence). */
  defences: string[];
  settings: {
    sample: number;
    /** Samples available to pick from. */
    samples: number;
    k: number;
    damping: number;
    /** The Gaussian std the config itself implies (the slider's "reset"). */
    configuredStd: number;
    /** A sensible slider maximum: noise for a very safe PSNR, or a multiple of the configured std. */
    stdMax: number;
    dataRange: number;
    batch: number;
    seed: number;
    /** The engine whose products these numbers come from (i2f.backend); absent in states cached before it existed. */
    backend?: 'onnx' | 'tfjs';
  };
  spectrum: SpectrumSummary;
  /** The top-k eigen-directions of J Jᵀ (largest λ first: the ones the attacker resolves best). */
  directions: DirectionView[];
  /** Per-sample labels (index = sample), for the per-class spread. */
  labels: number[];
  /** Input layout of one sample, and whether the page may draw it as a picture. */
  input: {
    dims: number[];
    image: ImageLayout | null;
    /** Token-id models: the page is in embedding space (x = E[ids]); every number on it is about embedding vectors. */
    embedding?: { note: string; tokens: number; dim: number };
  };
  /** Original sample and its leading eigen-directions (length = one sample's size), when image is set. */
  images?: { original: number[]; directions: number[][] };
  noise: NoiseView;
  /** The privacy–reconstruction frontier, when the config's noise multiplier has a DP account (analysis/privacyFrontier.ts). */
  privacy?: PrivacyFrontierView;
}

/**
 * Predicted PSNR and DP ε against the noise multiplier σ on one chart: the slider's Gaussian std is σ times
 * `stdPerNoiseMultiplier` (DP-SGD: C/B; Flower's central DP: C/clients per round), so one control moves both.
 */
export interface PrivacyFrontierView {
  unit: 'example' | 'user';
  delta: number;
  steps: number;
  sampleRate: number;
  /** The Gaussian std on the shared gradient per unit of noise multiplier. */
  stdPerNoiseMultiplier: number;
  configuredNoiseMultiplier: number;
  /** i2f.thresholds.epsilon, and the config's target_epsilon when it has one. */
  epsilonThreshold: number;
  targetEpsilon?: number;
  /** The predicted-PSNR target (i2f.targetPsnr or the config's). */
  targetPsnr: number;
  /** Log-spaced σ over the slider's range; ε by the RDP accountant, PSNR of the most exposed batch expected over noise draws (null: not finite). */
  points: { noiseMultiplier: number; std: number; epsilon: number | null; psnr: number | null }[];
}

export interface ImageLayout {
  channels: number;
  height: number;
  width: number;
  /** Values of the data: the page maps [lo, hi] to [0, 255]. */
  lo: number;
  hi: number;
}

export interface SpectrumSummary {
  /** The k largest eigenvalues of J Jᵀ, descending, with their Ritz residuals. */
  top: number[];
  topResiduals: number[];
  /** The k smallest, ascending: trust bottom[i] only when its residual is small against it (I2F.md). */
  bottom: number[];
  bottomResiduals: number[];
  lambdaMax: number;
  lambdaMin: number;
  /** κ = λmax / λmin. */
  condition: number;
  damping: number;
  steps: number;
  /** Lanczos ran d_x steps: these are all the eigenvalues. */
  complete: boolean;
  inputSize: number;
  /** ‖J δ_det‖ and the share of ‖J δ_det‖² the top-k directions hold (0 with no deterministic δ). */
  jDeltaNorm: number;
  jDeltaShareTopK: number;
}

/** One eigen-direction u_i of J Jᵀ (= left singular vector of J; v_i = Jᵀu_i/σ_i in θ-space). */
export interface DirectionView {
  index: number;
  lambda: number;
  sigma: number;
  residual: number;
  /** Error the attacker pays per unit of noise along v_i: σ/(λ+ε) (= 1/σ undamped, I2F.md). */
  costPerUnitNoise: number;
  /** u_i·I(δ_det): the deterministic defence's error along this direction. */
  deterministicError: number;
  /** u_i·I(z) for the seeded unit-normal draw z. */
  noiseErrorPerStd: number;
}

export interface SampleView {
  sample: number;
  label: number;
  rmse: number;
  psnr: number;
}

export interface ClassView {
  label: number;
  count: number;
  meanPsnr: number;
  /** Highest PSNR in the class: its most exposed sample's. */
  maxPsnr: number;
  minPsnr: number;
}

/** Everything that changes with the Gaussian noise std (evaluateNoiseScale on the cached state). */
export interface NoiseView {
  std: number;
  i2f: number;
  i2fExpected: number;
  rmse: number;
  psnr: number;
  expectedRmse: number;
  expectedPsnr: number;
  lowerBound: number;
  jDeltaNorm: number;
  risk: RiskLevel;
  converged: boolean;
  perSample: SampleView[];
  perClass: ClassView[];
  mostExposed: SampleView | null;
  /** Per top direction: δ's component along v_i for the seeded draw, (λ+ε)(u_i·I)/σ. */
  deltaAlong: number[];
  /** Per top direction: the attacker's error along u_i for the seeded draw, u_i·I(δ). */
  errorAlong: number[];
  /** Per top direction: RMS over noise draws, √((u_i·I_det)² + s²λ/(λ+ε)²). */
  expectedErrorAlong: number[];
  /** x0 + I(δ) of the shown sample for the seeded draw (image inputs only). */
  reconstruction?: number[];
  /** ε at this std's noise multiplier, when the page has a privacy frontier (epsilon null: no noise, ∞). */
  privacy?: { noiseMultiplier: number; epsilon: number | null; order: number; psnr: number | null };
  /**
   * Token-id models at this std: the tokens the predicted reconstruction recovers (nearest embedding row, seeded
   * draw); `risk` is graded on them. Per sample over all batches; per position and the words for the shown sample.
   */
  tokens?: {
    metric: string;
    recovered: number;
    perSample: { sample: number; recovered: number }[];
    shown: { sample: number; recovered: number; perPosition: number[]; ids: number[]; nearest: number[]; text?: string; recoveredText?: string };
  };
}

// ── What the attack shows on the spectrum page ─────────────────────────────────────────────────────────────────

/**
 * A real gradient-inversion attack beside the I²F prediction for the same δ (issue 8; attackView builds it from an
 * attack report): per sample, the original x0, the prediction x0 + I(δ) and what the attack recovered.
 */
export interface AttackView {
  config: string;
  model: string;
  /** e.g. 'L-BFGS on the L2 objective, 300 steps'. */
  method: string;
  /** One example's input shape (no batch axis). */
  sampleDims: number[];
  /** Set: the inputs are pictures (C×H×W, C ∈ {1, 3}); null: feature vectors or embeddings, drawn as heat strips. */
  image: ImageLayout | null;
  /** The strips' colour scale (the originals' span: predicted and recovered are drawn on the same scale, clipped). */
  lo: number;
  hi: number;
  /** Rows of a strip: dims[0] for 2-D inputs (tokens × embedding), else 1. */
  rows: number;
  /** Token-id models: how the inputs were mapped (they are attacked as embedding vectors). */
  note?: string;
  batches: AttackBatchView[];
}

export interface AttackBatchView {
  samples: number[];
  labels: number[];
  defences: string[];
  rmse: number;
  /** null when infinite (a perfect recovery: JSON cannot carry Infinity). */
  psnr: number | null;
  ssim: number | null;
  predictedRmse: number;
  predictedPsnr: number | null;
  lowerBoundRmse: number;
  /** Attack RMSE / predicted RMSE. */
  ratio: number;
  steps: number;
  ms: number;
  stopReason: string;
  /** The prediction's solve: false = its numbers are not a confident estimate (shown with a mark). */
  converged: boolean;
  relativeResidual: number;
  /** Wall time of the I²F prediction, for the "prediction vs attack" comparison. */
  predictionMs: number;
  /** The first samples of the batch (at most MAX_SHOWN_SAMPLES): the numbers above are the whole batch's. */
  perSample: AttackSampleView[];
  /** Token-id models: fractions of the batch's tokens recovered (nearest embedding row) by the attack and the prediction. */
  tokens?: { recovered: number; bagRecovered: number; predictedRecovered: number; predictedBagRecovered: number };
}

export interface AttackSampleView {
  sample: number;
  label: number;
  rmse: number;
  psnr: number | null;
  ssim: number | null;
  predictedRmse: number;
  /** One example each, as the model reads it (length = product of sampleDims). */
  original: number[];
  predicted: number[];
  recovered: number[];
  /** Token-id models: this sample's recovered fractions and, with a vocabulary, the decoded texts. */
  tokens?: { recovered: number; predicted: number; text?: string; recoveredText?: string; predictedText?: string };
}

// ── What the model report shows ─────────────────────────────────────────────────────────────────────────────────

export interface TensorInfo {
  name: string;
  dims: (number | string)[];
  dtype: string;
}

export interface ModelSummary {
  file: string;
  format: 'onnx' | 'tfjs';
  bytes: number;
  /** ONNX default-domain opset, or the tfjs format ('layers-model' / 'graph-model'). */
  opset?: number;
  producer?: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Trainable parameters (θ), and all initialisers/weights. */
  parameters: number;
  weights: number;
  theta: { name: string; dims: number[] }[];
  ops: { op: string; domain: string; count: number; supported: boolean }[];
  unsupported: { op: string; node: string; domain: string }[];
  /** The analysis can take this model as it is (every op supported, one static input, known opset). */
  analysable: boolean;
  /** Why not, when analysable is false. */
  notes: string[];
}

/** A leakage result the server holds for a config that uses this model. */
export interface LatestResult {
  config: string;
  analysedAt: string;
  risk: RiskLevel;
  psnr: number;
  rmse: number;
  defences: string[];
  fromCache: boolean;
}

// ── Messages between the extension and the pages ────────────────────────────────────────────────────────────────

/** Spectrum page → extension. The page never computes I²F: every number comes back in a reply. */
export type SpectrumPageMessage =
  | { type: 'ready' }
  | { type: 'setSample'; sample: number }
  | { type: 'setNoise'; std: number }
  | { type: 'setK'; k: number }
  | { type: 'setDamping'; damping: number }
  | { type: 'refresh' }
  | { type: 'copy'; text: string; what: string }
  | { type: 'save'; format: 'svg' | 'png' | 'csv'; name: string; data: string }
  /** Run the real attack on this config (one at a time; a second request while one runs is ignored). */
  | { type: 'runAttack' }
  | { type: 'cancelAttack' };

/** Extension → spectrum page. */
export type SpectrumHostMessage =
  | { type: 'spectrum'; data: SpectrumView }
  | { type: 'noise'; key: string; noise: NoiseView }
  | { type: 'busy'; text: string }
  | { type: 'error'; message: string }
  | { type: 'done'; text: string }
  /** The attack is running: its stage and fraction done (0…1). */
  | { type: 'attackProgress'; stage: string; fraction: number }
  /** The attack finished: its result for the config the panel shows. */
  | { type: 'attack'; data: AttackView }
  /** The attack stopped without a result (cancelled or failed). */
  | { type: 'attackStopped'; message: string; cancelled: boolean }
  /** Predicted PSNR per checkpoint of the config's training (checkpoint watching). */
  | { type: 'history'; data: CheckpointHistoryView };

/** Model report page → extension. */
export type ReportPageMessage =
  | { type: 'ready' }
  | { type: 'openSpectrum'; config?: string }
  | { type: 'refresh' };

/** Extension → model report page. */
export type ReportHostMessage =
  | { type: 'summary'; summary: ModelSummary; results: LatestResult[] }
  | { type: 'error'; message: string };

/** What the spectrum page keeps in getState/setState (restored after a reload by the serializer). */
export interface SpectrumPageState {
  config?: string;
  data?: SpectrumView;
  std?: number;
  /** The last attack shown (kept so a reload does not lose minutes of work). */
  attack?: AttackView;
}

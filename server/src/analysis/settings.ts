// The `i2f.*` settings as the server uses them: pulled per resource (workspace/configuration), validated here, and
// split into what changes an analysis (part of the cache key) and what only changes how a result is shown.

import { cpus } from 'node:os';
import type { ConfigAnalysisSettings } from './configFindings';
import type { RiskThresholds } from '../engine/risk';

export type TraceLevel = 'off' | 'messages' | 'verbose';

export interface I2fSettings {
  enable: boolean;
  /** high/medium: predicted attacker PSNR (dB); tokensHigh/tokensMedium: recovered-token fraction for text models. */
  thresholds: { high: number; medium: number; tokensHigh: number; tokensMedium: number; epsilon: number };
  /** Absolute damping ε added to J Jᵀ (0 = undamped, what the real attack achieves). */
  damping: number;
  /** Samples analysed per config; the analysed batch is capped by it too. */
  maxSamples: number;
  maxModelSizeMB: number;
  /** Analysis worker processes; 0 = one per spare CPU, at most 4. */
  workerCount: number;
  /** Memory limit of each worker process: its resident memory (the pool's watchdog) and its V8 heap (--max-old-space-size). */
  workerMemoryMB: number;
  trace: { server: TraceLevel };
  /** PSNR (dB) the suggested noise should push the attacker below, unless a config's i2f.target_psnr says otherwise. */
  targetPsnr: number;
  /** Base URL for rule documentation links ('' = the extension's own docs/rules.md). */
  docsBaseUrl: string;
  /** Wall seconds the I²F solves of one analysis may take (0 = no limit); past it the result is 'not converged'. */
  solveBudgetSeconds: number;
  /**
   * While a solve runs, publish the provisional I2F001 (the I²F's graded band, λmax, I_lb) from its first iteration;
   * false: only the finished result (the status item still shows the band).
   */
  provisionalFindings: boolean;
  /** Engine for the products: the ONNX derivative graphs, or nested autodiff in TensorFlow.js (50–500× slower). */
  backend: 'onnx' | 'tfjs';
  /** i2f.python: the interpreter that builds Python-defined models ('' = search: python/interpreter.ts). */
  python: string;
  /** Not a user setting: the Python extension's active interpreter for the resource, added by the client. */
  pythonExtensionInterpreter: string;
  /** Wall seconds one Python export may take. */
  pythonTimeoutSeconds: number;
}

export const DEFAULT_SETTINGS: I2fSettings = {
  enable: true,
  thresholds: { high: 20, medium: 12, tokensHigh: 0.5, tokensMedium: 0.1, epsilon: 10 },
  damping: 0,
  maxSamples: 1,
  maxModelSizeMB: 512,
  workerCount: 0,
  workerMemoryMB: 4096,
  trace: { server: 'off' },
  targetPsnr: 15,
  docsBaseUrl: '',
  solveBudgetSeconds: 0,
  provisionalFindings: true,
  backend: 'onnx',
  python: '',
  pythonExtensionInterpreter: '',
  pythonTimeoutSeconds: 180,
};

/** Largest batch an editor analysis runs at (the CLI's default too). */
const MAX_BATCH = 8;
const SEED = 0;

function num(x: unknown, fallback: number, ok: (v: number) => boolean): number {
  return typeof x === 'number' && Number.isFinite(x) && ok(x) ? x : fallback;
}

/** Whatever the client sent (partial, wrong types, null) → complete, valid settings. */
export function normaliseSettings(raw: unknown): I2fSettings {
  const r = (raw && typeof raw === 'object' ? raw : {}) as Record<string, any>;
  const d = DEFAULT_SETTINGS;
  const thresholds = r.thresholds && typeof r.thresholds === 'object' ? r.thresholds : {};
  let high = num(thresholds.high, d.thresholds.high, () => true);
  let medium = num(thresholds.medium, d.thresholds.medium, () => true);
  if (medium > high) [high, medium] = [d.thresholds.high, d.thresholds.medium];
  const fraction = (v: number) => v >= 0 && v <= 1;
  let tokensHigh = num(thresholds.tokensHigh, d.thresholds.tokensHigh, fraction);
  let tokensMedium = num(thresholds.tokensMedium, d.thresholds.tokensMedium, fraction);
  if (tokensMedium > tokensHigh) [tokensHigh, tokensMedium] = [d.thresholds.tokensHigh, d.thresholds.tokensMedium];
  const epsilon = num(thresholds.epsilon, d.thresholds.epsilon, (v) => v > 0);
  const trace = r.trace && typeof r.trace === 'object' ? r.trace.server : undefined;
  return {
    enable: typeof r.enable === 'boolean' ? r.enable : d.enable,
    thresholds: { high, medium, tokensHigh, tokensMedium, epsilon },
    damping: num(r.damping, d.damping, (v) => v >= 0),
    maxSamples: Math.floor(num(r.maxSamples, d.maxSamples, (v) => v >= 1 && v <= 1024)),
    maxModelSizeMB: num(r.maxModelSizeMB, d.maxModelSizeMB, (v) => v > 0),
    workerCount: Math.floor(num(r.workerCount, d.workerCount, (v) => v >= 0 && v <= 64)),
    // 64: an idle worker with onnxruntime loaded is ~50 MB resident; below that nothing could run.
    workerMemoryMB: Math.floor(num(r.workerMemoryMB, d.workerMemoryMB, (v) => v >= 64)),
    trace: { server: trace === 'messages' || trace === 'verbose' ? trace : 'off' },
    targetPsnr: num(r.targetPsnr, d.targetPsnr, () => true),
    // Only web and file links: a workspace's settings.json could otherwise make the rule links command: URIs.
    docsBaseUrl: typeof r.docsBaseUrl === 'string' && /^(https?|file):\/\//i.test(r.docsBaseUrl) ? r.docsBaseUrl : d.docsBaseUrl,
    solveBudgetSeconds: num(r.solveBudgetSeconds, d.solveBudgetSeconds, (v) => v >= 0),
    provisionalFindings: typeof r.provisionalFindings === 'boolean' ? r.provisionalFindings : d.provisionalFindings,
    backend: r.backend === 'tfjs' ? 'tfjs' : d.backend,
    python: typeof r.python === 'string' ? r.python.trim() : d.python,
    pythonExtensionInterpreter: typeof r.pythonExtensionInterpreter === 'string' ? r.pythonExtensionInterpreter : d.pythonExtensionInterpreter,
    pythonTimeoutSeconds: num(r.pythonTimeoutSeconds, d.pythonTimeoutSeconds, (v) => v >= 5),
  };
}

export function workerCountOf(s: I2fSettings): number {
  return s.workerCount > 0 ? s.workerCount : Math.max(1, Math.min(4, cpus().length - 1));
}

/** The settings that decide an analysis's numbers: they go into the cache key. Thresholds and target do not. */
export interface AnalysisKnobs {
  damping: number;
  seed: number;
  maxBatch: number;
  maxSamples: number;
  /** Only when set (> 0): a budget-limited result must not answer for an unlimited one, and old keys stay valid. */
  solveBudgetSeconds?: number;
  /** Only when not the default ONNX engine (the engines agree to ~1e-6, but a key names what computed it). */
  backend?: 'tfjs';
}

export function analysisKnobs(s: I2fSettings): AnalysisKnobs {
  return {
    damping: s.damping, seed: SEED, maxBatch: Math.min(MAX_BATCH, s.maxSamples), maxSamples: s.maxSamples,
    ...(s.solveBudgetSeconds > 0 ? { solveBudgetSeconds: s.solveBudgetSeconds } : {}),
    ...(s.backend === 'tfjs' ? { backend: 'tfjs' as const } : {}),
  };
}

export function configAnalysisSettings(s: I2fSettings): ConfigAnalysisSettings {
  return {
    ...analysisKnobs(s),
    targetPsnr: s.targetPsnr,
    maxModelBytes: s.maxModelSizeMB * 1024 * 1024,
    thresholds: riskThresholdsOf(s),
  };
}

/** The engine's risk thresholds from the settings (risk.ts). */
export function riskThresholdsOf(s: I2fSettings): RiskThresholds {
  const t = s.thresholds;
  return { highPsnr: t.high, mediumPsnr: t.medium, highTokens: t.tokensHigh, mediumTokens: t.tokensMedium };
}

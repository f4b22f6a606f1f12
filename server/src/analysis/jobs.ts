// The messages between the language server and an analysis worker process (child_process.fork, IPC channel).

import type { DiscoveredConfig } from '../workspace/discover';
import type { AnalyzeReport, ProvisionalBand } from './analyzeModel';
import type { ConfigAnalysisSettings } from './configFindings';
import type { CachedBatch } from './noiseRescale';
import type { SpectrumRequest, SpectrumState } from './spectrumData';
import type { AttackReport, AttackRequest } from './attack';
import type { VerifyReport, VerifyRequest } from './verifyEngines';
import type { ModelSummary } from '../webviewProtocol';

export type WorkerSettings = Omit<ConfigAnalysisSettings, 'signal' | 'onProgress' | 'onInfluence' | 'onBand' | 'clock'>;

export interface AnalyseJob {
  config: DiscoveredConfig;
  settings: WorkerSettings;
}

/** Work a worker does: a config's analysis, the spectrum page's data, a checkpoint's summary, an attack, an engine check. */
export type WorkerRequest =
  | { type: 'analyse'; job: AnalyseJob }
  | { type: 'spectrum'; request: SpectrumRequest }
  | { type: 'summary'; file: string; maxBytes?: number }
  | { type: 'attack'; request: AttackRequest }
  | { type: 'verify'; request: VerifyRequest };

export type ToWorker = (WorkerRequest & { id: number }) | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'ready'; pid: number }
  | { type: 'progress'; id: number; stage: string; fraction: number }
  /** The provisional answer of a running analysis (configFindings.ts provisionalFinding). */
  | { type: 'band'; id: number; band: ProvisionalBand }
  | { type: 'result'; id: number; report: AnalyzeReport; modelOps: string[]; batches: CachedBatch[]; ms: number }
  | { type: 'spectrum-result'; id: number; state: SpectrumState; ms: number }
  | { type: 'summary-result'; id: number; summary: ModelSummary; ms: number }
  | { type: 'attack-result'; id: number; report: AttackReport; ms: number }
  | { type: 'verify-result'; id: number; report: VerifyReport; ms: number }
  /** userError: a problem in the user's model or data (shown as I2F002); otherwise a bug of ours (logged too). */
  | { type: 'failed'; id: number; message: string; userError: boolean; ms: number }
  | { type: 'cancelled'; id: number };

export type JobOutcome =
  | { kind: 'result'; report: AnalyzeReport; modelOps: string[]; batches: CachedBatch[]; ms: number }
  | { kind: 'spectrum'; state: SpectrumState; ms: number }
  | { kind: 'summary'; summary: ModelSummary; ms: number }
  | { kind: 'attack'; report: AttackReport; ms: number }
  | { kind: 'verify'; report: VerifyReport; ms: number }
  /** outOfMemory: the worker went over i2f.workerMemoryMB; a higher limit may succeed where a rerun would not. */
  | { kind: 'failed'; message: string; userError: boolean; outOfMemory?: boolean }
  | { kind: 'cancelled' };

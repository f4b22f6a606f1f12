// The messages between the language server and an analysis worker process (child_process.fork, IPC channel).

import type { DiscoveredConfig } from '../workspace/discover';
import type { AnalyzeReport } from './analyzeModel';
import type { ConfigAnalysisSettings } from './configFindings';
import type { CachedBatch } from './noiseRescale';

export type WorkerSettings = Omit<ConfigAnalysisSettings, 'signal' | 'onProgress' | 'onInfluence'>;

export interface AnalyseJob {
  config: DiscoveredConfig;
  settings: WorkerSettings;
}

export type ToWorker = { type: 'analyse'; id: number; job: AnalyseJob } | { type: 'cancel'; id: number };

export type FromWorker =
  | { type: 'ready'; pid: number }
  | { type: 'progress'; id: number; stage: string; fraction: number }
  | { type: 'result'; id: number; report: AnalyzeReport; modelOps: string[]; batches: CachedBatch[]; ms: number }
  /** userError: a problem in the user's model or data (shown as I2F002); otherwise a bug of ours (logged too). */
  | { type: 'failed'; id: number; message: string; userError: boolean; ms: number }
  | { type: 'cancelled'; id: number };

export type JobOutcome =
  | { kind: 'result'; report: AnalyzeReport; modelOps: string[]; batches: CachedBatch[]; ms: number }
  | { kind: 'failed'; message: string; userError: boolean }
  | { kind: 'cancelled' };

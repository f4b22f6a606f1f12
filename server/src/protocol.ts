// Custom requests and notifications between the I²F language server and its clients, typed once; the VS Code
// client imports this file. Plain method names and shapes (no runtime imports), so any LSP client can speak them.

/** Server → client: what the status item shows. */
export const StatusNotification = 'i2f/status';
export type ServerState = 'idle' | 'analysing' | 'error' | 'untrusted' | 'disabled';
export interface StatusParams {
  state: ServerState;
  /** One line for the status item. */
  text: string;
  /** Longer explanation for the tooltip / detail. */
  detail?: string;
  running: number;
  queued: number;
}

/** Server → client: one line per job event, for tests and the log (only sent when i2f.trace.server is not 'off'). */
export const JobTraceNotification = 'i2f/jobTrace';
export interface JobTraceParams {
  event: 'queued' | 'started' | 'finished' | 'failed' | 'cancelled' | 'retried' | 'cache-hit' | 'noise-rescaled';
  job?: number;
  config: string;
  key?: string;
  detail?: string;
  ms?: number;
}

/** Client → server: counters and worker processes (tests kill a worker by its pid). */
export const StatsRequest = 'i2f/stats';
export interface StatsResult {
  jobsQueued: number;
  jobsStarted: number;
  jobsFinished: number;
  jobsFailed: number;
  jobsCancelled: number;
  jobsRetried: number;
  /** Configs whose edits are still settling (each will queue an analysis when its debounce ends). */
  debouncing: number;
  workerRestarts: number;
  cacheHits: number;
  noiseRescales: number;
  workers: { pid: number; busy: boolean; job?: number; config?: string }[];
  storagePath: string;
  /** Looks taken at the checkpoints training writes (tests wait on it rather than sleep). */
  checkpointLooks?: number;
  /** make_private_with_epsilon σ searches running or waiting their turn, and their worker threads still alive. */
  noiseSearches?: { searches: number; workers: number };
}

/** Client → server: analyse every training config of the workspace (or the given files). */
export const AuditRequest = 'i2f/audit';
export interface AuditParams {
  /** Document URIs; omitted = every discovered config. */
  uris?: string[];
}
export interface AuditResult {
  configs: number;
  findings: number;
  errors: number;
  warnings: number;
}

/** Client → server: a plain-text eigen-spectrum / leakage report for a config (the webview comes later). */
export const SpectrumReportRequest = 'i2f/spectrumReport';
export interface SpectrumReportParams {
  uri: string;
}
export interface SpectrumReportResult {
  /** Markdown-free text, ready to show in an editor. */
  text: string;
}

/** Client → server: cancel every queued and running analysis. */
export const CancelAllRequest = 'i2f/cancelAll';
/** Client → server: drop the in-memory and on-disk result cache. */
export const ClearCacheRequest = 'i2f/clearCache';
export interface ClearCacheResult {
  removedFiles: number;
}

/** Client → server: workspace trust was granted (VS Code has no way to revoke it without a reload). */
export const TrustNotification = 'i2f/trust';
export interface TrustParams {
  trusted: boolean;
}

/** What the client passes in initializationOptions. */
export interface InitializationOptions {
  /** Folder for the result cache (the extension's storage); a temp folder otherwise. */
  storagePath?: string;
  /** Workspace trust (default true for clients that have no such notion). */
  trusted?: boolean;
  /** Base for rule links: 'https://github.com/o/r/blob/main/' or a file URI of the extension folder. */
  docsBase?: string;
  /** How often the checkpoints training writes are looked at, in ms (default 2000; tests use less). */
  checkpointPollMs?: number;
}

/** Result details attached to every I2F001 diagnostic's `data`. */
export interface LeakageData {
  key: string;
  /** Came from the cached noise response / result cache, with no new analysis. */
  fromCache: boolean;
  analysedAt: string;
  risk: string;
  psnr: number;
  rmse: number;
  /** Text models: the most exposed sample's fraction of tokens recovered (what `risk` is graded on; psnr/rmse are in embedding space). */
  tokensRecovered?: number;
}

/** Command ids the server's code lenses use and the client registers. */
export const Commands = {
  audit: 'i2f.auditCurrentFile',
  auditWorkspace: 'i2f.auditWorkspace',
  showSpectrum: 'i2f.showSpectrum',
  cancel: 'i2f.cancelAnalyses',
  clearCache: 'i2f.clearCache',
  showLog: 'i2f.showLog',
  restart: 'i2f.restartServer',
  confirmAttack: 'i2f.confirmAttack',
  verifyEngines: 'i2f.verifyEngines',
} as const;

/**
 * Runs the gradient-inversion attack the I²F predicts on the config's first batch, in a worker (issue 8): the
 * attack's error next to the prediction, and (in `view`) the original, predicted (x0 + I(δ)) and recovered inputs
 * the spectrum page draws. Progress goes to the client's workDoneToken when it sends one (the page shows it too),
 * else to a server-created progress.
 */
export const ConfirmAttackRequest = 'i2f/confirmAttack';
export interface ConfirmAttackParams {
  uri: string;
  workDoneToken?: string | number;
}
export type ConfirmAttackResult =
  | { ok: true; config: string; report: import('./analysis/attack').AttackReport; view: import('./webviewProtocol').AttackView }
  | { ok: false; message: string; cancelled?: boolean };

/**
 * Runs both engines (ONNX derivative graphs, TensorFlow.js nested autodiff) on each batch the config analyses, in a
 * worker, and returns the largest relative disagreement of g, J u and Jᵀ v per batch (issue 6). Progress and
 * cancellation as for ConfirmAttackRequest.
 */
export const VerifyEnginesRequest = 'i2f/verifyEngines';
export interface VerifyEnginesParams {
  uri: string;
  workDoneToken?: string | number;
}
export type VerifyEnginesResult =
  | { ok: true; config: string; report: import('./analysis/verifyEngines').VerifyReport; summary: string }
  | { ok: false; message: string; cancelled?: boolean };

// The webviews' requests and page messages are typed in their own file (the pages bundle it too).
export * from './webviewProtocol';

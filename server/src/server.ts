// The I²F language server: LSP wiring only. Configs are parsed here (cheap rules answer at once); I²F analyses run in
// worker processes (analysis/workerPool.ts) and their results come back through the content-hash cache.
// Runs over stdio (`node dist/server.js --stdio`, any LSP client) or node IPC (VS Code).

import { existsSync, promises as fs, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { useCacheDir } from './cacheRoot';
import {
  CodeActionKind,
  createConnection,
  DidChangeConfigurationNotification,
  DidChangeWatchedFilesNotification,
  FileChangeType,
  NotebookCellKind,
  NotebookDocuments,
  ProposedFeatures,
  TextDocuments,
  TextDocumentSyncKind,
  type CancellationToken,
  type Diagnostic,
  type InitializeResult,
  type NotebookDocument,
  type WorkDoneProgressServerReporter,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { readTrainingSource } from './workspace/readSetup';
import { checkTrainingSetup, syntaxFinding } from './config/rules';
import { analysisPlan } from './config/defences';
import { discoverWorkspace, linkConfig, modelFormatOf, modelsInFolderSync, needsMaterialising, type DiscoveredConfig } from './workspace/discover';
import { materialiseModel } from './models/materialise';
import { exportedThetaFinding } from './analysis/exportedTheta';
import { isUserError } from './errors';
import { isAnalysableModelFile, modelFileFormat } from './backends/modelFile';
import { analysisFailedFinding, analyzeRequestFor, noModelReason, leakageFindingOf, LEAKAGE_RULE, NOT_A_MODEL_FILE, notAModelFinding, provisionalFinding, type Finding } from './analysis/configFindings';
import { bandPsnr, bandRiskLabel, bandSentence } from './analysis/formatText';
import type { AnalyzeRequest } from './analysis/analyzeModel';
import { noiseView, spectrumView, type SpectrumState } from './analysis/spectrumData';
import { attackView } from './analysis/attackView';
import { analysisKey, ContentHasher, ResultCache } from './analysis/cache';
import { CheckpointWatcher } from './analysis/checkpointWatcher';
import { noiseParamsOf, reevaluate } from './analysis/noiseRescale';
import { AnalysisScheduler, type Job } from './analysis/scheduler';
import { noiseParamsProblem, spectrumParamsProblem } from './features/spectrumParams';
import { Slots } from './features/slots';
import { NoiseSearches } from './features/noiseSearches';
import { noiseSearchFinding } from './analysis/noiseSearchFinding';
import { cancelOpacusNoiseSearches, opacusNoiseSearchesInFlight } from './privacy/opacusNoiseInBackground';
import { WorkerPool } from './analysis/workerPool';
import type { JobOutcome } from './analysis/jobs';
import { describeVerification } from './analysis/verifyEngines';
import { mostExposedTokens } from './analysis/tokens';
import { analysisKnobs, configAnalysisSettings, DEFAULT_SETTINGS, normaliseSettings, riskThresholdsOf, workerCountOf, type I2fSettings } from './analysis/settings';
import { toDiagnostic } from './features/diagnostics';
import { hoverAt } from './features/hover';
import { privacyAccount, type PrivacyAccount } from './analysis/privacyAccount';
import { privacyFindings } from './analysis/privacyFindings';
import { spectrumPrivacyOf } from './analysis/privacyFrontier';
import { inlayHints } from './features/inlayHints';
import { codeLenses } from './features/codeLens';
import { codeActions } from './features/codeActions';
import { actionInCells, brokenCellFindings, cellIndexOf, diagnosticsByCell, hintsInCell, hoverInCell, lensesInCell, notebookCells, rangeToJoined, toJoined, type NotebookCells } from './features/notebookCells';
import { expectedPsnr, full, worstBatch, type ConfigView } from './features/configView';
import {
  AuditRequest, CancelAllRequest, ClearCacheRequest, ConfirmAttackRequest, JobTraceNotification, ModelSummaryRequest, SpectrumDataRequest, SpectrumNoiseRequest,
  SpectrumReportRequest, StatsRequest, StatusNotification, TrustNotification, VerifyEnginesRequest,
  type VerifyEnginesParams, type VerifyEnginesResult,
  type ModelSummaryParams, type ModelSummaryResult, type SpectrumDataParams, type SpectrumDataResult, type SpectrumNoiseParams,
  type SpectrumNoiseResult, type LatestResult, type ConfirmAttackParams, type ConfirmAttackResult,
  type AuditParams, type AuditResult, type ClearCacheResult, type InitializationOptions, type JobTraceParams, type LeakageData,
  type SpectrumReportParams, type SpectrumReportResult, type StatsResult, type StatusParams, type TrustParams,
  CheckpointHistoryRequest, type CheckpointHistoryParams, type CheckpointHistoryResult,
} from './protocol';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);
/** Open Jupyter notebooks (LSP 3.17 notebook document sync): their Python cells are read as one Python text. */
const notebooks = new NotebookDocuments(TextDocument);

/** didChange bursts settle for this long before an analysis is queued (didOpen and saves queue at once). */
const EDIT_DEBOUNCE_MS = 400;
/** Files that can set up training: configs, and Python with DP call sites (server/src/pysource), notebooks too. */
const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json', '.toml', '.conf', '.hocon', '.py', '.ipynb']);

interface ConfigState {
  path: string;
  uri: string;
  open: boolean;
  /** Analysed on request (audit) though not open. */
  audited: boolean;
  generation: number;
  view?: ConfigView;
  /** The key whose job this config waited for and that has just delivered (so its result is not "from cache"). */
  delivered?: string;
  /** The version didOpen brought (TextDocuments also reports it as a change). */
  openedVersion?: number;
  /** Open as a notebook in the editor: its code cells are the text read (notebookCells), its findings go to them. */
  notebook?: string;
  /** The cell URIs that were last sent diagnostics, so a cell whose findings went away (or that was removed) is cleared. */
  cellsShown?: Set<string>;
  waiters: (() => void)[];
}

let storagePath = join(tmpdir(), 'i2f-privacy-lint');
let trusted = true;
let docsBase = pathToFileURL(resolve(__dirname, '..')).href + '/';
let folders: string[] = [];
let canPullConfiguration = false;
let canWatchDynamically = false;
let canReportProgress = false;
let canRefreshInlayHints = false;
let canRefreshCodeLenses = false;
let globalSettings: I2fSettings = DEFAULT_SETTINGS;
let lastError: string | undefined;
let crashReported = false;
const counters = { cacheHits: 0, noiseRescales: 0 };

const states = new Map<string, ConfigState>();
const settingsByUri = new Map<string, Promise<I2fSettings>>();
const failures = new Map<string, string>();
/** Failure keys of analyses stopped at the memory limit: a new limit may let them finish, so it forgets them. */
const memoryFailures = new Set<string>();
const progress = new Map<number, Promise<WorkDoneProgressServerReporter | undefined>>();
const hasher = new ContentHasher();
let cache: ResultCache;
let checkpoints: CheckpointWatcher;
/** How often the checkpoints training writes are looked at (InitializationOptions.checkpointPollMs). */
let checkpointPollMs = 2_000;

const log = (message: string) => connection.console.log(message);

const pool = new WorkerPool(join(__dirname, 'worker.js'), 1, DEFAULT_SETTINGS.workerMemoryMB, {
  log,
  onCrash: ({ pid, signal, code, taskId, retried }) => {
    log(`analysis worker ${pid} died (${signal ?? `exit code ${code}`}) during job ${taskId}; ${retried ? 'restarting it and retrying the job' : 'giving up on the job'}`);
    if (retried) {
      scheduler.noteRetried();
      const job = scheduler.list().find((j) => j.id === taskId);
      if (job) trace({ event: 'retried', job: job.id, config: [...job.interested][0] ?? '', detail: `worker ${pid} ${signal ?? code}` });
    }
    if (!crashReported) {
      crashReported = true;
      void connection.window.showWarningMessage(
        `I²F: an analysis process stopped unexpectedly (${signal ?? `exit code ${code}`}). It was restarted and the analysis retried; see the I²F log for details.`,
      );
    }
  },
  // Not a crash (no warning, no retry): the job's I2F002 names the model and the limit.
  onOutOfMemory: ({ pid, taskId, model, limitMB, residentMB }) =>
    log(`analysis worker ${pid} went over i2f.workerMemoryMB = ${limitMB} MB${residentMB !== undefined ? ` (${residentMB.toFixed(0)} MB resident)` : ''} during job ${taskId} on ${model}; stopped, not retried`),
});

const scheduler = new AnalysisScheduler(pool, {
  onQueued: (job) => {
    trace({ event: 'queued', job: job.id, config: firstConfig(job), key: job.key });
    sendStatus();
  },
  onStarted: (job) => {
    trace({ event: 'started', job: job.id, config: firstConfig(job), key: job.key, detail: `worker ${job.pid}` });
    if (canReportProgress && !progress.has(job.id)) progress.set(job.id, beginProgress(job));
    sendStatus();
  },
  onProgress: (job) => {
    void progress.get(job.id)?.then((r) => r?.report(Math.round((job.fraction ?? 0) * 100), `${basename(firstConfig(job))}: ${job.stage}`));
    sendStatus();
  },
  // The provisional answer of a running analysis: its configs show the I²F's graded band at once (provisionalFinding).
  onBand: (job) => {
    for (const path of job.interested) {
      const s = states.get(path);
      if (!s?.view?.pending || !job.band || !s.view.settings.provisionalFindings) continue;
      s.view.provisional = job.band;
      publish(s, findingsOf(s.view).findings);
    }
    sendStatus();
  },
  onDone: (job, outcome) => {
    void progress.get(job.id)?.then((r) => r?.done());
    progress.delete(job.id);
    const config = firstConfig(job);
    if (outcome.kind === 'result') {
      lastError = undefined;
      trace({ event: 'finished', job: job.id, config, key: job.key, ms: outcome.ms });
      const entry = {
        key: job.key,
        createdAt: new Date().toISOString(),
        ms: outcome.ms,
        report: outcome.report,
        modelOps: outcome.modelOps,
        batches: outcome.batches,
        noise: noiseParamsOf(analysisPlan(job.job.config.setup)),
      };
      void cache.put(entry).then(() => deliver(job));
    } else if (outcome.kind === 'failed') {
      trace({ event: 'failed', job: job.id, config, key: job.key, detail: outcome.message });
      if (!outcome.userError) {
        lastError = `analysis of ${basename(config)} failed: ${outcome.message.split('\n')[0]}`;
        log(`internal error in the analysis of ${config}:\n${outcome.message}`);
      }
      // Per model file too: a byte-identical copy elsewhere must not be told the other file's problem.
      const failureKey = `${job.key}\0${job.job.config.model}`;
      failures.set(failureKey, outcome.userError ? outcome.message : `internal error (please report it): ${outcome.message.split('\n')[0]}`);
      if (outcome.outOfMemory) memoryFailures.add(failureKey);
      deliver(job);
    } else {
      trace({ event: 'cancelled', job: job.id, config, key: job.key });
      for (const uri of job.interested) void refresh(stateOf(uri));
    }
    sendStatus();
  },
});

function firstConfig(job: Job): string {
  return [...job.interested][0] ?? job.job.config.path;
}

function deliver(job: Job): void {
  for (const path of job.interested) {
    const s = states.get(path);
    if (!s) continue;
    s.delivered = job.key;
    void refresh(s);
  }
}

/** Python exports running now: "I²F: Cancel analyses" and the progress item's cancel button stop them. */
const pythonExports = new Set<AbortController>();

/** A cancellable progress item while the workspace's Python builds and exports a model (LSP work-done progress). */
async function beginPythonProgress(factory: string, config: string): Promise<{ abort: AbortController; done: () => void }> {
  const abort = new AbortController();
  pythonExports.add(abort);
  let reporter: WorkDoneProgressServerReporter | undefined;
  if (canReportProgress) {
    try {
      reporter = await connection.window.createWorkDoneProgress();
      reporter.begin('I²F: building the model in Python', undefined, `${factory} (${basename(config)})`, true);
      reporter.token.onCancellationRequested(() => abort.abort());
    } catch {
      reporter = undefined; // the client declined: the cheap findings are already shown
    }
  }
  return {
    abort,
    done: () => {
      pythonExports.delete(abort);
      reporter?.done();
    },
  };
}

/**
 * make_private_with_epsilon's σ searches (features/noiseSearches.ts): the config shows its clipping-only reading with
 * I2F167 meanwhile, a cancellable progress item names the budget, and the answer reads the config again.
 */
const noiseSearches = new NoiseSearches({
  begin: async (config, query) => {
    if (!canReportProgress) return undefined;
    try {
      const reporter = await connection.window.createWorkDoneProgress();
      const delta = query.targetDelta <= 1e-3 ? query.targetDelta.toExponential() : query.targetDelta;
      const budget = `ε ${query.targetEpsilon}, δ ${delta}, ${query.epochs} epochs, q = ${Number(query.sampleRate.toPrecision(4))}, ${query.accountant.toUpperCase()} accountant`;
      reporter.begin('I²F: deriving σ from target_epsilon', undefined, `${basename(config)}: ${budget}`, true);
      return {
        report: (message) => reporter.report(`${basename(config)}: ${message}`),
        done: () => reporter.done(),
        onCancel: (cancel) => reporter.token.onCancellationRequested(cancel),
      };
    } catch {
      return undefined; // the client declined: I2F167 and the status item still say it
    }
  },
  answered: (config) => {
    const s = states.get(config);
    if (s) void refresh(s);
  },
  cancelled: (config) => {
    const s = states.get(config);
    if (s) void refresh(s);
  },
  changed: () => sendStatus(),
});

/** Folders searched for .venv/venv: the config's folder and its parents up to its workspace folder, nearest first. */
function venvRootsOf(configPath: string): string[] {
  const top = folders.filter((f) => configPath.startsWith(f.endsWith('/') ? f : f + '/')).sort((a, b) => b.length - a.length)[0];
  const roots: string[] = [];
  for (let d = dirname(configPath); ; d = dirname(d)) {
    roots.push(d);
    if (!top || d === top || dirname(d) === d) break;
  }
  return roots;
}

async function beginProgress(job: Job): Promise<WorkDoneProgressServerReporter | undefined> {
  try {
    const reporter = await connection.window.createWorkDoneProgress();
    reporter.begin('I²F analysis', 0, basename(firstConfig(job)), true);
    reporter.token.onCancellationRequested(() => {
      for (const path of job.interested) scheduler.release(path);
    });
    return reporter;
  } catch {
    return undefined; // the client declined: the status item still shows progress
  }
}

function trace(p: JobTraceParams): void {
  if (globalSettings.trace.server !== 'off') void connection.sendNotification(JobTraceNotification, p);
  if (globalSettings.trace.server === 'verbose') log(`job ${p.job ?? '-'} ${p.event}: ${p.config}${p.detail ? ` (${p.detail})` : ''}${p.ms !== undefined ? ` ${p.ms.toFixed(0)} ms` : ''}`);
}

function sendStatus(): void {
  const jobs = scheduler.list();
  const running = jobs.filter((j) => j.state === 'running');
  const queued = jobs.length - running.length;
  const sigmaSearches = noiseSearches.configs();
  let status: StatusParams;
  if (!trusted) {
    status = { state: 'untrusted', text: 'I²F: config rules only', detail: 'The workspace is not trusted: models are not loaded or analysed; only the cheap config rules run. Trust the workspace to see leakage predictions.', running: 0, queued: 0 };
  } else if (!globalSettings.enable) {
    status = { state: 'disabled', text: 'I²F: disabled', detail: 'i2f.enable is false.', running: 0, queued: 0 };
  } else if (jobs.length) {
    const j = running[0];
    const pct = j?.fraction !== undefined ? ` ${Math.round(j.fraction * 100)}%` : '';
    // The band narrowing while the solve runs: "PSNR 31–18 dB" beside the percentage, the sentence in the tooltip.
    const band = j?.band ? ` · ${bandPsnr(j.band.band)}` : '';
    status = {
      state: 'analysing',
      text: `I²F: analysing ${running.length ? basename(firstConfig(j)) : ''}${pct}${band}${queued ? ` (+${queued} queued)` : ''}`.replace(/\s+/g, ' ').trim(),
      detail: [
        j?.band ? `risk so far ${bandRiskLabel(j.band.band)}: ${bandSentence(j.band.band, j.band.expected)} (${j.band.stage} iteration ${j.band.iteration})` : j?.stage ? `stage: ${j.stage}` : undefined,
        sigmaSearches.length ? `σ being derived from the target ε for ${sigmaSearches.map((p) => basename(p)).join(', ')}` : undefined,
      ].filter(Boolean).join('; ') || undefined,
      running: running.length,
      queued,
    };
  } else if (sigmaSearches.length) {
    const [first, ...more] = sigmaSearches;
    status = {
      state: 'analysing',
      text: `I²F: deriving σ for ${basename(first)}${more.length ? ` (+${more.length})` : ''}`,
      detail: 'Opacus\' σ for make_private_with_epsilon is being derived from the target ε (PRV accountant search); until it arrives only the clipping is counted.',
      running: 0,
      queued: 0,
    };
  } else if (lastError) {
    status = { state: 'error', text: 'I²F: error', detail: lastError, running: 0, queued: 0 };
  } else {
    status = { state: 'idle', text: 'I²F', detail: 'Idle: every open training config is analysed.', running: 0, queued: 0 };
  }
  void connection.sendNotification(StatusNotification, status);
}

// ── settings (pulled per resource, cached until didChangeConfiguration) ──

function settingsFor(uri: string | undefined): Promise<I2fSettings> {
  if (!canPullConfiguration) return Promise.resolve(globalSettings);
  const k = uri ?? '';
  let s = settingsByUri.get(k);
  if (!s) {
    s = connection.workspace.getConfiguration(uri ? { scopeUri: uri, section: 'i2f' } : { section: 'i2f' }).then(normaliseSettings, () => DEFAULT_SETTINGS);
    settingsByUri.set(k, s);
  }
  return s;
}

async function applyGlobalSettings(): Promise<void> {
  const before = globalSettings.workerMemoryMB;
  globalSettings = await settingsFor(undefined);
  pool.resize(workerCountOf(globalSettings), globalSettings.workerMemoryMB);
  if (globalSettings.workerMemoryMB !== before) {
    for (const k of memoryFailures) failures.delete(k);
    memoryFailures.clear();
  }
  if (globalSettings.docsBaseUrl) docsBase = globalSettings.docsBaseUrl;
}

// ── config states ──

function toPath(uri: string): string {
  return uri.startsWith('file:') ? fileURLToPath(uri) : uri;
}

function stateOf(pathOrUri: string): ConfigState {
  // A notebook cell's URI (a command run from a cell: audit, spectrum, attack) stands for its notebook.
  if (!pathOrUri.startsWith('file:') && !pathOrUri.startsWith('/')) pathOrUri = notebooks.findNotebookDocumentForCell(pathOrUri)?.uri ?? pathOrUri;
  const path = pathOrUri.startsWith('file:') ? toPath(pathOrUri) : pathOrUri;
  let s = states.get(path);
  if (!s) {
    s = { path, uri: pathToFileURL(path).href, open: false, audited: false, generation: 0, waiters: [] };
    states.set(path, s);
  }
  return s;
}

/** A config that names no model adopts the only model (.onnx or tfjs model.json) in its folder, as discoverWorkspace does. */
function adoptModel(config: DiscoveredConfig): void {
  if (config.model || config.modelRef) return;
  try {
    const here = modelsInFolderSync(dirname(config.path));
    if (here.length === 1) {
      config.model = here[0];
      config.modelSource = 'same-folder';
    }
  } catch {
    // unreadable folder: no model
  }
}

/**
 * Sends a config's findings. An open notebook's go to its cells, mapped through the cells the findings were read from
 * (`cells`, default the view's): a finding of an older reading is never placed by newer cells' lines.
 */
function publish(s: ConfigState, findings: Finding[], data?: LeakageData, cells: NotebookCells | undefined = s.view?.notebook): void {
  if (cells?.broken.length) findings = [...findings, ...brokenCellFindings(cells, s.path)];
  const diagnostics: Diagnostic[] = findings.map((f) => toDiagnostic(f, docsBase, f.code === LEAKAGE_RULE.code ? data : undefined));
  if (s.notebook) publishToCells(s, diagnostics, cells);
  else void connection.sendDiagnostics({ uri: s.uri, diagnostics });
  // Hints and lenses show the analysis too: a client that asked before it finished must ask again (LSP 3.17).
  if (s.open && !s.view?.pending && canRefreshInlayHints) void connection.languages.inlayHint.refresh();
  if (s.open && !s.view?.pending && canRefreshCodeLenses) void connection.sendRequest('workspace/codeLens/refresh');
  if (!s.view?.pending && s.view?.noiseSearch !== 'running') for (const w of s.waiters.splice(0)) w();
}

/** Each cell gets its own diagnostics; a cell shown before that has none now (or is gone) gets an empty list. */
function publishToCells(s: ConfigState, diagnostics: Diagnostic[], cells: NotebookCells | undefined): void {
  const byCell = cells ? diagnosticsByCell(cells, diagnostics) : new Map<string, Diagnostic[]>();
  const shown = s.cellsShown ?? new Set<string>();
  s.cellsShown = new Set([...byCell].filter(([, d]) => d.length).map(([uri]) => uri));
  // Only cells with findings, and those that had some (now cleared): a keystroke in a notebook of 200 cells sends a few.
  for (const [uri, d] of byCell) if (d.length || shown.has(uri)) void connection.sendDiagnostics({ uri, diagnostics: d });
  for (const uri of shown) if (!byCell.has(uri)) void connection.sendDiagnostics({ uri, diagnostics: [] });
}

/** Clears every cell of a notebook that is closing. */
function clearCells(s: ConfigState): void {
  for (const uri of s.cellsShown ?? []) void connection.sendDiagnostics({ uri, diagnostics: [] });
  s.cellsShown = undefined;
}

function findingsOf(view: ConfigView): { findings: Finding[]; data?: LeakageData } {
  const { config, settings } = view;
  const findings: Finding[] = checkTrainingSetup(config.setup, { modelOps: trusted ? view.result?.entry.modelOps : undefined });
  findings.push(...privacyFindings(view.privacy, config.path, settings.thresholds.epsilon));
  const searching = view.noiseSearch && noiseSearchFinding(config.setup, view.noiseSearch);
  if (searching) findings.push(searching);
  let data: LeakageData | undefined;
  if (view.result) {
    const f = leakageFindingOf(config, view.result.report, configAnalysisSettings(settings));
    const b = worstBatch(view.result.report)!;
    findings.push(f);
    const exported = exportedThetaFinding(config, view.result.report.model.theta, view.result.entry.modelOps);
    if (exported) findings.push(exported);
    data = { key: view.result.entry.key, fromCache: view.result.fromCache, analysedAt: view.result.entry.createdAt, risk: b.risk, psnr: expectedPsnr(b), rmse: b.i2fExpected !== undefined ? b.expectedRmse : b.rmse,
      ...(b.tokens ? { tokensRecovered: mostExposedTokens(b.tokens).recovered } : {}) };
  } else if (view.pending && view.provisional && trusted && settings.provisionalFindings) {
    findings.push(provisionalFinding(config, view.provisional));
  } else if (view.failure) {
    findings.push(analysisFailedFinding(config, view.failure));
  } else if (trusted && view.notAnalysed === NOT_A_MODEL_FILE && config.model) {
    findings.push(notAModelFinding(config, config.model));
  }
  return { findings, data };
}

/** The DP account of a setup; a bug in it must cost the ε, never the config's other results. */
function safePrivacyAccount(setup: Parameters<typeof privacyAccount>[0]): PrivacyAccount | undefined {
  try {
    return privacyAccount(setup);
  } catch (e) {
    log(`privacy accounting failed: ${(e as Error)?.stack ?? e}`);
    return undefined;
  }
}

async function readText(s: ConfigState): Promise<string | undefined> {
  const doc = documents.get(s.uri);
  if (doc) return doc.getText();
  try {
    const st = await fs.stat(s.path);
    if (!st.isFile() || st.size > 1_000_000) return undefined;
    return await fs.readFile(s.path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Re-reads a config and publishes what is known now; queues the analysis it needs. */
/**
 * Refreshes run a few at a time: 200 configs opened at once otherwise parse, hash and publish back to back on the
 * main thread, and a code action waited 270-550 ms behind them (bench/load.ts). A refresh superseded while it
 * waited for its slot does nothing.
 */
const refreshSlots = new Slots(4);

async function refresh(s: ConfigState, debounceMs = 0): Promise<void> {
  const generation = ++s.generation;
  const release = await refreshSlots.acquire();
  try {
    if (generation === s.generation) await refreshNow(s, generation, debounceMs);
  } catch (e) {
    // A bug of ours on one config must not end the server (an unhandled rejection would) and every other result.
    lastError = `refreshing ${basename(s.path)} failed: ${(e as Error)?.message ?? e}`;
    log(`internal error while refreshing ${s.path}:\n${(e as Error)?.stack ?? e}`);
    sendStatus();
  } finally {
    release();
  }
}

async function refreshNow(s: ConfigState, generation: number, debounceMs: number): Promise<void> {
  const stale = () => generation !== s.generation;
  // An open notebook: its code cells as the editor has them now, joined; the view built from them keeps this reading.
  const cells = s.notebook ? await notebookCellsNow(s.notebook) : undefined;
  const text = cells ? cells.text : await readText(s);
  const settings = await settingsFor(s.uri);
  if (stale()) return;
  const drop = () => {
    scheduler.release(s.path);
    noiseSearches.release(s.path);
    s.view = undefined;
    publish(s, [], undefined, cells);
  };
  if (text === undefined || !settings.enable) return drop();
  // make_private_with_epsilon's σ, when not yet remembered, is searched for below: the reading comes back at once.
  const parsed = await readTrainingSource(s.path, text, { fileExists: existsSync, readText: (p) => documents.get(pathToFileURL(p).href)?.getText(), python: !!cells, noiseSearch: 'later' });
  if (stale()) return;
  if (!parsed) return drop();
  if ('kind' in parsed) {
    scheduler.release(s.path);
    noiseSearches.release(s.path);
    s.view = undefined;
    publish(s, [syntaxFinding(parsed)], undefined, cells);
    return;
  }
  const config = linkConfig(s.path, parsed);
  adoptModel(config);
  // The latest checkpoint training wrote replaces the named weights (checkpoint watching).
  const { waitingFor } = trusted ? checkpoints.applyLatest(s.path, config) : {};
  const view: ConfigView = { uri: s.uri, text, config, settings, pending: false, ...(cells ? { notebook: cells } : {}) };
  view.privacy = safePrivacyAccount(config.setup);
  const wanted = s.open || s.audited;
  // σ not yet known: searched for while the file is open or audited (an edit's search after the edit settles), the
  // clipping-only reading shown meanwhile; a search for another budget, or for none, is stopped.
  const pendingNoise = config.setup.noiseFromTarget?.pending;
  if (pendingNoise && wanted) view.noiseSearch = noiseSearches.want(s.path, pendingNoise.query, debounceMs);
  else {
    noiseSearches.release(s.path);
    if (pendingNoise) view.noiseSearch = 'not-open';
  }
  if (trusted && wanted && needsMaterialising(config)) {
    // A model named by architecture (or in Python): written into the cache once, then analysed like a file.
    const ref = config.modelRef!;
    // A Python export takes seconds: the cheap rules are published meanwhile, and a progress item says what runs.
    if (ref.kind === 'python') publish(s, checkTrainingSetup(config.setup, {}), undefined, cells);
    const exporting = ref.kind === 'python' ? await beginPythonProgress(ref.factory, s.path) : undefined;
    try {
      const m = await materialiseModel(ref, {
        cacheDir: storagePath,
        signal: exporting?.abort.signal,
        python: { configured: settings.python || undefined, extension: settings.pythonExtensionInterpreter || undefined, venvRoots: venvRootsOf(s.path), timeoutMs: settings.pythonTimeoutSeconds * 1000 },
      });
      config.model = m.path;
      config.modelDescription = m.description;
      if (m.initialisation) config.modelInitialisation = m.initialisation;
    } catch (e) {
      if (stale()) return;
      if (!isUserError(e)) log(`internal error while writing the model of ${s.path}:\n${(e as Error)?.stack ?? e}`);
      view.failure = isUserError(e) ? e.describe() : `internal error (please report it): ${(e as Error)?.message ?? e}`;
    } finally {
      exporting?.done();
    }
    if (stale()) return;
  }
  const model = config.model;
  if (view.failure) {
    // set above: the model could not be written
  } else if (!trusted) view.notAnalysed = 'the workspace is not trusted, so models are not loaded';
  else if (!model) view.notAnalysed = config.modelRef && !wanted ? 'open the config or run "I²F: Audit workspace"' : noModelReason(config.setup);
  else if (!existsSync(model)) view.notAnalysed = 'the model file is missing';
  else if (!isAnalysableModelFile(model)) view.notAnalysed = NOT_A_MODEL_FILE;
  else if (!wanted) view.notAnalysed = 'open the config or run "I²F: Audit workspace"';
  else if (waitingFor) view.notAnalysed = `the checkpoint ${basename(waitingFor)} is still being written`;
  else {
    const size = statSync(model).size;
    if (size > settings.maxModelSizeMB * 1024 * 1024) {
      view.failure = `the model is ${(size / 1048576).toFixed(0)} MB, above i2f.maxModelSizeMB (${settings.maxModelSizeMB} MB); raise the setting to analyse it`;
    }
  }
  if (view.notAnalysed || view.failure) {
    scheduler.release(s.path);
    s.view = view;
    const { findings, data } = findingsOf(view);
    return publish(s, findings, data);
  }

  const t0 = performance.now();
  const knobs = analysisKnobs(settings);
  let key: string;
  try {
    key = await analysisKey(config, knobs, hasher);
  } catch (e) {
    if (stale()) return;
    view.failure = `cannot read ${model}: ${(e as Error).message}`;
    s.view = view;
    const { findings } = findingsOf(view);
    return publish(s, findings);
  }
  const entry = await cache.get(key);
  if (stale()) return;
  if (entry) {
    scheduler.release(s.path);
    const thresholds = riskThresholdsOf(settings);
    const { report, rescaled } = reevaluate(entry, config.setup, thresholds, settings.targetPsnr);
    const fromCache = s.delivered !== key;
    s.delivered = undefined;
    view.result = { report, entry, fromCache, rescaled };
    s.view = view;
    void checkpoints.record(s.path, config, report, key, entry.createdAt);
    if (fromCache) {
      counters.cacheHits++;
      if (rescaled) counters.noiseRescales++;
      trace({ event: rescaled ? 'noise-rescaled' : 'cache-hit', config: s.path, key, ms: performance.now() - t0 });
    }
    const { findings, data } = findingsOf(view);
    return publish(s, findings, data);
  }
  const failure = failures.get(`${key}\0${model}`);
  if (failure) {
    scheduler.release(s.path);
    // A watched checkpoint that cannot be analysed (a mismatched state_dict) is not waited on: the next one is tried.
    if (config.weights) checkpoints.release(s.path, config.weights);
    view.failure = failure;
    s.view = view;
    return publish(s, findingsOf(view).findings);
  }
  view.pending = true;
  // A job already running for this key keeps its provisional answer on the new text.
  const running = scheduler.list().find((j) => j.key === key);
  if (running?.band) view.provisional = running.band;
  s.view = view;
  publish(s, findingsOf(view).findings); // the cheap rules now (and the running job's band); I2F001 when the job is done
  scheduler.want(s.path, key, { config, settings: configAnalysisSettings(settings) }, debounceMs);
}

/**
 * Resolves once the config has no analysis queued or running. Call it after awaiting refresh(s): a file that turned
 * out not to be a training config (or not to parse) has no view and nothing pending, and is settled too.
 */
function whenSettled(s: ConfigState): Promise<void> {
  if (!s.view?.pending && s.view?.noiseSearch !== 'running' && !scheduler.pendingFor(s.path) && !scheduler.hasTimer(s.path)) return Promise.resolve();
  return new Promise((r) => s.waiters.push(r));
}

/** Configs whose analysis reads `path` (their model, weights or samples). */
function dependents(path: string): ConfigState[] {
  return [...states.values()].filter((s) => {
    const c = s.view?.config;
    if (!c) return false;
    if ([c.model, c.weights, c.samples].some((p) => p && (p === path || path.startsWith(p.endsWith('/') ? p : p + '/')))) return true;
    // A TensorFlow.js model.json reads its weight shards from its folder: a changed shard changes the model.
    return !!c.model && modelFileFormat(c.model) === 'tfjs' && dirname(path) === dirname(c.model);
  });
}

// ── LSP wiring ──

connection.onInitialize((params): InitializeResult => {
  const options = (params.initializationOptions ?? {}) as InitializationOptions;
  if (options.storagePath) storagePath = options.storagePath;
  useCacheDir(storagePath); // the σ memo beside the analysis cache, in the extension's storage
  if (typeof options.trusted === 'boolean') trusted = options.trusted;
  if (options.docsBase) docsBase = options.docsBase;
  cache = new ResultCache(storagePath, log);
  if (typeof options.checkpointPollMs === 'number' && options.checkpointPollMs >= 50) checkpointPollMs = options.checkpointPollMs;
  checkpoints = new CheckpointWatcher(storagePath, {
    configs: () => (trusted ? [...states.values()].filter((s) => (s.open || s.audited) && s.view).map((s) => ({ path: s.path, config: s.view!.config })) : []),
    onCheckpoint: (path, checkpoint) => {
      const s = states.get(path);
      if (s) {
        // Re-hash what was rewritten in place even if its size and mtime came back the same.
        hasher.forget(checkpoint.path);
        void refresh(s);
      }
    },
    log,
  });
  folders = (params.workspaceFolders ?? []).map((f) => toPath(f.uri));
  if (!folders.length && params.rootUri) folders = [toPath(params.rootUri)];
  const caps = params.capabilities;
  canPullConfiguration = !!caps.workspace?.configuration;
  canWatchDynamically = !!caps.workspace?.didChangeWatchedFiles?.dynamicRegistration;
  canReportProgress = !!caps.window?.workDoneProgress;
  canRefreshInlayHints = !!caps.workspace?.inlayHint?.refreshSupport;
  canRefreshCodeLenses = !!caps.workspace?.codeLens?.refreshSupport;
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      // Jupyter notebooks (the client syncs them with notebookDocument/* when the server declares this). Every cell, not
      // only the Python ones: messages count cells as Jupyter and VS Code do ("cell 28"), markdown included.
      notebookDocumentSync: { notebookSelector: [{ notebook: { notebookType: 'jupyter-notebook', scheme: 'file' } }] },
      hoverProvider: true,
      inlayHintProvider: true,
      codeLensProvider: { resolveProvider: false },
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
      workspace: { workspaceFolders: { supported: true, changeNotifications: true } },
    },
    serverInfo: { name: 'i2f-privacy-lint', version: '0.1.0' },
  };
});

connection.onInitialized(async () => {
  if (canPullConfiguration) void connection.client.register(DidChangeConfigurationNotification.type, { section: 'i2f' });
  if (canWatchDynamically) {
    void connection.client.register(DidChangeWatchedFilesNotification.type, {
      watchers: [{ globPattern: '**/*.{onnx,safetensors,json,yaml,yml,toml,conf,hocon,py,ipynb,npy,png,jpg,jpeg,pt,pth,ckpt,bin}' }],
    });
  }
  await applyGlobalSettings();
  checkpoints.start(checkpointPollMs);
  log(`I²F server: storage ${storagePath}, ${trusted ? 'trusted' : 'untrusted'} workspace, ${workerCountOf(globalSettings)} analysis worker(s) at most`);
  sendStatus();
  for (const folder of folders) {
    const scan = await discoverWorkspace(folder, { noiseSearch: 'later' });
    for (const c of scan.configs) if (!states.has(c.path)) void refresh(stateOf(c.path));
    for (const e of scan.syntaxErrors) if (!states.has(e.file)) void refresh(stateOf(e.file));
    log(`discovered ${scan.configs.length} training config(s) and ${scan.models.length} model(s) under ${folder}${scan.truncated ? ' (partial: the folder is large)' : ''}`);
  }
});

documents.onDidOpen((e) => {
  const s = stateOf(e.document.uri);
  s.uri = e.document.uri;
  s.open = true;
  s.openedVersion = e.document.version;
  void refresh(s);
});
documents.onDidChangeContent((e) => {
  const s = stateOf(e.document.uri);
  if (e.document.version === s.openedVersion) return; // didOpen already refreshed this text
  void refresh(s, EDIT_DEBOUNCE_MS);
  for (const other of sameApp(s.path)) void refresh(other, EDIT_DEBOUNCE_MS);
});

/**
 * A Flower app's pyproject.toml and its Python read each other (the code's run-config values; the config's deferral
 * to the code): an edit to one re-reads the others known under the same app folder.
 */
function sameApp(path: string): ConfigState[] {
  const ext = extname(path).toLowerCase();
  if (basename(path) === 'pyproject.toml') {
    const root = dirname(path);
    return [...states.values()].filter((s) => s.path !== path && extname(s.path) === '.py' && s.path.startsWith(root + '/'));
  }
  if (ext !== '.py') return [];
  return [...states.values()].filter((s) => basename(s.path) === 'pyproject.toml' && path.startsWith(dirname(s.path) + '/') && path.split('/').length - s.path.split('/').length <= 4);
}
documents.onDidClose((e) => {
  const s = stateOf(e.document.uri);
  s.open = false;
  scheduler.release(s.path);
  noiseSearches.forget(s.path);
  void refresh(s); // back to the file on disk; cheap rules only unless audited
});

// ── Jupyter notebooks (LSP 3.17 notebook document sync): the Python code cells, read as one file at the notebook's path ──

/** A notebook's Python code cells as the editor has them now (markdown and other languages' cells are not Python). */
async function notebookCellsNow(notebookUri: string): Promise<NotebookCells | undefined> {
  const nb = notebooks.getNotebookDocument(notebookUri);
  if (!nb) return undefined;
  const cells: { uri: string; text: string; number: number }[] = [];
  nb.cells.forEach((cell, k) => {
    if (cell.kind !== NotebookCellKind.Code) return;
    const doc = notebooks.getCellTextDocument(cell);
    if (doc && doc.languageId === 'python') cells.push({ uri: cell.document, text: doc.getText(), number: k + 1 });
  });
  return notebookCells(nb.uri, cells);
}

notebooks.onDidOpen((nb: NotebookDocument) => {
  const s = stateOf(nb.uri);
  // What was published on the .ipynb file itself (read from disk) moves into the cells.
  if (!s.notebook) void connection.sendDiagnostics({ uri: s.uri, diagnostics: [] });
  s.uri = nb.uri;
  s.notebook = nb.uri;
  s.open = true;
  void refresh(s);
});
// Cell edits, added or removed cells: re-read at once, the analysis debounced as a .py file's edits are.
notebooks.onDidChange((e) => {
  const s = states.get(toPath(e.notebookDocument.uri));
  if (s?.notebook) void refresh(s, EDIT_DEBOUNCE_MS);
});
notebooks.onDidSave((nb: NotebookDocument) => {
  const s = states.get(toPath(nb.uri));
  if (s?.notebook) void refresh(s);
});
notebooks.onDidClose((nb: NotebookDocument) => {
  const s = states.get(toPath(nb.uri));
  if (!s?.notebook) return;
  clearCells(s);
  s.notebook = undefined;
  s.open = false;
  scheduler.release(s.path);
  noiseSearches.forget(s.path);
  void refresh(s); // back to the file on disk, as a closed .py is
});

/** The view a request on this document answers from: a config's own, or an open notebook's for one of its cells. */
function viewFor(uri: string): { view: ConfigView; cell?: { nb: NotebookCells; index: number } } | undefined {
  const nb = notebooks.findNotebookDocumentForCell(uri);
  if (!nb) {
    const view = states.get(toPath(uri))?.view;
    return view ? { view } : undefined;
  }
  const view = states.get(toPath(nb.uri))?.view;
  const cells = view?.notebook;
  if (!view || !cells) return undefined;
  const index = cellIndexOf(cells, uri);
  return index < 0 ? undefined : { view, cell: { nb: cells, index } };
}

connection.onDidChangeConfiguration(async (params) => {
  settingsByUri.clear();
  // A client that does not answer workspace/configuration pushes its settings here instead (Neovim 0.7 sends its
  // `settings` table on start without advertising the capability): without this its 'i2f' section was ignored.
  const pushed = (params?.settings as { i2f?: unknown } | undefined)?.i2f;
  if (!canPullConfiguration && pushed && typeof pushed === 'object') globalSettings = normaliseSettings(pushed);
  await applyGlobalSettings();
  sendStatus();
  for (const s of states.values()) void refresh(s);
});

connection.onDidChangeWatchedFiles((params) => {
  const touched = new Set<ConfigState>();
  for (const change of params.changes) {
    const path = toPath(change.uri);
    hasher.forget(path);
    for (const s of dependents(path)) touched.add(s);
    if (CONFIG_EXTENSIONS.has(extname(path).toLowerCase())) {
      const s = states.get(path);
      if (change.type === FileChangeType.Deleted) {
        if (s && !s.open) {
          scheduler.release(path);
          publish(s, []);
          states.delete(path);
        }
      } else if (!s?.open) touched.add(stateOf(path));
      for (const other of sameApp(path)) touched.add(other);
    }
    // A model or data file that appears may be one a config was missing.
    if (change.type === FileChangeType.Created) {
      for (const s of states.values()) if (s.view?.notAnalysed === 'the model file is missing' || s.view?.config.model === undefined) touched.add(s);
    }
  }
  for (const s of touched) void refresh(s);
});

// A cell's requests are answered on the joined text and mapped back (features/notebookCells.ts).
connection.onHover((p) => {
  const at = viewFor(p.textDocument.uri);
  if (!at) return null;
  if (!at.cell) return hoverAt(at.view, p.position);
  return hoverInCell(at.cell.nb, hoverAt(at.view, toJoined(at.cell.nb, at.cell.index, p.position)));
});
connection.languages.inlayHint.on((p) => {
  const at = viewFor(p.textDocument.uri);
  if (!at) return [];
  if (!at.cell) return inlayHints(at.view, p.range);
  return hintsInCell(at.cell.nb, at.cell.index, inlayHints(at.view, rangeToJoined(at.cell.nb, at.cell.index, p.range)));
});
connection.onCodeLens((p) => {
  const at = viewFor(p.textDocument.uri);
  if (!at) return [];
  return at.cell ? lensesInCell(at.cell.nb, at.cell.index, codeLenses(at.view)) : codeLenses(at.view);
});
connection.onCodeAction((p) => {
  const at = viewFor(p.textDocument.uri);
  if (!at) return [];
  if (!at.cell) return codeActions(at.view, p.context.diagnostics);
  const { nb, index } = at.cell;
  // The editor's diagnostics carry cell ranges; the fixes are found on the joined text and their edits put in the cells.
  const diagnostics = p.context.diagnostics.map((d) => ({ ...d, range: rangeToJoined(nb, index, d.range) }));
  return codeActions(at.view, diagnostics).map((a) => actionInCells(nb, a));
});

connection.onRequest(StatsRequest, (): StatsResult => ({
  ...scheduler.stats,
  debouncing: scheduler.debouncing,
  workerRestarts: pool.restarts,
  ...counters,
  workers: pool.describe().map((w) => {
    const job = w.job !== undefined ? scheduler.list().find((j) => j.id === w.job) : undefined;
    return { ...w, ...(job ? { config: firstConfig(job) } : {}) };
  }),
  storagePath,
  checkpointLooks: checkpoints.looks,
  noiseSearches: opacusNoiseSearchesInFlight(),
}));

connection.onRequest(CheckpointHistoryRequest, async (params: CheckpointHistoryParams): Promise<CheckpointHistoryResult> => {
  if (!params || typeof params.uri !== 'string') return { ok: false, message: 'the request needs the config uri' };
  return { ok: true, history: await checkpoints.history.get(toPath(params.uri)) };
});

connection.onRequest(AuditRequest, async (params: AuditParams): Promise<AuditResult> => {
  const targets = params?.uris?.length ? params.uris.map((u) => stateOf(u)) : [...states.values()];
  // Each refresh must have queued its analysis before we wait on it (else the previous, settled view answers).
  await Promise.all(targets.map(async (s) => {
    s.audited = true;
    await refresh(s);
    await whenSettled(s);
  }));
  const all = targets.flatMap((s) => (s.view ? findingsOf(s.view).findings : []));
  return {
    configs: targets.filter((s) => s.view).length,
    findings: all.length,
    errors: all.filter((f) => f.severity === 'error').length,
    warnings: all.filter((f) => f.severity === 'warning').length,
  };
});

connection.onRequest(SpectrumReportRequest, async (params: SpectrumReportParams): Promise<SpectrumReportResult> => {
  const s = stateOf(params.uri);
  if (!s.view?.result && !s.view?.failure) {
    s.audited = true;
    await refresh(s);
    await whenSettled(s);
  }
  return { text: spectrumReport(s) };
});


// ── The webviews' data (spectrum panel, model report): computed in a worker, never on the server's thread ──────

/** Spectrum states by SpectrumView.key: the noise slider re-answers from these with no products. */
const spectra = new Map<string, SpectrumState>();
const MAX_SPECTRA = 8;
/** Worker requests get ids far from the scheduler's job ids. */
let nextWorkerRequest = 1_000_000_000;

connection.onRequest(SpectrumDataRequest, async (params: SpectrumDataParams): Promise<SpectrumDataResult> => {
  if (!trusted) return { ok: false, message: 'This workspace is not trusted: models are not loaded, so there is no spectrum to show.' };
  const problem = spectrumParamsProblem(params);
  if (problem) return { ok: false, message: `Bad spectrum request: ${problem}.` };
  const s = stateOf(params.uri);
  await refresh(s);
  const view = s.view;
  if (!view) return { ok: false, message: `${basename(s.path)} is not a training config the I²F analysis understands.` };
  const cas = configAnalysisSettings(view.settings);
  const request = analyzeRequestFor(view.config, cas);
  if (!request) return { ok: false, message: `${basename(s.path)} names no ONNX model on disk.` };
  const outcome = await pool.submit(nextWorkerRequest++, {
    type: 'spectrum',
    request: {
      ...request,
      config: s.path,
      damping: params.damping ?? request.damping,
      // A per-sample spread needs more than the editor's one sample.
      maxSamples: Math.max(view.settings.maxSamples, 8),
      ...(params.sample !== undefined ? { sample: params.sample } : {}),
      ...(params.k !== undefined ? { k: params.k } : {}),
      ...(params.std !== undefined ? { std: params.std } : {}),
    },
  });
  if (outcome.kind === 'failed') return { ok: false, message: outcome.message };
  if (outcome.kind !== 'spectrum') return { ok: false, message: 'The spectrum computation was cancelled.' };
  // The frontier pairs the analysed std with the config's DP account (ε per noise multiplier).
  const privacy = spectrumPrivacyOf(view.privacy, outcome.state.view.settings.configuredStd, {
    epsilonThreshold: view.settings.thresholds.epsilon, targetPsnr: view.config.setup.targetPsnr?.value ?? view.settings.targetPsnr,
  });
  if (privacy) outcome.state.privacy = privacy;
  const data = spectrumView(outcome.state, params.std);
  spectra.delete(data.key);
  spectra.set(data.key, outcome.state);
  while (spectra.size > MAX_SPECTRA) spectra.delete(spectra.keys().next().value!);
  return { ok: true, data };
});

connection.onRequest(SpectrumNoiseRequest, (params: SpectrumNoiseParams): SpectrumNoiseResult => {
  const problem = noiseParamsProblem(params);
  if (problem) return { ok: false, message: `Bad noise request: ${problem}.` };
  const state = spectra.get(params.key);
  if (!state) return { ok: false, message: 'no cached spectrum' };
  return { ok: true, noise: noiseView(state, params.std) };
});

connection.onRequest(ModelSummaryRequest, async (params: ModelSummaryParams): Promise<ModelSummaryResult> => {
  if (!trusted) return { ok: false, message: 'This workspace is not trusted: model files are not read.' };
  const file = toPath(params.uri);
  const settings = await settingsFor(params.uri);
  // Large checkpoints are summarised from disk by a worker (a hostile file cannot take the server down).
  const outcome = await pool.submit(nextWorkerRequest++, { type: 'summary', file, maxBytes: settings.maxModelSizeMB * 1024 * 1024 });
  if (outcome.kind === 'failed') return { ok: false, message: outcome.message };
  if (outcome.kind !== 'summary') return { ok: false, message: 'The summary was cancelled.' };
  const results: LatestResult[] = [];
  for (const st of states.values()) {
    const r = st.view?.result;
    if (!r || st.view?.config.model !== file) continue;
    const b = worstBatch(r.report);
    if (!b) continue;
    results.push({
      config: st.path,
      analysedAt: r.entry.createdAt,
      risk: b.risk,
      psnr: expectedPsnr(b),
      rmse: b.i2fExpected !== undefined ? b.expectedRmse : b.rmse,
      defences: b.defense,
      fromCache: r.fromCache,
    });
  }
  return { ok: true, summary: outcome.summary, results };
});

/**
 * Runs one worker request for a config on the client's progress token when it sent one (a page mirrors that
 * progress), else on a server-created progress; cancelled from either.
 */
async function withWorkerProgress(
  params: { uri: string; workDoneToken?: string | number },
  token: CancellationToken,
  title: string,
  request: (id: number, progress: (stage: string, fraction: number) => void) => Promise<JobOutcome>,
): Promise<JobOutcome> {
  const id = nextWorkerRequest++;
  const attached = params.workDoneToken !== undefined ? connection.window.attachWorkDoneProgress(params.workDoneToken) : undefined;
  const created = !attached && canReportProgress ? await connection.window.createWorkDoneProgress() : undefined;
  const reporter = attached ?? created;
  reporter?.begin(title, 0, basename(stateOf(params.uri).path), true);
  const cancel = () => pool.cancel(id);
  token.onCancellationRequested(cancel);
  created?.token.onCancellationRequested(cancel);
  try {
    return await request(id, (stage, fraction) => reporter?.report(Math.round(fraction * 100), stage));
  } finally {
    reporter?.done();
  }
}

/**
 * The analysis request of the config at `uri` for an on-demand job (attack, engine check): refused with a message
 * when the workspace is untrusted, the file is not a config we understand, or it names no model on disk. The request
 * carries the config's settings (model size limit included) as the background analysis does.
 */
async function configRun(uri: string, refusal: string): Promise<{ ok: true; s: ConfigState; request: AnalyzeRequest } | { ok: false; message: string }> {
  if (!trusted) return { ok: false, message: `This workspace is not trusted: models are not loaded, so ${refusal}.` };
  const s = stateOf(uri);
  await refresh(s);
  const view = s.view;
  if (!view) return { ok: false, message: `${basename(s.path)} is not a training config the I²F analysis understands.` };
  const request = analyzeRequestFor(view.config, configAnalysisSettings(view.settings));
  if (!request) return { ok: false, message: `${basename(s.path)} names no ONNX or TensorFlow.js model on disk.` };
  return { ok: true, s, request };
}

connection.onRequest(ConfirmAttackRequest, async (params: ConfirmAttackParams, token): Promise<ConfirmAttackResult> => {
  const run = await configRun(params.uri, 'no attack can run');
  if (!run.ok) return run;
  const { s, request } = run;
  const outcome = await withWorkerProgress(params, token, 'I²F: confirming with a real attack', (id, progress) => pool.submit(
    id,
    {
      type: 'attack',
      request: {
        ...request,
        // One batch: the attack costs hundreds of analyses' worth of products (I2F.md: 300 L-BFGS steps in DLG).
        maxSamples: request.batch,
        attack: { optimizer: 'lbfgs', objective: 'l2', tv: 0, restarts: 1 },
        keepInputs: true,
      },
    },
    progress,
  ));
  if (outcome.kind === 'failed') return { ok: false, message: outcome.message };
  if (outcome.kind !== 'attack') return { ok: false, message: 'The attack was cancelled.', cancelled: true };
  const report = { ...outcome.report, results: outcome.report.results.map(({ inputs: _, ...b }) => b) };
  return { ok: true, config: s.path, report, view: attackView(outcome.report, s.path) };
});

connection.onRequest(VerifyEnginesRequest, async (params: VerifyEnginesParams, token): Promise<VerifyEnginesResult> => {
  const run = await configRun(params.uri, 'the engines cannot be checked');
  if (!run.ok) return run;
  const { s, request } = run;
  const outcome = await withWorkerProgress(params, token, 'I²F: verifying the engines', (id, progress) =>
    pool.submit(id, { type: 'verify', request }, progress));
  if (outcome.kind === 'failed') return { ok: false, message: outcome.message };
  if (outcome.kind !== 'verify') return { ok: false, message: 'The engine check was cancelled.', cancelled: true };
  const r = outcome.report;
  const verdict = r.agree
    ? `the ONNX and TensorFlow.js engines agree: largest relative disagreement ${r.max.toExponential(1)} (≤ ${r.tolerance})`
    : `the engines DISAGREE: largest relative disagreement ${r.max.toExponential(1)} (> ${r.tolerance}); please report it with the model`;
  log(`verify engines ${s.path}: ${verdict}\n  ${describeVerification(r).join('\n  ')}`);
  return { ok: true, config: s.path, report: r, summary: `${basename(s.path)}: ${verdict} over ${r.batches.length} batch(es).` };
});

connection.onRequest(CancelAllRequest, () => {
  const n = scheduler.cancelAll() + pythonExports.size + noiseSearches.cancelAll();
  for (const a of pythonExports) a.abort();
  for (const s of states.values()) if (s.view?.pending) {
    s.view.pending = false;
    publish(s, findingsOf(s.view).findings);
  }
  sendStatus();
  return { cancelled: n };
});

connection.onRequest(ClearCacheRequest, async (): Promise<ClearCacheResult> => {
  const removedFiles = await cache.clear();
  failures.clear();
  memoryFailures.clear();
  hasher.clear();
  for (const s of states.values()) void refresh(s);
  return { removedFiles };
});

connection.onNotification(TrustNotification, (p: TrustParams) => {
  trusted = p.trusted;
  sendStatus();
  for (const s of states.values()) void refresh(s);
});

connection.onShutdown(async () => {
  checkpoints?.stop();
  pool.dispose();
  cancelOpacusNoiseSearches(); // their workers terminated: the process can end
  // Results already shown may still be on their way to the storage folder: the client sends exit (and this process
  // ends) once shutdown has answered, so the next start finds them (bench/firstFinding.ts's warm run, a restart).
  await cache?.flush();
});
connection.onExit(() => {
  pool.dispose();
  cancelOpacusNoiseSearches();
});

function spectrumReport(s: ConfigState): string {
  const view = s.view;
  const lines = [`I²F spectrum report: ${s.path}`, ''];
  if (!view) return [...lines, 'Not a training config (or it does not parse).'].join('\n');
  if (!view.result) return [...lines, view.failure ? `The model could not be analysed: ${view.failure}` : `Not analysed: ${view.notAnalysed ?? 'pending'}.`].join('\n');
  const { report, entry } = view.result;
  lines.push(`Model:   ${report.model.path} (${report.model.parameters} trainable parameters; θ = ${report.model.theta.join(', ')})`);
  if (report.model.weights) lines.push(`Weights: ${report.model.weights}`);
  lines.push(`Samples: ${report.settings.data}`, `Damping ε = ${report.settings.damping}; analysed ${entry.createdAt} in ${(entry.ms / 1000).toFixed(1)} s`, '');
  report.results.forEach((b, k) => {
    const n = entry.batches[k]?.noise;
    lines.push(`Batch ${k + 1} (samples ${b.samples.join(', ')}, labels ${b.labels.join(', ')}):`);
    lines.push(`  λmax(J Jᵀ)                 ${full(b.lambdaMax)}`);
    if (n) {
      lines.push(`  noise trace T = E‖I(z)‖²   ${full(n.noiseTrace)}${n.noiseTraceStdError ? ` ± ${full(n.noiseTraceStdError)}` : ''} (${n.noiseTraceMethod}; = Σ λ/(λ+ε)² over the spectrum)`);
      lines.push(`  ‖J δ_det‖², ‖J z‖²          ${full(n.jDeterministicNormSq)}, ${full(n.jNoiseNormSq)}`);
    }
    lines.push(`  defences                   ${b.defense.join(' then ') || 'none'}`);
    lines.push(`  I²F (RMS over noise)       ${full(b.i2fExpected ?? b.i2f)}; lower bound ‖Jδ‖/λmax ${full(b.lowerBound)}`);
    lines.push(`  predicted PSNR / RMSE      ${full(expectedPsnr(b))} dB / ${full(b.i2fExpected !== undefined ? b.expectedRmse : b.rmse)}  → risk ${b.risk}`);
    lines.push(`  solver                     ${b.solver.method}, ${b.solver.iterations} iterations, relative residual ${full(b.solver.relativeResidual)}${b.solver.converged ? '' : ' (not converged)'}`);
    lines.push('');
  });
  lines.push('The full eigen-spectrum view (eigenvalues of J Jᵀ and where δ puts its energy along them) comes with the');
  lines.push('spectrum webview; this report shows the extreme eigenvalue and the noise trace the analysis computed.');
  return lines.join('\n');
}


documents.listen(connection);
notebooks.listen(connection);
connection.listen();

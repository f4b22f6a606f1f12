// `i2f audit [PATH…]`: discover training configs and models as the language server does, run the same cheap rules
// and I²F analyses through the same content-hash result cache, and report the findings as text, JSON, SARIF or one
// HTML page. The findings of a config are derived exactly as server.ts's findingsOf derives them (cheap rules with
// the model's ops from the analysis, then I2F001 re-evaluated from the cached analysis for this config's noise,
// thresholds and target, or I2F002); test/cli/lspParity.test.ts holds the two to the same set.

import { existsSync, promises as fs, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { placeInNotebook } from './notebookFindings';
import { defaultCacheDir, useCacheDir } from '../cacheRoot';
import { discoverWorkspace, modelFormatOf, needsMaterialising, type DiscoveredConfig } from '../workspace/discover';
import { materialiseModel } from '../models/materialise';
import { exportedThetaFinding } from './exportedTheta';
import { checkTrainingSetup, syntaxFinding } from '../config/rules';
import { privacyAccount } from './privacyAccount';
import { privacyFindings } from './privacyFindings';
import { analysisPlan } from '../config/defences';
import { isUserError } from '../errors';
import { isAnalysableModelFile, loadModelFile } from '../backends/modelFile';
import { opHistogram } from '../graph/support';
import { analyseConfig, analysisFailedFinding, ANALYSIS_FAILED_RULE, leakageFindingOf, NOT_A_MODEL_FILE, noModelReason, notAModelFinding, type Finding } from './configFindings';
import { analysisKey, ContentHasher, ResultCache } from './cache';
import { CheckpointHistoryStore, historyEntryOf } from './checkpointHistory';
import { CheckpointWatcher } from './checkpointWatcher';
import { completeCheckpoints, type CompleteCheckpoint } from '../workspace/checkpointWatch';
import type { CheckpointHistoryEntry } from '../webviewProtocol';

import { noiseParamsOf, reevaluate, type CachedAnalysis, type CachedBatch } from './noiseRescale';
import { analysisKnobs, configAnalysisSettings, riskThresholdsOf, workerCountOf, type I2fSettings } from './settings';
import { loadAuditSettings } from './report/settingsFile';
import { exitCodeOf, summaryLine, type AuditRun, type ConfigOutcome, type FailOn, type RootOutcome } from './report/model';
import { formatText } from './report/text';
import { toAuditJson } from './report/json';
import { toSarif } from './report/sarif';
import { toHtml } from './report/html';
import { Progress } from './report/progress';
import { fixFor, whyNotATrainingConfig } from './report/explain';

/** A run with more checkpoints than this plots the most recent ones (each is one analysis, cached). */
const MAX_HISTORY_CHECKPOINTS = 20;

export type AuditFormat = 'text' | 'json' | 'sarif' | 'html';
export const AUDIT_FORMATS: readonly AuditFormat[] = ['text', 'json', 'sarif', 'html'];

export interface AuditOptions {
  format: AuditFormat;
  failOn: FailOn;
  /** Analyses running at once (in-process; each has its own onnxruntime sessions). Default: workerCount setting. */
  jobs?: number;
  /** Neither read nor write the result cache. */
  noCache?: boolean;
  /** Result cache folder (default: $I2F_CACHE_DIR, else $XDG_CACHE_HOME/i2f-privacy-lint, else ~/.cache/i2f-privacy-lint). */
  cacheDir?: string;
  /** Extra settings file, applied over .vscode/settings.json and i2f.config.json. */
  settingsFile?: string;
  /** Eigenvalues of J Jᵀ to compute per batch (top K and bottom K). Default: 20 for html, else 0. */
  spectrumK?: number;
  /** `--python PATH`: the interpreter that builds models defined in Python (else i2f.python, then the search). */
  python?: string;
  /** Write the report here instead of stdout (the summary line then goes to stderr). */
  outFile?: string;
  /** Colour the text report (default: stdout is a TTY and NO_COLOR is unset, or FORCE_COLOR is set). */
  color?: boolean;
  quiet?: boolean;
  out: Writable;
  err: Writable;
}

export interface AuditCoreOptions {
  failOn?: FailOn;
  jobs?: number;
  noCache?: boolean;
  cacheDir?: string;
  settingsFile?: string;
  spectrumK?: number;
  python?: string;
  progress?: Progress;
}

export { defaultCacheDir };

export function toolInfo(): { name: string; version: string; repository?: string } {
  // dist/cli.js → ../package.json; server/src/analysis/audit.ts (tsx) → ../../../package.json
  for (const p of [join(__dirname, '..', 'package.json'), join(__dirname, '..', '..', '..', 'package.json')]) {
    try {
      const pkg = JSON.parse(readFileSync(p, 'utf8'));
      if (pkg.name !== 'i2f-privacy-lint') continue;
      const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
      return { name: pkg.name, version: pkg.version, ...(repo ? { repository: repo } : {}) };
    } catch {
      // try the next layout
    }
  }
  return { name: 'i2f-privacy-lint', version: '0.0.0' };
}

/** Runs `tasks` with at most `limit` in flight; results in input order. */
export async function pool<T>(limit: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results = new Array<T>(tasks.length);
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, lane));
  return results;
}

/** Audits each PATH (a folder, or one config file in it) and returns what was found, unformatted. */
export async function auditPaths(paths: string[], options: AuditCoreOptions = {}): Promise<AuditRun> {
  // Every cache of the run in the one folder the user chose (the σ memo too), or none with --no-cache.
  useCacheDir(options.noCache ? null : (options.cacheDir ?? defaultCacheDir()));
  const cache = options.noCache ? undefined : new ResultCache(options.cacheDir ?? defaultCacheDir(), (m) => options.progress?.log(m));
  const hasher = new ContentHasher();
  const inflight = new Map<string, Promise<{ entry: CachedAnalysis } | { failure: string }>>();
  const roots: RootOutcome[] = [];
  for (const path of paths) roots.push(await auditRoot(resolve(path), { ...options, cache, hasher, inflight }));
  const { name, version } = toolInfo();
  return { tool: { name, version }, createdAt: new Date().toISOString(), failOn: options.failOn ?? 'never', roots };
}

interface RootContext extends AuditCoreOptions {
  cache?: ResultCache;
  hasher: ContentHasher;
  /** Analyses running or done in this audit, by cache key. */
  inflight: Map<string, Promise<{ entry: CachedAnalysis } | { failure: string }>>;
}

async function auditRoot(path: string, ctx: RootContext): Promise<RootOutcome> {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new AuditUsageError(`${path}: no such file or folder`);
  }
  const only = st.isFile() ? path : undefined;
  const root = only ? dirname(path) : path;
  const { settings, sources } = loadAuditSettings(root, ctx.settingsFile);
  const scan = await discoverWorkspace(root, only ? { onlyFile: only } : {});
  const keep = (file: string) => (only ? file === only : !isOwnSettingsFile(root, file));
  const configs: ConfigOutcome[] = scan.syntaxErrors
    .filter((e) => keep(e.file))
    .map((e) => ({ file: e.file, status: 'unreadable' as const, reason: e.error.message, findings: [syntaxFinding(e)] }));
  const todo = scan.configs.filter((c) => keep(c.path));
  if (!settings.enable) {
    ctx.progress?.log(`${root}: i2f.enable is false in ${sources.join(', ')}: nothing is checked`);
    return { root, settings, settingsSources: sources, truncated: scan.truncated, configs: [] };
  }
  ctx.progress?.addTotal(todo.length);
  const jobs = ctx.jobs ?? workerCountOf(settings);
  const outcomes = await pool(jobs, todo.map((c) => () => auditConfig(root, c, settings, ctx)));
  for (const o of outcomes) {
    const privacy = o.config ? privacyAccount(o.config.setup)?.report : undefined;
    if (privacy) o.privacy = privacy;
    const fix = fixFor(o);
    if (fix) o.fix = fix;
  }
  configs.push(...outcomes);
  for (const o of configs) placeInNotebook(o);
  configs.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  // `i2f audit FILE` on a file that is no training config: say why rather than print an empty report.
  const notAConfig = only && !configs.length ? { file: only, reason: whyNotATrainingConfig(only, { isSettingsFile: isOwnSettingsFile(root, only) }) } : undefined;
  return { root, settings, settingsSources: sources, truncated: scan.truncated, configs, ...(notAConfig ? { notAConfig } : {}) };
}

/** `dir` and its parents up to `root`, nearest first (where a workspace's .venv/venv may be). */
function foldersUpTo(dir: string, root: string): string[] {
  const out = [dir];
  for (let d = dir; d !== root && dirname(d) !== d && d.startsWith(root); d = dirname(d)) out.push(dirname(d));
  return out.filter((d) => d.startsWith(root) || d === dir);
}

/** The audit's own settings file is not a training config (a flat `{"targetPsnr": 15}` would look like one). */
function isOwnSettingsFile(root: string, file: string): boolean {
  return file === join(root, 'i2f.config.json');
}

export class AuditUsageError extends Error {}

/** One config: the same states and findings as the language server's refresh() for a trusted, audited config. */
async function auditConfig(root: string, config: DiscoveredConfig, settings: I2fSettings, ctx: RootContext): Promise<ConfigOutcome> {
  const label = relative(process.cwd(), config.path) || config.path;
  const task = ctx.progress?.start(label);
  // The checkpoints its training wrote (checkpoint watching's targets): the latest is what the finding is about,
  // as in the editor, and each one's leakage makes the history the HTML report plots.
  const checkpoints = config.model ? await completeCheckpoints(CheckpointWatcher.targetsOf(config), dirname(config.path)).catch(() => []) : [];
  const latest = checkpoints[checkpoints.length - 1];
  if (latest && latest.path !== config.weights) {
    config.weights = latest.path;
    config.checkpoint = { name: latest.name, ...(latest.step !== undefined ? { step: latest.step } : {}) };
  }
  const outcome = await auditConfigInner(root, config, settings, ctx, (stage, f) => task?.update(stage, f));
  if (checkpoints.length && outcome.report) outcome.checkpointHistory = await checkpointHistory(root, config, checkpoints, settings, ctx);
  task?.done(outcome);
  return outcome;
}

/** The leakage at each checkpoint (the most recent MAX_HISTORY_CHECKPOINTS), each analysed once and cached. */
async function checkpointHistory(root: string, config: DiscoveredConfig, checkpoints: CompleteCheckpoint[], settings: I2fSettings, ctx: RootContext): Promise<CheckpointHistoryEntry[]> {
  const entries: CheckpointHistoryEntry[] = [];
  const store = ctx.noCache ? undefined : new CheckpointHistoryStore(ctx.cacheDir ?? defaultCacheDir());
  for (const c of checkpoints.slice(-MAX_HISTORY_CHECKPOINTS)) {
    const at: DiscoveredConfig = { ...config, weights: c.path, checkpoint: { name: c.name, ...(c.step !== undefined ? { step: c.step } : {}) } };
    // The history needs no spectrum: only the plot of the config's own result does.
    const r = await auditConfigInner(root, at, settings, { ...ctx, spectrumK: 0 }, () => undefined);
    if (!r.report || !r.cacheKey) continue;
    const entry = { ...historyEntryOf(c, r.report, r.cacheKey, new Date().toISOString()), signature: c.signature };
    entries.push(entry);
    await store?.record(config.path, entry);
  }
  return entries;
}

async function auditConfigInner(root: string, config: DiscoveredConfig, settings: I2fSettings, ctx: RootContext, onProgress: (stage: string, f: number) => void): Promise<ConfigOutcome> {
  const base = { file: config.path, config };
  if (needsMaterialising(config)) {
    // A model named by architecture (or in Python): written into the cache folder, then analysed like a file.
    try {
      const m = await materialiseModel(config.modelRef!, {
        cacheDir: ctx.cacheDir ?? defaultCacheDir(),
        onProgress,
        python: { configured: ctx.python || settings.python || undefined, venvRoots: foldersUpTo(dirname(config.path), root), timeoutMs: settings.pythonTimeoutSeconds * 1000 },
      });
      config.model = m.path;
      config.modelDescription = m.description;
      if (m.initialisation) config.modelInitialisation = m.initialisation;
    } catch (e) {
      const failure = isUserError(e) ? e.describe() : `internal error (please report it): ${(e as Error)?.message ?? e}`;
      if (!isUserError(e)) process.stderr.write(`i2f: internal error while writing the model of ${config.path}:\n${(e as Error)?.stack ?? String(e)}\n`);
      return { ...base, status: 'failed', reason: failure, findings: findingsOf(config, settings, { failure }) };
    }
  }
  const model = config.model;
  const notAnalysed = !model
    ? config.modelProblem ?? noModelReason(config.setup)
    : !existsSync(model)
      ? 'the model file is missing'
      : !isAnalysableModelFile(model)
        ? NOT_A_MODEL_FILE
        : undefined;
  if (notAnalysed) return { ...base, status: 'not-analysed', reason: notAnalysed, findings: findingsOf(config, settings, { notAnalysed }) };
  const size = statSync(model!).size;
  if (size > settings.maxModelSizeMB * 1024 * 1024) {
    const failure = `the model is ${(size / 1048576).toFixed(0)} MB, above i2f.maxModelSizeMB (${settings.maxModelSizeMB} MB); raise the setting to analyse it`;
    return { ...base, status: 'failed', reason: failure, findings: findingsOf(config, settings, { failure }) };
  }

  let key: string;
  try {
    key = await analysisKey(config, analysisKnobs(settings), ctx.hasher);
  } catch (e) {
    const failure = `cannot read ${model}: ${(e as Error).message}`;
    return { ...base, status: 'failed', reason: failure, findings: findingsOf(config, settings, { failure }) };
  }
  const wantSpectrum = ctx.spectrumK ?? 0;
  let entry = await ctx.cache?.get(key);
  // A cached analysis without the spectrum the HTML report plots is re-run with it (the new entry is a superset).
  if (entry && wantSpectrum > 0 && entry.report.results.some((b) => !b.spectrum || (b.spectrum.top.length < wantSpectrum && !b.spectrum.complete))) entry = undefined;
  let status: 'analysed' | 'cached' = 'cached';
  if (!entry) {
    status = 'analysed';
    // Configs that share a key (e.g. differ only in Gaussian noise) share one analysis in this run, as the
    // language server's scheduler shares one job between them.
    let running = ctx.inflight.get(key);
    if (!running) {
      running = analyse(config, settings, key, wantSpectrum, onProgress).then(async (r) => {
        if ('entry' in r) await ctx.cache?.put(r.entry);
        return r;
      });
      ctx.inflight.set(key, running);
    }
    const fresh = await running;
    if ('failure' in fresh) return { ...base, status: 'failed', reason: fresh.failure, cacheKey: key, findings: findingsOf(config, settings, { failure: fresh.failure }) };
    entry = fresh.entry;
  }
  const thresholds = riskThresholdsOf(settings);
  const { report, rescaled } = reevaluate(entry, config.setup, thresholds, settings.targetPsnr);
  return {
    ...base,
    status,
    report,
    cacheKey: key,
    rescaled,
    ms: entry.ms,
    findings: findingsOf(config, settings, { modelOps: entry.modelOps, report }),
  };
}

/** What the worker process does for the language server (worker.ts), in this process. */
async function analyse(
  config: DiscoveredConfig,
  settings: I2fSettings,
  key: string,
  spectrumK: number,
  onProgress: (stage: string, f: number) => void,
): Promise<{ entry: CachedAnalysis } | { failure: string }> {
  const t0 = performance.now();
  const batches: CachedBatch[] = [];
  try {
    const modelOps = opHistogram(await loadModelFile(config.model!)).map((h) => h.op);
    const analysis = await analyseConfig(config, {
      ...configAnalysisSettings(settings),
      spectrumK,
      onProgress,
      onInfluence: (k, r) => {
        batches[k] = { std: r.noise.std, noise: r.cache };
      },
    });
    if (!analysis.report) {
      const failed = analysis.findings.find((f) => f.code === ANALYSIS_FAILED_RULE.code);
      return { failure: failed?.message.replace(/^The model could not be analysed: /, '') ?? 'nothing to analyse' };
    }
    const entry: CachedAnalysis = {
      key,
      createdAt: new Date().toISOString(),
      ms: performance.now() - t0,
      report: analysis.report,
      modelOps,
      batches,
      noise: noiseParamsOf(analysisPlan(config.setup)),
    };
    return { entry };
  } catch (e) {
    if (isUserError(e)) return { failure: e.describe() };
    const err = e as Error;
    process.stderr.write(`i2f: internal error in the analysis of ${config.path}:\n${err?.stack ?? String(e)}\n`);
    return { failure: `internal error (please report it): ${String(err?.message ?? e).split('\n')[0]}` };
  }
}

/** server.ts findingsOf for a trusted workspace. */
function findingsOf(config: DiscoveredConfig, _settings: I2fSettings, state: { modelOps?: string[]; report?: CachedAnalysis['report']; failure?: string; notAnalysed?: string }): Finding[] {
  const findings: Finding[] = checkTrainingSetup(config.setup, { modelOps: state.modelOps });
  findings.push(...privacyFindings(privacyAccount(config.setup), config.path, _settings.thresholds.epsilon));
  if (state.report) {
    findings.push(leakageFindingOf(config, state.report, configAnalysisSettings(_settings)));
    const exported = exportedThetaFinding(config, state.report.model.theta, state.modelOps);
    if (exported) findings.push(exported);
  } else if (state.failure) findings.push(analysisFailedFinding(config, state.failure));
  else if (state.notAnalysed === NOT_A_MODEL_FILE && config.model) findings.push(notAModelFinding(config, config.model));
  return findings;
}

/** The `i2f audit` command: audit, format, write, and return the exit code (0 pass, 1 --fail-on reached). */
export async function runAudit(paths: string[], opts: AuditOptions): Promise<number> {
  const errTty = !!(opts.err as NodeJS.WriteStream).isTTY;
  const progress = new Progress(opts.err, { tty: errTty && !opts.quiet, quiet: !!opts.quiet });
  const spectrumK = opts.spectrumK ?? (opts.format === 'html' ? 20 : 0);
  let run: AuditRun;
  try {
    run = await auditPaths(paths, { failOn: opts.failOn, jobs: opts.jobs, noCache: opts.noCache, cacheDir: opts.cacheDir, settingsFile: opts.settingsFile, spectrumK, python: opts.python, progress });
  } finally {
    progress.finish();
  }
  const forced = !!process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0';
  const color = opts.color ?? (!opts.outFile && !process.env.NO_COLOR && (!!(opts.out as NodeJS.WriteStream).isTTY || forced));
  let body: string;
  if (opts.format === 'json') body = JSON.stringify(toAuditJson(run), null, 2) + '\n';
  else if (opts.format === 'sarif') body = JSON.stringify(toSarif(run, { docsBaseUrl: docsBaseOf(run) }), null, 2) + '\n';
  else if (opts.format === 'html') body = toHtml(run);
  else body = formatText(run, { color, cwd: process.cwd() });
  if (opts.outFile) {
    await fs.mkdir(dirname(resolve(opts.outFile)), { recursive: true });
    await fs.writeFile(opts.outFile, body);
    if (!opts.quiet) opts.err.write(`${summaryLine(run)}\n${opts.format} report written to ${opts.outFile}\n`);
  } else {
    opts.out.write(body);
    if (opts.format !== 'text' && !opts.quiet && !(opts.out as NodeJS.WriteStream).isTTY) opts.err.write(`${summaryLine(run)}\n`);
  }
  return exitCodeOf(run);
}

/** Where rule documentation lives online: the docsBaseUrl setting, else the tool's package.json repository. */
function docsBaseOf(run: AuditRun): string | undefined {
  const configured = run.roots.map((r) => r.settings.docsBaseUrl).find((u) => u);
  if (configured) return configured;
  const repo = toolInfo().repository;
  if (!repo) return undefined;
  const m = /github\.com[/:]([^/]+)\/([^/#]+?)(\.git)?(#.*)?$/.exec(repo);
  return m ? `https://github.com/${m[1]}/${m[2]}/blob/main/` : undefined;
}

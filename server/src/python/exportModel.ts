// The export bridge: runs the workspace's Python with the bundled export_model.py to turn `module:Factory` into an
// ONNX file with BatchNorm kept apart and the parameters under their `named_parameters` names, cached by the
// contents of the Python files the import read. Only ever called for trusted workspaces (the server checks) and by
// the CLI the user runs on their own project. A checkpoint is never handed to Python: the analysis applies weights to
// the exported graph by name, as for any ONNX model.

import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../errors';
import type { PythonModelArgs } from '../config/trainingSetup';
import type { FoundPython } from './interpreter';
import { encodeMetadataProps } from '../backends/onnx/onnxProto';
import { FROZEN_PARAMETERS_KEY } from '../graph/parameters';

export interface PythonExportRequest {
  /**
   * `module:Factory` ('pytorchexample.task:Net'), or `script-name.py:Factory` (a file under root loaded by path, for a
   * script whose name is not a module name); the factory is a torch.nn.Module class or a function building one.
   */
  factory: string;
  /** The folder the module path is relative to (put first on sys.path; the process runs there). */
  root: string;
  /** Per-example input shape (no batch dimension); inferred from the model when absent. */
  inputShape?: number[];
  /** The shape of what the code trains on (its DataLoader's dataset), tried before inference when inputShape is absent. */
  inputHint?: number[];
  /** 'groupnorm': the code trains the model after Opacus' ModuleValidator.fix, so the bridge makes the same swap. */
  normalisation?: 'groupnorm';
  /** Literal arguments for the factory (JSON values, never code). */
  args?: PythonModelArgs;
  /** Modules written outside root that the factory may load by path (a notebook's definitions: notebookModel.ts). */
  generated?: string[];
  python: FoundPython;
  /** The result cache folder; exports go to `<cacheDir>/python-models/<key>/`. */
  cacheDir: string;
  /** Wall-time limit for the Python process (default 180 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PythonExport {
  /** The exported model in the cache. */
  onnx: string;
  inputShape: number[];
  inputShapeSource: 'config' | 'hint' | 'inferred';
  /** The BatchNorms made GroupNorm as ModuleValidator.fix does (normalisation 'groupnorm'), by module name. */
  groupNormReplaced?: string[];
  /** What the inference read ("first layer Conv2d with 3 input channels") and the shapes that failed before. */
  inferredFrom?: string;
  tried?: { shape: number[]; error: string }[];
  /** Top-level modules the interpreter lacks that were stood in for while the model was built (flwr, datasets…). */
  stubbed: string[];
  /**
   * The model derives from Lightning's LightningModule, which this Python lacks: `pytorch_lightning.LightningModule` was
   * stood in for by a torch.nn.Module (export_model.py), so the model is the class's own layers and forward.
   */
  lightning?: string;
  /** named_parameters: name and shape, in PyTorch's order. */
  parameters: [string, number[]][];
  /**
   * The parameters with requires_grad False when the factory returned the model (a frozen backbone): recorded in the
   * ONNX file's metadata (graph/parameters.ts FROZEN_PARAMETERS_KEY), so θ is the trainable ones.
   */
  frozen: string[];
  /**
   * Pretrained weights the code asked torch.hub for: read from the hub cache ('cache'), or not there ('missing') or
   * not readable as plain tensors ('unreadable'), the layers they fill then left at initialisation. Never downloaded.
   */
  pretrained: PretrainedWeights[];
  modelClass: string;
  torchVersion: string;
  python: string;
  /** The workspace's Python files the import read (the cache key's contents). */
  sources: string[];
  /** True when the cache answered and Python did not run. */
  cached: boolean;
}

export interface PretrainedWeights {
  url: string;
  /** Where torch.hub keeps it (`~/.cache/torch/hub/checkpoints/vit_b_16-c867db91.pth`). */
  file: string;
  state: 'cache' | 'missing' | 'unreadable';
  error?: string;
}

/** A failed export: the Python error and the last frames of its traceback, for a diagnostic on the config line. */
export class PythonExportError extends UserError {
  constructor(
    message: string,
    /** The traceback's tail: the user's frames and the exception line, helper and importlib frames dropped. */
    readonly tracebackTail: string[],
    /** The first workspace file and 0-based line in the tail (where the error is in the user's code). */
    readonly userFrame?: { file: string; line: number },
  ) {
    super('python-export', message);
  }

  /** The message, then the traceback's tail indented below it (diagnostics and reports keep the line breaks). */
  override describe(): string {
    return [super.describe(), ...this.tracebackTail.map((l) => (/^\s/.test(l) ? `    ${l.trim()}` : `  ${l}`))].join('\n');
  }
}

const HELPER_FILE = 'export_model.py';
const DEFAULT_TIMEOUT_MS = 180_000;
const OPSET = 13;
/** Frames of the traceback shown: enough to see the user's failing line and what called it. */
const TAIL_FRAMES = 3;

/** The bundled helper: dist/python/export_model.py in the build and .vsix, beside this file under tsx. */
export function helperPath(): string {
  for (const p of [join(__dirname, 'python', HELPER_FILE), join(__dirname, HELPER_FILE), resolve(__dirname, '..', 'python', HELPER_FILE)]) if (existsSync(p)) return p;
  throw new Error(`the export helper ${HELPER_FILE} is missing from ${__dirname} (a broken install?)`);
}

let helperDigest: string | undefined;
function helperHash(): string {
  helperDigest ??= createHash('sha256').update(readFileSync(helperPath())).digest('hex');
  return helperDigest;
}

interface Manifest {
  sources: { path: string; sha256: string }[];
  result: Omit<PythonExport, 'onnx' | 'cached'>;
}

/** Exports running in this process, by key: two configs naming one model share one Python run. */
const running = new Map<string, Promise<PythonExport>>();

export async function exportPythonModel(req: PythonExportRequest): Promise<PythonExport> {
  const root = resolve(req.root);
  const key = createHash('sha256')
    .update(JSON.stringify([helperHash(), OPSET, req.factory, root, req.inputShape ?? null, req.inputHint ?? null, req.normalisation ?? null, req.args ?? null, req.python.path, req.python.torchVersion]))
    .digest('hex')
    .slice(0, 24);
  const dir = join(req.cacheDir, 'python-models', key);
  const cached = await fromCache(dir);
  if (cached) return cached;
  let job = running.get(key);
  if (!job) {
    job = runHelper(req, root, dir).finally(() => running.delete(key));
    running.set(key, job);
  }
  return job;
}

/** The cached export when every Python file it read still has the contents it had. */
async function fromCache(dir: string): Promise<PythonExport | undefined> {
  try {
    const manifest = JSON.parse(await fs.readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    const onnx = join(dir, 'model.onnx');
    if (!existsSync(onnx)) return undefined;
    for (const s of manifest.sources) if ((await sha256Of(s.path)) !== s.sha256) return undefined;
    // Pretrained weights put into (or taken out of) the hub cache since: the model they build differs.
    for (const p of manifest.result.pretrained ?? []) if (existsSync(p.file) !== (p.state !== 'missing')) return undefined;
    return { ...manifest.result, frozen: manifest.result.frozen ?? [], pretrained: manifest.result.pretrained ?? [], onnx, cached: true };
  } catch {
    return undefined;
  }
}

async function sha256Of(path: string): Promise<string | undefined> {
  try {
    return createHash('sha256').update(await fs.readFile(path)).digest('hex');
  } catch {
    return undefined;
  }
}

async function runHelper(req: PythonExportRequest, root: string, dir: string): Promise<PythonExport> {
  await fs.mkdir(dir, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const out = join(dir, `model.onnx.${tag}.tmp`);
  const resultFile = join(dir, `result.${tag}.json`);
  const request = { root, factory: req.factory, inputShape: req.inputShape ?? null, inputHint: req.inputHint ?? null, normalisation: req.normalisation ?? null, args: req.args ?? null, out, result: resultFile, opset: OPSET, generated: req.generated ?? [] };
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // Hashes taken before the run: a file edited while Python runs then fails the next cache check instead of
  // being recorded with contents the export never saw.
  const { stderr, error } = await new Promise<{ stderr: string; error: (Error & { killed?: boolean; code?: unknown }) | null }>((done) => {
    execFile(
      req.python.path,
      ['-B', helperPath(), JSON.stringify(request)],
      {
        cwd: root,
        timeout: timeoutMs,
        signal: req.signal,
        maxBuffer: 16 * 1024 * 1024,
        windowsHide: true,
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
      },
      (err, _stdout, stderr) => done({ stderr: String(stderr), error: err }),
    );
  });
  try {
    let result: Record<string, unknown> | undefined;
    try {
      result = JSON.parse(await fs.readFile(resultFile, 'utf8'));
    } catch {
      result = undefined;
    }
    if (req.signal?.aborted) throw new UserError('cancelled', `the export of ${req.factory} was cancelled`);
    if (!result) {
      const tail = stderr.trim().split('\n').slice(-8);
      const why = error?.killed ? `did not finish within ${Math.round(timeoutMs / 1000)} s (i2f.pythonTimeoutSeconds)` : `ended without a result (exit ${String(error?.code ?? 0)})`;
      throw new PythonExportError(`${req.python.path} ${why} while building ${req.factory}`, tail);
    }
    if (result.ok !== true) {
      const { tail, userFrame } = tracebackTail(String(result.traceback ?? ''), root);
      throw new PythonExportError(`${req.factory} could not be ${stageVerb(String(result.stage))}: ${String(result.error)}`, tail, userFrame);
    }
    const sources = (result.sources as string[]) ?? [];
    const exported: Omit<PythonExport, 'onnx' | 'cached'> = {
      inputShape: result.inputShape as number[],
      inputShapeSource: result.inputShapeSource as 'config' | 'hint' | 'inferred',
      ...(Array.isArray(result.groupNormReplaced) ? { groupNormReplaced: result.groupNormReplaced as string[] } : {}),
      ...(result.inferredFrom ? { inferredFrom: result.inferredFrom as string } : {}),
      ...(Array.isArray(result.tried) && result.tried.length ? { tried: result.tried as PythonExport['tried'] } : {}),
      stubbed: (result.stubbed as string[]) ?? [],
      ...(typeof result.lightning === 'string' ? { lightning: result.lightning } : {}),
      parameters: (result.parameters as [string, number[]][]) ?? [],
      frozen: Array.isArray(result.frozen) ? (result.frozen as string[]) : [],
      pretrained: Array.isArray(result.pretrained) ? (result.pretrained as PretrainedWeights[]) : [],
      modelClass: String(result.modelClass ?? req.factory),
      torchVersion: String(result.torchVersion ?? req.python.torchVersion),
      python: req.python.path,
      sources,
    };
    const manifest: Manifest = { sources: await Promise.all(sources.map(async (path) => ({ path, sha256: (await sha256Of(path)) ?? '' }))), result: exported };
    const onnx = join(dir, 'model.onnx');
    // The frozen parameters travel with the file: whoever opens it (the analysis, a worker) takes θ without them.
    if (exported.frozen.length) await fs.appendFile(out, encodeMetadataProps({ [FROZEN_PARAMETERS_KEY]: JSON.stringify(exported.frozen) }));
    await fs.rename(out, onnx);
    const manifestTmp = join(dir, `manifest.${tag}.tmp`);
    await fs.writeFile(manifestTmp, JSON.stringify(manifest, null, 1));
    await fs.rename(manifestTmp, join(dir, 'manifest.json'));
    return { ...exported, onnx, cached: false };
  } finally {
    await fs.rm(resultFile, { force: true });
    await fs.rm(out, { force: true });
  }
}

function stageVerb(stage: string): string {
  switch (stage) {
    case 'start':
    case 'import':
      return 'imported';
    case 'build':
      return 'built';
    case 'input-shape':
      return 'run';
    case 'export':
      return 'exported to ONNX';
    default:
      return 'built';
  }
}

/**
 * The end of a Python traceback without the helper's and importlib's frames: the user's last frames and the
 * exception, e.g. ["pkg/task.py:14 in __init__", "    self.fc = nn.Linear(10)", "TypeError: …"].
 */
export function tracebackTail(traceback: string, root: string): { tail: string[]; userFrame?: { file: string; line: number } } {
  const lines = traceback.replace(/\s+$/, '').split('\n');
  const frames: { file: string; line: number; where: string; code: string[] }[] = [];
  let i = 0;
  while (i < lines.length && !/^\s+File "/.test(lines[i])) i++;
  while (i < lines.length) {
    const m = /^\s+File "(.*)", line (\d+)(?:, in (.*))?$/.exec(lines[i]);
    if (!m) break;
    const code: string[] = [];
    i++;
    while (i < lines.length && /^\s{4,}/.test(lines[i]) && !/^\s+File "/.test(lines[i])) code.push(lines[i++]);
    frames.push({ file: m[1], line: Number(m[2]) - 1, where: m[3] ?? '', code });
  }
  const exception = lines.slice(i).filter((l) => l.trim() && !/^During handling|^The above exception|^Traceback/.test(l));
  const userFrames = frames.filter((f) => !f.file.endsWith(HELPER_FILE) && !f.file.startsWith('<frozen'));
  const shown = userFrames.slice(-TAIL_FRAMES);
  const rootPrefix = root.endsWith('/') ? root : root + '/';
  const rel = (f: string) => (f.startsWith(rootPrefix) ? f.slice(rootPrefix.length) : f);
  const tail = [...shown.flatMap((f) => [`${rel(f.file)}:${f.line + 1}${f.where ? ` in ${f.where}` : ''}`, ...f.code.filter((c) => !/^\s*[\^~]+\s*$/.test(c))]), ...exception.slice(-3)];
  const inWorkspace = [...userFrames].reverse().find((f) => f.file.startsWith(rootPrefix));
  return { tail, ...(inWorkspace ? { userFrame: { file: inWorkspace.file, line: inWorkspace.line } } : {}) };
}

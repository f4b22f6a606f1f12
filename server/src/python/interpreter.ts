// Which Python runs the export bridge: the first interpreter, in the user's order of intent, that imports torch.
// The order (issue 14): the `i2f.python` setting or `--python PATH`; the VS Code Python extension's active
// interpreter (the client asks the extension and passes it over); a `.venv` / `venv` in the workspace; then every
// `python3` on PATH. Each candidate is asked once per process (`import torch`), and the search says what it tried.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

export type PythonSource = 'setting' | 'python-extension' | 'workspace-venv' | 'path';

export interface PythonCandidate {
  path: string;
  source: PythonSource;
}

export interface FoundPython extends PythonCandidate {
  /** torch.__version__ without the local suffix (e.g. '1.13.0a0', '2.8.0'). */
  torchVersion: string;
}

export interface PythonSearch {
  found?: FoundPython;
  /** Every candidate looked at before (and excluding) the one found, with why it was passed over. */
  tried: (PythonCandidate & { problem: string })[];
}

export interface PythonSearchOptions {
  /** `i2f.python` / `--python`: a path (relative to the first workspace root) or a command name on PATH. */
  configured?: string;
  /** The Python extension's active interpreter for the config's folder, when the client knows it. */
  extension?: string;
  /** Folders searched for `.venv/` and `venv/` (the config's folder upwards to the workspace root, nearest first). */
  venvRoots?: string[];
  /** PATH to search for `python3` (default: process.env.PATH). */
  pathEnv?: string;
  /** Per-candidate limit on `import torch` (a cold torch import takes seconds on a loaded machine). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Where positive answers are remembered across processes (`python-interpreters.json`): a cold `import torch` takes
   * 2–10 s, and a restarted editor should not pay it again while neither the interpreter nor torch changed.
   */
  cacheDir?: string;
}

const PROBE = 'import sys, torch; print(torch.__file__); print(torch.__version__.split("+")[0])';
const DEFAULT_PROBE_TIMEOUT_MS = 60_000;

/** The candidates in order, each path once. */
export function pythonCandidates(opts: PythonSearchOptions): PythonCandidate[] {
  const out: PythonCandidate[] = [];
  const seen = new Set<string>();
  const add = (path: string | undefined, source: PythonSource) => {
    if (!path || seen.has(path)) return;
    seen.add(path);
    out.push({ path, source });
  };
  const root = opts.venvRoots?.[opts.venvRoots.length - 1];
  if (opts.configured) {
    const c = opts.configured.trim();
    add(c.includes('/') || c.includes('\\') ? (isAbsolute(c) ? c : resolve(root ?? process.cwd(), c)) : onPath(c, opts.pathEnv)[0] ?? c, 'setting');
  }
  add(opts.extension, 'python-extension');
  for (const dir of opts.venvRoots ?? []) {
    for (const venv of ['.venv', 'venv']) {
      for (const bin of process.platform === 'win32' ? ['Scripts/python.exe'] : ['bin/python3', 'bin/python']) {
        const p = join(dir, venv, bin);
        if (existsSync(p)) {
          add(p, 'workspace-venv');
          break;
        }
      }
    }
  }
  for (const p of onPath(process.platform === 'win32' ? 'python.exe' : 'python3', opts.pathEnv)) add(p, 'path');
  return out;
}

/** Every executable called `name` on PATH, in PATH order (pyenv shims and /usr/bin both count). */
function onPath(name: string, pathEnv = process.env.PATH ?? ''): string[] {
  const found: string[] = [];
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) found.push(p);
    } catch {
      // not here
    }
  }
  return found;
}

/** Answers per interpreter path and its modification time: asked once per process, again after a reinstall. */
const probes = new Map<string, Promise<{ torchVersion?: string; torchFile?: string; problem?: string }>>();

export async function findPython(opts: PythonSearchOptions): Promise<PythonSearch> {
  const tried: PythonSearch['tried'] = [];
  const remembered = readRemembered(opts.cacheDir);
  for (const candidate of pythonCandidates(opts)) {
    if (opts.signal?.aborted) break;
    const known = remembered[candidate.path];
    if (known && stillValid(candidate.path, known)) return { found: { ...candidate, torchVersion: known.torchVersion }, tried };
    const answer = await probe(candidate.path, opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS, opts.signal);
    if (answer.torchVersion) {
      remember(opts.cacheDir, candidate.path, answer.torchVersion, answer.torchFile);
      return { found: { ...candidate, torchVersion: answer.torchVersion }, tried };
    }
    tried.push({ ...candidate, problem: answer.problem ?? 'no answer' });
  }
  return { tried };
}

interface Remembered {
  /** The interpreter file's size and mtime, and torch's __init__.py path and mtime, when torch imported. */
  size: number;
  mtimeMs: number;
  torchFile: string;
  torchMtimeMs: number;
  torchVersion: string;
}

const REMEMBERED_FILE = 'python-interpreters.json';

function readRemembered(cacheDir?: string): Record<string, Remembered> {
  if (!cacheDir) return {};
  try {
    return JSON.parse(readFileSync(join(cacheDir, REMEMBERED_FILE), 'utf8'));
  } catch {
    return {};
  }
}

/** The same interpreter binary and the same torch files: a reinstall or an uninstall changes one of them. */
function stillValid(path: string, r: Remembered): boolean {
  try {
    const st = statSync(path);
    const torch = statSync(r.torchFile);
    return st.size === r.size && st.mtimeMs === r.mtimeMs && torch.mtimeMs === r.torchMtimeMs;
  } catch {
    return false;
  }
}

function remember(cacheDir: string | undefined, path: string, torchVersion: string, torchFile?: string): void {
  if (!cacheDir || !torchFile) return;
  try {
    const st = statSync(path);
    const all = { ...readRemembered(cacheDir), [path]: { size: st.size, mtimeMs: st.mtimeMs, torchFile, torchMtimeMs: statSync(torchFile).mtimeMs, torchVersion } };
    mkdirSync(cacheDir, { recursive: true });
    const tmp = join(cacheDir, `${REMEMBERED_FILE}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(all, null, 1));
    renameSync(tmp, join(cacheDir, REMEMBERED_FILE));
  } catch {
    // not remembered: the next process probes again
  }
}

function probe(path: string, timeoutMs: number, signal?: AbortSignal): Promise<{ torchVersion?: string; torchFile?: string; problem?: string }> {
  let stamp: string;
  try {
    const st = statSync(path);
    stamp = `${path}\u0000${st.mtimeMs}\u0000${st.size}`;
  } catch {
    return Promise.resolve({ problem: 'not found' });
  }
  let answer = probes.get(stamp);
  if (!answer) {
    answer = new Promise((done) => {
      execFile(path, ['-B', '-c', PROBE], { timeout: timeoutMs, signal, windowsHide: true }, (err, stdout, stderr) => {
        if (!err) {
          const lines = stdout.trim().split('\n');
          done({ torchVersion: lines[lines.length - 1], torchFile: lines[lines.length - 2] });
          return;
        }
        const last = stderr.trim().split('\n').pop() ?? '';
        if (/No module named ['"]?torch/.test(stderr)) done({ problem: 'torch is not installed' });
        else if ((err as NodeJS.ErrnoException).code === 'ENOENT') done({ problem: 'not found' });
        else if (err.killed) done({ problem: `no answer within ${Math.round(timeoutMs / 1000)} s` });
        else done({ problem: last || err.message });
      });
    });
    // A cancelled or timed-out probe is not an answer about the interpreter: ask again next time.
    answer.then((a) => {
      if (!a.torchVersion && /no answer|aborted/i.test(a.problem ?? '')) probes.delete(stamp);
    });
    probes.set(stamp, answer);
  }
  return answer;
}

/** One line for messages: "/usr/bin/python3 (torch 1.13.0a0, found on PATH)". */
export function describePython(p: FoundPython): string {
  const how = { setting: 'i2f.python', 'python-extension': "the Python extension's interpreter", 'workspace-venv': "the workspace's virtual environment", path: 'found on PATH' }[p.source];
  return `${p.path} (torch ${p.torchVersion}, ${how})`;
}

/** "tried: i2f.python /x (not found); python3 on PATH /usr/bin/python3 (torch is not installed)". */
export function describeTried(tried: PythonSearch['tried']): string {
  if (!tried.length) return 'no Python interpreter was found (set i2f.python or pass --python)';
  return `no Python with torch: tried ${tried.map((t) => `${t.path} (${t.problem})`).join('; ')}; set i2f.python (or --python) to one that imports torch`;
}

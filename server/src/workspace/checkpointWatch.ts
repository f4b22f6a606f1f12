// Watches the checkpoints training writes: the checkpoint a config names, files like it in its folder (a federated
// server's `round-40.pt`, `round-41.pt`…), and the run's output folder (`output_dir`, `save_dir`, …: its `*.pt`/
// `*.safetensors`/`*.ckpt` files and a Trainer's `checkpoint-N/` folders). A checkpoint counts once its write is
// complete: its size and modification time unchanged across two looks, and (for the formats that say where they
// end) its end record present: a zip's end-of-central-directory, a safetensors header's last data offset. A
// Trainer folder counts once its weights file (or every shard an index names) is complete.

import { closeSync, openSync, promises as fs, readSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import { CHECKPOINT_EXTENSIONS, checkpointFolderFiles, STEP_FOLDER } from '../checkpoints/readCheckpoint';

export interface CheckpointCandidate {
  path: string;
  /** What the history and the finding call it: the path relative to the config's folder. */
  name: string;
  /** The round / step / epoch parsed from the name, when it has one. */
  step?: number;
  kind: 'file' | 'folder';
}

export interface CompleteCheckpoint extends CheckpointCandidate {
  /** Sizes and modification times of its files: a new write changes it. */
  signature: string;
  mtimeMs: number;
}

export interface WatchTargets {
  /** Folders whose checkpoints (files and checkpoint-N/ folders) are candidates. */
  folders: string[];
  /** Files or folders that are candidates themselves (the named checkpoint). */
  paths: string[];
  /** In folders that hold the named checkpoint file, only names of the same shape count (`round-\d+.pt`). */
  patterns: Map<string, RegExp>;
}

/** Files beside the weights in a Trainer folder that are not weights. */
const NOT_WEIGHTS = /^(optimizer|scheduler|scaler|rng_state|training_args|trainer_state)/;

/** Round / step / epoch in a checkpoint's name: `step=120`, `checkpoint-500`, `round-40`, else the last number. */
export function stepOf(name: string): number | undefined {
  const base = basename(name).replace(/\.(safetensors|pt|pth|bin|ckpt)$/i, '');
  const labelled = /(?:step|round|epoch|iter|checkpoint)[-_=]?(\d+)(?!.*(?:step|round)[-_=]?\d)/i.exec(base);
  const m = labelled ?? /(\d+)(?!.*\d)/.exec(base);
  return m ? Number(m[1]) : undefined;
}

/** The same name with its numbers free: `lenet-round-40.safetensors` → /^lenet-round-\d+\.safetensors$/. */
function shapeOf(name: string): RegExp {
  const escaped = name.split(/\d+/).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('\\d+')}$`);
}

export function watchTargets(named: { weights?: string; outputDirs: string[] }): WatchTargets {
  const targets: WatchTargets = { folders: [], paths: [], patterns: new Map() };
  for (const d of named.outputDirs) if (!targets.folders.includes(d)) targets.folders.push(d);
  const w = named.weights;
  if (w) {
    targets.paths.push(w);
    const name = basename(w);
    // A numbered checkpoint (round-40.pt, checkpoint-500/): its siblings of the same shape are the later rounds.
    if (/\d/.test(name) && (CHECKPOINT_EXTENSIONS.includes(extname(name).toLowerCase()) || STEP_FOLDER.test(name))) {
      const dir = dirname(w);
      if (!targets.folders.includes(dir)) targets.folders.push(dir);
      if (!named.outputDirs.includes(dir)) targets.patterns.set(dir, shapeOf(name));
    }
  }
  return targets;
}

/** The candidates present now (not yet checked for completeness). */
export async function listCandidates(targets: WatchTargets, configDir: string): Promise<CheckpointCandidate[]> {
  const out = new Map<string, CheckpointCandidate>();
  const add = (path: string, kind: 'file' | 'folder') => {
    if (!out.has(path)) out.set(path, { path, name: relative(configDir, path) || basename(path), step: stepOf(basename(path)), kind });
  };
  for (const p of targets.paths) {
    const st = await fs.stat(p).catch(() => undefined);
    if (st?.isFile()) add(p, 'file');
    else if (st?.isDirectory()) {
      // A run's output folder named as the weights: its checkpoint-N/ folders are the candidates.
      const entries = await fs.readdir(p, { withFileTypes: true }).catch(() => []);
      const steps = entries.filter((e) => e.isDirectory() && STEP_FOLDER.test(e.name));
      if (steps.length) for (const e of steps) add(join(p, e.name), 'folder');
      else add(p, 'folder');
    }
  }
  for (const dir of targets.folders) {
    const pattern = targets.patterns.get(dir);
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (e.name.startsWith('.') || (pattern && !pattern.test(e.name))) continue;
      if (e.isDirectory() && STEP_FOLDER.test(e.name)) add(join(dir, e.name), 'folder');
      else if (e.isFile() && CHECKPOINT_EXTENSIONS.includes(extname(e.name).toLowerCase()) && !NOT_WEIGHTS.test(e.name)) add(join(dir, e.name), 'file');
    }
  }
  return [...out.values()];
}

/**
 * Whether a file's bytes end where its format says they end. Zip (torch.save since 1.6): an end-of-central-directory
 * record in its last 64 KiB. Safetensors: 8 + header length + the largest data offset = the size. Other files
 * (the legacy pickle format) carry no end marker: size stability alone decides.
 */
export function looksComplete(file: string, size: number): boolean {
  if (size < 8) return false;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(8);
    readSync(fd, head, 0, 8, 0);
    if (head.readUInt32LE(0) === 0x04034b50) {
      const n = Math.min(size, 22 + 0xffff);
      const tail = Buffer.alloc(n);
      readSync(fd, tail, 0, n, size - n);
      for (let i = n - 22; i >= 0; i--) if (tail.readUInt32LE(i) === 0x06054b50) return true;
      return false;
    }
    if (file.endsWith('.safetensors')) {
      const headerLength = Number(head.readBigUInt64LE(0));
      if (8 + headerLength > size) return false;
      const header = Buffer.alloc(headerLength);
      readSync(fd, header, 0, headerLength, 8);
      const parsed = JSON.parse(header.toString('utf8')) as Record<string, { data_offsets?: number[] }>;
      let end = 0;
      for (const [k, v] of Object.entries(parsed)) if (k !== '__metadata__' && Array.isArray(v?.data_offsets)) end = Math.max(end, Number(v.data_offsets[1]) || 0);
      return 8 + headerLength + end === size;
    }
    return true;
  } catch {
    return false; // unreadable or a header still being written
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The files that make a candidate, with their sizes and mtimes; undefined while it is not complete. */
async function snapshot(c: CheckpointCandidate): Promise<{ signature: string; mtimeMs: number } | undefined> {
  let files: string[];
  if (c.kind === 'file') files = [c.path];
  else {
    const found = await checkpointFolderFiles(c.path).catch(() => undefined);
    if (!found) return undefined;
    files = found.index ? [found.index, ...found.files] : found.files;
  }
  const parts: string[] = [];
  let mtimeMs = 0;
  for (const f of files) {
    const st = await fs.stat(f).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    if (!f.endsWith('.json') && !looksComplete(f, st.size)) return undefined;
    parts.push(`${basename(f)}:${st.size}:${st.mtimeMs}`);
    mtimeMs = Math.max(mtimeMs, st.mtimeMs);
  }
  return { signature: parts.join('|'), mtimeMs };
}

/**
 * Per config, the candidates seen at the last look and their signatures. `look` returns the candidates whose
 * write completed since the previous look (their signature unchanged across two looks, never announced before).
 */
export class CheckpointTracker {
  private readonly previous = new Map<string, string>();
  private readonly announced = new Map<string, string>();
  private readonly complete = new Map<string, CompleteCheckpoint>();
  /** Candidates seen at the last look whose write is not complete (still growing, or no end record yet). */
  readonly waiting = new Set<string>();
  looks = 0;

  async look(targets: WatchTargets, configDir: string): Promise<CompleteCheckpoint[]> {
    this.looks++;
    const fresh: CompleteCheckpoint[] = [];
    const present = new Set<string>();
    for (const c of await listCandidates(targets, configDir)) {
      present.add(c.path);
      const snap = await snapshot(c);
      const before = this.previous.get(c.path);
      if (!snap) {
        this.previous.delete(c.path);
        this.complete.delete(c.path);
        this.waiting.add(c.path);
        continue;
      }
      this.previous.set(c.path, snap.signature);
      if (before !== snap.signature) {
        this.complete.delete(c.path); // still being written, or rewritten: wait for the next look
        this.waiting.add(c.path);
        continue;
      }
      this.waiting.delete(c.path);
      const done: CompleteCheckpoint = { ...c, ...snap };
      this.complete.set(c.path, done);
      if (this.announced.get(c.path) !== snap.signature) {
        this.announced.set(c.path, snap.signature);
        fresh.push(done);
      }
    }
    for (const p of [...this.previous.keys(), ...this.waiting]) {
      if (present.has(p)) continue;
      this.previous.delete(p);
      this.complete.delete(p);
      this.waiting.delete(p);
    }
    return fresh;
  }

  /** The checkpoint at `path` if its write is complete (as of the last look). */
  completeAt(path: string): CompleteCheckpoint | undefined {
    return this.complete.get(path);
  }

  /** The latest complete checkpoint: the highest step, then the newest write. */
  latest(): CompleteCheckpoint | undefined {
    let best: CompleteCheckpoint | undefined;
    for (const c of this.complete.values()) {
      if (!best) best = c;
      else if ((c.step ?? -1) !== (best.step ?? -1)) best = (c.step ?? -1) > (best.step ?? -1) ? c : best;
      else if (c.mtimeMs > best.mtimeMs) best = c;
    }
    return best;
  }
}

/**
 * The checkpoints whose write is complete now, in training order (step, then write time): the audit's single look
 * (a CI run audits what is on disk; no write is expected to be in progress, but a half-written one is still skipped).
 */
export async function completeCheckpoints(targets: WatchTargets, configDir: string): Promise<CompleteCheckpoint[]> {
  const out: CompleteCheckpoint[] = [];
  for (const c of await listCandidates(targets, configDir)) {
    const snap = await snapshot(c);
    if (snap) out.push({ ...c, ...snap });
  }
  return out.sort((a, b) => (a.step ?? -1) - (b.step ?? -1) || a.mtimeMs - b.mtimeMs);
}

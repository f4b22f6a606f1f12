// Results cached by content hash of what decides them (model, weights, samples bytes; analysis knobs; structural
// defences), in memory and in the storage folder. Disk writes are atomic: a temp file, then rename.

import { configuredLoss } from './lossChoice';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { modelFileFormat } from '../backends/modelFile';
import { analysisPlan } from '../config/defences';
import type { DiscoveredConfig } from '../workspace/discover';
import type { NoiseResponse } from '../engine/influence';
import type { AnalysisKnobs } from './settings';
import { structuralDefences, type CachedAnalysis } from './noiseRescale';

const CACHE_FORMAT = 2; // 2: NoiseResponse carries the validity inputs (gradient norm, noise dimension, clipping scale, λmax residual)
/** Folders of samples are hashed file by file; past this many files the listing (names, sizes, mtimes) stands in. */
const MAX_HASHED_FILES = 2_000;

const EXTERNAL_MARKER = Buffer.from('\x0a\x08location', 'latin1');

/** sha256 of files, memoised by (path, size, mtime) so an edit to a config never re-reads a big model. */
export class ContentHasher {
  private readonly memo = new Map<string, { size: number; mtimeMs: number; hash: string; external: boolean; locations?: string[] }>();

  async hash(path: string): Promise<string> {
    const st = await fs.stat(path);
    if (st.isDirectory()) return this.hashFolder(path);
    // A device or pipe (/dev/zero, a FIFO named model.onnx) would be read forever or block a thread-pool thread.
    if (!st.isFile()) throw new Error(`${path} is not a regular file (a device, pipe or socket)`);
    const m = this.memo.get(path);
    if (m && m.size === st.size && m.mtimeMs === st.mtimeMs) return m.hash;
    const h = createHash('sha256');
    // An ONNX external-data entry ("location" key of TensorProto.external_data): its bytes live in another file.
    let external = false;
    let tail: Buffer = Buffer.alloc(0);
    await new Promise<void>((resolve, reject) => {
      createReadStream(path).on('data', (chunk) => {
        const c = chunk as Buffer;
        h.update(c);
        if (!external) {
          const window = Buffer.concat([tail, c.subarray(0, EXTERNAL_MARKER.length)]);
          external = window.includes(EXTERNAL_MARKER) || c.includes(EXTERNAL_MARKER);
          tail = c.subarray(Math.max(0, c.length - EXTERNAL_MARKER.length));
        }
      }).on('end', resolve).on('error', reject);
    });
    const hash = h.digest('hex');
    this.memo.set(path, { size: st.size, mtimeMs: st.mtimeMs, hash, external });
    return hash;
  }

  /** Whether a file hashed before may refer to ONNX external data (then the files it names are part of what decides). */
  mayHaveExternalData(path: string): boolean {
    return this.memo.get(path)?.external ?? false;
  }

  /**
   * The files beside a hashed ONNX model that its external-data entries name (their `location` values, as written),
   * read once per version of the model file. Only these decide its numbers: other files in its folder (a training
   * log, checkpoints being written, another model) must not change its cache key.
   */
  async externalLocations(path: string): Promise<string[]> {
    const m = this.memo.get(path);
    if (!m?.external) return [];
    m.locations ??= externalLocationsIn(await fs.readFile(path));
    return m.locations;
  }

  private async hashFolder(dir: string): Promise<string> {
    const names = (await fs.readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name).sort();
    const h = createHash('sha256');
    for (const name of names.slice(0, MAX_HASHED_FILES)) h.update(name).update('\0').update(await this.hash(join(dir, name))).update('\n');
    h.update(String(names.length));
    return h.digest('hex');
  }

  /** Forget a file (a watcher saw it change); a folder's entries are forgotten with it. */
  forget(path: string): void {
    for (const k of [...this.memo.keys()]) if (k === path || k.startsWith(path + '/')) this.memo.delete(k);
  }

  clear(): void {
    this.memo.clear();
  }
}

/** The `location` values of a model's StringStringEntryProto entries (key "location", then field 2: the value). */
function externalLocationsIn(bytes: Buffer): string[] {
  const found = new Set<string>();
  for (let i = bytes.indexOf(EXTERNAL_MARKER); i >= 0; i = bytes.indexOf(EXTERNAL_MARKER, i + 1)) {
    let j = i + EXTERNAL_MARKER.length;
    if (bytes[j++] !== 0x12) continue;
    let length = 0;
    for (let shift = 0; j < bytes.length && shift < 35; shift += 7) {
      const b = bytes[j++];
      length += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) break;
    }
    if (j + length <= bytes.length) found.add(bytes.toString('utf8', j, j + length));
  }
  return [...found].sort();
}

/** The weight shards a TensorFlow.js model.json names (weightsManifest[].paths); undefined when it cannot be read. */
async function tfjsShards(modelJson: string): Promise<string[] | undefined> {
  try {
    const json = JSON.parse(await fs.readFile(modelJson, 'utf8')) as { weightsManifest?: { paths?: unknown[] }[] };
    const paths = (json.weightsManifest ?? []).flatMap((g) => (Array.isArray(g?.paths) ? g.paths : []));
    return paths.every((p) => typeof p === 'string') ? [...new Set(paths as string[])].sort() : undefined;
  } catch {
    return undefined;
  }
}

/** Set by the bundler (tools/build.mjs): a hash of the numerical sources. Unbundled runs (tests under tsx) say so. */
declare const I2F_ENGINE_BUILD: string | undefined;
export const ENGINE_BUILD = typeof I2F_ENGINE_BUILD === 'string' ? I2F_ENGINE_BUILD : 'unbundled';

/** The cache key of a config's analysis; configs that differ only in Gaussian noise share it. */
export async function analysisKey(config: DiscoveredConfig, knobs: AnalysisKnobs, hasher: ContentHasher): Promise<string> {
  const plan = analysisPlan(config.setup);
  const optional = async (p?: string) => {
    if (!p) return null;
    try {
      return await hasher.hash(p);
    } catch (e) {
      // Missing: the analysis runs without it (synthetic samples, initial weights). Present but unreadable (a
      // device, a FIFO, no permission): the analysis fails on it, so it must not share the key of a run without it.
      return (e as NodeJS.ErrnoException).code === 'ENOENT' ? null : `unreadable: ${(e as Error).message}`;
    }
  };
  const model = await hasher.hash(config.model!);
  const parts = {
    format: CACHE_FORMAT,
    engine: ENGINE_BUILD,
    model,
    // A model with external data reads files next to it: two byte-identical .onnx files in different folders
    // (each with its own weights.bin) must not share a result, and an edited weights.bin must change the key.
    // A TensorFlow.js model.json always does (its weight shards). Only the files it names count.
    ...(await externalDataOf(config.model!, hasher)),
    weights: await optional(config.weights),
    samples: await optional(config.samples),
    knobs,
    batch: Math.min(plan.batchSize ?? 1, knobs.maxBatch),
    defences: structuralDefences(plan),
    relative: plan.relative.map((r) => [r.sigma0, r.percentile]),
    // The loss differentiated when the config or its code names one (auto keeps the keys it always had).
    ...(configuredLoss(config.setup) !== 'auto' ? { loss: configuredLoss(config.setup) } : {}),
  };
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 40);
}

/** What a model reads besides its own file, for its key: nothing, or its folder's listing of the files it names. */
async function externalDataOf(model: string, hasher: ContentHasher): Promise<{ externalData?: unknown }> {
  const dir = dirname(resolve(model));
  if (modelFileFormat(model) === 'tfjs') return { externalData: await folderListing(dir, await tfjsShards(model)) };
  if (hasher.mayHaveExternalData(model)) return { externalData: await folderListing(dir, await hasher.externalLocations(model)) };
  return {};
}

/**
 * The folder's path and the names, sizes and modification times of `only` (the files a model names; all its files
 * when not known), not their bytes: they may be large.
 */
async function folderListing(dir: string, only?: string[]): Promise<unknown> {
  try {
    const names = (only ?? (await fs.readdir(dir))).slice().sort().slice(0, MAX_HASHED_FILES);
    const files = await Promise.all(names.map(async (n) => {
      const st = await fs.stat(join(dir, n)).catch(() => undefined);
      return [n, st?.size ?? -1, st?.mtimeMs ?? -1];
    }));
    return { dir, files };
  } catch {
    return { dir };
  }
}

type Serialised = Omit<CachedAnalysis, 'batches'> & { format: number; batches: { std: number; noise: Record<string, unknown> }[] };

const ARRAY_FIELDS = ['influenceDeterministic', 'influenceNoise', 'perSampleNoiseTrace'] as const;

function encodeNoise(n: NoiseResponse): Record<string, unknown> {
  const out: Record<string, unknown> = { ...n };
  for (const f of ARRAY_FIELDS) {
    const a = n[f];
    out[f] = a ? Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64') : null;
  }
  return out;
}

function decodeNoise(n: Record<string, unknown>): NoiseResponse {
  const out = { ...n } as Record<string, unknown>;
  for (const f of ARRAY_FIELDS) {
    const s = n[f];
    if (typeof s === 'string') {
      const b = Buffer.from(s, 'base64');
      const copy = new ArrayBuffer(b.byteLength);
      new Uint8Array(copy).set(b);
      out[f] = new Float64Array(copy);
    } else out[f] = null;
  }
  return out as unknown as NoiseResponse;
}

/** Memory first, then `<storage>/results/<key>.json`. */
export class ResultCache {
  private readonly memory = new Map<string, CachedAnalysis>();
  /** Disk writes begun by put() and not yet ended, by key. */
  private readonly writing = new Map<string, Promise<void>>();
  private readonly folder: string;

  constructor(storagePath: string, private readonly log: (message: string) => void = () => {}) {
    this.folder = join(storagePath, 'results');
  }

  get storageFolder(): string {
    return this.folder;
  }

  has(key: string): boolean {
    return this.memory.has(key);
  }

  async get(key: string): Promise<CachedAnalysis | undefined> {
    const hit = this.memory.get(key);
    if (hit) {
      // Handed out only once it is on disk: what a caller shows must survive this process ending right after (a
      // refresh that raced the write published it, then the editor closed and the next start re-analysed).
      await this.writing.get(key);
      return hit;
    }
    try {
      const data = JSON.parse(await fs.readFile(join(this.folder, `${key}.json`), 'utf8')) as Serialised;
      if (data.format !== CACHE_FORMAT || data.key !== key) return undefined;
      // A file another process or a bad disk left behind must not become a result: the shape the views rely on.
      const ok = Array.isArray(data.report?.results) && data.report.results.length > 0 && Array.isArray(data.batches) &&
        data.batches.length === data.report.results.length && data.report.results.every((b) => typeof b?.risk === 'string' && b.solver && Array.isArray(b.samples));
      if (!ok) {
        this.log(`cache: discarding malformed entry ${key}`);
        await fs.rm(join(this.folder, `${key}.json`), { force: true });
        return undefined;
      }
      const { format: _f, ...rest } = data;
      const entry: CachedAnalysis = { ...rest, batches: data.batches.map((b) => ({ std: b.std, noise: decodeNoise(b.noise) })) };
      this.memory.set(key, entry);
      return entry;
    } catch (e) {
      // Absent: analyse. Truncated or corrupt (an interrupted write by an older version, a full disk): discard it.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log(`cache: discarding unreadable entry ${key}: ${(e as Error).message}`);
        await fs.rm(join(this.folder, `${key}.json`), { force: true }).catch(() => {});
      }
      return undefined;
    }
  }

  /**
   * Stores a result: in memory at once, so a refresh racing the write finds it (and waits for the write in get())
   * rather than queueing the analysis again; then on disk, the write tracked until it ends.
   */
  put(entry: CachedAnalysis): Promise<void> {
    this.memory.set(entry.key, entry);
    const before = this.writing.get(entry.key) ?? Promise.resolve();
    const write = before.then(() => this.write(entry)).finally(() => {
      if (this.writing.get(entry.key) === write) this.writing.delete(entry.key);
    });
    this.writing.set(entry.key, write);
    return write;
  }

  /** Resolves once every put begun before the call is on disk (or failed and was logged): the server's shutdown. */
  async flush(): Promise<void> {
    await Promise.all([...this.writing.values()]);
  }

  private async write(entry: CachedAnalysis): Promise<void> {
    const data: Serialised = { format: CACHE_FORMAT, ...entry, batches: entry.batches.map((b) => ({ std: b.std, noise: encodeNoise(b.noise) })) };
    const file = join(this.folder, `${entry.key}.json`);
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await fs.mkdir(this.folder, { recursive: true });
      await fs.writeFile(temp, JSON.stringify(data));
      await fs.rename(temp, file); // atomic on one filesystem: readers see the old file or the new one, never half
    } catch (e) {
      this.log(`cache: could not write ${file}: ${(e as Error).message}`);
      await fs.rm(temp, { force: true }).catch(() => {});
    }
  }

  async clear(): Promise<number> {
    await this.flush(); // a write still under way would bring its file back after the clear
    this.memory.clear();
    let removed = 0;
    try {
      for (const name of await fs.readdir(this.folder)) {
        if (name.endsWith('.json') || name.endsWith('.tmp')) {
          await fs.rm(join(this.folder, name), { force: true });
          removed++;
        }
      }
    } catch {
      // no folder yet
    }
    return removed;
  }
}

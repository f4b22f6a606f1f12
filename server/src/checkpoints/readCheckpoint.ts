// Any checkpoint a training run leaves, read as data: a torch.save file (`.pt`, `.pth`, `.bin`, Lightning `.ckpt`),
// a `.safetensors` file, or a folder (a Hugging Face model folder, a Trainer's `checkpoint-500/`, sharded indexes).
// The result lists every dict of tensors inside, so the caller picks the one that matches its graph.

import { promises as fs } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { UserError } from '../errors';
import { DEFAULT_MAX_SAFETENSORS_BYTES, decodeSafetensors } from '../formats/safetensors';
import { decodedTensor, type CheckpointTensor } from './checkpointTensor';
import { PyDict, type PyValue } from './pickleMachine';
import { decodeTorchCheckpoint, looksLikeTorchSave, TorchTensor } from './torchCheckpoint';

export interface StateDict {
  /** Where it sits in the checkpoint: [] for the top level, ['state_dict'] in a Lightning file. */
  path: string[];
  tensors: Map<string, CheckpointTensor>;
}

export interface Checkpoint {
  /** The file or folder as given. */
  source: string;
  /** The files actually read (a folder's weights file, an index's shards). */
  files: string[];
  format: 'pytorch' | 'pytorch-legacy' | 'safetensors';
  /** Every dict of tensors in the checkpoint, outermost first. */
  stateDicts: StateDict[];
}

/** Weights files a folder may hold, in the order Hugging Face's `from_pretrained` prefers them. */
const FOLDER_WEIGHTS = ['model.safetensors.index.json', 'model.safetensors', 'pytorch_model.bin.index.json', 'pytorch_model.bin'];
/** File name endings a checkpoint may have (a folder's lone weights file, the watcher's candidates). */
export const CHECKPOINT_EXTENSIONS = ['.safetensors', '.pt', '.pth', '.bin', '.ckpt'];
/** Trainer's per-step folders: `checkpoint-500`. */
export const STEP_FOLDER = /^checkpoint-(\d+)$/;
/** Past this depth a nested dict is not searched for tensors (a Lightning file nests two levels). */
const MAX_STATE_DICT_DEPTH = 4;

/**
 * The weights files a checkpoint folder holds: an index's shards, a single weights file, or (a run's output folder)
 * the latest `checkpoint-N/` inside. Undefined when it holds none yet (a Trainer still writing).
 */
export async function checkpointFolderFiles(dir: string): Promise<{ files: string[]; index?: string } | undefined> {
  const names = new Set(await fs.readdir(dir));
  for (const name of FOLDER_WEIGHTS) {
    if (!names.has(name)) continue;
    const file = join(dir, name);
    if (!name.endsWith('.index.json')) return { files: [file] };
    let index: { weight_map?: Record<string, unknown> };
    try {
      index = JSON.parse(await fs.readFile(file, 'utf8'));
    } catch (e) {
      throw new UserError('corrupt-weights', `the shard index is not JSON: ${(e as Error).message}`, { file });
    }
    const shards = index?.weight_map && typeof index.weight_map === 'object' ? Object.values(index.weight_map) : undefined;
    if (!shards || !shards.length || !shards.every((s) => typeof s === 'string' && basename(s) === s)) {
      throw new UserError('corrupt-weights', 'the shard index has no weight_map of tensor name → shard file name (in the same folder)', { file });
    }
    return { files: [...new Set(shards as string[])].sort().map((s) => join(dir, s)), index: file };
  }
  const lone = [...names].filter((n) => CHECKPOINT_EXTENSIONS.some((e) => n.endsWith(e)) && !/^(optimizer|scheduler|scaler|rng_state|training_args)/.test(n));
  if (lone.length === 1) return { files: [join(dir, lone[0])] };
  const steps = [...names].map((n) => STEP_FOLDER.exec(n)).filter((m) => m !== null).sort((a, b) => Number(b![1]) - Number(a![1]));
  if (steps.length) return checkpointFolderFiles(join(dir, steps[0]![0]));
  return undefined;
}

/** Reads a checkpoint file or folder; `maxBytes` bounds each file read. */
export async function readCheckpoint(source: string, opts: { maxBytes?: number } = {}): Promise<Checkpoint> {
  let st;
  try {
    st = await fs.stat(source);
  } catch (e) {
    throw new UserError('weights-not-found', `cannot read the checkpoint: ${(e as Error).message}`, { file: source });
  }
  if (st.isDirectory()) {
    const found = await checkpointFolderFiles(source);
    if (!found) {
      throw new UserError('weights-not-found', `the folder holds no weights: looked for ${FOLDER_WEIGHTS.join(', ')}, a single ${CHECKPOINT_EXTENSIONS.join('/')} file, or checkpoint-N/ folders`, { file: source });
    }
    const parts = await Promise.all(found.files.map((f) => readCheckpointFile(f, opts)));
    if (parts.length === 1) return { ...parts[0], source };
    // Shards: one flat dict, each name in exactly one shard.
    const tensors = new Map<string, CheckpointTensor>();
    for (const p of parts) {
      for (const [name, t] of p.stateDicts[0]?.tensors ?? []) {
        if (tensors.has(name)) throw new UserError('corrupt-weights', `tensor '${name}' is in more than one shard`, { file: found.index });
        tensors.set(name, t);
      }
    }
    return { source, files: found.files, format: parts[0].format, stateDicts: [{ path: [], tensors }] };
  }
  return readCheckpointFile(source, opts);
}

async function readCheckpointFile(file: string, opts: { maxBytes?: number }): Promise<Checkpoint> {
  const limit = opts.maxBytes ?? DEFAULT_MAX_SAFETENSORS_BYTES;
  let size: number;
  try {
    const st = await fs.stat(file);
    // /dev/zero reports size 0 and never ends; a FIFO blocks: regular files only.
    if (!st.isFile()) throw new Error('not a regular file (a device, pipe, socket or folder)');
    size = st.size;
  } catch (e) {
    const shown = relative(dirname(dirname(file)), file);
    throw new UserError('weights-not-found', `cannot read the weights file ${shown}: ${(e as Error).message}`, { file });
  }
  if (size > limit) throw new UserError('model-too-large', `the weights file is ${size} bytes, over the size limit of ${limit} bytes`, { file });
  const bytes = new Uint8Array(await fs.readFile(file));
  return decodeCheckpoint(bytes, file);
}

/** Decodes a checkpoint file held in memory, by its content (a `.bin` may be either format). */
export function decodeCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  if (!file.endsWith('.safetensors') && looksLikeTorchSave(bytes)) {
    const { root, format } = decodeTorchCheckpoint(bytes, file);
    const stateDicts = collectStateDicts(root);
    if (!stateDicts.length) throw new UserError('weights-mismatch', 'the PyTorch checkpoint holds no tensors by name (save model.state_dict())', { file });
    return { source: file, files: [file], format: format === 'zip' ? 'pytorch' : 'pytorch-legacy', stateDicts };
  }
  if (!file.endsWith('.safetensors') && !looksLikeSafetensors(bytes)) {
    const kind = bytes[0] === 0x89 && bytes[1] === 0x48 ? ' (an HDF5 file: Keras weights)' : '';
    throw new UserError('unsupported-checkpoint', `not a checkpoint this reads${kind}: weights are read from torch.save files (a zip archive or a pickle), safetensors, or a Hugging Face folder; save model.state_dict() with torch.save, or as safetensors`, { file });
  }
  const { tensors } = decodeSafetensors(bytes, file);
  return { source: file, files: [file], format: 'safetensors', stateDicts: [{ path: [], tensors: new Map([...tensors].map(([k, t]) => [k, decodedTensor(t)])) }] };
}

/** A safetensors file starts with its header's length (u64, little-endian) and the header's opening brace. */
function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 9) return false;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n > 0n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b;
}

/** Every dict with tensor values, breadth-first (the top level first), cycles and depth bounded. */
function collectStateDicts(root: PyValue): StateDict[] {
  const out: StateDict[] = [];
  const seen = new Set<PyDict>();
  const queue: { value: PyValue; path: string[] }[] = [{ value: root, path: [] }];
  while (queue.length) {
    const { value, path } = queue.shift()!;
    if (!(value instanceof PyDict) || seen.has(value) || path.length > MAX_STATE_DICT_DEPTH) continue;
    seen.add(value);
    const tensors = new Map<string, CheckpointTensor>();
    for (const [k, v] of value.map) {
      if (typeof k !== 'string') continue;
      if (v instanceof TorchTensor) tensors.set(k, v);
      else if (v instanceof PyDict) queue.push({ value: v, path: [...path, k] });
    }
    if (tensors.size) out.push({ path, tensors });
  }
  return out;
}

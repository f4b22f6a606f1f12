// Loads an .onnx file from disk: size limit first, then decode, then external-data files confined to the model's folder.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Graph, Model, Tensor } from '../../graph/ir';
import { UserError } from '../../errors';
import { allocTyped, bytesPerElement, decodeModel, typedFromBytes, type DecodedTensor, type ExternalDataRef } from './onnxProto';
import { HOST_LITTLE_ENDIAN } from './protobuf';

/** 2 GiB: protobuf's own message limit, so a larger .onnx file cannot be valid anyway (its external data can be). */
export const DEFAULT_MAX_MODEL_BYTES = 2 ** 31;

export interface LoadOptions {
  /**
   * Refuse a model whose file plus external data exceed this many bytes (the user's size-limit setting). Without
   * it the .onnx file itself must be under protobuf's 2 GiB and its external data may be any size: each tensor is
   * read into its own array, never the whole model into one buffer.
   */
  maxBytes?: number;
}

function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} bytes`;
}

export function tooLarge(file: string, size: number, limit: number, what = 'the model'): UserError {
  return new UserError(
    'model-too-large',
    `${what} is ${formatBytes(size)} (${size} bytes), over the size limit of ${formatBytes(limit)} (${limit} bytes); raise the limit to analyse it`,
    { file },
  );
}

/** Every tensor that may carry an external-data marker: initialisers and tensor attributes, subgraphs included. */
function* tensorsOf(graph: Graph): Generator<[string, DecodedTensor]> {
  for (const [name, t] of graph.initializers) yield [name, t];
  for (const node of graph.nodes)
    for (const [attr, a] of Object.entries(node.attributes)) {
      if (a.type === 'tensor') yield [`${node.name}.${attr}`, a.value];
      else if (a.type === 'graph') yield* tensorsOf(a.value);
    }
}

/**
 * The external file a tensor names, resolved inside `folder`. ONNX locations are relative to the model's folder;
 * one that is absolute or climbs out ('..') could make a downloaded model read any file on the machine.
 */
async function confinedPath(folder: string, ref: ExternalDataRef, tensor: string, file: string): Promise<string> {
  const location = ref.location;
  const segments = location.split(/[\\/]/);
  if (path.isAbsolute(location) || path.win32.isAbsolute(location) || segments.includes('..') || location.includes('\0'))
    throw new UserError(
      'unsafe-external-data',
      `tensor '${tensor}' keeps its data at '${location}', outside the model's folder; only paths inside ${folder} are read`,
      { file },
    );
  const resolved = path.resolve(folder, location);
  // A symbolic link inside the folder could still point out of it: compare real paths too.
  let real: string;
  try {
    real = await fs.realpath(resolved);
  } catch {
    throw new UserError('missing-external-data', `tensor '${tensor}' keeps its data in '${location}', but ${resolved} does not exist`, { file });
  }
  const realFolder = await fs.realpath(folder);
  const rel = path.relative(realFolder, real);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel))
    throw new UserError(
      'unsafe-external-data',
      `tensor '${tensor}' keeps its data at '${location}', which leads outside the model's folder (to ${real})`,
      { file },
    );
  return real;
}

/** Reads each tensor's bytes from its external file; files are opened once however many tensors share them. */
async function resolveExternalData(model: Model, file: string, budget: { used: number; limit: number }): Promise<void> {
  const folder = path.dirname(path.resolve(file));
  const handles = new Map<string, { handle: fs.FileHandle; size: number }>();
  try {
    for (const [name, tensor] of tensorsOf(model.graph)) {
      const ref = tensor.external;
      if (!ref) continue;
      const target = await confinedPath(folder, ref, name, file);
      let open = handles.get(target);
      if (!open) {
        let handle: fs.FileHandle;
        try {
          handle = await fs.open(target, 'r');
        } catch (e) {
          throw new UserError('missing-external-data', `tensor '${name}': cannot open '${ref.location}': ${(e as Error).message}`, { file });
        }
        open = { handle, size: (await handle.stat()).size };
        handles.set(target, open);
      }
      let count = 1;
      for (const d of tensor.dims) count *= d;
      const length = ref.length ?? count * bytesPerElement(tensor.dtype);
      if (length !== count * bytesPerElement(tensor.dtype))
        throw new UserError('corrupt-model', `tensor '${name}' needs ${count * bytesPerElement(tensor.dtype)} bytes but its external data is ${length} bytes`, { file });
      if (ref.offset + length > open.size)
        throw new UserError(
          'corrupt-model',
          `tensor '${name}' needs bytes ${ref.offset}..${ref.offset + length} of '${ref.location}', but that file has only ${open.size} bytes`,
          { file },
        );
      budget.used += length;
      if (budget.used > budget.limit) throw tooLarge(file, budget.used, budget.limit, 'the model with its external data');
      // Read straight into the tensor's own array (little-endian hosts, i.e. all Node ships for): one copy of each
      // tensor in memory, never the whole data file, nor a byte buffer beside the typed one (a 1 GiB weight once
      // cost 2 GiB while loading the > 2 GB MLP of bench/large.ts).
      const data = HOST_LITTLE_ENDIAN ? allocTyped(tensor.dtype, count) : undefined;
      const bytes = data ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(length);
      const bytesRead = await readFully(open.handle, bytes, ref.offset);
      if (bytesRead !== length)
        throw new UserError('corrupt-model', `tensor '${name}': read ${bytesRead} of ${length} bytes from '${ref.location}'`, { file });
      (tensor as Tensor).data = data ?? typedFromBytes(tensor.dtype, bytes);
      delete tensor.external;
    }
  } finally {
    await Promise.all([...handles.values()].map((h) => h.handle.close()));
  }
}

/** Reads bytes.length bytes at `position` (one read returns at most 2 GiB); returns how many were there. */
async function readFully(handle: fs.FileHandle, bytes: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesRead } = await handle.read(bytes, done, Math.min(bytes.length - done, 2 ** 30), position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/**
 * Loads an ONNX model file into the IR. Every failure is a UserError located in `file`: too large ('model-too-large'),
 * unreadable, corrupt ('corrupt-model'), or external data that is missing, short, or outside the model's folder.
 */
export async function loadOnnxFile(file: string, opts: LoadOptions = {}): Promise<Model> {
  const limit = opts.maxBytes ?? DEFAULT_MAX_MODEL_BYTES;
  const totalLimit = opts.maxBytes ?? Infinity;
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? 'model-not-found' : 'model-unreadable', code === 'ENOENT' ? 'the model file does not exist' : `cannot read the model file: ${(e as Error).message}`, { file });
  }
  if (!stat.isFile()) throw new UserError('model-unreadable', 'the model path is not a file', { file });
  // Checked before reading: a multi-gigabyte checkpoint must not be pulled into memory just to be refused.
  if (stat.size > limit) throw tooLarge(file, stat.size, limit);
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw new UserError('model-unreadable', `cannot read the model file: ${(e as Error).message}`, { file });
  }
  const model = decodeModel(bytes, { file, allowExternal: true });
  await resolveExternalData(model, file, { used: stat.size, limit: totalLimit });
  return model;
}

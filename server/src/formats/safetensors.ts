// Reads and writes .safetensors checkpoints (u64 header length, JSON header, little-endian tensor bytes), checked.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DType, Tensor } from '../graph/ir';
import { UserError } from '../errors';
import { bytesPerElement, typedFromBytes } from '../graph/tensorBytes';

export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  /** The header's `__metadata__` (string → string), empty when absent. */
  metadata: Record<string, string>;
}

const DTYPE_OF_CODE: Record<string, DType> = {
  F32: 'float32', F64: 'float64', F16: 'float16', I64: 'int64', I32: 'int32', U8: 'uint8', I8: 'int8', BOOL: 'bool',
};
const CODE_OF_DTYPE = Object.fromEntries(Object.entries(DTYPE_OF_CODE).map(([k, v]) => [v, k])) as Record<DType, string>;

// The reference implementation refuses headers over 100 MB; a larger one is an attack, not a checkpoint.
const MAX_HEADER_BYTES = 100_000_000;
/** Default size limit for reading a checkpoint from disk. */
export const DEFAULT_MAX_SAFETENSORS_BYTES = 2 ** 34;

function corrupt(file: string | undefined, message: string): UserError {
  return new UserError('corrupt-weights', message, { file });
}

/** Decodes a whole .safetensors file held in memory; tensor data is copied into aligned typed arrays. */
export function decodeSafetensors(bytes: Uint8Array, file?: string): SafetensorsFile {
  if (bytes.length < 8) throw corrupt(file, `a safetensors file starts with an 8-byte header length; this one has ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > bytes.length - 8 || headerLength > MAX_HEADER_BYTES)
    throw corrupt(file, `the header declares ${headerLength} bytes but the file has ${bytes.length - 8} after the length (not a safetensors file?)`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (e) {
    throw corrupt(file, `the header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw corrupt(file, 'the header is not a JSON object');

  const data = bytes.subarray(8 + headerLength);
  const metadata: Record<string, string> = {};
  const spans: { name: string; begin: number; end: number }[] = [];
  const tensors = new Map<string, Tensor>();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw corrupt(file, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw corrupt(file, `__metadata__ value '${k}' is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null) throw corrupt(file, `tensor '${name}': header entry is not an object`);
    if (typeof e.dtype !== 'string') throw corrupt(file, `tensor '${name}' has no dtype`);
    // Own keys only: a dtype of 'toString' would find Object.prototype's member.
    const dtype = Object.hasOwn(DTYPE_OF_CODE, e.dtype) ? DTYPE_OF_CODE[e.dtype] : undefined;
    if (!dtype)
      throw new UserError('unsupported-dtype', `tensor '${name}' has dtype ${e.dtype}; supported: ${Object.keys(DTYPE_OF_CODE).join(', ')}`, { file });
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw corrupt(file, `tensor '${name}' has shape ${JSON.stringify(shape)}, not a list of non-negative integers`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1])
      throw corrupt(file, `tensor '${name}' has data_offsets ${JSON.stringify(offsets)}, not [begin, end] with begin ≤ end`);
    const [begin, end] = offsets as number[];
    if (end > data.length)
      throw corrupt(file, `tensor '${name}' ends at byte ${end} of the data, but the file holds only ${data.length} data bytes (truncated?)`);
    let count = 1;
    for (const d of shape as number[]) count *= d;
    const need = count * bytesPerElement(dtype);
    if (need !== end - begin)
      throw corrupt(file, `tensor '${name}' has shape [${shape.join(', ')}] of ${e.dtype} (${need} bytes) but its data spans ${end - begin} bytes`);
    spans.push({ name, begin, end });
    tensors.set(name, { dtype, dims: (shape as number[]).slice(), data: typedFromBytes(dtype, data.subarray(begin, end)) });
  }
  spans.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < spans.length; i++)
    if (spans[i].begin < spans[i - 1].end) throw corrupt(file, `tensors '${spans[i - 1].name}' and '${spans[i].name}' overlap in the data`);
  return { tensors, metadata };
}

/** Reads a .safetensors file (or decodes bytes already in memory). */
export async function readSafetensors(source: string | Uint8Array, opts: { maxBytes?: number } = {}): Promise<SafetensorsFile> {
  if (typeof source !== 'string') return decodeSafetensors(source);
  const limit = opts.maxBytes ?? DEFAULT_MAX_SAFETENSORS_BYTES;
  let size: number;
  try {
    const st = await fs.stat(source);
    // /dev/zero reports size 0 and never ends; a FIFO blocks: regular files only.
    if (!st.isFile()) throw new Error('not a regular file (a device, pipe, socket or folder)');
    size = st.size;
  } catch (e) {
    throw new UserError('weights-not-found', `cannot read the weights file: ${(e as Error).message}`, { file: source });
  }
  if (size > limit) throw new UserError('model-too-large', `the weights file is ${size} bytes, over the size limit of ${limit} bytes`, { file: source });
  return decodeSafetensors(await fs.readFile(source), source);
}

/** Encodes tensors (in the map's order) as a .safetensors file; the header is space-padded to 8-byte alignment. */
export function encodeSafetensors(tensors: Map<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__') throw new UserError('invalid-tensor-name', "a tensor cannot be named '__metadata__' in safetensors");
    header[name] = { dtype: CODE_OF_DTYPE[t.dtype], shape: t.dims, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  json = new Uint8Array(0);
  let at = 8 + padded;
  for (const t of tensors.values()) {
    // Little-endian hosts (every Node platform) store typed arrays in file order: one copy per tensor.
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Writes a .safetensors file atomically (temporary file, then rename), so readers never see half a checkpoint. */
export async function writeSafetensors(tensors: Map<string, Tensor>, file: string, metadata?: Record<string, string>): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  await fs.writeFile(tmp, encodeSafetensors(tensors, metadata));
  try {
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

// Product graphs written to disk with their large initialisers as ONNX external data, for models whose θ does not
// fit one protobuf message (2 GiB) and for large models generally: every graph of one operator shares one weights
// file, θ written once however many product graphs read it, and onnxruntime memory-maps page-aligned external data
// instead of copying it out of the model bytes (measured in bench/large.ts).

import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Model, Tensor, TypedArray } from '../../graph/ir';
import { encodeModel, type ExternalDataRef } from './onnxProto';

/** protobuf's hard limit on one message: a ModelProto with θ inline cannot be larger. */
export const PROTOBUF_LIMIT_BYTES = 2 ** 31 - 1;

/** Initialisers at least this big go to the weights file; smaller ones stay inline (alignment would waste more). */
export const EXTERNAL_MIN_BYTES = 64 * 1024;

/** Offsets are aligned to 64 KiB, the largest allocation granularity onnxruntime maps files with (Windows; 4 KiB on Linux). */
const ALIGN = 64 * 1024;

/** Bytes of a model's initialisers: what an inline encoding would hold (plus a little graph structure). */
export function initializerBytes(model: Model): number {
  let n = 0;
  for (const t of model.graph.initializers.values()) n += t.data.byteLength;
  return n;
}

/**
 * A temporary folder holding product graphs (`<kind>.onnx`) and one `weights.bin` they all point into. A tensor's
 * data array is written once: the float32 graphs share θ's arrays, so θ is on disk once for all of them.
 */
export class ExternalGraphFolder {
  readonly dir: string;
  private readonly weights: string;
  private fd: number | undefined;
  private size = 0;
  private readonly placed = new WeakMap<TypedArray, ExternalDataRef>();

  constructor(parent = os.tmpdir(), readonly minBytes = EXTERNAL_MIN_BYTES) {
    removeOrphans(parent);
    this.dir = mkdtempSync(path.join(parent, `${PREFIX}${process.pid}-`));
    this.weights = path.join(this.dir, 'weights.bin');
    openFolders.add(this);
  }

  /** Writes `model` as `<name>.onnx` beside the shared weights file; returns its path (for InferenceSession.create). */
  write(model: Model, name: string): string {
    this.fd ??= openSync(this.weights, 'w');
    const bytes = encodeModel(model, (_, t) => (this.external(t) ? this.place(t) : undefined));
    const file = path.join(this.dir, `${name}.onnx`);
    const fd = openSync(file, 'w');
    try {
      writeAll(fd, bytes, 0);
    } finally {
      closeSync(fd);
    }
    return file;
  }

  /**
   * Weights at least minBytes go out; integer tensors only when big (index maps): onnxruntime's shape inference
   * reads small integer constants (Reshape's shape) and cannot read them from external data.
   */
  private external(t: Tensor): boolean {
    const n = t.data.byteLength;
    return n >= this.minBytes && (t.dtype === 'float32' || t.dtype === 'float64' || n >= EXTERNAL_MIN_BYTES);
  }

  private place(t: Tensor): ExternalDataRef {
    const known = this.placed.get(t.data);
    if (known) return known;
    const offset = Math.ceil(this.size / ALIGN) * ALIGN;
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    writeAll(this.fd!, bytes, offset);
    this.size = offset + bytes.length;
    const ref = { location: 'weights.bin', offset, length: bytes.length };
    this.placed.set(t.data, ref);
    return ref;
  }

  /** Removes the folder (sessions built from it keep their own copy or mapping of the data). */
  dispose(): void {
    openFolders.delete(this);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const PREFIX = 'i2f-products-';

/**
 * Folders left by processes that no longer run (a worker killed by the memory watchdog gets no 'exit' event): each
 * holds a copy of some model's θ, so they are removed when the next folder is made. The pid is in the name.
 */
function removeOrphans(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = name.startsWith(PREFIX) ? Number(name.slice(PREFIX.length).split('-')[0]) : NaN;
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || alive(pid)) continue;
    try {
      rmSync(path.join(parent, name), { recursive: true, force: true });
    } catch {
      // another process may be removing it too
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

// A copy of θ per folder must not outlive the process when an operator is never disposed (a cancelled analysis,
// an exiting worker): whatever is still open goes on exit.
const openFolders = new Set<ExternalGraphFolder>();
process.once('exit', () => {
  for (const f of [...openFolders]) {
    try {
      f.dispose();
    } catch {
      // best effort at exit
    }
  }
});

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  // writeSync may write less than asked (and at most 2 GiB at once): loop until every byte is out.
  let done = 0;
  while (done < bytes.length) {
    const chunk = bytes.subarray(done, Math.min(bytes.length, done + 2 ** 30));
    done += writeSync(fd, chunk, 0, chunk.length, position + done);
  }
}

// Reads the entries of a ZIP archive held in memory: the container `torch.save` writes since PyTorch 1.6
// (entries stored uncompressed and 64-byte aligned, ZIP64 records past 4 GiB). Deflated entries are inflated too,
// so an archive re-zipped by another tool still reads. Every offset is bounds-checked: a hostile file gets a located
// error, never an out-of-range read.

import { inflateRawSync } from 'node:zlib';
import { UserError } from '../errors';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated (the only methods read). */
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_EOCD = 0x06064b50;
const ZIP64_LOCATOR = 0x07064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** The end record (22 bytes) plus the longest comment it may carry. */
const MAX_EOCD_SEARCH = 22 + 0xffff;
/** An inflated entry past this is refused (a zip bomb), whatever the archive's size. */
const MAX_INFLATED_BYTES = 2 ** 32;

/** True when the bytes start like a ZIP archive (a local file header, or an empty archive's end record). */
export function looksLikeZip(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const sig = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24);
  return sig === LOCAL || sig === EOCD;
}

export class ZipArchive {
  readonly entries = new Map<string, ZipEntry>();
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array, private readonly file?: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readCentralDirectory();
  }

  private corrupt(message: string): UserError {
    return new UserError('corrupt-weights', `not a readable ZIP archive: ${message}`, { file: this.file });
  }

  private u16(at: number): number {
    if (at < 0 || at + 2 > this.bytes.length) throw this.corrupt(`a record at byte ${at} runs past the end of the file (truncated?)`);
    return this.view.getUint16(at, true);
  }

  private u32(at: number): number {
    if (at < 0 || at + 4 > this.bytes.length) throw this.corrupt(`a record at byte ${at} runs past the end of the file (truncated?)`);
    return this.view.getUint32(at, true);
  }

  private u64(at: number): number {
    if (at < 0 || at + 8 > this.bytes.length) throw this.corrupt(`a record at byte ${at} runs past the end of the file (truncated?)`);
    const v = this.view.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.corrupt(`a ZIP64 size at byte ${at} is ${v}, past any real file`);
    return Number(v);
  }

  private readCentralDirectory(): void {
    const n = this.bytes.length;
    let eocd = -1;
    for (let at = n - 22; at >= Math.max(0, n - MAX_EOCD_SEARCH); at--) {
      if (this.view.getUint32(at, true) === EOCD) {
        eocd = at;
        break;
      }
    }
    if (eocd < 0) throw this.corrupt('no end-of-central-directory record (the file is truncated, or still being written)');
    let count = this.u16(eocd + 10);
    let dirOffset = this.u32(eocd + 16);
    // ZIP64: the classic fields saturate and a locator just before the end record points at the ZIP64 record.
    if (eocd >= 20 && this.u32(eocd - 20) === ZIP64_LOCATOR) {
      const z = this.u64(eocd - 20 + 8);
      if (this.u32(z) !== ZIP64_EOCD) throw this.corrupt(`the ZIP64 locator points at byte ${z}, which holds no ZIP64 end record`);
      count = this.u64(z + 32);
      dirOffset = this.u64(z + 48);
    }
    let at = dirOffset;
    for (let i = 0; i < count; i++) {
      if (this.u32(at) !== CENTRAL) throw this.corrupt(`central directory entry ${i} at byte ${at} has the wrong signature`);
      const method = this.u16(at + 10);
      let compressedSize = this.u32(at + 20);
      let size = this.u32(at + 24);
      const nameLength = this.u16(at + 28);
      const extraLength = this.u16(at + 30);
      const commentLength = this.u16(at + 32);
      let localHeaderOffset = this.u32(at + 42);
      const nameEnd = at + 46 + nameLength;
      if (nameEnd > n) throw this.corrupt(`entry ${i}'s name runs past the end of the file`);
      const name = new TextDecoder('utf-8').decode(this.bytes.subarray(at + 46, nameEnd));
      // ZIP64 extended information (header id 1): the saturated fields, in this order, only those that saturated.
      let x = nameEnd;
      const extraEnd = nameEnd + extraLength;
      while (x + 4 <= extraEnd) {
        const id = this.u16(x);
        const len = this.u16(x + 2);
        if (id === 1) {
          let f = x + 4;
          if (size === 0xffffffff) { size = this.u64(f); f += 8; }
          if (compressedSize === 0xffffffff) { compressedSize = this.u64(f); f += 8; }
          if (localHeaderOffset === 0xffffffff) { localHeaderOffset = this.u64(f); f += 8; }
        }
        x += 4 + len;
      }
      this.entries.set(name, { name, method, compressedSize, size, localHeaderOffset });
      at = extraEnd + commentLength;
    }
  }

  /** The bytes of one entry (a view for stored entries: no copy of a large storage). */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw this.corrupt(`it has no entry '${name}'`);
    const at = e.localHeaderOffset;
    if (this.u32(at) !== LOCAL) throw this.corrupt(`entry '${name}' points at byte ${at}, which holds no local file header`);
    const start = at + 30 + this.u16(at + 26) + this.u16(at + 28);
    const end = start + e.compressedSize;
    if (end > this.bytes.length) throw this.corrupt(`entry '${name}' ends at byte ${end}, past the end of the file (${this.bytes.length} bytes; truncated?)`);
    const raw = this.bytes.subarray(start, end);
    if (e.method === 0) return raw;
    if (e.method === 8) {
      if (e.size > MAX_INFLATED_BYTES) throw this.corrupt(`entry '${name}' claims ${e.size} bytes uncompressed`);
      try {
        const out = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
        if (out.length !== e.size) throw new Error(`inflated to ${out.length} bytes, the directory says ${e.size}`);
        return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      } catch (err) {
        throw this.corrupt(`entry '${name}' does not inflate: ${(err as Error).message}`);
      }
    }
    throw this.corrupt(`entry '${name}' uses compression method ${e.method}; only stored (0) and deflated (8) entries are read`);
  }
}

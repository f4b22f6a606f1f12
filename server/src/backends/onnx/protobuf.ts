// Protobuf wire format, read and written by hand: bounds-checked for hostile files, allocation-free on the hot paths.

import { UserError } from '../../errors';
import { HOST_LITTLE_ENDIAN } from '../../graph/tensorBytes';

/** The wire types of a field tag (the low three bits). Groups (3, 4) are obsolete but still skipped. */
export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_START_GROUP = 3;
export const WIRE_END_GROUP = 4;
export const WIRE_FIXED32 = 5;

const TWO_32 = 4294967296;

export { HOST_LITTLE_ENDIAN };

const utf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/**
 * Reads one message's fields from `buf[pos, end)`. Every length is checked against the bytes that remain before
 * anything is sliced or allocated, so a declared size of 2^40 fails with a 'corrupt-model' UserError at once.
 * Sub-messages are read through `sub()`, which returns a reader over a view of the same bytes (no copy).
 */
export class ProtoReader {
  pos: number;
  readonly end: number;
  /** Field number and wire type of the tag just read by `next()`. */
  field = 0;
  wire = 0;
  // The two halves of the last 64-bit varint, so callers can pick number or bigint without a second decode.
  private lo = 0;
  private hi = 0;
  private readonly view: DataView;

  constructor(
    readonly buf: Uint8Array,
    readonly file?: string,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** A 'corrupt-model' UserError naming the file and the byte offset, for the decoders above this one too. */
  corrupt(what: string): UserError {
    return new UserError('corrupt-model', `corrupt protobuf at byte ${this.pos}: ${what}`, { file: this.file });
  }

  /** Reads the next tag into `field`/`wire`; false at the end of the message. */
  next(): boolean {
    if (this.pos >= this.end) return false;
    const tag = this.uint32();
    this.field = tag >>> 3;
    this.wire = tag & 7;
    if (this.field === 0) throw this.corrupt('field number 0');
    return true;
  }

  /** Reads a varint of up to 10 bytes into lo/hi. */
  private varint64(): void {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    let lo = 0;
    let hi = 0;
    let b: number;
    // Bytes 0..3 fill bits 0..27 of lo.
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) throw this.truncated();
      b = buf[pos++];
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    // Byte 4 splits: 4 bits to lo, 3 bits to hi.
    if (pos >= end) throw this.truncated();
    b = buf[pos++];
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      for (let shift = 3; ; shift += 7) {
        if (shift > 31) throw this.corrupt('varint longer than 10 bytes');
        if (pos >= end) throw this.truncated();
        b = buf[pos++];
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  private truncated(): UserError {
    return this.corrupt('message ends in the middle of a value (truncated file?)');
  }

  /** A varint as uint32 (tags, lengths after their own range check, enum codes). */
  uint32(): number {
    // Fast path: one-byte varints are most tags and small lengths.
    if (this.pos < this.end && this.buf[this.pos] < 0x80) return this.buf[this.pos++];
    this.varint64();
    return this.lo;
  }

  /** A signed int32/int64 varint as a JS number (exact below 2^53; ONNX values beyond are INT64_MAX-like sentinels). */
  int64(): number {
    this.varint64();
    return (this.hi | 0) * TWO_32 + this.lo;
  }

  /** A varint as a two's-complement int32 (ONNX int32 fields: data types, enum values). */
  int32(): number {
    this.varint64();
    return this.lo | 0;
  }

  /** A signed 64-bit varint, exactly. */
  int64Big(): bigint {
    this.varint64();
    return BigInt.asIntN(64, (BigInt(this.hi) << 32n) | BigInt(this.lo));
  }

  /** An unsigned 64-bit varint, exactly. */
  uint64Big(): bigint {
    this.varint64();
    return (BigInt(this.hi) << 32n) | BigInt(this.lo);
  }

  private need(n: number): void {
    if (n > this.end - this.pos) throw this.truncated();
  }

  float(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  fixed32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** The length prefix of a length-delimited field, checked against the bytes left in this message. */
  length(): number {
    const at = this.pos;
    this.varint64();
    const remaining = this.end - this.pos;
    if (this.hi !== 0 || this.lo > remaining) {
      const declared = this.hi * TWO_32 + this.lo;
      this.pos = at;
      throw this.corrupt(`declared length ${declared} exceeds the ${remaining} bytes that remain`);
    }
    return this.lo;
  }

  /** A length-delimited field as a view into the input (no copy: callers that keep it must copy). */
  bytes(): Uint8Array {
    const n = this.length();
    const start = this.pos;
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  string(): string {
    const n = this.length();
    const start = this.pos;
    this.pos += n;
    return n === 0 ? '' : utf8.decode(this.buf.subarray(start, start + n));
  }

  /** A reader over the embedded message of a length-delimited field; this reader moves past it. */
  sub(): ProtoReader {
    const n = this.length();
    const r = new ProtoReader(this.buf, this.file, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  /** Checks the wire type of the current field, so a mis-typed field is reported instead of misread. */
  expect(wire: number, fieldName: string): void {
    if (this.wire !== wire) throw this.corrupt(`field ${fieldName} has wire type ${this.wire}, expected ${wire}`);
  }

  /** Skips the current field's value (unknown fields are legal protobuf and must be ignored). */
  skip(): void {
    switch (this.wire) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_FIXED64:
        this.need(8);
        this.pos += 8;
        return;
      case WIRE_LEN: {
        const n = this.length(); // read before pos: `pos += length()` would add to the stale pos
        this.pos += n;
        return;
      }
      case WIRE_FIXED32:
        this.need(4);
        this.pos += 4;
        return;
      case WIRE_START_GROUP: {
        // Iterative, so deeply nested groups in a hostile file cannot overflow the stack.
        let depth = 1;
        while (depth > 0) {
          if (!this.next()) throw this.corrupt('unterminated group');
          if (this.wire === WIRE_START_GROUP) depth++;
          else if (this.wire === WIRE_END_GROUP) depth--;
          else this.skip();
        }
        return;
      }
      default:
        throw this.corrupt(`invalid wire type ${this.wire}`);
    }
  }

  // Repeated numeric fields may arrive packed (one length-delimited run) or one value per tag; parsers must accept
  // both. These read whichever the current tag is and append to `out`.

  repeatedInt64(out: number[]): void {
    if (this.wire === WIRE_LEN) {
      const n = this.length();
      const end = this.pos + n;
      while (this.pos < end) {
        this.varint64();
        out.push((this.hi | 0) * TWO_32 + this.lo);
      }
      if (this.pos !== end) throw this.corrupt('packed varints overrun their field');
    } else {
      this.expect(WIRE_VARINT, 'repeated int');
      out.push(this.int64());
    }
  }

  repeatedFloat(out: number[]): void {
    if (this.wire === WIRE_LEN) {
      const n = this.length();
      if (n % 4 !== 0) throw this.corrupt('packed float32 field length is not a multiple of 4');
      for (const end = this.pos + n; this.pos < end; this.pos += 4) out.push(this.view.getFloat32(this.pos, true));
    } else {
      this.expect(WIRE_FIXED32, 'repeated float');
      out.push(this.float());
    }
  }

  repeatedDouble(out: number[]): void {
    if (this.wire === WIRE_LEN) {
      const n = this.length();
      if (n % 8 !== 0) throw this.corrupt('packed float64 field length is not a multiple of 8');
      for (const end = this.pos + n; this.pos < end; this.pos += 8) out.push(this.view.getFloat64(this.pos, true));
    } else {
      this.expect(WIRE_FIXED64, 'repeated double');
      out.push(this.double());
    }
  }

  /** Repeated int64 kept exact (int64_data of an int64 tensor may use all 64 bits). */
  repeatedInt64Big(out: bigint[]): void {
    if (this.wire === WIRE_LEN) {
      const n = this.length();
      const end = this.pos + n;
      while (this.pos < end) out.push(this.int64Big());
      if (this.pos !== end) throw this.corrupt('packed varints overrun their field');
    } else {
      this.expect(WIRE_VARINT, 'repeated int64');
      out.push(this.int64Big());
    }
  }
}

/** Bytes a varint of this unsigned value takes (0 ≤ n < 2^53). */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/**
 * A growable output buffer. Nested messages are written in place and their length prefix inserted afterwards with
 * one memmove (copyWithin), so tensor bytes are copied once into the buffer and moved at most once per nesting
 * level, never concatenated from parts.
 */
export class ProtoWriter {
  private buf: Uint8Array;
  private view: DataView;
  pos = 0;

  constructor(initialCapacity = 1 << 16) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Unsigned varint of 0 ≤ n < 2^53 (no tag). */
  rawVarint(n: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (n >= 128) {
      buf[pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    buf[pos++] = n;
    this.pos = pos;
  }

  /** A signed int64 varint from a JS number; values past int64's range (e.g. 2^63 read from INT64_MAX) clamp. */
  rawInt64(n: number): void {
    if (n >= 0 && n < 2 ** 53) {
      this.rawVarint(n);
      return;
    }
    let b = Number.isFinite(n) ? BigInt(Math.trunc(n)) : n > 0 ? INT64_MAX : INT64_MIN;
    if (b > INT64_MAX) b = INT64_MAX;
    if (b < INT64_MIN) b = INT64_MIN;
    this.rawBigVarint(BigInt.asUintN(64, b));
  }

  private rawBigVarint(u: bigint): void {
    this.ensure(10);
    while (u >= 128n) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  tag(field: number, wire: number): void {
    this.rawVarint(field * 8 + wire);
  }

  int64(field: number, n: number): void {
    this.tag(field, WIRE_VARINT);
    this.rawInt64(n);
  }

  float(field: number, v: number): void {
    this.tag(field, WIRE_FIXED32);
    this.ensure(4);
    this.view.setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  double(field: number, v: number): void {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.rawVarint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  string(field: number, s: string): void {
    this.tag(field, WIRE_LEN);
    // Encode straight into the buffer: a UTF-8 string takes at most 3 bytes per UTF-16 unit.
    const max = s.length * 3;
    const start = this.reserveLength(max);
    this.ensure(max);
    const { written } = utf8Encoder.encodeInto(s, this.buf.subarray(this.pos, this.pos + max));
    this.pos += written;
    this.finishLength(start);
  }

  /**
   * A typed array's elements written as the raw little-endian bytes of a `bytes` field (ONNX raw_data), or as a
   * packed repeated fixed-width field: one bulk copy on little-endian hosts.
   */
  typedArrayBytes(field: number, data: ArrayBufferView): void {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (HOST_LITTLE_ENDIAN || bytes.BYTES_PER_ELEMENT === (data as Uint8Array).BYTES_PER_ELEMENT) {
      this.bytes(field, bytes);
      return;
    }
    // Big-endian hosts: swap each element into the buffer.
    const width = (data as Uint8Array).BYTES_PER_ELEMENT;
    this.tag(field, WIRE_LEN);
    this.rawVarint(bytes.length);
    this.ensure(bytes.length);
    for (let i = 0; i < bytes.length; i += width)
      for (let k = 0; k < width; k++) this.buf[this.pos + i + k] = bytes[i + width - 1 - k];
    this.pos += bytes.length;
  }

  /** Packed repeated int64 varints. */
  packedInt64(field: number, values: readonly number[]): void {
    if (values.length === 0) return;
    this.tag(field, WIRE_LEN);
    const start = this.reserveLength(values.length);
    for (const v of values) this.rawInt64(v);
    this.finishLength(start);
  }

  /**
   * An embedded message: `body` writes its fields; the length prefix is inserted afterwards. `sizeHint` (about the
   * body's byte count) reserves the right prefix width up front, so a big message's body is never moved.
   */
  message(field: number, body: () => void, sizeHint = 0): void {
    this.tag(field, WIRE_LEN);
    const start = this.reserveLength(sizeHint);
    body();
    this.finishLength(start);
  }

  // Reserve the varint size the body will probably need (one byte for small messages), then move the body if the
  // real length needs more. Returns where the prefix starts.
  private reserveLength(expected: number): number {
    const start = this.pos;
    const k = varintSize(expected);
    this.ensure(k);
    this.pos += k;
    this.buf[start] = k; // remembered reservation size, overwritten by finishLength
    return start;
  }

  private finishLength(start: number): void {
    const reserved = this.buf[start];
    const bodyStart = start + reserved;
    const len = this.pos - bodyStart;
    const k = varintSize(len);
    if (k !== reserved) {
      this.ensure(k - reserved);
      this.buf.copyWithin(start + k, bodyStart, this.pos);
      this.pos += k - reserved;
    }
    // Write the varint at `start` in exactly k bytes.
    let n = len;
    let p = start;
    for (let i = 0; i < k - 1; i++) {
      this.buf[p++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[p] = n;
  }

  /** The bytes written so far (a view of the internal buffer, trimmed; the writer must not be used afterwards). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

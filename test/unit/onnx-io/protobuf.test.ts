// The protobuf wire layer: values survive a write/read round trip, and hostile lengths fail as UserErrors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtoReader, ProtoWriter, WIRE_FIXED32, WIRE_LEN, WIRE_VARINT, varintSize } from '../../../server/src/backends/onnx/protobuf';
import { UserError } from '../../../server/src/errors';

function readAll(bytes: Uint8Array): ProtoReader {
  return new ProtoReader(bytes, 'test.bin');
}

test('signed 64-bit integers survive a write and read, including negatives that take ten bytes', () => {
  const values = [0, 1, 127, 128, 300, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53 - 1, -1, -2, -(2 ** 31), -(2 ** 40)];
  const w = new ProtoWriter(4);
  for (const v of values) w.int64(3, v);
  const r = readAll(w.finish());
  for (const v of values) {
    assert.ok(r.next());
    assert.equal(r.field, 3);
    assert.equal(r.wire, WIRE_VARINT);
    assert.equal(r.int64(), v);
  }
  assert.equal(r.next(), false);
});

test('a value read from INT64_MAX is written back as INT64_MAX, not as an overflowing 2^63', () => {
  const w = new ProtoWriter();
  w.int64(1, 2 ** 63); // what reading 9223372036854775807 into a double gives
  w.int64(1, -(2 ** 63));
  const r = readAll(w.finish());
  r.next();
  assert.equal(r.int64Big(), 9223372036854775807n);
  r.next();
  assert.equal(r.int64Big(), -9223372036854775808n);
});

test('the varint encoder agrees with hand-computed protobuf bytes', () => {
  const w = new ProtoWriter();
  w.int64(1, 150); // the protobuf documentation's example: 08 96 01
  w.int64(2, -1); // 10 bytes of ff..01
  assert.deepEqual([...w.finish()], [0x08, 0x96, 0x01, 0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  assert.equal(varintSize(127), 1);
  assert.equal(varintSize(128), 2);
  assert.equal(varintSize(2 ** 35), 6);
});

test('nested messages whose length needs several bytes are length-prefixed correctly', () => {
  const w = new ProtoWriter(8);
  const payload = new Uint8Array(20000).map((_, i) => i & 0xff);
  w.message(7, () => {
    w.string(1, 'héllo');
    w.message(2, () => w.bytes(9, payload));
    w.float(3, 1.5);
  });
  const r = readAll(w.finish());
  assert.ok(r.next());
  assert.equal(r.field, 7);
  const m = r.sub();
  m.next();
  assert.equal(m.string(), 'héllo');
  m.next();
  const inner = m.sub();
  inner.next();
  assert.deepEqual(inner.bytes(), payload);
  m.next();
  assert.equal(m.wire, WIRE_FIXED32);
  assert.equal(m.float(), 1.5);
  assert.equal(r.next(), false);
});

test('repeated numbers are read whether packed or one value per tag', () => {
  const w = new ProtoWriter();
  w.packedInt64(8, [1, -2, 300]);
  w.int64(8, 4);
  w.typedArrayBytes(7, new Float32Array([0.5, -1]));
  w.float(7, 2);
  const r = readAll(w.finish());
  const ints: number[] = [];
  const floats: number[] = [];
  while (r.next()) (r.field === 8 ? r.repeatedInt64(ints) : r.repeatedFloat(floats));
  assert.deepEqual(ints, [1, -2, 300, 4]);
  assert.deepEqual(floats, [0.5, -1, 2]);
});

test('unknown fields of every wire type, groups included, are skipped', () => {
  const w = new ProtoWriter();
  w.int64(100, 5);
  w.double(101, 1);
  w.float(102, 1);
  w.bytes(103, new Uint8Array(3));
  w.tag(104, 3); // start group
  w.int64(1, 9);
  w.tag(104, 4); // end group
  w.string(1, 'kept');
  const r = readAll(w.finish());
  let seen = '';
  while (r.next()) {
    if (r.field === 1 && r.wire === WIRE_LEN) seen = r.string();
    else r.skip();
  }
  assert.equal(seen, 'kept');
});

test('a declared length of 2^40 fails as corrupt-model before anything is allocated', () => {
  const w = new ProtoWriter();
  w.tag(9, WIRE_LEN);
  w.rawVarint(2 ** 40);
  w.bytes(1, new Uint8Array(8));
  const r = readAll(w.finish());
  r.next();
  assert.throws(() => r.bytes(), (e: unknown) => e instanceof UserError && e.code === 'corrupt-model' && /2^40|1099511627776/.test(e.message) && e.location.file === 'test.bin');
});

test('a varint longer than ten bytes and a value cut off mid-way are both corrupt', () => {
  const tooLong = new Uint8Array(12).fill(0xff);
  assert.throws(() => readAll(tooLong).int64(), (e: unknown) => e instanceof UserError && e.code === 'corrupt-model');
  const cut = new Uint8Array([0x0d, 0x00, 0x00]); // fixed32 field with two of its four bytes
  const r = readAll(cut);
  r.next();
  assert.throws(() => r.float(), (e: unknown) => e instanceof UserError && /truncated/.test(e.message));
});

test('a large float32 array is written as one raw block, byte for byte', () => {
  // Its speed (memory speed: one copy) is a budget in `npm run bench`.
  const big = new Float32Array(4 * 1024 * 1024).map((_, i) => i * 0.5);
  const w = new ProtoWriter(16);
  w.message(5, () => w.typedArrayBytes(9, big));
  const bytes = w.finish();
  const r = readAll(bytes);
  r.next();
  const m = r.sub();
  m.next();
  const raw = m.bytes();
  const back = new Float32Array(raw.slice().buffer);
  assert.equal(back[123457], big[123457]);
  assert.equal(back.length, big.length);
  assert.deepEqual(new Uint8Array(raw), new Uint8Array(big.buffer), 'the raw block is the array\'s bytes');
  assert.equal(bytes.length - raw.length, 1 + 4 + 1 + 4, 'one tag and one length per level: nothing per element');
});

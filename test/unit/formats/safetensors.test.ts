// .safetensors checkpoints: a file laid out by hand in python reads back, ours round-trips, bad headers are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeSafetensors, encodeSafetensors, readSafetensors, writeSafetensors } from '../../../server/src/formats/safetensors';
import type { Tensor } from '../../../server/src/graph/ir';
import { UserError } from '../../../server/src/errors';
import { seeded } from '../../support/property';

const fixture = (name: string) => join(__dirname, '..', '..', 'fixtures', 'formats', name);

/** A safetensors file from a header object and data bytes, the way the format spec lays it out. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const corrupt = (pattern: RegExp) => (e: unknown) => e instanceof UserError && e.code === 'corrupt-weights' && pattern.test(e.message);

test('a checkpoint laid out by hand in python reads back with its dtypes, shapes, values and metadata', async () => {
  const { tensors, metadata } = await readSafetensors(fixture('weights.safetensors'));
  assert.deepEqual(metadata, { format: 'pt', source: 'onnx_io_fixtures.py' });
  const weight = tensors.get('weight')!;
  assert.deepEqual([weight.dtype, weight.dims, [...weight.data]], ['float32', [2, 3], [0, 0.25, 0.5, 0.75, 1, 1.25]]);
  const bias = tensors.get('bias')!;
  assert.deepEqual([bias.dtype, [...bias.data]], ['int64', [-1n, 0n, 2n ** 40n]]);
  // float16 bits of 1.0, -2.0 and 0.5.
  assert.deepEqual([...tensors.get('half')!.data], [0x3c00, 0xc000, 0x3800]);
  assert.deepEqual([tensors.get('mask')!.dtype, [...tensors.get('mask')!.data]], ['bool', [1, 0]]);
});

test('a checkpoint we write reads back unchanged, through a file written atomically', async () => {
  const tensors = new Map<string, Tensor>([
    ['a.weight', { dtype: 'float32', dims: [2, 2], data: new Float32Array([1, -2, 3.5, 1e-30]) }],
    ['a.bias', { dtype: 'float64', dims: [1], data: new Float64Array([Math.PI]) }],
    ['ids', { dtype: 'int32', dims: [3], data: new Int32Array([-1, 0, 7]) }],
    ['q', { dtype: 'int8', dims: [], data: new Int8Array([-5]) }],
    ['u', { dtype: 'uint8', dims: [0], data: new Uint8Array(0) }],
  ]);
  const dir = mkdtempSync(join(tmpdir(), 'i2f-st-'));
  try {
    const file = join(dir, 'ckpt.safetensors');
    await writeSafetensors(tensors, file, { step: '3' });
    const bytes = readFileSync(file);
    assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0, 'header padded to 8 bytes');
    const back = await readSafetensors(file);
    assert.deepEqual(back.tensors, tensors);
    assert.deepEqual(back.metadata, { step: '3' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('re-encoding the python-written checkpoint gives the same tensors', async () => {
  const first = await readSafetensors(fixture('weights.safetensors'));
  const again = decodeSafetensors(encodeSafetensors(first.tensors, first.metadata));
  assert.deepEqual(again, first);
});

test('a header length past the end of the file is refused', () => {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 40n, true);
  assert.throws(() => decodeSafetensors(bytes, 'x.safetensors'), (e: unknown) => corrupt(/1099511627776/)(e) && (e as UserError).location.file === 'x.safetensors');
});

test('offsets past the data, shapes that disagree with byte counts, and overlapping tensors are refused', () => {
  const data = new Uint8Array(16);
  assert.throws(() => decodeSafetensors(build({ w: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, data)), corrupt(/truncated/));
  assert.throws(() => decodeSafetensors(build({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, data)), corrupt(/12 bytes/));
  assert.throws(
    () => decodeSafetensors(build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, data)),
    corrupt(/overlap/),
  );
  assert.throws(() => decodeSafetensors(build({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, data)), corrupt(/shape/));
  assert.throws(() => decodeSafetensors(build('not an object')), corrupt(/not a JSON object/));
});

test('an unsupported dtype is named, with the ones that are supported', () => {
  assert.throws(
    () => decodeSafetensors(build({ w: { dtype: 'BF16', shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2))),
    (e: unknown) => e instanceof UserError && e.code === 'unsupported-dtype' && /BF16/.test(e.message) && /F32/.test(e.message),
  );
});

test('arbitrary bytes either decode or fail as UserErrors', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(300), (tail, headerLength) => {
      const bytes = new Uint8Array(8 + tail.length);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(headerLength), true);
      bytes.set(tail, 8);
      try {
        decodeSafetensors(bytes);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
      }
    }),
    seeded({ numRuns: 2000 }),
  );
});

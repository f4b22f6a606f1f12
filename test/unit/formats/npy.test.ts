// .npy files written by numpy itself read back with their values, and what we write is what numpy's format says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeNpy, readNpy, writeNpy } from '../../../server/src/formats/npy';
import { UserError } from '../../../server/src/errors';
import { seeded } from '../../support/property';

const fixture = (name: string) => join(__dirname, '..', '..', 'fixtures', 'formats', name);

test('a float32 batch saved by numpy reads back with its shape and values', async () => {
  const t = await readNpy(fixture('samples.npy'));
  assert.equal(t.dtype, 'float32');
  assert.deepEqual(t.dims, [2, 1, 4, 4]);
  assert.deepEqual([...t.data], Array.from({ length: 32 }, (_, i) => i / 32));
});

test('int64, bool and 0-d float64 arrays from numpy read back exactly', async () => {
  const ints = await readNpy(fixture('ints.npy'));
  assert.deepEqual([ints.dtype, ints.dims, [...ints.data]], ['int64', [2, 2], [-3n, 0n, 2n ** 40n, 7n]]);
  const flags = await readNpy(fixture('flags.npy'));
  assert.deepEqual([flags.dtype, flags.dims, [...flags.data]], ['bool', [3], [1, 0, 1]]);
  const scalar = await readNpy(fixture('scalar.npy'));
  assert.deepEqual([scalar.dtype, scalar.dims, [...scalar.data]], ['float64', [], [2.5]]);
});

test('format versions 2 and 3 headers are read', async () => {
  const v2 = await readNpy(fixture('v2.npy'));
  assert.deepEqual([v2.dtype, [...v2.data]], ['int32', [0, 1, 2, 3, 4]]);
  const v3 = await readNpy(fixture('v3.npy'));
  assert.deepEqual([v3.dtype, [...v3.data]], ['float64', [-0, -1.5, -3, -4.5]]);
});

test('a Fortran-ordered array is refused with advice to save a C-contiguous copy', async () => {
  await assert.rejects(readNpy(fixture('fortran.npy')), (e: unknown) => e instanceof UserError && e.code === 'unsupported-data' && /Fortran/.test(e.message) && /ascontiguousarray/.test(e.message));
});

test('what writeNpy produces is byte-for-byte what numpy wrote for the same array', async () => {
  const original = new Uint8Array(readFileSync(fixture('samples.npy')));
  assert.deepEqual(writeNpy(await readNpy(original)), original);
  const ints = new Uint8Array(readFileSync(fixture('ints.npy')));
  assert.deepEqual(writeNpy(decodeNpy(ints)), ints);
});

test('a truncated array, a shape larger than the data and a non-npy file are UserErrors naming the file', async () => {
  const bytes = new Uint8Array(readFileSync(fixture('samples.npy')));
  assert.throws(() => decodeNpy(bytes.subarray(0, bytes.length - 4), 'cut.npy'), (e: unknown) => e instanceof UserError && /truncated/.test(e.message) && e.location.file === 'cut.npy');
  const huge = new TextEncoder().encode("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }\n");
  const file = new Uint8Array(10 + huge.length);
  file.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, huge.length & 0xff, huge.length >> 8]);
  file.set(huge, 10);
  assert.throws(() => decodeNpy(file, 'huge.npy'), (e: unknown) => e instanceof UserError && e.code === 'corrupt-data');
  assert.throws(() => decodeNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), 'x.npy'), (e: unknown) => e instanceof UserError && /not a \.npy/.test(e.message));
});

test('arbitrary bytes after a valid signature decode or fail as UserErrors', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (tail) => {
      const bytes = new Uint8Array(8 + tail.length);
      bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      bytes.set(tail, 8);
      try {
        decodeNpy(bytes);
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
      }
    }),
    seeded({ numRuns: 2000 }),
  );
});

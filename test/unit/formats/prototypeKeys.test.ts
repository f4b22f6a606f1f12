// A dtype named after one of Object.prototype's members ('constructor', 'toString', '__proto__') is an unknown
// dtype to the .npy and safetensors readers, not a lookup that finds a function and fails later as a TypeError.

import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeNpy } from '../../../server/src/formats/npy';
import { decodeSafetensors } from '../../../server/src/formats/safetensors';
import { UserError } from '../../../server/src/errors';

const NAMES = ['constructor', 'toString', '__proto__', 'valueOf', 'hasOwnProperty'];

function npy(descr: string): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (2,), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = new Uint8Array(10 + header.length);
  head.set([0x93, ...Buffer.from('NUMPY'), 1, 0, header.length & 0xff, header.length >> 8]);
  head.set(Buffer.from(header, 'latin1'), 10);
  return Buffer.concat([head, Buffer.alloc(8)]);
}

function safetensors(dtype: string): Uint8Array {
  const json = Buffer.from(JSON.stringify({ w: { dtype, shape: [2], data_offsets: [0, 8] } }));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(8)]);
}

const unsupported = (e: unknown) => e instanceof UserError && e.code === 'unsupported-dtype';

test('npy: the control reads; a descr named after a prototype member is an unsupported dtype', () => {
  assert.equal(decodeNpy(npy('<f4'), 'x.npy').data.length, 2);
  for (const n of NAMES) assert.throws(() => decodeNpy(npy(n), 'x.npy'), unsupported, n);
});

test('safetensors: the control reads; a dtype named after a prototype member is an unsupported dtype', () => {
  assert.equal(decodeSafetensors(safetensors('F32'), 'x.safetensors').tensors.get('w')?.data.length, 2);
  for (const n of NAMES) assert.throws(() => decodeSafetensors(safetensors(n), 'x.safetensors'), unsupported, n);
});

// Mutated real checkpoints (torch.save zip and legacy files, a safetensors file, from tools/fixtures/
// checkpoint_fixtures.py): reading them, and decoding every tensor they hold, either succeeds or fails with a
// located UserError; never another exception, never a hang (each run is bounded by the test's timeout).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { decodeCheckpoint } from '../../../server/src/checkpoints/readCheckpoint';
import { UserError } from '../../../server/src/errors';
import { seeded } from '../../support/property';

const dir = join(__dirname, '..', '..', 'fixtures', 'checkpoints');
const FILES = ['state_dict.pt', 'state_dict_legacy.pt', 'lightning.ckpt', 'views.pt', 'dtypes.pt', 'model.safetensors'];
const originals = FILES.map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(dir, f))) }));

/** Start offset of the data.pkl payload in a zip (mutations there exercise the pickle machine, not the zip reader). */
function pickleRange(bytes: Uint8Array): [number, number] {
  const text = Buffer.from(bytes).toString('latin1');
  const at = text.indexOf('data.pkl');
  if (at < 0 || bytes[0] !== 0x50) return [0, bytes.length];
  const start = at + 'data.pkl'.length;
  // The local header's extra field pads to 64 bytes; the pickle starts at its PROTO opcode.
  const proto = bytes.indexOf(0x80, start);
  return [proto, Math.min(bytes.length, proto + 2000)];
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), value: fc.integer({ min: 0, max: 255 }), inPickle: fc.boolean() }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }), inPickle: fc.boolean() }),
);

function mutate(bytes: Uint8Array, ms: { kind: string; at: number; value?: number; bytes?: Uint8Array; inPickle?: boolean }[]): Uint8Array {
  let out = bytes.slice();
  for (const m of ms) {
    const [lo, hi] = m.inPickle ? pickleRange(out) : [0, out.length];
    const at = Math.min(out.length - 1, lo + Math.floor(m.at * (hi - lo)));
    if (m.kind === 'flip') out[at] = m.value!;
    else if (m.kind === 'truncate') out = out.slice(0, at);
    else out = new Uint8Array([...out.subarray(0, at), ...m.bytes!, ...out.subarray(at)]);
  }
  return out;
}

test('mutated checkpoints read, or fail with a located UserError, and never crash', { timeout: 120_000 }, () => {
  let failures = 0;
  let reads = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: originals.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (which, ms) => {
      const { name, bytes } = originals[which];
      const mutated = mutate(bytes, ms);
      try {
        const ckpt = decodeCheckpoint(mutated, name);
        for (const d of ckpt.stateDicts) for (const t of d.tensors.values()) t.load();
        reads++;
      } catch (e) {
        if (!(e instanceof UserError)) throw new Error(`${name} with ${JSON.stringify(ms)}: ${(e as Error).stack}`);
        assert.equal(e.location.file, name, 'the error names the file');
        assert.ok(e.message.length > 10);
        failures++;
      }
    }),
    seeded({ seed: 20261207, numRuns: 1500 }),
  );
  // Both outcomes happen: the mutations reach the decoders, and some harmless ones still read.
  assert.ok(failures > 100 && reads > 3, `failures ${failures}, reads ${reads}`);
});

// Hostile TensorFlow.js models: the real layers fixtures (float32, uint8-quantised, conv, zero-padded conv,
// functional ResNet) with their model.json corrupted (any field replaced, removed or given a wrong type; shapes,
// dtypes, shard paths and layer configs mutated) and their shards cut, padded or removed, opened by loadTfjsModel
// and taken on through shape inference: each either opens or fails as a UserError, never another exception.

import test from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, truncateSync, unlinkSync, appendFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadTfjsModel } from '../../../server/src/backends/tfjs/loadTfjs';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { UserError } from '../../../server/src/errors';
import { REPO } from '../../robustness/corpus';
import { seeded } from '../../support/property';

const FIXTURES = ['mlp', 'mlp_uint8', 'lenet5_pool', 'dlg_lenet', 'resnet8'];
const jsons = new Map(FIXTURES.map((f) => [f, JSON.parse(readFileSync(join(REPO, 'test/fixtures/tfjs', f, 'model.json'), 'utf8'))]));
const root = mkdtempSync(join(tmpdir(), 'i2f-tfjs-prop-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

/** Every path to a value inside a JSON document (arrays by index). */
function paths(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(v)) return [at, ...v.flatMap((x, i) => paths(x, [...at, i]))];
  if (v && typeof v === 'object') return [at, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, k]))];
  return [at];
}

const HOSTILE_VALUES: unknown[] = [null, 0, -1, 1.5, 1e12, NaN, '', 'x', '../../etc/passwd', '/etc/passwd', [], {}, [null], [-1, 2], [0], [1e9, 1e9], true, 'float16', 'uint16', 'int32', 'complex64', 'Conv2D', 'Dense', 'Functional', '__proto__', { class_name: 'Dense', config: {} }];

type JsonEdit = { kind: 'set' | 'delete'; path: number; value: number };
const shardEdit = fc.constantFrom('none', 'cut', 'pad', 'remove', 'empty');

async function opens(dir: string): Promise<string | undefined> {
  const file = join(dir, 'model.json');
  try {
    await loadTfjsModel(file, { maxBytes: 16 * 2 ** 20 });
    // Open the same way the analysis does: IR checks, static shapes for a batch of 1.
    (await OnnxModel.open(file, { maxBytes: 16 * 2 ** 20 })).specialise(1);
    return undefined;
  } catch (e) {
    if (e instanceof UserError && e.message.length > 0) return undefined;
    return String((e as Error)?.stack ?? e);
  }
}

test('tfjs model.json and shards, corrupted anywhere, either open or fail as a UserError', async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...FIXTURES),
      fc.array(fc.record({ kind: fc.constantFrom('set' as const, 'delete' as const), path: fc.nat(), value: fc.nat() }), { minLength: 1, maxLength: 3 }),
      shardEdit,
      fc.nat(),
      async (name, edits: JsonEdit[], shard, cut) => {
        const dir = join(root, String(run++));
        cpSync(join(REPO, 'test/fixtures/tfjs', name), dir, { recursive: true });
        const json = structuredClone(jsons.get(name));
        for (const e of edits) {
          const all = paths(json).filter((p) => p.length > 0);
          const p = all[e.path % all.length];
          let parent = json;
          for (const k of p.slice(0, -1)) parent = parent[k];
          const last = p.at(-1)!;
          if (e.kind === 'delete') {
            if (Array.isArray(parent)) parent.splice(Number(last), 1);
            else delete parent[last];
          } else parent[last] = structuredClone(HOSTILE_VALUES[e.value % HOSTILE_VALUES.length]);
        }
        writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
        const bin = readdirSync(dir).find((f) => f.endsWith('.bin'))!;
        const shardFile = join(dir, bin);
        const size = readFileSync(shardFile).length;
        if (shard === 'cut') truncateSync(shardFile, cut % size);
        else if (shard === 'pad') appendFileSync(shardFile, Buffer.alloc(1 + (cut % 64)));
        else if (shard === 'remove') unlinkSync(shardFile);
        else if (shard === 'empty') truncateSync(shardFile, 0);
        const failure = await opens(dir);
        rmSync(dir, { recursive: true, force: true });
        assert.equal(failure, undefined, `${name} after ${JSON.stringify(edits)}, shard ${shard}:\n${failure}`);
      },
    ),
    seeded({ seed: 9, numRuns: 200 }),
  );
});

test('a shard that is a link out of the folder or a FIFO is refused (a FIFO or /dev/zero used to be read for ever); a link inside opens', async () => {
  const SHARD = 'group1-shard1of1.bin';
  const cases: [string, (dir: string) => void, RegExp | null][] = [
    // (A link to /dev/zero is refused by the same check; it is not tried here because, unprotected, it fills memory.)
    ['a link to /etc/passwd', (d) => symlinkSync('/etc/passwd', join(d, SHARD)), /leads outside the model's folder/],
    ['a FIFO', (d) => execFileSync('mkfifo', [join(d, SHARD)]), /is not a regular file/],
    ['a link to a file beside it', (d) => { writeFileSync(join(d, 'real.bin'), readFileSync(join(REPO, 'test/fixtures/tfjs/mlp', SHARD))); symlinkSync('real.bin', join(d, SHARD)); }, null],
  ];
  for (const [what, make, refused] of cases) {
    const dir = join(root, `link-${what.replace(/\W+/g, '-')}`);
    cpSync(join(REPO, 'test/fixtures/tfjs/mlp'), dir, { recursive: true });
    renameSync(join(dir, SHARD), join(dir, 'original.bin'));
    make(dir);
    const outcome = await Promise.race([
      loadTfjsModel(join(dir, 'model.json')).then(() => 'opened', (e: unknown) => e),
      new Promise((r) => setTimeout(() => r('still reading after 10 s'), 10_000).unref()),
    ]);
    if (refused) assert.ok(outcome instanceof UserError && refused.test(outcome.message), `${what}: ${String(outcome)}`);
    else assert.equal(outcome, 'opened', what);
  }
});

// Which checkpoints a config's training writes, and when a write counts as complete (looks taken by hand here, so
// no timing decides anything): size stable across two looks, a zip's end record present, a Trainer folder's weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointTracker, looksComplete, stepOf, watchTargets } from '../../../server/src/workspace/checkpointWatch';

const fixtures = join(__dirname, '..', '..', 'fixtures', 'checkpoints');

test('the step of a checkpoint comes from its name', () => {
  assert.equal(stepOf('checkpoint-500'), 500);
  assert.equal(stepOf('lenet-round-40.safetensors'), 40);
  assert.equal(stepOf('epoch=3-step=120.ckpt'), 120);
  assert.equal(stepOf('model_v2.pt'), 2);
  assert.equal(stepOf('last.ckpt'), undefined);
});

test('a numbered checkpoint watches its siblings of the same shape, an output folder everything in it', () => {
  const t = watchTargets({ weights: '/w/runs/lenet-round-40.safetensors', outputDirs: ['/w/out'] });
  assert.deepEqual(t.folders, ['/w/out', '/w/runs']);
  const shape = t.patterns.get('/w/runs')!;
  assert.ok(shape.test('lenet-round-41.safetensors') && !shape.test('other-41.safetensors') && !shape.test('lenet-round-41.pt'));
  assert.equal(t.patterns.has('/w/out'), false);
});

test('a zip checkpoint is complete only with its end record; a safetensors file only with all its data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-watch-'));
  try {
    for (const name of ['state_dict.pt', 'model.safetensors']) {
      const bytes = readFileSync(join(fixtures, name));
      const part = join(dir, name);
      writeFileSync(part, bytes.subarray(0, bytes.length - 30));
      assert.equal(looksComplete(part, bytes.length - 30), false, `${name} without its last bytes`);
      writeFileSync(part, bytes);
      assert.equal(looksComplete(part, bytes.length), true, name);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a legacy checkpoint written in pieces is announced once, after its size held across two looks', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-watch-'));
  try {
    const out = join(dir, 'out');
    mkdirSync(out);
    const targets = watchTargets({ outputDirs: [out] });
    const tracker = new CheckpointTracker();
    const bytes = readFileSync(join(fixtures, 'state_dict_legacy.pt'));
    const file = join(out, 'round-3.pt');
    const thirds = [0, Math.floor(bytes.length / 3), Math.floor((2 * bytes.length) / 3), bytes.length];
    writeFileSync(file, bytes.subarray(0, thirds[1]));
    assert.deepEqual(await tracker.look(targets, dir), [], 'first sight: not yet stable');
    assert.ok(tracker.waiting.has(file));
    appendFileSync(file, bytes.subarray(thirds[1], thirds[2]));
    assert.deepEqual(await tracker.look(targets, dir), [], 'grew since the last look');
    appendFileSync(file, bytes.subarray(thirds[2]));
    assert.deepEqual(await tracker.look(targets, dir), [], 'grew again');
    const fresh = await tracker.look(targets, dir);
    assert.deepEqual(fresh.map((c) => [c.name, c.step, c.kind]), [[join('out', 'round-3.pt'), 3, 'file']]);
    assert.equal(tracker.waiting.has(file), false);
    assert.deepEqual(await tracker.look(targets, dir), [], 'announced once');
    assert.equal(tracker.latest()?.path, file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a Trainer's checkpoint-N folder counts once its weights are complete, and the highest step is the latest", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-watch-'));
  try {
    const out = join(dir, 'out');
    mkdirSync(join(out, 'checkpoint-500'), { recursive: true });
    cpSync(join(fixtures, 'run', 'checkpoint-500'), join(out, 'checkpoint-500'), { recursive: true });
    const targets = watchTargets({ outputDirs: [out] });
    const tracker = new CheckpointTracker();
    await tracker.look(targets, dir);
    assert.deepEqual((await tracker.look(targets, dir)).map((c) => c.name), [join('out', 'checkpoint-500')]);
    // The next step's folder appears with its config first and its weights half written.
    mkdirSync(join(out, 'checkpoint-1000'));
    writeFileSync(join(out, 'checkpoint-1000', 'config.json'), '{}');
    const weights = readFileSync(join(fixtures, 'state_dict.pt'));
    writeFileSync(join(out, 'checkpoint-1000', 'pytorch_model.bin'), weights.subarray(0, 1000));
    assert.deepEqual(await tracker.look(targets, dir), []);
    assert.deepEqual(await tracker.look(targets, dir), [], 'no end record: still being written');
    assert.equal(tracker.latest()?.step, 500);
    writeFileSync(join(out, 'checkpoint-1000', 'pytorch_model.bin'), weights);
    await tracker.look(targets, dir);
    assert.deepEqual((await tracker.look(targets, dir)).map((c) => c.step), [1000]);
    assert.equal(tracker.latest()?.step, 1000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

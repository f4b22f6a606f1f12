// Files that never end: a FIFO nobody writes to (and, the same way, a link to /dev/zero) given as a vocabulary, as
// text samples or as a tfjs model.json to summarise. Each is refused at once as a UserError instead of blocking a
// thread (or filling memory) for ever. (.onnx, .npy, images and safetensors are in the bad-input corpus.)

import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTokenSession, readVocab } from '../../server/src/analysis/tokens';
import { summariseModel } from '../../server/src/analysis/modelSummary';
import { OnnxModel } from '../../server/src/backends/onnx/onnxModel';
import { UserError } from '../../server/src/errors';
import { REPO } from './corpus';

const dir = mkdtempSync(join(tmpdir(), 'i2f-endless-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function fifo(name: string): string {
  const p = join(dir, name);
  execFileSync('mkfifo', [p]);
  return p;
}

/** Settles within 10 s, or says it is still reading. */
function settle<T>(p: Promise<T>): Promise<unknown> {
  return Promise.race([p.then((v) => v, (e: unknown) => e), new Promise((r) => setTimeout(() => r('still reading after 10 s'), 10_000).unref())]);
}

const refused = (outcome: unknown, what: RegExp) => outcome instanceof UserError && what.test(outcome.message);

test('a FIFO as the vocabulary is refused, not read', async () => {
  const outcome = await settle(readVocab(fifo('vocab.txt')));
  assert.ok(refused(outcome, /vocabulary file is not a regular file/), String(outcome));
});

test('a FIFO as the text samples of a token model is refused, not read', async () => {
  const ws = join(dir, 'text');
  cpSync(join(REPO, 'examples/text'), ws, { recursive: true });
  const model = await OnnxModel.open(join(ws, 'tiny_text.onnx'));
  const outcome = await settle(openTokenSession(model, fifo('samples.txt'), 1, 0));
  assert.ok(refused(outcome, /text samples file is not a regular file/), String(outcome));
});

test('a FIFO named model.json is refused by the model summary, not read', async () => {
  const outcome = await settle(summariseModel(fifo('model.json')));
  assert.ok(refused(outcome, /not a regular file/), String(outcome));
});

// What the result cache's key depends on for a model that reads files beside it (ONNX external data, a TensorFlow.js
// model.json's weight shards): the files it names, not everything in its folder. A training log appended beside the
// model, checkpoints being written there, another model or a temp file changed the key, so the next run (or the
// editor's next refresh) missed the cache and analysed again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analysisKey, ContentHasher } from '../../../server/src/analysis/cache';
import { analysisKnobs, DEFAULT_SETTINGS } from '../../../server/src/analysis/settings';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';
import { linkConfig } from '../../../server/src/workspace/discover';
import { decodeModel, encodeModel, type ExternalDataRef } from '../../../server/src/backends/onnx/onnxProto';

const REPO = join(__dirname, '..', '..', '..');
const CONFIG = 'training:\n  batch_size: 1\nprivacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\ni2f:\n  model: MODEL\n';

/** A fresh hasher each time: as a new process (the next audit, the editor after a restart) computes it. */
async function keyOf(dir: string, model: string): Promise<string> {
  const file = join(dir, 'train.yaml');
  writeFileSync(file, CONFIG.replace('MODEL', model));
  const setup = readTrainingConfig(file, readFileSync(file, 'utf8')) as TrainingSetup;
  return analysisKey(linkConfig(file, setup), analysisKnobs(DEFAULT_SETTINGS), new ContentHasher());
}

test('ONNX external data: the key follows the weights file the model names, not the other files of its folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-key-external-'));
  // The examples' MLP with its large initialisers in weights.bin, as torch.onnx.export writes a big model.
  const model = decodeModel(readFileSync(join(REPO, 'examples/models/mlp.onnx')), { file: 'mlp.onnx' });
  const chunks: Buffer[] = [];
  let offset = 0;
  const bytes = encodeModel(model, (_, t): ExternalDataRef | undefined => {
    if (t.data.byteLength < 4096) return undefined;
    const ref = { location: 'weights.bin', offset, length: t.data.byteLength };
    chunks.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    offset += t.data.byteLength;
    return ref;
  });
  writeFileSync(join(dir, 'model.onnx'), bytes);
  writeFileSync(join(dir, 'weights.bin'), Buffer.concat(chunks));
  const hasher = new ContentHasher();
  await hasher.hash(join(dir, 'model.onnx'));
  assert.deepEqual(await hasher.externalLocations(join(dir, 'model.onnx')), ['weights.bin']);

  const before = await keyOf(dir, 'model.onnx');
  writeFileSync(join(dir, 'train.log'), 'epoch 1\n');
  writeFileSync(join(dir, 'model.onnx.1234.tmp'), 'a write under way');
  assert.equal(await keyOf(dir, 'model.onnx'), before, 'files the model does not name leave its key alone');
  appendFileSync(join(dir, 'weights.bin'), Buffer.alloc(4));
  assert.notEqual(await keyOf(dir, 'model.onnx'), before, 'a changed weights file changes it');
});

test('TensorFlow.js: the key follows the weight shards model.json names, not the other files of its folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-key-tfjs-'));
  cpSync(join(REPO, 'test/fixtures/tfjs/graph_mlp'), dir, { recursive: true });
  const before = await keyOf(dir, 'model.json');
  writeFileSync(join(dir, 'notes.txt'), 'trained on 2026-12-07\n');
  assert.equal(await keyOf(dir, 'model.json'), before, 'files model.json does not name leave its key alone');
  appendFileSync(join(dir, 'group1-shard1of1.bin'), Buffer.alloc(4));
  assert.notEqual(await keyOf(dir, 'model.json'), before, 'a changed shard changes it');
});

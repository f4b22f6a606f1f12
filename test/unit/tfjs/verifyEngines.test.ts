// verifyEngines (what "I²F: Verify engines" runs in a worker): both engines per batch, on image, tfjs and token-id
// models; the latter in embedding space, as the analysis runs them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { verifyEngines } from '../../../server/src/analysis/verifyEngines';
import { tfjsRoot } from './helpers';

const REPO = join(__dirname, '../../..');

test('a token-id model is verified in embedding space, a tfjs model on its IR: both engines agree per batch', async (t) => {
  const text = await verifyEngines({ model: join(REPO, 'examples/text/tiny_text.onnx'), data: join(REPO, 'examples/text/samples_ids.npy'), batch: 1, seed: 1, loss: 'cross-entropy' });
  assert.deepEqual(text.batches.map((b) => b.samples), [[0], [1]], 'one batch per sample of the two in samples_ids.npy');
  assert.deepEqual(text.model.inputShape.slice(-1), [16], 'embedding-space input [batch, tokens, dim]');
  const uint8 = await verifyEngines({ model: join(tfjsRoot, 'graph_mlp_uint8', 'model.json'), batch: 3, seed: 2, loss: 'cross-entropy' });
  assert.equal(uint8.model.format, 'tfjs');
  for (const r of [text, uint8]) {
    assert.ok(r.agree && r.max < 1e-5, JSON.stringify(r.batches.map((b) => [b.g, b.Ju, b.JTv])));
    for (const b of r.batches) assert.equal(b.max, Math.max(b.g, b.Ju, b.JTv));
  }
  t.diagnostic(`text max ${text.max.toExponential(2)}, graph_mlp_uint8 max ${uint8.max.toExponential(2)} (${uint8.batches[0].tfjsBackend})`);
});

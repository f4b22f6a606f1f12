// "Confirm with a real attack" over real LSP: the attack runs in a worker on the config's sample, reports its error
// beside the I²F prediction, and writes what it rebuilt.

import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startServer } from './lspClient';
import type { ConfirmAttackResult } from '../../server/src/protocol';

test('the attack the I²F predicts runs for a config and lands near the prediction', { timeout: 180_000 }, async () => {
  const s = await startServer();
  try {
    const uri = s.open('flower/pyproject.toml');
    const r = (await s.connection.sendRequest('i2f/confirmAttack', { uri })) as ConfirmAttackResult;
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.report.results.length, 1);
    const b = r.report.results[0];
    assert.ok(b.steps > 0 && b.rmse > 0 && b.predictedRmse > 0);
    assert.ok(b.loss < b.initialLoss, 'the gradient-matching loss fell');
    assert.ok(b.files && b.files.length > 0 && b.files.every((f) => existsSync(f)), 'recovered inputs written');
    assert.ok(b.files!.some((f) => f.includes('recovered')));
  } finally {
    await s.close();
  }
});

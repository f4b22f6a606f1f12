// The checkpoint history: entries in training order, one per checkpoint and result, persisted in the cache folder
// (a new store, as after a server restart, reads what the last one wrote).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointHistoryStore } from '../../../server/src/analysis/checkpointHistory';
import type { CheckpointHistoryEntry } from '../../../server/src/webviewProtocol';

const entry = (step: number, key: string, signature?: string): CheckpointHistoryEntry => ({
  checkpoint: `out/round-${step}.pt`, path: `/w/out/round-${step}.pt`, step, psnr: 10 + step, lowerBound: 0.1, lowerBoundPsnr: 30,
  risk: 'medium', analysedAt: new Date(2026, 11, 7, 0, step).toISOString(), key, ...(signature ? { signature } : {}),
});

test('entries are kept once per checkpoint and result, in step order, and persist across stores', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-history-'));
  try {
    const a = new CheckpointHistoryStore(dir);
    assert.equal(await a.record('/w/train.yaml', entry(20, 'k20', 's20')), true);
    assert.equal(await a.record('/w/train.yaml', entry(10, 'k10', 's10')), true);
    assert.equal(await a.record('/w/train.yaml', entry(10, 'k10', 's10')), false, 'the same result again');
    // The same write analysed under other settings replaces its entry.
    assert.equal(await a.record('/w/train.yaml', { ...entry(10, 'k10b', 's10'), psnr: 5 }), true);
    assert.deepEqual((await a.get('/w/train.yaml')).entries.map((e) => [e.step, e.key, e.psnr]), [[10, 'k10b', 5], [20, 'k20', 30]]);
    assert.deepEqual((await a.get('/w/other.yaml')).entries, []);
    assert.equal(readdirSync(join(dir, 'checkpoint-history')).filter((f) => f.endsWith('.tmp')).length, 0, 'no temp file left');
    const b = new CheckpointHistoryStore(dir);
    assert.deepEqual((await b.get('/w/train.yaml')).entries.map((e) => e.step), [10, 20]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

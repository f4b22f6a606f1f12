// The result cache's write path: a result is in memory at once (a racing refresh must not queue its analysis again)
// and on disk once flush() resolves, so a process that shows a result and then exits (the editor closing, a test or
// the first-finding bench closing its server) leaves it for the next start.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResultCache } from '../../../server/src/analysis/cache';
import type { CachedAnalysis } from '../../../server/src/analysis/noiseRescale';

/** The smallest entry get() accepts back from disk: one batch with a risk, a solver and samples. */
function entry(key: string): CachedAnalysis {
  return {
    key,
    createdAt: '2026-12-07T00:00:00.000Z',
    ms: 1,
    report: { results: [{ risk: 'low', solver: { method: 'cg' }, samples: [] }] },
    modelOps: ['Gemm'],
    batches: [{ std: 0.5, noise: { influenceDeterministic: new Float64Array([1, 2, 3]), influenceNoise: null, perSampleNoiseTrace: null } }],
    noise: {},
  } as unknown as CachedAnalysis;
}

test('flush() waits for the disk writes of every put() begun before it; another process then reads the entry', async () => {
  const storage = mkdtempSync(join(tmpdir(), 'i2f-result-cache-'));
  const cache = new ResultCache(storage);
  const keys = ['a'.repeat(40), 'b'.repeat(40)];
  // Not awaited: as the language server's onDone does (void cache.put(entry).then(deliver)).
  for (const k of keys) void cache.put(entry(k));
  for (const k of keys) assert.ok(cache.has(k), 'in memory at once');
  await cache.flush();
  for (const k of keys) assert.ok(existsSync(join(storage, 'results', `${k}.json`)), `${k} is on disk once flush() resolved`);
  assert.deepEqual(readdirSync(join(storage, 'results')).filter((n) => n.endsWith('.tmp')), [], 'no temp file left');

  const next = new ResultCache(storage); // the next start: nothing in memory
  const back = await next.get(keys[0]);
  assert.ok(back, 'read back from disk');
  assert.deepEqual([...back.batches[0].noise.influenceDeterministic!], [1, 2, 3]);
  await cache.flush(); // nothing pending: resolves
  assert.equal(await cache.clear(), 2);
});

test('a result is handed out from memory only once its write is on disk (a refresh racing the write)', async () => {
  const storage = mkdtempSync(join(tmpdir(), 'i2f-result-cache-'));
  const cache = new ResultCache(storage);
  const key = 'c'.repeat(40);
  void cache.put(entry(key));
  const got = await cache.get(key);
  assert.equal(got?.key, key, 'the memory hit, not a miss that would queue the analysis again');
  assert.ok(existsSync(join(storage, 'results', `${key}.json`)), 'on disk before it is handed out');
});


// The spectrum requests with hostile numbers, over real LSP (any client may send them, not only our page): each is
// answered at once with { ok: false } and a message naming the bad value, no worker job is started for it, and a
// good request afterwards still works.

import test from 'node:test';
import assert from 'node:assert/strict';
import { leakageOf, startServer, stats } from '../protocol/lspClient';
import { addDpConfig } from '../protocol/fixtures';
import type { SpectrumDataResult, SpectrumNoiseResult } from '../../server/src/protocol';

test('spectrum requests with a hostile k, sample, damping or std are refused before any work; a good one still answers', { timeout: 180_000 }, async () => {
  const s = await startServer({ prepare: addDpConfig });
  try {
    const uri = s.open('dp/train.yaml');
    await s.waitForDiagnostics(uri, (d) => !!leakageOf(d));
    const before = await stats(s);
    const workersBefore = before.workers.map((w) => w.pid);
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ uri, k: 1e9 }, /k must be a whole number from 1 to 64, not 1000000000/],
      [{ uri, k: 0 }, /k must be/],
      [{ uri, k: 2.5 }, /k must be/],
      [{ uri, sample: -1 }, /sample must be/],
      [{ uri, sample: 'all' }, /sample must be/],
      [{ uri, damping: -1 }, /damping must be/],
      [{ uri, std: null }, /noise std must be/],
      [{ uri, std: -0.5 }, /noise std must be/],
      [{ k: 4 }, /names no training config/],
    ];
    for (const [params, message] of bad) {
      const r = (await s.connection.sendRequest('i2f/spectrumData', params)) as SpectrumDataResult;
      assert.equal(r.ok, false, JSON.stringify(params));
      if (!r.ok) assert.match(r.message, message, JSON.stringify(params));
    }
    for (const params of [{ key: 'k', std: -1 }, { key: 'k', std: null }, { std: 1 }, { key: 'k', std: '1' }]) {
      const r = (await s.connection.sendRequest('i2f/spectrumNoise', params)) as SpectrumNoiseResult;
      assert.equal(r.ok, false, JSON.stringify(params));
      if (!r.ok) assert.match(r.message, /^Bad noise request: /, JSON.stringify(params));
    }
    const after = await stats(s);
    assert.equal(after.jobsQueued, before.jobsQueued, 'no analysis queued for a refused request');
    assert.ok(after.workers.every((w) => !w.busy && workersBefore.includes(w.pid)), 'no worker started or busy for them');
    const good = (await s.connection.sendRequest('i2f/spectrumData', { uri, k: 2 })) as SpectrumDataResult;
    assert.ok(good.ok, good.ok ? '' : good.message);
    if (good.ok) assert.equal(good.data.spectrum.top.length, 2);
  } finally {
    await s.close();
  }
});

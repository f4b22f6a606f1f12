// Both directions of the webview messages, hostile: the real pages in headless Chromium get malformed host messages
// (missing or wrong-typed payloads, unknown types, non-objects) and ignore them without a page error, still
// answering the next good message; and whatever the pages post is checked by the extension's own validator
// (harness.ts runs client/src/webview/pageMessages.ts on every posted message, so a real message it would drop
// fails every webview test).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { spectrumView, type SpectrumState } from '../../server/src/analysis/spectrumData';
import type { ModelSummary } from '../../server/src/webviewProtocol';
import { openPage, ROOT, startServer } from './harness';
import { chromium, needing } from '../support/requirements';

const data = (name: string) => JSON.parse(readFileSync(join(__dirname, 'data', `${name}.json`), 'utf8'));
const { after, before, describe, it } = needing(chromium);

const GARBAGE: unknown[] = [
  null, 7, 'spectrum', [], {}, { type: 5 }, { type: 'nonsense' }, { type: '__proto__' },
  { type: 'spectrum' }, { type: 'spectrum', data: null }, { type: 'spectrum', data: 5 }, { type: 'spectrum', data: {} },
  { type: 'spectrum', data: { settings: null, spectrum: 'x' } },
  { type: 'noise' }, { type: 'noise', key: 'k', noise: null }, { type: 'busy' }, { type: 'busy', text: { toString: 1 } }, { type: 'error', message: null },
  { type: 'done', text: 42 }, { type: 'attackProgress' }, { type: 'attackProgress', stage: null, fraction: 'half' },
  { type: 'attack' }, { type: 'attack', data: null }, { type: 'attack', data: { samples: 'x' } }, { type: 'attackStopped', message: null, cancelled: 'no' },
  { type: 'history' }, { type: 'history', data: null }, { type: 'history', data: { config: 'c', entries: 'x' } },
  { type: 'history', data: { config: 'c', entries: [{ checkpoint: 'a.pt', risk: 'low', analysedAt: 't', psnr: 'high', lowerBoundPsnr: null }] } },
  { type: 'summary' }, { type: 'summary', summary: null, results: null }, { type: 'summary', summary: { ops: 'x' }, results: [null] },
];

describe('webview pages under malformed host messages', () => {
  let server: Server;
  let origin: string;
  before(async () => {
    execFileSync(process.execPath, ['tools/build-media.mjs'], { cwd: ROOT, stdio: 'inherit' });
    ({ server, origin } = await startServer());
  });
  after(() => server?.close());

  it('the spectrum page ignores every malformed message and still renders the next good one', async () => {
    const state = data('mlp-state') as SpectrumState;
    const o = await openPage(origin, 'spectrum', 'dark', () => undefined);
    try {
      await o.waitForPosted('ready');
      for (const m of GARBAGE) await o.send(m);
      await o.send({ type: 'spectrum', data: spectrumView(state) });
      await o.page.waitForSelector('svg[data-chart="eigenvalues"] circle.mark');
      for (const m of GARBAGE) await o.send(m); // and after a good view: it stays
      await o.send({ type: 'error', message: 'still listening' });
      await o.page.waitForFunction(`document.getElementById('status').textContent.includes('still listening')`);
      assert.equal(await o.page.locator('svg[data-chart="eigenvalues"] circle.mark').count(), state.view.spectrum.top.length + state.view.spectrum.bottom.length);
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('the model report page ignores every malformed message and still renders the next good one', async () => {
    const summary = data('mlp-summary') as ModelSummary;
    const o = await openPage(origin, 'report', 'light', () => undefined);
    try {
      await o.waitForPosted('ready');
      for (const m of GARBAGE) await o.send(m);
      await o.send({ type: 'summary', summary, results: [] });
      await o.page.waitForSelector('svg[data-chart="ops"] rect.mark');
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });
});

// The spectrum page's checkpoint history in headless Chromium, fed a history recorded from real analyses of the
// fixture CNN at four rounds' weights (test/webview/record.ts, test/fixtures/checkpoints/rounds/): one point per
// checkpoint for the predicted PSNR and for the ceiling its lower bound sets, in training order; a malformed history
// message is dropped. Screenshot: test-results/webview/checkpoint-history.png.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { spectrumView, type SpectrumState } from '../../server/src/analysis/spectrumData';
import type { CheckpointHistoryView } from '../../server/src/webviewProtocol';
import { openPage, ROOT, SHOTS, startServer, type Extension } from './harness';
import { chromium, needing } from '../support/requirements';

const state = JSON.parse(readFileSync(join(__dirname, 'data', 'mlp-state.json'), 'utf8')) as SpectrumState;
const history = JSON.parse(readFileSync(join(__dirname, 'data', 'checkpoint-history.json'), 'utf8')) as CheckpointHistoryView;
const { after, before, describe, it } = needing(chromium);

/** As SpectrumPanel does: the spectrum on 'ready'; the history follows it (sent by the test below). */
const extension: Extension = (m) => (m.type === 'ready' ? { type: 'spectrum', data: spectrumView(state) } : undefined);

describe('checkpoint history on the spectrum page', () => {
  let server: Server;
  let origin: string;
  before(async () => {
    execFileSync(process.execPath, ['tools/build-media.mjs'], { cwd: ROOT, stdio: 'inherit' });
    ({ server, origin } = await startServer());
    mkdirSync(SHOTS, { recursive: true });
  });
  after(() => server?.close());

  it('plots predicted PSNR and its lower-bound ceiling per checkpoint', async () => {
    const o = await openPage(origin, 'spectrum', 'dark', extension);
    try {
      await o.page.waitForSelector('svg[data-chart="eigenvalues"] circle.mark');
      assert.equal(await o.page.locator('#history').isHidden(), true, 'no history yet: no section');
      await o.send({ type: 'history', data: history });
      await o.page.waitForSelector('svg[data-chart="history"] circle.mark');
      const read = async (series: string) => Promise.all((await o.page.locator(`svg[data-chart="history"] circle.mark[data-series="${series}"]`).all()).map(async (c) => Number(await c.getAttribute('data-value'))));
      const psnr = await read('predicted PSNR');
      const ceiling = await read('ceiling from the lower bound');
      assert.deepEqual(psnr, history.entries.map((e) => e.psnr));
      assert.deepEqual(ceiling, history.entries.map((e) => e.lowerBoundPsnr));
      // Points go left to right in training order, and higher PSNR is drawn higher.
      const xs = await Promise.all((await o.page.locator('svg[data-chart="history"] circle.mark[data-series="predicted PSNR"]').all()).map(async (c) => Number(await c.getAttribute('cx'))));
      assert.deepEqual(xs, [...xs].sort((a, b) => a - b));
      const ys = await Promise.all((await o.page.locator('svg[data-chart="history"] circle.mark[data-series="predicted PSNR"]').all()).map(async (c) => Number(await c.getAttribute('cy'))));
      const hi = psnr.indexOf(Math.max(...psnr));
      const lo = psnr.indexOf(Math.min(...psnr));
      assert.ok(ys[hi] < ys[lo], 'the highest PSNR is the highest point');
      assert.deepEqual(await o.page.locator('svg[data-chart="history"] .axis-x .tick text').allTextContents(), history.entries.map((e) => String(e.step)));
      assert.equal(await o.page.locator('svg[data-chart="history"] path.line').count(), 2);
      // Lines, not filled areas (the series colour classes set fill for bars; the lines must not take it).
      assert.equal(await o.page.evaluate(`getComputedStyle(document.querySelector('svg[data-chart="history"] path.line')).fill`), 'none');
      assert.match(await o.page.locator('#history-note').textContent() ?? '', /4 checkpoint\(s\) analysed; latest rounds\/round-4\.pt/);
      await o.page.locator('#history').screenshot({ path: join(SHOTS, 'checkpoint-history.png') });

      // A malformed history (a psnr that is text) is dropped: the plot stays as it was.
      await o.send({ type: 'history', data: { config: 'x', entries: [{ ...history.entries[0], psnr: 'high' }] } });
      await o.send({ type: 'error', message: 'sentinel' });
      await o.page.waitForFunction(`document.getElementById('status').textContent === 'sentinel'`);
      assert.equal(await o.page.locator('svg[data-chart="history"] circle.mark').count(), 2 * history.entries.length);
      assert.ok(o.problems.every((p) => /dropped|malformed|ignored/i.test(p)), o.problems.join('\n'));
    } finally {
      await o.close();
    }
  });
});

// The model report page and the LeNet (RGB) spectrum in headless Chromium with recorded data: the summary renders
// (tables, op histogram), the buttons post openSpectrum, no CSP violation; screenshots in test-results/webview/.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { spectrumView, type SpectrumState } from '../../server/src/analysis/spectrumData';
import type { LatestResult, ModelSummary } from '../../server/src/webviewProtocol';
import { openPage, ROOT, SHOTS, startServer, type ThemeName } from './harness';
import { chromium, needing } from '../support/requirements';

const data = (name: string) => JSON.parse(readFileSync(join(__dirname, 'data', `${name}.json`), 'utf8'));
const { after, before, describe, it } = needing(chromium);
const results: LatestResult[] = [
  { config: 'examples/opacus/train.yaml', analysedAt: '2026-11-25T10:00:00Z', risk: 'high', psnr: 31.2, rmse: 0.0275, defences: ['dpsgd:clip=1,noise=1.1'], fromCache: true },
  { config: 'examples/fedml/fedml_config.yaml', analysedAt: '2026-11-25T10:02:00Z', risk: 'low', psnr: 8.4, rmse: 0.38, defences: ['gaussian:std=0.05'], fromCache: false },
];

describe('model report page', () => {
  let server: Server;
  let origin: string;
  before(async () => {
    execFileSync(process.execPath, ['tools/build-media.mjs'], { cwd: ROOT, stdio: 'inherit' });
    ({ server, origin } = await startServer());
    mkdirSync(SHOTS, { recursive: true });
  });
  after(() => server?.close());

  for (const [model, theme] of [['lenet', 'light'], ['lenet', 'dark'], ['mlp', 'dark']] as [string, ThemeName][]) {
    it(`shows the ${model} summary in the ${theme} theme and asks for the spectrum`, async () => {
      const summary = data(`${model}-summary`) as ModelSummary;
      const o = await openPage(origin, 'report', theme, (m) => (m.type === 'ready' ? { type: 'summary', summary, results } : undefined));
      try {
        const p = o.page;
        await p.waitForSelector('svg[data-chart="ops"] rect.mark');
        assert.equal(await p.locator('svg[data-chart="ops"] rect.mark').count(), summary.ops.length);
        assert.match(await p.locator('#title').textContent() ?? '', new RegExp(`${model}\\.onnx`));
        assert.equal(await p.locator('#verdict').textContent(), 'analysable');
        assert.equal(await p.locator('#inputs tbody tr').count(), summary.inputs.length);
        assert.match(await p.locator('#params').textContent() ?? '', new RegExp(summary.parameters.toLocaleString('en-US')));
        assert.equal(await p.locator('#results tbody tr').count(), results.length);
        await p.screenshot({ path: join(SHOTS, `report-${model}-${theme}.png`), fullPage: true });
        await p.locator('#open-spectrum').click();
        assert.deepEqual(await o.waitForPosted('openSpectrum'), { type: 'openSpectrum' });
        await p.locator('#results tbody tr').nth(1).locator('button').click();
        assert.equal((await o.waitForPosted('openSpectrum', 2)).config, results[1].config);
        assert.deepEqual(o.problems, []);
      } finally {
        await o.close();
      }
    });
  }

  it('marks unsupported ops and says why a model is not analysable', async () => {
    const summary = data('lenet-summary') as ModelSummary;
    const bad: ModelSummary = {
      ...summary, analysable: false, notes: ['1 node(s) use ops the analysis cannot differentiate: com.example::Fancy'],
      ops: [...summary.ops, { op: 'Fancy', domain: 'com.example', count: 1, supported: false }],
      unsupported: [{ op: 'Fancy', node: 'fancy_0', domain: 'com.example' }],
    };
    const o = await openPage(origin, 'report', 'light', (m) => (m.type === 'ready' ? { type: 'summary', summary: bad, results: [] } : undefined));
    try {
      await o.page.waitForSelector('svg[data-chart="ops"] rect.mark.s-red');
      assert.equal(await o.page.locator('#verdict').textContent(), 'not analysable');
      assert.equal(await o.page.locator('#unsupported tbody tr').count(), 1);
      assert.match(await o.page.locator('#notes').textContent() ?? '', /com\.example::Fancy/);
      assert.match(await o.page.locator('#results-empty').textContent() ?? '', /No training config/);
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('draws the LeNet sample, its reconstruction and RGB eigen-directions on the spectrum page', async () => {
    const state = data('lenet-state') as SpectrumState;
    const o = await openPage(origin, 'spectrum', 'light', (m) => (m.type === 'ready' ? { type: 'spectrum', data: spectrumView(state) } : undefined));
    try {
      await o.page.waitForSelector('svg[data-chart="eigenvalues"] circle.mark');
      assert.equal(await o.page.locator('#direction-images canvas').count(), state.view.directions.length);
      assert.equal(await o.page.locator('#img-original').getAttribute('data-pixels'), String(32 * 32));
      await o.page.screenshot({ path: join(SHOTS, 'spectrum-lenet-light.png'), fullPage: true });
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });
});

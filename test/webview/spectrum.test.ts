// The spectrum page in headless Chromium, fed recorded analysis data (test/webview/data, from a real analysis of
// examples/models/mlp.onnx): plots render with data, controls post the right messages, replies update the page,
// a saved state restores it, and the strict CSP is never violated. Screenshots land in test-results/webview/.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { noiseView, spectrumView, type SpectrumState } from '../../server/src/analysis/spectrumData';
import type { SpectrumView } from '../../server/src/webviewProtocol';
import { openPage, ROOT, SHOTS, startServer, type Extension, type Opened, type ThemeName } from './harness';
import { chromium, needing } from '../support/requirements';

const state = JSON.parse(readFileSync(join(__dirname, 'data', 'mlp-state.json'), 'utf8')) as SpectrumState;
const { after, before, describe, it } = needing(chromium);

/** The extension's side, as SpectrumPanel wires it: the first view on 'ready', noise answered from the state. */
const extension: Extension = (m) => {
  if (m.type === 'ready') return { type: 'spectrum', data: spectrumView(state) };
  if (m.type === 'setNoise') return { type: 'noise', key: state.view.key, noise: noiseView(state, m.std as number) };
  if (m.type === 'setSample' || m.type === 'setK' || m.type === 'setDamping') return { type: 'busy', text: 'Analysing…' };
  return undefined;
};

async function rendered(o: Opened): Promise<void> {
  await o.page.waitForSelector('svg[data-chart="eigenvalues"] circle.mark');
  await o.page.waitForSelector('svg[data-chart="samples"] rect.mark');
}

describe('spectrum page', () => {
  let server: Server;
  let origin: string;
  before(async () => {
    execFileSync(process.execPath, ['tools/build-media.mjs'], { cwd: ROOT, stdio: 'inherit' });
    ({ server, origin } = await startServer());
    mkdirSync(SHOTS, { recursive: true });
  });
  after(() => server?.close());

  for (const theme of ['light', 'dark', 'hc'] as ThemeName[]) {
    it(`renders the recorded MLP analysis in the ${theme} theme without a CSP violation`, async () => {
      const o = await openPage(origin, 'spectrum', theme, extension);
      try {
        await rendered(o);
        const v = spectrumView(state);
        const page = o.page;
        const k = v.directions.length;
        assert.equal(await page.locator('svg[data-chart="eigenvalues"] circle.mark').count(), v.spectrum.top.length + v.spectrum.bottom.length);
        const first = Number(await page.locator('svg[data-chart="eigenvalues"] circle.mark').first().getAttribute('data-value'));
        assert.ok(Math.abs(first - v.spectrum.lambdaMax) <= 1e-6 * v.spectrum.lambdaMax, `first point ${first} is λmax ${v.spectrum.lambdaMax}`);
        assert.equal(await page.locator('svg[data-chart="eigenvalues"] .marker').count(), v.spectrum.damping > 0 ? 3 : 2);
        assert.match(await page.locator('svg[data-chart="eigenvalues"] .chart-title').textContent() ?? '', /κ = 15/);
        assert.equal(await page.locator('svg[data-chart="energy"] rect.mark').count(), 3 * k);
        assert.equal(await page.locator('svg[data-chart="cost"] rect.mark').count(), k);
        assert.equal(await page.locator('svg[data-chart="samples"] rect.mark').count(), v.noise.perSample.length);
        assert.equal(await page.locator('svg[data-chart="classes"] rect.mark').count(), v.noise.perClass.length);
        const exposed = v.noise.mostExposed!;
        assert.match(await page.locator('#exposed').textContent() ?? '', new RegExp(`Most exposed: sample ${exposed.sample} \\(label ${exposed.label}\\)`));
        assert.match(await page.locator('#risk').textContent() ?? '', new RegExp(`risk: ${v.noise.risk}`));
        // Canvases hold the pictures: original, reconstruction, and one per eigen-direction, none blank.
        // Browser-side code as a string: the tests compile without the DOM library.
        const inked = (await page.evaluate(`Array.from(document.querySelectorAll('canvas')).map((c) => {
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          const seen = new Set();
          for (let i = 0; i < d.length; i += 4 * 7) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
          return seen.size;
        })`)) as number[];
        assert.equal(inked.length, 2 + k);
        assert.ok(inked.every((n) => n > 3), `every canvas shows a picture (distinct colours: ${inked.join(', ')})`);
        // The theme reached the charts: the eigenvalue points use the theme's chart blue.
        const fill = await page.evaluate(`getComputedStyle(document.querySelector('svg[data-chart="eigenvalues"] circle.mark.s-blue')).fill`);
        assert.equal(fill, theme === 'light' ? 'rgb(26, 133, 255)' : 'rgb(55, 148, 255)');
        await page.screenshot({ path: join(SHOTS, `spectrum-${theme}.png`), fullPage: true });
        assert.deepEqual(o.problems, []);
      } finally {
        await o.close();
      }
    });
  }

  it('asks the extension for a new noise std from the slider and redraws from the reply', async () => {
    const o = await openPage(origin, 'spectrum', 'dark', extension);
    try {
      await rendered(o);
      const before = await o.page.locator('svg[data-chart="samples"] rect.mark').first().getAttribute('data-value');
      await o.page.locator('#std-slider').fill('900');
      const m = await o.waitForPosted('setNoise');
      const expected = Number((state.view.settings.stdMax * 10 ** (-4 * 0.1)).toPrecision(4));
      assert.equal(m.std, expected);
      const reply = noiseView(state, expected);
      // Locator waits, not waitForFunction: a string predicate is an eval the page's CSP (rightly) refuses.
      await o.page.locator('#headline', { hasText: `${reply.expectedPsnr.toFixed(1)} dB` }).waitFor();
      const after = await o.page.locator('svg[data-chart="samples"] rect.mark').first().getAttribute('data-value');
      assert.notEqual(after, before);
      assert.ok(Math.abs(Number(after) - reply.perSample[0].psnr) < 1e-9);
      assert.match(await o.page.locator('#risk').textContent() ?? '', new RegExp(reply.risk));
      const saved = (await o.page.evaluate('window.__i2fState')) as { std: number; data: SpectrumView };
      assert.equal(saved.std, expected, 'the page keeps the std in its state');
      await o.page.screenshot({ path: join(SHOTS, 'spectrum-dark-noise.png'), fullPage: true });
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('posts sample, k, damping and typed-std changes, copies CSV and saves SVG and PNG', async () => {
    const o = await openPage(origin, 'spectrum', 'light', extension);
    try {
      await rendered(o);
      const p = o.page;
      await p.locator('#sample').selectOption('3');
      assert.equal((await o.waitForPosted('setSample')).sample, 3);
      await p.locator('#k').fill('12');
      await p.locator('#k').dispatchEvent('change');
      assert.equal((await o.waitForPosted('setK')).k, 12);
      await p.locator('#damping').fill('0.5');
      await p.locator('#damping').dispatchEvent('change');
      assert.equal((await o.waitForPosted('setDamping')).damping, 0.5);
      await p.locator('#std').fill('0.05');
      await p.locator('#std').dispatchEvent('change');
      assert.equal((await o.waitForPosted('setNoise')).std, 0.05);
      const sent = o.posted.length;
      await p.locator('#std-reset').click(); // (leaving the edited field may post its value once more first)
      await p.waitForTimeout(200);
      const later = o.posted.slice(sent).filter((m) => m.type === 'setNoise');
      assert.equal(later.at(-1)?.std, state.view.settings.configuredStd);
      await p.locator('#refresh').click();
      await o.waitForPosted('refresh');

      await p.locator('#copy-csv').click();
      const copy = await o.waitForPosted('copy');
      const text = copy.text as string;
      assert.match(text, /^section,index,label,value/);
      assert.equal(text.split('\n').filter((l) => l.startsWith('eigenvalue-top,')).length, state.view.spectrum.top.length);
      assert.equal(text.split('\n').filter((l) => l.startsWith('sample,') && !l.startsWith('sample,index')).length, state.view.labels.length);

      await p.locator('button[data-export="svg"][data-chart="eigenvalues"]').click();
      const svg = await o.waitForPosted('save');
      assert.equal(svg.format, 'svg');
      assert.equal(svg.name, 'i2f-eigenvalues.svg');
      assert.match(svg.data as string, /^<\?xml[^]*<svg[^>]*data-chart="eigenvalues"/);
      assert.match(svg.data as string, /fill="rgb\(/, 'theme colours are resolved into the file');
      assert.doesNotMatch(svg.data as string, /var\(--vscode/);
      await p.locator('button[data-export="png"][data-chart="samples"]').click();
      const png = await o.waitForPosted('save', 2);
      assert.equal(png.format, 'png');
      assert.match(png.data as string, /^data:image\/png;base64,iVBOR/);
      assert.ok((png.data as string).length > 5000, 'a real picture, not an empty canvas');
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('restores from its saved state after a reload before the extension answers', async () => {
    const view = spectrumView(state, 0.02);
    const o = await openPage(origin, 'spectrum', 'light', () => undefined, { config: view.config, data: view, std: 0.02 });
    try {
      await rendered(o);
      assert.equal(await o.page.locator('#std').inputValue(), '0.02');
      assert.match(await o.page.locator('#headline').textContent() ?? '', new RegExp(`${view.noise.expectedPsnr.toFixed(1)} dB`));
      await o.waitForPosted('ready');
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('a token-id model (recorded from examples/text): embedding-space labels, tokens recovered, redrawn at another std', async () => {
    const text = JSON.parse(readFileSync(join(__dirname, 'data', 'text-state.json'), 'utf8')) as SpectrumState;
    const o = await openPage(origin, 'spectrum', 'light', (m) => {
      if (m.type === 'ready') return { type: 'spectrum', data: spectrumView(text) };
      if (m.type === 'setNoise') return { type: 'noise', key: text.view.key, noise: noiseView(text, m.std as number) };
      return undefined;
    });
    try {
      await rendered(o);
      const v = spectrumView(text);
      const t = v.noise.tokens!;
      const pct = (x: number) => `${Math.round(x * 100)}%`;
      const headline = await o.page.locator('#headline').textContent() ?? '';
      assert.match(headline, new RegExp(`tokens recovered, sample 1${pct(t.shown.recovered)}`));
      assert.match(headline, /expected PSNR \(embedding\)/);
      const exposed = await o.page.locator('#exposed').textContent() ?? '';
      assert.match(exposed, /^Embedding space: the input is token ids/);
      assert.ok(exposed.includes(`“${t.shown.text}” → “${t.shown.recoveredText}”`), exposed);
      assert.equal(await o.page.locator('#images').isHidden(), true, 'no picture for embeddings');
      assert.match(await o.page.locator('#risk').textContent() ?? '', new RegExp(`risk: ${v.noise.risk}`));
      // A loud std from the typed box: the tokens and the level are redrawn from the reply.
      const loud = noiseView(text, 1);
      await o.page.locator('#std').fill('1');
      await o.page.locator('#std').press('Enter');
      await o.page.locator('#headline', { hasText: `tokens recovered, all samples${pct(loud.tokens!.recovered)}` }).waitFor();
      assert.match(await o.page.locator('#risk').textContent() ?? '', new RegExp(`risk: ${loud.risk}`));
      await o.page.screenshot({ path: join(SHOTS, 'spectrum-text.png'), fullPage: true });
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('shows an error the extension sends', async () => {
    const o = await openPage(origin, 'spectrum', 'dark', (m) => (m.type === 'ready' ? { type: 'error', message: 'The model could not be analysed: op Foo' } : undefined));
    try {
      await o.page.locator('#status', { hasText: 'op Foo' }).waitFor();
      assert.equal(await o.page.locator('#status').getAttribute('class'), 'status error');
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });
});


// "Confirm with a real attack" on the spectrum page in headless Chromium, fed attack results recorded from the real
// engine (test/webview/record.ts: the example MLP's pictures with a converged prediction, and the 64-feature MLP
// fixture with the prediction's solve cut short). Checks the three pictures or strips per sample, the numbers, the
// non-converged mark, the Run / progress / Cancel traffic, and the restore from saved state. Screenshots land in
// test-results/webview/.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { spectrumView, type SpectrumState } from '../../server/src/analysis/spectrumData';
import type { AttackView } from '../../server/src/webviewProtocol';
import { openPage, ROOT, SHOTS, startServer, type Extension, type Opened } from './harness';
import { chromium, needing } from '../support/requirements';

const read = <T>(name: string) => JSON.parse(readFileSync(join(__dirname, 'data', `${name}.json`), 'utf8')) as T;
const state = read<SpectrumState>('mlp-state');
const images = read<AttackView>('mlp-attack');
const vectors = read<AttackView>('vector-attack-unconverged');
const text = read<AttackView>('text-attack');
const { after, before, describe, it } = needing(chromium);

/** The panel's side: the spectrum on 'ready'; 'runAttack' answered by two progress messages and then the result. */
const extensionWith = (result: AttackView): Extension => async (m, o) => {
  if (m.type === 'ready') return { type: 'spectrum', data: spectrumView(state) };
  if (m.type === 'runAttack') {
    await o.send({ type: 'attackProgress', stage: 'prediction: solving', fraction: 0.1 });
    await o.send({ type: 'attackProgress', stage: 'attack', fraction: 0.6 });
    return { type: 'attack', data: result };
  }
  return undefined;
};

/** Per canvas of the attack section: its kind, sample, pixel count and how many distinct colours it shows. */
async function canvases(o: Opened): Promise<{ kind: string; sample: number; pixels: number; colours: number; width: number; height: number }[]> {
  // Browser-side code as a string: the tests compile without the DOM library.
  return (await o.page.evaluate(`Array.from(document.querySelectorAll('#attack-result .attack-row canvas')).map((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 4) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return { kind: c.closest('figure').dataset.kind, sample: Number(c.closest('.attack-row').dataset.sample),
      pixels: Number(c.dataset.pixels), colours: seen.size, width: c.width, height: c.height };
  })`)) as never;
}

/** The drawn canvases' pixels (RGB, row-major) to compare pictures against one another. */
async function pixelsOf(o: Opened, selector: string): Promise<number[]> {
  return (await o.page.evaluate(`(() => { const c = document.querySelector(${JSON.stringify(selector)});
    return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); })()`)) as number[];
}

async function factValue(o: Opened, batch: number, key: string): Promise<{ text: string; value: number | null }> {
  const loc = o.page.locator('.attack-batch').nth(batch).locator(`[data-fact="${key}"]`);
  const raw = await loc.getAttribute('data-value');
  return { text: (await loc.textContent()) ?? '', value: raw === null ? null : Number(raw) };
}

describe('the real attack on the spectrum page', () => {
  let server: Server;
  let origin: string;
  before(async () => {
    execFileSync(process.execPath, ['tools/build-media.mjs'], { cwd: ROOT, stdio: 'inherit' });
    ({ server, origin } = await startServer());
    mkdirSync(SHOTS, { recursive: true });
  });
  after(() => server?.close());

  it('runs from the page button and shows original, predicted and recovered pictures with their numbers', async () => {
    const o = await openPage(origin, 'spectrum', 'light', extensionWith(images));
    try {
      await o.page.waitForSelector('svg[data-chart="eigenvalues"] circle.mark');
      assert.equal(await o.page.locator('#run-attack').isVisible(), true);
      await o.page.locator('#run-attack').click();
      await o.waitForPosted('runAttack');
      await o.page.waitForSelector('#attack-result .attack-row');
      const b = images.batches[0];
      const cs = await canvases(o);
      assert.deepEqual(cs.map((c) => c.kind), ['original', 'predicted', 'recovered']);
      const [c, h, w] = images.sampleDims;
      assert.equal(c, 1);
      for (const x of cs) {
        assert.equal(x.pixels, h * w, 'drawn as the 28×28 picture');
        assert.ok(x.colours > 10, `${x.kind} shows a picture (${x.colours} grey levels)`);
        assert.equal(x.width, x.height);
      }
      // The three pictures differ (the recovery is near the original, not equal to it) and the first two are what
      // the recorded arrays say: pixel (0, 0) of the original is the data's first value on the [lo, hi] scale.
      const [orig, pred, rec] = await Promise.all(['original', 'predicted', 'recovered'].map((k) => pixelsOf(o, `.attack-row canvas.attack-${k}`)));
      assert.notDeepEqual(orig, rec);
      assert.notDeepEqual(pred, rec);
      const byte = (v: number) => Math.max(0, Math.min(255, Math.round(((v - images.image!.lo) / (images.image!.hi - images.image!.lo)) * 255)));
      assert.equal(orig[0], byte(b.perSample[0].original[0]));
      assert.equal(rec[0], byte(b.perSample[0].recovered[0]));

      for (const [key, want] of [['rmse', b.rmse], ['psnr', b.psnr], ['ssim', b.ssim], ['predictedRmse', b.predictedRmse], ['ratio', b.ratio], ['steps', b.steps], ['ms', b.ms]] as const) {
        assert.equal((await factValue(o, 0, key)).value, want, key);
      }
      assert.match((await factValue(o, 0, 'ratio')).text, new RegExp(`^${Number(b.ratio.toPrecision(3))}`));
      assert.match((await factValue(o, 0, 'psnr')).text, new RegExp(`${b.psnr!.toFixed(1)} dB`));
      assert.match((await factValue(o, 0, 'steps')).text, new RegExp(`^${b.steps}$`));
      assert.ok(b.converged);
      assert.equal(await o.page.locator('.unconverged').count(), 0, 'no warning on a converged prediction');
      assert.doesNotMatch((await factValue(o, 0, 'predictedRmse')).text, /not converged/);
      assert.match(await o.page.locator('.attack-row figcaption').nth(2).textContent() ?? '', new RegExp(`SSIM ${Number(b.perSample[0].ssim!.toPrecision(3))}`));
      assert.equal(await o.page.locator('#attack-progress').isVisible(), false);
      assert.equal(await o.page.locator('#run-attack').textContent(), 'Run again');
      const saved = (await o.page.evaluate('window.__i2fState')) as { attack?: AttackView; data?: unknown };
      assert.deepEqual(saved.attack?.batches[0].perSample[0].recovered.slice(0, 5), b.perSample[0].recovered.slice(0, 5), 'kept in the page state');
      assert.ok(saved.data, 'the spectrum stays in the state beside it');
      await o.page.locator('#attack').screenshot({ path: join(SHOTS, 'attack-images-light.png') });
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('draws vectors as heat strips and marks a prediction whose solve did not converge', async () => {
    const o = await openPage(origin, 'spectrum', 'dark', extensionWith(vectors));
    try {
      await o.page.waitForSelector('svg[data-chart="eigenvalues"] circle.mark');
      await o.page.locator('#run-attack').click();
      await o.page.waitForSelector('#attack-result .attack-row');
      const b = vectors.batches[0];
      assert.equal(b.converged, false, 'the recorded prediction did not converge');
      const cs = await canvases(o);
      assert.equal(cs.length, 3 * b.perSample.length);
      assert.deepEqual(cs.map((c) => c.sample), b.perSample.flatMap((s) => [s.sample, s.sample, s.sample]));
      for (const x of cs) {
        assert.equal(x.pixels, vectors.sampleDims[0], 'one cell per feature');
        assert.ok(x.width > 4 * x.height, `${x.kind} is a strip (${x.width}×${x.height})`);
        assert.ok(x.colours > 10, `${x.kind} strip shows the values (${x.colours} colours)`);
      }
      const warning = o.page.locator('.attack-batch .unconverged');
      assert.equal(await warning.count(), 1);
      assert.match(await warning.textContent() ?? '', new RegExp(`did not converge \\(relative residual ${Number(b.relativeResidual.toPrecision(2))}`));
      assert.match((await factValue(o, 0, 'predictedRmse')).text, /not converged/);
      assert.equal(await o.page.locator('.attack-row figcaption', { hasText: 'not converged' }).count(), b.perSample.length);
      assert.equal((await factValue(o, 0, 'ssim')).text, 'n/a', 'SSIM is not defined for vectors');
      // The warning's colour comes from the theme (not a hard-coded one).
      const colour = await o.page.evaluate(`getComputedStyle(document.querySelector('.attack-batch [data-fact="predictedRmse"]')).color`);
      assert.equal(colour, 'rgb(204, 167, 0)');
      await o.page.locator('#attack').screenshot({ path: join(SHOTS, 'attack-strips-dark.png') });
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('draws a token model\'s embeddings as one strip row per token with the decoded words and token recovery', async () => {
    const o = await openPage(origin, 'spectrum', 'light', extensionWith(text));
    try {
      await o.page.waitForSelector('svg[data-chart="eigenvalues"] circle.mark');
      await o.page.locator('#run-attack').click();
      await o.page.waitForSelector('#attack-result .attack-row');
      const [T, E] = text.sampleDims;
      const cs = await canvases(o);
      assert.equal(cs.length, 3);
      for (const x of cs) {
        assert.equal(x.pixels, T * E);
        assert.equal(x.width / E, x.height / T, `${x.kind}: square cells, ${T} rows of ${E}`);
      }
      const s = text.batches[0].perSample[0];
      const words = await o.page.locator('.attack-row p.tokens').allTextContents();
      assert.equal(words.length, 3);
      assert.ok(words[0].startsWith(`“${s.tokens!.text}”`));
      assert.ok(words[1].startsWith(`“${s.tokens!.predictedText}”`) && words[1].includes(`${Math.round(100 * s.tokens!.predicted)}% of its tokens`));
      assert.ok(words[2].startsWith(`“${s.tokens!.recoveredText}”`) && words[2].includes(`${Math.round(100 * s.tokens!.recovered)}% of its tokens`));
      assert.equal((await factValue(o, 0, 'tokensRecovered')).value, text.batches[0].tokens!.recovered);
      assert.equal((await factValue(o, 0, 'tokensPredicted')).value, text.batches[0].tokens!.predictedRecovered);
      assert.match(await o.page.locator('#attack-result').textContent() ?? '', /Embedding space: .*embedding vectors/);
      await o.page.locator('#attack').screenshot({ path: join(SHOTS, 'attack-text-light.png') });
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('shows progress with a Cancel button, posts cancelAttack and shows the stop', async () => {
    const o = await openPage(origin, 'spectrum', 'light', (m) => {
      if (m.type === 'ready') return { type: 'spectrum', data: spectrumView(state) };
      if (m.type === 'runAttack') return { type: 'attackProgress', stage: 'attack', fraction: 0.42 };
      if (m.type === 'cancelAttack') return { type: 'attackStopped', message: 'The attack was cancelled.', cancelled: true };
      return undefined;
    });
    try {
      await o.page.waitForSelector('svg[data-chart="eigenvalues"] circle.mark');
      await o.page.locator('#run-attack').click();
      await o.page.locator('#attack-status', { hasText: '42%' }).waitFor();
      assert.equal(await o.page.locator('#cancel-attack').isVisible(), true);
      assert.equal(await o.page.locator('#run-attack').isVisible(), false);
      assert.equal(await o.page.evaluate(`document.getElementById('attack-progress').value`), 0.42);
      await o.page.locator('#cancel-attack').click();
      await o.waitForPosted('cancelAttack');
      await o.page.locator('#attack-status', { hasText: 'cancelled' }).waitFor();
      assert.equal(await o.page.locator('#run-attack').isVisible(), true);
      assert.equal(await o.page.locator('#cancel-attack').isVisible(), false);
      assert.equal(await o.page.locator('#attack-status').getAttribute('class'), 'status info');
      assert.equal(o.posted.filter((m) => m.type === 'runAttack').length, 1);
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('says when it draws only the first samples of a batch', async () => {
    // As attackView cuts a large batch (maxShown 1 here): the batch's numbers, the first sample's pictures.
    const b = vectors.batches[0];
    const cut: AttackView = { ...vectors, batches: [{ ...b, perSample: b.perSample.slice(0, 1) }] };
    const o = await openPage(origin, 'spectrum', 'light', extensionWith(cut));
    try {
      await o.page.locator('#run-attack').click();
      await o.page.waitForSelector('#attack-result .attack-row');
      assert.equal((await canvases(o)).length, 3);
      await o.page.locator('.attack-batch .note', { hasText: `Showing the first 1 of the batch's ${b.samples.length} samples` }).waitFor();
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('shows a failed attack as an error', async () => {
    const o = await openPage(origin, 'spectrum', 'dark', (m) => {
      if (m.type === 'runAttack') return { type: 'attackStopped', message: 'model.onnx: unsupported op Foo', cancelled: false };
      return undefined;
    });
    try {
      await o.page.locator('#run-attack').click();
      await o.page.locator('#attack-status', { hasText: 'unsupported op Foo' }).waitFor();
      assert.equal(await o.page.locator('#attack-status').getAttribute('class'), 'status error');
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('restores the last attack from its saved state after a reload, before the extension answers', async () => {
    const view = spectrumView(state);
    const o = await openPage(origin, 'spectrum', 'light', () => undefined, { config: view.config, data: view, std: view.noise.std, attack: images });
    try {
      await o.page.waitForSelector('#attack-result .attack-row');
      assert.equal((await canvases(o)).length, 3);
      assert.equal((await factValue(o, 0, 'rmse')).value, images.batches[0].rmse);
      await o.waitForPosted('ready');
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('drops the attack when the panel shows another config', async () => {
    const o = await openPage(origin, 'spectrum', 'light', extensionWith(images));
    try {
      await o.page.waitForSelector('svg[data-chart="eigenvalues"] circle.mark');
      await o.page.locator('#run-attack').click();
      await o.page.waitForSelector('#attack-result .attack-row');
      await o.send({ type: 'spectrum', data: { ...spectrumView(state), config: 'examples/other.yaml' } });
      await o.page.locator('#subtitle', { hasText: 'examples/other.yaml' }).waitFor();
      assert.equal(await o.page.locator('#attack-result .attack-row').count(), 0);
      assert.equal((await o.page.evaluate('window.__i2fState') as { attack?: unknown }).attack, undefined);
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });
});

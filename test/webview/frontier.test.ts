// The spectrum page's privacy–reconstruction frontier in headless Chromium: the recorded MLP analysis
// (test/webview/data/mlp-state.json, a real analysis of examples/models/mlp.onnx) paired with a real DP account
// (the RDP accountant on an Opacus-style config: batch 256 of 60000, 60 epochs, σ 1.1, δ 1e-5). Predicted PSNR and
// ε are drawn against the noise multiplier; the slider moves the marker on both curves. The screenshot goes to
// test-results/webview/ and, refreshed by this test, media/screenshots/frontier.png (the README's picture).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Server } from 'node:http';
import { noiseView, spectrumView, type SpectrumState } from '../../server/src/analysis/spectrumData';
import { privacyAccount } from '../../server/src/analysis/privacyAccount';
import { spectrumPrivacyOf } from '../../server/src/analysis/privacyFrontier';
import { readTrainingConfig } from '../../server/src/config/recognise';
import type { TrainingSetup } from '../../server/src/config/trainingSetup';
import { rdpEpsilon } from '../../server/src/privacy/rdpAccountant';
import { chromiumPath, openPage, ROOT, SHOTS, startServer, type Extension } from './harness';

const state = JSON.parse(readFileSync(join(__dirname, 'data', 'mlp-state.json'), 'utf8')) as SpectrumState;
const skip = chromiumPath() ? false : 'Debian chromium is not installed (apt-get install -y chromium)';

const CONFIG = 'training:\n  batch_size: 256\n  epochs: 60\nprivacy:\n  noise_multiplier: 1.1\n  max_grad_norm: 1.0\n  delta: 1.0e-5\ni2f:\n  dataset-size: 60000\n';
const setup = readTrainingConfig('/w/train.yaml', CONFIG, { fileExists: () => true }) as TrainingSetup;
state.privacy = spectrumPrivacyOf(privacyAccount(setup), state.view.settings.configuredStd, { epsilonThreshold: 10, targetPsnr: 15 });

const extension: Extension = (m) => {
  if (m.type === 'ready') return { type: 'spectrum', data: spectrumView(state) };
  if (m.type === 'setNoise') return { type: 'noise', key: state.view.key, noise: noiseView(state, m.std as number) };
  return undefined;
};

describe('spectrum page: the privacy frontier', { skip }, () => {
  let server: Server;
  let origin: string;
  before(async () => {
    execFileSync(process.execPath, ['tools/build-media.mjs'], { cwd: ROOT, stdio: 'inherit' });
    ({ server, origin } = await startServer());
    mkdirSync(SHOTS, { recursive: true });
  });
  after(() => server?.close());

  it('draws predicted PSNR and ε against the noise multiplier, and the slider moves the marker on both', async () => {
    assert.ok(state.privacy, 'the account pairs with the analysed std');
    const v = spectrumView(state);
    const f = v.privacy!;
    // The frontier's numbers: ε falls and PSNR falls as σ grows; at the configured σ, ε is the accountant's.
    const eps = f.points.map((p) => p.epsilon!);
    const psnr = f.points.map((p) => p.psnr!);
    for (let i = 1; i < f.points.length; i++) {
      assert.ok(eps[i] < eps[i - 1], `ε decreases with σ at point ${i}`);
      assert.ok(psnr[i] <= psnr[i - 1] + 1e-9, `PSNR decreases with σ at point ${i}`);
    }
    const configured = rdpEpsilon({ sampleRate: 256 / 60000, noiseMultiplier: 1.1, steps: 14100 }, 1e-5);
    assert.ok(Math.abs(v.noise.privacy!.noiseMultiplier - 1.1) < 1e-12);
    assert.equal(v.noise.privacy!.epsilon, configured.epsilon);

    const o = await openPage(origin, 'spectrum', 'light', extension);
    try {
      const chart = o.page.locator('svg[data-chart="frontier"]');
      await chart.waitFor();
      assert.equal(await o.page.locator('#frontier').isHidden(), false);
      assert.equal(await chart.locator('path.line[data-series="psnr"]').count(), 1);
      assert.equal(await chart.locator('path.line[data-series="epsilon"]').count(), 1);
      const segments = (await chart.locator('path.line[data-series="epsilon"]').getAttribute('d'))!.match(/[ML]/g)!.length;
      assert.equal(segments, f.points.length, 'every point on the ε curve');
      const marked = async (series: string) => Number(await chart.locator(`g.current circle[data-series="${series}"]`).getAttribute('data-value'));
      assert.equal(await marked('epsilon'), configured.epsilon);
      assert.equal(await marked('psnr'), v.noise.privacy!.psnr);
      assert.match(await o.page.locator('#frontier-facts').textContent() ?? '', /noise multiplier σ1\.1/);
      assert.equal(await chart.locator('.marker[data-marker="ε 10"]').count(), 1, 'the ε threshold line');
      assert.equal(await chart.locator('.marker[data-marker="target 15 dB"]').count(), 1, 'the PSNR target line');
      await chart.screenshot({ path: join(SHOTS, 'frontier-light-before.png') });

      // The slider: a new std is a new σ, and both marks move to the reply's numbers.
      await o.page.locator('#std-slider').fill('900');
      const m = await o.waitForPosted('setNoise');
      const reply = noiseView(state, m.std as number);
      await o.page.locator('#frontier-facts', { hasText: `σ${Number(reply.privacy!.noiseMultiplier.toPrecision(3))}` }).waitFor();
      assert.equal(await marked('epsilon'), reply.privacy!.epsilon);
      assert.equal(await marked('psnr'), reply.privacy!.psnr);
      const sigma = (m.std as number) / f.stdPerNoiseMultiplier;
      assert.equal(reply.privacy!.epsilon, rdpEpsilon({ sampleRate: 256 / 60000, noiseMultiplier: sigma, steps: 14100 }, 1e-5).epsilon);
      assert.notEqual(reply.privacy!.epsilon, configured.epsilon);
      await o.page.locator('#frontier').screenshot({ path: join(SHOTS, 'frontier-light.png') });
      copyFileSync(join(SHOTS, 'frontier-light.png'), join(ROOT, 'media/screenshots/frontier.png'));
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });

  it('draws no frontier for a config without a DP account', async () => {
    const plain = { ...state, privacy: undefined };
    const o = await openPage(origin, 'spectrum', 'dark', (m) => (m.type === 'ready' ? { type: 'spectrum', data: spectrumView(plain) } : undefined));
    try {
      await o.page.waitForSelector('svg[data-chart="eigenvalues"] circle.mark');
      assert.equal(await o.page.locator('#frontier').isHidden(), true);
      assert.equal(await o.page.locator('svg[data-chart="frontier"]').count(), 0);
      assert.deepEqual(o.problems, []);
    } finally {
      await o.close();
    }
  });
});

// The webviews' data over real LSP: the spectrum page's data computed in a worker, the noise slider answered from the
// cached spectrum state with no products, and a checkpoint's model report read from disk.

import test from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { leakageOf, startServer, stats } from './lspClient';
import type { ModelSummaryResult, SpectrumDataResult, SpectrumNoiseResult } from '../../server/src/protocol';

const TIMEOUT = { timeout: 180_000 };

test('the spectrum request returns the eigenvalues of J Jᵀ for a config, and a new noise scale is answered from its cached state', TIMEOUT, async () => {
  const s = await startServer();
  try {
    const uri = s.open('flower/pyproject.toml');
    const r = (await s.connection.sendRequest('i2f/spectrumData', { uri, k: 4 })) as SpectrumDataResult;
    assert.ok(r.ok, r.ok ? '' : r.message);
    const view = r.data;
    assert.equal(view.spectrum.top.length, 4);
    assert.ok(view.spectrum.lambdaMax > 0);
    assert.ok(Math.abs(view.spectrum.top[0] - view.spectrum.lambdaMax) <= 1e-6 * view.spectrum.lambdaMax, `top ${view.spectrum.top[0]} vs λmax ${view.spectrum.lambdaMax}`);
    assert.ok(view.spectrum.top.every((v, i) => i === 0 || v <= view.spectrum.top[i - 1]), 'descending');
    assert.equal(view.directions.length, 4);
    assert.ok(view.settings.configuredStd > 0, 'the Flower config adds Gaussian noise');

    // A new noise level is answered from the spectrum state, with no analysis (its latency: `npm run bench`).
    // The config's own noise puts the prediction past the [0, 1] box (shown capped at the box's worst case), so the
    // linearity is checked a thousand times lower, where the PSNR is not capped.
    const before = await stats(s);
    const low = view.settings.configuredStd / 1000;
    const ask = async (std: number) => {
      const r = (await s.connection.sendRequest('i2f/spectrumNoise', { key: view.key, std })) as SpectrumNoiseResult;
      assert.ok(r.ok, r.ok ? '' : r.message);
      return r.noise;
    };
    const single = await ask(low);
    const doubled = await ask(2 * low);
    const after = await stats(s);
    assert.deepEqual([after.jobsQueued, after.workers.filter((w) => w.busy).length], [before.jobsQueued, 0], 'no analysis ran for it');
    // I²F is linear in the noise scale (I2F.md): doubling s lowers the predicted PSNR by 20·log10(2) ≈ 6 dB when
    // the config's δ is all Gaussian.
    assert.ok(single.expectedPsnr > 20, `uncapped at std ${low}: ${single.expectedPsnr} dB`);
    assert.ok(Math.abs(single.expectedPsnr - doubled.expectedPsnr - 20 * Math.log10(2)) < 0.05, `${single.expectedPsnr} → ${doubled.expectedPsnr}`);

    const missing = (await s.connection.sendRequest('i2f/spectrumNoise', { key: 'nope', std: 1 })) as SpectrumNoiseResult;
    assert.equal(missing.ok, false);
  } finally {
    await s.close();
  }
});

test('the model report summarises a checkpoint from disk with the latest results of the configs that use it', TIMEOUT, async () => {
  const s = await startServer();
  try {
    const config = s.open('flower/pyproject.toml');
    await s.waitForDiagnostics(config, (d) => !!leakageOf(d));
    const model = pathToFileURL(join(s.workspace, 'models/mlp.onnx')).href;
    const r = (await s.connection.sendRequest('i2f/modelSummary', { uri: model })) as ModelSummaryResult;
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.summary.parameters, 203_530);
    assert.equal(r.summary.format, 'onnx');
    assert.ok(r.results.some((x) => x.config.endsWith('pyproject.toml')), 'the Flower config uses the MLP');
  } finally {
    await s.close();
  }
});

// The quick fix's noise for the attacker the finding is about: σ = std / C for an observer of Flower's aggregate
// (std = σ·C on one client's share, not σ·C/n), nothing against a server that sees updates before its noise.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { targetNoiseEdit } from '../../../server/src/features/codeActions';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';
import type { ConfigView } from '../../../server/src/features/configView';

const FLOWER = '[tool.flwr.app.config]\nbatch-size = 8\nnoise-multiplier = 0.0001\nclipping-norm = 10.0\nnum-sampled-clients = 10\n';

/** A view whose one analysed batch needs Gaussian std `std` on the shared gradient to reach the 15 dB target. */
function viewOf(text: string, std: number): ConfigView {
  const setup = readTrainingConfig('/w/pyproject.toml', text, { fileExists: () => true }) as TrainingSetup;
  const batch = { psnr: 30, expectedPsnr: 30, risk: 'high', noiseForTarget: { targetPsnr: 15, std, stdForEverySample: std } };
  return {
    uri: 'file:///w/pyproject.toml',
    text,
    config: { path: '/w/pyproject.toml', setup, modelSource: 'config' },
    settings: { targetPsnr: 15 },
    pending: false,
    result: { report: { results: [batch] }, entry: {}, fromCache: false, rescaled: false },
  } as unknown as ConfigView;
}

test('against an observer of the aggregate, the noise multiplier is std / C', () => {
  const fix = targetNoiseEdit(viewOf(`${FLOWER}\n[tool.i2f]\nattacker = "aggregate"\n`, 0.537))!;
  assert.equal(fix.field.key, 'tool.flwr.app.config.noise-multiplier');
  assert.equal(fix.value, 0.0537, 'σ·C = 0.537 with C = 10 (σ·C/n would have given 0.537)');
  assert.equal(fix.title, 'Set noise-multiplier to 0.0537 (predicted PSNR 15 dB)');
});

test('against the server (the default without secure aggregation), no noise multiplier is offered: its noise comes after', () => {
  assert.equal(targetNoiseEdit(viewOf(FLOWER, 0.537)), undefined);
});

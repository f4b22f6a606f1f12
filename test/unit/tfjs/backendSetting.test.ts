// The i2f.backend setting (issue 6: "--backend tfjs, and a setting"): validated, part of the cache key only when it
// is not the default, and carried into the editor's and the audit's analysis, whose numbers then come from the
// TensorFlow.js engine and agree with the ONNX engine's.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyseConfig, DEFAULT_CONFIG_ANALYSIS } from '../../../server/src/analysis/configFindings';
import { analysisKnobs, configAnalysisSettings, normaliseSettings } from '../../../server/src/analysis/settings';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { linkConfig } from '../../../server/src/workspace/discover';
import { tfjsRoot } from './helpers';

test('i2f.backend: onnx by default, tfjs when asked, anything else ignored; in the analysis knobs only when tfjs', () => {
  assert.equal(normaliseSettings({}).backend, 'onnx');
  assert.equal(normaliseSettings({ backend: 'tfjs' }).backend, 'tfjs');
  assert.equal(normaliseSettings({ backend: 'pytorch' }).backend, 'onnx');
  assert.equal('backend' in analysisKnobs(normaliseSettings({})), false, 'old cache keys stay valid');
  assert.equal(analysisKnobs(normaliseSettings({ backend: 'tfjs' })).backend, 'tfjs');
  assert.equal(configAnalysisSettings(normaliseSettings({ backend: 'tfjs' })).backend, 'tfjs');
});

test('a config analysed with i2f.backend tfjs reports the tfjs engine and the ONNX engine’s numbers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-backend-'));
  cpSync(join(tfjsRoot, 'graph_mlp'), join(dir, 'web'), { recursive: true });
  const file = join(dir, 'train.yaml');
  writeFileSync(file, 'training:\n  batch_size: 2\nprivacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\nmodel_path: web/model.json\n');
  const parsed = readTrainingConfig(file, readFileSync(file, 'utf8'), { fileExists: existsSync });
  assert.ok(parsed && !('kind' in parsed));
  const config = linkConfig(file, parsed);
  const settings = { ...DEFAULT_CONFIG_ANALYSIS, damping: 1e-3, maxSamples: 2 };
  const onnx = await analyseConfig(config, settings);
  const tfjs = await analyseConfig(config, { ...settings, backend: 'tfjs' });
  assert.equal(onnx.report?.model.backend, 'onnx');
  assert.equal(tfjs.report?.model.backend, 'tfjs');
  const a = tfjs.report!.results[0];
  const b = onnx.report!.results[0];
  for (const k of ['lambdaMax', 'lowerBound', 'i2f', 'expectedRmse'] as const) {
    assert.ok(Math.abs(a[k] - b[k]) <= 1e-3 * Math.abs(b[k]), `${k}: tfjs ${a[k]} vs onnx ${b[k]}`);
  }
  assert.ok(tfjs.findings.some((f) => f.code === 'I2F001'));
});

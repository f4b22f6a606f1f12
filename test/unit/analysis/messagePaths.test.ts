// Findings travel (SARIF, CI logs, another machine's editor): no machine's absolute temporary paths in them.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withoutAbsolutePaths } from '../../../server/src/analysis/configFindings';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { checkTrainingSetup } from '../../../server/src/config/rules';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';

test("an analysis error names files relative to the config's folder and the temporary folder as <temp>", () => {
  const dir = join(tmpdir(), 'i2f-audit-abc', 'project');
  const text = `${join(dir, 'models', 'net.onnx')}: node 'conv' (Conv): bad shape; graph ${join(tmpdir(), 'i2f-products-x1', 'jjt.onnx')} failed`;
  const shown = withoutAbsolutePaths(text, dir);
  assert.equal(shown, `./models/net.onnx: node 'conv' (Conv): bad shape; graph <temp> failed`);
  assert.ok(!shown.includes(tmpdir()));
});

test('a missing model is reported relative to the config, not by the absolute path it was looked for at', () => {
  const file = join(tmpdir(), 'i2f-copy-123', 'opacus', 'train.yaml');
  const setup = readTrainingConfig(file, 'privacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\nmodel_path: ../models/net.onnx\n', { fileExists: () => false }) as TrainingSetup;
  const f = checkTrainingSetup(setup).find((x) => x.code === 'I2F107')!;
  assert.match(f.message, /looked for \.\.\/models\/net\.onnx from the config's folder/);
  assert.ok(!f.message.includes(tmpdir()), f.message);
});

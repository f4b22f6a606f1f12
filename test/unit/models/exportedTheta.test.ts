// I2F124: a model whose BatchNorm was folded at export (torch.onnx.export's defaults) is recognised and the user is
// told θ is not the trained parameters and how to re-export, on torchvision's resnet18 exported for real with the
// defaults (tools/fixtures/default_export.py, Debian's python3-torch) and, through the audit, on a small fused convnet.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { exportedThetaNote } from '../../../server/src/analysis/exportedTheta';
import { auditPaths } from '../../../server/src/analysis/audit';
import { buildArchitecture, findArchitecture } from '../../../server/src/models/catalogue';
import { trainableParameters } from '../../../server/src/graph/parameters';

const ROOT = join(__dirname, '../../..');
const torchAvailable = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0;

test("torchvision resnet18 exported with torch.onnx.export's defaults: BatchNorm folded, θ renamed, the re-export named", { skip: torchAvailable ? false : '/usr/bin/python3 cannot import torch and torchvision' }, async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'i2f-default-export-')), 'resnet18.onnx');
  execFileSync('/usr/bin/python3', [join(ROOT, 'tools/fixtures/default_export.py'), file], { stdio: 'ignore' });
  const model = await OnnxModel.open(file);
  const ops = model.model.graph.nodes.map((n) => n.opType);
  assert.ok(!ops.includes('BatchNormalization'), 'the default export has no BatchNormalization node');
  assert.ok(model.trainable.some((n) => /^onnx::Conv_\d+$/.test(n)));
  const note = exportedThetaNote(model.trainable, ops)!;
  assert.match(note, /^24 of the model's 26 parameters are named by the exporter \(`onnx::Conv_\d+`/);
  assert.match(note, /BatchNorm was folded into the convolutions at export/);
  assert.match(note, /training=torch\.onnx\.TrainingMode\.PRESERVE, do_constant_folding=False/);
  // The catalogue's resnet18 keeps what training shares: 62 parameters named as named_parameters, none renamed.
  const ours = trainableParameters(buildArchitecture(findArchitecture('resnet18')!, { inputShape: [3, 32, 32], classes: 10, seed: 0 }));
  assert.equal(ours.length, 62);
  assert.equal(exportedThetaNote(ours, ['BatchNormalization']), undefined);
});

test('the audit gives a config whose model had BatchNorm folded an I2F124 finding on its model line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-folded-'));
  copyFileSync(join(ROOT, 'test/fixtures/graph/convnet_fused_opset13.onnx'), join(dir, 'model.onnx'));
  writeFileSync(join(dir, 'train.yaml'), 'training:\n  batch_size: 1\nmodel_path: model.onnx\n');
  const run = await auditPaths([dir], { noCache: true, cacheDir: dir });
  const [outcome] = run.roots[0].configs;
  assert.equal(outcome.status, 'analysed', outcome.reason);
  const f = outcome.findings.find((x) => x.code === 'I2F124');
  assert.ok(f, 'an I2F124 finding');
  assert.equal(f.severity, 'warning');
  assert.equal(f.range.start.line, 2);
  assert.match(f.message, /^6 of the model's 8 parameters are named by the exporter/);
  assert.match(f.message, /BatchNorm was folded/);
  assert.equal(outcome.report!.model.exportNote, f.message.charAt(0).toLowerCase() + f.message.slice(1));
});

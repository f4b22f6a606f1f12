// Configs that name their model by architecture (FedML's `model: lr` + `dataset: mnist`, a YAML's `arch.type: resnet18`
// + `dataset: cifar10`) are recognised, materialised into the cache as ONNX, and analysed by the audit with no model
// file in the repository; the finding says the model ran at initialisation.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { linkConfig, discoverWorkspace } from '../../../server/src/workspace/discover';
import { materialiseModel } from '../../../server/src/models/materialise';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { auditPaths } from '../../../server/src/analysis/audit';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';

const FIXTURES = join(__dirname, '../../fixtures/catalogue');

function setupOf(file: string): TrainingSetup {
  const r = readTrainingConfig(file, readFileSync(file, 'utf8'));
  assert.ok(r && !('kind' in r), `${file} is recognised as a training config`);
  return r as TrainingSetup;
}

test("FedML's fedml_config.yaml (model: lr, dataset: mnist) names the catalogue's lr for mnist", () => {
  const file = join(FIXTURES, 'fedml-mnist-lr/fedml_config.yaml');
  const setup = setupOf(file);
  assert.equal(setup.architecture?.value, 'lr');
  assert.equal(setup.architecture?.key, 'model_args.model');
  assert.equal(setup.dataset?.value, 'mnist');
  const config = linkConfig(file, setup);
  assert.equal(config.model, undefined);
  assert.deepEqual(config.modelRef, { kind: 'catalogue', name: 'lr', dataset: 'mnist' });
});

test('arch.type: resnet18 with dataset: cifar10 and args.num_classes: 10', () => {
  const file = join(FIXTURES, 'resnet18-cifar10/config.yaml');
  const config = linkConfig(file, setupOf(file));
  assert.deepEqual(config.modelRef, { kind: 'catalogue', name: 'resnet18', dataset: 'cifar10', classes: 10 });
});

test('an i2f: section shapes an architecture explicitly; a name outside the catalogue is no architecture', () => {
  const file = '/w/train.yaml';
  const setup = readTrainingConfig(file, 'batch_size: 8\nmodel: my_custom_net\ni2f:\n  model: mobilenet_v2\n  input-shape: [3, 64, 64]\n  classes: 200\n') as TrainingSetup;
  assert.deepEqual(linkConfig(file, setup).modelRef, { kind: 'catalogue', name: 'mobilenet_v2', inputShape: [3, 64, 64], classes: 200 });
  const other = readTrainingConfig(file, 'batch_size: 8\nmodel: my_custom_net\ndataset: cifar10\n') as TrainingSetup;
  assert.equal(linkConfig(file, other).modelRef, undefined);
  // An architecture and a dataset alone make a training config; an architecture alone does not.
  assert.ok(readTrainingConfig(file, 'model: resnet50\ndataset: imagenet\n'));
  assert.equal(readTrainingConfig(file, 'model: resnet50\n'), null);
});

test('materialised once into the cache: θ named and shaped as named_parameters, the same file on the second call', async () => {
  const cacheDir = mkdtempSync(join(tmpdir(), 'i2f-catalogue-'));
  const first = await materialiseModel({ kind: 'catalogue', name: 'resnet18', dataset: 'cifar10' }, { cacheDir });
  assert.equal(first.written, true);
  const again = await materialiseModel({ kind: 'catalogue', name: 'ResNet-18', dataset: 'CIFAR-10' }, { cacheDir });
  assert.equal(again.path, first.path);
  assert.equal(again.written, false);
  const model = await OnnxModel.open(first.path);
  assert.equal(model.parameterCount, 11_181_642); // sum(p.numel() for p in torchvision.models.resnet18(num_classes=10).parameters())
  assert.deepEqual(model.sampleDims, [3, 32, 32]);
  assert.equal(model.trainable[0], 'conv1.weight');
  assert.ok(!model.trainable.includes('bn1.running_mean'));
  // After Opacus' ModuleValidator.fix: its own file, GroupNorm where BatchNorm was (same θ, no running statistics).
  const gn = await materialiseModel({ kind: 'catalogue', name: 'resnet18', dataset: 'cifar10', normalisation: 'groupnorm' }, { cacheDir });
  assert.notEqual(gn.path, first.path);
  assert.match(gn.description, /each BatchNorm replaced by GroupNorm\(gcd\(32, C\), C\) as Opacus' ModuleValidator\.fix does/);
  const gnModel = await OnnxModel.open(gn.path);
  assert.equal(gnModel.parameterCount, 11_181_642);
  assert.ok(!gnModel.model.graph.nodes.some((n) => n.opType === 'BatchNormalization'));
  assert.ok(!gnModel.model.graph.initializers.has('bn1.running_mean'));
  await assert.rejects(materialiseModel({ kind: 'catalogue', name: 'resnet18' }, { cacheDir }), /needs an input shape and a class count/);
  await assert.rejects(materialiseModel({ kind: 'catalogue', name: 'cnn', dataset: 'cifar10' }, { cacheDir }), /28×28 one-channel/);
});

test("the audit analyses FedML's lr config with no model file, at initialisation, and says so", async () => {
  const root = join(FIXTURES, 'fedml-mnist-lr');
  const scan = await discoverWorkspace(root);
  assert.equal(scan.models.length, 0);
  const run = await auditPaths([root], { noCache: true, cacheDir: mkdtempSync(join(tmpdir(), 'i2f-catalogue-')) });
  const [outcome] = run.roots[0].configs;
  assert.equal(outcome.status, 'analysed', outcome.reason);
  const leak = outcome.findings.find((f) => f.code === 'I2F001')!;
  assert.ok(leak, 'an I2F001 finding');
  assert.match(leak.message, /Model: lr \(fedml\.model\.linear\.lr\.LogisticRegression\) for mnist: input \[1, 28, 28\], 10 classes, at initialisation \(the paper's setting, where leakage is largest\)/);
  assert.equal(leak.range.start.line, outcome.config!.setup.batchSize?.keyRange.start.line ?? leak.range.start.line);
  const b = outcome.report!.results[0];
  assert.ok(Number.isFinite(b.psnr) || b.psnr === Infinity);
  assert.equal(outcome.report!.model.parameters, 784 * 10 + 10);
});

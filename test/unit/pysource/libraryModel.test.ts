// Models a script builds from torchvision by name (pysource/libraryModel.ts): read from Opacus' own image-classifier
// tutorial as published (test/fixtures/upstream-python/pytorch+opacus/tutorials/, its code cells joined as Jupyter runs
// them), then the reading rules one by one on short scripts: what changes the model after it is built, the classes a
// new `fc` sets, the size the transforms end with, pretrained weights, `self.model`, and input that cannot be read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';
import { linkConfig } from '../../../server/src/workspace/discover';
import { RULES } from '../../../server/src/config/ruleCatalog';

const TUTORIAL = join(__dirname, '../../fixtures/upstream-python/pytorch+opacus/tutorials/building_image_classifier.ipynb');

function notebookCode(path: string): string {
  const nb = JSON.parse(readFileSync(path, 'utf8')) as { cells: { cell_type: string; source: string[] | string }[] };
  return nb.cells.filter((c) => c.cell_type === 'code').map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source)).join('\n');
}

function summaryOf(setup: { problems: { rule: string; message: string }[] } | null): string {
  return setup?.problems.find((p) => p.rule === RULES.dpInCode.code)?.message ?? '';
}

test("Opacus' image-classifier tutorial: resnet18 made GroupNorm by ModuleValidator.fix, on CIFAR10, is the catalogue's model", async () => {
  const file = '/snapshot/pytorch/opacus/tutorials/building_image_classifier.py';
  const r = await readPythonFile(file, notebookCode(TUTORIAL));
  assert.ok(r.setup);
  assert.equal(r.setup.architecture?.value, 'resnet18');
  assert.equal(r.setup.normalisation?.value, 'groupnorm');
  assert.equal(r.setup.dataset?.value, 'CIFAR10');
  assert.equal(r.setup.classes?.value, 10, 'num_classes=10');
  assert.equal(r.setup.inputShape, undefined, "CIFAR10's own [3, 32, 32]");
  assert.equal(r.setup.clippingNorm?.value, 1.2);
  assert.equal(r.setup.pythonModel, undefined, 'no Python runs for a torchvision builder');
  assert.match(summaryOf(r.setup), /`models\.resnet18` \(torchvision's resnet18, its BatchNorms made GroupNorm\(gcd\(32, C\), C\) by `ModuleValidator\.fix\(model\)`\) at \[3, 32, 32\] \(CIFAR10's\), 10 classes/);
  // The audit and the server then materialise it from the catalogue with GroupNorm.
  const linked = linkConfig(file, r.setup);
  assert.deepEqual(linked.modelRef, { kind: 'catalogue', name: 'resnet18', dataset: 'CIFAR10', classes: 10, normalisation: 'groupnorm' });
});

const HEAD = `import torch
import torch.nn as nn
import torchvision
from torchvision import datasets, transforms
from opacus import PrivacyEngine
`;

async function read(body: string) {
  const r = await readPythonFile('/work/train.py', HEAD + body);
  assert.ok(r.setup);
  return { setup: r.setup, summary: summaryOf(r.setup) };
}

const DP = `
engine = PrivacyEngine()
model, optimizer, loader = engine.make_private(module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=1.0, max_grad_norm=1.0)
`;

test('a layer replaced after building: not the catalogue model, said with the line', async () => {
  const { setup, summary } = await read(`
loader = torch.utils.data.DataLoader(datasets.MNIST("d", transform=transforms.ToTensor()), batch_size=8)
model = torchvision.models.resnet18(num_classes=10)
model.conv1 = nn.Conv2d(1, 64, kernel_size=3, stride=1, padding=1, bias=False)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
${DP}`);
  assert.equal(setup.architecture, undefined);
  assert.match(summary, /`model\.conv1 = nn\.Conv2d\(1, 64, [^`]*…` \(line 9\) changes the model after it is built: the catalogue's resnet18 is not what it trains, so it is not analysed/);
  // The audit's "not analysed" line and its fix (a standalone script has no config to name the model in).
  assert.match(setup.pythonModelProblem?.reason ?? '', /changes the model after it is built/);
  assert.match(setup.pythonModelProblem?.fix ?? '', /class or builder function defined in the script/);
});

test('a new fc only sets the classes; Resize then CenterCrop sets the size; pretrained weights are said', async () => {
  const { setup, summary } = await read(`
tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])
loader = torch.utils.data.DataLoader(datasets.CIFAR10("d", transform=tf), batch_size=8)
model = torchvision.models.resnet50(weights=torchvision.models.ResNet50_Weights.DEFAULT)
model.fc = nn.Linear(2048, 7)
model = model.to("cpu")
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
${DP}`);
  assert.equal(setup.architecture?.value, 'resnet50');
  assert.equal(setup.classes?.value, 7);
  assert.deepEqual(setup.inputShape?.value, [3, 224, 224]);
  assert.equal(setup.normalisation, undefined, 'BatchNorm kept (and flagged by I2F106 once analysed)');
  assert.match(summary, /at \[3, 224, 224\] \(the size its transforms end with\), 7 classes/);
  assert.match(summary, /`weights=torchvision\.models\.ResNet50_Weights\.DEFAULT` loads pretrained weights: the analysis is of the architecture at initialisation, not of those weights/);
});

test('self.model through ModuleValidator.fix and .to(device), as a class builds it', async () => {
  const { setup } = await read(`
from opacus.validators.module_validator import ModuleValidator
class Trainer:
    def __init__(self, device):
        self.model = torchvision.models.resnet34(num_classes=100)
        self.model = ModuleValidator.fix(self.model)
        self.model = self.model.to(device)
        self.loader = torch.utils.data.DataLoader(datasets.CIFAR100("d"), batch_size=4)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.engine = PrivacyEngine()
        self.model, self.optimizer, _ = self.engine.make_private(module=self.model, optimizer=self.optimizer, data_loader=self.loader, noise_multiplier=0.5, max_grad_norm=1.0)
`);
  assert.equal(setup.architecture?.value, 'resnet34');
  assert.equal(setup.normalisation?.value, 'groupnorm');
  assert.equal(setup.dataset?.value, 'CIFAR100');
});

test('input that cannot be read (no torchvision dataset, no resize) or several datasets none of which the DP loader is known to sample: not analysed, with the reason', async () => {
  const none = await read(`
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(64, 3, 32, 32), torch.zeros(64)), batch_size=8)
model = torchvision.models.resnet18(num_classes=10)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
${DP}`);
  assert.equal(none.setup.architecture, undefined);
  assert.match(none.summary, /its input cannot be read \(no torchvision dataset or resizing transform says the input size and classes\), so it is not analysed/);
  assert.match(none.setup.pythonModelProblem?.fix ?? '', /one torchvision dataset class/);
  // The DP loader samples a Subset: which of the two datasets it is not read, so neither answers.
  const two = await read(`
a = datasets.CIFAR10("d")
b = datasets.SVHN("d")
loader = torch.utils.data.DataLoader(torch.utils.data.Subset(a, range(100)), batch_size=8)
model = torchvision.models.resnet18(num_classes=10)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
${DP}`);
  assert.equal(two.setup.architecture, undefined);
  assert.match(two.summary, /the file loads several datasets \(CIFAR10, SVHN\)/);
});

test("several datasets, but the DP call's DataLoader samples one (trainingData.ts reads it for ε): that one's input size answers", async () => {
  // MNIST for a demo, CIFAR10 to train: before, refused as "several datasets"; the DP loader's CIFAR10 is the input.
  const r = await read(`
demo = datasets.MNIST("d", train=False)
train_set = datasets.CIFAR10("d", train=True)
loader = torch.utils.data.DataLoader(train_set, batch_size=8)
model = torchvision.models.resnet18(num_classes=10)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
${DP}`);
  assert.equal(r.setup.architecture?.value, 'resnet18');
  assert.equal(r.setup.dataset?.value, 'CIFAR10');
  assert.equal(r.setup.datasetSize?.value, 50000);
  assert.match(r.summary, /at \[3, 32, 32\] \(CIFAR10's\), 10 classes/);
  // The grey demo set would have made it [3, 28, 28]: MNIST's.
  assert.equal(r.setup.inputShape, undefined, "CIFAR10's own [3, 32, 32]");
});

test('a builder the catalogue lacks, or not from torchvision, is not taken for one', async () => {
  const timm = await read(`
import timm
loader = torch.utils.data.DataLoader(datasets.CIFAR10("d"), batch_size=8)
model = timm.create_model("resnet18", num_classes=10)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
${DP}`);
  assert.equal(timm.setup.architecture, undefined);
  const unknown = await read(`
loader = torch.utils.data.DataLoader(datasets.CIFAR10("d"), batch_size=8)
model = torchvision.models.convnext_tiny(num_classes=10)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
${DP}`);
  assert.equal(unknown.setup.architecture, undefined);
});

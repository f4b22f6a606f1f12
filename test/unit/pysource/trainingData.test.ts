// N, the training set size, read from a standalone script (pysource/trainingData.ts): the DataLoader its DP call
// trains on, followed to a torchvision dataset's training split (models/catalogue/datasetSizes.ts). Read on Opacus'
// own examples and image-classifier tutorial as published (test/fixtures/upstream-python/pytorch+opacus), then the
// rules one by one on short scripts: the split arguments, and every dataset whose size is not read, with its reason.
// The accounting hint of a standalone script (I2F134) names what the script does not give, never an i2f: section.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';
import { privacyAccount, privacyHoverLines } from '../../../server/src/analysis/privacyAccount';
import { privacyJson } from '../../../server/src/analysis/report/json';
import { privacyFindings } from '../../../server/src/analysis/privacyFindings';
import { RULES } from '../../../server/src/config/ruleCatalog';

const OPACUS = join(__dirname, '../../fixtures/upstream-python/pytorch+opacus');

function notebookCode(path: string): string {
  const nb = JSON.parse(readFileSync(path, 'utf8')) as { cells: { cell_type: string; source: string[] | string }[] };
  return nb.cells.filter((c) => c.cell_type === 'code').map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source)).join('\n');
}

async function example(name: string) {
  const file = join(OPACUS, 'examples', name);
  const r = await readPythonFile(file, readFileSync(file, 'utf8'));
  assert.ok(r.setup, name);
  return r.setup;
}

function hintOf(setup: NonNullable<Awaited<ReturnType<typeof example>>>): string | undefined {
  return privacyFindings(privacyAccount(setup), setup.file, 10).find((f) => f.code === RULES.accountingInputMissing.code)?.message;
}

test("Opacus' mnist.py: N = 60 000 from datasets.MNIST(train=True) inside the DataLoader passed as data_loader=", async () => {
  const s = await example('mnist.py');
  assert.equal(s.datasetSize?.value, 60000);
  assert.equal(s.datasetSize?.valueRange.start.line + 1, 213, 'on the datasets.MNIST( call');
  assert.match(s.datasetSize?.fromCode?.source.label ?? '', /^MNIST's train split \(train=True, line 215\)$/);
  assert.equal(s.batchSize?.value, 64);
  assert.deepEqual(s.scriptAccounting && Object.keys(s.scriptAccounting).includes('datasetSize'), false);
});

test("Opacus' image-classifier tutorial: N = 50 000 from CIFAR10(train=True) bound to train_dataset; its epochs from make_private_with_epsilon", async () => {
  const r = await readPythonFile('/snapshot/opacus/tutorials/building_image_classifier.py', notebookCode(join(OPACUS, 'tutorials', 'building_image_classifier.ipynb')));
  assert.ok(r.setup);
  assert.equal(r.setup.datasetSize?.value, 50000);
  assert.match(r.setup.datasetSize?.key ?? '', /^CIFAR10 train split$/);
  assert.equal(r.setup.epochs?.value, 20, 'EPOCHS = 20 passed as epochs=');
  assert.equal(r.setup.batchSize?.value, 512);
  assert.equal(r.setup.targetEpsilon?.value, 50);
  // σ is chosen at run time from target_epsilon: nothing to account, no hint.
  assert.equal(privacyAccount(r.setup), undefined);
});

test("Opacus' char-lstm-classification.py: random_split's part is not read, and the hint says so without an i2f: section", async () => {
  const s = await example('char-lstm-classification.py');
  assert.equal(s.datasetSize, undefined);
  const hint = hintOf(s);
  assert.ok(hint);
  assert.match(hint, /the training set size N \(examples\): the DataLoader's dataset `train_ds` is one part of `torch\.utils\.data\.random_split\(.*\(line 390\), which splits the dataset/);
  assert.match(hint, /To see it: pass the DataLoader a torchvision dataset loaded with its training split/);
  assert.doesNotMatch(hint, /i2f|section/);
  // The hover and the audit's JSON say the same: what the script does not give, why, and what would.
  const report = privacyAccount(s)!.report;
  const hover = privacyHoverLines(report).join('\n');
  assert.match(hover, /not computed, example-level .*: the script does not give the training set size N \(examples\): the DataLoader's dataset `train_ds`/);
  assert.doesNotMatch(hover, /i2f|section|```/);
  const json = privacyJson(report);
  assert.equal(json.status, 'missing');
  if (json.status === 'missing') {
    assert.deepEqual(json.missing.map((m) => m.key), ['dataset-size']);
    assert.match(json.missing[0].reason ?? '', /random_split/);
    assert.match(json.missing[0].fix ?? '', /torchvision dataset loaded with its training split/);
  }
});

test("Opacus' imdb.py and mnist_lightning.py: a Hugging Face split and a loader built elsewhere are not read, each said", async () => {
  assert.match(hintOf(await example('imdb.py')) ?? '', /the DataLoader's dataset `dataset\["train"\]` \(line 246\) was not traced to the call that builds it/);
  const lightning = hintOf(await example('mnist_lightning.py')) ?? '';
  assert.match(lightning, /`data_loader=data_loader` \(line 114\) was not traced to a `DataLoader\(…\)` call in this script/);
  assert.doesNotMatch(lightning, /i2f|section/);
});

const HEAD = `import torch
from torch.utils.data import DataLoader, Subset, TensorDataset
from torchvision import datasets
from torchvision.datasets import SVHN, STL10, EMNIST, ImageFolder
from opacus import PrivacyEngine
`;

async function size(dataset: string, extra = '') {
  const text = `${HEAD}${extra}
train_set = ${dataset}
loader = DataLoader(train_set, batch_size=32)
model, optimizer, loader = PrivacyEngine().make_private(module=model, optimizer=opt, data_loader=loader, noise_multiplier=1.0, max_grad_norm=1.0)
`;
  const r = await readPythonFile('/work/train.py', text);
  assert.ok(r.setup);
  return { n: r.setup.datasetSize?.value, unread: r.setup.scriptAccounting?.datasetSize?.reason, hint: hintOf(r.setup) };
}

test('the split arguments: train flag absent, True or a flag default; SVHN/STL10/EMNIST splits', async () => {
  assert.equal((await size('datasets.FashionMNIST("data")')).n, 60000);
  assert.equal((await size('datasets.CIFAR100("data", True)')).n, 50000, 'train as the second positional argument');
  assert.equal((await size('datasets.KMNIST("data", train=TRAIN)', 'TRAIN = True')).n, 60000, 'a module constant');
  assert.equal((await size('SVHN("data")')).n, 73257, "SVHN's default split is train");
  assert.equal((await size('SVHN("data", split="train")')).n, 73257);
  assert.equal((await size('STL10("data", "train")')).n, 5000);
  assert.equal((await size('EMNIST("data", split="balanced", train=True)')).n, 112800);
  assert.equal((await size('EMNIST("data", split="letters")')).n, 124800);
});

test('not read, each with its reason: the test split, another split, a Subset, random_split, ImageFolder, TensorDataset', async () => {
  const cases: [string, RegExp, string?][] = [
    ['datasets.MNIST("data", train=False)', /loads MNIST's test split \(its train flag is false\)/],
    ['datasets.CIFAR10("data", train=args.train)', /CIFAR10's train flag `args\.train` \(line \d+\) is set at run time/, 'import sys\nargs = sys.argv'],
    ['SVHN("data", split="extra")', /loads SVHN's split "extra", not a training split/],
    ['SVHN("data", split="test")', /loads SVHN's split "test"/],
    ['STL10("data", folds=0)', /keeps only the fold `folds=0`/],
    ['EMNIST("data")', /names no split, which EMNIST requires/],
    ['Subset(datasets.MNIST("data"), range(1000))', /is `Subset\(datasets\.MNIST\("data"\), range\(1000\)\)` \(line \d+\), which keeps only the indices/],
    ['ImageFolder("data/train")', /torchvision's ImageFolder holds the files found in its folder at run time/],
    ['TensorDataset(x, y)', /`TensorDataset\(x, y\)` \(line \d+\), which holds tensors built at run time/],
  ];
  for (const [dataset, reason, extra] of cases) {
    const s = await size(dataset, extra);
    assert.equal(s.n, undefined, dataset);
    assert.match(s.unread ?? '', reason, dataset);
    assert.ok(s.hint?.includes(s.unread!), `${dataset}: the hint gives the reason`);
    assert.doesNotMatch(s.hint ?? '', /i2f|section/, dataset);
  }
  // random_split: the part unpacked from it.
  const text = `${HEAD}
full = datasets.MNIST("data")
train_part, val_part = torch.utils.data.random_split(full, [50000, 10000])
loader = DataLoader(train_part, batch_size=32)
PrivacyEngine().make_private(module=model, optimizer=opt, data_loader=loader, noise_multiplier=1.0, max_grad_norm=1.0)
`;
  const r = await readPythonFile('/work/train.py', text);
  assert.equal(r.setup?.datasetSize, undefined);
  assert.match(r.setup?.scriptAccounting?.datasetSize?.reason ?? '', /`train_part` is one part of `torch\.utils\.data\.random_split\(full, \[50000, 10000\]\)` \(line 8\)/);
});

test("Opacus' dcgan.py: MNIST filtered to one digit after it is built (`dataset.data = dataset.data[idx]`) is not read as 60 000", async () => {
  const s = await example('dcgan.py');
  assert.equal(s.datasetSize, undefined);
  assert.match(s.scriptAccounting?.datasetSize?.reason ?? '', /^`dataset\.targets = dataset\.targets\[idx\]` \(line 152\) changes the DataLoader's dataset `dataset` after it is built/);
  assert.equal(privacyAccount(s)?.report.status, 'missing');
  // The same on a short script, through a name bound in a function.
  const r = await size('datasets.CIFAR10("data")', '');
  assert.equal(r.n, 50000);
  const text = `${HEAD}
def main():
    train_set = datasets.CIFAR10("data")
    train_set.targets[0] = 3
    loader = DataLoader(train_set, batch_size=32)
    PrivacyEngine().make_private(module=model, optimizer=opt, data_loader=loader, noise_multiplier=1.0, max_grad_norm=1.0)
`;
  const changed = await readPythonFile('/work/train.py', text);
  assert.equal(changed.setup?.datasetSize, undefined);
  assert.match(changed.setup?.scriptAccounting?.datasetSize?.reason ?? '', /`train_set\.targets\[0\] = 3` \(line 9\) changes the DataLoader's dataset/);
});

test("a DataLoader with sampler= (its length, and so Opacus' sampling rate, is the sampler's) is not read", async () => {
  const text = `${HEAD}
train_set = datasets.MNIST("data")
loader = DataLoader(train_set, batch_size=32, sampler=torch.utils.data.SubsetRandomSampler(range(1000)))
PrivacyEngine().make_private(module=model, optimizer=opt, data_loader=loader, noise_multiplier=1.0, max_grad_norm=1.0)
`;
  const r = await readPythonFile('/work/train.py', text);
  assert.equal(r.setup?.datasetSize, undefined);
  assert.match(r.setup?.scriptAccounting?.datasetSize?.reason ?? '', /^the DataLoader's `sampler=torch\.utils\.data\.SubsetRandomSampler\(range\(1000\)\)` \(line 8\) decides how many examples an epoch draws/);
});

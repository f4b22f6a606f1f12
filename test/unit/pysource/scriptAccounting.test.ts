// A standalone DP-SGD script's privacy account, read from its code alone: N from the torchvision dataset its
// DataLoader loads (pysource/trainingData.ts), the epochs from its epoch loop (pysource/epochLoops.ts), B and σ from
// its arguments. Opacus' examples as published (test/fixtures/upstream-python/pytorch+opacus) must get the ε of the
// mpmath reference (tools/fixtures/opacus_examples_privacy.py → test/fixtures/privacy/opacus_examples_reference.json);
// then the loop rules on short scripts: several loops or values give the most epochs (the larger ε), and what is
// not read is said in the hint, with what in the script would let it be read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';
import { privacyAccount } from '../../../server/src/analysis/privacyAccount';
import { privacyFindings } from '../../../server/src/analysis/privacyFindings';
import { RULES } from '../../../server/src/config/ruleCatalog';

const OPACUS = join(__dirname, '../../fixtures/upstream-python/pytorch+opacus');
const REFERENCE = JSON.parse(readFileSync(join(__dirname, '../../fixtures/privacy/opacus_examples_reference.json'), 'utf8')) as {
  cases: { script: string; path: string; sampleRate: number; noiseMultiplier: number; steps: number; delta: number; epsilon: number; order: number }[];
};

async function example(name: string) {
  const file = name.includes('/') ? join(OPACUS, '..', name) : join(OPACUS, 'examples', name);
  const r = await readPythonFile(file, readFileSync(file, 'utf8'));
  assert.ok(r.setup, name);
  return r.setup;
}

function notebookCode(path: string): string {
  const nb = JSON.parse(readFileSync(path, 'utf8')) as { cells: { cell_type: string; source: string[] | string }[] };
  return nb.cells.filter((c) => c.cell_type === 'code').map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source)).join('\n');
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

for (const ref of REFERENCE.cases) {
  test(`Opacus' ${ref.script}: ε from the script alone equals the mpmath reference (q ${ref.sampleRate.toPrecision(4)}, ${ref.steps} steps, σ ${ref.noiseMultiplier}, δ ${ref.delta})`, async () => {
    const s = await example(ref.path);
    const account = privacyAccount(s);
    assert.ok(account, 'an account');
    const r = account.report;
    assert.equal(r.status, 'computed', JSON.stringify(r));
    if (r.status !== 'computed') return;
    assert.ok(rel(r.sampleRate, ref.sampleRate) < 1e-12, `q ${r.sampleRate}`);
    assert.equal(r.steps, ref.steps);
    assert.equal(r.noiseMultiplier, ref.noiseMultiplier);
    assert.equal(r.delta, ref.delta);
    // δ is the one the script reports its ε at: `privacy_engine.accountant.get_epsilon(delta=args.delta)`, --delta's default.
    assert.equal(r.deltaSource, 'config');
    assert.equal(s.targetDelta?.fromCode?.source.kind, 'flag-default');
    assert.match(s.targetDelta?.fromCode?.source.label ?? '', /--delta/);
    assert.ok(rel(r.epsilon, ref.epsilon) <= 1e-6, `ε ${r.epsilon} vs ${ref.epsilon}`);
    assert.equal(r.order, ref.order);
    assert.equal(privacyFindings(account, s.file, 10).filter((f) => f.code === RULES.accountingInputMissing.code).length, 0, 'no I2F134');
  });
}

test("Opacus' mnist.py: the epochs are its loop `for epoch in range(1, args.epochs + 1)` over train(), 10 from --epochs' default", async () => {
  const s = await example('mnist.py');
  assert.equal(s.epochs?.value, 10);
  assert.equal(s.epochs?.key, 'range(1, args.epochs + 1)');
  assert.equal(s.epochs?.valueRange.start.line + 1, 261);
  assert.match(s.epochs?.fromCode?.source.label ?? '', /^`for epoch in range\(1, args\.epochs \+ 1\)` \(line 261\) runs 10 times, default of --epochs \(line 13\d/);
  const account = privacyAccount(s)!;
  assert.equal(account.report.status === 'computed' && account.report.derivation.steps, '10 epochs (range(1, args.epochs + 1)) × ⌈60000 / 64⌉ = 9380');
  assert.equal(account.report.status === 'computed' && account.report.derivation.sampleRate, '64 (batch_size) / 60000 (MNIST train split)');
});

test("Opacus' image-classifier tutorial: EPOCHS = 20, both as make_private_with_epsilon's epochs= and its tqdm(range(EPOCHS)) loop", async () => {
  const r = await readPythonFile('/snapshot/opacus/tutorials/building_image_classifier.py', notebookCode(join(OPACUS, 'tutorials', 'building_image_classifier.ipynb')));
  assert.ok(r.setup);
  assert.equal(r.setup.epochs?.value, 20);
  assert.equal(r.setup.datasetSize?.value, 50000);
  assert.equal(r.setup.scriptAccounting?.epochs, undefined);
});

test("PyTorch's functorch dp_cifar10/cifar10_opacus.py: N 50 000, 90 epochs, δ from get_privacy_spent, and its batch int(sample_rate · len(train_dataset)) = 250 with len() of the training split", async () => {
  const s = await example('pytorch+pytorch/functorch/examples/dp_cifar10/cifar10_opacus.py');
  assert.equal(s.datasetSize?.value, 50000);
  assert.equal(s.epochs?.value, 90, 'range(args.start_epoch, args.epochs + 1) with --start-epoch 1, --epochs 90');
  assert.equal(s.targetDelta?.value, 1e-5, 'get_privacy_spent(delta=args.delta)');
  assert.equal(s.batchSize?.value, 250);
  assert.ok(s.batchSize?.fromCode?.steps.some((step) => /^len\(train_dataset\) = 50000, CIFAR10's train split$/.test(step)), JSON.stringify(s.batchSize?.fromCode?.steps));
});

test('a batch size set at run time: the hint says which and why', async () => {
  const text = `import sys
from torch.utils.data import DataLoader
from torchvision import datasets
from opacus import PrivacyEngine
loader = DataLoader(datasets.MNIST("data"), batch_size=int(sys.argv[1]))
model, optimizer, loader = PrivacyEngine().make_private(module=model, optimizer=opt, data_loader=loader, noise_multiplier=1.0, max_grad_norm=1.0)
for epoch in range(3):
    optimizer.step()
`;
  const r = await readPythonFile('/work/train.py', text);
  const hint = privacyFindings(privacyAccount(r.setup!), '/work/train.py', 10).find((f) => f.code === RULES.accountingInputMissing.code)?.message ?? '';
  assert.match(hint, /^ε of this DP run is not computed, as the script does not give the batch size B: the DataLoader's `batch_size=int\(sys\.argv\[1\]\)` \(line 5\) is set at run time/);
  assert.match(hint, /To see it: give the DataLoader `batch_size=` as a literal, a module constant or an argparse default\.$/);
  // len() of something that is not a torchvision training split stays unread; of one, it is its size.
  const test = await readPythonFile('/work/train.py', text.replace('int(sys.argv[1])', 'len(datasets.MNIST("data", train=False)) * 2'));
  assert.equal(test.setup?.batchSize, undefined);
  const train = await readPythonFile('/work/train.py', text.replace('int(sys.argv[1])', 'len(datasets.MNIST("data", train=True)) * 2'));
  assert.equal(train.setup?.batchSize?.value, 120000);
});

test("Opacus' fsdp_example.py: an epoch loop bounded by a parameter of a function the file never calls is not read, and the hint says which", async () => {
  const s = await example('fsdp_example.py');
  assert.equal(s.epochs, undefined);
  const hint = privacyFindings(privacyAccount(s), s.file, 10).find((f) => f.code === RULES.accountingInputMissing.code)?.message ?? '';
  assert.match(hint, /the script does not give the number of epochs: the epoch loop `for epoch in range\(1, epochs \+ 1\)` \(line 205\): `epochs \+ 1` is set at run time \(`epochs` is a parameter of launch\(\)/);
  assert.match(hint, /To see it: train in a loop `for epoch in range\(EPOCHS\)`/);
  assert.doesNotMatch(hint, /i2f|section/);
});

const HEAD = `import argparse
import torch
from torch.utils.data import DataLoader
from torchvision import datasets
from opacus import PrivacyEngine

def train(model, loader, optimizer):
    for x, y in loader:
        optimizer.zero_grad()
        model(x).sum().backward()
        optimizer.step()

loader = DataLoader(datasets.MNIST("data", train=True), batch_size=100)
`;

async function script(body: string, call = 'make_private(module=model, optimizer=opt, data_loader=loader, noise_multiplier=1.0, max_grad_norm=1.0)') {
  const r = await readPythonFile('/work/train.py', `${HEAD}model, optimizer, loader = PrivacyEngine().${call}\n${body}`);
  assert.ok(r.setup);
  const account = privacyAccount(r.setup);
  const hint = privacyFindings(account, r.setup.file, 10).find((f) => f.code === RULES.accountingInputMissing.code)?.message;
  return { setup: r.setup, report: account?.report, hint };
}

test("δ: the one Opacus' get_epsilon reports at (the largest of several); none read, 1/N rounded down", async () => {
  const loop = 'for epoch in range(2):\n    train(model, loader, optimizer)\n';
  const one = await script(`${loop}print(privacy_engine.accountant.get_epsilon(delta=1e-6))\n`);
  assert.equal(one.setup.targetDelta?.value, 1e-6);
  assert.equal(one.report?.status === 'computed' && one.report.delta, 1e-6);
  const two = await script(`${loop}DELTA = 1e-7\nprint(privacy_engine.get_epsilon(DELTA), privacy_engine.get_epsilon(delta=1e-6))\n`);
  assert.equal(two.setup.targetDelta?.value, 1e-6);
  const none = await script(loop);
  assert.equal(none.setup.targetDelta, undefined);
  assert.equal(none.report?.status === 'computed' && none.report.deltaSource, 'default');
});

test('loop forms: range(E), range(1, E + 1), a module constant, a step, tqdm and enumerate, trange; stepping directly or through the training function', async () => {
  const cases: [string, number][] = [
    ['for epoch in range(7):\n    train(model, loader, optimizer)\n', 7],
    ['EPOCHS = 4\nfor epoch in range(1, EPOCHS + 1):\n    train(model, loader, optimizer)\n', 4],
    ['for epoch in range(0, 10, 3):\n    train(model, loader, optimizer)\n', 4],
    ['from tqdm import tqdm\nfor epoch in tqdm(range(6)):\n    train(model, loader, optimizer)\n', 6],
    ['for i, epoch in enumerate(range(3)):\n    train(model, loader, optimizer)\n', 3],
    ['from tqdm import trange\nfor epoch in trange(5):\n    train(model, loader, optimizer)\n', 5],
    ['for epoch in range(2):\n    for x, y in loader:\n        optimizer.step()\n', 2],
    ['p = argparse.ArgumentParser()\np.add_argument("--num-epochs", type=int, default=12)\nargs = p.parse_args()\nfor e in range(args.num_epochs):\n    train(model, loader, optimizer)\n', 12],
  ];
  for (const [body, epochs] of cases) {
    const { setup, report } = await script(body);
    assert.equal(setup.epochs?.value, epochs, body);
    assert.equal(report?.status, 'computed', body);
    assert.equal(report?.status === 'computed' && report.steps, epochs * 600, body);
  }
});

test('several epoch loops or values: the most epochs are taken (more steps, larger ε), and said', async () => {
  const two = await script('for epoch in range(3):\n    train(model, loader, optimizer)\nfor epoch in range(8):\n    train(model, loader, optimizer)\n');
  assert.equal(two.setup.epochs?.value, 8);
  assert.equal(two.setup.epochs?.key, 'range(8), the most of 2 possible');
  assert.deepEqual(two.setup.epochs?.fromCode?.alternatives.map((a) => a.value), [3, 8]);
  assert.match(two.report?.status === 'computed' ? two.report.derivation.steps : '', /^8 epochs \(range\(8\), the most of 2 possible\) × ⌈60000 \/ 100⌉ = 4800$/);
  const cond = await script('import sys\nE = 20 if "--long" in sys.argv else 5\nfor epoch in range(E):\n    train(model, loader, optimizer)\n');
  assert.equal(cond.setup.epochs?.value, 20);
  assert.equal(cond.setup.epochs?.key, 'range(E), the most of 2 possible');
  // make_private_with_epsilon calibrates σ for its epochs=, but the loop runs longer: the loop's count is kept.
  const longer = await script('for epoch in range(9):\n    train(model, loader, optimizer)\n', 'make_private_with_epsilon(module=model, optimizer=opt, data_loader=loader, epochs=3, target_epsilon=1.0, target_delta=1e-5, max_grad_norm=1.0)');
  assert.equal(longer.setup.epochs?.value, 9);
  assert.deepEqual(longer.setup.epochs?.fromCode?.alternatives.map((a) => a.value), [9, 3]);
  const shorter = await script('for epoch in range(2):\n    train(model, loader, optimizer)\n', 'make_private_with_epsilon(module=model, optimizer=opt, data_loader=loader, epochs=3, target_epsilon=1.0, target_delta=1e-5, max_grad_norm=1.0)');
  assert.equal(shorter.setup.epochs?.value, 3);
});

test('epochs not read, each said in the hint with the fix: a run-time bound, no epoch loop, a loop that does not train', async () => {
  const runtime = await script('import sys\nfor epoch in range(int(sys.argv[1])):\n    train(model, loader, optimizer)\n');
  assert.equal(runtime.setup.epochs, undefined);
  assert.match(runtime.hint ?? '', /the number of epochs: the epoch loop `for epoch in range\(int\(sys\.argv\[1\]\)\)` \(line \d+\): `int\(sys\.argv\[1\]\)` is set at run time/);
  const none = await script('train(model, loader, optimizer)\n');
  assert.match(none.hint ?? '', /the number of epochs: no `for epoch in range\(…\)` loop that steps the optimizer/);
  // A loop over steps (not named for epochs), and an epoch loop that only evaluates: neither is an epoch loop of training.
  const steps = await script('for step in range(1000):\n    optimizer.step()\nfor epoch in range(5):\n    evaluate(model)\n');
  assert.equal(steps.setup.epochs, undefined);
  assert.match(steps.hint ?? '', /no `for epoch in range\(…\)` loop/);
  for (const h of [runtime.hint, none.hint, steps.hint]) assert.doesNotMatch(h ?? '', /i2f|section/);
  // One epoch loop read and another not: the unread one might run longer, so none is taken.
  const mixed = await script('import sys\nfor epoch in range(3):\n    train(model, loader, optimizer)\nfor epoch in range(int(sys.argv[1])):\n    train(model, loader, optimizer)\n');
  assert.equal(mixed.setup.epochs, undefined);
});

// TensorFlow Privacy's tutorials, committed unchanged: the Keras ones read N from tf.keras.datasets.mnist.load_data()'s
// training split and E, B from the `fit` on the DP model; the Estimator one its epochs from the loop over
// `mnist_classifier.train(…, steps=steps_per_epoch)`. ε against the same mpmath reference (tfprivacy_tutorials_reference.json).
const TFP = join(__dirname, '../../fixtures/upstream-python');
const TFP_REFERENCE = JSON.parse(readFileSync(join(__dirname, '../../fixtures/privacy/tfprivacy_tutorials_reference.json'), 'utf8')) as typeof REFERENCE;

for (const ref of TFP_REFERENCE.cases) {
  test(`TensorFlow Privacy's ${ref.script}: ε from the script alone equals the mpmath reference (q ${ref.sampleRate.toPrecision(4)}, ${ref.steps} steps, σ ${ref.noiseMultiplier}, δ ${ref.delta})`, async () => {
    const file = join(TFP, ref.path);
    const r = await readPythonFile(file, readFileSync(file, 'utf8'));
    assert.ok(r.setup);
    const account = privacyAccount(r.setup);
    assert.ok(account);
    const rep = account.report;
    assert.equal(rep.status, 'computed', JSON.stringify(rep));
    if (rep.status !== 'computed') return;
    assert.ok(rel(rep.sampleRate, ref.sampleRate) < 1e-12, `q ${rep.sampleRate}`);
    assert.equal(rep.steps, ref.steps);
    assert.equal(rep.noiseMultiplier, ref.noiseMultiplier);
    assert.equal(rep.delta, ref.delta);
    assert.ok(rel(rep.epsilon, ref.epsilon) <= 1e-6, `ε ${rep.epsilon} vs ${ref.epsilon}`);
    assert.equal(rep.order, ref.order);
    assert.equal(privacyFindings(account, r.setup.file, 10).filter((f) => f.code === RULES.accountingInputMissing.code).length, 0, 'no I2F134');
  });
}

test("TensorFlow Privacy's Keras tutorial: N from load_data()'s training split through load_mnist()'s return, E and B from fit on the model the DP optimizer is compiled into", async () => {
  const file = join(TFP, 'tensorflow+privacy/tutorials/mnist_dpsgd_tutorial_keras.py');
  const s = (await readPythonFile(file, readFileSync(file, 'utf8'))).setup!;
  assert.equal(s.datasetSize?.value, 60000);
  assert.equal(s.datasetSize?.valueRange.start.line + 1, 63, 'tf.keras.datasets.mnist.load_data()');
  assert.equal(s.epochs?.value, 60);
  assert.equal(s.epochs?.key, 'model.fit epochs');
  assert.ok(s.epochs?.fromCode?.steps.includes('the fit on the model the DP optimizer `optimizer` is compiled into (`model.fit`)'), JSON.stringify(s.epochs?.fromCode?.steps));
  const r0 = privacyAccount(s)!.report;
  assert.equal(r0.status === 'computed' && r0.derivation.steps, '60 epochs (model.fit epochs) × ⌈60000 / 250⌉ = 14400');
  assert.equal(s.batchSize?.value, 250);
  assert.equal(s.microbatches?.value, 250);
  const r = privacyAccount(s)!.report;
  assert.equal(r.status === 'computed' && r.derivation.sampleRate, '250 (batch_size) / 60000 (mnist train split); 250 microbatches (num_microbatches) split each batch for clipping, not for sampling');
});

test('TensorFlow Privacy tutorials that still cannot be accounted say why', async () => {
  const hint = async (name: string) => {
    const file = join(TFP, 'tensorflow+privacy/tutorials', name);
    const r = await readPythonFile(file, readFileSync(file, 'utf8'));
    return privacyFindings(privacyAccount(r.setup!), file, 10).find((f) => f.code === RULES.accountingInputMissing.code)?.message ?? '';
  };
  // lm_dpsgd trains on token windows cut from lm1b (a slice of the flattened text), movielens samples its own batches.
  const lm = await hint('lm_dpsgd_tutorial.py');
  assert.match(lm, /the training set size N \(examples\): `train_data\[:train_data_end\]` \(line 184\) keeps part of the data/);
  assert.doesNotMatch(lm, /number of epochs|batch size B/, 'its epochs (loop over train(steps=steps_per_epoch)) and batch are read');
  const movielens = await hint('movielens_tutorial.py');
  assert.match(movielens, /`train_data\[subsampling, 0\]` \(line 192\) keeps part of the data/);
  assert.match(movielens, /the batch size `len\(subsampling\)` \(line 196\) is set at run time/);
  assert.match(movielens, /the number of epochs: no Keras `model\.fit\(…\)` call was found.*; no `for epoch in range\(…\)` loop/);
  for (const h of [lm, movielens]) assert.doesNotMatch(h, /i2f|section|DataLoader it trains on/);
});

const KERAS = `import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_privacy import DPKerasSGDOptimizer
opt = DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0, num_microbatches=1, learning_rate=0.1)
model.compile(optimizer=opt, loss=loss)
`;

test('Keras data forms: tfds.load(split="train") with .batch(B), CIFAR-10 arrays, and what is not read (a slice, the test split, a split part, take())', async () => {
  const read = async (body: string) => (await readPythonFile('/work/k.py', KERAS + body)).setup!;
  const tfdsTrain = await read("ds = tfds.load('fashion_mnist', split='train', as_supervised=True)\nds = ds.shuffle(1000).batch(128)\nmodel.fit(ds, epochs=3)\n");
  assert.equal(tfdsTrain.datasetSize?.value, 60000);
  assert.equal(tfdsTrain.batchSize?.value, 128);
  assert.equal(tfdsTrain.epochs?.value, 3);
  const cifar = await read('(x, y), (xt, yt) = tf.keras.datasets.cifar10.load_data()\nmodel.fit(x / 255.0, y, epochs=2, batch_size=100)\n');
  assert.equal(cifar.datasetSize?.value, 50000);
  const cifarReport = privacyAccount(cifar)?.report;
  assert.equal(cifarReport?.status === 'computed' && cifarReport.steps, 1000);
  const cases: [string, RegExp][] = [
    ['(x, y), _ = tf.keras.datasets.mnist.load_data()\nmodel.fit(x[:1000], y[:1000], epochs=2, batch_size=100)\n', /keeps part of the data/],
    ['_, (xt, yt) = tf.keras.datasets.mnist.load_data()\nmodel.fit(xt, yt, epochs=2, batch_size=100)\n', /the test split of/],
    ["ds = tfds.load('mnist', split='train[:10%]').batch(10)\nmodel.fit(ds, epochs=2)\n", /reads the split 'train\[:10%\]', not the whole training split/],
    ["ds = tfds.load('mnist', split='train').take(500).batch(10)\nmodel.fit(ds, epochs=2)\n", /keeps only its first examples/],
    ["ds = tfds.load('imdb_reviews', split='train').batch(10)\nmodel.fit(ds, epochs=2)\n", /loads 'imdb_reviews', not a dataset whose training split size I²F knows/],
  ];
  for (const [body, why] of cases) {
    const s = await read(body);
    assert.equal(s.datasetSize, undefined, body);
    assert.match(s.scriptAccounting?.datasetSize?.reason ?? '', why, body);
  }
});

test('Keras fit: several epochs or batch values give the most epochs and, for ε, the largest batch; the inversion analysis keeps the smallest', async () => {
  const s = (await readPythonFile('/work/k.py', `${KERAS}import sys\nE = 9 if sys.argv[1] else 4\nB = 64 if sys.argv[2] else 256\n(x, y), _ = tf.keras.datasets.mnist.load_data()\nmodel.fit(x, y, epochs=E, batch_size=B)\n`)).setup!;
  assert.equal(s.epochs?.value, 9);
  // The accountant takes the largest batch (the larger ε); the inversion analysis the smallest (the easier attack).
  assert.equal(s.accountingBatchSize?.value, 256);
  assert.equal(s.batchSize?.value, 64);
  const q = privacyAccount(s)?.report;
  assert.ok(q && 'sampleRate' in q, 'ε is computed');
  assert.match(JSON.stringify(q), /256 \(batch_size, the largest it may be\) \/ 60000/);
});

test("an Estimator's train() counts as an epoch only with steps= an epoch's steps (without it, it runs until its input_fn ends: maybe every epoch at once)", async () => {
  const base = `import tensorflow as tf
from tensorflow_privacy import DPGradientDescentGaussianOptimizer
opt = DPGradientDescentGaussianOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0, num_microbatches=1)
(x, y), _ = tf.keras.datasets.mnist.load_data()
est = tf.estimator.Estimator(model_fn=model_fn)
train_input_fn = tf.compat.v1.estimator.inputs.numpy_input_fn(x={'x': x}, y=y, batch_size=100, num_epochs=5)
steps_per_epoch = 60000 // 100
for epoch in range(5):
`;
  const counted = (await readPythonFile('/work/e.py', `${base}    est.train(input_fn=train_input_fn, steps=steps_per_epoch)\n`)).setup!;
  assert.equal(counted.epochs?.value, 5);
  assert.equal(counted.datasetSize?.value, 60000);
  assert.equal(counted.batchSize?.value, 100);
  const whole = (await readPythonFile('/work/e.py', `${base}    est.train(input_fn=train_input_fn)\n`)).setup!;
  assert.equal(whole.epochs, undefined);
});

// The import-safety rule (server/src/pysource/importSafety.ts) and what the Python reader makes of a standalone
// script's model: on Opacus' own examples and a public script that trains at import (committed unchanged under
// test/fixtures/upstream-python/, sources in its README), then on small cases for each clause of the rule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importHazard, type ImportHazard } from '../../../server/src/pysource/importSafety';
import { parsePython, pythonParser } from '../../../server/src/pysource/pythonParser';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';

const UPSTREAM = join(__dirname, '../../fixtures/upstream-python');
const OPACUS = join(UPSTREAM, 'pytorch+opacus', 'examples');
const NO_GUARD = join(UPSTREAM, 't1ffanyc+inseparable-six', 'inseparable_six', 'train_mnist_dp.py');

async function hazardOf(file: string, text = readFileSync(file, 'utf8')): Promise<ImportHazard | undefined> {
  const parsed = parsePython(await pythonParser(), text);
  assert.equal(parsed.kind, 'tree');
  if (parsed.kind !== 'tree') return undefined;
  try {
    return importHazard(file, parsed.tree.rootNode);
  } finally {
    parsed.tree.delete();
  }
}

/** A script in a fresh folder (with the modules beside it), its hazard. */
async function scriptHazard(source: string, beside: Record<string, string> = {}): Promise<ImportHazard | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-import-safety-'));
  for (const [name, text] of Object.entries(beside)) writeFileSync(join(dir, name), text);
  const file = join(dir, 'train.py');
  writeFileSync(file, source);
  return hazardOf(file, source);
}

test("Opacus' guarded examples may be imported: their top level only defines things and declares flags", async () => {
  for (const name of ['mnist.py', 'cifar10.py', 'imdb.py', 'char-lstm-classification.py', 'mnist_lightning.py']) {
    assert.equal(await hazardOf(join(OPACUS, name)), undefined, name);
  }
});

test("Opacus' dcgan.py and fsdp_example.py, and a public script without a main guard, are refused at the line that would run", async () => {
  const dcgan = await hazardOf(join(OPACUS, 'dcgan.py'));
  // dcgan.py parses its flags at the top level and --data-root is required: with only the script's name it exits.
  assert.deepEqual(dcgan && { what: dcgan.what, line: dcgan.line + 1 }, { what: 'parser.parse_args()', line: 123 });
  assert.match(dcgan!.why, /`--data-root` is required/);
  const fsdp = await hazardOf(join(OPACUS, 'fsdp_example.py'));
  assert.deepEqual(fsdp && { what: fsdp.what, line: fsdp.line + 1 }, { what: 'datasets.MNIST()', line: 80 });
  assert.match(fsdp!.why, /download=True/);
  const script = await hazardOf(NO_GUARD);
  assert.deepEqual(script && { what: script.what, line: script.line + 1 }, { what: 'datasets.MNIST()', line: 15 });
});

test('the public script without a main guard is still refused once its download is removed: make_private, then its training loop', async () => {
  const text = readFileSync(NO_GUARD, 'utf8');
  const noDownload = text.replace('download=True', 'download=False');
  const h0 = await hazardOf(NO_GUARD, noDownload);
  assert.deepEqual(h0 && { what: h0.what, line: h0.line + 1 }, { what: 'Net()', line: 33 });
  assert.match(h0!.why, /it calls Net, a class defined in this file \(line 21\)/);
  const noBuild = noDownload.replace('model = Net()', 'model = None');
  const h1 = await hazardOf(NO_GUARD, noBuild);
  assert.equal(h1?.what, 'privacy_engine.make_private()');
  assert.match(h1!.why, /trains or launches training/);
  // Without the DP call as well (lines kept), the `for epoch` loop is what would train.
  const noCall = noBuild.replace('privacy_engine.make_private(', 'dict(');
  const h2 = await hazardOf(NO_GUARD, noCall);
  assert.deepEqual(h2 && { what: h2.what, line: h2.line + 1 }, { what: 'for epoch in range(num_epochs)', line: 56 });
});

test('the reader: a standalone script gets a factory from its own folder, its literal arguments, or the located reason it is not built', async () => {
  const read = async (file: string) => (await readPythonFile(file, readFileSync(file, 'utf8'))).setup!;
  const mnist = await read(join(OPACUS, 'mnist.py'));
  assert.equal(mnist.pythonModel?.value, 'mnist:SampleConvNet');
  assert.equal(mnist.pythonModelRoot, OPACUS);
  assert.equal(mnist.pythonModelArgs, undefined);
  // A builder function with a literal argument.
  const cifar = await read(join(OPACUS, 'cifar10.py'));
  assert.equal(cifar.pythonModel?.value, 'cifar10:convnet');
  assert.deepEqual(cifar.pythonModelArgs, { positional: [], keyword: { num_classes: 10 } });
  assert.match(cifar.problems.find((p) => p.rule === 'I2F140')!.message, /Model: `cifar10:convnet\(num_classes=10\)` \(cifar10\.py\), built by the workspace's Python/);
  const imdb = await read(join(OPACUS, 'imdb.py'));
  assert.equal(imdb.pythonModel, undefined);
  assert.match(imdb.pythonModelProblem!.reason, /SampleNet constructor's argument `vocab_size` = `len\(tokenizer\)` \(line 267\) is set at run time/);
  const lstm = await read(join(OPACUS, 'char-lstm-classification.py'));
  assert.match(lstm.pythonModelProblem!.reason, /CharNNClassifier constructor's argument 1 = `rnn_type` \(line 404\) is set at run time/);
  // dcgan.py must not be imported (parse_args() exits on the required --data-root), so Discriminator is built from its
  // definitions: ndf (`int(opt.ndf)`) and nc (set inside the try that downloads MNIST) are written as the values read.
  const dcgan = await read(join(OPACUS, 'dcgan.py'));
  assert.equal(dcgan.pythonModelProblem, undefined);
  assert.equal(dcgan.pythonModel?.value, 'dcgan:Discriminator');
  assert.deepEqual(dcgan.pythonModelArgs, { positional: [1], keyword: {} });
  assert.match(dcgan.pythonModelFromDefinitions!.note, /^built from dcgan\.py's imports and the definitions Discriminator needs \(Discriminator, ndf, nc\) without running its top level \(which would run `parser\.parse_args\(\)`, line 123: `--data-root` is required/);
  assert.match(dcgan.pythonModelFromDefinitions!.note, /nc = 1 read from `1` \(line 154\), ndf = 128 read from `int\(opt\.ndf\)` \(line 168\), default of --ndf \(line 51/);
  assert.match(dcgan.problems.find((p) => p.rule === 'I2F140')!.message, /Model: `dcgan:Discriminator\(1\)` \(dcgan\.py\), built by the workspace's Python through the export bridge and analysed under these values; it is built from dcgan\.py's imports/);
  // `module=self` in a LightningModule's method: the class itself, built with its constructor's defaults.
  const lightning = await read(join(OPACUS, 'mnist_lightning.py'));
  assert.equal(lightning.pythonModel?.value, 'mnist_lightning:LitSampleConvNetClassifier');
  assert.equal(lightning.pythonModelArgs, undefined);
  // The public script that trains at import: Net needs only torch's imports.
  const noGuard = await read(NO_GUARD);
  assert.equal(noGuard.pythonModel?.value, 'train_mnist_dp:Net');
  assert.match(noGuard.pythonModelFromDefinitions!.note, /^built from train_mnist_dp\.py's imports and the definitions Net needs \(Net\) without running its top level \(which would run `datasets\.MNIST\(\)`, line 15: it downloads a dataset/);
});

test('the reader: a script whose name is not a module name is loaded by path; a model in a module beside it is imported from there, checked too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-standalone-'));
  const dp = 'from opacus import PrivacyEngine\n';
  const call = 'def main():\n    model = Net(hidden=HIDDEN)\n    engine = PrivacyEngine()\n    engine.make_private(module=model, optimizer=None, data_loader=None, noise_multiplier=0.8, max_grad_norm=1.0)\n';
  const net = 'import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, hidden=8):\n        super().__init__()\n        self.fc = nn.Linear(4, hidden)\n';
  writeFileSync(join(dir, 'dp-train.py'), `${dp}${net}\nHIDDEN = 16\n\n${call}\nif __name__ == "__main__":\n    main()\n`);
  const byPath = (await readPythonFile(join(dir, 'dp-train.py'), readFileSync(join(dir, 'dp-train.py'), 'utf8'))).setup!;
  assert.equal(byPath.pythonModel?.value, 'dp-train.py:Net');
  assert.deepEqual(byPath.pythonModelArgs, { positional: [], keyword: { hidden: 16 } });

  writeFileSync(join(dir, 'models.py'), net);
  writeFileSync(join(dir, 'train.py'), `${dp}from models import Net\nHIDDEN = 4\n\n${call}\nmain()\n`);
  const beside = (await readPythonFile(join(dir, 'train.py'), readFileSync(join(dir, 'train.py'), 'utf8'))).setup!;
  // The script itself trains at import, but the bridge imports models.py, whose top level only defines Net.
  assert.equal(beside.pythonModel?.value, 'models:Net');
  assert.deepEqual(beside.pythonModelArgs, { positional: [], keyword: { hidden: 4 } });
  writeFileSync(join(dir, 'models.py'), `${net}\nfor _ in range(3):\n    pass\n`);
  const unsafe = (await readPythonFile(join(dir, 'train.py'), readFileSync(join(dir, 'train.py'), 'utf8'))).setup!;
  assert.equal(unsafe.pythonModel, undefined);
  assert.match(unsafe.pythonModelProblem!.reason, /^importing models\.py would run `for _ in range\(3\)` \(line 8: a top-level `for` block runs at import\)/);
  // A model the call's argument does not lead to a class or function of the script: said, with the fix that exists.
  writeFileSync(join(dir, 'zoo.py'), `${dp}import timm\n\ndef main():\n    model = timm.create_model("vit_tiny_patch16_224")\n    PrivacyEngine().make_private(module=model, noise_multiplier=1.0, max_grad_norm=1.0)\n`);
  const zoo = (await readPythonFile(join(dir, 'zoo.py'), readFileSync(join(dir, 'zoo.py'), 'utf8'))).setup!;
  assert.equal(zoo.pythonModel, undefined);
  assert.match(zoo.pythonModelProblem!.reason, /^`module=model` \(line 6\) was not traced to a class or builder function defined in this script or a module beside it/);
  assert.match(zoo.pythonModelProblem!.fix, /or export it with torch\.onnx\.export into the script's folder: the only model file in a script's folder is analysed with it/);
});

test('the rule, clause by clause', async () => {
  const line = (h: ImportHazard | undefined) => (h ? `${h.what} @${h.line + 1}` : undefined);
  // Library calls, assignments, flags with defaults, a top-level parse_args(): importable.
  const library = [
    'import argparse, logging, warnings',
    'import torch',
    'logging.basicConfig(level=logging.INFO)',
    'warnings.simplefilter("ignore")',
    'torch.manual_seed(0)',
    'parser = argparse.ArgumentParser()',
    'parser.add_argument("--sigma", type=float, default=1.0)',
    'args = parser.parse_args()',
    'device = torch.device("cpu")',
    'square = lambda x: main(x)',
    'def main():\n    train()',
    'def train():\n    pass',
    'class Net(torch.nn.Module):\n    pass',
  ].join('\n');
  assert.equal(await scriptHazard(`${library}\nif __name__ == "__main__":\n    main()\n`), undefined);
  assert.equal(await scriptHazard(`${library}\nif "__main__" == __name__:\n    main()\n`), undefined);
  // A call to a function defined in the file, at the top level or in any block that runs at import.
  const unguarded = await scriptHazard(`${library}\nmain()\n`);
  assert.equal(line(unguarded), 'main() @17');
  assert.match(unguarded!.why, /it calls main, a function defined in this file \(line 11\)/);
  assert.equal(line(await scriptHazard(`${library}\ntry:\n    model = Net()\nexcept Exception:\n    pass\n`)), 'Net() @18');
  assert.equal(line(await scriptHazard(`${library}\nif __name__ == "__main__":\n    pass\nelse:\n    train()\n`)), 'train() @20');
  assert.equal(line(await scriptHazard(`${library}\nif args.sigma > 0:\n    main()\n`)), 'main() @18');
  assert.equal(line(await scriptHazard(`${library}\nresult = [main() for _ in range(2)]\n`)), 'main() @17');
  // Loops and with-blocks; training methods on any object; a download; a required flag with parse_args().
  assert.equal(line(await scriptHazard(`${library}\nwhile True:\n    break\n`)), 'while True @17');
  assert.equal(line(await scriptHazard(`${library}\nwith torch.no_grad():\n    pass\n`)), 'with torch.no_grad() @17');
  assert.equal(line(await scriptHazard(`${library}\ntrainer = object()\ntrainer.fit(model)\n`)), 'trainer.fit() @18');
  assert.equal(line(await scriptHazard(`${library}\nimport torchvision\nds = torchvision.datasets.MNIST(".", download=True)\n`)), 'torchvision.datasets.MNIST() @18');
  const required = await scriptHazard('import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument("--data", required=True)\nopt = parser.parse_args()\n');
  assert.equal(line(required), 'parser.parse_args() @4');
  // A decorator runs at import; a function imported from a module beside the script is the script's own code.
  // A bare decorator is a call too (register(g) runs at import): conservative, it is refused like any other.
  assert.equal(line(await scriptHazard('def register(f):\n    return f\n\n@register\ndef g():\n    pass\n')), '@register @4');
  assert.equal(line(await scriptHazard('def wrap(n):\n    return lambda f: f\n\n@wrap(3)\ndef g():\n    pass\n')), 'wrap() @4');
  assert.equal(line(await scriptHazard('from loops import run\nrun()\n', { 'loops.py': 'def run():\n    pass\n' })), 'run() @2');
  assert.equal(line(await scriptHazard('import loops\nloops.run()\n', { 'loops.py': 'def run():\n    pass\n' })), 'loops.run() @2');
  assert.equal(await scriptHazard('from json import dumps\ndumps(1)\n'), undefined, 'a library function is not the script\'s own code');
  // A class body and its base classes run when the class is defined; its methods' bodies do not.
  assert.equal(line(await scriptHazard('def main():\n    pass\n\nclass Net:\n    width = main()\n')), 'main() @5');
  assert.equal(line(await scriptHazard('def base():\n    return object\n\nclass Net(base()):\n    pass\n')), 'base() @4');
  assert.equal(line(await scriptHazard('class Net:\n    for _ in range(2):\n        pass\n')), 'for _ in range(2) @2');
  assert.equal(await scriptHazard('def main():\n    pass\n\nclass Net:\n    def forward(self):\n        main()\n'), undefined);
});

test('the reader: a relative import beside the script is imported from its folder; one further up is said to be out of reach', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-relative-'));
  mkdirSync(join(dir, 'pkg'));
  const net = 'import torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n';
  writeFileSync(join(dir, 'models.py'), net);
  writeFileSync(join(dir, 'pkg', 'models.py'), net);
  const script = (from: string) => `from opacus import PrivacyEngine\nfrom ${from} import Net\n\ndef main():\n    model = Net()\n    PrivacyEngine().make_private(module=model, noise_multiplier=1.0, max_grad_norm=1.0)\n`;
  writeFileSync(join(dir, 'pkg', 'train.py'), script('.models'));
  const near = (await readPythonFile(join(dir, 'pkg', 'train.py'), script('.models'))).setup!;
  assert.equal(near.pythonModel?.value, 'models:Net');
  assert.equal(near.pythonModelRoot, join(dir, 'pkg'));
  const far = (await readPythonFile(join(dir, 'pkg', 'train.py'), script('..models'))).setup!;
  assert.equal(far.pythonModel, undefined);
  assert.match(far.pythonModelProblem!.reason, /`module=model` \(line 6\) is Net from \.\.\/models\.py, which is not importable from the script's folder/);
});

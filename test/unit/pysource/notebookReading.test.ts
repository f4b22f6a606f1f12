// Notebooks read for DP training (pysource/notebookReading.ts) and the module the export bridge builds a notebook's
// model from (pysource/notebookModule.ts), on public notebooks as published (test/fixtures/upstream-python/):
// Opacus' image-classifier tutorial (torchvision's resnet18 made GroupNorm, on CIFAR10), its intro to advanced features
// (SampleNet defined in a cell), TensorFlow Privacy's Colab tutorial (ε against an mpmath reference). Every place a
// finding would be shown is checked against the .ipynb text itself, found independently with JSON.parse.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNotebookFile, cellPlaces, type NotebookSetupReading } from '../../../server/src/pysource/notebookReading';
import { notebookModule } from '../../../server/src/pysource/notebookModule';
import { joinCodeCells, parseNotebook, type Notebook } from '../../../server/src/pysource/notebook';
import { parsePython, pythonParser } from '../../../server/src/pysource/pythonParser';
import { privacyAccount } from '../../../server/src/analysis/privacyAccount';
import { linkConfig } from '../../../server/src/workspace/discover';
import { RULES } from '../../../server/src/config/ruleCatalog';
import type { Range } from '../../../server/src/config/keyTree';

const UPSTREAM = join(__dirname, '../../fixtures/upstream-python');
const CLASSIFIER = join(UPSTREAM, 'pytorch+opacus/tutorials/building_image_classifier.ipynb');
const ADVANCED = join(UPSTREAM, 'pytorch+opacus/tutorials/intro_to_advanced_features.ipynb');
const TFP = join(UPSTREAM, 'tensorflow+privacy/g3doc/tutorials/classification_privacy.ipynb');
const REFERENCE = join(__dirname, '../../fixtures/privacy/notebook_privacy_reference.json');

async function read(path: string): Promise<{ text: string; r: NotebookSetupReading }> {
  const text = readFileSync(path, 'utf8');
  const r = await readNotebookFile(path, text);
  assert.ok(r && !('kind' in r) && r.setup, `${path} is read with a DP setup`);
  return { text, r: r as NotebookSetupReading };
}

/** The .ipynb text a range covers, and (independently, with JSON.parse) the 1-based cell whose source holds `code`. */
function textAt(text: string, r: Range): string {
  const lines = text.split('\n');
  assert.equal(r.start.line, r.end.line);
  return lines[r.start.line].slice(r.start.character, r.end.character);
}
function cellHolding(text: string, code: string): number {
  const cells = (JSON.parse(text) as { cells: { cell_type: string; source: string | string[] }[] }).cells;
  const i = cells.findIndex((c) => c.cell_type === 'code' && [c.source].flat().join('').includes(code));
  assert.ok(i >= 0, code);
  return i + 1;
}

test("Opacus' image-classifier tutorial: resnet18 + GroupNorm on CIFAR10, every range in the .ipynb at the code it names, messages in cells", async () => {
  const { text, r } = await read(CLASSIFIER);
  const setup = r.setup!;
  assert.equal(setup.architecture?.value, 'resnet18');
  assert.equal(setup.normalisation?.value, 'groupnorm');
  assert.equal(setup.dataset?.value, 'CIFAR10');
  assert.equal(setup.clippingNorm?.value, 1.2);
  // The clipping argument as the .ipynb holds it (inside the JSON string of its source line).
  assert.equal(textAt(text, setup.clippingNorm!.valueRange), 'MAX_GRAD_NORM');
  assert.equal(textAt(text, setup.clippingNorm!.keyRange), 'max_grad_norm');
  const places = cellPlaces(CLASSIFIER, text)!;
  const dpCell = cellHolding(text, 'privacy_engine.make_private_with_epsilon(');
  const at = places(setup.clippingNorm!.valueRange)!;
  assert.equal(at.cell, dpCell);
  const cellText = [(JSON.parse(text) as { cells: { source: string[] }[] }).cells[dpCell - 1].source].flat().join('').split('\n');
  assert.equal(cellText[at.range.start.line].slice(at.range.start.character, at.range.end.character), 'MAX_GRAD_NORM');
  // The summary says where in the notebook the training set was read: the cell and line of `train=True`.
  const summary = setup.problems.find((p) => p.rule === RULES.dpInCode.code)!;
  const dataCell = cellHolding(text, 'train=True');
  assert.match(summary.message, new RegExp(`CIFAR10's train split \\(train=True, cell ${dataCell}, line \\d+\\)`));
  assert.doesNotMatch(JSON.stringify(setup), /\bscript\b/, 'a notebook is not called a script');
  assert.equal(textAt(text, summary.range), 'max_grad_norm');
  assert.deepEqual(linkConfig(CLASSIFIER, setup).modelRef, { kind: 'catalogue', name: 'resnet18', dataset: 'CIFAR10', classes: 10, normalisation: 'groupnorm' });
});

test("TensorFlow Privacy's Colab tutorial: ε from its cells equals the mpmath reference; its `!pip install` cell does not matter", async () => {
  const { text, r } = await read(TFP);
  const setup = r.setup!;
  const ref = (JSON.parse(readFileSync(REFERENCE, 'utf8')) as { cases: { script: string; epsilon: number; steps: number; sampleRate: number }[] }).cases.find((c) => c.script === 'classification_privacy.ipynb')!;
  const account = privacyAccount(setup)!.report;
  assert.equal(account.status, 'computed');
  if (account.status !== 'computed') return;
  assert.ok(Math.abs(account.epsilon - ref.epsilon) <= 1e-6 * ref.epsilon, `ε ${account.epsilon} vs ${ref.epsilon}`);
  assert.equal(account.steps, ref.steps);
  assert.ok(Math.abs(account.sampleRate - ref.sampleRate) < 1e-15);
  assert.equal(textAt(text, setup.noiseMultiplier!.valueRange), 'noise_multiplier');
  assert.equal(cellPlaces(TFP, text)!(setup.noiseMultiplier!.valueRange)!.cell, cellHolding(text, 'tensorflow_privacy.DPKerasSGDOptimizer('));
  const summary = setup.problems.find((p) => p.rule === RULES.dpInCode.code)!;
  assert.match(summary.message, new RegExp(`element 0 of load_data\\(\\), cell ${cellHolding(text, 'tf.keras.datasets.mnist.load_data()')}, line 1\\)`));
  // The model is TensorFlow: the fix speaks of the notebook's folder.
  assert.match(setup.pythonModelProblem!.fix, /into the notebook's folder/);
});

test("Opacus' intro to advanced features: SampleNet, defined in a cell, is built from the notebook's imports and that class only", async () => {
  const { text, r } = await read(ADVANCED);
  const setup = r.setup!;
  assert.equal(setup.pythonModel?.value, 'intro_to_advanced_features.ipynb:SampleNet');
  assert.equal(setup.pythonModelProblem, undefined);
  const nb = parseNotebook(ADVANCED, text) as Notebook;
  const joined = joinCodeCells(nb.codeCells);
  const parsed = parsePython(await pythonParser(), joined.text);
  assert.equal(parsed.kind, 'tree');
  if (parsed.kind !== 'tree') return;
  const module = notebookModule(parsed.tree.rootNode, joined.text, 'SampleNet');
  parsed.tree.delete();
  const kept = module.text.split('\n');
  const all = joined.text.split('\n');
  assert.equal(kept.length, all.length, 'line for line with the joined cells');
  kept.forEach((l, i) => assert.ok(l === '' || l === all[i], `line ${i + 1} is the notebook's own`));
  const code = kept.filter((l) => l.trim());
  assert.ok(code.some((l) => l.startsWith('class SampleNet(nn.Module):')));
  assert.deepEqual(module.defines, ['SampleNet']);
  // Statements other than imports and the class: none (no DataLoader, no make_private, no training loop).
  const statements = code.filter((l) => !/^\s/.test(l) && !/^(import|from) /.test(l));
  assert.deepEqual(statements, ['class SampleNet(nn.Module):']);
  assert.doesNotMatch(module.text, /make_private|DataLoader\(|\.step\(\)|backward\(\)/);
});

async function moduleOf(cells: string[], name: string): Promise<string[]> {
  const joined = joinCodeCells(cells.map((text) => ({ text })));
  const parsed = parsePython(await pythonParser(), joined.text);
  assert.equal(parsed.kind, 'tree');
  if (parsed.kind !== 'tree') return [];
  try {
    return notebookModule(parsed.tree.rootNode, joined.text, name).text.split('\n').filter((l) => l.trim());
  } finally {
    parsed.tree.delete();
  }
}

test("a notebook's module: the constants and helpers the model reads, never a function's parameters or the training cells", async () => {
  const lines = await moduleOf(
    [
      'try:\n    import opacus\nexcept ImportError:\n    !pip install opacus\n    raise SystemExit',
      'import torch\nfrom torch import nn',
      'NUM_CLASSES = 10\nHIDDEN = NUM_CLASSES * 8\nWIDTH = 3',
      'def block(c):\n    return nn.Sequential(nn.Linear(c, HIDDEN), nn.ReLU())',
      'class Net(nn.Module):\n    def __init__(self, width=WIDTH):\n        super().__init__()\n        self.body = block(width)\n        self.head = nn.Linear(HIDDEN, NUM_CLASSES)\n    def forward(self, x):\n        return self.head(self.body(x))',
      'model = Net()\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)',
      'def train(model, optimizer, loader):\n    for x, y in loader:\n        optimizer.zero_grad()\n        model(x).sum().backward()\n        optimizer.step()',
      'for epoch in range(3):\n    train(model, optimizer, loader)',
    ],
    'Net',
  );
  assert.deepEqual(lines, [
    'try:',
    '    import opacus',
    'except ImportError:',
    '    pass',
    '    raise SystemExit',
    'import torch',
    'from torch import nn',
    'NUM_CLASSES = 10',
    'HIDDEN = NUM_CLASSES * 8',
    'WIDTH = 3',
    'def block(c):',
    '    return nn.Sequential(nn.Linear(c, HIDDEN), nn.ReLU())',
    'class Net(nn.Module):',
    '    def __init__(self, width=WIDTH):',
    '        super().__init__()',
    '        self.body = block(width)',
    '        self.head = nn.Linear(HIDDEN, NUM_CLASSES)',
    '    def forward(self, x):',
    '        return self.head(self.body(x))',
  ]);
});

test('a model whose constant downloads a dataset is refused at its cell and line, with the notebook remedy', async () => {
  const cells = [
    { cell_type: 'markdown', source: ['# A notebook\n'] },
    { cell_type: 'code', source: ['import torch\n', 'from torch import nn\n', 'from torchvision import datasets\n', 'from opacus import PrivacyEngine'] },
    { cell_type: 'code', source: ['train_set = datasets.MNIST("data", train=True, download=True)\n', 'CLASSES = len(train_set.classes)'] },
    { cell_type: 'code', source: ['class Net(nn.Module):\n', '    def __init__(self):\n', '        super().__init__()\n', '        self.fc = nn.Linear(784, CLASSES)\n', '    def forward(self, x):\n', '        return self.fc(x.flatten(1))'] },
    { cell_type: 'code', source: ['model = Net()\n', 'optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n', 'loader = torch.utils.data.DataLoader(train_set, batch_size=64)\n', 'model, optimizer, loader = PrivacyEngine().make_private(module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=1.0, max_grad_norm=1.0)'] },
  ];
  const text = JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'python3', language: 'python' } }, cells: cells.map((c) => ({ ...c, metadata: {} })) }, null, 1);
  const r = await readNotebookFile('/w/dl.ipynb', text);
  assert.ok(r && !('kind' in r) && r.setup);
  const problem = r.setup.pythonModelProblem!;
  assert.match(problem.reason, /^the export bridge builds a model defined in dl\.ipynb from the notebook's imports, definitions and the constants they use, never its other cells; one of those would run `datasets\.MNIST\(\)` \(cell 3, line 1: it downloads a dataset/);
  assert.match(problem.fix, /compute it inside Net, or define Net in a \.py module beside the notebook/);
  assert.doesNotMatch(JSON.stringify(r.setup), /__main__/);
});

test('bad notebooks: broken JSON and other languages are located I2F145 problems when they mention a DP library, else nothing', async () => {
  const good = readFileSync(CLASSIFIER, 'utf8');
  const broken = await readNotebookFile('/w/cut.ipynb', good.slice(0, 9000));
  assert.ok(broken && 'kind' in broken);
  assert.equal(broken.error.code, 'notebook-not-read');
  assert.equal(broken.range.start.line, good.slice(0, 9000).split('\n').length - 1);
  const julia = JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'julia-1.9', language: 'julia' } }, cells: [{ cell_type: 'code', metadata: {}, source: ['using Flux # and opacus-like DP by hand'] }] });
  const r = await readNotebookFile('/w/j.ipynb', julia);
  assert.ok(r && 'kind' in r);
  assert.match(r.error.message, /Notebook in julia: only Python notebooks are read/);
  assert.equal(await readNotebookFile('/w/plain.ipynb', julia.replace('opacus', 'Zygote')), null);
});

test("a cell that does not parse is set aside with an I2F144 on it; the tutorial's DP call after it is still read", async () => {
  const nb = JSON.parse(readFileSync(CLASSIFIER, 'utf8')) as { cells: { cell_type: string; source: string[] }[] };
  // An unclosed bracket two cells before the DP call would otherwise swallow the cells after it.
  const dp = nb.cells.findIndex((c) => c.source.join('').includes('make_private_with_epsilon('));
  nb.cells.splice(dp - 1, 0, { cell_type: 'code', source: ['weights = [1, 2\n', 'print(weights)'], ...{ metadata: {}, outputs: [], execution_count: null } } as never);
  const text = JSON.stringify(nb, null, 1);
  const r = await readNotebookFile('/w/edited.ipynb', text);
  assert.ok(r && !('kind' in r) && r.setup);
  assert.equal(r.setup.clippingNorm?.value, 1.2);
  assert.equal(cellPlaces('/w/edited.ipynb', text)!(r.setup.clippingNorm!.valueRange)!.cell, dp + 2);
  const broken = r.setup.problems.filter((p) => p.rule === RULES.pythonNotRead.code);
  assert.equal(broken.length, 1);
  assert.match(broken[0].message, new RegExp(`^Python syntax error at cell ${dp}, line 1, column \\d+ \\(`));
  assert.equal(cellPlaces('/w/edited.ipynb', text)!(broken[0].range)!.cell, dp);
});

test('a model imported from a .py beside the notebook that trains at import: refused with that file\'s lines and remedy, not cells', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-nb-beside-'));
  writeFileSync(join(dir, 'models.py'), ['import torch.nn as nn', '', 'def warm_up():', '    pass', '', 'class Net(nn.Module):', '    def __init__(self):', '        super().__init__()', '        self.fc = nn.Linear(4, 2)', '', 'warm_up()', ''].join('\n'));
  const nb = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', language: 'python' } },
    cells: [
      { cell_type: 'code', metadata: {}, outputs: [], execution_count: null, source: ['import torch\n', 'from opacus import PrivacyEngine\n', 'from models import Net'] },
      { cell_type: 'code', metadata: {}, outputs: [], execution_count: null, source: ['model = Net()\n', 'opt = torch.optim.SGD(model.parameters(), lr=0.1)\n', 'model, opt, dl = PrivacyEngine().make_private(module=model, optimizer=opt, data_loader=dl, noise_multiplier=1.0, max_grad_norm=1.0)'] },
    ],
  };
  const file = join(dir, 'train.ipynb');
  const text = JSON.stringify(nb, null, 1);
  writeFileSync(file, text);
  const r = await readNotebookFile(file, text);
  assert.ok(r && !('kind' in r) && r.setup);
  const reason = r.setup.pythonModelProblem!.reason;
  assert.match(reason, /^importing models\.py would run `warm_up\(\)` \(models\.py line 11: it calls warm_up, a function defined in this file \(models\.py line 3\)\)/);
  assert.match(reason, /put models\.py's top level under `if __name__ == "__main__":`/);
  assert.doesNotMatch(reason, /cell/);
});

// The loss the training code computes (pysource/trainingLoss.ts), read on public code committed unchanged: Flower's
// fl-tabular task.py (nn.BCELoss in train() and test()), Opacus' mnist.py (nn.CrossEntropyLoss), Opacus' dcgan.py
// (nn.BCELoss at module level); then small cases for each way a loss is written or not taken. And the `i2f: loss` key
// (config/recognise.ts): read in YAML and pyproject.toml, a bad value a located I2F108, and which loss a config's
// analysis then differentiates (analysis/configFindings.ts configuredLoss).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readTrainingLoss, readTrainingLossOfFile, factoryFile, lossInCodeLabel } from '../../../server/src/pysource/trainingLoss';
import { indexModule } from '../../../server/src/pysource/moduleIndex';
import { parsePython, pythonParser } from '../../../server/src/pysource/pythonParser';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { configuredLoss, lossSourceSentence } from '../../../server/src/analysis/configFindings';
import { readTrainingSource } from '../../../server/src/workspace/readSetup';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';

const FIXTURES = join(__dirname, '../../fixtures');
const FL_TABULAR = join(FIXTURES, 'python', 'flower-fl-tabular');
const TABULAR_TASK = join(FL_TABULAR, 'fltabular', 'task.py');
const OPACUS = join(FIXTURES, 'upstream-python', 'pytorch+opacus', 'examples');

async function loss(text: string) {
  const parsed = parsePython(await pythonParser(), text);
  if (parsed.kind !== 'tree') throw new Error('not parsed');
  try {
    return readTrainingLoss(indexModule('/nowhere/m.py', text, parsed.tree));
  } finally {
    parsed.tree.delete();
  }
}

test("public code: fl-tabular's task.py trains with nn.BCELoss, Opacus' mnist.py with nn.CrossEntropyLoss, dcgan.py with nn.BCELoss", async () => {
  const tabular = await readTrainingLossOfFile(TABULAR_TASK);
  assert.equal(tabular?.written, 'nn.BCELoss');
  assert.equal(tabular?.kind, 'binary-cross-entropy');
  assert.equal(tabular?.range.start.line, 81, 'criterion = nn.BCELoss() on line 82, in train() (which calls backward)');
  assert.equal(lossInCodeLabel(tabular!, FL_TABULAR), `nn.BCELoss (${join('fltabular', 'task.py')} line 82)`);
  const mnist = await readTrainingLossOfFile(join(OPACUS, 'mnist.py'));
  assert.deepEqual({ written: mnist?.written, kind: mnist?.kind, line: mnist!.range.start.line + 1 }, { written: 'nn.CrossEntropyLoss', kind: 'cross-entropy', line: 63 });
  const dcgan = await readTrainingLossOfFile(join(OPACUS, 'dcgan.py'));
  assert.deepEqual({ written: dcgan?.written, kind: dcgan?.kind, line: dcgan!.range.start.line + 1 }, { written: 'nn.BCELoss', kind: 'binary-cross-entropy', line: 263 });
  // A DP script's own file carries it to its setup (the leakage finding names it).
  const setup = (await readPythonFile(join(OPACUS, 'mnist.py'), readFileSync(join(OPACUS, 'mnist.py'), 'utf8'))).setup!;
  assert.equal(setup.lossInCode?.kind, 'cross-entropy');
  assert.equal(configuredLoss(setup), 'cross-entropy');
});

test("fl-tabular's pyproject.toml: the loss is read in the app's task.py, where its model is defined", async () => {
  const file = join(FL_TABULAR, 'pyproject.toml');
  const setup = (await readTrainingSource(file, readFileSync(file, 'utf8'))) as TrainingSetup;
  assert.ok(setup && !('kind' in setup));
  assert.equal(factoryFile(FL_TABULAR, 'fltabular.task:IncomeClassifier'), TABULAR_TASK);
  assert.equal(setup.lossInCode?.file, TABULAR_TASK);
  assert.equal(setup.lossInCode?.kind, 'binary-cross-entropy');
  assert.equal(configuredLoss(setup), 'binary-cross-entropy');
  assert.equal(lossSourceSentence(setup, FL_TABULAR), `Loss: nn.BCELoss (${join('fltabular', 'task.py')} line 82), read in the training code.`);
});

test('each way a loss is written: modules and functions through the imports, NLL on log_softmax, unmodelled, several, not torch', async () => {
  const mse = await loss('import torch.nn as nn\ndef train(m, x, y):\n    criterion = nn.MSELoss()\n    criterion(m(x), y).backward()\n');
  assert.deepEqual({ written: mse?.written, kind: mse?.kind, line: mse!.range.start.line }, { written: 'nn.MSELoss', kind: 'mse', line: 2 });
  assert.equal((await loss('from torch.nn import MSELoss\ncrit = MSELoss()\n'))?.kind, 'mse');
  assert.equal((await loss('import torch\nl = torch.nn.functional.mse_loss(a, b)\n'))?.kind, 'mse');
  const nll = await loss('import torch.nn.functional as F\ndef train(m, x, y):\n    F.nll_loss(m(x), y).backward()\n');
  assert.equal(nll?.kind, 'cross-entropy');
  assert.match(nll!.note!, /log_softmax output, which is its cross-entropy/);
  assert.equal((await loss('from torch import nn\nc = nn.BCEWithLogitsLoss()\n'))?.kind, 'binary-cross-entropy');
  assert.equal((await loss('import torch.nn.functional as F\nl = F.binary_cross_entropy(p, y)\n'))?.kind, 'binary-cross-entropy');
  const l1 = await loss('import torch\ncriterion = torch.nn.L1Loss()\n');
  assert.equal(l1?.kind, undefined);
  assert.equal(l1?.written, 'torch.nn.L1Loss');
  assert.match(l1!.note!, /torch\.nn\.L1Loss is not a loss the analysis differentiates/);
  // Evaluation computes another loss: the one in the function that calls backward() is the training loss.
  const both = 'import torch.nn as nn\ndef train(m, x, y):\n    nn.MSELoss()(m(x), y).backward()\ndef test(m, x, y):\n    return nn.L1Loss()(m(x), y)\n';
  assert.equal((await loss(both))?.kind, 'mse');
  const several = await loss('import torch.nn as nn\na = nn.MSELoss()\nb = nn.CrossEntropyLoss()\n');
  assert.equal(several?.kind, undefined);
  assert.match(several!.note!, /several losses \(nn\.MSELoss \(line 2\), nn\.CrossEntropyLoss \(line 3\)\)/);
  // A function of the user's own that happens to share a name is not PyTorch's.
  assert.equal(await loss('def cross_entropy(a, b):\n    return 0\nl = cross_entropy(p, y)\n'), undefined);
  assert.equal(await loss('import torch\nx = torch.zeros(3)\n'), undefined);
});

test('`i2f: loss` in YAML, JSON and pyproject.toml; a bad value is a located I2F108 and the model output decides', () => {
  const yaml = readTrainingConfig('/w/train.yaml', 'model: m.onnx\ni2f:\n  loss: mse\n', { fileExists: () => true });
  assert.ok(yaml && !('kind' in yaml));
  assert.equal(yaml.loss?.value, 'mse');
  assert.equal(yaml.loss?.key, 'i2f.loss');
  assert.equal(configuredLoss(yaml), 'mse');
  const json = readTrainingConfig('/w/train.json', '{"model": "m.onnx", "i2f": {"loss": "binary-cross-entropy"}}', { fileExists: () => true });
  assert.ok(json && !('kind' in json));
  assert.equal(json.loss?.value, 'binary-cross-entropy');
  const toml = readTrainingConfig('/w/pyproject.toml', '[tool.i2f]\nmodel = "m.onnx"\nloss = "cross-entropy"\n', { fileExists: () => true });
  assert.ok(toml && !('kind' in toml));
  assert.equal(toml.loss?.value, 'cross-entropy');
  // The key outside the i2f section is a logged metric, not the training loss.
  const metric = readTrainingConfig('/w/train.yaml', 'model: m.onnx\nloss: mse\n', { fileExists: () => true });
  assert.ok(metric && !('kind' in metric));
  assert.equal(metric.loss, undefined);
  const bad = readTrainingConfig('/w/train.yaml', 'model: m.onnx\ni2f:\n  loss: hinge\n', { fileExists: () => true });
  assert.ok(bad && !('kind' in bad));
  assert.equal(bad.loss, undefined);
  const problem = bad.problems.find((p) => p.key === 'i2f.loss');
  assert.equal(problem?.rule, 'I2F108');
  assert.deepEqual(problem?.range, { start: { line: 2, character: 8 }, end: { line: 2, character: 13 } });
  assert.match(problem!.message, /'loss' should be auto, cross-entropy, binary-cross-entropy, mse, not 'hinge'/);
  assert.equal(configuredLoss(bad), 'auto');
  // The key overrides the code's loss, and says when they differ.
  const both = { ...yaml, lossInCode: { written: 'nn.BCELoss', file: '/w/task.py', range: { start: { line: 9, character: 4 }, end: { line: 9, character: 16 } }, place: 'line 10', kind: 'binary-cross-entropy' as const } };
  assert.equal(configuredLoss(both), 'mse');
  assert.equal(lossSourceSentence(both, '/w'), "Loss: mse, named in 'i2f.loss' (the training code computes nn.BCELoss (task.py line 10), binary-cross-entropy).");
});

test('a DP script training with a loss the engine lacks gets I2F160 on its line; a modelled one gets none', async () => {
  const script = (loss: string) => [
    'import torch', 'import torch.nn as nn', 'from opacus import PrivacyEngine', '',
    'class Net(nn.Module):', '    def __init__(self):', '        super().__init__()', '        self.fc = nn.Linear(8, 1)', '',
    '    def forward(self, x):', '        return self.fc(x)', '',
    'def train(model, loader, optimizer):', `    criterion = ${loss}`, '    for x, y in loader:', '        optimizer.zero_grad()',
    '        criterion(model(x), y).backward()', '        optimizer.step()', '',
    'if __name__ == "__main__":', '    model = Net()', '    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)',
    '    engine = PrivacyEngine()', '    model, optimizer, loader = engine.make_private(module=model, optimizer=optimizer, data_loader=None, noise_multiplier=1.0, max_grad_norm=1.0)',
    '    train(model, loader, optimizer)', '',
  ].join('\n');
  const l1 = (await readPythonFile('/nowhere/train.py', script('nn.L1Loss()'))).setup!;
  const p = l1.problems.find((x) => x.rule === 'I2F160');
  assert.ok(p, l1.problems.map((x) => x.rule).join(' '));
  assert.equal(p.range.start.line, 13, 'on `nn.L1Loss()`');
  assert.match(p.message, /^Training loss not analysed: nn\.L1Loss is not a loss the analysis differentiates/);
  assert.equal(configuredLoss(l1), 'auto');
  const mse = (await readPythonFile('/nowhere/train.py', script('nn.MSELoss()'))).setup!;
  assert.equal(mse.problems.some((x) => x.rule === 'I2F160'), false);
  assert.equal(configuredLoss(mse), 'mse');
});

test("a LightningModule's loss is taken only when training_step returns it of forward: Opacus' mnist_lightning.py yes, Flower's LitAutoEncoder no", async () => {
  const mnist = await readTrainingLossOfFile(join(OPACUS, 'mnist_lightning.py'));
  assert.deepEqual({ written: mnist?.written, kind: mnist?.kind }, { written: 'F.cross_entropy', kind: 'cross-entropy' });
  const app = join(FIXTURES, 'python', 'flower-quickstart-pytorch-lightning');
  const file = join(app, 'pyproject.toml');
  const setup = (await readTrainingSource(file, readFileSync(file, 'utf8'))) as TrainingSetup;
  assert.equal(setup.lossInCode?.written, 'F.mse_loss');
  assert.equal(setup.lossInCode?.kind, undefined, "an MSE of the decoder's output against x, not of what forward returns");
  assert.match(setup.lossInCode!.note!, /^LitAutoEncoder\.training_step's loss is computed from `self\.decoder\(z\)` \(line 45\), not from forward/);
  assert.equal(configuredLoss(setup), 'auto');
});

test("a notebook's loss is said by its cell: Opacus' image-classifier tutorial trains with nn.CrossEntropyLoss", async () => {
  const file = join(FIXTURES, 'upstream-python', 'pytorch+opacus', 'tutorials', 'building_image_classifier.ipynb');
  const setup = (await readTrainingSource(file, readFileSync(file, 'utf8'))) as TrainingSetup;
  assert.equal(setup.lossInCode?.kind, 'cross-entropy');
  // Cell 30's train() (which calls backward) builds its own criterion, as cell 23 does at the top level.
  assert.equal(setup.lossInCode!.place, 'cell 30, line 7');
  assert.equal(lossSourceSentence(setup, dirname(file)), 'Loss: nn.CrossEntropyLoss (building_image_classifier.ipynb cell 30, line 7), read in the training code.');
});

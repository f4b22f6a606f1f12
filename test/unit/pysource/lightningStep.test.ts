// What a LightningModule trains, read from its training_step (pysource/lightningStep.ts), on real modules: Opacus'
// mnist_lightning.py (cross-entropy of `self(data)`: the forward and loss analysed) and Flower's
// quickstart-pytorch-lightning LitAutoEncoder (an MSE of its decoder's output: not what is analysed), both committed
// unchanged; then small cases for each way a step is read.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isLightningModule, lightningTrainingStep, type TrainingStep } from '../../../server/src/pysource/lightningStep';
import { indexModule } from '../../../server/src/pysource/moduleIndex';
import { parsePython, pythonParser } from '../../../server/src/pysource/pythonParser';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';
import { flowerAppModel } from '../../../server/src/pysource/flowerAppModel';
import { readFlowerApp } from '../../../server/src/pysource/flowerApp';

const FIXTURES = join(__dirname, '../../fixtures');
const MNIST_LIGHTNING = join(FIXTURES, 'upstream-python', 'pytorch+opacus', 'examples', 'mnist_lightning.py');
const FLOWER_TASK = join(FIXTURES, 'python', 'flower-quickstart-pytorch-lightning', 'pytorchlightning_example', 'task.py');

async function step(text: string, cls: string): Promise<TrainingStep | 'not lightning'> {
  const parsed = parsePython(await pythonParser(), text);
  if (parsed.kind !== 'tree') throw new Error('not parsed');
  try {
    const index = indexModule('/nowhere/m.py', text, parsed.tree);
    const node = index.classes.get(cls)!;
    return isLightningModule(node) ? lightningTrainingStep(index, node) : 'not lightning';
  } finally {
    parsed.tree.delete();
  }
}

test("Opacus' mnist_lightning.py trains forward under cross-entropy; Flower's LitAutoEncoder trains an MSE of its decoder", async () => {
  assert.deepEqual(await step(readFileSync(MNIST_LIGHTNING, 'utf8'), 'LitSampleConvNetClassifier'), { kind: 'forward', loss: 'F.cross_entropy(output, target)', line: 126 });
  const flower = await step(readFileSync(FLOWER_TASK, 'utf8'), 'LitAutoEncoder');
  assert.ok(flower !== 'not lightning' && flower.kind === 'differs', JSON.stringify(flower));
  assert.equal(flower.reason, "LitAutoEncoder.training_step's loss is computed from `self.decoder(z)` (line 45), not from forward (`self(x)`), so the forward analysed is not the function whose gradient is shared");
  assert.equal(flower.range.start.line, 44);
  // The reader says it with the model: in the summary, and (for the leakage finding) on the setup.
  const setup = (await readPythonFile(MNIST_LIGHTNING, readFileSync(MNIST_LIGHTNING, 'utf8'))).setup!;
  assert.equal(setup.trainedFunctionNote, 'its training_step trains forward (`F.cross_entropy(output, target)`, line 126), the function analysed');
  assert.match(setup.problems.find((p) => p.rule === 'I2F140')!.message, /Also: LitSampleConvNetClassifier's training_step trains forward \(`F\.cross_entropy\(output, target\)`, line 126\)/);
});

test('each way a training_step is read: a criterion module, a returned dict, a sub-module, no step, not Lightning', async () => {
  const lit = (body: string, init = '') => `import pytorch_lightning as pl\nimport torch.nn as nn\nimport torch.nn.functional as F\nclass M(pl.LightningModule):\n    def __init__(self):\n        super().__init__()\n        self.body = nn.Linear(4, 3)\n${init}    def forward(self, x):\n        return self.body(x)\n${body}`;
  const criterion = await step(lit('    def training_step(self, batch, i):\n        x, y = batch\n        return self.loss_fn(self.forward(x), y)\n', '        self.loss_fn = nn.CrossEntropyLoss()\n'), 'M');
  assert.deepEqual(criterion, { kind: 'forward', loss: 'self.loss_fn(self.forward(x), y)', line: 13 });
  const dict = await step(lit('    def training_step(self, batch, i):\n        x, y = batch\n        logits = self(x)\n        loss = F.cross_entropy(logits, y)\n        return {"loss": loss, "log": {}}\n'), 'M');
  assert.equal(dict !== 'not lightning' && dict.kind, 'forward');
  const sub = await step(lit('    def training_step(self, batch, i):\n        x, y = batch\n        return F.cross_entropy(self.body(x), y)\n'), 'M');
  assert.ok(sub !== 'not lightning' && sub.kind === 'differs' && /loss is computed from `self\.body\(x\)` \(line 12\), not from forward/.test(sub.reason));
  // An MSE of forward's output, or an NLL of it, is a loss the engine differentiates (trainingLoss.ts reads which).
  const mse = await step(lit('    def training_step(self, batch, i):\n        x, y = batch\n        return F.mse_loss(self(x), y)\n'), 'M');
  assert.equal(mse !== 'not lightning' && mse.kind, 'forward');
  const l1 = await step(lit('    def training_step(self, batch, i):\n        x, y = batch\n        return F.l1_loss(self(x), y)\n'), 'M');
  assert.ok(l1 !== 'not lightning' && l1.kind === 'differs' && /trains `F\.l1_loss\(self\(x\), y\)` \(line 12\), not one of PyTorch's losses the analysis differentiates/.test(l1.reason));
  const none = await step(lit(''), 'M');
  assert.ok(none !== 'not lightning' && none.kind === 'differs' && /M defines no training_step/.test(none.reason));
  assert.equal(await step('import torch.nn as nn\nclass M(nn.Module):\n    pass\n', 'M'), 'not lightning');
  const bare = await step('from lightning.pytorch import LightningModule\nclass M(LightningModule):\n    def training_step(self, b, i):\n        return self(b[0]).sum()\n', 'M');
  assert.ok(bare !== 'not lightning' && bare.kind === 'differs' && /trains `self\(b\[0\]\)\.sum\(\)` \(line 4\)/.test(bare.reason));
});

test('a LightningModule trained on another loss than forward gets I2F163 on the loss, and the leakage finding is told', async () => {
  // mnist_lightning.py with its training_step's loss taken on the first convolution's output instead of forward's.
  const text = readFileSync(MNIST_LIGHTNING, 'utf8').replace('output = self(data)', 'output = self.conv1(data)');
  const setup = (await readPythonFile(MNIST_LIGHTNING, text)).setup!;
  const [warning] = setup.problems.filter((p) => p.rule === 'I2F163');
  assert.equal(warning.range.start.line, 124);
  assert.equal(warning.message, "LitSampleConvNetClassifier.training_step's loss is computed from `self.conv1(data)` (line 125), not from forward (`self(x)`), so the forward analysed is not the function whose gradient is shared. The leakage finding analyses LitSampleConvNetClassifier's forward, which is not the function whose gradient this training shares: read it as the leakage of another function.");
  assert.match(setup.trainedFunctionNote!, /^its forward, analysed here, is not the function whose gradient training shares: /);
});

test("Flower's quickstart-pytorch-lightning: the app's model says its training_step trains another function than the forward analysed", async () => {
  const root = join(FIXTURES, 'python', 'flower-quickstart-pytorch-lightning');
  const app = readFlowerApp(join(root, 'pyproject.toml'));
  assert.ok(app?.setup?.flowerClientApp);
  const found = await flowerAppModel(root, app.setup.flowerClientApp.value, app.runConfig);
  assert.ok('model' in found, 'problem' in found ? found.problem : '');
  assert.equal(found.model.factory, 'pytorchlightning_example.task:LitAutoEncoder');
  assert.match(found.model.how, /; its forward, analysed here, is not the function whose gradient training shares: LitAutoEncoder\.training_step's loss is computed from `self\.decoder\(z\)` \(line 45\)/);
});

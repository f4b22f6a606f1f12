import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flowerClientModel, type FlowerResolution } from '../../../server/src/python/flowerApp';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'python');
/** Flower's opacus example, unchanged, kept once for the DP reader and the resolver (upstream-python/README.md). */
const FLOWER_OPACUS = join(__dirname, '..', '..', 'fixtures', 'upstream-python', 'adap+flower', 'examples', 'opacus');

function app(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'i2f-flower-'));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
  return root;
}

function model(r: FlowerResolution) {
  assert.ok('model' in r, 'problem' in r ? r.problem : '');
  return r.model;
}

test("finds Flower quickstart-pytorch's Net in pytorchexample/task.py from its client app", () => {
  const root = join(FIXTURES, 'flower-quickstart-pytorch');
  const m = model(flowerClientModel(root, 'pytorchexample.client_app:app'));
  assert.equal(m.factory, 'pytorchexample.task:Net');
  assert.equal(m.root, root);
  assert.equal(m.file, join(root, 'pytorchexample', 'task.py'));
  assert.equal(m.line, 12); // `class Net(nn.Module):`, 0-based
  assert.match(m.how, /instantiates Net/);
});

test("finds the Flower opacus example's Net and the Lightning example's LightningModule", () => {
  assert.equal(model(flowerClientModel(FLOWER_OPACUS, 'opacus_fl.client_app:app')).factory, 'opacus_fl.task:Net');
  assert.equal(model(flowerClientModel(join(FIXTURES, 'flower-quickstart-pytorch-lightning'), 'pytorchlightning_example.client_app:app')).factory, 'pytorchlightning_example.task:LitAutoEncoder');
});

test("names no model for Flower's TensorFlow quickstart (its load_model builds a Keras model)", () => {
  const r = flowerClientModel(join(FIXTURES, 'flower-quickstart-tensorflow'), 'tfexample.client_app:app');
  assert.ok('problem' in r);
  assert.match(r.problem, /no torch\.nn\.Module class/);
});

test('follows relative imports, src/ layouts, module-qualified calls and user base classes', () => {
  const root = app({
    'src/pkg/__init__.py': '',
    'src/pkg/base.py': 'import torch\nclass Base(torch.nn.Module):\n    pass\n',
    'src/pkg/models.py': 'from .base import Base\n\nclass Config:\n    pass\n\nclass Small(Base):\n    pass\n',
    'src/pkg/client.py': 'from . import models\ncfg = models.Config()\nmodel = models.Small()\n',
  });
  const m = model(flowerClientModel(root, 'pkg.client:app'));
  assert.equal(m.factory, 'pkg.models:Small');
  assert.equal(m.root, join(root, 'src'));
});

test('a class defined in the client module itself is found; a builder function in a torch module is used', () => {
  const local = app({ 'c.py': 'import torch.nn as nn\nclass Net(nn.Module):\n    pass\n\ndef client_fn(ctx):\n    return Net()\n' });
  assert.equal(model(flowerClientModel(local, 'c:app')).factory, 'c:Net');
  const builder = app({
    'p/__init__.py': '',
    'p/task.py': 'from torchvision.models import resnet18\n\ndef get_model():\n    return resnet18(num_classes=10)\n',
    'p/client_app.py': 'from p.task import get_model, load_data\nnet = get_model()\n',
  });
  const m = model(flowerClientModel(builder, 'p.client_app:app'));
  assert.equal(m.factory, 'p.task:get_model');
  assert.match(m.how, /builds its model with get_model\(\)/);
});

test('says why when the client module is missing, or reaches several models it never instantiates', () => {
  const empty = app({ 'pyproject.toml': '' });
  const missing = flowerClientModel(empty, 'nope.client_app:app');
  assert.ok('problem' in missing && /nope\.client_app was not found/.test(missing.problem));
  const two = app({
    'q/__init__.py': '',
    'q/task.py': 'import torch.nn as nn\nclass A(nn.Module):\n    pass\nclass B(nn.Module):\n    pass\n',
    'q/client_app.py': 'from q.task import A, B\nchoice = 1\n',
  });
  const r = flowerClientModel(two, 'q.client_app:app');
  assert.ok('problem' in r);
  assert.match(r.problem, /q\.task:A, q\.task:B/);
});

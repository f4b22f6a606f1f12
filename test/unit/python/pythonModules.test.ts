import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blankStringsAndComments, isTorchModuleBase, readModule } from '../../../server/src/python/pythonModules';

function pyFile(rel: string, text: string): string {
  const root = mkdtempSync(join(tmpdir(), 'i2f-pymod-'));
  const file = join(root, rel);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, text);
  return file;
}

test('blanks strings and comments but keeps lines and columns', () => {
  const src = 'x = "Net()"  # Net()\ny = """\nclass A(nn.Module):\n"""\nz = Net()\n';
  const out = blankStringsAndComments(src);
  assert.equal(out.length, src.length);
  assert.deepEqual(out.split('\n').map((l) => l.length), src.split('\n').map((l) => l.length));
  assert.ok(!out.split('\n')[0].includes('Net'));
  assert.ok(!out.includes('class A'));
  assert.ok(out.split('\n')[4].includes('Net()'));
});

test('reads absolute, relative, aliased and parenthesised imports', () => {
  const file = pyFile('pkg/sub/client.py', [
    'import torch',
    'import torch.nn as nn',
    'from torch import nn as tnn',
    'from .task import Net, load_data as ld',
    'from ..models import (',
    '    ResNet,  # the big one',
    '    Small,',
    ')',
    'from pkg import task',
  ].join('\n'));
  const r = readModule(file, 'pkg.sub.client');
  assert.deepEqual(r.imports.get('torch'), { module: 'torch' });
  assert.deepEqual(r.imports.get('nn'), { module: 'torch.nn' });
  assert.deepEqual(r.imports.get('tnn'), { module: 'torch', attr: 'nn' });
  assert.deepEqual(r.imports.get('Net'), { module: 'pkg.sub.task', attr: 'Net' });
  assert.deepEqual(r.imports.get('ld'), { module: 'pkg.sub.task', attr: 'load_data' });
  assert.deepEqual(r.imports.get('ResNet'), { module: 'pkg.models', attr: 'ResNet' });
  assert.deepEqual(r.imports.get('Small'), { module: 'pkg.models', attr: 'Small' });
  assert.deepEqual(r.imports.get('task'), { module: 'pkg', attr: 'task' });
});

test('a package __init__ resolves relative imports against the package itself', () => {
  const file = pyFile('pkg/__init__.py', 'from .task import Net\n');
  assert.deepEqual(readModule(file, 'pkg').imports.get('Net'), { module: 'pkg.task', attr: 'Net' });
});

test('lists top-level classes with their bases and the names called, not the ones in strings', () => {
  const file = pyFile('m.py', [
    'import torch.nn as nn',
    'class Net(nn.Module):',
    '    def __init__(self):',
    '        super().__init__()',
    '        self.fc = nn.Linear(2, 2)',
    'class Config:',
    '    pass',
    'def make():',
    '    s = "Fake()"',
    '    return Net()',
  ].join('\n'));
  const r = readModule(file, 'm');
  assert.deepEqual(r.classes.map((c) => [c.name, c.bases, c.line]), [['Net', ['nn.Module'], 1], ['Config', [], 5]]);
  assert.ok(r.calls.includes('Net'));
  assert.ok(r.calls.includes('nn.Linear'));
  assert.ok(!r.calls.includes('Fake'));
  assert.equal(r.functions.get('make'), 7);
});

test('recognises torch.nn.Module bases however torch was imported, and nothing else', () => {
  const imports = (src: string) => readModule(pyFile('m.py', src), 'm').imports;
  assert.ok(isTorchModuleBase('nn.Module', imports('import torch.nn as nn')));
  assert.ok(isTorchModuleBase('nn.Module', imports('from torch import nn')));
  assert.ok(isTorchModuleBase('torch.nn.Module', imports('import torch')));
  assert.ok(isTorchModuleBase('Module', imports('from torch.nn import Module')));
  assert.ok(!isTorchModuleBase('Module', imports('from keras import Module')));
  assert.ok(!isTorchModuleBase('nn.Module', imports('import flax.linen as nn')));
  assert.ok(!isTorchModuleBase('nn.Module', imports('')));
});

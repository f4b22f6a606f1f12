// The export bridge for real: Debian's /usr/bin/python3 with python3-torch 1.13 (no flwr, flwr_datasets or datasets).
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPython, type FoundPython } from '../../../server/src/python/interpreter';
import { exportPythonModel, PythonExportError } from '../../../server/src/python/exportModel';
import { materialisePythonModel } from '../../../server/src/python/pythonModel';
import { loadModelFile } from '../../../server/src/backends/modelFile';
import { trainableParameters } from '../../../server/src/graph/parameters';
import { untieExportedParameters } from '../../../server/src/graph/untie';
import { debianTorch, needing } from '../../support/requirements';

// Without Debian's PyTorch every test here is skipped and counted (npm test as root installs it).
const { before, test } = needing(debianTorch);

const QUICKSTART = join(__dirname, '..', '..', 'fixtures', 'python', 'flower-quickstart-pytorch');
const DEBIAN_PYTHON = '/usr/bin/python3';
let python: FoundPython;

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

function workspace(files: Record<string, string>): string {
  const root = tmp('i2f-pyws-');
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
  return root;
}

before(async () => {
  const search = await findPython({ configured: DEBIAN_PYTHON, pathEnv: '' });
  assert.ok(search.found, `these tests need Debian's python3-torch for ${DEBIAN_PYTHON}: ${JSON.stringify(search.tried)}`);
  python = search.found;
  assert.equal(python.source, 'setting');
});

test("exports Flower quickstart-pytorch's Net, unchanged, on a Python without flwr: θ is named_parameters, shape inferred, imports stood in for", async () => {
  const root = tmp('i2f-quickstart-');
  cpSync(QUICKSTART, root, { recursive: true });
  const cacheDir = tmp('i2f-pycache-');
  const m = await materialisePythonModel({ factory: 'pytorchexample.task:Net', root }, { configured: DEBIAN_PYTHON, pathEnv: '', cacheDir });
  const e = m.exported;
  assert.equal(e.cached, false);
  assert.deepEqual(e.inputShape, [3, 32, 32]);
  assert.equal(e.inputShapeSource, 'inferred');
  assert.match(e.inferredFrom!, /Conv2d with 3 input channels/);
  assert.deepEqual(e.tried?.map((t) => t.shape), [[3, 28, 28]]); // 28×28 reaches view(-1, 400) with 256 values a sample
  for (const missing of ['datasets', 'flwr_datasets']) assert.ok(e.stubbed.includes(missing), `${missing} stood in for: ${e.stubbed}`);
  assert.ok(!e.stubbed.includes('torch'));
  assert.deepEqual(e.parameters.map(([n]) => n), ['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias']);
  assert.deepEqual(e.sources, [join(root, 'pytorchexample', '__init__.py'), join(root, 'pytorchexample', 'task.py')]);
  const model = await loadModelFile(m.file);
  untieExportedParameters(model);
  assert.deepEqual(new Set(trainableParameters(model)), new Set(e.parameters.map(([n]) => n)));
  assert.deepEqual(model.graph.initializers.get('fc1.weight')?.dims, [120, 400]);
  assert.match(m.notes.join(' '), /input shape \[3, 32, 32\] inferred/);
  assert.match(m.notes.join(' '), /stood in for .*datasets, flwr_datasets|stood in for .*flwr_datasets/);
  assert.match(m.notes.join(' '), /θ is the model's named_parameters \(10 tensors, 62,006 values; a state_dict applies by name\)/);

  // The same sources: the cache answers, Python does not run; the same bytes (seeded), so analyses share a key.
  const again = await exportPythonModel({ factory: 'pytorchexample.task:Net', root, python, cacheDir });
  assert.equal(again.cached, true);
  assert.equal(again.onnx, m.file);
  // An edit to a file the import read invalidates it.
  const bytes = readFileSync(m.file);
  writeFileSync(join(root, 'pytorchexample', 'task.py'), readFileSync(join(root, 'pytorchexample', 'task.py'), 'utf8').replace('nn.Linear(84, 10)', 'nn.Linear(84, 7)'));
  const edited = await exportPythonModel({ factory: 'pytorchexample.task:Net', root, python, cacheDir });
  assert.equal(edited.cached, false);
  assert.deepEqual(edited.parameters.find(([n]) => n === 'fc3.weight')?.[1], [7, 84]);
  assert.notDeepEqual(readFileSync(edited.onnx), bytes);
});

test('keeps BatchNorm as BatchNormalization with its parameters named, and uses the input shape it is given', async () => {
  const root = workspace({
    'bnnet.py': [
      'import torch.nn as nn',
      'class BNNet(nn.Module):',
      '    def __init__(self):',
      '        super().__init__()',
      '        self.conv = nn.Conv2d(1, 4, 3)',
      '        self.bn = nn.BatchNorm2d(4)',
      '        self.head = nn.Linear(4 * 10 * 10, 3)',
      '    def forward(self, x):',
      '        return self.head(self.bn(self.conv(x)).relu().flatten(1))',
    ].join('\n'),
  });
  const e = await exportPythonModel({ factory: 'bnnet:BNNet', root, inputShape: [1, 12, 12], python, cacheDir: tmp('i2f-pycache-') });
  assert.equal(e.inputShapeSource, 'config');
  assert.deepEqual(e.inputShape, [1, 12, 12]);
  const model = await loadModelFile(e.onnx);
  const ops = model.graph.nodes.map((n) => n.opType);
  assert.ok(ops.includes('BatchNormalization'), `ops: ${ops}`);
  untieExportedParameters(model);
  const theta = trainableParameters(model);
  assert.deepEqual(new Set(theta), new Set(['conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'head.weight', 'head.bias']));
  assert.ok(model.graph.initializers.has('bn.running_mean'), 'running statistics are kept, outside θ');
});

test("a model that fails to build reports its traceback's tail: the user's line and the exception, not the helper's frames", async () => {
  const root = workspace({
    'broken/__init__.py': '',
    'broken/task.py': ['import torch.nn as nn', 'class Net(nn.Module):', '    def __init__(self):', '        super().__init__()', '        self.fc = nn.Linear(10)', ''].join('\n'),
  });
  await assert.rejects(exportPythonModel({ factory: 'broken.task:Net', root, python, cacheDir: tmp('i2f-pycache-') }), (e: unknown) => {
    assert.ok(e instanceof PythonExportError);
    assert.match(e.message, /broken\.task:Net could not be built: TypeError: .*out_features/);
    assert.equal(e.tracebackTail[0], 'broken/task.py:5 in __init__');
    assert.match(e.tracebackTail[1], /self\.fc = nn\.Linear\(10\)/);
    assert.match(e.tracebackTail[e.tracebackTail.length - 1], /^TypeError: /);
    assert.ok(!e.tracebackTail.some((l) => l.includes('export_model.py') || l.includes('frozen importlib')));
    assert.deepEqual(e.userFrame, { file: join(root, 'broken', 'task.py'), line: 4 });
    return true;
  });
});

test("a workspace module that is missing is an error, never stood in for; the workspace's own imports of absent packages are", async () => {
  const root = workspace({
    'app/__init__.py': '',
    'app/task.py': 'import torch.nn as nn\nfrom app.helpers import thing\nclass Net(nn.Module):\n    pass\n',
  });
  await assert.rejects(exportPythonModel({ factory: 'app.task:Net', root, python, cacheDir: tmp('i2f-pycache-') }), /could not be imported: ModuleNotFoundError: No module named 'app\.helpers'/);
  const stubs = workspace({
    'm.py': [
      'import torch.nn as nn',
      'import flwr',
      'from flwr.clientapp import ClientApp',
      'from not_installed_anywhere.sub import Base',
      'app = ClientApp()',
      '@app.train()',
      'def train(msg, ctx):',
      '    return 1',
      'class Strategy(Base):',
      '    pass',
      'class Net(nn.Module):',
      '    def __init__(self):',
      '        super().__init__()',
      '        assert train(None, None) == 1, "a stand-in decorator keeps the function"',
      '        self.fc = nn.Linear(4, 2)',
      '    def forward(self, x):',
      '        return self.fc(x)',
    ].join('\n'),
  });
  const e = await exportPythonModel({ factory: 'm:Net', root: stubs, python, cacheDir: tmp('i2f-pycache-') });
  assert.deepEqual([...e.stubbed].sort(), ['flwr', 'not_installed_anywhere']);
  assert.deepEqual(e.inputShape, [4]);
});

test("a submodule or name that this torch lacks (torch.func, LRScheduler: torch ≥ 2.0) is stood in for when the workspace imports it; a model that needs it fails saying so; torch's own probes still see the truth", async () => {
  const root = workspace({
    's.py': [
      'import torch',
      'import torch.nn as nn',
      'from torch.func import grad_and_value, vmap',
      'from torch.optim.lr_scheduler import LRScheduler, StepLR',
      'class Warmup(LRScheduler):',
      '    pass',
      'class Net(nn.Module):',
      '    def __init__(self):',
      '        super().__init__()',
      '        # torch itself was not changed: the real module has no LRScheduler, and StepLR is the real class',
      '        import torch.optim.lr_scheduler as sched',
      '        assert not hasattr(sched, "LRScheduler") and StepLR is sched.StepLR',
      '        self.fc = nn.Linear(6, 3)',
      '    def forward(self, x):',
      '        return self.fc(x)',
      'class PerSample(nn.Module):',
      '    def __init__(self):',
      '        super().__init__()',
      '        self.fc = nn.Linear(6, 3)',
      '    def forward(self, x):',
      '        return vmap(self.fc)(x)',
      '',
    ].join('\n'),
    // A missing name of the workspace's own module stays the user's error.
    'own.py': 'import torch.nn as nn\nfrom s import NotThere\nclass Net(nn.Module):\n    pass\n',
  });
  const cacheDir = tmp('i2f-pycache-');
  const e = await exportPythonModel({ factory: 's:Net', root, python, cacheDir });
  assert.deepEqual(e.stubbed, ['torch.func', 'torch.optim.lr_scheduler.LRScheduler']);
  assert.deepEqual(e.inputShape, [6]);
  assert.deepEqual(e.parameters, [['fc.weight', [3, 6]], ['fc.bias', [3]]]);
  await assert.rejects(exportPythonModel({ factory: 's:PerSample', root, python, cacheDir }), (err: unknown) => {
    assert.ok(err instanceof PythonExportError);
    assert.match(
      err.message,
      /^s:PerSample could not be run: the model uses torch\.func\.vmap, which this Python lacks \(torch\.func was stood in for while the script was imported, and a stand-in does nothing\): install a torch that has torch\.func \(this one is 1\.13\) in the Python that builds the model\. The error: ValueError: could not infer the input shape/,
    );
    return true;
  });
  await assert.rejects(exportPythonModel({ factory: 'own:Net', root, python, cacheDir }), /could not be imported: ImportError: cannot import name 'NotThere' from 's'/);
});

test('a factory that is not a torch.nn.Module, or a forward pass that fits no standard size, is said plainly', async () => {
  const root = workspace({
    'f.py': [
      'import torch.nn as nn',
      'def not_a_model():',
      '    return {"a": 1}',
      'class Odd(nn.Module):',
      '    def __init__(self):',
      '        super().__init__()',
      '        self.conv = nn.Conv2d(3, 2, 3)',
      '    def forward(self, x):',
      '        assert x.shape[-1] == 17',
      '        return self.conv(x).flatten(1)',
    ].join('\n'),
  });
  const cacheDir = tmp('i2f-pycache-');
  await assert.rejects(exportPythonModel({ factory: 'f:not_a_model', root, python, cacheDir }), /returned builtins\.dict, not a torch\.nn\.Module/);
  await assert.rejects(exportPythonModel({ factory: 'f:Odd', root, python, cacheDir }), /could not infer the input shape \(first layer Conv2d with 3 input channels; tried \[3, 28, 28\], \[3, 32, 32\], \[3, 64, 64\], \[3, 224, 224\]\): set i2f: input-shape/);
  const ok = await exportPythonModel({ factory: 'f:Odd', root, python, cacheDir, inputShape: [3, 17, 17] });
  assert.deepEqual(ok.inputShape, [3, 17, 17]);
});

test('the interpreter search takes the first candidate that imports torch and says why it passed over the others', async () => {
  const dir = tmp('i2f-fakepy-');
  const noTorch = join(dir, 'python3');
  writeFileSync(noTorch, "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n");
  chmodSync(noTorch, 0o755);
  const root = workspace({});
  mkdirSync(join(root, '.venv', 'bin'), { recursive: true });
  cpSync(noTorch, join(root, '.venv', 'bin', 'python3'));
  const search = await findPython({ configured: join(dir, 'missing-python'), venvRoots: [root], pathEnv: `${dir}:/usr/bin` });
  assert.deepEqual(search.tried.map((t) => [t.source, t.problem]), [
    ['setting', 'not found'],
    ['workspace-venv', 'torch is not installed'],
    ['path', 'torch is not installed'],
  ]);
  assert.equal(search.found?.path, DEBIAN_PYTHON);
  assert.equal(search.found?.source, 'path');
  assert.match(search.found!.torchVersion, /^1\.13/);
  const none = await findPython({ venvRoots: [root], pathEnv: dir });
  assert.equal(none.found, undefined);
  await assert.rejects(materialisePythonModel({ factory: 'x:Net', root }, { venvRoots: [root], pathEnv: dir, cacheDir: tmp('i2f-pycache-') }), /x:Net is defined in Python, and no Python with torch: tried .*\.venv\/bin\/python3 \(torch is not installed\).*set i2f\.python/);
});

test('a positive answer is remembered in the cache folder while the interpreter and torch files are unchanged', async () => {
  const cacheDir = tmp('i2f-pycache-');
  const first = await findPython({ configured: DEBIAN_PYTHON, pathEnv: '', cacheDir });
  const file = join(cacheDir, 'python-interpreters.json');
  const remembered = JSON.parse(readFileSync(file, 'utf8'));
  assert.equal(remembered[DEBIAN_PYTHON].torchVersion, first.found?.torchVersion);
  assert.match(remembered[DEBIAN_PYTHON].torchFile, /torch\/__init__\.py$/);
  // Read back, not re-probed: an edited entry is what the next search answers.
  writeFileSync(file, JSON.stringify({ [DEBIAN_PYTHON]: { ...remembered[DEBIAN_PYTHON], torchVersion: '9.9.9' } }));
  assert.equal((await findPython({ configured: DEBIAN_PYTHON, pathEnv: '', cacheDir })).found?.torchVersion, '9.9.9');
  // A torch file that changed (here: one that does not exist) invalidates it.
  writeFileSync(file, JSON.stringify({ [DEBIAN_PYTHON]: { ...remembered[DEBIAN_PYTHON], torchFile: '/nonexistent/torch/__init__.py', torchVersion: '9.9.9' } }));
  assert.equal((await findPython({ configured: DEBIAN_PYTHON, pathEnv: '', cacheDir })).found?.torchVersion, first.found?.torchVersion);
});

test('an export past its time limit, or cancelled, stops the Python process and says so', async () => {
  const root = workspace({ 'slow.py': 'import time\nimport torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        time.sleep(600)\n' });
  await assert.rejects(exportPythonModel({ factory: 'slow:Net', root, python, cacheDir: tmp('i2f-pycache-'), timeoutMs: 2000 }), /did not finish within 2 s/);
  const abort = new AbortController();
  const job = exportPythonModel({ factory: 'slow:Net', root, python, cacheDir: tmp('i2f-pycache-'), signal: abort.signal });
  setTimeout(() => abort.abort(), 200);
  await assert.rejects(job, /was cancelled/);
});

test("a LightningModule is built on a Python without Lightning: the stand-in is a torch.nn.Module, save_hyperparameters fills hparams, log does nothing, forward is the class's own", async () => {
  const root = workspace({
    'lit.py': [
      'import pytorch_lightning as pl',
      'import lightning as L',
      'import torch.nn as nn',
      'class Lit(pl.LightningModule):',
      '    def __init__(self, hidden=5, lr=0.1, **extra):',
      '        super().__init__()',
      '        self.save_hyperparameters()',
      '        self.log("started", 1)',
      '        self.fc = nn.Linear(4, self.hparams.hidden)',
      '        assert self.hparams.lr == 0.1 and self.hparams["depth"] == 2, dict(self.hparams)',
      '    def forward(self, x):',
      '        return self.fc(x) * 2',
      'class Named(L.pytorch.LightningModule):',
      '    def __init__(self, width=3, seed=0):',
      '        super().__init__()',
      '        self.save_hyperparameters("width")',
      '        assert dict(self.hparams) == {"width": 3}',
      '        self.fc = nn.Linear(6, self.hparams.width)',
      '    def forward(self, x):',
      '        return self.fc(x)',
    ].join('\n'),
  });
  const e = await exportPythonModel({ factory: 'lit:Lit', root, args: { positional: [], keyword: { hidden: 7, depth: 2 } }, python, cacheDir: tmp('i2f-pycache-') });
  assert.equal(e.lightning, 'pytorch_lightning.LightningModule');
  assert.deepEqual(e.parameters, [['fc.weight', [7, 4]], ['fc.bias', [7]]]);
  assert.ok(e.stubbed.includes('pytorch_lightning'));
  const named = await exportPythonModel({ factory: 'lit:Named', root, python, cacheDir: tmp('i2f-pycache-') });
  assert.equal(named.lightning, 'lightning.pytorch.LightningModule');
  assert.deepEqual(named.inputShape, [6]);
  // Flower's quickstart-pytorch-lightning, unchanged: LitAutoEncoder's forward is its encoder (784 → 3); its decoder's
  // parameters are in named_parameters too (training_step trains both: pysource/lightningStep.ts says so where it reads it).
  const flower = await exportPythonModel({ factory: 'pytorchlightning_example.task:LitAutoEncoder', root: join(__dirname, '..', '..', 'fixtures', 'python', 'flower-quickstart-pytorch-lightning'), python, cacheDir: tmp('i2f-pycache-') });
  assert.equal(flower.lightning, 'pytorch_lightning.LightningModule');
  assert.deepEqual(flower.inputShape, [784]);
  assert.deepEqual(flower.parameters.map(([n]) => n), ['encoder.0.weight', 'encoder.0.bias', 'encoder.2.weight', 'encoder.2.bias', 'decoder.0.weight', 'decoder.0.bias', 'decoder.2.weight', 'decoder.2.bias']);
});

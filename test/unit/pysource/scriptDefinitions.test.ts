// The module a standalone script's model is built from when its top level must not run (pysource/scriptDefinitions.ts):
// its imports, the definitions the model needs and what configures them, constants that cannot run written as the
// values the static reader gives, and a located refusal when a definition the model needs would run something itself.
// Opacus' dcgan.py (the real case) is read in importSafety.test.ts and built in test/cli/standaloneScripts.test.ts.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { importHazard } from '../../../server/src/pysource/importSafety';
import { indexModule } from '../../../server/src/pysource/moduleIndex';
import { parsePython, pythonParser } from '../../../server/src/pysource/pythonParser';
import { definitionsRefusal, scriptDefinitions, type ScriptDefinitions } from '../../../server/src/pysource/scriptDefinitions';

async function definitions(text: string, name = 'Net'): Promise<ScriptDefinitions> {
  const parser = await pythonParser();
  const parsed = parsePython(parser, text);
  assert.equal(parsed.kind, 'tree');
  if (parsed.kind !== 'tree') throw new Error('not parsed');
  try {
    const index = indexModule('/nowhere/train.py', text, parsed.tree);
    const skipped = importHazard('/nowhere/train.py', index.root);
    assert.ok(skipped, 'the script itself must not be imported');
    return scriptDefinitions(parser, index, name, skipped);
  } finally {
    parsed.tree.delete();
  }
}

const kept = (d: ScriptDefinitions) => (d.kind === 'module' ? d.module.text.split('\n').map((l, i) => (l ? `${i + 1}: ${l}` : '')).filter(Boolean) : []);

test('keeps the imports, the class, the constants it reads and the statements that configure them; never the training', async () => {
  const d = await definitions([
    'import torch.nn as nn',
    'from opacus import PrivacyEngine',
    'CLASSES = []',
    'CLASSES.append("cat")',
    'CLASSES.append("dog")',
    'WIDTH = 4 * len(CLASSES)',
    'class Net(nn.Module):',
    '    def __init__(self):',
    '        super().__init__()',
    '        self.fc = nn.Linear(WIDTH, len(CLASSES))',
    'model = Net()',
    'PrivacyEngine().make_private(module=model, noise_multiplier=1.0, max_grad_norm=1.0)',
    'for epoch in range(3):',
    '    pass',
  ].join('\n'));
  assert.equal(d.kind, 'module');
  assert.deepEqual(kept(d), ['1: import torch.nn as nn', '2: from opacus import PrivacyEngine', '3: CLASSES = []', '4: CLASSES.append("cat")', '5: CLASSES.append("dog")', '6: WIDTH = 4 * len(CLASSES)', '7: class Net(nn.Module):', '8:     def __init__(self):', '9:         super().__init__()', '10:         self.fc = nn.Linear(WIDTH, len(CLASSES))']);
  if (d.kind === 'module') {
    assert.equal(d.constants.length, 0, 'what can run is kept as written');
    assert.deepEqual(d.skipped, { what: 'Net()', line: 10, why: 'it calls Net, a class defined in this file (line 7)' });
  }
});

test('a constant whose statements would exit on a required flag is written as its argparse default, a float as a float', async () => {
  const d = await definitions([
    'import argparse',
    'import torch.nn as nn',
    'parser = argparse.ArgumentParser()',
    'parser.add_argument("--data", required=True)',
    'parser.add_argument("--hidden", type=int, default=16)',
    'parser.add_argument("--scale", type=float, default=2)',
    'args = parser.parse_args()',
    'HIDDEN = int(args.hidden)',
    'SCALE = float(args.scale)',
    'class Net(nn.Module):',
    '    def __init__(self):',
    '        super().__init__()',
    '        self.fc = nn.Linear(HIDDEN, 2)',
    '        self.scale = SCALE',
  ].join('\n'));
  assert.equal(d.kind, 'module');
  if (d.kind !== 'module') return;
  assert.deepEqual(kept(d), ['1: import argparse', '2: import torch.nn as nn', '8: HIDDEN = 16', '9: SCALE = 2.0', '10: class Net(nn.Module):', '11:     def __init__(self):', '12:         super().__init__()', '13:         self.fc = nn.Linear(HIDDEN, 2)', '14:         self.scale = SCALE']);
  assert.deepEqual(d.constants.map((c) => [c.name, c.python, c.from]), [
    ['HIDDEN', '16', '`int(args.hidden)` (line 8), default of --hidden (line 5; the command line may override it)'],
    ['SCALE', '2.0', '`float(args.scale)` (line 9), default of --scale (line 6; the command line may override it)'],
  ]);
});

test('refused, with the chain and the line, when what the class needs cannot run and cannot be read as a value', async () => {
  const flags = ['import argparse', 'import torch.nn as nn', 'parser = argparse.ArgumentParser()', 'parser.add_argument("--data", required=True)', 'parser.add_argument("--hidden", type=int, default=16)', 'args = parser.parse_args()'];
  // The class reads the parsed flags themselves: a Namespace is not a value the reader writes.
  const namespace = await definitions([...flags, 'class Net(nn.Module):', '    def __init__(self):', '        super().__init__()', '        self.fc = nn.Linear(args.hidden, 2)'].join('\n'));
  assert.equal(namespace.kind, 'refused');
  if (namespace.kind === 'refused') {
    assert.deepEqual(namespace.chain, ['Net', 'args']);
    assert.equal(definitionsRefusal('/nowhere/train.py', namespace), "nor can Net be built from train.py's definitions alone: Net needs `args`, which would run `parser.parse_args()` (line 6: `--data` is required, so with only the script's name on the command line parse_args() exits)");
  }
  // A constant computed by the script's own function from the environment.
  const computed = await definitions(['import os', 'import torch.nn as nn', 'def width():', '    return int(os.environ["W"])', 'W = width()', 'class Net(nn.Module):', '    def __init__(self):', '        super().__init__()', '        self.fc = nn.Linear(W, 2)', 'Net()'].join('\n'));
  assert.equal(computed.kind, 'refused');
  if (computed.kind === 'refused') assert.match(definitionsRefusal('/nowhere/train.py', computed), /Net needs `W`, which would run `width\(\)` \(line 5: it calls width, a function defined in this file/);
  // The class body itself trains when the class is defined.
  const body = await definitions(['import torch.nn as nn', 'def main():', '    pass', 'class Net(nn.Module):', '    started = main()', 'main()'].join('\n'));
  assert.equal(body.kind, 'refused');
  if (body.kind === 'refused') assert.match(definitionsRefusal('/nowhere/train.py', body), /^nor can Net be built from train\.py's definitions alone, which would run `main\(\)` \(line 5/);
  // A constant set only inside a block that trains, at run time.
  const block = await definitions(['import os', 'import torch.nn as nn', 'def main():', '    pass', 'try:', '    main()', '    W = int(os.environ["W"])', 'except KeyError:', '    pass', 'class Net(nn.Module):', '    def __init__(self):', '        super().__init__()', '        self.fc = nn.Linear(W, 2)'].join('\n'));
  assert.equal(block.kind, 'refused');
  if (block.kind === 'refused') assert.match(definitionsRefusal('/nowhere/train.py', block), /Net needs `W`, which would run `W = int\(os\.environ\["W"\]\)` \(line 7: W is assigned inside a block that runs at import, and its value is not read statically\)/);
});

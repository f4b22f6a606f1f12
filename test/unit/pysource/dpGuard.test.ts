// A DP call under a condition known from the script's defaults (pysource/dpGuard.ts), and constructor arguments that
// are list/tuple/dict displays (pysource/displayValue.ts), read by readPythonFile on small scripts written here in
// the shapes NVFlare's examples use (their own files are audited in test/cli/nvflareJobs.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';

async function read(lines: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-guard-'));
  const file = join(dir, 'train.py');
  const text = lines.join('\n');
  writeFileSync(file, text);
  return readPythonFile(file, text);
}

const HEAD = [
  'import argparse',
  'import torch.nn as nn',
  'from opacus import PrivacyEngine',
  'class Net(nn.Module):',
  '    def __init__(self, dims=(4,), scale=None):',
  '        super().__init__()',
  '        self.fc = nn.Linear(3, dims[0])',
  '    def forward(self, x):',
  '        return self.fc(x)',
];

function dpCall(indent: string): string {
  return `${indent}model, opt, loader = PrivacyEngine().make_private_with_epsilon(module=model, optimizer=None, data_loader=None, target_epsilon=target_epsilon, target_delta=1e-5, epochs=1, max_grad_norm=1.0)`;
}

test('`if target_epsilon:` with --target_epsilon default None: I2F175 names the flag, DP is off, no type error on the None', async () => {
  const r = await read([
    ...HEAD,
    'def main(target_epsilon):',
    '    model = Net()',
    '    if target_epsilon:',
    dpCall('        '),
    'if __name__ == "__main__":',
    '    p = argparse.ArgumentParser()',
    '    p.add_argument("--target_epsilon", type=float, default=None)',
    '    args = p.parse_args()',
    '    main(target_epsilon=args.target_epsilon)',
  ]);
  const setup = r.setup!;
  const off = setup.problems.find((p) => p.rule === 'I2F175');
  assert.ok(off, JSON.stringify(setup.problems));
  assert.match(off.message, /runs only `if target_epsilon:` \(line 12\), which is false on the script's defaults \(`target_epsilon` = None, default of --target_epsilon/);
  assert.match(off.message, /`--target_epsilon …` on the command line turns it on/);
  assert.equal(off.range.start.line, 12); // the call, line 13
  assert.equal(setup.dpEnabled?.value, false);
  assert.equal(setup.dpEnabled?.valueRange.start.line, 11); // the condition
  assert.equal(setup.problems.filter((p) => p.rule === 'I2F108').length, 0);
  assert.equal(setup.targetEpsilon, undefined);
  assert.equal(setup.clippingNorm, undefined);
  assert.equal(setup.flavour, 'generic');
  assert.equal(setup.pythonModel?.value, 'train:Net'); // the model is still the one the script trains
});

test('`if args.dp:` (store_true), `if x is not None:` and the else of `if x is None:` are off on defaults; a true default or an unread condition leaves the call analysed', async () => {
  const cases: { guard: string[]; off: boolean }[] = [
    { guard: ['    p.add_argument("--dp", action="store_true", default=False)', '    args = p.parse_args()', '    if args.dp:'], off: true },
    { guard: ['    x = None', '    if x is not None:'], off: true },
    { guard: ['    x = None', '    if x is None:', '        pass', '    else:'], off: true },
    { guard: ['    x = 0', '    if not x:'], off: false },
    { guard: ['    x = 3', '    if x:'], off: false },
    { guard: ['    if len(model.fc.weight) > 2:'], off: false },
  ];
  for (const c of cases) {
    const r = await read([...HEAD, 'def main():', '    p = argparse.ArgumentParser()', '    target_epsilon = 2.0', '    model = Net()', ...c.guard, dpCall('        '), 'main()']);
    const setup = r.setup!;
    assert.equal(setup.problems.some((p) => p.rule === 'I2F175'), c.off, c.guard.join(' / '));
    assert.equal(setup.targetEpsilon?.value, c.off ? undefined : 2, c.guard.join(' / '));
  }
});

test('constructor arguments that are list/tuple/dict displays of constants and argparse defaults are literals', async () => {
  const r = await read([
    ...HEAD,
    'HIDDEN = 8',
    'def main():',
    '    p = argparse.ArgumentParser()',
    '    p.add_argument("--width", type=int, default=16)',
    '    args = p.parse_args()',
    '    model = Net(dims=[HIDDEN, args.width, 2], scale={"a": (1, 2.5), "b": None})',
    '    PrivacyEngine().make_private(module=model, optimizer=None, data_loader=None, noise_multiplier=1.0, max_grad_norm=1.0)',
    'if __name__ == "__main__":',
    '    main()',
  ]);
  assert.deepEqual(r.setup!.pythonModelArgs, { positional: [], keyword: { dims: [8, 16, 2], scale: { a: [1, 2.5], b: null } } });
  const bad = await read([...HEAD, 'import random', 'def main():', '    model = Net(dims=[4, random.randint(1, 3)])', '    PrivacyEngine().make_private(module=model, optimizer=None, data_loader=None, noise_multiplier=1.0, max_grad_norm=1.0)']);
  assert.equal(bad.setup!.pythonModel, undefined);
  assert.match(bad.setup!.pythonModelProblem?.reason ?? '', /`dims` = `\[4, random\.randint\(1, 3\)\]` \(line 12\) is set at run time \(`random\.randint\(1, 3\)` is computed at run time\)/);
});

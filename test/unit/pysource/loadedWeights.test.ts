// Weights a DP script loads into the model it trains (pysource/loadedWeights.ts), read without running anything:
// Opacus' dcgan.py as published (`netD.load_state_dict(torch.load(opt.netD))` when --netD is given, default ""), the
// fine-tuning and resume scripts of test/fixtures/python/script-weights/ with the checkpoints tools/fixtures/
// script_weights.py wrote for them, then the variants one by one on short scripts: a constant, an os.path.join, a
// `ckpt["state_dict"]` entry, a load after the DP call or into another model (not what the call starts from), a path
// computed at run time, a whole pickled model and a Lightning checkpoint.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';
import { linkConfig } from '../../../server/src/workspace/discover';
import { RULES } from '../../../server/src/config/ruleCatalog';

const FIXTURES = join(__dirname, '../../fixtures');
const SCRIPT_WEIGHTS = join(FIXTURES, 'python', 'script-weights');
const DCGAN = join(FIXTURES, 'upstream-python', 'pytorch+opacus', 'examples', 'dcgan.py');

async function read(file: string, text = readFileSync(file, 'utf8')) {
  const r = await readPythonFile(file, text);
  assert.ok(r.setup, file);
  const of = (code: string) => r.setup!.problems.filter((p) => p.rule === code);
  return { setup: r.setup, loaded: of(RULES.scriptWeights.code), notRead: of(RULES.scriptWeightsNotRead.code), pickled: of(RULES.pickledModel.code) };
}

/** A script in a fresh folder (with the files given beside it), read as the audit reads it. */
async function script(lines: string[], files: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-weights-'));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
  const file = join(dir, 'train.py');
  writeFileSync(file, lines.join('\n'));
  return { dir, file, ...(await read(file)) };
}

const HEAD = ['import argparse, os', 'import torch', 'import torch.nn as nn', 'from opacus import PrivacyEngine', 'class Net(nn.Module):', '    def __init__(self):', '        super().__init__()', '        self.fc = nn.Linear(4, 2)', '    def forward(self, x):', '        return self.fc(x)'];
const DP = (model = 'model') => `    ${model}, opt, dl = PrivacyEngine().make_private(module=${model}, optimizer=opt, data_loader=dl, noise_multiplier=1.0, max_grad_norm=1.0)`;

test("Opacus' dcgan.py: netD loads --netD when it is given; its default \"\" names no file, so the default run starts at initialisation", async () => {
  const { setup, loaded, notRead } = await read(DCGAN);
  assert.equal(notRead.length, 0);
  assert.equal(loaded.length, 1);
  const line = readFileSync(DCGAN, 'utf8').split('\n')[loaded[0].range.start.line];
  assert.match(line, /^\s+netD\.load_state_dict\(torch\.load\(opt\.netD\)\)/, 'on the load line (261), not on netG\'s (220)');
  assert.match(loaded[0].message, /^`netD\.load_state_dict\(torch\.load\(opt\.netD\)\)` \(line 261\) loads weights into the model from --netD when it is given \(its default "" on line 63 names no file\), before make_private: the default run starts at initialisation/);
  assert.match(loaded[0].message, /`i2f analyze dcgan:Discriminator --weights PATH`/);
  assert.equal(setup.weights, undefined);
  assert.match(setup.loadedWeightsNote ?? '', /loads weights from --netD when it is given \(line 261\)/);
});

test('the fixture scripts: a module constant and an argparse default name checkpoints in the workspace, which become the weights', async () => {
  const reference = JSON.parse(readFileSync(join(SCRIPT_WEIGHTS, 'reference.json'), 'utf8')).checkpoints as Record<string, unknown>;
  const finetune = await read(join(SCRIPT_WEIGHTS, 'finetune', 'finetune_dp.py'));
  assert.equal(finetune.setup.weights?.resolved, join(SCRIPT_WEIGHTS, 'finetune', 'pretrained.pt'));
  assert.ok(reference['finetune/pretrained.pt'], 'the checkpoint the generator wrote');
  assert.match(finetune.loaded[0].message, /\(line 33\) loads weights into the model before make_private: the analysis uses those weights, pretrained\.pt \(written on line 12\)/);
  assert.equal(linkConfig(finetune.setup.file, finetune.setup).weights, join(SCRIPT_WEIGHTS, 'finetune', 'pretrained.pt'));

  const resume = await read(join(SCRIPT_WEIGHTS, 'resume', 'train_dp.py'));
  assert.equal(resume.setup.weights?.resolved, join(SCRIPT_WEIGHTS, 'resume', 'runs', 'last.pth.tar'));
  assert.ok(reference['resume/runs/last.pth.tar']);
  assert.match(resume.loaded[0].message, /`model\.load_state_dict\(ckpt\["state_dict"\]\)` \(line 31\) .* runs\/last\.pth\.tar, its 'state_dict' entry \(default of --resume \(line 24/);

  // A whole pickled model: no class to build, said so with the fix; no weights.
  const pickled = await read(join(SCRIPT_WEIGHTS, 'pickled', 'train_dp.py'));
  assert.equal(pickled.pickled.length, 1);
  assert.match(pickled.pickled[0].message, /^`torch\.load\("model\.pt"\)` \(line 9\) unpickles a whole model from model\.pt: its class and code cannot be read without running them/);
  assert.match(pickled.setup.pythonModelProblem?.fix ?? '', /torch\.save\(model\.state_dict\(\), PATH\).*torch\.onnx\.export/);
  assert.equal(pickled.setup.weights, undefined);
});

test('variants: os.path.join of constants, ckpt.get("model"), .to(device) and ModuleValidator.fix between, safetensors load_file', async () => {
  const a = await script(
    [...HEAD, 'CKPT_DIR = "ckpt"', 'def main():', '    net = Net().to("cpu")', '    state = torch.load(os.path.join(CKPT_DIR, "best.pt"), map_location="cpu")', '    net.load_state_dict(state.get("model"))', '    model = ModuleValidator.fix(net)', DP(), 'if __name__ == "__main__":', '    main()'],
    { 'ckpt/best.pt': 'x' },
  );
  assert.equal(a.setup.weights?.resolved, join(a.dir, 'ckpt', 'best.pt'));
  assert.match(a.loaded[0].message, /ckpt\/best\.pt, its 'model' entry \(`os\.path\.join\(CKPT_DIR, "best\.pt"\)` \(line 14\)\)/);

  const b = await script([...HEAD, 'from safetensors.torch import load_file', 'def main():', '    model = Net()', '    model.load_state_dict(load_file("model.safetensors"))', DP(), 'main()'], { 'model.safetensors': 'x' });
  assert.equal(b.setup.weights?.resolved, join(b.dir, 'model.safetensors'));
  // A bare `load` that is not torch's (json's here) is no checkpoint read: the weights are then not traced.
  const c = await script([...HEAD, 'from json import load', 'def main():', '    model = Net()', '    model.load_state_dict(load(open("w.json")))', DP(), 'main()'], { 'w.json': '{}' });
  assert.equal(c.setup.weights, undefined);
  assert.match(c.notRead[0].message, /from `load\(open\("w\.json"\)\)`, which is set at run time \(`load\(open\("w\.json"\)\)` was not traced to a `torch\.load\(…\)` of a file\)/);
});

test('not the weights the DP call starts from: a load after it, or into another model, is not read', async () => {
  const after = await script([...HEAD, 'def main():', '    model = Net()', DP(), '    model.load_state_dict(torch.load("best.pt"))', 'main()'], { 'best.pt': 'x' });
  assert.equal(after.loaded.length + after.notRead.length, 0);
  assert.equal(after.setup.weights, undefined);
  const other = await script([...HEAD, 'def main():', '    teacher = Net()', '    teacher.load_state_dict(torch.load("teacher.pt"))', '    model = Net()', DP(), 'main()'], { 'teacher.pt': 'x' });
  assert.equal(other.loaded.length + other.notRead.length, 0);
  // The same name in another function is another variable.
  const elsewhere = await script([...HEAD, 'def evaluate():', '    model = Net()', '    model.load_state_dict(torch.load("best.pt"))', 'def main():', '    model = Net()', DP(), 'main()'], { 'best.pt': 'x' });
  assert.equal(elsewhere.loaded.length + elsewhere.notRead.length, 0);
});

test('weights the analysis cannot use are said, with the fix, and the leakage finding says it is at initialisation', async () => {
  const missing = await script([...HEAD, 'def main():', '    model = Net()', '    model.load_state_dict(torch.load("pretrained/net.pt"))', DP(), 'main()']);
  assert.equal(missing.setup.weights, undefined);
  assert.match(missing.notRead[0].message, /^`model\.load_state_dict\(torch\.load\("pretrained\/net\.pt"\)\)` \(line 13\) loads weights into the model from pretrained\/net\.pt \(written on line 13\), which is not in the workspace, before make_private: the analysis is at initialisation, not of the weights training starts from\. Fix: put the checkpoint at pretrained\/net\.pt \(relative to the script's folder\), or `i2f analyze train:Net --weights PATH`/);
  assert.match(missing.setup.loadedWeightsNote ?? '', /^the script loads weights from pretrained\/net\.pt \(line 13\), not read: put the checkpoint at/);

  const runtime = await script([...HEAD, 'import sys', 'def main():', '    model = Net()', '    model.load_state_dict(torch.load(sys.argv[1]))', DP(), 'main()']);
  assert.match(runtime.notRead[0].message, /from `sys\.argv\[1\]`, which is set at run time \(.*\), before make_private: the analysis is at initialisation.*Fix: name the file with a literal, a module constant or an argparse default/);

  const noDefault = await script([...HEAD, 'p = argparse.ArgumentParser()', 'p.add_argument("--resume")', 'def main():', '    args = p.parse_args()', '    model = Net()', '    if args.resume:', '        model.load_state_dict(torch.load(args.resume)["state_dict"])', DP(), 'main()']);
  assert.equal(noDefault.notRead.length, 0);
  assert.match(noDefault.loaded[0].message, /from --resume when it is given \(--resume has no default\), before make_private: the default run starts at initialisation/);
});

test('a load under an `if` that is false in the default run is not the default run\'s weights; one under a run-time test is', async () => {
  const gated = await script(
    [...HEAD, 'p = argparse.ArgumentParser()', 'p.add_argument("--pretrained", action="store_true")', 'def main():', '    args = p.parse_args()', '    model = Net()', '    if args.pretrained:', '        model.load_state_dict(torch.load("pretrained.pt"))', DP(), 'main()'],
    { 'pretrained.pt': 'x' },
  );
  assert.equal(gated.setup.weights, undefined);
  assert.match(gated.loaded[0].message, /from pretrained\.pt only when `args\.pretrained` holds, which it does not in the default run \(--pretrained is not given\)/);
  const negated = await script(
    [...HEAD, 'FROM_SCRATCH = True', 'def main():', '    model = Net()', '    if not FROM_SCRATCH:', '        model.load_state_dict(torch.load("pretrained.pt"))', DP(), 'main()'],
    { 'pretrained.pt': 'x' },
  );
  assert.equal(negated.setup.weights, undefined);
  const exists = await script(
    [...HEAD, 'def main():', '    model = Net()', '    if os.path.exists("pretrained.pt"):', '        model.load_state_dict(torch.load("pretrained.pt"))', DP(), 'main()'],
    { 'pretrained.pt': 'x' },
  );
  assert.equal(exists.setup.weights?.resolved, join(exists.dir, 'pretrained.pt'), 'run time: the file is here, so the run loads it');
});

test("a LightningModule loaded with load_from_checkpoint: the checkpoint is the weights", async () => {
  const r = await script([...HEAD, 'def main():', '    model = Net.load_from_checkpoint("lightning_logs/last.ckpt")', DP(), 'if __name__ == "__main__":', '    main()'], { 'lightning_logs/last.ckpt': 'x' });
  assert.equal(r.setup.weights?.resolved, join(r.dir, 'lightning_logs', 'last.ckpt'));
  assert.match(r.loaded[0].message, /builds the model from a Lightning checkpoint before make_private/);
  assert.equal(r.setup.pythonModel?.value, 'train:Net', 'the class it is loaded into, built by the bridge');
});

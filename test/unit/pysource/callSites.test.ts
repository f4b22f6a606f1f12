// The Python DP reader on the test fixtures (test/fixtures/python, written for these tests in the shapes the libraries'
// own examples use): each yields its call sites, values, where each value is written, and every possible value.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';
import { parsePython, pythonParser } from '../../../server/src/pysource/pythonParser';
import type { ConfigField } from '../../../server/src/config/trainingSetup';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'python');

async function read(rel: string) {
  const file = join(FIXTURES, rel);
  return readPythonFile(file, readFileSync(file, 'utf8'));
}

function line(f: ConfigField<unknown> | undefined): number | undefined {
  return f ? f.valueRange.start.line + 1 : undefined;
}

test('Flower app: the noise from a conditional in client_fn through the client class, the clipping norm from pyproject.toml', async () => {
  const r = await read('flower-app/dpapp/client_app.py');
  assert.deepEqual(r.sites.map((s) => s.name), ['PrivacyEngine', 'make_private']);
  const setup = r.setup!;
  assert.equal(setup.format, 'python');
  assert.equal(setup.flavour, 'opacus');
  assert.equal(setup.clippingScope, 'per-example');
  // Both branches of `0.8 if partition_id % 2 == 0 else 1.3` are kept; the weakest (0.8) is analysed.
  assert.equal(setup.noiseMultiplier?.value, 0.8);
  assert.deepEqual(setup.noiseMultiplier?.fromCode?.alternatives.map((a) => a.value), [0.8, 1.3]);
  assert.equal(setup.noiseMultiplier?.fromCode?.source.range.start.line, 34); // the literal 0.8, line 35
  assert.equal(setup.noiseMultiplier?.fromCode?.written, 'self.noise_multiplier');
  assert.equal(line(setup.noiseMultiplier), 27); // located on the argument of make_private
  // max-grad-norm: the argument in client_app.py, its value written in pyproject.toml (line 20), both ranges kept.
  assert.equal(setup.clippingNorm?.value, 1);
  assert.equal(line(setup.clippingNorm), 28);
  const clipSource = setup.clippingNorm?.fromCode?.source;
  assert.equal(clipSource?.kind, 'run-config');
  assert.equal(clipSource?.key, 'max-grad-norm');
  assert.equal(clipSource?.file, join(FIXTURES, 'flower-app', 'pyproject.toml'));
  assert.equal(clipSource?.range.start.line, 19);
  // The model: `module=self.model` → `self.model = Net()` → imported from dpapp.task.
  assert.equal(r.modelClass?.name, 'Net');
  assert.equal(r.modelClass?.factory, 'dpapp.task:Net');
  assert.equal(r.modelClass?.file, join(FIXTURES, 'flower-app', 'dpapp', 'task.py'));
  const summary = setup.problems.find((p) => p.rule === 'I2F140');
  assert.ok(summary, 'one summary finding');
  assert.equal(summary.range.start.line, 26); // on `noise_multiplier=` of make_private
  assert.match(summary.message, /noise multiplier 0\.8 \(one of 0\.8, 1\.3: the weakest is analysed\)/);
  assert.match(summary.message, /clipping norm 1 from 'max-grad-norm' in pyproject\.toml/);
  assert.match(summary.message, /Model: `dpapp\.task:Net` \(task\.py\), built by the workspace's Python/);
  // The export bridge imports it from the app's root (the folder of pyproject.toml), not from dpapp/.
  assert.equal(setup.pythonModel?.value, 'dpapp.task:Net');
  assert.equal(setup.pythonModelRoot, join(FIXTURES, 'flower-app'));
});

test('a Flower server app without DP calls and the app task module yield nothing', async () => {
  assert.equal((await read('flower-app/dpapp/server_app.py')).setup, null);
  assert.equal((await read('flower-app/dpapp/task.py')).setup, null);
});

test('Opacus with argparse: flag defaults (dest=, long options with dashes), the accountant and Poisson sampling', async () => {
  const r = await read('scripts/opacus_argparse.py');
  const s = r.setup!;
  assert.equal(s.noiseMultiplier?.value, 1.1);
  assert.equal(s.noiseMultiplier?.fromCode?.source.kind, 'flag-default');
  assert.equal(s.noiseMultiplier?.fromCode?.source.key, '--sigma');
  assert.equal(s.clippingNorm?.value, 1);
  assert.equal(s.clippingNorm?.fromCode?.source.key, '--max-per-sample-grad_norm');
  // data_loader=train_loader → DataLoader(…, batch_size=args.batch_size) → --batch-size's default, located in the DataLoader call.
  assert.equal(s.batchSize?.value, 64);
  assert.equal(s.batchSize?.fromCode?.source.key, '--batch-size');
  assert.equal(s.batchSize?.valueRange.start.line, 21);
  const summary = s.problems.find((p) => p.rule === 'I2F140')!.message;
  assert.match(summary, /accountant 'rdp'/);
  assert.match(summary, /poisson_sampling=False/);
});

test('TensorFlow Privacy with absl flags: the DP Keras optimizer and the privacy statement inputs', async () => {
  const s = (await read('scripts/tfp_absl.py')).setup!;
  assert.equal(s.flavour, 'tf-privacy');
  assert.equal(s.noiseMultiplier?.value, 1.1);
  assert.equal(s.clippingNorm?.value, 1);
  assert.equal(s.microbatches?.value, 250);
  assert.equal(s.batchSize?.value, 250);
  assert.equal(s.datasetSize?.value, 60000);
  assert.equal(s.targetDelta?.value, 1e-5);
  assert.equal(s.noiseMultiplier?.fromCode?.source.label.startsWith('default of --noise_multiplier'), true);
});

test('Optax: module constants and a helper that returns one', async () => {
  const s = (await read('scripts/optax_constants.py')).setup!;
  assert.equal(s.noiseMultiplier?.value, 1.3);
  assert.equal(s.clippingNorm?.value, 1.5);
  assert.deepEqual(s.clippingNorm?.fromCode?.steps, ['returned by clip_norm()', '`L2_NORM_CLIP` assigned at module level']);
  assert.equal(s.clippingScope, 'per-example');
});

test('Flower local DP: the noise std each client adds, from (ε, δ, sensitivity) by the Gaussian mechanism', async () => {
  const s = (await read('scripts/flower_local.py')).setup!;
  assert.equal(s.flavour, 'flower');
  assert.equal(s.clippingNorm?.value, 1);
  assert.equal(s.clippingScope, 'per-update');
  // s = Δ·√(2 ln(1.25/δ))/ε = 1·√(2 ln(125000))/2, computed here by hand: ln(125000) = 11.736069016284437.
  assert.ok(Math.abs(s.noiseStd!.value - Math.sqrt(2 * 11.736069016284437) / 2) < 1e-12);
  assert.equal(s.noiseStd?.fromCode?.source.kind, 'computed');
  assert.equal(s.noiseMultiplier, undefined);
  assert.equal(s.targetEpsilon, undefined, 'ε calibrates the local noise; it is not an accounting target here');
  assert.equal(s.dpSite, 'client');
});

test('Flower central DP with positional arguments', async () => {
  const r = await read('scripts/flower_central.py');
  assert.deepEqual(r.sites.map((x) => x.name), ['DifferentialPrivacyServerSideFixedClipping']);
  const s = r.setup!;
  assert.equal(s.flavour, 'flower');
  assert.equal(s.noiseMultiplier?.value, 0.5);
  assert.equal(s.clippingNorm?.value, 2);
  assert.equal(s.clippingScope, 'per-update');
  assert.equal(s.numSampledClients?.value, 10);
  assert.equal(s.dpSite, 'server', 'the wrapper adds its noise on the server');
});

test('dp-transformers PrivacyArguments', async () => {
  const s = (await read('scripts/dp_transformers_args.py')).setup!;
  assert.equal(s.noiseMultiplier?.value, 0.05);
  assert.equal(s.clippingNorm?.value, 1);
  assert.equal(s.targetEpsilon?.value, 8);
  assert.equal(s.targetDelta?.value, 1e-6);
});

test('a value read from the environment is "set at run time", with the reason, and not guessed', async () => {
  const s = (await read('scripts/runtime_values.py')).setup!;
  assert.equal(s.noiseMultiplier, undefined);
  assert.equal(s.clippingNorm?.value, 1);
  const p = s.problems.find((x) => x.rule === 'I2F141');
  assert.ok(p);
  assert.equal(p.key, 'noise_multiplier');
  assert.match(p.message, /environment variable/);
});

test('a make_private in a file that imports no DP library is not a call site', async () => {
  const r = await read('scripts/not_dp.py');
  assert.equal(r.sites.length, 0);
  assert.equal(r.setup, null);
});

test('columns are UTF-16 code units, as LSP counts them', async () => {
  const text = 'from opacus import PrivacyEngine\nπ = 0.5\ne = PrivacyEngine(); e.make_private(noise_multiplier=π, max_grad_norm="é" and 1.0)\n';
  const r = await readPythonFile('/x/y.py', text);
  const f = r.setup!.noiseMultiplier!;
  assert.equal(f.value, 0.5);
  assert.equal(f.fromCode!.source.range.start.line, 1);
  assert.deepEqual(f.fromCode!.source.range.start, { line: 1, character: 4 });
  assert.equal(text.split('\n')[2].slice(f.valueRange.start.character, f.valueRange.end.character), 'π');
});

test('limits: a file above the size limit or past the parse time is not read, and says so', async () => {
  const big = `import opacus\n${'x = 1\n'.repeat(20)}`;
  const r = await readPythonFile('/x/big.py', big, { maxTextLength: 50 });
  assert.equal(r.setup?.problems[0].rule, 'I2F144');
  assert.match(r.notRead!, /too large/);
  const parser = await pythonParser();
  let slow = 'import opacus\n';
  for (let i = 0; i < 20000; i++) slow += `def f${i}(a, b=[1, 2, (3, {4: 5})]):\n    return a if b else g(x=${i})\n`;
  assert.equal(parsePython(parser, slow, { maxParseMs: 0, maxTextLength: 1e8 }).kind, 'timeout');
});

test('hostile nesting and self-reference end in "set at run time", not a crash', async () => {
  const deep = `from opacus import PrivacyEngine\nx = ${'('.repeat(400)}1.0${')'.repeat(400)}\ny = y\nPrivacyEngine().make_private(noise_multiplier=x, max_grad_norm=y)\n`;
  const s = (await readPythonFile('/x/deep.py', deep)).setup!;
  assert.ok(s.problems.some((p) => p.rule === 'I2F141' && p.key === 'noise_multiplier' && /too far/.test(p.message)));
  assert.ok(s.problems.some((p) => p.rule === 'I2F141' && p.key === 'max_grad_norm' && /depends on itself/.test(p.message)));
});

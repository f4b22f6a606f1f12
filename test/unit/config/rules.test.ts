import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { checkTrainingSetup, syntaxFinding, type RuleOptions } from '../../../server/src/config/rules';
import { RULES, ruleAnchor } from '../../../server/src/config/ruleCatalog';
import type { ConfigSyntaxError } from '../../../server/src/config/keyTree';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';
import { fixture, range } from './helpers';

function findings(text: string, options: RuleOptions = {}, file = '/w/c.yaml') {
  const s = readTrainingConfig(file, text, { fileExists: () => true }) as TrainingSetup;
  return checkTrainingSetup(s, options);
}

function codes(text: string, options: RuleOptions = {}, file = '/w/c.yaml'): string[] {
  return findings(text, options, file).map((f) => f.code);
}

test('a clean Opacus config gets no findings', () => {
  const { file, text } = fixture('opacus/train.yaml');
  const s = readTrainingConfig(file, text, { fileExists: () => true }) as TrainingSetup;
  assert.deepEqual(checkTrainingSetup(s), []);
});

test('I2F101 flags clipping without a noise multiplier on the clipping key', () => {
  const f = findings('privacy:\n  max_grad_norm: 1.0\nbatch_size: 32\n');
  assert.deepEqual(f.map((x) => [x.code, x.severity, x.range]), [['I2F101', 'warning', range(1, 2, 1, 15)]]);
  assert.equal(f[0].documentation, 'docs/rules.md#i2f101-clipping-without-noise');
});

test('I2F101 stays quiet when epsilon picks the noise, or when the clipping is Hugging Face batch clipping', () => {
  assert.deepEqual(codes('privacy:\n  max_grad_norm: 1.0\n  target_epsilon: 3\n'), []);
  const { file, text } = fixture('huggingface/training_args.json');
  assert.deepEqual(codes(text, {}, file), []);
});

test('I2F102 flags noise multipliers below 0.1, above 2 and exactly 0, on the value', () => {
  for (const v of ['0.05', '5', '0']) {
    const f = findings(`noise_multiplier: ${v}\nmax_grad_norm: 1\n`);
    assert.deepEqual(f.map((x) => [x.code, x.range.start]), [['I2F102', { line: 0, character: 18 }]], v);
  }
  assert.deepEqual(codes('noise_multiplier: 1.0\nmax_grad_norm: 1\n'), []);
});

test('I2F103 flags a DP delta not below 1/N only when N is known', () => {
  assert.deepEqual(codes('privacy:\n  noise_multiplier: 1\n  max_grad_norm: 1\n  delta: 0.001\ndataset_size: 1000\n'), ['I2F103']);
  assert.deepEqual(codes('privacy:\n  noise_multiplier: 1\n  max_grad_norm: 1\n  delta: 0.001\n'), []);
});

test('I2F104 flags microbatches that do not divide the batch size, with divisors to use', () => {
  const { file, text } = fixture('tf-privacy/flags.yaml');
  const f = findings(text, {}, file);
  assert.deepEqual(f.map((x) => [x.code, x.severity, x.range]), [['I2F104', 'error', range(7, 14, 7, 16)]]);
  assert.match(f[0].message, /25 or 50/);
  assert.deepEqual(codes('noise_multiplier: 1\nl2_norm_clip: 1\nbatch_size: 256\nnum_microbatches: 32\n'), []);
});

test('I2F105 flags an effective batch of one, but not one example accumulated over steps', () => {
  assert.deepEqual(codes('noise_multiplier: 1\nmax_grad_norm: 1\nbatch_size: 1\n'), ['I2F105']);
  assert.deepEqual(codes('{"per_device_train_batch_size": 1, "gradient_accumulation_steps": 8}', {}, '/w/a.json'), []);
});

test('I2F106 flags BatchNorm under per-example DP only when the model ops are known', () => {
  const text = 'noise_multiplier: 1\nmax_grad_norm: 1\nbatch_size: 64\n';
  assert.deepEqual(codes(text), []);
  assert.deepEqual(codes(text, { modelOps: ['Conv', 'Relu'] }), []);
  const f = findings(text, { modelOps: ['Conv', 'BatchNormalization', 'Relu'] });
  assert.deepEqual(f.map((x) => [x.code, x.severity, x.range]), [['I2F106', 'error', range(1, 0, 1, 13)]]);
});

test('I2F107, I2F108 and I2F109 carry recognition problems through with their codes and ranges', () => {
  const { file, text } = fixture('malformed/bad-values.yaml');
  const s = readTrainingConfig(file, text) as TrainingSetup;
  const f = checkTrainingSetup(s);
  assert.deepEqual(f.map((x) => x.code), ['I2F108', 'I2F108', 'I2F108', 'I2F108']);
  assert.deepEqual(f.map((x) => x.range.start.line), [1, 2, 3, 5]);
  const missing = readTrainingConfig('/w/c.yaml', 'batch_size: 8\nmodel: gone.onnx\n', { fileExists: () => false }) as TrainingSetup;
  assert.deepEqual(checkTrainingSetup(missing).map((x) => [x.code, x.severity]), [['I2F107', 'error']]);
});

test('I2F112 explains that Flower and FedML central DP noise is added by the server', () => {
  const { file, text } = fixture('flower/pyproject.toml');
  assert.deepEqual(codes(text, {}, file), ['I2F112']);
  assert.deepEqual(codes('dp_args:\n  enable_dp: true\n  dp_solution_type: cdp\n  epsilon: 1\n  delta: 0.00001\n'), ['I2F112']);
});

test('I2F113 warns when DP settings are present but DP is switched off', () => {
  assert.deepEqual(codes('enable_dp: false\nnoise_multiplier: 1.0\nmax_grad_norm: 1.0\n'), ['I2F113']);
});

test('I2F111 says a recognised defence is not modelled', () => {
  const { file, text } = fixture('nvflare/config_fed_client.json');
  assert.deepEqual(codes(text, {}, file), ['I2F111']);
});

test('I2F100 turns a syntax error into an error finding at the parser position', () => {
  const { file, text } = fixture('malformed/pyproject.toml');
  const f = syntaxFinding(readTrainingConfig(file, text) as ConfigSyntaxError);
  assert.equal(f.code, 'I2F100');
  assert.equal(f.severity, 'error');
  assert.deepEqual(f.range.start, { line: 2, character: 19 });
});

test('every rule code is unique and documented under its anchor in docs/rules.md', () => {
  const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'rules.md'), 'utf8');
  const all = Object.values(RULES);
  assert.equal(new Set(all.map((r) => r.code)).size, all.length);
  const anchors = new Set(
    [...doc.matchAll(/^## (.+)$/gm)].map((m) => m[1].toLowerCase().replace(/[^a-z0-9 \-]/g, '').replace(/ /g, '-')),
  );
  for (const r of all) assert.ok(anchors.has(ruleAnchor(r)), `docs/rules.md lacks '## ${r.code}: ${r.title}'`);
});

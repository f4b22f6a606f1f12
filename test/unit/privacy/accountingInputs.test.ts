// q, steps and δ from configs (example-level and user-level), with the keys a config lacks named, never invented.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';
import { accountingInputs, defaultDelta } from '../../../server/src/config/accountingInputs';
import { privacyAccount, privacyHoverLines } from '../../../server/src/analysis/privacyAccount';
import { privacyFindings } from '../../../server/src/analysis/privacyFindings';
import { rdpEpsilon } from '../../../server/src/privacy/rdpAccountant';
import { noiseForEpsilon } from '../../../server/src/privacy/inverse';

const REPO = join(__dirname, '../../..');
const setupOf = (file: string, text: string): TrainingSetup => {
  const s = readTrainingConfig(file, text, { fileExists: () => true });
  assert.ok(s && !('kind' in s), `${file} is a training config`);
  return s as TrainingSetup;
};
const opacus = readFileSync(join(REPO, 'examples/opacus/train.yaml'), 'utf8');
const withDatasetSize = opacus.replace('i2f:\n', 'i2f:\n  dataset-size: 60000\n');

describe('accounting inputs from configs', () => {
  it('rounds δ = 1/N down to a power of ten, strictly below 1/N', () => {
    assert.equal(defaultDelta(60000), 1e-5);
    assert.equal(defaultDelta(100), 1e-3);
    assert.equal(defaultDelta(99), 1e-2);
    assert.equal(defaultDelta(50000), 1e-5);
  });

  it('Opacus YAML without a dataset size: names the missing key and the i2f: line that supplies it', () => {
    const setup = setupOf('/w/opacus/train.yaml', opacus);
    const r = accountingInputs(setup);
    assert.equal(r.kind, 'missing');
    if (r.kind !== 'missing') return;
    assert.equal(r.unit, 'example');
    assert.deepEqual(r.missing.map((m) => m.example), ['dataset-size: 60000']);
    assert.equal(r.missing[0].section, 'i2f:');
    const account = privacyAccount(setup)!;
    assert.match(privacyHoverLines(account.report).join('\n'), /dataset-size: 60000/);
    const findings = privacyFindings(account, setup.file, 10);
    assert.deepEqual(findings.map((f) => f.code), ['I2F134']);
    assert.equal(findings[0].range.start.line, setup.noiseMultiplier!.valueRange.start.line);
  });

  it('Opacus YAML with a dataset size: q = B/N, steps = epochs × ⌈N/B⌉, δ from the config, ε as the accountant gives it', () => {
    const setup = setupOf('/w/opacus/train.yaml', withDatasetSize);
    const r = accountingInputs(setup);
    assert.equal(r.kind, 'ready');
    if (r.kind !== 'ready') return;
    assert.equal(r.inputs.sampleRate.value, 1 / 60000);
    assert.equal(r.inputs.steps.value, 10 * 60000);
    assert.equal(r.inputs.delta.value, 1e-5);
    assert.equal(r.inputs.delta.source, 'config');
    assert.match(r.inputs.steps.how, /10 epochs \(training\.epochs\) × ⌈60000 \/ 1⌉ = 600000/);
    const account = privacyAccount(setup)!;
    assert.equal(account.report.status, 'computed');
    if (account.report.status !== 'computed') return;
    const truth = rdpEpsilon({ sampleRate: 1 / 60000, noiseMultiplier: 1.1, steps: 600000 }, 1e-5);
    assert.equal(account.report.epsilon, truth.epsilon);
    assert.equal(account.report.order, truth.order);
  });

  it('δ defaults to 1/N rounded down when the config has none, and says so', () => {
    const text = 'training:\n  batch_size: 256\n  epochs: 60\nprivacy:\n  noise_multiplier: 1.1\n  max_grad_norm: 1.0\ni2f:\n  dataset-size: 60000\n';
    const account = privacyAccount(setupOf('/w/train.yaml', text))!;
    assert.equal(account.report.status, 'computed');
    if (account.report.status !== 'computed') return;
    assert.equal(account.report.delta, 1e-5);
    assert.equal(account.report.deltaSource, 'default');
    assert.match(account.report.derivation.delta, /1\/60000.*rounded down to a power of ten/);
    // Opacus's MNIST example: ε ≈ 2.6.
    assert.equal(account.report.epsilon.toFixed(1), '2.6');
    assert.equal(account.report.steps, 14100);
  });

  it('target_epsilon the noise misses: I2F133 with the σ that meets it; an impossible one: I2F135', () => {
    const text = (eps: number) => `training:\n  batch_size: 256\n  epochs: 60\nprivacy:\n  noise_multiplier: 1.1\n  max_grad_norm: 1.0\n  target_epsilon: ${eps}\n  target_delta: 1.0e-5\n  dataset_size: 60000\n`;
    const setup = setupOf('/w/train.yaml', text(1));
    const account = privacyAccount(setup)!;
    const f = privacyFindings(account, setup.file, 10);
    assert.deepEqual(f.map((x) => x.code), ['I2F133']);
    assert.equal(account.report.status === 'computed' && account.report.noiseForTarget, (noiseForEpsilon(1, 1e-5, 256 / 60000, 14100) as { noiseMultiplier: number }).noiseMultiplier);
    const impossible = setupOf('/w/train.yaml', text(0.05));
    const g = privacyFindings(privacyAccount(impossible), impossible.file, 10);
    assert.deepEqual(g.map((x) => x.code), ['I2F135']);
    assert.equal(g[0].range.start.line, impossible.targetEpsilon!.valueRange.start.line);
    // Met: no finding.
    const met = setupOf('/w/train.yaml', text(3));
    assert.deepEqual(privacyFindings(privacyAccount(met), met.file, 10), []);
  });

  it('ε above i2f.thresholds.epsilon: I2F132 on the noise line', () => {
    const text = 'training:\n  batch_size: 256\n  epochs: 60\nprivacy:\n  noise_multiplier: 0.5\n  max_grad_norm: 1.0\n  dataset_size: 60000\n';
    const setup = setupOf('/w/train.yaml', text);
    const f = privacyFindings(privacyAccount(setup), setup.file, 10);
    assert.deepEqual(f.map((x) => x.code), ['I2F132']);
    assert.equal(f[0].range.start.line, 4);
    assert.deepEqual(privacyFindings(privacyAccount(setup), setup.file, 1e9), [], 'a higher threshold silences it');
  });

  it('Flower central DP (adap/flower fl-dp-sa, unmodified): user-level, and the rounds it lacks are named', () => {
    const text = readFileSync(join(REPO, 'test/data/privacy/fl-dp-sa.pyproject.toml'), 'utf8');
    const r = accountingInputs(setupOf('/w/pyproject.toml', text));
    assert.equal(r.kind, 'missing');
    if (r.kind !== 'missing') return;
    assert.equal(r.unit, 'user');
    assert.deepEqual(r.missing.map((m) => [m.example, m.section]), [['rounds = 3', '[tool.i2f]']]);
    assert.ok(r.missing[0].toolKeys.includes('num-server-rounds'));
  });

  it('Flower central DP with its 3 rounds: q = 20/100 clients, 3 rounds, δ = 1e-3 (1/100 rounded down)', () => {
    const text = readFileSync(join(REPO, 'test/data/privacy/fl-dp-sa-rounds.pyproject.toml'), 'utf8');
    const account = privacyAccount(setupOf('/w/pyproject.toml', text))!;
    assert.equal(account.report.status, 'computed');
    if (account.report.status !== 'computed') return;
    assert.equal(account.report.unit, 'user');
    assert.equal(account.report.sampleRate, 0.2);
    assert.equal(account.report.steps, 3);
    assert.equal(account.report.delta, 1e-3);
    assert.equal(account.report.epsilon, rdpEpsilon({ sampleRate: 0.2, noiseMultiplier: 0.2, steps: 3 }, 1e-3).epsilon);
    assert.match(account.report.derivation.sampleRate, /20 \(tool\.flwr\.app\.config\.num-sampled-clients\) \/ 100 clients \(tool\.flwr\.federations\.local-simulation\.options\.num-supernodes\)/);
  });

  it('a [tool.i2f] rounds key supplies what the Flower config lacks', () => {
    const text = readFileSync(join(REPO, 'test/data/privacy/fl-dp-sa.pyproject.toml'), 'utf8') + '\n[tool.i2f]\nrounds = 5\n';
    const account = privacyAccount(setupOf('/w/pyproject.toml', text))!;
    assert.equal(account.report.status === 'computed' && account.report.steps, 5);
  });

  it('FedML: central DP (cdp) is user-level over comm_round; local DP (ldp) is not this accountant’s', () => {
    const fedml = readFileSync(join(REPO, 'examples/fedml/fedml_config.yaml'), 'utf8');
    assert.equal(accountingInputs(setupOf('/w/fedml.yaml', fedml)).kind, 'none', 'the example has no noise multiplier');
    const cdp = fedml.replace('dp_solution_type: ldp', 'dp_solution_type: cdp') + '  noise_multiplier: 1.0\n';
    const r = accountingInputs(setupOf('/w/fedml.yaml', cdp));
    assert.equal(r.kind, 'ready');
    if (r.kind !== 'ready') return;
    assert.equal(r.inputs.unit, 'user');
    assert.equal(r.inputs.sampleRate.value, 4 / 100);
    assert.equal(r.inputs.steps.value, 50);
    const ldp = fedml + '  noise_multiplier: 1.0\n';
    assert.equal(accountingInputs(setupOf('/w/fedml.yaml', ldp)).kind, 'none');
  });

  it('`epochs` alone does not make a file a training config', () => {
    assert.equal(readTrainingConfig('/w/x.yaml', 'epochs: 10\nrounds: 3\n'), null);
  });

  it('degenerate values: no noise is ε = ∞ (I2F132), a batch above N is q = 1, a zero sampling rate is no account; nothing throws', () => {
    const base = (noise: string, extra = '') => `training:\n  batch_size: 256\n  epochs: 2\nprivacy:\n  noise_multiplier: ${noise}\n  max_grad_norm: 1.0\n${extra}i2f:\n  dataset-size: 100\n`;
    const zero = setupOf('/w/t.yaml', base('0'));
    const a = privacyAccount(zero)!;
    assert.equal(a.report.status === 'computed' && a.report.epsilon, Infinity);
    assert.equal(a.report.status === 'computed' && a.report.sampleRate, 1, 'batch 256 of 100 examples: every example every step');
    assert.deepEqual(privacyFindings(a, zero.file, 10).map((f) => f.code), ['I2F132']);
    assert.match(privacyFindings(a, zero.file, 10)[0].message, /ε = ∞/);
    const rate0 = setupOf('/w/t.yaml', base('1.0', '  sample_rate: 0\n'));
    assert.equal(privacyAccount(rate0), undefined);
  });
});

// Public training configs, committed unchanged (test/fixtures/public/README.md names each source, commit and
// licence): the diagnostics each gets, and how its DP is read (who adds the noise, which attacker sees it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { checkTrainingSetup } from '../../../server/src/config/rules';
import { analysisPlan } from '../../../server/src/config/defences';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';

const PUBLIC = join(__dirname, '..', '..', 'fixtures', 'public');

function setupOf(rel: string): TrainingSetup {
  const file = join(PUBLIC, rel);
  const r = readTrainingConfig(file, readFileSync(file, 'utf8'), { fileExists: () => false });
  assert.ok(r && !('kind' in r), `${rel} is read as a training config`);
  return r as TrainingSetup;
}

/** 'CODE@line' (1-based) for each finding, in file order. */
function diagnostics(rel: string): string[] {
  return checkTrainingSetup(setupOf(rel)).map((f) => `${f.code}@${f.range.start.line + 1}`);
}

/** Every public config and the diagnostics it gets: nothing an error (I2F108 for "auto" or "{SIGMA0}" was one). */
const EXPECTED: Record<string, string[]> = {
  'flower/opacus/pyproject.toml': ['I2F115@31'],
  'flower/fl-dp-sa/pyproject.toml': ['I2F112@29'],
  'flower/quickstart-pytorch/pyproject.toml': [],
  'nvflare/quantifying-data-leakage/client/config/config_fed_client_inv.json': ['I2F105@6', 'I2F116@33'],
  'nvflare/quantifying-data-leakage/client/config/config_fed_client_noinv.json': ['I2F105@6', 'I2F116@33'],
  'nvflare/filters/app/config/config_fed_client.json': ['I2F111@24', 'I2F111@28', 'I2F117@43', 'I2F117@47'],
  'nvflare/filters/app/config/config_fed_server.json': ['I2F117@16', 'I2F117@20', 'I2F117@35', 'I2F117@39'],
  'fedml/privacy/mpi_fedavg_dp_mnist_lr_example/config/nbafl/fedml_config.yaml': ['I2F118@52'],
  'fedml/privacy/mqtt_s3_fedavg_cdp_mnist_lr_example/config/fedml_config.yaml': ['I2F112@57', 'I2F118@59'],
  'fedml/privacy/mqtt_s3_fedavg_ldp_mnist_lr_example/config/fedml_config.yaml': ['I2F118@59'],
  'fedml/simulation/mpi_torch_fedavg_dp_mnist_lr_example/config/fedml_config.yaml': ['I2F119@56', 'I2F112@56', 'I2F118@58'],
  'fedml/simulation/sp_torch_dpfedavg_mnist_lr_example/config/fedml_config.yaml': ['I2F112@53', 'I2F118@55', 'I2F102@58'],
  'flsim/flsim/trainers/tests/test_resources/sync_trainer_with_dp.json': ['I2F102@8'],
  'flsim/flsim/trainers/tests/test_resources/sync_trainer_with_secagg.json': [],
  'flsim/flsim/trainers/tests/test_resources/sync_trainer_wrong_dp_config.json': ['I2F112@8', 'I2F102@8'],
  'flsim/scripts/tests/configs/privatesync_fedsgd_new.json': ['I2F102@15', 'I2F112@29'],
  'flsim/scripts/tests/configs/privatesync_fedsgd_old.json': ['I2F102@21', 'I2F112@31'],
  'transformers/tests/deepspeed/ds_config_zero2.json': ['I2F114@44', 'I2F114@47'],
};

test('each public config gets exactly its expected diagnostics, and none of them is an error', () => {
  for (const [rel, expected] of Object.entries(EXPECTED)) {
    assert.deepEqual(diagnostics(rel), expected, rel);
    for (const f of checkTrainingSetup(setupOf(rel))) assert.notEqual(f.severity, 'error', `${rel}: ${f.code} ${f.message}`);
  }
});

test('files of a job that are not training configs stay silent', () => {
  for (const rel of ['nvflare/filters/meta.json', 'nvflare/quantifying-data-leakage/meta.json', 'nvflare/quantifying-data-leakage/client/config/config_inversion.json', 'nvflare/quantifying-data-leakage/server/config/config_fed_server.json',
    'nvflare/sag_pt/config_fed_client.conf', 'nvflare/sag_pt_executor/config_fed_client.conf', 'nvflare/sag_pt_executor/config_fed_server.conf',
    'nvflare/stats_image/config_fed_client.conf', 'nvflare/hello-pt-cse/app/config/config_fed_client.conf']) {
    const file = join(PUBLIC, rel);
    assert.equal(readTrainingConfig(file, readFileSync(file, 'utf8')), null, rel);
  }
});

test('Flower fl-dp-sa: central DP behind secure aggregation; the server sees the sum before its noise, an aggregate observer faces sigma times C', () => {
  const s = setupOf('flower/fl-dp-sa/pyproject.toml');
  assert.equal(s.dpSite, 'server');
  assert.equal(s.secureAggregation?.key, 'tool.flwr.app.config.num-shares');
  const plan = analysisPlan(s);
  assert.equal(plan.threat.chosen.attacker, 'server');
  assert.deepEqual(plan.defences, [], 'no noise on what the server inverts');
  assert.match(plan.threat.chosen.sees, /sum of the clients' updates \(secure aggregation/);
  // σ·C = 0.2·10 = 2 on one client's share (the noise std on the average of 20 is σ·C/20 = 0.1).
  const aggregate = plan.threat.others.find((v) => v.attacker === 'aggregate')!;
  assert.deepEqual(aggregate.defences.map((d) => d.spec), ['gaussian:std=2']);
  assert.equal(plan.threat.others.find((v) => v.attacker === 'eavesdropper')!.blind, true, 'secure aggregation masks the link');
});

test('Flower opacus: max-grad-norm and target-delta here, the noise in client_app.py: said to be set in code, not "no defence"', () => {
  const s = setupOf('flower/opacus/pyproject.toml');
  assert.equal(s.noiseInCode?.key, 'tool.flwr.app.config.max-grad-norm');
  const f = checkTrainingSetup(s).find((x) => x.code === 'I2F115')!;
  assert.match(f.message, /^Noise set in code/);
  assert.match(f.message, /Add it to the i2f: section to analyse it/);
  assert.ok(!checkTrainingSetup(s).some((x) => x.code === 'I2F101'), 'not "clipping without noise"');
  // max-grad-norm is Opacus's per-example clipping in the client's training, analysed as such until the noise is given.
  assert.equal(s.clippingScope, 'per-example');
  assert.deepEqual(analysisPlan(s).defences.map((d) => d.spec), ['dpsgd:clip=1,noise=0']);
  assert.match(analysisPlan(s).defences[0].note ?? '', /^Noise set in code/);
  // The user states the noise in [tool.i2f]: DP-SGD on the client, which the server sees too.
  const file = join(PUBLIC, 'flower/opacus/pyproject.toml');
  const stated = readTrainingConfig(file, readFileSync(file, 'utf8') + '\n[tool.i2f]\nnoise-multiplier = 1.0\n', { fileExists: () => false }) as TrainingSetup;
  assert.equal(stated.noiseInCode, undefined);
  assert.equal(stated.dpSite, undefined, 'added on the client');
  const plan = analysisPlan(stated);
  assert.equal(plan.threat.chosen.attacker, 'server');
  assert.deepEqual(plan.defences.map((d) => d.spec), ['dpsgd:clip=1,noise=1']);
});

test('NVFLARE {SIGMA0} resolves from the same file: 0 means the Gaussian filter adds no noise', () => {
  const s = setupOf('nvflare/quantifying-data-leakage/client/config/config_fed_client_noinv.json');
  assert.equal(s.relativeNoise?.sigma0.value, 0);
  assert.equal(s.relativeNoise?.sigma0.interpolatedFrom, '{SIGMA0}');
  assert.equal(s.batchSize?.value, 1, "the learner's batch_size: '{BATCH_SIZE}' resolves to BATCH_SIZE = 1");
  assert.match(checkTrainingSetup(s).find((f) => f.code === 'I2F116')!.message, /\{SIGMA0\} is 0 in this file/);
});

test("NVFLARE filters: only the client's task_result_filters are its defence", () => {
  const client = analysisPlan(setupOf('nvflare/filters/app/config/config_fed_client.json'));
  assert.deepEqual(client.defences.map((d) => d.spec), ['prune:ratio=0.1'], 'PercentilePrivacy with its default percentile 10');
  assert.deepEqual(client.unmodelled.map((u) => u.name), ['PercentilePrivacy gamma', 'SVTPrivacy']);
  const server = analysisPlan(setupOf('nvflare/filters/app/config/config_fed_server.json'));
  assert.deepEqual(server.defences, []);
  assert.deepEqual(server.unmodelled, []);
});

test('FLSim: the client privacy_setting (sigma 1, clipping 1) is DP-SGD, the server one (sigma 0) is central', () => {
  const s = setupOf('flsim/flsim/trainers/tests/test_resources/sync_trainer_with_dp.json');
  assert.equal(s.flavour, 'flsim');
  assert.equal(s.noiseMultiplier?.key, 'trainer.client.privacy_setting.noise_multiplier');
  assert.equal(s.clippingNorm?.key, 'trainer.client.privacy_setting.clipping.clipping_value');
  assert.equal(s.centralDp?.noiseMultiplier?.value, 0);
  assert.equal(s.centralDp?.clippingNorm?.value, 10000);
  assert.deepEqual(analysisPlan(s).defences.map((d) => d.spec), ['dpsgd:clip=1,noise=1']);

  // Client clipping "inf" and σ 0: no client DP; the reducer's σ 0.5 and clipping 0.1 are central: σ·C = 0.05.
  const p = analysisPlan(setupOf('flsim/scripts/tests/configs/privatesync_fedsgd_new.json'));
  assert.deepEqual(p.defences, []);
  assert.deepEqual(p.unmodelled, []);
  assert.deepEqual(p.threat.others.find((v) => v.attacker === 'aggregate')!.defences.map((d) => d.spec), ['gaussian:std=0.05']);
  // Secure aggregation named by the server's base config.
  assert.match(setupOf('flsim/flsim/trainers/tests/test_resources/sync_trainer_with_secagg.json').secureAggregation?.key ?? '', /_base_$/);
});

test('FedML: ldp and NbAFL noise is on the client, cdp noise only reaches observers of the aggregate (n times sigma per client)', () => {
  const sigma = Math.sqrt(2 * Math.log(1.25 / 0.1)) / 0.5;
  const ldp = analysisPlan(setupOf('fedml/privacy/mqtt_s3_fedavg_ldp_mnist_lr_example/config/fedml_config.yaml'));
  assert.equal(ldp.threat.chosen.attacker, 'server');
  assert.equal(ldp.defences.length, 1);
  assert.ok(Math.abs(Number(ldp.defences[0].spec.split('=')[1]) - sigma) < 1e-9);
  const nbafl = analysisPlan(setupOf('fedml/privacy/mpi_fedavg_dp_mnist_lr_example/config/nbafl/fedml_config.yaml'));
  assert.equal(nbafl.defences.length, 1);
  const cdp = analysisPlan(setupOf('fedml/privacy/mqtt_s3_fedavg_cdp_mnist_lr_example/config/fedml_config.yaml'));
  assert.deepEqual(cdp.defences, [], 'the server sees updates before its noise');
  const seen = cdp.threat.others.find((v) => v.attacker === 'aggregate')!.defences;
  assert.ok(Math.abs(Number(seen[0].spec.split('=')[1]) - 2 * sigma) < 1e-9, 'client_num_per_round 2: 2σ on one client share');
  // dp_type is read as meant (cdp) and flagged: FedML itself reads dp_solution_type.
  const mpi = setupOf('fedml/simulation/mpi_torch_fedavg_dp_mnist_lr_example/config/fedml_config.yaml');
  assert.equal(mpi.dpSite, 'server');
  assert.match(checkTrainingSetup(mpi).find((f) => f.code === 'I2F119')!.message, /reads 'dp_solution_type', not 'dp_type'/);
});

test("Hugging Face / DeepSpeed 'auto' is a run-time value, not a type error", () => {
  const s = setupOf('transformers/tests/deepspeed/ds_config_zero2.json');
  assert.equal(s.batchSize, undefined);
  const found = checkTrainingSetup(s);
  assert.ok(found.every((f) => f.code === 'I2F114' && f.severity === 'information'));
  assert.match(found[0].message, /'auto' is filled in at run time/);
});

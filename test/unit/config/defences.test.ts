import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { analysisPlan, gaussianMechanismStd } from '../../../server/src/config/defences';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';
import { fixture } from './helpers';

function planOf(rel: string) {
  const { file, text } = fixture(rel);
  const s = readTrainingConfig(file, text, { fileExists: () => true }) as TrainingSetup;
  return analysisPlan(s);
}

function planFrom(text: string, file = '/w/c.yaml') {
  return analysisPlan(readTrainingConfig(file, text, { fileExists: () => true }) as TrainingSetup);
}

test('maps Opacus sigma and clipping norm to a dpsgd spec sourced from both keys', () => {
  const p = planOf('opacus/train.yaml');
  assert.deepEqual(p.defences.map((d) => d.spec), ['dpsgd:clip=1,noise=1.1']);
  assert.deepEqual(p.defences[0].fields.map((f) => f.key), ['privacy.max_grad_norm', 'privacy.noise_multiplier']);
  assert.equal(p.batchSize, 64);
  assert.deepEqual(p.batchFields.map((f) => f.key), ['training.batch_size']);
});

test('Flower central DP: the server sees each update without noise, an observer of the aggregate faces sigma times C', () => {
  const p = planOf('flower/pyproject.toml');
  assert.equal(p.threat.chosen.attacker, 'server', 'the strongest attacker: the server, before its own noise');
  assert.deepEqual(p.defences, []);
  assert.match(p.threat.chosen.sees, /each client's update as sent \(no secure aggregation/);
  const aggregate = p.threat.others.find((v) => v.attacker === 'aggregate')!;
  // σ·C = 1.0·10 on one client's share (not σ·C/n = 1: that is the noise on the average of n = 10).
  assert.deepEqual(aggregate.defences.map((d) => d.spec), ['gaussian:std=10']);
  assert.deepEqual(aggregate.defences[0].fields.map((f) => f.key.split('.').pop()), ['noise-multiplier', 'clipping-norm', 'num-sampled-clients']);
  assert.equal(p.batchSize, 32);
});

test('an i2f attacker key chooses whom the finding is about', () => {
  const text = '[tool.flwr.app.config]\nnoise-multiplier = 0.3\nclipping-norm = 10.0\nnum-sampled-clients = 10\n\n[tool.i2f]\nattacker = "aggregate"\n';
  const p = planFrom(text, '/w/pyproject.toml');
  assert.equal(p.threat.chosen.attacker, 'aggregate');
  assert.deepEqual(p.defences.map((d) => d.spec), ['gaussian:std=3']);
  assert.match(p.threat.reason, /named in 'tool\.i2f\.attacker'/);
});

test('maps NVFLARE PercentilePrivacy to pruning and leaves GaussianPrivacy relative to the update', () => {
  const p = planOf('nvflare/config_fed_client.json');
  assert.deepEqual(p.defences.map((d) => d.spec), ['prune:ratio=0.1']);
  assert.deepEqual(p.relative.map((r) => [r.sigma0, r.percentile]), [[0.1, 95]]);
  assert.equal(p.unmodelled.length, 1);
  assert.equal(p.batchSize, undefined);
});

test('calibrates FedML local DP with the classic Gaussian mechanism', () => {
  const p = planOf('fedml/fedml_config.yaml');
  const expected = Math.sqrt(2 * Math.log(1.25 / 1e-5));
  assert.equal(gaussianMechanismStd(1, 1e-5, 1), expected);
  assert.equal(p.defences.length, 1);
  assert.match(p.defences[0].spec, /^gaussian:std=4\.844805/);
});

test('uses per-device batch times gradient accumulation and no DP spec for Hugging Face clipping', () => {
  const p = planOf('huggingface/training_args.json');
  assert.equal(p.batchSize, 32);
  assert.deepEqual(p.defences, []);
  assert.equal(p.batchFields.length, 2);
});

test('analyses clipping alone as dpsgd with zero noise', () => {
  const p = planFrom('max_grad_norm: 1.0\nbatch_size: 8\n');
  assert.deepEqual(p.defences.map((d) => d.spec), ['dpsgd:clip=1,noise=0']);
});

test('writes pruning, top-k, quantisation and absolute noise in the CLI syntax', () => {
  const p = planFrom('defence:\n  noise_std: 0.01\n  prune_ratio: 0.9\n  topk_ratio: 0.05\n  quantization_bits: 8\n');
  assert.deepEqual(p.defences.map((d) => d.spec), ['gaussian:std=0.01', 'prune:ratio=0.9', 'topk:ratio=0.05', 'quantize:bits=8']);
});

test('leaves out DP specs when the config switches DP off', () => {
  const p = planFrom('enable_dp: false\nnoise_multiplier: 1.0\nmax_grad_norm: 1.0\n');
  assert.deepEqual(p.defences, []);
});

test('says a noise multiplier without a clipping norm cannot be turned into a noise level', () => {
  const p = planFrom('noise_multiplier: 1.0\nbatch_size: 8\n');
  assert.deepEqual(p.defences, []);
  assert.match(p.unmodelled[0].reason, /clipping norm/);
});

test('prints spec numbers without floating-point noise', () => {
  const p = planFrom('privacy:\n  noise_multiplier: 0.3\n  max_grad_norm: 0.1\n', '/w/pyproject.yaml');
  assert.deepEqual(p.defences.map((d) => d.spec), ['dpsgd:clip=0.1,noise=0.3']);
  const flower = planFrom('[tool.flwr.app.config]\nnoise-multiplier = 0.3\nclipping-norm = 0.1\nnum-sampled-clients = 3\n', '/w/pyproject.toml');
  assert.deepEqual(flower.threat.others.find((v) => v.attacker === 'aggregate')!.defences.map((d) => d.spec), ['gaussian:std=0.03']);
});

test('every spec made from the fixtures parses with the engine\'s own defence parser', async () => {
  const { parseDefence } = await import('../../../server/src/engine/defences');
  const rels = ['opacus/train.yaml', 'tf-privacy/flags.yaml', 'flower/pyproject.toml', 'nvflare/config_fed_client.json', 'fedml/fedml_config.yaml', 'hydra/config.yaml', 'i2f/experiment.yaml'];
  const specs = rels.flatMap((rel) => planOf(rel).defences.map((d) => d.spec));
  specs.push(...planFrom('compress:\n  noise_std: 0.01\n  prune_ratio: 0.9\n  topk_ratio: 0.05\n  quantization_bits: 8\n').defences.map((d) => d.spec));
  assert.ok(specs.length >= 10);
  for (const spec of specs) assert.equal(parseDefence(spec).kind, spec.split(':')[0], spec);
});

test("Flower's LocalDpMod arguments in the run config: Gaussian noise on the client, which the server sees too", () => {
  const text = '[tool.flwr.app.config]\nclipping-norm = 1.0\nsensitivity = 1.0\nepsilon = 2.0\ndelta = 1e-5\nnum-sampled-clients = 5\n';
  const p = planFrom(text, '/w/pyproject.toml');
  assert.equal(p.threat.chosen.attacker, 'server');
  assert.deepEqual(p.defences.map((d) => d.spec), [`gaussian:std=${Number(gaussianMechanismStd(2, 1e-5, 1).toPrecision(12))}`]);
  assert.match(p.defences[0].note ?? '', /LocalDpMod/);
  // Without the mechanism's arguments, a bare `epsilon` in a Flower table stays unread (an optimiser's, perhaps).
  const q = planFrom('[tool.flwr.app.config]\nepsilon = 1e-8\nbatch-size = 32\n', '/w/pyproject.toml');
  assert.deepEqual(q.defences, []);
});

test("Flower's central wrappers read from code (no dpSite from the reader) are still noise the server adds", () => {
  // The shape pysource/pythonSetup.ts gives DifferentialPrivacyClientSideFixedClipping(noise_multiplier=0.2, clipping_norm=10).
  const at = { keyRange: { start: { line: 57, character: 4 }, end: { line: 57, character: 20 } }, valueRange: { start: { line: 57, character: 21 }, end: { line: 57, character: 24 } }, file: '/w/server_app.py' };
  const setup: TrainingSetup = {
    file: '/w/server_app.py', format: 'yaml', flavour: 'flower', unmodelled: [], problems: [], clippingScope: 'per-update',
    noiseMultiplier: { value: 0.2, key: 'noise_multiplier', path: ['DifferentialPrivacyClientSideFixedClipping', 'noise_multiplier'], ...at },
    clippingNorm: { value: 10, key: 'clipping_norm', path: ['DifferentialPrivacyClientSideFixedClipping', 'clipping_norm'], ...at },
  };
  const p = analysisPlan(setup);
  assert.equal(p.threat.chosen.attacker, 'server');
  assert.deepEqual(p.defences, []);
  assert.deepEqual(p.threat.others.find((v) => v.attacker === 'aggregate')!.defences.map((d) => d.spec), ['gaussian:std=2']);
});

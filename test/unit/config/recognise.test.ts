import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readTrainingConfig, type RecogniseOptions } from '../../../server/src/config/recognise';
import type { ConfigSyntaxError } from '../../../server/src/config/keyTree';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';
import { FIXTURES, fixture, range } from './helpers';

const everythingExists: RecogniseOptions = { fileExists: () => true };

function setupOf(rel: string, options = everythingExists): TrainingSetup {
  const { file, text } = fixture(rel);
  const r = readTrainingConfig(file, text, options);
  assert.ok(r && !('kind' in r), `${rel} should be a training setup`);
  return r as TrainingSetup;
}

function setupFrom(file: string, text: string, options = everythingExists): TrainingSetup {
  const r = readTrainingConfig(file, text, options);
  assert.ok(r && !('kind' in r), `${file} should be a training setup`);
  return r as TrainingSetup;
}

test('reads an Opacus YAML: sigma, clipping norm, batch, delta, dataset size and model, each with its ranges', () => {
  const s = setupOf('opacus/train.yaml');
  assert.equal(s.flavour, 'opacus');
  assert.equal(s.noiseMultiplier?.value, 1.1);
  assert.equal(s.noiseMultiplier?.key, 'privacy.noise_multiplier');
  assert.deepEqual(s.noiseMultiplier?.keyRange, range(6, 2, 6, 18));
  assert.deepEqual(s.noiseMultiplier?.valueRange, range(6, 20, 6, 23));
  assert.equal(s.clippingNorm?.value, 1);
  assert.equal(s.clippingScope, 'per-example');
  assert.deepEqual(s.clippingNorm?.keyRange, range(7, 2, 7, 15));
  assert.equal(s.batchSize?.value, 64);
  assert.deepEqual(s.batchSize?.valueRange, range(2, 14, 2, 16));
  assert.equal(s.targetDelta?.value, 1e-5);
  assert.equal(s.datasetSize?.value, 60000);
  assert.equal(s.model?.resolved, join(FIXTURES, 'models', 'lenet.onnx'));
  assert.deepEqual(s.model?.valueRange, range(11, 12, 11, 32));
  assert.equal(s.noiseMultiplier?.file, join(FIXTURES, 'opacus', 'train.yaml'));
  assert.deepEqual(s.problems, []);
});

test('reads TF Privacy flags: l2_norm_clip, microbatches and the dpsgd switch', () => {
  const s = setupOf('tf-privacy/flags.yaml');
  assert.equal(s.flavour, 'tf-privacy');
  assert.equal(s.clippingNorm?.value, 1);
  assert.deepEqual(s.clippingNorm?.keyRange, range(4, 0, 4, 12));
  assert.equal(s.microbatches?.value, 32);
  assert.deepEqual(s.microbatches?.valueRange, range(7, 14, 7, 16));
  assert.equal(s.batchSize?.value, 250);
  assert.equal(s.dpEnabled?.value, true);
});

test('reads Flower kebab-case keys from pyproject.toml', () => {
  const s = setupOf('flower/pyproject.toml');
  assert.equal(s.flavour, 'flower');
  assert.equal(s.format, 'toml');
  assert.equal(s.noiseMultiplier?.key, 'tool.flwr.app.config.noise-multiplier');
  assert.deepEqual(s.noiseMultiplier?.keyRange, range(23, 0, 23, 16));
  assert.deepEqual(s.clippingNorm?.valueRange, range(24, 16, 24, 20));
  assert.equal(s.clippingScope, 'per-update');
  assert.equal(s.numSampledClients?.value, 10);
  assert.deepEqual(s.batchSize?.keyRange, range(22, 0, 22, 10));
});

test('reads NVFLARE privacy filters: PercentilePrivacy as pruning, GaussianPrivacy sigma0 as relative noise', () => {
  const s = setupOf('nvflare/config_fed_client.json');
  assert.equal(s.flavour, 'nvflare');
  assert.equal(s.pruneRatio?.value, 0.1);
  assert.deepEqual(s.pruneRatio?.keyRange, range(18, 20, 18, 32));
  assert.equal(s.relativeNoise?.sigma0.value, 0.1);
  assert.deepEqual(s.relativeNoise?.sigma0.keyRange, range(22, 20, 22, 28));
  assert.equal(s.relativeNoise?.maxPercentile?.value, 95);
  assert.equal(s.unmodelled[0].name, 'PercentilePrivacy gamma');
  assert.equal(s.noiseMultiplier, undefined);
});

test('applies NVFLARE defaults on the filter line when a filter has no args', () => {
  const text = '{"task_result_filters": [{"tasks": ["train"], "filters": [\n  {"path": "nvflare.app_common.filters.gaussian_privacy.GaussianPrivacy"}]}]}';
  const s = setupFrom('/w/config_fed_client.json', text);
  assert.equal(s.relativeNoise?.sigma0.value, 0.1);
  assert.equal(s.relativeNoise?.maxPercentile?.value, 95);
  assert.equal(s.relativeNoise?.sigma0.keyRange.start.line, 1);
});

test('reads FedML dp_args with its epsilon, delta and sensitivity under the DP group', () => {
  const s = setupOf('fedml/fedml_config.yaml');
  assert.equal(s.flavour, 'fedml');
  assert.equal(s.dpEnabled?.value, true);
  assert.equal(s.dpSolutionType?.value, 'ldp');
  assert.equal(s.dpMechanism?.value, 'gaussian');
  assert.equal(s.targetEpsilon?.value, 1);
  assert.equal(s.targetDelta?.value, 1e-5);
  assert.deepEqual(s.targetDelta?.valueRange, range(27, 9, 27, 16));
  assert.equal(s.dpSensitivity?.value, 1);
  assert.equal(s.clippingNorm?.value, 1);
  assert.equal(s.batchSize?.value, 10);
  assert.equal(s.numSampledClients?.key, 'train_args.client_num_per_round');
  assert.equal(s.model, undefined, '"lr" names an architecture, not a file');
});

test('reads Hugging Face arguments: per-device batch times accumulation, batch-level clipping, hub id not a path', () => {
  const s = setupOf('huggingface/training_args.json');
  assert.equal(s.flavour, 'huggingface');
  assert.equal(s.batchSize?.value, 8);
  assert.deepEqual(s.batchSize?.keyRange, range(3, 2, 3, 31));
  assert.equal(s.gradientAccumulationSteps?.value, 4);
  assert.equal(s.clippingScope, 'per-batch');
  assert.equal(s.model, undefined);
});

test('follows Hydra interpolations and reports the ones it cannot resolve on their line', () => {
  const s = setupOf('hydra/config.yaml');
  assert.equal(s.noiseMultiplier?.key, 'optimizer.dp.noise_multiplier');
  assert.equal(s.noiseMultiplier?.value, 0.8);
  assert.equal(s.noiseMultiplier?.interpolatedFrom, '${privacy.sigma}');
  assert.deepEqual(s.noiseMultiplier?.valueRange, range(11, 22, 11, 38));
  assert.equal(s.clippingNorm?.value, 2);
  assert.equal(s.model?.value, '../models/lenet.onnx');
  assert.equal(s.batchSize, undefined, 'the only literal batch size is the test loader\'s');
  assert.deepEqual(
    s.problems.map((p) => [p.rule, p.key, p.range]),
    [['I2F109', 'data.batch_size', range(15, 14, 15, 34)]],
  );
});

test('lets the explicit i2f section win over a guessed model path', () => {
  const s = setupOf('i2f/experiment.yaml', { fileExists: (p: string) => !p.endsWith('other.onnx') });
  assert.equal(s.model?.key, 'i2f.model');
  assert.equal(s.model?.resolved, join(FIXTURES, 'models', 'lenet.onnx'));
  assert.equal(s.weights?.resolved, join(FIXTURES, 'models', 'round-40.safetensors'));
  assert.equal(s.samples?.resolved, join(FIXTURES, 'samples'));
  assert.equal(s.targetPsnr?.value, 15);
  assert.deepEqual(s.problems, [], 'the losing model_path is not checked');
});

test('returns null for YAML, JSON and TOML files with none of the recognised keys', () => {
  for (const rel of ['unrelated/ci.yaml', 'unrelated/docker-compose.yml', 'unrelated/tsconfig.json']) {
    const { file, text } = fixture(rel);
    assert.equal(readTrainingConfig(file, text), null, rel);
  }
  assert.equal(readTrainingConfig('/w/pyproject.toml', '[project]\nname = "x"\ndependencies = ["torch"]\n'), null);
  assert.equal(readTrainingConfig('/w/notes.txt', 'noise_multiplier: 1'), null, 'unknown extension');
});

test('ignores ambiguous names outside a privacy group: blur sigma, Adam epsilon, a model architecture name', () => {
  const text = 'augment:\n  blur:\n    sigma: 0.5\noptimizer:\n  epsilon: 1.0e-8\nmodel: resnet18\n';
  assert.equal(readTrainingConfig('/w/conf.yaml', text), null);
});

test('understands camelCase and kebab-case spellings', () => {
  const s = setupFrom('/w/c.json', '{"privacy": {"noiseMultiplier": 1.0, "l2NormClip": 1.5}, "batch-size": 16}');
  assert.equal(s.noiseMultiplier?.value, 1);
  assert.equal(s.clippingNorm?.value, 1.5);
  assert.equal(s.batchSize?.value, 16);
});

test('reports a missing model file on the value of its key, relative to the config folder', () => {
  const s = setupFrom('/w/exp/train.yaml', 'batch_size: 8\nmodel_path: nets/lenet.onnx\n', { fileExists: () => false });
  assert.equal(s.model?.exists, false);
  assert.equal(s.model?.resolved, '/w/exp/nets/lenet.onnx');
  assert.deepEqual(s.problems.map((p) => [p.rule, p.range]), [['I2F107', range(1, 12, 1, 27)]]);
  // Said relative to the config's folder: the machine's absolute path (often a temporary copy) means nothing elsewhere.
  assert.match(s.problems[0].message, /looked for nets\/lenet\.onnx from the config's folder/);
  assert.ok(!s.problems[0].message.includes('/w/exp'));
  const up = setupFrom('/w/exp/train.yaml', 'batch_size: 8\nmodel_path: ../models/net.onnx\n', { fileExists: () => false });
  assert.match(up.problems[0].message, /looked for \.\.\/models\/net\.onnx/);
  const abs = setupFrom('/w/exp/train.yaml', 'batch_size: 8\nmodel_path: /srv/net.onnx\n', { fileExists: () => false });
  assert.match(abs.problems[0].message, /looked for \/srv\/net\.onnx/, 'an absolute path the config wrote is shown as written');
});

test('takes a PyTorch checkpoint named as the model as its weights, and says where the architecture must come from', () => {
  const s = setupFrom('/w/train.yaml', 'batch_size: 8\ncheckpoint: net.pt\n');
  assert.equal(s.model, undefined);
  assert.equal(s.weights?.value, 'net.pt');
  assert.equal(s.problems[0].rule, 'I2F110');
  assert.match(s.problems[0].message, /applied as the weights/);
  assert.doesNotMatch(s.problems[0].message, /torch\.onnx\.export/);
});

test('a PyTorch checkpoint beside a named model is its weights, with no I2F110', () => {
  const s = setupFrom('/w/train.yaml', 'batch_size: 8\nresume_from_checkpoint: out/checkpoint-500\ni2f:\n  model: net.onnx\n');
  assert.equal(s.model?.value, 'net.onnx');
  assert.equal(s.weights?.value, 'out/checkpoint-500');
  assert.deepEqual(s.problems.map((p) => p.rule), []);
});

test('treats a .safetensors checkpoint as weights, not as the model', () => {
  const s = setupFrom('/w/train.yaml', 'batch_size: 8\ncheckpoint: round-40.safetensors\n');
  assert.equal(s.model, undefined);
  assert.equal(s.weights?.value, 'round-40.safetensors');
});

test('reports wrong types and out-of-range values on their values and keeps the file a training config', () => {
  const s = setupOf('malformed/bad-values.yaml');
  assert.deepEqual(
    s.problems.map((p) => [p.rule, p.key, p.range.start]),
    [
      ['I2F108', 'privacy.noise_multiplier', { line: 1, character: 20 }],
      ['I2F108', 'privacy.max_grad_norm', { line: 2, character: 17 }],
      ['I2F108', 'training.batch_size', { line: 5, character: 14 }],
      ['I2F108', 'privacy.delta', { line: 3, character: 9 }],
    ],
  );
  assert.equal(s.noiseMultiplier, undefined);
  assert.equal(s.clippingNorm, undefined);
});

test('accepts numbers written as strings, as argparse-style loaders convert them', () => {
  const s = setupFrom('/w/c.yaml', 'noise_multiplier: "1.5"\n');
  assert.equal(s.noiseMultiplier?.value, 1.5);
});

test('reads disable_dp as the opposite of enabling DP', () => {
  const s = setupFrom('/w/c.yaml', 'disable_dp: true\nbatch_size: 4\n');
  assert.equal(s.dpEnabled?.value, false);
});

test('returns located syntax errors for malformed files of each format that mention training keys', () => {
  for (const [rel, line] of [
    ['malformed/train.yaml', 3],
    ['malformed/config_fed_client.json', 5],
    ['malformed/pyproject.toml', 2],
  ] as const) {
    const { file, text } = fixture(rel);
    const r = readTrainingConfig(file, text) as ConfigSyntaxError;
    assert.equal(r?.kind, 'syntax-error', rel);
    assert.equal(r.range.start.line, line, rel);
    assert.equal(r.error.location.file, file);
  }
});

test('stays quiet about a malformed file that mentions none of our keys', () => {
  assert.equal(readTrainingConfig('/w/ci.yaml', 'jobs:\n  test: [a, b\n'), null);
});

test('reads an i2f table inside pyproject.toml as the explicit section', () => {
  const s = setupFrom('/w/pyproject.toml', '[tool.i2f]\nmodel = "nets/net"\ntarget_psnr = 20\n');
  assert.equal(s.model?.value, 'nets/net');
  assert.equal(s.model?.resolved, '/w/nets/net');
  assert.equal(s.targetPsnr?.value, 20);
});

test('counts characters in UTF-16 code units, as LSP positions do, and ignores CRLF line ends', () => {
  const s = setupFrom('/w/c.yaml', 'note: "🔒 private"\r\nprivacy: {tag: é, noise_multiplier: 1.0}\r\n');
  assert.deepEqual(s.noiseMultiplier?.keyRange, range(1, 18, 1, 34));
  const j = setupFrom('/w/c.json', '{"n": "🔒", "batch_size": 4}');
  assert.deepEqual(j.batchSize?.keyRange, range(0, 12, 0, 24));
  const t = setupFrom('/w/c.toml', 'n = "🔒"; \r\nbatch-size = 4\r\n'.replace('; ', ''));
  assert.deepEqual(t.batchSize?.valueRange, range(1, 13, 1, 14));
});

test('does not read a generation config or weight-pruning sparsity as gradient defences', () => {
  assert.equal(readTrainingConfig('/w/generation_config.json', '{"top_k": 50, "temperature": 0.7, "do_sample": true}'), null);
  assert.equal(readTrainingConfig('/w/prune.yaml', 'pruner:\n  sparsity: 0.9\n'), null);
  const s = setupFrom('/w/c.yaml', 'gradient_compression:\n  top_k: 0.01\n  sparsity: 0.99\n');
  assert.equal(s.topkRatio?.value, 0.01);
  assert.equal(s.pruneRatio?.value, 0.99);
});

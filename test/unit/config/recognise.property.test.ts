// Config recognition on arbitrary documents: structured YAML, JSON and TOML built from the recogniser's own
// vocabulary (keys, sections, hostile values of every type), written by the real serialisers. A document those
// write is valid, so it must parse as a tree; recognition and the rules must not throw (readTrainingConfig's
// catch-all would hide that as "not a config", so they are called directly here); every value recognised must
// satisfy its documented range (README "Config keys") and sit at its place in the text; and a known DP-SGD section
// buried among junk is read back exactly, or reported as a located problem when its value is out of range.

import test from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify as yamlStringify } from 'yaml';
import { stringify as tomlStringify } from 'smol-toml';
import { parseConfigText, recogniseTrainingSetup } from '../../../server/src/config/recognise';
import { checkTrainingSetup } from '../../../server/src/config/rules';
import type { Range } from '../../../server/src/config/keyTree';
import type { ConfigField, TrainingSetup } from '../../../server/src/config/trainingSetup';
import { seeded } from '../../support/property';

const KEYS = [
  'noise_multiplier', 'sigma', 'max_grad_norm', 'clip', 'l2_norm_clip', 'noise_std', 'batch_size', 'per_device_train_batch_size',
  'gradient_accumulation_steps', 'num_microbatches', 'prune_ratio', 'sparsity', 'topk', 'bits', 'quantization_bits', 'enabled',
  'dp', 'use_dp', 'target_epsilon', 'delta', 'target_delta', 'dataset_size', 'num_sampled_clients', 'model', 'weights',
  'samples', 'target_psnr', 'sigma0', 'max_percentile', 'percentile', 'gamma', 'name', 'path', 'args', 'components', 'filters',
];
const SECTIONS = ['privacy', 'dp', 'i2f', 'training', 'optimizer', 'compression', 'quantization', 'grad_compress', 'eval', 'tool', 'flwr', 'app', 'config', 'defaults', 'x'];
const NUMBERS = [0, -0, 1, -1, 0.5, 1.1, 2, 8, 32, 33, 100, 1e-12, 1e300, -1e300, 0.999999, 1.0000001, 2 ** 53, NaN, Infinity, -Infinity];
const STRINGS = ['', 'high', '1.0', '${privacy.sigma}', '${nowhere}', 'GaussianPrivacy', 'model.onnx', '../m.onnx', '/etc/passwd', 's3://b/m.onnx', 'true', 'null'];

const scalar = fc.oneof(fc.constantFrom(...NUMBERS), fc.constantFrom(...STRINGS), fc.boolean(), fc.constant(null), fc.double(), fc.integer());
const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KEYS) }, { weight: 2, arbitrary: fc.constantFrom(...SECTIONS) }, { weight: 1, arbitrary: fc.string({ maxLength: 6 }) });
const { doc } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('doc'), fc.array(tie('value'), { maxLength: 3 })),
  doc: fc.dictionary(key, tie('value'), { maxKeys: 6 }),
}));

/** The documented range of each numeric setting (not the recogniser's table). */
const RANGE: Partial<Record<keyof TrainingSetup, (x: number) => boolean>> = {
  noiseMultiplier: (x) => x >= 0,
  noiseStd: (x) => x >= 0,
  clippingNorm: (x) => x > 0,
  batchSize: (x) => Number.isInteger(x) && x >= 1,
  gradientAccumulationSteps: (x) => Number.isInteger(x) && x >= 1,
  microbatches: (x) => Number.isInteger(x) && x >= 1,
  datasetSize: (x) => Number.isInteger(x) && x >= 1,
  numSampledClients: (x) => Number.isInteger(x) && x >= 1,
  pruneRatio: (x) => x >= 0 && x <= 1,
  topkRatio: (x) => x >= 0 && x <= 1,
  quantizeBits: (x) => Number.isInteger(x) && x >= 2 && x <= 32,
  targetEpsilon: (x) => x > 0,
  targetDelta: (x) => x > 0 && x < 1,
  dpSensitivity: (x) => x > 0,
  targetPsnr: () => true,
};

function inside(r: Range, lines: string[]): boolean {
  const ok = (p: { line: number; character: number }) => Number.isInteger(p.line) && p.line >= 0 && p.line < lines.length && p.character >= 0 && p.character <= lines[p.line].length;
  return ok(r.start) && ok(r.end) && (r.start.line < r.end.line || (r.start.line === r.end.line && r.start.character <= r.end.character));
}

const write: Record<string, (d: Record<string, unknown>) => string | undefined> = {
  'train.yaml': (d) => yamlStringify(d),
  'config.json': (d) => JSON.stringify(d, null, 2),
  'pyproject.toml': (d) => {
    try {
      return tomlStringify(d);
    } catch {
      return undefined; // null, NaN in arrays, or a shape TOML cannot write: not a document
    }
  },
};

function recognise(file: string, text: string): TrainingSetup | null {
  const parsed = parseConfigText(`/w/${file}`, text);
  assert.ok(parsed, `${file} is a config file name`);
  assert.equal(parsed.kind, 'tree', `a document ${file}'s own serialiser wrote parses:\n${text}\n${JSON.stringify(parsed).slice(0, 400)}`);
  if (parsed.kind !== 'tree') return null;
  const setup = recogniseTrainingSetup(parsed.tree, { fileExists: () => false });
  if (!setup) return null;
  const lines = text.split('\n');
  for (const [name, f] of Object.entries(setup) as [keyof TrainingSetup, ConfigField<unknown> | undefined][]) {
    if (!f || typeof f !== 'object' || !('valueRange' in f)) continue;
    assert.ok(inside(f.keyRange, lines) && inside(f.valueRange, lines), `${name} at its place in the text`);
    const range = RANGE[name];
    if (range) assert.ok(typeof f.value === 'number' && Number.isFinite(f.value) && range(f.value), `${name} = ${String(f.value)} (${typeof f.value}) is outside its range:\n${text}`);
  }
  for (const p of setup.problems) assert.ok(inside(p.range, lines), `problem ${p.rule} at its place`);
  for (const finding of checkTrainingSetup(setup, { modelOps: ['Conv', 'BatchNormalization'] })) assert.match(finding.code, /^I2F1\d\d$/);
  return setup;
}

test('any YAML/JSON/TOML document of config words and hostile values: parses, recognises without throwing, every value in range and in place', () => {
  fc.assert(
    fc.property(doc, fc.constantFrom(...Object.keys(write)), (d, file) => {
      const text = write[file](d as Record<string, unknown>);
      if (text === undefined) return;
      recognise(file, text);
    }),
    seeded({ seed: 9, numRuns: 600 }),
  );
});

test('a DP-SGD section among junk is read back exactly, or its out-of-range value is a located problem', () => {
  const junk = fc.dictionary(fc.string({ maxLength: 5 }).map((k) => `x_${k}`), fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.boolean()), { maxKeys: 4 });
  const number = fc.oneof(fc.constantFrom(...NUMBERS.filter(Number.isFinite)), fc.double({ min: -10, max: 10, noNaN: true }));
  fc.assert(
    fc.property(junk, junk, number, number, fc.constantFrom(...Object.keys(write)), (before, after, sigma, clip, file) => {
      const d = { ...before, privacy: { ...after, noise_multiplier: sigma, max_grad_norm: clip } };
      const text = write[file](d);
      if (text === undefined) return;
      const setup = recognise(file, text);
      assert.ok(setup, `recognised:\n${text}`);
      const expect = (field: 'noiseMultiplier' | 'clippingNorm', key: string, value: number, ok: boolean) => {
        if (ok) assert.ok(setup[field]?.value === value, `${field} = ${String(setup[field]?.value)}, written ${value}:\n${text}`); // -0 === 0
        else {
          assert.equal(setup[field], undefined, `${field} = ${value} is not used`);
          assert.ok(setup.problems.some((p) => p.key?.endsWith(key)), `${key} = ${value} has a located problem:\n${text}\n${JSON.stringify(setup.problems)}`);
        }
      };
      expect('noiseMultiplier', 'noise_multiplier', sigma, sigma >= 0);
      expect('clippingNorm', 'max_grad_norm', clip, clip > 0);
    }),
    seeded({ seed: 9, numRuns: 400 }),
  );
});

test('found by the property above: a huge batch size with microbatches that do not divide it is answered, not looped over', { timeout: 10_000 }, () => {
  // batch_size: 1e300 used to pass as a count and the divisor suggestion looped to √batch on the server's thread.
  const huge = recognise('train.yaml', 'training:\n  batch_size: 1e300\n  num_microbatches: 7\n');
  assert.equal(huge?.batchSize, undefined);
  assert.ok(huge?.problems.some((p) => p.key === 'training.batch_size' && /whole number/.test(p.message)));
  const largest = recognise('train.yaml', `training:\n  batch_size: ${Number.MAX_SAFE_INTEGER}\n  num_microbatches: 7\n`)!;
  const findings = checkTrainingSetup(largest, {});
  const divide = findings.find((f) => /do not divide the batch size/.test(f.message));
  assert.ok(divide, JSON.stringify(findings.map((f) => f.message)));
});

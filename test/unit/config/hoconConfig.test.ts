// The HOCON reader (NVFLARE job templates): real NVFLARE files read with exact ranges; JSON, a subset of HOCON, read
// exactly as the JSON reader reads it (an independent parser as the reference); HOCON's own syntax; located errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseHoconConfig } from '../../../server/src/config/hoconConfig';
import { parseJsonConfig } from '../../../server/src/config/jsonConfig';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { checkTrainingSetup } from '../../../server/src/config/rules';
import { analysisPlan } from '../../../server/src/config/defences';
import type { ConfigEntry, ParseOutcome } from '../../../server/src/config/keyTree';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';
import { range } from './helpers';

const PUBLIC = join(__dirname, '..', '..', 'fixtures', 'public', 'nvflare');

function entries(out: ParseOutcome): ConfigEntry[] {
  assert.equal(out.kind, 'tree', out.kind === 'syntax-error' ? out.error.message : '');
  return (out as { tree: { entries: ConfigEntry[] } }).tree.entries;
}

function at(list: ConfigEntry[], path: string): ConfigEntry {
  const e = list.find((x) => x.path.join('.') === path);
  assert.ok(e, `no entry ${path}`);
  return e!;
}

test("reads NVFLARE's hello-pt-cse client job (root braces, # comments, key { } blocks) with exact ranges", () => {
  const file = join(PUBLIC, 'hello-pt-cse/app/config/config_fed_client.conf');
  const text = readFileSync(file, 'utf8');
  const list = entries(parseHoconConfig(file, text));
  assert.equal(list.length, 19);
  const version = at(list, 'format_version');
  assert.equal(version.value, 2);
  assert.deepEqual([version.keyRange, version.valueRange], [range(2, 2, 2, 16), range(2, 19, 2, 20)]);
  const timeout = at(list, 'executors.0.executor.args.heartbeat_timeout');
  assert.equal(timeout.value, 60);
  assert.equal(text.split('\n')[timeout.valueRange.start.line].slice(timeout.valueRange.start.character, timeout.valueRange.end.character), '60');
  assert.equal(at(list, 'executors.0.tasks.1').value, 'validate');
  assert.equal(at(list, 'executors.0.executor.args.launch_once').value, true);
  // NVFLARE fills {app_script} from the same file's top-level variable.
  const command = at(list, 'executors.0.executor.args.command');
  assert.equal(command.value, 'python3 custom/train.py ');
  assert.equal(command.interpolation?.expression, 'python3 custom/{app_script} {app_config}');
  // A job config with no privacy or training keys is not a training config.
  assert.equal(readTrainingConfig(file, text), null);
});

test("an unquoted HOCON job template (NVFLARE's sag_pt_executor) reads its args", () => {
  const file = join(PUBLIC, 'sag_pt_executor/config_fed_client.conf');
  const text = readFileSync(file, 'utf8');
  const list = entries(parseHoconConfig(file, text));
  assert.deepEqual(list.map((e) => [e.path.join('.'), e.value]), [
    ['format_version', 2],
    ['executors.0.tasks.0', 'get_weights'],
    ['executors.0.tasks.1', 'train'],
    ['executors.0.tasks.2', 'submit_model'],
    ['executors.0.tasks.3', 'validate'],
    ['executors.0.executor.path', 'executor.CIFAR10Executor'],
    ['executors.0.executor.args.epochs', 2],
    ['executors.0.executor.args.lr', 0.001],
  ]);
  assert.deepEqual(at(list, 'executors.0.executor.args.lr').valueRange, range(18, 13, 18, 18));
});

test("a JSON-syntax job template reads the same through the HOCON reader as through the JSON reader (NVFLARE's sag_pt)", () => {
  const file = join(PUBLIC, 'sag_pt/config_fed_client.conf');
  const text = readFileSync(file, 'utf8');
  assert.deepEqual(entries(parseHoconConfig(file, text)), entries(parseJsonConfig(file, text)));
});

test('JSON is HOCON: any JSON object reads as the JSON reader reads it, values and ranges (property)', () => {
  const key = fc.oneof(fc.constantFrom('sigma0', 'noise_multiplier', 'a b', 'x.y', 'path', 'args', 'ü'), fc.string({ maxLength: 6 }));
  const scalar = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), fc.boolean(), fc.constant(null), fc.string({ maxLength: 10 }));
  const { tree } = fc.letrec((tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('tree'), { maxLength: 3 }), fc.dictionary(key, tie('tree'), { maxKeys: 4 })),
  }));
  fc.assert(
    fc.property(fc.dictionary(key, tree, { minKeys: 1, maxKeys: 5 }), fc.constantFrom(0, 2, 4), (doc, indent) => {
      const text = JSON.stringify(doc, null, indent);
      // Keys with dots or empty keys mean different things in HOCON (paths); JSON quotes them, and so does HOCON.
      const viaHocon = entries(parseHoconConfig('/w/c.conf', text));
      const viaJson = entries(parseJsonConfig('/w/c.json', text));
      assert.deepEqual(viaHocon.map(({ interpolation: _i, ...e }) => e), viaJson.map(({ interpolation: _i, ...e }) => e), text);
    }),
    { seed: 15, numRuns: 300 },
  );
});

test("HOCON's own syntax: unquoted and dotted keys, = and :, commas or newlines, // comments, triple quotes, concatenation, substitutions, include", () => {
  const text = [
    'include "common.conf"',
    'privacy {',
    '  sigma = 0.5 // the noise multiplier',
    '  clip: 1.0, delta = 1e-5',
    '}',
    'train.batch_size = 16',
    'noise = ${privacy.sigma}',
    'home = ${?HOME}',
    'note = """a "quoted" word"""',
    'cmd = python train.py --lr 0.1',
    'list = [1, 2',
    '  3]',
  ].join('\n');
  const list = entries(parseHoconConfig('/w/c.conf', text));
  assert.equal(at(list, 'privacy.sigma').value, 0.5);
  assert.deepEqual(at(list, 'privacy.sigma').valueRange, range(2, 10, 2, 13));
  assert.equal(at(list, 'privacy.clip').value, 1);
  assert.equal(at(list, 'privacy.delta').value, 1e-5);
  assert.deepEqual(at(list, 'train.batch_size').keyRange, range(5, 0, 5, 16));
  assert.equal(at(list, 'noise').value, 0.5, 'substitution from the same file');
  assert.equal(at(list, 'noise').interpolation?.resolved, true);
  assert.equal(at(list, 'home').interpolation?.resolved, false, 'an environment fallback is unknown here');
  assert.equal(at(list, 'note').value, 'a "quoted" word');
  assert.equal(at(list, 'cmd').value, 'python train.py --lr 0.1');
  assert.deepEqual(['list.0', 'list.1', 'list.2'].map((p) => at(list, p).value), [1, 2, 3]);
  assert.ok(!list.some((e) => e.path[0] === 'include'), 'include lines are skipped, nothing is read or fetched');

  const setup = readTrainingConfig('/w/c.conf', text, { fileExists: () => true }) as TrainingSetup;
  assert.equal(setup.format, 'hocon');
  assert.equal(setup.noiseMultiplier?.value, 0.5);
  assert.equal(setup.clippingNorm?.value, 1);
  assert.equal(setup.batchSize?.value, 16);
});

test('a client job in HOCON with a GaussianPrivacy task result filter is its defence; the same filter in a server job is not', () => {
  const client = [
    'format_version = 2',
    'task_result_filters = [',
    '  {',
    '    tasks = ["train"]',
    '    filters = [',
    '      {',
    '        path = "nvflare.app_common.filters.gaussian_privacy.GaussianPrivacy"',
    '        args { sigma0 = 0.2, max_percentile = 90 }',
    '      }',
    '    ]',
    '  }',
    ']',
  ].join('\n');
  const c = readTrainingConfig('/w/app/config/config_fed_client.conf', client, { fileExists: () => true }) as TrainingSetup;
  assert.equal(c.flavour, 'nvflare');
  assert.equal(c.relativeNoise?.sigma0.value, 0.2);
  assert.deepEqual(c.relativeNoise?.sigma0.valueRange, range(7, 24, 7, 27));
  assert.deepEqual(analysisPlan(c).relative.map((r) => [r.sigma0, r.percentile]), [[0.2, 90]]);
  const s = readTrainingConfig('/w/app/config/config_fed_server.conf', client, { fileExists: () => true }) as TrainingSetup;
  assert.equal(s.relativeNoise, undefined);
  assert.deepEqual(checkTrainingSetup(s).map((f) => [f.code, f.range.start.line]), [['I2F117', 6]]);
});

test('the HOCON reader returns a tree or a located error for any text, never a throw (property)', () => {
  const piece = fc.constantFrom('a', 'b.c', '"k"', ' = ', ':', '{', '}', '[', ']', ',', '\n', '#', '//', '"', '"""', '${a}', '${?X}', '1', '0.5', 'true', 'include ', '+=', ' ', '\\', 'ü');
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.array(piece, { maxLength: 40 }).map((p) => p.join(''))), (text) => {
      const out = parseHoconConfig('/w/c.conf', text);
      if (out.kind === 'syntax-error') assert.ok(out.error.message.length > 0 && out.range.start.line >= 0);
      else for (const e of out.tree.entries) assert.ok(e.valueRange.start.line <= e.valueRange.end.line);
    }),
    { seed: 7, numRuns: 2000 },
  );
});

test('malformed HOCON is a located syntax error, never a throw', () => {
  const cases: [string, number][] = [
    ['a {\n  b = 1\n', 2],
    ['a = "open\n', 0],
    ['a = ${b\n', 0],
    ['= 1\n', 0],
    ['a = [1, 2\n', 1],
  ];
  for (const [text, line] of cases) {
    const out = parseHoconConfig('/w/c.conf', text);
    assert.equal(out.kind, 'syntax-error', text);
    if (out.kind === 'syntax-error') {
      assert.equal(out.range.start.line, line, `${JSON.stringify(text)}: ${out.error.message}`);
      assert.match(out.error.message, /^HOCON: /);
    }
  }
  let deep = '';
  for (let i = 0; i < 5000; i++) deep += 'a {';
  const out = parseHoconConfig('/w/c.conf', deep);
  assert.equal(out.kind, 'syntax-error');
});

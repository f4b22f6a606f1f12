import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTomlConfig, scanTomlLeaves } from '../../../server/src/config/tomlConfig';
import type { ConfigTree } from '../../../server/src/config/keyTree';
import { fixture, range } from './helpers';

function tree(text: string): ConfigTree {
  const r = parseTomlConfig('/w/pyproject.toml', text);
  assert.equal(r.kind, 'tree', r.kind === 'syntax-error' ? r.error.describe() : '');
  return (r as { tree: ConfigTree }).tree;
}

function entry(t: ConfigTree, dotted: string) {
  const e = t.entries.find((x) => x.path.join('.') === dotted);
  assert.ok(e, `no entry ${dotted} in ${t.entries.map((x) => x.path.join('.')).join(', ')}`);
  return e;
}

test('locates kebab-case keys of the Flower app config table', () => {
  const { text } = fixture('flower/pyproject.toml');
  const t = tree(text);
  const nm = entry(t, 'tool.flwr.app.config.noise-multiplier');
  assert.equal(nm.value, 1);
  assert.deepEqual(nm.keyRange, range(23, 0, 23, 16));
  assert.deepEqual(nm.valueRange, range(23, 19, 23, 22));
  assert.deepEqual(entry(t, 'tool.flwr.federations.local-simulation.options.num-supernodes').keyRange, range(31, 8, 31, 22));
});

test('locates values in inline tables, multi-line arrays and multi-line strings', () => {
  const t = tree('deps = [\n  "a",\n  "b", # two\n]\ndp = { sigma = 1.5, clip = 2 }\ndoc = """\nline\n"""\nafter = 1\n');
  assert.deepEqual(entry(t, 'deps.1').valueRange, range(2, 2, 2, 5));
  assert.deepEqual(entry(t, 'dp.clip').keyRange, range(4, 20, 4, 24));
  assert.deepEqual(entry(t, 'dp.clip').valueRange, range(4, 27, 4, 28));
  assert.deepEqual(entry(t, 'doc').valueRange, range(5, 6, 7, 3));
  assert.deepEqual(entry(t, 'after').keyRange, range(8, 0, 8, 5));
});

test('numbers arrays of tables and follows a subtable into the latest one', () => {
  const t = tree('[[run]]\nsigma = 1\n[[run]]\nsigma = 2\n[run.dp]\nclip = 3\n');
  assert.equal(entry(t, 'run.1.sigma').value, 2);
  assert.deepEqual(entry(t, 'run.1.dp.clip').keyRange, range(5, 0, 5, 4));
});

test('unquotes quoted keys and keeps dots inside them as part of one segment', () => {
  const leaves = scanTomlLeaves('"a.b" = 1\n\'c\'.d = 2\n');
  assert.deepEqual(leaves.map((l) => l.path), [['a.b'], ['c', 'd']]);
});

test('converts dates to ISO strings', () => {
  assert.equal(entry(tree('when = 1979-05-27T07:32:00Z\n'), 'when').value, '1979-05-27T07:32:00.000Z');
});

test('reports a missing value with the 0-based position smol-toml found it at', () => {
  const { file, text } = fixture('malformed/pyproject.toml');
  const r = parseTomlConfig(file, text);
  assert.equal(r.kind, 'syntax-error');
  if (r.kind !== 'syntax-error') return;
  assert.deepEqual(r.range.start, { line: 2, character: 19 });
  assert.match(r.error.message, /^TOML: /);
});

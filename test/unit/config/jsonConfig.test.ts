import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonConfig } from '../../../server/src/config/jsonConfig';
import type { ConfigTree } from '../../../server/src/config/keyTree';
import { fixture, range } from './helpers';

function tree(file: string, text: string): ConfigTree {
  const r = parseJsonConfig(file, text);
  assert.equal(r.kind, 'tree', r.kind === 'syntax-error' ? r.error.describe() : '');
  return (r as { tree: ConfigTree }).tree;
}

test('locates NVFLARE filter args inside arrays of objects', () => {
  const { file, text } = fixture('nvflare/config_fed_client.json');
  const t = tree(file, text);
  const sigma0 = t.entries.find((e) => e.path.join('.') === 'task_result_filters.0.filters.1.args.sigma0');
  assert.ok(sigma0);
  assert.equal(sigma0.value, 0.1);
  assert.deepEqual(sigma0.keyRange, range(22, 20, 22, 28));
  assert.deepEqual(sigma0.valueRange, range(22, 30, 22, 33));
});

test('includes the quotes of a key in its range', () => {
  const t = tree('/w/a.json', '{\n  "batch_size": 8\n}');
  assert.deepEqual(t.entries[0].keyRange, range(1, 2, 1, 14));
  assert.deepEqual(t.entries[0].valueRange, range(1, 16, 1, 17));
});

test('tolerates comments and trailing commas as lenient JSON loaders do', () => {
  const t = tree('/w/a.json', '{\n  // DP\n  "sigma": 1.0,\n}');
  assert.equal(t.entries[0].value, 1);
});

test('reports a missing comma with the line and column of the offending token', () => {
  const { file, text } = fixture('malformed/config_fed_client.json');
  const r = parseJsonConfig(file, text);
  assert.equal(r.kind, 'syntax-error');
  if (r.kind !== 'syntax-error') return;
  assert.deepEqual(r.range, range(5, 34, 5, 50));
  assert.equal(r.error.message, 'JSON: Comma expected.');
});

test('reports pathological nesting as an error, not a stack overflow', () => {
  const r = parseJsonConfig('/w/deep.json', '['.repeat(100000) + ']'.repeat(100000));
  assert.equal(r.kind, 'syntax-error');
});

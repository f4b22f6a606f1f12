import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseYamlConfig } from '../../../server/src/config/yamlConfig';
import type { ConfigTree } from '../../../server/src/config/keyTree';
import { range } from './helpers';

function tree(text: string): ConfigTree {
  const r = parseYamlConfig('/w/c.yaml', text);
  assert.equal(r.kind, 'tree', r.kind === 'syntax-error' ? r.error.describe() : '');
  return (r as { tree: ConfigTree }).tree;
}

function entry(t: ConfigTree, dotted: string) {
  const e = t.entries.find((x) => x.path.join('.') === dotted);
  assert.ok(e, `no entry ${dotted} in ${t.entries.map((x) => x.path.join('.')).join(', ')}`);
  return e;
}

test('flattens nested maps into key paths with the ranges of each key and value', () => {
  const t = tree('privacy:\n  noise_multiplier: 1.1   # sigma\n  max_grad_norm: 1.0\n');
  const e = entry(t, 'privacy.noise_multiplier');
  assert.equal(e.value, 1.1);
  assert.deepEqual(e.keyRange, range(1, 2, 1, 18));
  assert.deepEqual(e.valueRange, range(1, 20, 1, 23));
});

test('gives sequence items their index as a path segment and their own range as the key range', () => {
  const t = tree('layers: [conv, relu]\n');
  const e = entry(t, 'layers.1');
  assert.equal(e.value, 'relu');
  assert.deepEqual(e.keyRange, range(0, 15, 0, 19));
  assert.deepEqual(e.valueRange, range(0, 15, 0, 19));
});

test('places an empty value right after its key', () => {
  const e = entry(tree('model_path:\nx: 1\n'), 'model_path');
  assert.equal(e.value, null);
  assert.equal(e.valueRange.start.line, 0);
});

test('applies merge keys with explicit keys winning and ranges pointing at the anchored text', () => {
  const t = tree('base: &b\n  sigma: 1.1\n  clip: 2\nprivacy:\n  <<: *b\n  clip: 3\n');
  assert.equal(entry(t, 'privacy.clip').value, 3);
  const sigma = entry(t, 'privacy.sigma');
  assert.equal(sigma.value, 1.1);
  assert.deepEqual(sigma.keyRange, range(1, 2, 1, 7));
  assert.equal(t.entries.filter((e) => e.path.join('.') === 'privacy.clip').length, 1);
});

test('resolves simple Hydra interpolations, absolute, relative and embedded in strings', () => {
  const t = tree('paths:\n  root: models\nprivacy:\n  sigma: 0.8\n  nm: ${privacy.sigma}\n  again: ${.sigma}\nmodel: ${paths.root}/net.onnx\n');
  assert.equal(entry(t, 'privacy.nm').value, 0.8);
  assert.deepEqual(entry(t, 'privacy.nm').interpolation, { expression: '${privacy.sigma}', resolved: true });
  assert.equal(entry(t, 'privacy.again').value, 0.8);
  assert.equal(entry(t, 'model').value, 'models/net.onnx');
});

test('leaves resolver calls, missing keys and cycles unresolved with a reason', () => {
  const t = tree('a: ${oc.env:HOME}\nb: ${nowhere.x}\nc: ${d}\nd: ${c}\n');
  for (const k of ['a', 'b', 'c', 'd']) {
    const e = entry(t, k);
    assert.equal(e.interpolation?.resolved, false, k);
    assert.ok(e.interpolation?.reason, k);
  }
  assert.match(entry(t, 'a').interpolation!.reason!, /resolver/);
  assert.match(entry(t, 'b').interpolation!.reason!, /no key 'nowhere.x'/);
});

test('reports malformed YAML as a located error instead of throwing', () => {
  const r = parseYamlConfig('/w/bad.yaml', 'privacy:\n  max_grad_norm: [1.0, 2.0\ntraining:\n  batch_size: 64\n');
  assert.equal(r.kind, 'syntax-error');
  if (r.kind !== 'syntax-error') return;
  assert.equal(r.error.code, 'config-syntax');
  assert.deepEqual(r.range.start, { line: 2, character: 0 });
  assert.equal(r.error.location.line, 2);
  assert.match(r.error.describe(), /^\/w\/bad\.yaml:3:1: YAML: /);
});

test('stops an alias bomb with an error instead of expanding it', () => {
  const rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  const names = 'abcdefghij';
  for (let i = 1; i < names.length; i++) {
    const prev = names[i - 1];
    rows.push(`${names[i]}: &${names[i]} [${Array(9).fill('*' + prev).join(',')}]`);
  }
  // Expanded, the document would hold 9^10 ≈ 3.5e9 strings: a parser that did not stop would exhaust memory or
  // hang (the runner's watchdog), not merely be slow. Its speed is a budget in `npm run bench`.
  const r = parseYamlConfig('/w/bomb.yaml', rows.join('\n') + '\n');
  assert.equal(r.kind, 'syntax-error');
  if (r.kind === 'syntax-error') assert.equal(r.error.code, 'config-too-large');
});

test('reads every document of a multi-document stream', () => {
  const t = tree('a: 1\n---\nb: 2\n');
  assert.equal(entry(t, 'b').value, 2);
  assert.equal(entry(t, 'b').keyRange.start.line, 2);
});

test('reports nesting deeper than the limit as an error, not a stack overflow', () => {
  const deep = '['.repeat(5000) + ']'.repeat(5000);
  const r = parseYamlConfig('/w/deep.yaml', `a: ${deep}\n`);
  assert.equal(r.kind, 'syntax-error');
});

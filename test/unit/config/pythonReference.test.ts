import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfigText } from '../../../server/src/config/recognise';
import { i2fSnippet, isPythonFactory, recognisePythonReference } from '../../../server/src/config/pythonReference';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';

function read(file: string, text: string): TrainingSetup {
  const parsed = parseConfigText(file, text);
  assert.ok(parsed && parsed.kind === 'tree');
  const setup: TrainingSetup = { file, format: parsed.tree.format, flavour: 'generic', unmodelled: [], problems: [] };
  recognisePythonReference(parsed.tree, setup);
  return setup;
}

test('tells module:Factory references from paths and architecture names', () => {
  for (const yes of ['pkg.task:Net', 'task:Net', 'pkg.models:Zoo.small', '  a_b.c:make_model ']) assert.ok(isPythonFactory(yes), yes);
  for (const no of ['models/net.onnx', 'resnet18', 'C:\\models\\net.onnx', 'pkg.task:', ':Net', 's3://bucket/x:y', 'pkg task:Net', 42]) assert.ok(!isPythonFactory(no), String(no));
});

test("reads Flower quickstart-pytorch's clientapp component with its place in pyproject.toml", () => {
  const file = join(__dirname, '..', '..', 'fixtures', 'python', 'flower-quickstart-pytorch', 'pyproject.toml');
  const text = readFileSync(file, 'utf8');
  const setup = read(file, text);
  assert.equal(setup.flowerClientApp?.value, 'pytorchexample.client_app:app');
  const line = text.split('\n').findIndex((l) => l.startsWith('clientapp'));
  assert.equal(setup.flowerClientApp?.keyRange.start.line, line);
  assert.equal(setup.pythonModel, undefined);
});

test('an i2f: section names the model in YAML, JSON and TOML ([tool.i2f] in pyproject.toml); a path is not a factory', () => {
  assert.equal(read('/w/c.yaml', 'i2f:\n  model: "pkg.task:Net"\n  input-shape: [1, 28, 28]\n').pythonModel?.value, 'pkg.task:Net');
  assert.equal(read('/w/c.json', '{"i2f": {"model": "pkg.task:Net"}}').pythonModel?.value, 'pkg.task:Net');
  const toml = read('/w/pyproject.toml', '[tool.i2f]\nmodel = "pkg.task:Net"\n');
  assert.equal(toml.pythonModel?.value, 'pkg.task:Net');
  assert.equal(toml.pythonModel?.valueRange.start.line, 1);
  assert.equal(read('/w/c.yaml', 'i2f:\n  model: models/net.onnx\n').pythonModel, undefined);
  assert.equal(read('/w/c.yaml', 'model: "pkg.task:Net"\n').pythonModel, undefined, 'outside the i2f: section a model key is not trusted to name Python');
});

test('the one-line fix is written in the config\'s own syntax', () => {
  assert.equal(i2fSnippet('yaml', '/w/c.yaml', 'model', 'pkg.module:Factory'), 'i2f: { model: "pkg.module:Factory" }');
  assert.equal(i2fSnippet('toml', '/w/pyproject.toml', 'input-shape', [1, 28, 28]), '[tool.i2f] input-shape = [1, 28, 28]');
  assert.equal(i2fSnippet('toml', '/w/conf.toml', 'model', 'x:y'), '[i2f] model = "x:y"');
  assert.equal(i2fSnippet('json', '/w/a.json', 'model', 'x:y'), '"i2f": { "model": "x:y" }');
});

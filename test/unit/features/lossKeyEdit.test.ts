// I2F159's quick fix (features/lossKeyEdit.ts): the edit, applied to each format's config text, is read back by the
// config reader as `i2f: loss: binary-cross-entropy`, beside an i2f section that exists, a new one, or the key's
// own wrong value.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TextEdit } from 'vscode-languageserver';
import { lossKeyEdit, lossThatGivesGradient } from '../../../server/src/features/lossKeyEdit';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import type { ConfigFormat } from '../../../server/src/config/keyTree';

function apply(text: string, edit: TextEdit): string {
  const lines = text.split('\n');
  const offset = (p: { line: number; character: number }) => lines.slice(0, p.line).reduce((n, l) => n + l.length + 1, 0) + p.character;
  return text.slice(0, offset(edit.range.start)) + edit.newText + text.slice(offset(edit.range.end));
}

function readBack(file: string, format: ConfigFormat, text: string): { loss?: string; model?: string; attacker?: string } {
  const edit = lossKeyEdit(text, format, file, 'binary-cross-entropy', undefined);
  assert.ok(edit, `${file}: an edit`);
  const setup = readTrainingConfig(file, apply(text, edit), { fileExists: () => true });
  assert.ok(setup && !('kind' in setup), `${file}: parses after the edit`);
  return { loss: setup.loss?.value, model: setup.model?.value, attacker: setup.attacker?.value };
}

test('the loss to name: binary cross-entropy for softmax cross-entropy over one output; none otherwise', () => {
  assert.equal(lossThatGivesGradient('cross-entropy', 1), 'binary-cross-entropy');
  assert.equal(lossThatGivesGradient('cross-entropy', 10), undefined);
  assert.equal(lossThatGivesGradient('binary-cross-entropy', 1), undefined, 'a dead output: no loss gives it a gradient');
});

test('YAML, TOML (pyproject and i2f.toml) and JSON, with and without an i2f section: read back as the loss, the rest kept', () => {
  assert.deepEqual(readBack('/w/train.yaml', 'yaml', 'model: m.onnx\nbatch_size: 1\n'), { loss: 'binary-cross-entropy', model: 'm.onnx', attacker: undefined });
  assert.deepEqual(readBack('/w/train.yaml', 'yaml', 'model: m.onnx\ni2f:\n    attacker: server\n'), { loss: 'binary-cross-entropy', model: 'm.onnx', attacker: 'server' });
  assert.deepEqual(readBack('/w/train.yaml', 'yaml', 'model: m.onnx'), { loss: 'binary-cross-entropy', model: 'm.onnx', attacker: undefined });
  assert.deepEqual(readBack('/w/pyproject.toml', 'toml', '[tool.i2f]\nmodel = "m.onnx"\n'), { loss: 'binary-cross-entropy', model: 'm.onnx', attacker: undefined });
  assert.deepEqual(readBack('/w/pyproject.toml', 'toml', '[project]\nname = "x"\n\n[tool.i2f]\nmodel = "m.onnx"\n'), { loss: 'binary-cross-entropy', model: 'm.onnx', attacker: undefined });
  assert.deepEqual(readBack('/w/i2f.toml', 'toml', 'model = "m.onnx"\n'), { loss: 'binary-cross-entropy', model: 'm.onnx', attacker: undefined });
  assert.deepEqual(readBack('/w/train.json', 'json', '{\n  "model": "m.onnx"\n}\n'), { loss: 'binary-cross-entropy', model: 'm.onnx', attacker: undefined });
  assert.deepEqual(readBack('/w/train.json', 'json', '{"model": "m.onnx", "i2f": {"attacker": "server"}}'), { loss: 'binary-cross-entropy', model: 'm.onnx', attacker: 'server' });
  assert.deepEqual(readBack('/w/train.json', 'json', '{"model": "m.onnx", "i2f": {}}'), { loss: 'binary-cross-entropy', model: 'm.onnx', attacker: undefined });
});

test("a loss already written in the i2f section is replaced where it is", () => {
  const text = 'model: m.onnx\ni2f:\n  loss: cross-entropy\n';
  const setup = readTrainingConfig('/w/train.yaml', text, { fileExists: () => true });
  assert.ok(setup && !('kind' in setup) && setup.loss);
  const edit = lossKeyEdit(text, 'yaml', '/w/train.yaml', 'binary-cross-entropy', { range: setup.loss.valueRange })!;
  assert.equal(apply(text, edit), 'model: m.onnx\ni2f:\n  loss: binary-cross-entropy\n');
  assert.equal(lossKeyEdit('x', 'python', '/w/train.py', 'binary-cross-entropy'), undefined, 'Python: the fix is in the code');
});

test('codeActions: I2F159 on a one-output model analysed under cross-entropy offers the i2f: loss edit; a dead output none', async () => {
  const { codeActions } = await import('../../../server/src/features/codeActions');
  const view = (text: string, loss: string, outputShape: number[]) => ({
    uri: 'file:///w/train.yaml',
    text,
    config: { path: '/w/train.yaml', setup: readTrainingConfig('/w/train.yaml', text, { fileExists: () => true }), modelSource: 'config' },
    settings: { targetPsnr: 15 },
    pending: false,
    result: { report: { settings: { loss, outputShape }, results: [] }, entry: {}, fromCache: false, rescaled: false },
  }) as unknown as Parameters<typeof codeActions>[0];
  const d = { code: 'I2F159', message: '', range: { start: { line: 0, character: 0 }, end: { line: 0, character: 5 } } };
  const text = 'model: income.onnx\nbatch_size: 1\n';
  const [action] = codeActions(view(text, 'cross-entropy', [1, 1]), [d]);
  assert.equal(action.title, 'Analyse with binary-cross-entropy: set loss in the i2f section');
  const [edit] = action.edit!.changes!['file:///w/train.yaml'];
  assert.equal(apply(text, edit), 'model: income.onnx\nbatch_size: 1\ni2f:\n  loss: binary-cross-entropy\n');
  assert.deepEqual(codeActions(view(text, 'binary-cross-entropy', [1, 1]), [d]), [], 'no loss gives a dead output a gradient');
});

// The server over stdio on a Flower app laid out like Flower's `opacus` example (pyproject.toml with max-grad-norm,
// client_app.py choosing the noise multiplier and passing both to Opacus' make_private): one consistent finding on
// the noise argument in Python, the config's keys pointing at it, hover and quick fix on the Python lines.

import test from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CodeAction, Diagnostic, Hover } from 'vscode-languageserver';
import { leakageOf, startServer } from './lspClient';

const TIMEOUT = { timeout: 180_000 };
const APP = join(__dirname, '..', 'fixtures', 'python', 'flower-app');
const NOISE_LINE = 26; // `noise_multiplier=self.noise_multiplier,` in make_private (0-based)

/** The fixture app in the workspace, its model named in the app's own config (an i2f section), and a weak noise branch. */
function prepare(workspace: string): void {
  const dir = join(workspace, 'flower-opacus');
  cpSync(APP, dir, { recursive: true });
  // A clipping norm far above the MLP's gradient norms, so the noise alone decides (σ·C = 1e-4 on the weak branch).
  const config = readFileSync(join(dir, 'pyproject.toml'), 'utf8').replace('max-grad-norm = 1.0', 'max-grad-norm = 100.0');
  writeFileSync(join(dir, 'pyproject.toml'), `${config}\n[tool.i2f]\nmodel = "../models/mlp.onnx"\nsamples = "../data/digits.npy"\n`);
  const client = join(dir, 'dpapp', 'client_app.py');
  writeFileSync(client, readFileSync(client, 'utf8').replace('0.8 if partition_id % 2 == 0 else 1.3', '0.000001 if partition_id % 2 == 0 else 1.3'));
}

const codesOf = (d: Diagnostic[]) => d.map((x) => String(x.code));

test('a Flower opacus-layout app: one leakage finding on the noise argument in client_app.py, the config defers to it', TIMEOUT, async () => {
  const s = await startServer({ prepare });
  try {
    const py = s.open('flower-opacus/dpapp/client_app.py');
    const all = await s.waitForDiagnostics(py, (d) => !!leakageOf(d));
    const leak = leakageOf(all)!;
    assert.equal(leak.range.start.line, NOISE_LINE, 'on the noise argument');
    assert.match(leak.message, /dpsgd:clip=100,noise=0\.000001/, 'the weakest branch, with the clipping norm from pyproject.toml');
    const summary = all.find((x) => x.code === 'I2F140')!;
    assert.equal(summary.range.start.line, NOISE_LINE);
    assert.match(summary.message, /one of 0\.000001, 1\.3/);
    assert.match(summary.message, /'max-grad-norm' in pyproject\.toml/);
    assert.ok(!codesOf(all).includes('I2F101'), 'no "clipping without noise"');
    assert.equal(all.filter((x) => x.code === 'I2F001').length, 1);

    // The config: its max-grad-norm points at the call that reads it; no second verdict, no clipping-only warning.
    const toml = s.uri('flower-opacus/pyproject.toml');
    const cfg = await s.waitForDiagnostics(toml, (d) => d.some((x) => x.code === 'I2F142'));
    const read = cfg.find((x) => x.code === 'I2F142')!;
    assert.equal(read.range.start.line, 19, 'on max-grad-norm');
    assert.match(read.message, /make_private\(max_grad_norm=…\) in dpapp\/client_app\.py \(line 28\)/);
    for (const c of ['I2F001', 'I2F101', 'I2F115']) assert.ok(!codesOf(cfg).includes(c), `the config has no ${c}`);

    // Hover on the noise argument: where the value is written and every value it may take.
    const hover = (await s.connection.sendRequest('textDocument/hover', { textDocument: { uri: py }, position: { line: NOISE_LINE, character: 16 } })) as Hover;
    const text = (hover.contents as { value: string }).value;
    for (const part of ['Read from `self.noise_multiplier`', '`0.000001` (line 35)', '`1.3` (line 35)', 'weakest is analysed', 'Predicted PSNR']) assert.ok(text.includes(part), `hover has '${part}':\n${text}`);

    // The inlay hint follows the noise argument's value.
    const hints = (await s.connection.sendRequest('textDocument/inlayHint', { textDocument: { uri: py }, range: { start: { line: 0, character: 0 }, end: { line: 60, character: 0 } } })) as { position: { line: number; character: number }; label: string }[];
    assert.equal(hints.length, 1);
    assert.deepEqual(hints[0].position, { line: NOISE_LINE, character: '            noise_multiplier=self.noise_multiplier'.length });
    assert.match(String(hints[0].label), /dB · high risk$/);

    // The quick fix edits the literal branch(es) below the noise that reaches the target, in the Python file.
    assert.match(leak.message, /Leakage risk (HIGH|MEDIUM)/, 'σ·C = 1e-4 leaves the update exposed');
    {
      const actions = (await s.connection.sendRequest('textDocument/codeAction', { textDocument: { uri: py }, range: leak.range, context: { diagnostics: [leak] } })) as CodeAction[];
      const fix = actions.find((a) => /^Set noise_multiplier to /.test(a.title));
      assert.ok(fix, JSON.stringify(actions));
      const edits = fix.edit!.changes![py];
      assert.ok(edits.length >= 1);
      const source = readFileSync(s.path('flower-opacus/dpapp/client_app.py'), 'utf8').split('\n');
      for (const e of edits) {
        assert.equal(e.range.start.line, 34, 'on the conditional that chooses the noise');
        assert.match(source[34].slice(e.range.start.character, e.range.end.character), /^(0\.000001|1\.3)$/);
        assert.ok(Number(e.newText) > 0.000001);
      }
    }
  } finally {
    await s.close();
  }
});

test('ordinary Python opened in the editor gets no diagnostics', TIMEOUT, async () => {
  const s = await startServer({
    prepare: (w) => writeFileSync(join(w, 'util.py'), 'import os\n\ndef make_private(noise_multiplier=0.0):\n    return os.getcwd()\n'),
  });
  try {
    const uri = s.open('util.py');
    const d = await s.waitForDiagnostics(uri, () => true);
    assert.deepEqual(d, []);
  } finally {
    await s.close();
  }
});

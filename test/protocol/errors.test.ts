// Broken inputs give located diagnostics and the server keeps serving the other files.

import test from 'node:test';
import assert from 'node:assert/strict';
import type { Diagnostic } from 'vscode-languageserver';
import { leakageOf, startServer } from './lspClient';
import { addBrokenFiles } from './fixtures';

// I2F001: the finished analysis's (leakageOf), not the provisional one a running solve publishes.
const only = (code: string) => (d: Diagnostic[]) => (code === 'I2F001' ? leakageOf(d) : d.find((x) => x.code === code));

test('malformed YAML, JSON and TOML, a missing model, a corrupt .onnx and an unsupported op each give a located diagnostic while the other configs keep working', { timeout: 240_000 }, async () => {
  const s = await startServer({ prepare: addBrokenFiles });
  try {
    // Discovery publishes the syntax errors of files nobody opened.
    const yaml = await s.waitForDiagnostics(s.uri('broken/yaml/train.yaml'), (d) => !!only('I2F100')(d));
    assert.equal(only('I2F100')(yaml)!.range.start.line, 2, 'where the YAML parser stopped');
    assert.equal(only('I2F100')(yaml)!.severity, 1);
    const json = await s.waitForDiagnostics(s.uri('broken/json/config.json'), (d) => !!only('I2F100')(d));
    assert.equal(only('I2F100')(json)!.range.start.line, 3);
    const toml = await s.waitForDiagnostics(s.uri('broken/toml/pyproject.toml'), (d) => !!only('I2F100')(d));
    assert.equal(only('I2F100')(toml)!.range.start.line, 1);

    const missingUri = s.open('broken/missing/train.yaml');
    const missing = await s.waitForDiagnostics(missingUri, (d) => !!only('I2F107')(d));
    assert.equal(only('I2F107')(missing)!.range.start.line, 3, 'on the model_path line');
    assert.match(only('I2F107')(missing)!.message, /nowhere\.onnx/);

    const corrupt = await s.waitForDiagnostics(s.open('broken/corrupt/train.yaml'), (d) => !!only('I2F002')(d));
    assert.equal(only('I2F002')(corrupt)!.range.start.line, 5, 'on the model_path line');
    assert.match(only('I2F002')(corrupt)!.message, /could not be analysed: .*model\.onnx/);

    const unsupported = await s.waitForDiagnostics(s.open('broken/unsupported/train.yaml'), (d) => !!only('I2F002')(d));
    assert.equal(only('I2F002')(unsupported)!.range.start.line, 5);
    assert.match(only('I2F002')(unsupported)!.message, /FusedGelu/);

    // The rest of the workspace is still served.
    const flower = await s.waitForDiagnostics(s.open('flower/pyproject.toml'), (d) => !!only('I2F001')(d));
    assert.match(only('I2F001')(flower)!.message, /Leakage risk/);

    // Fixing a file clears its error.
    const fixedUri = s.open('broken/yaml/train.yaml');
    s.change(fixedUri, 2, 'privacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\n');
    await s.waitForDiagnostics(fixedUri, (d) => !only('I2F100')(d));
  } finally {
    await s.close();
  }
});

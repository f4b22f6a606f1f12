// "I²F: Verify engines" over real LSP: the server runs both engines (ONNX derivative graphs, TensorFlow.js nested
// autodiff) on a config's batches in a worker, reports on the client's progress token, and answers with the largest
// disagreement per batch; it is cancellable; a config naming a TensorFlow.js graph model is analysed like an ONNX one,
// and re-analysed when one of its weight shards changes.

import test from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CancellationTokenSource } from 'vscode-languageserver/node';
import { leakageOf, startServer } from './lspClient';
import type { VerifyEnginesResult } from '../../server/src/protocol';

const FIXTURES = join(__dirname, '../fixtures/tfjs');

const config = (model: string) => `training:\n  batch_size: 2\nprivacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\nmodel_path: ${model}\n`;

test('Verify engines: both engines agree on an ONNX and a tfjs graph-model config, with progress; a tfjs config is analysed', { timeout: 240_000 }, async () => {
  const s = await startServer({
    prepare: (ws) => {
      mkdirSync(join(ws, 'web'), { recursive: true });
      cpSync(join(FIXTURES, 'graph_mlp'), join(ws, 'web/graph_mlp'), { recursive: true });
      writeFileSync(join(ws, 'web/train.yaml'), config('graph_mlp/model.json'));
    },
  });
  try {
    const progress: { kind: string; message?: string }[] = [];
    s.connection.onNotification('$/progress', (p: { token: string; value: { kind: string; message?: string } }) => {
      if (p.token === 'verify-1') progress.push(p.value);
    });
    const flower = s.open('flower/pyproject.toml');
    const r = (await s.connection.sendRequest('i2f/verifyEngines', { uri: flower, workDoneToken: 'verify-1' })) as VerifyEnginesResult;
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.equal(r.report.model.format, 'onnx');
    assert.equal(r.report.batches.length, 1, 'maxSamples 1: one batch');
    const b = r.report.batches[0];
    for (const k of ['g', 'Ju', 'JTv'] as const) assert.ok(b[k] >= 0 && b[k] < 1e-5, `${k}: ${b[k]}`);
    assert.ok(b.timing.engine.Ju > 0 && b.timing.reference.Ju > 0, 'per-product times of both engines');
    assert.ok(r.report.agree && r.report.max === Math.max(b.g, b.Ju, b.JTv));
    assert.match(r.summary, /agree/);
    const kinds = progress.map((p) => p.kind);
    assert.equal(kinds[0], 'begin');
    assert.ok(kinds.includes('report'), 'progress reported on the client\'s token');
    assert.equal(kinds.at(-1), 'end');

    // The tfjs graph model: analysed (a leakage diagnostic on the model line), verified, and linked from the hover.
    const web = s.open('web/train.yaml');
    const d = await s.waitForDiagnostics(web, (ds) => !!leakageOf(ds), 120_000);
    assert.match(leakageOf(d)!.message, /Leakage risk/);
    const t = (await s.connection.sendRequest('i2f/verifyEngines', { uri: web })) as VerifyEnginesResult;
    assert.ok(t.ok, t.ok ? '' : t.message);
    assert.equal(t.report.model.format, 'tfjs');
    assert.ok(t.report.max < 1e-5, `tfjs graph model: ${t.report.max}`);
    const hover = (await s.connection.sendRequest('textDocument/hover', { textDocument: { uri: web }, position: { line: 4, character: 4 } })) as { contents: { value: string } } | null;
    assert.ok(hover, 'hover on the noise multiplier');
    assert.match(hover.contents.value, /\[Verify engines\]\(command:i2f\.verifyEngines\?/);

    // Model watching: a changed weight shard (not the model.json itself) re-analyses the config that uses it.
    const shard = s.path('web/graph_mlp/group1-shard1of1.bin');
    writeFileSync(shard, readFileSync(shard).subarray(0, 100));
    void s.connection.sendNotification('workspace/didChangeWatchedFiles', { changes: [{ uri: s.uri('web/graph_mlp/group1-shard1of1.bin'), type: 2 }] });
    const broken = await s.waitForDiagnostics(web, (ds) => ds.some((x) => x.code === 'I2F002'));
    assert.match(broken.find((x) => x.code === 'I2F002')!.message, /bytes/);
  } finally {
    await s.close();
  }
});

test('Verify engines is cancellable, and says why when the config names no model', { timeout: 240_000 }, async () => {
  const s = await startServer({
    prepare: (ws) => {
      mkdirSync(join(ws, 'le'), { recursive: true });
      cpSync(join(FIXTURES, 'graph_lenet5_pool'), join(ws, 'le/net'), { recursive: true });
      writeFileSync(join(ws, 'le/train.yaml'), config('net/model.json'));
      writeFileSync(join(ws, 'le/none.yaml'), 'privacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\n');
    },
  });
  try {
    const uri = s.open('le/train.yaml');
    const source = new CancellationTokenSource();
    s.connection.onNotification('$/progress', (p: { token: string; value: { kind: string } }) => {
      if (p.token === 'verify-c' && p.value.kind === 'report') source.cancel();
    });
    const r = (await s.connection.sendRequest('i2f/verifyEngines', { uri, workDoneToken: 'verify-c' }, source.token)) as VerifyEnginesResult;
    assert.ok(!r.ok && r.cancelled, JSON.stringify(r).slice(0, 300));
    const none = (await s.connection.sendRequest('i2f/verifyEngines', { uri: s.open('le/none.yaml') })) as VerifyEnginesResult;
    assert.ok(!none.ok && /names no ONNX or TensorFlow\.js model/.test(none.message), JSON.stringify(none));
    // The worker is free again: the same request, uncancelled, completes (the test settings' maxSamples 1: one sample).
    const full = (await s.connection.sendRequest('i2f/verifyEngines', { uri })) as VerifyEnginesResult;
    assert.ok(full.ok, full.ok ? '' : full.message);
    assert.deepEqual(full.report.batches.map((b) => b.samples), [[0]]);
    assert.ok(full.report.max < 1e-5, `LeNet graph model: ${full.report.max}`);
  } finally {
    await s.close();
  }
});

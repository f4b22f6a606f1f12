// Work off the editor's thread: a burst of edits yields one analysis, a killed worker is restarted and its job
// retried, a changed model invalidates results, an untrusted workspace loads no model.

import test from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { Diagnostic } from 'vscode-languageserver';
import { leakageOf, startServer, stats } from './lspClient';
import { addDpConfig, dpConfig } from './fixtures';

const TIMEOUT = { timeout: 240_000 };
const leakage = leakageOf; // the finished analysis's I2F001, not the provisional one

test('a burst of 50 edits to a config queues one analysis, for its final text', TIMEOUT, async () => {
  const s = await startServer({ prepare: addDpConfig });
  try {
    const uri = s.open('dp/train.yaml');
    await s.waitForDiagnostics(uri, (d) => /dpsgd:clip=1,noise=1\b/.test(leakage(d)?.message ?? ''));
    const before = await stats(s);
    const tracesBefore = s.traces.length;
    for (let i = 1; i <= 50; i++) s.change(uri, i + 1, dpConfig((1 + i / 100).toFixed(2), '1.0'));
    const final = await s.waitForDiagnostics(uri, (d) => /dpsgd:clip=1\.5,noise=1\b/.test(leakage(d)?.message ?? ''));
    assert.equal((leakage(final)!.data as { fromCache: boolean }).fromCache, false);
    const after = await stats(s);
    assert.equal(after.jobsQueued - before.jobsQueued, 1, 'one analysis for 50 edits');
    const queued = s.traces.slice(tracesBefore).filter((t) => t.event === 'queued');
    assert.equal(queued.length, 1);
  } finally {
    await s.close();
  }
});

test('an edit that changes the analysis cancels the stale running job', TIMEOUT, async () => {
  const s = await startServer({ prepare: addDpConfig, settings: { maxSamples: 4 } });
  try {
    const uri = s.open('dp/train.yaml');
    await s.waitFor('the first job to start', () => s.traces.some((t) => t.event === 'started'));
    s.change(uri, 2, dpConfig('2.0', '1.0'));
    await s.waitForDiagnostics(uri, (d) => /dpsgd:clip=2,noise=1\b/.test(leakage(d)?.message ?? ''));
    const after = await stats(s);
    assert.equal(after.jobsCancelled, 1, 'the clip=1 job was cancelled');
    assert.equal(after.jobsFinished, 1);
  } finally {
    await s.close();
  }
});

test('a killed worker is restarted, its job retried, and the user told once', TIMEOUT, async () => {
  const s = await startServer({ prepare: addDpConfig, settings: { maxSamples: 4 } });
  try {
    const uri = s.open('dp/train.yaml');
    let victim: number | undefined;
    await s.waitFor('a worker running the job', () => {
      void stats(s).then((st) => {
        const busy = st.workers.find((w) => w.busy);
        if (busy && victim === undefined) {
          victim = busy.pid;
          process.kill(busy.pid, 'SIGKILL');
        }
      });
      return victim !== undefined;
    });
    const d = await s.waitForDiagnostics(uri, (x) => !!leakage(x));
    assert.match(leakage(d)!.message, /Leakage risk/);
    const st = await stats(s);
    assert.equal(st.workerRestarts, 1);
    assert.equal(st.jobsRetried, 1);
    assert.ok(!st.workers.some((w) => w.pid === victim), 'a new worker process');
    assert.ok(s.traces.some((t) => t.event === 'retried'));
    const told = s.messages.filter((m) => /analysis process stopped unexpectedly/.test(m.message));
    assert.equal(told.length, 1);
    assert.equal(told[0].type, 2, 'a warning');
  } finally {
    await s.close();
  }
});

test('a changed model file invalidates the results of the configs that use it', TIMEOUT, async () => {
  const s = await startServer({ prepare: addDpConfig });
  try {
    const uri = s.open('dp/train.yaml');
    await s.waitForDiagnostics(uri, (d) => !!leakage(d));
    writeFileSync(s.path('models/mlp.onnx'), 'not a model any more');
    void s.connection.sendNotification('workspace/didChangeWatchedFiles', { changes: [{ uri: s.uri('models/mlp.onnx'), type: 2 }] });
    const d = await s.waitForDiagnostics(uri, (x) => x.some((y) => y.code === 'I2F002'));
    const f = d.find((x) => x.code === 'I2F002')!;
    assert.equal(f.range.start.line, 8, 'on the model line');
    assert.equal(leakage(d), undefined, 'the stale result is gone');
  } finally {
    await s.close();
  }
});

test('an untrusted workspace gets the cheap rules only, loads no model, and the status says why', TIMEOUT, async () => {
  const s = await startServer({ prepare: addDpConfig, initializationOptions: { trusted: false } });
  try {
    const uri = s.open('dp/train.yaml');
    const flower = s.open('flower/pyproject.toml');
    await s.waitForDiagnostics(flower, (d) => d.some((x) => x.code === 'I2F112'));
    await s.waitForDiagnostics(uri, () => true);
    // The server's own word that it settled on not analysing (the view behind the hover), not a pause to see
    // whether a job starts: the view is set before the diagnostics are published, and a queued job would say
    // "Analysis running…".
    const hover = (await s.connection.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line: 5, character: 4 } })) as { contents: { value: string } } | null;
    assert.match(hover?.contents.value ?? '', /Not analysed: the workspace is not trusted, so models are not loaded/);
    assert.equal(leakage(s.diagnostics.get(uri)!), undefined);
    assert.equal((await stats(s)).jobsQueued, 0);
    const status = await s.waitFor('the untrusted status', () => s.statuses.find((x) => x.state === 'untrusted'));
    assert.match(status.detail!, /not trusted: models are not loaded/);
    // Trust granted: the analysis runs.
    void s.connection.sendNotification('i2f/trust', { trusted: true });
    await s.waitForDiagnostics(uri, (d) => !!leakage(d));
  } finally {
    await s.close();
  }
});

test('results survive a server restart in the storage folder', TIMEOUT, async () => {
  let storage = '';
  const first = await startServer({ prepare: addDpConfig });
  storage = (await stats(first)).storagePath;
  try {
    await first.waitForDiagnostics(first.open('dp/train.yaml'), (d) => !!leakage(d));
  } finally {
    first.server.kill('SIGKILL');
  }
  const second = await startServer({ prepare: addDpConfig, initializationOptions: { storagePath: storage } });
  try {
    const d = await second.waitForDiagnostics(second.open('dp/train.yaml'), (x) => !!leakage(x));
    assert.equal((leakage(d)!.data as { fromCache: boolean }).fromCache, true);
    assert.equal((await stats(second)).jobsQueued, 0);
    const cleared = (await second.connection.sendRequest('i2f/clearCache')) as { removedFiles: number };
    assert.equal(cleared.removedFiles, 1);
  } finally {
    await second.close();
  }
});

// A worker over its memory limit (i2f.workerMemoryMB), with real triggers: the built worker analysing a real model
// under a limit below what it needs (onnxruntime's memory is outside the V8 heap, so only the pool's resident-memory
// watchdog can stop it), and a real V8 heap death. Either way: stopped, one failure naming the model and the limit,
// no retry, no crash report; the pool and the server live on and a higher limit lets the analysis finish.

import test from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerPool, type PoolEvents } from '../../server/src/analysis/workerPool';
import type { JobOutcome } from '../../server/src/analysis/jobs';
import { discoverWorkspace } from '../../server/src/workspace/discover';
import { configAnalysisSettings, DEFAULT_SETTINGS } from '../../server/src/analysis/settings';
import { leakageOf, startServer } from '../protocol/lspClient';
import { addDpConfig } from '../protocol/fixtures';
import { REPO } from './corpus';

const WORKER = join(REPO, 'dist/worker.js');
/** An idle worker is ~50 MB resident; with onnxruntime's session on the MLP it peaks near 145 MB (measured). */
const LOW_MB = 96;

interface Seen {
  crashes: unknown[];
  oom: { model: string; limitMB: number; residentMB?: number }[];
  starts: number;
}

function poolWith(memoryMB: number, script = WORKER, pollMs?: number): { pool: WorkerPool; seen: Seen } {
  const seen: Seen = { crashes: [], oom: [], starts: 0 };
  const events: PoolEvents = { log: () => {}, onCrash: (i) => seen.crashes.push(i), onOutOfMemory: (i) => seen.oom.push(i) };
  return { pool: new WorkerPool(script, 1, memoryMB, events, pollMs), seen };
}

async function mlpJob() {
  const ws = mkdtempSync(join(tmpdir(), 'i2f-memory-'));
  cpSync(join(REPO, 'examples'), ws, { recursive: true });
  addDpConfig(ws);
  const [config] = (await discoverWorkspace(join(ws, 'dp'))).configs;
  assert.ok(config?.model?.endsWith('mlp.onnx'));
  return { ws, job: { config, settings: configAnalysisSettings(DEFAULT_SETTINGS) } };
}

function assertOutOfMemory(o: JobOutcome, model: string, limit: number): void {
  assert.equal(o.kind, 'failed', JSON.stringify(o).slice(0, 300));
  if (o.kind !== 'failed') return;
  assert.equal(o.userError, true, 'the limit is a setting the user can change, not our bug');
  assert.equal(o.outOfMemory, true);
  assert.match(o.message, new RegExp(`${model.replace('.', '\\.')} needs more than ${limit} MB \\(i2f\\.workerMemoryMB\\)`));
}

test('pool: the real worker analysing the MLP under a limit below its need is stopped by the watchdog, once, not as a crash', { timeout: 120_000 }, async () => {
  const { ws, job } = await mlpJob();
  const { pool, seen } = poolWith(LOW_MB);
  try {
    const o = await pool.run(1, job, () => {}, () => seen.starts++);
    assertOutOfMemory(o, 'mlp.onnx', LOW_MB);
    assert.match((o as { message: string }).message, /stopped at \d+ MB resident/);
    assert.equal(seen.starts, 1, 'not retried');
    assert.deepEqual(seen.crashes, [], 'not reported as a crash');
    assert.equal(pool.restarts, 0);
    assert.equal(seen.oom.length, 1);
    assert.equal(seen.oom[0].model, job.config.model);
    assert.ok(seen.oom[0].residentMB! > LOW_MB);
    // The pool lives on: a higher limit replaces the worker and the same job finishes.
    pool.resize(1, 4096);
    const again = await pool.run(2, job, () => {}, () => seen.starts++);
    assert.equal(again.kind, 'result', JSON.stringify(again).slice(0, 300));
  } finally {
    pool.dispose();
    rmSync(ws, { recursive: true, force: true });
  }
});

test('pool: without the watchdog the same limit does not bound the worker (its memory is outside the V8 heap)', { timeout: 120_000 }, async () => {
  // Why the watchdog exists: --max-old-space-size alone lets this analysis finish well over the limit.
  const { ws, job } = await mlpJob();
  const { pool, seen } = poolWith(LOW_MB, WORKER, 0);
  try {
    const o = await pool.run(1, job, () => {}, () => seen.starts++);
    assert.equal(o.kind, 'result');
    assert.deepEqual(seen.oom, []);
  } finally {
    pool.dispose();
    rmSync(ws, { recursive: true, force: true });
  }
});

test("pool: a worker killed by V8's own heap limit is reported as out of memory (model and limit), not retried", { timeout: 120_000 }, async () => {
  const { pool, seen } = poolWith(64, join(__dirname, 'workers/heapHog.js'), 0);
  try {
    const o = await pool.submit(7, { type: 'summary', file: '/models/big.onnx' }, () => {}, () => seen.starts++);
    assertOutOfMemory(o, 'big.onnx', 64);
    assert.match((o as { message: string }).message, /JavaScript heap was full/);
    assert.equal(seen.starts, 1, 'not retried');
    assert.deepEqual(seen.crashes, []);
    assert.equal(seen.oom.length, 1);
  } finally {
    pool.dispose();
  }
});

test('server: an analysis over i2f.workerMemoryMB gets one I2F002 naming the model and the limit; the server lives on; a higher limit finishes it', { timeout: 240_000 }, async () => {
  const s = await startServer({ prepare: addDpConfig, settings: { workerMemoryMB: LOW_MB } });
  try {
    const uri = s.open('dp/train.yaml');
    const diags = await s.waitForDiagnostics(uri, (d) => d.some((x) => x.code === 'I2F002'));
    const failed = diags.find((x) => x.code === 'I2F002')!;
    assert.match(failed.message, new RegExp(`mlp\\.onnx needs more than ${LOW_MB} MB \\(i2f\\.workerMemoryMB\\)`));
    assert.ok(!diags.some((x) => x.code === 'I2F001'), 'no risk shown for an analysis that did not run');
    assert.equal(s.traces.filter((t) => t.event === 'started').length, 1, 'started once: not retried');
    assert.equal(s.traces.filter((t) => t.event === 'retried').length, 0);
    assert.ok(!s.messages.some((m) => /stopped unexpectedly/.test(m.message)), 'no crash warning');
    assert.ok(s.log.some((l) => /went over i2f\.workerMemoryMB = 96 MB .* stopped, not retried/.test(l)));
    // The server lives on: raising the limit forgets the failure and the analysis runs to a result.
    s.settings.workerMemoryMB = 4096;
    s.connection.sendNotification('workspace/didChangeConfiguration', { settings: {} });
    await s.waitForDiagnostics(uri, (d) => !!leakageOf(d) && !d.some((x) => x.code === 'I2F002'));
  } finally {
    await s.close();
  }
});

// Faults with real processes: shutdown/exit or a killed server during an analysis leaves no worker behind; a
// truncated or corrupt cache file is discarded and recomputed; two servers share one cache folder; an untrusted
// workspace starts no worker at all.

import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Diagnostic } from 'vscode-languageserver';
import { leakageOf, startServer, stats, type Session } from '../protocol/lspClient';
import { addDpConfig } from '../protocol/fixtures';

const TIMEOUT = { timeout: 240_000 };
const leakage = leakageOf; // the finished analysis's I2F001, not the provisional one

/** Child pids of `pid` from the process table (ps), not from the server's own account. */
function children(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').map((x) => Number(x.trim())).filter((x) => x > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    return state !== 'Z'; // a zombie has exited
  } catch {
    return false;
  }
}

async function gone(pids: number[], ms = 5_000): Promise<number[]> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (!pids.some(alive)) return [];
    await new Promise((r) => setTimeout(r, 50));
  }
  return pids.filter(alive);
}

async function busyWorkers(s: Session): Promise<number[]> {
  const pids = await s.waitFor('a busy worker', () => {
    const p = s.traces.find((t) => t.event === 'started');
    return p ? true : undefined;
  });
  void pids;
  const st = await stats(s);
  return st.workers.map((w) => w.pid);
}

test('shutdown and exit during an analysis leave no worker process behind', TIMEOUT, async () => {
  const s = await startServer({ prepare: addDpConfig, settings: { maxSamples: 64, workerCount: 2 } });
  try {
    const serverPid = s.server.pid!;
    s.open('dp/train.yaml');
    const workers = await busyWorkers(s);
    assert.ok(workers.length >= 1);
    for (const w of workers) assert.ok(children(serverPid).includes(w), `worker ${w} is in the process table under the server`);
    const exit = new Promise<number | null>((r) => s.server.once('exit', (code) => r(code)));
    await s.connection.sendRequest('shutdown');
    // The server may be gone before the write's callback: its rejection is not the test's subject.
    void s.connection.sendNotification('exit').catch(() => undefined);
    assert.equal(await exit, 0);
    assert.deepEqual(await gone(workers), [], 'no orphaned worker');
  } finally {
    await s.close();
  }
});

test('a server killed with SIGKILL during an analysis: its workers notice and exit', TIMEOUT, async () => {
  const s = await startServer({ prepare: addDpConfig, settings: { maxSamples: 64, workerCount: 2 } });
  try {
    s.open('dp/train.yaml');
    const workers = await busyWorkers(s);
    s.server.kill('SIGKILL');
    assert.deepEqual(await gone(workers, 10_000), [], 'the workers exit when the server is gone');
  } finally {
    await s.close();
  }
});

test('a truncated and a corrupt cache file are discarded and recomputed, never served', TIMEOUT, async () => {
  const storage = mkdtempSync(join(tmpdir(), 'i2f-cache-'));
  const first = await startServer({ prepare: addDpConfig, initializationOptions: { storagePath: storage } });
  let message = '';
  try {
    message = leakage(await first.waitForDiagnostics(first.open('dp/train.yaml'), (d) => !!leakage(d)))!.message.replaceAll(first.workspace, 'WS');
  } finally {
    await first.close();
  }
  const folder = join(storage, 'results');
  const [file] = readdirSync(folder).filter((n) => n.endsWith('.json'));
  const good = readFileSync(join(folder, file), 'utf8');
  const corruptions: [string, string][] = [
    ['truncated', good.slice(0, Math.floor(good.length / 2))],
    ['valid JSON, no results', JSON.stringify({ ...JSON.parse(good), report: { ...JSON.parse(good).report, results: [] } })],
    ['zero bytes', ''],
  ];
  for (const [what, text] of corruptions) {
    writeFileSync(join(folder, file), text);
    const s = await startServer({ prepare: addDpConfig, initializationOptions: { storagePath: storage } });
    try {
      const d = await s.waitForDiagnostics(s.open('dp/train.yaml'), (x) => !!leakage(x));
      assert.equal((leakage(d)!.data as { fromCache: boolean }).fromCache, false, `${what}: recomputed`);
      assert.equal(leakage(d)!.message.replaceAll(s.workspace, 'WS'), message, `${what}: the same result as before`);
      assert.equal((await stats(s)).jobsQueued, 1);
      assert.ok(s.log.some((l) => /cache: discarding/.test(l)), `${what}: logged`);
      assert.ok(s.server.exitCode === null);
    } finally {
      await s.close();
    }
    assert.doesNotThrow(() => JSON.parse(readFileSync(join(folder, file), 'utf8')), `${what}: rewritten whole`);
  }
  rmSync(storage, { recursive: true, force: true });
});

test('two servers analysing the same config into one cache folder both get the right result, and leave whole files', TIMEOUT, async () => {
  const storage = mkdtempSync(join(tmpdir(), 'i2f-cache-'));
  const a = await startServer({ prepare: addDpConfig, initializationOptions: { storagePath: storage } });
  const b = await startServer({ prepare: addDpConfig, initializationOptions: { storagePath: storage } });
  try {
    const [da, db] = await Promise.all([a, b].map((s) => s.waitForDiagnostics(s.open('dp/train.yaml'), (x) => !!leakage(x))));
    assert.equal(leakage(da)!.message.replaceAll(a.workspace, 'WS'), leakage(db)!.message.replaceAll(b.workspace, 'WS'));
    const names = readdirSync(join(storage, 'results'));
    assert.deepEqual(names.filter((n) => n.endsWith('.tmp')), [], 'no temp file left');
    for (const n of names) assert.doesNotThrow(() => JSON.parse(readFileSync(join(storage, 'results', n), 'utf8')));
  } finally {
    await Promise.all([a.close(), b.close()]);
    rmSync(storage, { recursive: true, force: true });
  }
});

test('an untrusted workspace starts no worker process and loads no model (process table)', TIMEOUT, async () => {
  const s = await startServer({ prepare: addDpConfig, initializationOptions: { trusted: false } });
  try {
    const uri = s.open('dp/train.yaml');
    await s.waitForDiagnostics(uri, () => true, 10_000);
    // Even an explicit audit runs no analysis. Its answer comes once every config it refreshed has settled (no
    // analysis queued or running): the event to check the process table after, instead of a pause.
    const audit = (await s.connection.sendRequest('i2f/audit', {})) as { configs: number };
    assert.ok(audit.configs >= 1, 'the audit covered the open config');
    assert.deepEqual(children(s.server.pid!), [], 'no child process');
    const st = await stats(s);
    assert.deepEqual(st.workers, []);
    assert.equal(st.jobsQueued, 0);
    assert.equal(leakage(s.diagnostics.get(uri)!), undefined);
  } finally {
    await s.close();
  }
});

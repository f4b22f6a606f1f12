// A paced burst of edits, as a user typing fast into several configs (issue 9: 100 edits per second): every edit
// changes the analysis (a new clipping norm), yet each file gets one analysis, of its final text, and nothing
// queues up while the edits arrive. (bench/load.ts runs the full 10-second, 10-file version and records it.)

import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { leakageOf, startServer, stats } from '../protocol/lspClient';
import { dpConfig } from '../protocol/fixtures';

const FILES = 3;
const RATE = 100;
const SECONDS = 2;

test(`${RATE} edits per second for ${SECONDS} s over ${FILES} configs: one analysis per file, of its final text, no queue growth`, { timeout: 240_000 }, async () => {
  const s = await startServer({
    prepare: (ws) => {
      for (let f = 0; f < FILES; f++) {
        mkdirSync(join(ws, `burst${f}`), { recursive: true });
        writeFileSync(join(ws, `burst${f}/train.yaml`), dpConfig('1.0', '1.0'));
      }
    },
  });
  try {
    const uris = Array.from({ length: FILES }, (_, f) => s.open(`burst${f}/train.yaml`));
    for (const u of uris) await s.waitForDiagnostics(u, (d) => !!leakageOf(d));
    const before = await stats(s);
    const tracesBefore = s.traces.length;
    const versions = uris.map(() => 1);
    const last = uris.map(() => '');
    const queueSeen: number[] = [];
    const settlingSeen: number[] = [];
    const t0 = performance.now();
    let sent = 0;
    while (performance.now() - t0 < SECONDS * 1000) {
      const due = Math.floor(((performance.now() - t0) / 1000) * RATE);
      for (; sent < due; sent++) {
        const f = sent % FILES;
        last[f] = (2 + f + (sent % 89) / 100).toFixed(2); // a new clip each time: a new analysis key
        s.change(uris[f], ++versions[f], dpConfig(last[f], '1.0'));
      }
      if (sent % 20 === 0) {
        const st = await stats(s);
        queueSeen.push(st.jobsQueued - before.jobsQueued);
        settlingSeen.push(st.debouncing);
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(sent >= RATE * SECONDS * 0.9, `sent ${sent} edits`);
    for (const [f, u] of uris.entries()) {
      await s.waitForDiagnostics(u, (d) => new RegExp(`clip=${Number(last[f])}(?![0-9])`).test(leakageOf(d)?.message ?? ''), 120_000);
    }
    // A late duplicate could only come from an edit still settling: none is (instead of a pause to let one show).
    assert.equal((await stats(s)).debouncing, 0, 'no edit is waiting to queue an analysis');
    const queued = s.traces.slice(tracesBefore).filter((t) => t.event === 'queued');
    const perFile = uris.map((u) => queued.filter((t) => t.config === fileURLToPath(u)).length);
    assert.deepEqual(perFile, uris.map(() => 1), 'one analysis per file for its final text');
    assert.equal(Math.max(0, ...queueSeen), 0, 'nothing was queued while the edits kept coming (the debounce held every file)');
    assert.ok(Math.max(0, ...settlingSeen) > 0, `the edits were seen settling (debouncing: ${settlingSeen.join(' ')})`);
    assert.equal((await stats(s)).jobsQueued - before.jobsQueued, FILES);
  } finally {
    await s.close();
  }
});

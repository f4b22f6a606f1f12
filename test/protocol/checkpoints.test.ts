// Watching the checkpoints training writes: a torch.save file written into the config's output_dir in pieces while
// the server runs is not analysed while incomplete, is analysed once when complete, named in the I2F001 finding,
// and recorded in the history the checkpointHistory request returns.
// Every wait is on an event or a counter (the server's look count), with a deadline; no sleep is evidence.

import test from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Diagnostic } from 'vscode-languageserver';
import { leakageOf, REPO, startServer, stats, type Session } from './lspClient';
import type { CheckpointHistoryResult } from '../../server/src/protocol';

const TIMEOUT = { timeout: 240_000 };
const FIXTURES = join(REPO, 'test', 'fixtures', 'checkpoints');
const leakage = leakageOf; // the finished analysis's I2F001, not the provisional one

function prepare(workspace: string): void {
  const dir = join(workspace, 'run');
  mkdirSync(join(dir, 'out'), { recursive: true });
  copyFileSync(join(FIXTURES, 'model.onnx'), join(dir, 'model.onnx'));
  copyFileSync(join(FIXTURES, 'x.npy'), join(dir, 'x.npy'));
  writeFileSync(join(dir, 'train.yaml'), [
    '# DP-SGD on a small CNN; checkpoints go to out/',
    'training:',
    '  batch_size: 1',
    '  output_dir: out',
    'privacy:',
    '  noise_multiplier: 1.0',
    '  max_grad_norm: 1.0',
    'i2f:',
    '  model: model.onnx',
    '  samples: x.npy',
    '',
  ].join('\n'));
}

/** Waits until the server has taken `n` more looks at the checkpoints than it had at `from`. */
async function looksAfter(s: Session, from: number, n: number): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const looks = (await stats(s)).checkpointLooks ?? 0;
    if (looks >= from + n) return looks;
    if (Date.now() > deadline) throw new Error(`the server took ${looks - from} looks, not ${n}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function history(s: Session, uri: string) {
  const r = await s.connection.sendRequest<CheckpointHistoryResult>('i2f/checkpointHistory', { uri });
  assert.ok(r.ok);
  return r.history;
}

test('a checkpoint written in pieces into output_dir is analysed once, named in the finding, and kept in the history', TIMEOUT, async () => {
  const s = await startServer({ prepare, initializationOptions: { checkpointPollMs: 100 } });
  try {
    const uri = s.open('run/train.yaml');
    await s.waitForDiagnostics(uri, (d) => !!leakage(d));
    const before = await stats(s);
    assert.deepEqual((await history(s, uri)).entries, []);

    // Two thirds of a torch.save zip: no end record, so never complete however long it waits.
    const bytes = readFileSync(join(FIXTURES, 'state_dict.pt'));
    const file = s.path('run/out/round-7.pt');
    writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 3)));
    let looks = await looksAfter(s, before.checkpointLooks ?? 0, 3);
    appendFileSync(file, bytes.subarray(Math.floor(bytes.length / 3), Math.floor((2 * bytes.length) / 3)));
    looks = await looksAfter(s, looks, 3);
    assert.equal((await stats(s)).jobsQueued, before.jobsQueued, 'nothing analysed while the write is incomplete');
    assert.ok(s.log.every((l) => !l.includes('round-7.pt') || !l.includes('complete')), 'not announced while incomplete');

    appendFileSync(file, bytes.subarray(Math.floor((2 * bytes.length) / 3)));
    const d = await s.waitForDiagnostics(uri, (x) => /round-7\.pt \(step 7\)/.test(leakage(x)?.message ?? ''), 120_000);
    assert.match(leakage(d)!.message, /latest checkpoint training wrote/);
    let h = await history(s, uri);
    const deadline = Date.now() + 30_000;
    while (!h.entries.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      h = await history(s, uri);
    }
    assert.equal(h.entries.length, 1);
    const e = h.entries[0];
    assert.equal(e.checkpoint, join('out', 'round-7.pt'));
    assert.equal(e.step, 7);
    assert.ok(e.psnr !== null && Number.isFinite(e.psnr), `psnr ${e.psnr}`);
    assert.ok(e.lowerBound !== null && e.lowerBound > 0);
    // The lower bound on the error caps the attacker's PSNR from above.
    assert.ok(e.lowerBoundPsnr !== null && e.lowerBoundPsnr >= e.psnr! - 1e-9, `${e.lowerBoundPsnr} ≥ ${e.psnr}`);

    // More looks with nothing new: still one analysis of the checkpoint, one entry.
    await looksAfter(s, (await stats(s)).checkpointLooks ?? 0, 4);
    const after = await stats(s);
    assert.equal(after.jobsFinished - before.jobsFinished, 1, 'analysed once');
    assert.equal((await history(s, uri)).entries.length, 1);
  } finally {
    await s.close();
  }
});

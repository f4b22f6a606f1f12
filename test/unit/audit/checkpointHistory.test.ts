// The audit on a run that wrote per-round checkpoints (test/fixtures/checkpoints/rounds/, state_dicts saved by
// torch.save): the finding is about the latest one and names it, every round is analysed, and the HTML report plots
// predicted PSNR and the lower bound's ceiling per round, in training order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditPaths } from '../../../server/src/analysis/audit';
import { toHtml } from '../../../server/src/analysis/report/html';
import { worstBatch, expectedPsnr } from '../../../server/src/analysis/configFindings';
import { toAuditJson } from '../../../server/src/analysis/report/json';
import { validateAuditJson } from '../../cli/helpers';

const fixtures = join(__dirname, '..', '..', 'fixtures', 'checkpoints');

test('the HTML report plots the leakage of every round a run saved, and the finding is about the latest', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-audit-history-'));
  try {
    mkdirSync(join(dir, 'run'));
    copyFileSync(join(fixtures, 'model.onnx'), join(dir, 'run', 'model.onnx'));
    copyFileSync(join(fixtures, 'x.npy'), join(dir, 'run', 'x.npy'));
    cpSync(join(fixtures, 'rounds'), join(dir, 'run', 'rounds'), { recursive: true });
    // A federated server's config naming its first round's checkpoint: the later rounds are its siblings.
    writeFileSync(join(dir, 'run', 'train.yaml'), 'training:\n  batch_size: 1\nprivacy:\n  noise_multiplier: 0.0002\n  max_grad_norm: 1.0\ni2f:\n  model: model.onnx\n  weights: rounds/round-1.pt\n  samples: x.npy\n');
    const run = await auditPaths([dir], { noCache: true, jobs: 1 });
    const cfg = run.roots[0].configs.find((c) => c.file.endsWith('train.yaml'))!;
    assert.equal(cfg.status, 'analysed', cfg.reason);
    const history = cfg.checkpointHistory!;
    assert.deepEqual(history.map((e) => [e.checkpoint, e.step]), [1, 2, 3, 4].map((k) => [join('rounds', `round-${k}.pt`), k]));
    assert.ok(history.every((e) => e.psnr !== null && e.lowerBoundPsnr !== null && e.lowerBoundPsnr >= e.psnr), JSON.stringify(history));
    // Different weights, different leakage: the rounds are not one number repeated.
    assert.equal(new Set(history.map((e) => e.psnr!.toFixed(6))).size, 4, JSON.stringify(history.map((e) => e.psnr)));
    // The finding is about the latest round, and the history's last point is that same result.
    const leak = cfg.findings.find((f) => f.code === 'I2F001')!;
    assert.match(leak.message, /round-4\.pt \(step 4\)/);
    assert.equal(history[3].psnr, expectedPsnr(worstBatch(cfg.report!)));

    const html = toHtml(run);
    const figure = /<figure class="checkpoint-history">(.*?)<\/figure>/s.exec(html)?.[1] ?? '';
    assert.ok(figure, 'a history figure');
    const points = (cls: string) => [...figure.matchAll(new RegExp(`<circle class="point ${cls}"[^>]*data-value="([^"]+)"`, 'g'))].map((m) => Number(m[1]));
    assert.deepEqual(points('top'), history.map((e) => e.psnr));
    assert.deepEqual(points('bottom ceiling'), history.map((e) => e.lowerBoundPsnr));
    const xs = [...figure.matchAll(/<circle class="point top" cx="([^"]+)"/g)].map((m) => Number(m[1]));
    assert.deepEqual(xs, [...xs].sort((a, b) => a - b), 'training order, left to right');
    assert.match(figure, /Latest: rounds\/round-4\.pt/);

    // The JSON report carries the same history, valid against the audit schema.
    const json = toAuditJson(run);
    assert.deepEqual(validateAuditJson(json), []);
    const listed = json.roots[0].configs.find((c) => c.file.endsWith('train.yaml'))!.checkpoints!;
    assert.deepEqual(listed.map((e) => [e.checkpoint, e.step, e.psnr]), history.map((e) => [`rounds/round-${e.step}.pt`, e.step, e.psnr]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

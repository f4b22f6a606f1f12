// The verdict sweep, reduced (bench/verdictSweep.ts; `npm run bench` runs the full grid): for each setting, the level
// the I²F finding gives against the level the project's own attack reaches (L2 and cosine objectives, L-BFGS, seeded
// starts). Zero findings may sit below the attack, and none may show a PSNR under the box floor unflagged. Before
// clipping was modelled as a rescaling, the first case was graded LOW while these attacks reached MEDIUM.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSweep, runSweepCase, sweepAttacks, sweepCases, type ResponseCache, type SweepCase, type SweepRow } from '../../../bench/verdictSweep';

test('no finding is graded below what the project\'s own attacks reach (quick sweep: LeNet and MLP, clipping, noise, batch 4, top-k after noise)', { timeout: 1_800_000 }, async () => {
  const rows: SweepRow[] = [];
  for (const c of sweepCases(true)) rows.push(await runSweepCase(c, sweepAttacks(true)));
  console.log(formatSweep(rows).split('\n').map((l) => `# ${l}`).join('\n'));
  assert.deepEqual(rows.filter((r) => r.wrong).map((r) => `${r.model} B${r.batch} ${r.defences.join(' then ')}`), []);
  assert.deepEqual(rows.filter((r) => r.unflaggedBelowFloor).map((r) => `${r.model} B${r.batch} ${r.defences.join(' then ')}`), []);
  // The sweep has teeth: clipping alone leaves the LeNet to an attack that reaches at least MEDIUM.
  const clipOnly = rows[0];
  assert.deepEqual(clipOnly.defences, ['dpsgd:clip=1,noise=0']);
  assert.ok(clipOnly.attackRisk === 'medium' || clipOnly.attackRisk === 'high', `the attack on clip-only reaches ${clipOnly.attackRisk}`);
  assert.equal(clipOnly.finding.risk, 'high');
  // Every model, both batch sizes, noise with and without clipping and a top-k after noise are in the subset.
  const kinds = (r: SweepRow) => r.defences.map((d) => d.split(':')[0]).join('>');
  for (const want of ['DLG LeNet B1', 'DLG LeNet B4', 'examples MLP B1', 'examples MLP B4']) assert.ok(rows.some((r) => `${r.model} B${r.batch}` === want), want);
  for (const want of ['dpsgd', 'gaussian', 'gaussian>topk']) assert.ok(rows.some((r) => kinds(r) === want), want);
});

test('the full sweep\'s noise-only re-answers equal fresh analyses (the same finding from one analysis per structure)', { timeout: 600_000 }, async () => {
  // bench/verdictSweep.ts answers rows that differ only in a noise scale from one analysis (as the audit re-answers a
  // noise-only edit): on the MLP, Gaussian 1e-3 from the 1e-4 analysis, and DP-SGD σ 0.01 at batch 4 from σ = 0.
  const responses: ResponseCache = new Map();
  for (const c of [
    { model: 'mlp', batch: 1, defences: ['gaussian:std=0.001'] },
    { model: 'mlp', batch: 4, defences: ['dpsgd:clip=1,noise=0.01'] },
  ] satisfies SweepCase[]) {
    const fresh = (await runSweepCase(c, [])).finding;
    const rescaled = (await runSweepCase(c, [], 0, undefined, responses)).finding;
    assert.equal(rescaled.risk, fresh.risk, c.defences[0]);
    for (const k of ['gradedPsnr', 'mostExposedPsnr', 'psnr', 'deltaRatio', 'rawPsnr'] as const) {
      assert.ok(Math.abs(rescaled[k] - fresh[k]) <= 1e-6 * Math.max(1, Math.abs(fresh[k])), `${c.defences[0]} ${k}: ${rescaled[k]} vs ${fresh[k]}`);
    }
  }
  assert.equal(responses.size, 2, 'one analysis per structure');
});

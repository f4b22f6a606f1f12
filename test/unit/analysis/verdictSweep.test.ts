// The verdict sweep, reduced (bench/verdictSweep.ts; `npm run bench` runs the full grid): for each setting, the level
// the I²F finding gives against the level the project's own attack reaches (L2 and cosine objectives, L-BFGS, seeded
// starts). Zero findings may sit below the attack, and none may show a PSNR under the box floor unflagged. Before
// clipping was modelled as a rescaling, the first case was graded LOW while these attacks reached MEDIUM.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSweep, runSweepCase, sweepAttacks, sweepCases, type SweepRow } from '../../../bench/verdictSweep';

test('no finding is graded below what the project\'s own attacks reach (quick sweep: LeNet and MLP, clipping, noise, batch 4, top-k after noise)', { timeout: 900_000 }, async () => {
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
});

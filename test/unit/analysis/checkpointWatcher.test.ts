// The server's checkpoint watching when training writes faster than an analysis runs: the checkpoint under
// analysis stays pinned (a newer one does not cancel it), its result is recorded, and then the latest is next;
// one that cannot be analysed is released so the next one is tried. Looks are taken by hand: no timing decides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointWatcher } from '../../../server/src/analysis/checkpointWatcher';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { linkConfig, type DiscoveredConfig } from '../../../server/src/workspace/discover';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';
import type { AnalyzeReport } from '../../../server/src/analysis/analyzeModel';

const rounds = join(__dirname, '..', '..', 'fixtures', 'checkpoints', 'rounds');
/** The fields of a report the history reads (the most exposed batch's numbers). */
const report = (psnr: number) => ({
  settings: { dataRange: 1 },
  results: [{ risk: 'medium', psnr, rmse: 0.1, i2f: 1, lowerBound: 0.5, expectedPsnr: psnr, expectedRmse: 0.1, perSample: [], samples: [0] }],
}) as unknown as AnalyzeReport;

test('a checkpoint under analysis stays pinned while newer ones arrive; the latest is next once it is recorded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-watcher-'));
  try {
    mkdirSync(join(dir, 'out'));
    const file = join(dir, 'train.yaml');
    const text = 'training:\n  batch_size: 1\n  output_dir: out\nprivacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\n';
    writeFileSync(file, text);
    const fresh = () => linkConfig(file, readTrainingConfig(file, text, { fileExists: () => true }) as TrainingSetup);
    const asked: string[] = [];
    const watcher = new CheckpointWatcher(join(dir, 'cache'), {
      configs: () => [{ path: file, config: fresh() }],
      onCheckpoint: (_, c) => asked.push(c.name),
      log: () => undefined,
    });
    const write = (k: number) => copyFileSync(join(rounds, `round-${k}.pt`), join(dir, 'out', `round-${k}.pt`));
    write(1);
    await watcher.lookOnce();
    await watcher.lookOnce();
    let config: DiscoveredConfig = fresh();
    watcher.applyLatest(file, config);
    assert.equal(config.checkpoint?.name, join('out', 'round-1.pt'));

    // Rounds 2 and 3 complete while round 1 is analysed: the refresh they cause keeps round 1.
    write(2);
    write(3);
    await watcher.lookOnce();
    await watcher.lookOnce();
    assert.deepEqual(asked, [join('out', 'round-1.pt'), join('out', 'round-2.pt'), join('out', 'round-3.pt')]);
    config = fresh();
    watcher.applyLatest(file, config);
    assert.equal(config.checkpoint?.name, join('out', 'round-1.pt'), 'pinned');

    // Round 1's result arrives: recorded, and round 3 (the latest) is asked for next, not round 2.
    assert.equal(await watcher.record(file, config, report(20), 'k1', 't1'), true);
    assert.deepEqual(asked.slice(3), [join('out', 'round-3.pt')]);
    config = fresh();
    watcher.applyLatest(file, config);
    assert.equal(config.checkpoint?.step, 3);
    assert.equal(await watcher.record(file, config, report(25), 'k3', 't3'), true);
    assert.deepEqual((await watcher.history.get(file)).entries.map((e) => [e.step, e.psnr]), [[1, 20], [3, 25]]);

    // Round 4 cannot be analysed (say its state_dict does not fit): released, and nothing is asked again for it.
    write(4);
    await watcher.lookOnce();
    await watcher.lookOnce();
    config = fresh();
    watcher.applyLatest(file, config);
    assert.equal(config.checkpoint?.step, 4);
    const before = asked.length;
    watcher.release(file, config.weights);
    assert.equal(asked.length, before, 'the failed checkpoint is the latest: no loop');
    config = fresh();
    watcher.applyLatest(file, config);
    assert.equal(config.checkpoint?.step, 4, 'a later refresh still shows the latest (its failure stays cached)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

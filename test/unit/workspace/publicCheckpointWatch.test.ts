// A public Hugging Face training recipe (alignment-handbook's zephyr-7b-beta SFT config, unchanged: see
// test/fixtures/public/README.md): its output_dir is where the Trainer writes checkpoint-N/ folders, so it is what
// checkpoint watching looks at; a Trainer folder appearing there is found, complete, with its step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { linkConfig } from '../../../server/src/workspace/discover';
import { CheckpointWatcher } from '../../../server/src/analysis/checkpointWatcher';
import { completeCheckpoints } from '../../../server/src/workspace/checkpointWatch';
import type { TrainingSetup } from '../../../server/src/config/trainingSetup';

const fixtures = join(__dirname, '..', '..', 'fixtures');

test("alignment-handbook's SFT recipe: its output_dir is watched, and a Trainer checkpoint written there is found", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-public-watch-'));
  try {
    const text = readFileSync(join(fixtures, 'public/alignment-handbook/zephyr-7b-beta/sft/config_full.yaml'), 'utf8');
    const file = join(dir, 'config_full.yaml');
    const setup = readTrainingConfig(file, text, { fileExists: () => false }) as TrainingSetup;
    assert.ok(setup && !('kind' in setup), 'a training config');
    assert.equal(setup.outputDir?.value, 'data/zephyr-7b-sft-full');
    assert.equal(setup.outputDir?.resolved, join(dir, 'data/zephyr-7b-sft-full'));
    const targets = CheckpointWatcher.targetsOf(linkConfig(file, setup));
    assert.deepEqual(targets.folders, [join(dir, 'data/zephyr-7b-sft-full')]);
    mkdirSync(join(dir, 'data/zephyr-7b-sft-full'), { recursive: true });
    cpSync(join(fixtures, 'checkpoints/run/checkpoint-500'), join(dir, 'data/zephyr-7b-sft-full/checkpoint-500'), { recursive: true });
    const found = await completeCheckpoints(targets, dir);
    assert.deepEqual(found.map((c) => [c.name, c.step, c.kind]), [[join('data/zephyr-7b-sft-full', 'checkpoint-500'), 500, 'folder']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

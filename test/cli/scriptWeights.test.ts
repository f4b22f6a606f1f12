// `i2f audit` on DP scripts that load weights before make_private (test/fixtures/python/script-weights/, checkpoints
// written by torch.save in tools/fixtures/script_weights.py), with Debian's /usr/bin/python3 building each script's Net:
// a checkpoint in the workspace is the analysis' weights, the same numbers `i2f analyze FACTORY --weights FILE` gives
// (the path a config's `weights:` takes), and not the numbers at initialisation; a checkpoint of another model is an
// error on the load line listing the keys; a missing one leaves the analysis at initialisation and says so; a whole
// pickled model is refused with the fix.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianTorch } from '../support/requirements';
import { auditWithPython, ensureBuilt, REPO, runCli } from './helpers';

const FIXTURES = join(REPO, 'test', 'fixtures', 'python', 'script-weights');

test('scripts that load weights before make_private: used when in the workspace, said when not, a mismatch lists the keys', { timeout: 10 * 60_000, skip: debianTorch.skip }, async () => {
  ensureBuilt();
  const ws = mkdtempSync(join(tmpdir(), 'i2f-script-weights-'));
  cpSync(FIXTURES, ws, { recursive: true });
  // The fine-tuning script without its checkpoint: at initialisation.
  mkdirSync(join(ws, 'missing'));
  cpSync(join(FIXTURES, 'finetune', 'finetune_dp.py'), join(ws, 'missing', 'finetune_dp.py'));
  const { root, cache, config, findings, lineOf } = await auditWithPython(ws, 'i2f-script-weights-cache-');

  // The constant PRETRAINED names pretrained.pt beside the script: its weights are analysed, and the finding says so.
  const finetune = config('finetune/finetune_dp.py');
  assert.equal(finetune.status, 'analysed', finetune.reason);
  const [leak] = findings('finetune/finetune_dp.py', 'I2F001');
  assert.match(leak.message, /θ is the model's named_parameters \(4 tensors, 5,874 values; a state_dict applies by name\), weights pretrained\.pt\./);
  const [used] = findings('finetune/finetune_dp.py', 'I2F150');
  assert.match(lineOf('finetune/finetune_dp.py', used.line), /model\.load_state_dict\(torch\.load\(PRETRAINED, map_location="cpu"\)\)/);
  assert.equal(used.severity, 'information');
  // Independent of the script reader: the model built by the bridge with the same file named by hand.
  const analyze = await runCli(['analyze', 'finetune_dp:Net', '--weights', 'pretrained.pt', '--batch', '1', '--json', '--python', '/usr/bin/python3'], { cwd: join(ws, 'finetune'), env: { I2F_CACHE_DIR: cache } });
  assert.equal(analyze.code, 0, analyze.stderr);
  const byHand = JSON.parse(analyze.stdout).results[0];
  const withWeights = finetune.leakage.batches[0];
  for (const k of ['lambdaMax', 'gradientNorm'] as const) assert.ok(Math.abs(withWeights[k] - byHand[k]) <= 1e-6 * Math.abs(byHand[k]), `${k}: ${withWeights[k]} vs ${byHand[k]}`);

  // Without the file: at initialisation, said in the leakage finding and on the load line, with the fix.
  const missing = config('missing/finetune_dp.py');
  assert.equal(missing.status, 'analysed', missing.reason);
  const atInit = missing.leakage.batches[0];
  assert.ok(Math.abs(atInit.lambdaMax - withWeights.lambdaMax) > 0.1 * withWeights.lambdaMax, `the checkpoint changes λmax: ${atInit.lambdaMax} at initialisation, ${withWeights.lambdaMax} with it`);
  const [missingLeak] = findings('missing/finetune_dp.py', 'I2F001');
  assert.match(missingLeak.message, /at initialisation \(the paper's setting, where leakage is largest\); the script loads weights from pretrained\.pt \(line 33\), not read: put the checkpoint at pretrained\.pt/);
  const [notRead] = findings('missing/finetune_dp.py', 'I2F151');
  assert.equal(notRead.severity, 'warning');
  assert.equal(notRead.line, 33);

  // --resume's default names runs/last.pth.tar, a dict with 'state_dict', 'optimizer' and 'epoch'.
  const resume = config('resume/train_dp.py');
  assert.equal(resume.status, 'analysed', resume.reason);
  assert.match(findings('resume/train_dp.py', 'I2F001')[0].message, /weights runs\/last\.pth\.tar\./);
  assert.match(findings('resume/train_dp.py', 'I2F150')[0].message, /runs\/last\.pth\.tar, its 'state_dict' entry \(default of --resume/);

  // A checkpoint of another network: never a silent fallback to initialisation; the keys, on the load line.
  const mismatch = config('mismatch/finetune_dp.py');
  assert.equal(mismatch.status, 'failed');
  assert.match(mismatch.reason, /pretrained\.pt: the checkpoint does not fit the model the export bridge built: 4 missing \(conv\.weight, conv\.bias, fc\.weight, fc\.bias\); 6 unexpected \(conv1\.weight, conv1\.bias, fc1\.weight, fc1\.bias, fc2\.weight, fc2\.bias\)/);
  const [failed] = findings('mismatch/finetune_dp.py', 'I2F002');
  assert.equal(failed.line, 33, 'on the load_state_dict line');
  assert.equal(findings('mismatch/finetune_dp.py', 'I2F001').length, 0);

  // A whole pickled model: not analysed, with the fix.
  const pickled = config('pickled/train_dp.py');
  assert.equal(pickled.status, 'not-analysed');
  assert.match(pickled.reason, /unpickles a whole model from model\.pt: its class and code cannot be read without running them/);
  assert.equal(findings('pickled/train_dp.py', 'I2F152')[0].severity, 'warning');

  const text = await runCli(['audit', ws, '--python', '/usr/bin/python3', '--cache-dir', cache]);
  assert.match(text.stdout, /fix: pretrained\.pt holds another model's parameters: name the checkpoint this model saved/);
  assert.match(text.stdout, /fix: save the weights instead \(`torch\.save\(model\.state_dict\(\), PATH\)`\)/);
});

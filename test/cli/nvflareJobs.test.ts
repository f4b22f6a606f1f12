// NVIDIA/NVFlare's public examples, committed unchanged (test/fixtures/upstream-python/NVIDIA+NVFlare, see the README
// there), audited with Debian's /usr/bin/python3 (torch 1.13, no opacus or nvflare: the bridge stands in for them):
// hello-dp's client builds TabularMLP(hidden_dims=[64, 32]) (a list display of constants is a literal), and the
// self-paced tutorial's cifar10_fl.py, whose make_private_with_epsilon runs only `if target_epsilon:` with
// --target_epsilon defaulting to None, is read as training without DP on its own defaults (I2F175), never as a type
// error on the None.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianTorch } from '../support/requirements';
import { auditWithPython, ensureBuilt, REPO } from './helpers';

const NVFLARE = join(REPO, 'test', 'fixtures', 'upstream-python', 'NVIDIA+NVFlare', 'examples');
const TUTORIAL = join('tutorials', 'self-paced-training', 'part-3_security_and_privacy', 'chapter-5_Privacy_In_Federated_Learning', '05.2_differential_privacy');

function workspace(parts: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-nvflare-'));
  for (const [to, from] of Object.entries(parts)) {
    mkdirSync(join(dir, to), { recursive: true });
    cpSync(join(NVFLARE, from), join(dir, to), { recursive: true });
  }
  return dir;
}

test("NVFlare's hello-dp client: TabularMLP(input_dim=29, hidden_dims=[64, 32], output_dim=2) is built and analysed; the tutorial's cifar10_fl.py on its defaults trains without DP (I2F175 names --target_epsilon, no I2F108)", { timeout: 10 * 60_000, skip: debianTorch.skip }, async () => {
  ensureBuilt();
  const ws = workspace({ 'hello-dp': join('hello-world', 'hello-dp'), tutorial: join(TUTORIAL, 'src') });
  const { config, findings, lineOf } = await auditWithPython(ws, 'i2f-nvflare-cache-');

  const client = config('hello-dp/client.py');
  assert.equal(client.status, 'analysed', client.reason);
  assert.equal(client.leakage.parameters, 29 * 64 + 64 + 64 * 32 + 32 + 32 * 2 + 2);
  const [leak] = findings('hello-dp/client.py', 'I2F001');
  assert.match(leak.message, /Model: model:TabularMLP\(input_dim=29, hidden_dims=\[64, 32\], output_dim=2\) built by \/usr\/bin\/python3/);

  const script = config('tutorial/cifar10_fl.py');
  assert.equal(script.status, 'analysed', script.reason);
  assert.deepEqual(script.leakage.batches[0].defense, []);
  assert.equal(findings('tutorial/cifar10_fl.py', 'I2F108').length, 0);
  assert.equal(findings('tutorial/cifar10_fl.py', 'I2F140').length, 0);
  const [off] = findings('tutorial/cifar10_fl.py', 'I2F175');
  assert.match(lineOf('tutorial/cifar10_fl.py', off.line), /privacy_engine\.make_private_with_epsilon\(/);
  assert.match(off.message, /runs only `if target_epsilon:` \(line 71\), which is false on the script's defaults \(`target_epsilon` = None, default of --target_epsilon \(line 193/);
  assert.match(off.message, /`--target_epsilon …` on the command line turns it on/);
  const [tutorialLeak] = findings('tutorial/cifar10_fl.py', 'I2F001');
  assert.match(tutorialLeak.message, /under no defence/);
});

test("NVFlare Python jobs: FedAvgJob's model and client PercentilePrivacy filter, FedAvgRecipe's model and train_args, the tutorial notebook's three jobs (I2F176 each; the least defended analysed; the DP-SGD job's script at ε 50 with 3 rounds gives σ by the PRV search)", { timeout: 15 * 60_000, skip: debianTorch.skip }, async () => {
  ensureBuilt();
  const ws = workspace({ 'job-api': join('advanced', 'job_api', 'pt'), 'hello-dp': join('hello-world', 'hello-dp'), tutorial: TUTORIAL });
  const { config, findings, lineOf } = await auditWithPython(ws, 'i2f-nvflare-jobs-cache-');

  // FedAvgJob(…, initial_model=Net()) with PercentilePrivacy(percentile=10, gamma=0.01) as each client's TASK_RESULT
  // filter: the config reader's semantics (pruning at the 10th percentile; gamma's clipping not modelled), on the
  // update the client sends, so the curious server faces it; the model is src/net.py's Net.
  const dpFilter = 'job-api/fedavg_script_runner_dp_filter_cifar10.py';
  const job = config(dpFilter);
  assert.ok(['analysed', 'cached'].includes(job.status), job.reason);
  assert.deepEqual(job.leakage.batches[0].defense, ['prune:ratio=0.1']);
  assert.equal(job.leakage.parameters, 62006);
  const [read] = findings(dpFilter, 'I2F176');
  assert.match(lineOf(dpFilter, read.line), /job = FedAvgJob\(/);
  assert.match(read.message, /NVFlare FedAvgJob 'cifar10_fedavg_privacy': model Net\(\) from src\/net\.py, built by the export bridge; filters PercentilePrivacy\(percentile=10, gamma=0\.01\) on client `site_name` as a TASK_RESULT filter \(line 38\); runs `src\/cifar10_fl\.py` with `""`: no DP call in it/);
  assert.match(read.message, /; 2 rounds\.$/);
  const [leak] = findings(dpFilter, 'I2F001');
  assert.match(leak.message, /under prune:ratio=0\.1, .*Attacker: The curious server, which receives each client's update as sent/);
  assert.match(findings(dpFilter, 'I2F111')[0].message, /PercentilePrivacy also clips each shared entry to ±gamma/);

  // FedAvgRecipe(model=TabularMLP(…, hidden_dims=[64, 32], …), train_args=f"--batch_size {batch_size} --epochs {epochs}
  // --target_epsilon {args.target_epsilon} …"): the f-string read from job.py's argparse defaults; client.py's
  // make_private_with_epsilon at ε 1 over 5 epochs × 10 rounds; σ not derived (N comes from OpenML, not read: said).
  const recipe = config('hello-dp/job.py');
  // The same model under the same defence as client.py's own reading: one analysis, the second from the cache.
  assert.ok(['analysed', 'cached'].includes(recipe.status), recipe.reason);
  assert.deepEqual(recipe.leakage.batches[0].defense, ['dpsgd:clip=1,noise=0']);
  const [recipeRead] = findings('hello-dp/job.py', 'I2F176');
  assert.match(lineOf('hello-dp/job.py', recipeRead.line), /recipe = FedAvgRecipe\(/);
  assert.match(recipeRead.message, /model TabularMLP\(input_dim=29, hidden_dims=\[64, 32\], output_dim=2\) from model\.py, built by the export bridge; no privacy filter; runs `client\.py` with `f"--batch_size/);
  assert.match(recipeRead.message, /Opacus DP-SGD, target ε 1, clipping norm 1, epochs 50; σ not derived from ε: .*data_loader/);

  // The tutorial notebook: three jobs in cells 9, 20 and 26, each read on its constructor; the first (no DP: the
  // script's `if target_epsilon:` is false without script_args) is the one analysed.
  const nb = 'tutorial/privacy_with_differential_privacy.ipynb';
  const notebook = config(nb);
  assert.ok(['analysed', 'cached'].includes(notebook.status), notebook.reason);
  assert.deepEqual(notebook.leakage.batches[0].defense, []);
  const notes = findings(nb, 'I2F176');
  assert.equal(notes.length, 3);
  const [plain, svt, dpsgd] = notes;
  assert.match(plain.message, /'cifar10_fedavg': model Net\(\) from src\/net\.py.*its DP call does not run \(it runs only `if target_epsilon:` \(cifar10_fl\.py line 71\).*This job is the one the leakage finding analyses \(the least defended of the 3 jobs/);
  assert.match(svt.message, /'cifar10_fedavg_dp': .*filters SVTPrivacy\(fraction=0\.9, epsilon=0\.1, noise_var=0\.1, .* on client `f"site-\{i\+1\}"` as a TASK_RESULT filter.*The leakage finding is of job 'cifar10_fedavg'/);
  assert.match(dpsgd.message, /'cifar10_fedavg_dpsgd': .*runs `src\/cifar10_fl\.py` with `"--target_epsilon=50\.0"`: Opacus DP-SGD, target ε 50, σ 0\.24\d*, clipping norm 1, batch 32, epochs 3; σ 0\.24\d*, as Opacus' make_private_with_epsilon chooses it for ε 50, δ 1e-5, 3 epochs, q = 1\/len\(data_loader\) = 1\/1563 \(⌈50000\/32⌉\), 4689 steps, PRV accountant/);
  // The σ found gives back ε 50 (the search's own check, said in the note).
  assert.match(dpsgd.message, /ε at that σ (49\.9\d|50\.0\d?)/);
});

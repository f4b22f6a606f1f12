// NVFlare jobs written in Python (pysource/nvflareJob.ts, nvflareJobSetup.ts), on small job files written here in the
// shapes NVFlare's examples use (its own examples are audited in test/cli/nvflareJobs.test.ts): where each filter acts
// (the config reader's semantics), the training script's command line over its argparse defaults, and which job of
// several a file is analysed as.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';

const NET = ['import torch.nn as nn', 'class Net(nn.Module):', '    def __init__(self, width=4):', '        super().__init__()', '        self.fc = nn.Linear(3, width)', '    def forward(self, x):', '        return self.fc(x)'];
const TRAIN = [
  'import argparse',
  'from opacus import PrivacyEngine',
  'import nvflare.client as flare',
  'from net import Net',
  'def main(args):',
  '    model = Net()',
  '    rounds = flare.receive().total_rounds',
  '    if args.sigma is not None:',
  '        PrivacyEngine().make_private(module=model, optimizer=None, data_loader=None, noise_multiplier=args.sigma, max_grad_norm=args.clip)',
  'if __name__ == "__main__":',
  '    p = argparse.ArgumentParser()',
  '    p.add_argument("--sigma", type=float, default=None)',
  '    p.add_argument("--clip", type=float, default=1.0)',
  '    main(p.parse_args())',
];
const HEAD = [
  'from net import Net',
  'from nvflare import FilterType',
  'from nvflare.app_common.filters import GaussianPrivacy, PercentilePrivacy',
  'from nvflare.app_opt.pt.job_config.fed_avg import FedAvgJob',
  'from nvflare.job_config.script_runner import ScriptRunner',
];

async function job(lines: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-nvflare-job-'));
  mkdirSync(join(dir, 'src'));
  writeFileSync(join(dir, 'net.py'), NET.join('\n'));
  writeFileSync(join(dir, 'src', 'train.py'), TRAIN.join('\n'));
  writeFileSync(join(dir, 'src', 'net.py'), NET.join('\n'));
  const file = join(dir, 'job.py');
  const text = [...HEAD, ...lines].join('\n');
  writeFileSync(file, text);
  return (await readPythonFile(file, text)).setup!;
}

test('a client TASK_RESULT GaussianPrivacy is the relative noise on the update; on "server", as TASK_DATA or without a filter_type it is I2F117 and not a defence', async () => {
  const client = await job(['job = FedAvgJob(name="j", n_clients=2, num_rounds=3, initial_model=Net(width=8))', 'job.to(GaussianPrivacy(sigma0=0.3), "site-1", tasks=["train"], filter_type=FilterType.TASK_RESULT)']);
  assert.equal(client.relativeNoise?.sigma0.value, 0.3);
  assert.equal(client.relativeNoise?.sigma0.valueRange.start.line, 6); // the argument, line 7
  assert.equal(client.relativeNoise?.maxPercentile?.value, 95); // NVFlare's default
  assert.equal(client.pythonModel?.value, 'net:Net');
  assert.deepEqual(client.pythonModelArgs, { positional: [], keyword: { width: 8 } });
  assert.equal(client.problems.filter((p) => p.rule === 'I2F117').length, 0);
  const note = client.problems.find((p) => p.rule === 'I2F176')!;
  assert.equal(note.range.start.line, 5); // on the constructor
  assert.match(note.message, /NVFlare FedAvgJob 'j': model Net\(width=8\) from net\.py, built by the export bridge; filters GaussianPrivacy\(sigma0=0\.3\) on client site-1 as a TASK_RESULT filter \(line 7\); no ScriptRunner or train_script read; 3 rounds\./);
  for (const [to, why] of [
    ['"server", filter_type=FilterType.TASK_RESULT', /is given to the server/],
    ['"site-1", filter_type=FilterType.TASK_DATA', /is a task data filter/],
    ['"site-1"', /without a filter_type/],
  ] as const) {
    const s = await job(['job = FedAvgJob(name="j", n_clients=2, num_rounds=3, initial_model=Net())', `job.to(GaussianPrivacy(sigma0=0.3), ${to})`]);
    assert.equal(s.relativeNoise, undefined, to);
    const p = s.problems.find((x) => x.rule === 'I2F117');
    assert.match(p?.message ?? '', why, to);
  }
});

test("ScriptRunner's script_args set the script's flags over their defaults; FedAvg's num_rounds is total_rounds; the least defended of several jobs is analysed", async () => {
  const s = await job([
    'SIGMA = 0.7',
    'job = FedAvgJob(name="dp", n_clients=2, num_rounds=4, initial_model=Net())',
    'job.to(ScriptRunner(script="src/train.py", script_args=f"--sigma {SIGMA} --clip=2"), "site-1")',
    'job = FedAvgJob(name="plain", n_clients=2, num_rounds=4, initial_model=Net())',
    'job.to(ScriptRunner(script="src/train.py"), "site-1")',
    'job.to(PercentilePrivacy(percentile=20), "site-1", filter_type=FilterType.TASK_RESULT)',
    'job = FedAvgJob(name="bare", n_clients=2, num_rounds=4, initial_model=Net())',
    'job.to(ScriptRunner(script="src/train.py"), "site-1")',
  ]);
  const notes = s.problems.filter((p) => p.rule === 'I2F176');
  assert.equal(notes.length, 3);
  assert.match(notes[0].message, /'dp': .*runs `src\/train\.py` with `f"--sigma \{SIGMA\} --clip=2"`: Opacus DP-SGD, σ 0\.7, clipping norm 2; 4 rounds\. The leakage finding is of job 'bare' \(line 12\)/);
  assert.match(notes[1].message, /'plain': .*PercentilePrivacy\(percentile=20\) on client site-1 as a TASK_RESULT filter.*its DP call does not run \(it runs only `if args\.sigma is not None:` \(train\.py line 8\).*`--sigma …` on the command line turns it on\)/);
  assert.match(notes[2].message, /'bare': .*This job is the one the leakage finding analyses \(the least defended of the 3 jobs/);
  // The file's analysis is the bare job's: no filter, no DP.
  assert.equal(s.pruneRatio, undefined);
  assert.equal(s.noiseMultiplier, undefined);
  const dp = await job(['job = FedAvgJob(name="dp", n_clients=2, num_rounds=4, initial_model=Net())', 'job.to(ScriptRunner(script="src/train.py", script_args="--sigma=0.9"), "site-1")']);
  assert.equal(dp.noiseMultiplier?.value, 0.9);
  assert.equal(dp.noiseMultiplier?.fromCode?.source.label, '--sigma 0.9 from the job\'s command line for src/train.py (../job.py line 7)');
  assert.equal(dp.clippingNorm?.value, 1); // its argparse default
  assert.equal(dp.clippingScope, 'per-example');
});

test("a FedJob's model from job.to(PTModel(Net()), \"server\") or a persistor's model=, a CCWFJob's from add_cyclic's client_config; no model read is said", async () => {
  const imports = ['from nvflare.job_config.api import FedJob', 'from nvflare.app_opt.pt.job_config.model import PTModel', 'from nvflare.app_common.ccwf.ccwf_job import CCWFJob'];
  const pt = await job([...imports, 'job = FedJob(name="a")', 'job.to(PTModel(Net(width=6)), "server")']);
  assert.equal(pt.pythonModel?.value, 'net:Net');
  assert.deepEqual(pt.pythonModelArgs, { positional: [], keyword: { width: 6 } });
  const persisted = await job([...imports, 'job = FedJob(name="b")', 'job.to_server(PTFileModelPersistor(None, model=Net(width=5)), id="persistor")']);
  assert.deepEqual(persisted.pythonModelArgs, { positional: [], keyword: { width: 5 } });
  const cyclic = await job([...imports, 'job = CCWFJob(name="c")', 'job.add_cyclic(server_config=None, client_config=CyclicClientConfig(executor=ScriptRunner(script="src/train.py", script_args="--sigma 1.5"), persistor=PTFileModelPersistor(model=Net(width=7))))']);
  assert.deepEqual(cyclic.pythonModelArgs, { positional: [], keyword: { width: 7 } });
  assert.equal(cyclic.noiseMultiplier?.value, 1.5);
  const none = await job([...imports, 'job = FedJob(name="d")']);
  assert.equal(none.pythonModel, undefined);
  assert.match(none.pythonModelProblem?.reason ?? '', /the job gives no model/);
});

test('a job whose ScriptRunner runs the job file itself is read once (the script is not read as a job again)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-nvflare-self-'));
  writeFileSync(join(dir, 'net.py'), NET.join('\n'));
  const file = join(dir, 'job.py');
  const text = [...HEAD, 'job = FedAvgJob(name="self", n_clients=2, num_rounds=3, initial_model=Net())', 'job.to(ScriptRunner(script="job.py"), "site-1")'].join('\n');
  writeFileSync(file, text);
  const setup = (await readPythonFile(file, text)).setup!;
  assert.match(setup.problems.find((p) => p.rule === 'I2F176')?.message ?? '', /runs `job\.py` with no arguments: no DP call in it/);
});

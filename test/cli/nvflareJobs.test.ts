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

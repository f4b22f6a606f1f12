// `i2f audit` on Flower's quickstart-pytorch, its files unchanged and no i2f: section, with Debian's /usr/bin/python3
// (torch 1.13; no flwr, flwr_datasets or datasets): the model its client app trains is built by the bridge,
// exported and analysed; without a Python that imports torch the audit says what it tried and how to fix it.

import { test } from 'node:test';
import { debianTorch } from '../support/requirements';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, REPO, runCli, validateAuditJson } from './helpers';

const QUICKSTART = join(REPO, 'test', 'fixtures', 'python', 'flower-quickstart-pytorch');

function quickstart(): string {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-quickstart-'));
  cpSync(QUICKSTART, dir, { recursive: true });
  return dir;
}

test("audits Flower's quickstart-pytorch with --python /usr/bin/python3: I2F001 on the batch line, finite numbers, JSON valid; the text report names the model", { timeout: 10 * 60_000, skip: debianTorch.skip }, async () => {
  ensureBuilt();
  const ws = quickstart();
  const cache = mkdtempSync(join(tmpdir(), 'i2f-pyaudit-cache-'));
  const r = await runCli(['audit', ws, '--format', 'json', '--python', '/usr/bin/python3', '--cache-dir', cache]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  assert.deepEqual(validateAuditJson(json), []);
  const [config] = json.roots[0].configs;
  assert.equal(config.file, 'pyproject.toml');
  assert.equal(config.status, 'analysed');
  const b = config.leakage.batches[0];
  assert.equal(b.risk, 'high'); // no defence: I²F = 0, PSNR +∞ (I2F.md)
  for (const k of ['lambdaMax', 'gradientNorm']) assert.ok(Number.isFinite(b[k]) && b[k] > 0, `${k} ${b[k]}`);
  assert.equal(config.leakage.parameters, 62006);
  const leak = json.roots[0].findings.find((f: any) => f.code === 'I2F001');
  const lines = readFileSync(join(ws, 'pyproject.toml'), 'utf8').split('\n');
  assert.match(lines[leak.line - 1], /^batch-size = 32/);
  assert.match(leak.message, /pytorchexample\.task:Net built by \/usr\/bin\/python3/);

  const text = await runCli(['audit', ws, '--python', '/usr/bin/python3', '--cache-dir', cache]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /pyproject\.toml \(from cache\)/);
  assert.match(text.stdout, /leakage HIGH {2}predicted attacker PSNR ∞ dB/);
  assert.match(text.stdout, /found from the Flower app \(pytorchexample\.client_app instantiates Net\)/);
});

test('without a Python that imports torch, the audit says which interpreters it tried, on the clientapp line', { timeout: 5 * 60_000 }, async () => {
  ensureBuilt();
  const ws = quickstart();
  const bin = mkdtempSync(join(tmpdir(), 'i2f-nopython-'));
  writeFileSync(join(bin, 'python3'), "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n");
  chmodSync(join(bin, 'python3'), 0o755);
  const r = await runCli(['audit', ws, '--format', 'json', '--no-cache'], { env: { PATH: `${bin}:${process.env.PATH!.split(':').filter((d) => !/python|pyenv|^\/usr\/bin$|^\/bin$/.test(d)).join(':')}` } });
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout);
  const [config] = json.roots[0].configs;
  assert.equal(config.status, 'failed');
  const failed = json.roots[0].findings.find((f: any) => f.code === 'I2F002');
  assert.match(failed.message, /pytorchexample\.task:Net is defined in Python, and no Python with torch: tried .*python3 \(torch is not installed\); set i2f\.python \(or --python\)/);
  const lines = readFileSync(join(ws, 'pyproject.toml'), 'utf8').split('\n');
  assert.match(lines[failed.line - 1], /^clientapp = /);
});

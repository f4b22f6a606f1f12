// `i2f audit --fail-on high` on the public configs committed unchanged under test/fixtures/public (their sources and
// licences: its README): every one is valid, so CI passes; and `--help` is an answer, not a usage error.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ensureBuilt, REPO, runCli } from './helpers';

const PUBLIC = join(REPO, 'test/fixtures/public');

before(() => ensureBuilt());

test('i2f audit --fail-on high passes on every public config, and reads each of them', { timeout: 120_000 }, async () => {
  const r = await runCli(['audit', PUBLIC, '--fail-on', 'high', '--format', 'json', '--no-cache']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  const root = doc.roots[0];
  assert.equal(root.configs.length, 18, root.configs.map((c: { file: string }) => c.file).join('\n'));
  assert.deepEqual(root.findings.filter((f: { severity: string }) => f.severity === 'error'), []);
  assert.ok(!root.findings.some((f: { code: string }) => f.code === 'I2F108'), 'no placeholder is a type error');
  assert.ok(!root.findings.some((f: { message: string }) => f.message.includes(REPO)), 'no absolute path in a message');
});

test('i2f audit --help (and analyze -h, attack --help) print the usage and exit 0', { timeout: 60_000 }, async () => {
  for (const args of [['audit', '--help'], ['analyze', '-h'], ['attack', '--help']]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^i2f — /);
    assert.match(r.stdout, /i2f audit \[PATH…\]/);
  }
});

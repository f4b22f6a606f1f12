// The test runner itself (tools/run-tests.mjs → tools/testing/nodeTests.mjs) on test files written here: what it
// counts (passed, failed, skipped by reason, a file that crashes on import) and its per-test watchdog, which kills
// a test that makes no progress and goes on with the next file.
import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

test('counts passes, failures, skips by reason and crashed files; kills a hung test and runs the files after it', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-runner-'));
  try {
    const files: Record<string, string> = {
      'a.test.ts': `import { describe, it, test } from 'node:test';
test('passes', () => {});
test('fails', () => { throw new Error('no'); });
test('skipped', { skip: 'needs X: install X' }, () => {});
describe('suite', () => { it('one', () => {}); it('two', { skip: 'needs X: install X' }, () => {}); });`,
      'b.test.ts': `import { test } from 'node:test';
test('first', () => {});
test('hangs', () => new Promise(() => { setInterval(() => {}, 1000); }));
test('never reached', () => {});`,
      'c.test.ts': `throw new Error('crash on import');`,
      'd.test.ts': `import { test } from 'node:test';
test('after the hang', () => {});`,
      // Computes for longer than the limit without a test event (as the audit's HTML run over every example does):
      // its CPU time is progress, so it is not killed. (The wall-clock bound only sets how long it computes.)
      'e.test.ts': `import { test } from 'node:test';
import { createHash } from 'node:crypto';
test('computes past the limit', () => {
  let h = Buffer.alloc(32);
  for (const end = Date.now() + 12_000; Date.now() < end;) h = createHash('sha256').update(h).digest();
});`,
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    // NODE_TEST_CONTEXT would make the inner node --test think it runs inside this test file, and run nothing.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = spawnSync(process.execPath, ['tools/run-tests.mjs', dir], {
      cwd: ROOT, encoding: 'utf8', env: { ...env, I2F_TEST_TIMEOUT: '8' }, timeout: 100_000,
    });
    const lines = r.stdout.trim().split('\n');
    // passed: passes, one, first, after the hang, computes past the limit; failed: fails, hangs (killed), the crashed
    // file. 8 s without progress: loading a file is CPU time too, so a loaded machine does not trip it.
    assert.equal(lines.at(-1), '5 passed, 3 failed, 2 skipped', r.stdout.slice(-1500) + r.stderr.slice(-1500));
    assert.equal(r.status, 1);
    assert.match(r.stdout, /'hangs' in .*b\.test\.ts made no progress for 8 s \(I2F_TEST_TIMEOUT\): killed/);
    assert.match(r.stdout, /c\.test\.ts: /, 'the crashed file is named');
    assert.match(r.stdout, /2 × needs X: install X\n\s+in .*a\.test\.ts \(2\)/);
    assert.doesNotMatch(r.stdout, /never reached/);
    assert.doesNotMatch(r.stdout, /computes past the limit.*killed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

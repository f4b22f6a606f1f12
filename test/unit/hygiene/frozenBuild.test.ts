// The process tests run a frozen copy of dist/ (test/support/builtProduct.ts): a rebuild of dist/ while a test runs
// (an engineer landing in the same worktree) must not change what that test's later runs execute, or their cache
// keys (the engine build is in every key) stop matching its earlier runs'.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { built, freezeBuild, REPO } from '../../support/builtProduct';

test('a rebuild of dist/ after the freeze does not reach the frozen copy', () => {
  const dist = join(mkdtempSync(join(tmpdir(), 'i2f-fake-dist-')), 'dist');
  mkdirSync(join(dist, 'wasm'), { recursive: true });
  writeFileSync(join(dist, 'cli.js'), 'const I2F_ENGINE_BUILD = "old";\n');
  writeFileSync(join(dist, 'wasm', 'x.wasm'), 'old');
  const builds = mkdtempSync(join(tmpdir(), 'i2f-builds-'));
  const frozen = freezeBuild(dist, builds);
  // The rebuild: esbuild rewrites the bundles in place.
  writeFileSync(join(dist, 'cli.js'), 'const I2F_ENGINE_BUILD = "new";\n');
  writeFileSync(join(dist, 'wasm', 'x.wasm'), 'new');
  assert.equal(readFileSync(join(frozen, 'cli.js'), 'utf8'), 'const I2F_ENGINE_BUILD = "old";\n');
  assert.equal(readFileSync(join(frozen, 'wasm', 'x.wasm'), 'utf8'), 'old');
  // The repository's layout around it: the audit reads ../package.json, the server links rules under ../docs.
  assert.equal(JSON.parse(readFileSync(join(frozen, '..', 'package.json'), 'utf8')).name, 'i2f-privacy-lint');
  assert.ok(existsSync(join(frozen, '..', 'docs', 'rules.md')));
});

test('a copy left by a killed test process is removed by the next freeze; a live one is kept', () => {
  const dist = join(mkdtempSync(join(tmpdir(), 'i2f-fake-dist-')), 'dist');
  mkdirSync(dist);
  writeFileSync(join(dist, 'cli.js'), '');
  const builds = mkdtempSync(join(tmpdir(), 'i2f-builds-'));
  // pid 2^22 + 1 is above Linux's pid_max ceiling (2^22): no process has it.
  mkdirSync(join(builds, `${2 ** 22 + 1}-dead`));
  mkdirSync(join(builds, `${process.ppid}-live`));
  freezeBuild(dist, builds);
  const left = readdirSync(builds);
  assert.ok(!left.includes(`${2 ** 22 + 1}-dead`));
  assert.ok(left.includes(`${process.ppid}-live`));
});

test('built() bundles sit in one copy under the repository (so node_modules resolve), not in dist/', () => {
  const cli = built('cli.js');
  assert.ok(cli.startsWith(join(REPO, 'test-results', 'builds') + '/'), cli);
  assert.equal(built('server.js'), join(cli, '..', 'server.js'));
  assert.ok(existsSync(cli) && existsSync(built('worker.js')));
});

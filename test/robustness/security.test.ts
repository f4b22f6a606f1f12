// Security: no setting reaches a command line except as a bounded number, rule links cannot become command: URIs,
// the worker's command line is the bundled script and a heap limit, and no source file can reach the network.

import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { normaliseSettings } from '../../server/src/analysis/settings';
import { startServer, stats } from '../protocol/lspClient';
import { addDpConfig } from '../protocol/fixtures';
import { built } from '../support/builtProduct';
import { REPO } from './corpus';

const HOSTILE: unknown[] = ['--require=/tmp/evil.js', '4096 --inspect=0.0.0.0:9229', 1e400, -1, NaN, {}, [], null, true, '1e9', 2 ** 53 + 0.5];

test('settings: hostile worker values become bounded integers, rule links only http(s)/file', () => {
  for (const v of HOSTILE) {
    const s = normaliseSettings({ workerMemoryMB: v, workerCount: v, maxModelSizeMB: v, docsBaseUrl: v });
    assert.ok(Number.isInteger(s.workerMemoryMB) && s.workerMemoryMB >= 64, `workerMemoryMB from ${String(v)}`);
    assert.ok(Number.isInteger(s.workerCount) && s.workerCount >= 0 && s.workerCount <= 64);
    assert.ok(Number.isFinite(s.maxModelSizeMB) && s.maxModelSizeMB > 0);
  }
  for (const url of ['command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22rm%22%7D', 'javascript:alert(1)', 'vscode://x', ' https://x']) {
    assert.equal(normaliseSettings({ docsBaseUrl: url }).docsBaseUrl, '', url);
  }
  assert.equal(normaliseSettings({ docsBaseUrl: 'https://github.com/o/r/blob/main/' }).docsBaseUrl, 'https://github.com/o/r/blob/main/');
});

test('a worker started under hostile settings runs the bundled worker with a numeric heap limit only', { timeout: 240_000 }, async () => {
  const marker = join(REPO, 'evil-ran.tmp');
  const s = await startServer({
    prepare: addDpConfig,
    settings: { workerMemoryMB: `--require=${join(REPO, 'does-not-exist.js')}`, workerCount: '1; touch evil', maxSamples: 64 },
  });
  try {
    s.open('dp/train.yaml');
    await s.waitFor('a worker', () => s.traces.some((t) => t.event === 'started'));
    const [w] = (await stats(s)).workers;
    const argv = readFileSync(`/proc/${w.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    assert.deepEqual(argv.slice(1), ['--max-old-space-size=4096', built('worker.js')]);
    assert.equal(argv[0], process.execPath);
    assert.ok(!existsSync(marker));
  } finally {
    await s.close();
  }
});

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : /\.(ts|js|mjs)$/.test(n) ? [p] : [];
  });
}

test('no network access: no source imports http, https, net, tls, dgram, http2 or calls fetch/WebSocket; child processes only for workers and the trusted Python bridge', () => {
  const files = [...sources(join(REPO, 'server/src')), ...sources(join(REPO, 'client/src'))];
  const offenders: string[] = [];
  const spawners: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, 'utf8').replace(/^\s*\/\/.*$/gm, '');
    if (/from\s+['"](node:)?(http|https|http2|net|tls|dgram|dns)['"]|require\(\s*['"](node:)?(http|https|http2|net|tls|dgram|dns)['"]\)|\bfetch\s*\(|new\s+WebSocket\b|XMLHttpRequest/.test(text)) offenders.push(f);
    if (/(node:)?child_process/.test(text)) spawners.push(f.slice(REPO.length + 1));
  }
  assert.deepEqual(offenders, []);
  // The analysis workers, and the export bridge that runs the workspace's own Python (trusted workspaces only: the one
  // explicit path by which anything of the user's is executed, SECURITY.md).
  const allowed = new Set(['server/src/analysis/workerPool.ts', 'server/src/analysis/jobs.ts', 'server/src/python/interpreter.ts', 'server/src/python/exportModel.ts']);
  assert.ok(spawners.every((p) => allowed.has(p)), `child_process used in ${spawners.join(', ')}`);
});

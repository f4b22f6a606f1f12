// The tfjs WASM backend as the .vsix ships it: the built CLI bundle with dist/wasm/*.wasm beside it and, like the
// package, no @tensorflow module in node_modules (only onnxruntime, which stays external). `--backend tfjs` finds
// the binaries through setWasmPaths(dist/wasm); without that folder it cannot start (the control).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ensureBuilt, REPO } from '../../cli/helpers';
import { tfjsRoot } from './helpers';

/** extension/{dist/cli.js, dist/wasm, node_modules/onnxruntime-*} in a temp folder, as tools/package.mjs lays it out. */
function packagedLayout(withWasm: boolean): string {
  const root = join(mkdtempSync(join(tmpdir(), 'i2f-vsix-')), 'extension');
  mkdirSync(join(root, 'dist'), { recursive: true });
  cpSync(join(REPO, 'dist/cli.js'), join(root, 'dist/cli.js'));
  if (withWasm) cpSync(join(REPO, 'dist/wasm'), join(root, 'dist/wasm'), { recursive: true });
  mkdirSync(join(root, 'node_modules'));
  for (const m of ['onnxruntime-node', 'onnxruntime-common']) symlinkSync(realpathSync(join(REPO, 'node_modules', m)), join(root, 'node_modules', m));
  return root;
}

function analyzeTfjs(root: string) {
  const model = join(tfjsRoot, 'graph_lenet5_pool', 'model.json');
  return spawnSync(process.execPath, [join(root, 'dist/cli.js'), 'analyze', model, '--backend', 'tfjs', '--cross-check', '--damping', '1e-3', '--json'], { cwd: dirname(root), encoding: 'utf8', timeout: 120_000 });
}

test('the built bundle ships the three tfjs-backend-wasm binaries in dist/wasm', () => {
  ensureBuilt();
  // (dist/wasm also holds tree-sitter's runtime and Python grammar: test/unit/pysource/packagedGrammar.test.ts.)
  assert.deepEqual(readdirSync(join(REPO, 'dist/wasm')).filter((f) => f.startsWith('tfjs-')).sort(), ['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm', 'tfjs-backend-wasm.wasm']);
});

test('the packaged CLI runs --backend tfjs on WASM from dist/wasm, with no @tensorflow module installed', () => {
  ensureBuilt();
  const root = packagedLayout(true);
  try {
    const r = analyzeTfjs(root);
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout.slice(r.stdout.indexOf('{')));
    assert.equal(report.model.backend, 'tfjs');
    const c = report.results[0].crossCheck;
    assert.ok(c.max < 1e-5, `tfjs (WASM) vs ONNX: ${JSON.stringify(c)}`);
  } finally {
    rmSync(dirname(root), { recursive: true, force: true });
  }
  const bare = packagedLayout(false);
  try {
    const r = analyzeTfjs(bare);
    assert.notEqual(r.status, 0, 'without dist/wasm the WASM backend cannot start');
    assert.match(r.stderr, /tfjs-backend-wasm binaries not found/);
    assert.doesNotMatch(r.stderr, /internal error/, 'an incomplete installation is said as such, not as a bug');
  } finally {
    rmSync(dirname(bare), { recursive: true, force: true });
  }
});

// The Python grammar as the .vsix ships it: the built CLI bundle with dist/wasm/tree-sitter*.wasm beside it and no
// @vscode/tree-sitter-wasm in node_modules (esbuild bundles its JavaScript; the .wasm files are loaded from dist/wasm).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ensureBuilt, REPO } from '../../cli/helpers';

test('the built bundle ships tree-sitter and its Python grammar in dist/wasm', () => {
  ensureBuilt();
  const files = readdirSync(join(REPO, 'dist/wasm'));
  for (const f of ['tree-sitter.wasm', 'tree-sitter-python.wasm']) assert.ok(files.includes(f), f);
});

test('the packaged CLI reads Python DP call sites with the grammar from dist/wasm only', () => {
  ensureBuilt();
  const root = join(mkdtempSync(join(tmpdir(), 'i2f-vsix-py-')), 'extension');
  try {
    mkdirSync(join(root, 'dist'), { recursive: true });
    cpSync(join(REPO, 'dist/cli.js'), join(root, 'dist/cli.js'));
    cpSync(join(REPO, 'dist/wasm'), join(root, 'dist/wasm'), { recursive: true });
    mkdirSync(join(root, 'node_modules'));
    for (const m of ['onnxruntime-node', 'onnxruntime-common']) symlinkSync(realpathSync(join(REPO, 'node_modules', m)), join(root, 'node_modules', m));
    const ws = join(dirname(root), 'ws');
    cpSync(join(REPO, 'test/fixtures/python/scripts'), ws, { recursive: true });
    const r = spawnSync(process.execPath, [join(root, 'dist/cli.js'), 'audit', ws, '--no-cache', '--format', 'json'], { cwd: dirname(root), encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    const codes = doc.roots[0].findings.map((f: { file: string; code: string }) => `${f.file} ${f.code}`);
    assert.ok(codes.includes('optax_constants.py I2F140'), codes.join('\n'));
    assert.ok(codes.includes('tfp_absl.py I2F140'), codes.join('\n'));
  } finally {
    rmSync(dirname(root), { recursive: true, force: true });
  }
});

// A client that is not ours: Debian's neovim drives the built server over stdio (test/e2e/neovim/smoke.lua) and gets
// the Flower config's I2F001 diagnostic on the noise line and the hover that explains it.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from './support/codeServer';
import { neovim } from '../support/requirements';


test('neovim gets the leakage diagnostic and the hover over plain LSP', { skip: neovim.skip, timeout: 180_000 }, () => {
  const workspace = mkdtempSync(join(tmpdir(), 'i2f-nvim-'));
  try {
    cpSync(join(REPO, 'examples'), workspace, { recursive: true });
    const out = join(workspace, 'result.json');
    const r = spawnSync('nvim', ['--headless', '--clean', '-n', '-c', `luafile ${join(REPO, 'test/e2e/neovim/smoke.lua')}`], {
      env: { ...process.env, I2F_WORKSPACE: workspace, I2F_OUT: out, I2F_NODE: process.execPath, I2F_SERVER: join(REPO, 'dist/server.js') },
      encoding: 'utf8',
      timeout: 150_000,
    });
    assert.equal(r.status, 0, `nvim exited ${r.status} ${r.signal ?? ''}:\n${r.stdout}\n${r.stderr}`);
    const result = JSON.parse(readFileSync(out, 'utf8')) as {
      diagnostics: { code: string; lnum: number; severity: number; message: string; source: string }[];
      hover: { contents: { kind: string; value: string } } | null;
      error: string | null;
    };
    assert.equal(result.error, null, `the smoke script failed: ${result.error}`);
    const leak = result.diagnostics.find((d) => d.code === 'I2F001');
    assert.ok(leak, `I2F001 among ${JSON.stringify(result.diagnostics)}`);
    assert.equal(leak.lnum, 21, 'on the noise-multiplier line (0-based)');
    assert.equal(leak.source, 'I²F');
    assert.match(leak.message, /Leakage risk LOW: .* PSNR -?[\d.]+ dB \(RMSE [\d.]+\)/);
    assert.ok(result.hover, 'a hover on the noise line');
    for (const part of ['noise-multiplier', 'Predicted PSNR', 'Lower bound']) assert.ok(result.hover.contents.value.includes(part), `hover has '${part}'`);
  } finally {
    rmSync(workspace, { recursive: true, force: true });
  }
});

// The findings of `i2f audit` and of the language server on the same workspace are the same set. The server
// (dist/server.js --stdio) analyses first in its worker processes and writes its cache in its storage folder; the
// CLI then analyses the same workspace on its own (--no-cache, in process), and once more through the server's
// storage folder as its --cache-dir (every config answered from the server's cache).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Diagnostic } from 'vscode-languageserver';
import { startServer, TEST_SETTINGS } from '../protocol/lspClient';
import { addBrokenFiles, addDpConfig } from '../protocol/fixtures';
import { ensureBuilt, runCli, validateAuditJson } from './helpers';

const SEVERITY = { 1: 'error', 2: 'warning', 3: 'information', 4: 'hint' } as const;

function key(file: string, code: string, severity: string, line: number, character: number, endLine: number, endCharacter: number, message: string): string {
  return [file, code, severity, `${line}:${character}-${endLine}:${endCharacter}`, message].join(' | ');
}

test('i2f audit reports the same findings as the language server on the same workspace', { timeout: 30 * 60_000 }, async () => {
  ensureBuilt();
  const storage = mkdtempSync(join(tmpdir(), 'i2f-parity-storage-'));
  const s = await startServer({
    initializationOptions: { storagePath: storage },
    prepare: (w) => {
      // The slow LeNet configs go (minutes each on a loaded machine); opacus (LeNet with weights and samples),
      // flower (MLP), a DP-SGD config and the broken files stay.
      for (const p of ['clip-only.yaml', 'fedml', 'nvflare', 'hf']) rmSync(join(w, p), { recursive: true });
      addDpConfig(w);
      addBrokenFiles(w);
    },
  });
  const lsp: string[] = [];
  try {
    await s.waitFor('workspace discovery', () => s.log.some((l) => l.startsWith('discovered ')), 60_000);
    await s.connection.sendRequest('i2f/audit', {});
    // The audit request may answer before the analyses it queued are done (whenSettled can see a config's previous,
    // settled view); wait for the findings that need an analysis, then ask again (answered from the cache).
    const has = (code: string) => (d: Diagnostic[]) => d.some((x) => x.code === code);
    for (const rel of ['flower/pyproject.toml', 'opacus/train.yaml', 'dp/train.yaml']) await s.waitForDiagnostics(s.uri(rel), has('I2F001'), 20 * 60_000);
    for (const rel of ['broken/corrupt/train.yaml', 'broken/unsupported/train.yaml']) await s.waitForDiagnostics(s.uri(rel), has('I2F002'), 5 * 60_000);
    await s.connection.sendRequest('i2f/audit', {});
    for (const [uri, diagnostics] of s.diagnostics) {
      const file = relative(s.workspace, fileURLToPath(uri)).split('\\').join('/');
      for (const d of diagnostics as Diagnostic[]) {
        lsp.push(key(file, String(d.code), SEVERITY[d.severity as 1 | 2 | 3 | 4], d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character, d.message));
      }
    }
    lsp.sort();
    assert.ok(lsp.some((k) => k.includes('| I2F001 |')), 'the server analysed something');
    assert.ok(lsp.some((k) => k.includes('| I2F100 |')) && lsp.some((k) => k.includes('| I2F002 |')));

    // The CLI with the same settings the server was given.
    const settings = join(mkdtempSync(join(tmpdir(), 'i2f-parity-settings-')), 'settings.json');
    writeFileSync(settings, JSON.stringify(TEST_SETTINGS));
    const audit = async (...extra: string[]) => {
      const r = await runCli(['audit', s.workspace, '--format', 'json', '--settings', settings, '--jobs', '2', ...extra]);
      assert.ok(r.code === 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assert.deepEqual(validateAuditJson(doc), []);
      const keys = doc.roots[0].findings.map((f: any) => key(f.file, f.code, f.severity, f.range.start.line, f.range.start.character, f.range.end.line, f.range.end.character, f.message)).sort();
      return { doc, keys };
    };
    const own = await audit('--no-cache');
    assert.deepEqual(own.keys, lsp, 'independent analyses, same findings');
    const shared = await audit('--cache-dir', storage);
    assert.deepEqual(shared.keys, lsp, 'through the server\'s cache, same findings');
    const statuses = shared.doc.roots[0].configs.filter((c: any) => c.leakage).map((c: any) => c.status);
    assert.ok(statuses.length >= 3 && statuses.every((x: string) => x === 'cached'), `answered from the server's cache: ${statuses}`);
  } finally {
    await s.close(); // removes the workspace
  }
});

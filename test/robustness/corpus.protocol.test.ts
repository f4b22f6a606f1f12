// The language server on a workspace holding the whole hostile corpus: every bad config gets a located diagnostic,
// the server stays up, and a good config in the same workspace is still analysed.

import test from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Diagnostic } from 'vscode-languageserver';
import { leakageOf, startServer, stats } from '../protocol/lspClient';
import { cases, corpusCopy, matches } from './corpus';

test('the server answers every file of the bad corpus with a located diagnostic and keeps serving a good config', { timeout: 240_000 }, async () => {
  const s = await startServer({ prepare: (ws) => void corpusCopy(join(ws, 'bad')), settings: { maxModelSizeMB: 1, workerCount: 2 } });
  try {
    const all = cases();
    const uris = all.map((c) => s.open(`bad/${c.config}`));
    const missing: string[] = [];
    await Promise.all(all.map(async (c, i) => {
      const ok = (d: Diagnostic[]) => d.some((x) => matches(c, String(x.code), x.range.start.line, x.message));
      try {
        await s.waitForDiagnostics(uris[i], ok, 90_000);
      } catch {
        const got = (s.diagnostics.get(uris[i]) ?? []).map((x) => `${x.code}@${x.range.start.line}: ${x.message.slice(0, 100)}`);
        missing.push(`${c.config} (${c.what}): wanted ${c.codes.join('|')}${c.line !== undefined ? ` on line ${c.line}` : ''}; got ${got.join(' | ') || 'nothing'}`);
      }
    }));
    assert.deepEqual(missing, []);
    for (const [uri, d] of s.diagnostics) for (const x of d) assert.doesNotMatch(x.message, /internal error/, `${uri}: ${x.message}`);
    assert.equal(s.server.exitCode, null, 'the server is alive');
    const st = await stats(s);
    assert.equal(st.workerRestarts, 0, 'no worker crashed on the corpus');
    const flower = await s.waitForDiagnostics(s.open('flower/pyproject.toml'), (d) => !!leakageOf(d));
    assert.match(leakageOf(flower)!.message, /Leakage risk/);
    const hover = await s.connection.sendRequest('textDocument/hover', { textDocument: { uri: s.uri('flower/pyproject.toml') }, position: { line: 0, character: 0 } });
    assert.ok(hover === null || typeof hover === 'object', 'hover still answers');
  } finally {
    await s.close();
  }
});

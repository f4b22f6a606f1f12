// `i2f analyze` and `i2f audit` on every file of the hostile corpus: exit 2 with a message naming the file (analyze),
// a located finding per config (audit), never an internal error, never a hang.

import test from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { cases, CLI, corpusCopy, matches } from './corpus';

const run = (args: string[], cwd: string) => spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', timeout: 30_000 });

test('i2f analyze on each bad model exits 2 with a message that names the file and says what is wrong', { timeout: 300_000 }, () => {
  const root = corpusCopy();
  try {
    const failures: string[] = [];
    for (const c of cases()) {
      if (!c.model || !c.analyze) continue;
      const r = run(['analyze', c.model], root);
      const why = `${c.model} (${c.what}): exit ${r.status} signal ${r.signal}\n${r.stderr.slice(0, 400)}`;
      if (r.status !== 2) failures.push(`expected exit 2: ${why}`);
      else if (!r.stderr.startsWith('i2f: ') || /internal error/.test(r.stderr)) failures.push(`not a user error: ${why}`);
      else if (!r.stderr.includes(c.model.split('/').pop()!) && !r.stderr.includes(c.model)) failures.push(`file not named: ${why}`);
      else if (!new RegExp(c.analyze).test(r.stderr)) failures.push(`message does not match /${c.analyze}/: ${why}`);
    }
    assert.deepEqual(failures, []);
  } finally {
    rmSync(dirname(root), { recursive: true, force: true });
  }
});

test('i2f analyze on models that still give a number (NaN/Inf weights, flipped bits) never shows a confident level for a non-finite result', { timeout: 120_000 }, () => {
  const root = corpusCopy();
  try {
    for (const c of cases()) {
      if (!c.model || c.analyze || c.serverOnly || c.codes.length === 1 && c.codes[0] === 'I2F001') continue;
      const r = run(['analyze', c.model, '--json'], root);
      assert.ok(r.status === 0 || r.status === 2, `${c.model}: exit ${r.status}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /internal error/, c.model);
      if (r.status !== 0) continue;
      for (const b of JSON.parse(r.stdout).results) {
        const finite = [b.lambdaMax, b.i2f, b.lowerBound, b.gradientNorm].every((x: unknown) => typeof x === 'number' && Number.isFinite(x));
        if (!finite) {
          assert.equal(b.risk, 'uncertain', `${c.model}: non-finite numbers shown as ${b.risk}`);
          assert.ok('relativeResidual' in b.solver, 'the residual is reported');
        }
      }
    }
  } finally {
    rmSync(dirname(root), { recursive: true, force: true });
  }
});

/**
 * Configs whose model path is not a model file: the language server says so (information I2F002 on the model
 * line); `i2f audit` (server/src/analysis/audit.ts, owned by the audit work) still lists them as "not analysed"
 * without a finding. Remove from this list when it reports them.
 */
const AUDIT_GAPS = new Set(['configs/paths/dotdot.yaml', 'configs/paths/absolute.yaml', 'configs/paths/dev-zero.yaml']);

test('i2f audit of the corpus gives each bad config a located finding, and no internal error', { timeout: 300_000 }, (t) => {
  const root = corpusCopy();
  try {
    const r = spawnSync(process.execPath, [CLI, 'audit', '.', '--format', 'json', '--no-cache'], { cwd: root, encoding: 'utf8', timeout: 240_000 });
    assert.notEqual(r.signal, 'SIGTERM', 'the audit finished');
    assert.doesNotMatch(r.stderr, /internal error/);
    assert.ok(r.status === 0 || r.status === 2, `exit ${r.status}: ${r.stderr.slice(-500)}`);
    const out = JSON.parse(r.stdout) as { roots: { findings: { file: string; code: string; message: string; range: { start: { line: number } } }[] }[] };
    const findings = out.roots.flatMap((x) => x.findings);
    const missing: string[] = [];
    for (const c of cases()) {
      if (c.serverOnly) continue;
      if (AUDIT_GAPS.has(c.config)) {
        t.diagnostic(`known audit gap: ${c.config} (${c.what}) gets no finding from i2f audit`);
        continue;
      }
      const mine = findings.filter((f) => relative(root, join(root, f.file)) === c.config || f.file.endsWith(c.config));
      if (!mine.some((f) => matches(c, f.code, f.range.start.line, f.message)))
        missing.push(`${c.config} (${c.what}): wanted ${c.codes.join('|')}${c.line !== undefined ? ` on line ${c.line}` : ''}${c.message ? ` /${c.message}/` : ''}; got ${mine.map((f) => `${f.code}@${f.range.start.line}: ${f.message.slice(0, 120)}`).join(' | ') || 'nothing'}`);
    }
    assert.deepEqual(missing, []);
  } finally {
    rmSync(dirname(root), { recursive: true, force: true });
  }
});

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

/**
 * The models the manifest lets be either refused (I2F002) or analysed (I2F001), and what `i2f analyze` does with
 * each today: refused with a user error matching the pattern, or analysed (exit 0) and never confidently graded.
 * A case added to the manifest must be added here, so a change of outcome is a decision, not noise.
 */
const EITHER_OUTCOME: Record<string, { exit: 2; stderr: RegExp } | { exit: 0; risk: 'uncertain' }> = {
  'models/bitflip-graph-length/model.onnx': { exit: 2, stderr: /corrupt protobuf at byte \d+/ },
  'models/bitflip-random/model.onnx': { exit: 2, stderr: /corrupt protobuf at byte \d+/ },
  'models/unknown-opset/model.onnx': { exit: 2, stderr: /opset 99; the analysis supports opsets/ },
  'models/nan-weights/model.onnx': { exit: 0, risk: 'uncertain' },
  'models/inf-weights/model.onnx': { exit: 0, risk: 'uncertain' },
};

test('i2f analyze on models that may still give a number (NaN/Inf weights, flipped bits): the outcome pinned for each, never a confident level for a non-finite result', { timeout: 120_000 }, () => {
  const root = corpusCopy();
  try {
    const either = cases().filter((c) => c.model && !c.analyze && !c.serverOnly && !(c.codes.length === 1 && c.codes[0] === 'I2F001'));
    assert.deepEqual(either.map((c) => c.model).sort(), Object.keys(EITHER_OUTCOME).sort(), 'every such case has its outcome pinned');
    for (const c of either) {
      const want = EITHER_OUTCOME[c.model!];
      const r = run(['analyze', c.model!, '--json'], root);
      assert.equal(r.status, want.exit, `${c.model} (${c.what}): exit ${r.status}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /internal error/, c.model);
      if (want.exit === 2) {
        assert.ok(r.stderr.startsWith('i2f: ') && r.stderr.includes(c.model!), `${c.model}: a user error naming the file: ${r.stderr}`);
        assert.match(r.stderr, want.stderr, c.model);
        continue;
      }
      for (const b of JSON.parse(r.stdout).results) {
        assert.equal(b.risk, want.risk, `${c.model} (${c.what}): graded ${b.risk}`);
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

test('i2f audit of the corpus gives each bad config a located finding, and no internal error', { timeout: 300_000 }, () => {
  const root = corpusCopy();
  try {
    const r = spawnSync(process.execPath, [CLI, 'audit', '.', '--format', 'json', '--no-cache'], { cwd: root, encoding: 'utf8', timeout: 240_000 });
    assert.notEqual(r.signal, 'SIGTERM', 'the audit finished');
    assert.doesNotMatch(r.stderr, /internal error/);
    assert.equal(r.status, 0, `exit ${r.status} (the default --fail-on never fails): ${r.stderr.slice(-500)}`);
    const out = JSON.parse(r.stdout) as { roots: { findings: { file: string; code: string; message: string; range: { start: { line: number } } }[] }[] };
    const findings = out.roots.flatMap((x) => x.findings);
    const missing: string[] = [];
    for (const c of cases()) {
      if (c.serverOnly) continue;
      const mine = findings.filter((f) => relative(root, join(root, f.file)) === c.config || f.file.endsWith(c.config));
      if (!mine.some((f) => matches(c, f.code, f.range.start.line, f.message)))
        missing.push(`${c.config} (${c.what}): wanted ${c.codes.join('|')}${c.line !== undefined ? ` on line ${c.line}` : ''}${c.message ? ` /${c.message}/` : ''}; got ${mine.map((f) => `${f.code}@${f.range.start.line}: ${f.message.slice(0, 120)}`).join(' | ') || 'nothing'}`);
    }
    assert.deepEqual(missing, []);
  } finally {
    rmSync(dirname(root), { recursive: true, force: true });
  }
});

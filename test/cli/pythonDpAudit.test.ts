// `i2f audit` on a repository whose only DP set-up is Python code (a Flower app and scripts for Opacus, TF Privacy,
// Optax, dp-transformers; test/fixtures/python): reported in text, JSON (against the schema), SARIF (against SARIF
// 2.1.0) and HTML, located on the Python lines.

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBuilt, REPO, runCli, validateAuditJson, validateSarif } from './helpers';

const TIMEOUT = { timeout: 120_000 };
let root: string;

before(() => {
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), 'i2f-python-audit-'));
  for (const dir of ['flower-app', 'scripts']) cpSync(join(REPO, 'test/fixtures/python', dir), join(root, dir), { recursive: true });
});

/** The Python files that set up DP, and the line (1-based) of each one's I2F140 summary. */
const EXPECTED: [string, number][] = [
  ['flower-app/dpapp/client_app.py', 27],
  ['scripts/opacus_argparse.py', 28],
  ['scripts/tfp_absl.py', 22],
  ['scripts/optax_constants.py', 16],
  ['scripts/flower_central.py', 5],
  ['scripts/flower_local.py', 6],
  ['scripts/dp_transformers_args.py', 9],
  ['scripts/runtime_values.py', 15],
];

test('text: every DP script and the Flower app, findings on their Python lines; ordinary Python is not listed', TIMEOUT, async () => {
  const r = await runCli(['audit', root, '--no-cache']);
  assert.equal(r.code, 0, r.stderr);
  for (const [file, line] of EXPECTED) assert.match(r.stdout, new RegExp(`${file.replace(/[./]/g, '\\$&')}:${line}:\\d+\\s+note\\s+I2F140`), `${file}:${line}\n${r.stdout}`);
  assert.match(r.stdout, /runtime_values\.py:\d+:\d+\s+note\s+I2F141\s+.*environment variable/);
  assert.match(r.stdout, /pyproject\.toml:20:\d+\s+note\s+I2F142/);
  assert.doesNotMatch(r.stdout, /^\S*(not_dp|task|server_app)\.py/m);
  assert.doesNotMatch(r.stdout, /I2F101/);
});

test('JSON, SARIF and HTML carry the same Python findings', TIMEOUT, async () => {
  const json = await runCli(['audit', root, '--no-cache', '--format', 'json']);
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout);
  assert.deepEqual(validateAuditJson(doc), []);
  const findings = doc.roots.flatMap((r: any) => r.configs ?? []).flatMap((c: any) => c.findings ?? []);
  const all = findings.length ? findings : doc.roots.flatMap((r: any) => r.findings);
  for (const [file, line] of EXPECTED) {
    assert.ok(all.some((f: any) => f.code === 'I2F140' && String(f.file).endsWith(file) && f.range.start.line === line - 1), `${file} in JSON`);
  }

  const sarif = await runCli(['audit', root, '--no-cache', '--format', 'sarif']);
  assert.equal(sarif.code, 0, sarif.stderr);
  const log = JSON.parse(sarif.stdout);
  assert.deepEqual(validateSarif(log), []);
  const results = log.runs[0].results as any[];
  for (const [file, line] of EXPECTED) {
    assert.ok(
      results.some((x) => x.ruleId === 'I2F140' && String(x.locations[0].physicalLocation.artifactLocation.uri).endsWith(file) && x.locations[0].physicalLocation.region.startLine === line),
      `${file} in SARIF`,
    );
  }
  assert.ok(log.runs[0].tool.driver.rules.some((r: any) => r.id === 'I2F140' && /i2f140/.test(r.helpUri ?? JSON.stringify(r))), 'I2F140 is described');

  const out = join(root, 'report.html');
  const html = await runCli(['audit', root, '--no-cache', '--format', 'html', '--out', out]);
  assert.equal(html.code, 0, html.stderr);
  const page = readFileSync(out, 'utf8');
  for (const [file] of EXPECTED) assert.ok(page.includes(file.split('/').pop()!), `${file} in HTML`);
  assert.ok(page.includes('I2F140'));
});

// The audit carries each config's DP account: JSON (validated by docs/audit-json.schema.json), SARIF (validated by
// the official 2.1.0 schema) and HTML, for a computed ε, a missing input, and the public Flower central-DP config.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { auditPaths } from '../../../server/src/analysis/audit';
import { toAuditJson } from '../../../server/src/analysis/report/json';
import { toSarif } from '../../../server/src/analysis/report/sarif';
import { toHtml } from '../../../server/src/analysis/report/html';
import { rdpEpsilon } from '../../../server/src/privacy/rdpAccountant';
import { REPO, validateAuditJson, validateSarif, workspace } from '../../cli/helpers';

const opacus = (extra: string) => `training:\n  batch_size: 256\n  epochs: 60\nprivacy:\n  noise_multiplier: 1.1\n  max_grad_norm: 1.0\n  delta: 1.0e-5\n${extra}`;

test('audit JSON, SARIF and HTML carry a privacy object per config with a noise multiplier', { timeout: 120_000 }, async () => {
  const ws = workspace({
    'with-n/train.yaml': opacus('i2f:\n  dataset-size: 60000\n'),
    'without-n/train.yaml': opacus(''),
    'flower/pyproject.toml': readFileSync(join(REPO, 'test/data/privacy/fl-dp-sa-rounds.pyproject.toml'), 'utf8'),
    'plain/train.yaml': 'training:\n  batch_size: 8\n  epochs: 3\n',
  }, { prefix: 'i2f-audit-privacy-' });
  const run = await auditPaths([ws], { noCache: true, jobs: 1 });
  const json = toAuditJson(run);
  assert.deepEqual(validateAuditJson(json), []);
  const byFile = Object.fromEntries(json.roots[0].configs.map((c) => [c.file, c]));
  const truth = rdpEpsilon({ sampleRate: 256 / 60000, noiseMultiplier: 1.1, steps: 14100 }, 1e-5);
  const computed = byFile['with-n/train.yaml'].privacy!;
  assert.equal(computed.status, 'computed');
  if (computed.status === 'computed') {
    assert.deepEqual([computed.accountant, computed.epsilon, computed.delta, computed.order, computed.steps, computed.sampleRate, computed.noiseMultiplier],
      ['rdp', truth.epsilon, 1e-5, truth.order, 14100, 256 / 60000, 1.1]);
    assert.equal(computed.deltaSource, 'config');
  }
  const missing = byFile['without-n/train.yaml'].privacy!;
  assert.equal(missing.status, 'missing');
  if (missing.status === 'missing') assert.deepEqual(missing.missing.map((m) => m.example), ['dataset-size: 60000']);
  const flower = byFile['flower/pyproject.toml'].privacy!;
  assert.equal(flower.status === 'computed' && flower.unit, 'user');
  assert.equal(byFile['plain/train.yaml']?.privacy, undefined, 'no noise multiplier, no account');
  const codes = json.roots[0].findings.map((f) => `${f.file}:${f.code}`);
  assert.ok(codes.includes('without-n/train.yaml:I2F134'));
  assert.ok(codes.includes('flower/pyproject.toml:I2F132'), codes.join('\n'));

  const sarif = toSarif(run) as { runs: { properties: { privacy: { file: string; status: string }[] }; results: { ruleId: string; properties: { privacy?: unknown } }[] }[] };
  assert.deepEqual(validateSarif(sarif), []);
  assert.deepEqual(sarif.runs[0].properties.privacy.map((p) => p.file).sort(), ['flower/pyproject.toml', 'with-n/train.yaml', 'without-n/train.yaml']);
  assert.ok(sarif.runs[0].results.filter((r) => /^I2F13[2-5]$/.test(r.ruleId)).every((r) => r.properties.privacy));

  const html = toHtml(run);
  assert.match(html, new RegExp(`DP guarantee <b>ε = ${truth.epsilon.toPrecision(2)}</b> at δ = 1e-5 \\(example-level`));
  assert.match(html, /DP ε not computed \(example-level\): the config lacks the training set size N/);
});

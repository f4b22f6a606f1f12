// The audit reports on the text example (examples/text): every format says how many tokens an attacker would recover
// and that the numbers are in embedding space; the JSON validates against docs/audit-json.schema.json with its token
// fields, the SARIF against the official schema with the token properties.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { auditPaths } from '../../../server/src/analysis/audit';
import { toAuditJson } from '../../../server/src/analysis/report/json';
import { toSarif } from '../../../server/src/analysis/report/sarif';
import { toHtml } from '../../../server/src/analysis/report/html';
import { formatText } from '../../../server/src/analysis/report/text';
import { validateAuditJson, validateSarif } from '../../cli/helpers';

test('audit of examples/text: text, JSON, SARIF and HTML speak of tokens and embedding space', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-text-audit-'));
  try {
    cpSync(join(__dirname, '../../../examples/text'), dir, { recursive: true });
    const run = await auditPaths([dir], { noCache: true, failOn: 'high' });
    const cfg = run.roots[0].configs[0];
    assert.equal(cfg.status, 'analysed');
    const b = cfg.report!.results[0];
    const pct = `${Math.round(Math.max(...b.tokens!.perSample.map((p) => p.recovered)) * 100)}%`;

    const text = formatText(run, { color: false, cwd: dir });
    assert.match(text, new RegExp(`leakage ${b.risk.toUpperCase()}  ${pct} of the tokens of sample 0 recovered \\(per position .*\\); in embedding space: PSNR`));
    assert.match(text, /I2F001 {2}Leakage risk .*would recover .* every number \(I²F, RMSE, PSNR\) is in embedding space/);

    const json = toAuditJson(run);
    assert.deepEqual(validateAuditJson(json), []);
    const leak = json.roots[0].configs[0].leakage!;
    assert.equal(leak.embedding!.embeddingMatrix, 'embed.weight');
    assert.equal(leak.tokens!.mostExposed.recovered, Math.max(...b.tokens!.perSample.map((p) => p.recovered)));
    assert.equal(leak.tokens!.noiseForTarget!.below, 0.1);
    assert.ok(leak.tokens!.noiseForTarget!.noiseMultiplier! > 0);
    assert.deepEqual(leak.batches[0].tokens!.perPosition, b.tokens!.perPosition);
    assert.deepEqual(json.roots[0].settings.thresholds, { high: 20, medium: 12, tokensHigh: 0.5, tokensMedium: 0.1, epsilon: 10 });

    const sarif = toSarif(run) as any;
    assert.deepEqual(validateSarif(sarif), []);
    const result = sarif.runs[0].results.find((r: any) => r.ruleId === 'I2F001');
    const props = result.properties.i2f ?? result.properties;
    assert.equal(props.analysisSpace, 'embedding');
    assert.equal(props.tokensRecovered, leak.tokens!.mostExposed.recovered);
    assert.equal(props.tokensRecoveredPerPosition.length, 8);

    const html = toHtml(run);
    assert.ok(html.includes('tokens an attacker would recover'));
    assert.ok(html.includes('Per-sample tokens recovered'));
    assert.ok(html.includes('Spectrum of J Jᵀ (embedding space)') || !b.spectrum, 'spectrum titled in embedding space when drawn');
    assert.ok(html.includes('is in embedding space, x = embed.weight[ids]'));
    assert.ok(html.includes('text models: high ≥ 50%, medium ≥ 10% of tokens recovered'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Text models are graded on the tokens an attacker recovers (risk.ts, docs/rules.md "Text models: graded on
// tokens"): the level, its settings, and the I2F001 finding for examples/text/review.yaml.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_RISK_THRESHOLDS, riskLevel } from '../../../server/src/engine/risk';
import { normaliseSettings, riskThresholdsOf } from '../../../server/src/analysis/settings';
import { analyseConfig, DEFAULT_CONFIG_ANALYSIS } from '../../../server/src/analysis/configFindings';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { linkConfig } from '../../../server/src/workspace/discover';
import { mostExposedTokens } from '../../../server/src/analysis/tokens';

test('risk on the recovered-token fraction: thresholds 0.5 / 0.1 by default, uncertain stays uncertain', () => {
  const at = (f: number, converged = true) => riskLevel({ psnr: -50, converged, tokensRecovered: f });
  assert.equal(at(1), 'high');
  assert.equal(at(0.5), 'high');
  assert.equal(at(0.49), 'medium');
  assert.equal(at(0.1), 'medium');
  assert.equal(at(0.09), 'low');
  assert.equal(at(1, false), 'uncertain');
  assert.equal(at(NaN), 'uncertain');
  // The PSNR does not enter: −50 dB would be 'low'.
  assert.equal(riskLevel({ psnr: -50, converged: true }), 'low');
  assert.equal(riskLevel({ psnr: 0, converged: true, tokensRecovered: 0.3 }, { highPsnr: 20, mediumPsnr: 12, highTokens: 0.9, mediumTokens: 0.3 }), 'medium');
  assert.throws(() => riskLevel({ psnr: 0, converged: true, tokensRecovered: 0.3 }, { highPsnr: 20, mediumPsnr: 12, highTokens: 0.1, mediumTokens: 0.3 }), RangeError);
  assert.deepEqual([DEFAULT_RISK_THRESHOLDS.highTokens, DEFAULT_RISK_THRESHOLDS.mediumTokens], [0.5, 0.1]);
});

test('settings: i2f.thresholds.tokensHigh / tokensMedium are fractions in [0, 1], medium ≤ high, else the defaults', () => {
  const t = (raw: unknown) => normaliseSettings({ thresholds: raw }).thresholds;
  assert.deepEqual(t({ tokensHigh: 0.8, tokensMedium: 0.2 }), { high: 20, medium: 12, tokensHigh: 0.8, tokensMedium: 0.2, epsilon: 10 });
  assert.deepEqual(t({ tokensHigh: 2, tokensMedium: -1 }), { high: 20, medium: 12, tokensHigh: 0.5, tokensMedium: 0.1, epsilon: 10 });
  assert.deepEqual(t({ tokensHigh: 0.2, tokensMedium: 0.4 }), { high: 20, medium: 12, tokensHigh: 0.5, tokensMedium: 0.1, epsilon: 10 });
  assert.deepEqual(riskThresholdsOf(normaliseSettings({ thresholds: { tokensHigh: 0.7 } })), { highPsnr: 20, mediumPsnr: 12, highTokens: 0.7, mediumTokens: 0.1 });
  const pkg = JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8'));
  const props = pkg.contributes.configuration.properties ?? pkg.contributes.configuration[0].properties;
  assert.equal(props['i2f.thresholds.tokensHigh'].default, 0.5);
  assert.equal(props['i2f.thresholds.tokensMedium'].default, 0.1);
});

test('I2F001 on the text example: graded on tokens, "would recover N% of the tokens", every number in embedding space', async () => {
  const file = join(__dirname, '../../../examples/text/review.yaml');
  const parsed = readTrainingConfig(file, readFileSync(file, 'utf8'), { fileExists: existsSync });
  assert.ok(parsed && !('kind' in parsed));
  const config = linkConfig(file, parsed);
  const run = (thresholds = DEFAULT_RISK_THRESHOLDS) => analyseConfig(config, { ...DEFAULT_CONFIG_ANALYSIS, thresholds });
  const a = await run();
  const f = a.findings.find((x) => x.code === 'I2F001')!;
  const b = a.report!.results[0];
  const top = mostExposedTokens(b.tokens!);
  // (review.yaml clips and adds noise: clipping is a rescaling, not δ, so the reconstruction is x0 + s·I(z))
  assert.match(f.message, new RegExp(`would recover ${Math.round(top.recovered * 100)}% of the tokens of sample ${top.sample} \\(per position (\\d+% ){7}\\d+%; L2 nearest embedding row of x0 \\+ (I\\(δ_det\\)|[\\d.e+-]+·I\\(z\\))`));
  assert.match(f.message, /embedding-space RMSE [\d.]+ \(PSNR [\d.]+ dB\)/);
  assert.match(f.message, /every number \(I²F, RMSE, PSNR\) is in embedding space, x = embed\.weight\[ids\] \(8 tokens × 16\)/);
  // Graded on tokens, not on the embedding PSNR: with PSNR thresholds that grade this PSNR HIGH, the level stays the
  // tokens' one.
  const lax = { ...DEFAULT_RISK_THRESHOLDS, highPsnr: -1000, mediumPsnr: -2000 };
  const byPsnr = riskLevel({ psnr: b.i2fExpected !== undefined ? b.expectedPsnr : b.psnr, converged: true }, lax);
  const byTokens = riskLevel({ psnr: 0, converged: true, tokensRecovered: top.recovered });
  assert.equal(byPsnr, 'high');
  assert.equal(f.risk, byTokens);
  if (byTokens !== 'high') assert.equal((await run(lax)).findings.find((x) => x.code === 'I2F001')!.risk, byTokens, 'the PSNR does not decide');
  // Raising the token thresholds above the recovered fraction lowers the level (the analysis is the same).
  const strict = await run({ ...DEFAULT_RISK_THRESHOLDS, highTokens: 0.99, mediumTokens: 0.95 });
  assert.equal(strict.findings.find((x) => x.code === 'I2F001')!.risk, top.recovered >= 0.95 ? 'medium' : 'low');
});

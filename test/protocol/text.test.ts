// The text example (examples/text/review.yaml, a token-id transformer) through the real server: its I2F001 is graded
// on the tokens an attacker would recover and says every number is in embedding space; hover and inlay hint say the
// same; a noise-only edit re-answers the tokens from the cache; the spectrum page's data works over LSP.

import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { CodeAction, Diagnostic, Hover, InlayHint } from 'vscode-languageserver';
import { leakageOf, startServer, stats } from './lspClient';
import type { LeakageData, SpectrumDataResult, SpectrumNoiseResult } from '../../server/src/protocol';
import { riskLevel } from '../../server/src/engine/risk';

const TIMEOUT = { timeout: 180_000 };
const leakage = leakageOf; // the finished analysis's I2F001, not the provisional one
const SEVERITY = { high: 1, medium: 2, low: 3 } as const;

test('text example: token-graded diagnostic, hover and inlay hint; a noise-only edit re-answers the tokens', TIMEOUT, async () => {
  const s = await startServer();
  try {
    const uri = s.open('text/review.yaml');
    const d = await s.waitForDiagnostics(uri, (x) => !!leakage(x), 120_000);
    const f = leakage(d)!;
    const data = f.data as LeakageData;
    const pct = Number(/would recover (\d+)% of the tokens of sample \d+ \(per position/.exec(f.message)?.[1]);
    assert.ok(Number.isFinite(pct), f.message);
    assert.match(f.message, /embedding-space RMSE [\d.]+/);
    assert.match(f.message, /every number \(I²F, RMSE, PSNR\) is in embedding space, x = embed\.weight\[ids\]/);
    assert.equal(Math.round(data.tokensRecovered! * 100), pct);
    // The level is that of the token fraction (default thresholds 0.5 / 0.1), not of the embedding PSNR.
    const level = riskLevel({ psnr: 0, converged: true, tokensRecovered: data.tokensRecovered });
    assert.equal(data.risk, level);
    assert.equal(f.severity, SEVERITY[level as keyof typeof SEVERITY]);
    assert.match(f.message, new RegExp(`^Leakage risk ${level.toUpperCase()}:`));

    // Line 9 (0-based 8) is `noise_multiplier: 0.01`.
    const hover = (await s.connection.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line: 8, character: 4 } })) as Hover;
    const text = (hover.contents as { value: string }).value;
    for (const part of [`| Tokens an attacker would recover | ${pct}% of sample #0`, '| Per position |', 'Predicted PSNR (embedding space)', 'Predicted RMSE (embedding space)', 'is in embedding space, x = embed.weight[ids]', '→ attacker\'s tokens | `i loved this film so much', '| Noise for fewer than 10% of tokens (every sample) | std 0.']) {
      assert.ok(text.includes(part), `hover has '${part}':\n${text}`);
    }
    const hints = (await s.connection.sendRequest('textDocument/inlayHint', { textDocument: { uri }, range: { start: { line: 0, character: 0 }, end: { line: 30, character: 0 } } })) as InlayHint[];
    assert.equal(hints.length, 1);
    assert.equal(String(hints[0].label), `${pct}% of tokens recovered · ${level} risk`);

    // The quick fix sets the noise multiplier that keeps every sample below 10% of its tokens (the medium threshold).
    assert.match(f.message, /Keeping every sample below 10% of its tokens \(low risk\) needs Gaussian std [\d.]+ \(noise multiplier [\d.]+\)/);
    const actions = (await s.connection.sendRequest('textDocument/codeAction', { textDocument: { uri }, range: f.range, context: { diagnostics: [f] } })) as CodeAction[];
    assert.equal(actions.length, 1);
    assert.match(actions[0].title, /^Set noise_multiplier to [\d.]+ \(predicted tokens recovered below 10%\)$/);
    const edit = actions[0].edit!.changes![uri][0];
    const original = readFileSync(s.path('text/review.yaml'), 'utf8');
    const fixedLine = original.split('\n')[edit.range.start.line];
    const fixed = original.replace(fixedLine, fixedLine.slice(0, edit.range.start.character) + edit.newText + fixedLine.slice(edit.range.end.character));
    s.change(uri, 2, fixed);
    const safe = await s.waitForDiagnostics(uri, (x) => (leakage(x)?.message ?? '').includes(`noise=${edit.newText}`));
    const sd = leakage(safe)!.data as LeakageData;
    assert.equal(sd.fromCache, true);
    assert.ok(sd.tokensRecovered! < 0.1, `after the fix ${sd.tokensRecovered}`);
    assert.equal(sd.risk, 'low');

    // σ 0.01 → 3 (noise std σC = 0.3 on the embedding gradient): answered from the cached noise paths, no new job.
    const before = await stats(s);
    const loud = readFileSync(s.path('text/review.yaml'), 'utf8').replace('noise_multiplier: 0.01', 'noise_multiplier: 3.0');
    s.change(uri, 3, loud);
    const after = await s.waitForDiagnostics(uri, (x) => /noise=3\b/.test(leakage(x)?.message ?? ''));
    const g = leakage(after)!;
    const gd = g.data as LeakageData;
    assert.equal(gd.fromCache, true);
    assert.ok(gd.tokensRecovered! < data.tokensRecovered!, `${gd.tokensRecovered} < ${data.tokensRecovered}`);
    assert.equal(gd.risk, riskLevel({ psnr: 0, converged: true, tokensRecovered: gd.tokensRecovered }));
    assert.match(g.message, new RegExp(`would recover ${Math.round(gd.tokensRecovered! * 100)}% of the tokens`));
    const now = await stats(s);
    assert.equal(now.jobsQueued, before.jobsQueued, 'no new analysis');
    assert.equal(now.noiseRescales, before.noiseRescales + 1);
  } finally {
    await s.close();
  }
});

test('text example: the spectrum page data over LSP is in embedding space, with tokens per noise std', TIMEOUT, async () => {
  const s = await startServer();
  try {
    const uri = s.open('text/review.yaml');
    const r = (await s.connection.sendRequest('i2f/spectrumData', { uri, k: 4 })) as SpectrumDataResult;
    assert.ok(r.ok, r.ok ? '' : r.message);
    const v = r.data;
    assert.deepEqual(v.input.dims, [8, 16]);
    assert.equal(v.input.image, null);
    assert.match(v.input.embedding!.note, /embedding space/);
    assert.equal(v.spectrum.inputSize, 128);
    assert.equal(v.directions.length, 4);
    assert.ok(v.settings.configuredStd > 0);
    const t = v.noise.tokens!;
    assert.equal(v.noise.risk, riskLevel({ psnr: 0, converged: true, tokensRecovered: t.shown.recovered }));
    const loud = (await s.connection.sendRequest('i2f/spectrumNoise', { key: v.key, std: 30 * v.settings.configuredStd })) as SpectrumNoiseResult;
    assert.ok(loud.ok, loud.ok ? '' : loud.message);
    assert.ok(loud.noise.tokens!.recovered < t.recovered, `${loud.noise.tokens!.recovered} < ${t.recovered}`);
  } finally {
    await s.close();
  }
});

// The nearest embedding row along the noise scale (tokens.ts noisePaths): exact against a brute-force nearest-row
// search at many stds, and a report re-answered at another std equals a fresh analysis at that std.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { recoverTokens } from '../../../server/src/backends/onnx/embedding';
import { Random } from '../../../server/src/engine/random';
import { nearestAtStd, noiseForTokens, noisePaths, tokenRisk, tokensAtStd } from '../../../server/src/analysis/tokens';
import { analyzeModel, type AnalyzeRequest } from '../../../server/src/analysis/analyzeModel';

test('noise paths: the nearest row of a + s·b at every s equals a brute-force search', () => {
  const rand = new Random(5);
  const V = 40, D = 6, tokens = 12;
  const E = rand.fillNormal(new Float64Array(V * D));
  const a = rand.fillNormal(new Float64Array(tokens * D));
  const b = rand.fillNormal(new Float64Array(tokens * D));
  const paths = noisePaths(E, D, a, b);
  assert.equal(paths.length, tokens);
  let changes = 0;
  for (const p of paths) {
    changes += p.std.length - 1;
    for (let k = 1; k < p.std.length; k++) assert.ok(p.std[k] >= p.std[k - 1]);
  }
  assert.ok(changes > tokens, `the nearest row changes along the noise (${changes} changes)`);
  // Stds on a log grid plus points just either side of each change.
  const stds = [0, ...Array.from({ length: 60 }, (_, i) => 1e-3 * 1.2 ** i)];
  for (const p of paths) for (const s of p.std.slice(1)) stds.push(s * (1 - 1e-9), s * (1 + 1e-9));
  for (const s of stds) {
    const x = Float64Array.from(a, (ai, i) => ai + s * b[i]);
    const brute = recoverTokens(E, D, x, new Array(tokens).fill(0), 1).nearest;
    assert.deepEqual(paths.map((p) => nearestAtStd(p, s)), brute, `s = ${s}`);
  }
  // No noise vector: one segment, the nearest row of a.
  const flat = noisePaths(E, D, a, null);
  assert.ok(flat.every((p) => p.std.length === 1));
  assert.deepEqual(flat.map((p) => p.row[0]), recoverTokens(E, D, a, new Array(tokens).fill(0), 1).nearest);
});

test('tokens re-answered at another noise std equal a fresh analysis at that std (same seeded draw)', async () => {
  const examples = join(__dirname, '../../../examples/text');
  const base: AnalyzeRequest = { model: join(examples, 'tiny_text.onnx'), data: join(examples, 'samples.txt'), defences: [], damping: 0, spectrumK: 0, seed: 0, loss: 'cross-entropy', targetPsnr: 15, traceSamples: 1 };
  const at = (std: number) => analyzeModel({ ...base, defences: [`gaussian:std=${std}`] });
  const [low, high] = [await at(0.01), await at(0.1)];
  for (const [k, r] of low.results.entries()) {
    const fresh = high.results[k].tokens!;
    const re = tokensAtStd(r.tokens!, 0.1, r.samples[0]);
    assert.deepEqual(re.nearest, fresh.nearest);
    assert.equal(re.recovered, fresh.recovered);
    assert.deepEqual(re.perPosition, fresh.perPosition);
    assert.deepEqual(re.perSample, fresh.perSample);
    assert.deepEqual(re.recoveredText, fresh.recoveredText);
    assert.equal(re.reconstruction, fresh.reconstruction);
    assert.equal(tokenRisk(high.results[k].risk, re), high.results[k].risk);
  }
  // The two levels differ (else the check above proves nothing).
  assert.notDeepEqual(low.results.map((r) => r.tokens!.recovered), high.results.map((r) => r.tokens!.recovered));
});

test('noise for the token target: from s* on every sample keeps fewer than the threshold; just below s* one does not', async () => {
  const examples = join(__dirname, '../../../examples/text');
  const base: AnalyzeRequest = { model: join(examples, 'tiny_text.onnx'), data: join(examples, 'samples.txt'), defences: ['gaussian:std=0.01'], damping: 0, spectrumK: 0, seed: 0, loss: 'cross-entropy', targetPsnr: 15, traceSamples: 1 };
  const report = await analyzeModel(base);
  const below = 0.1;
  const stars = report.results.map((r) => noiseForTokens(r.tokens!, below));
  for (const [k, r] of report.results.entries()) {
    const t = r.tokens!;
    const s = stars[k];
    if (!Number.isFinite(s)) {
      // Along this draw the far end (s → ∞) still decodes ≥ the threshold: say so rather than suggest a number.
      assert.ok(Math.max(...tokensAtStd(t, 1e12, r.samples[0]).perSample.map((p) => p.recovered)) >= below);
      continue;
    }
    assert.ok(s > 0.01, `s* = ${s}`);
    const worst = (std: number) => Math.max(...tokensAtStd(t, std, r.samples[0]).perSample.map((p) => p.recovered));
    assert.ok(worst(s * (1 - 1e-9)) >= below, 'just below s* a sample still reaches the threshold');
    for (let i = 0; i <= 40; i++) assert.ok(worst(s * 1.25 ** i) < below, `at ${s * 1.25 ** i}`);
    // A fresh analysis at 1.01·s* (new solves, same seeded draw) agrees.
    const fresh = await analyzeModel({ ...base, defences: [`gaussian:std=${s * 1.01}`] });
    assert.ok(Math.max(...fresh.results[k].tokens!.perSample.map((p) => p.recovered)) < below);
    assert.equal(noiseForTokens(t, 0), Infinity, 'a threshold of 0 is never passed');
  }
  assert.ok(stars.some(Number.isFinite), `some finite s* (${stars})`);
});

test('noise for the token target on random paths equals a scan of every breakpoint (many samples, every threshold)', () => {
  const rand = new Random(9);
  const V = 12, D = 3, T = 4, N = 6;
  const kinds = { zero: 0, finite: 0, infinite: 0 };
  for (let trial = 0; trial < 20; trial++) {
    const E = rand.fillNormal(new Float64Array(V * D));
    const ids = Array.from({ length: N * T }, () => Math.floor(rand.uniform() * V));
    // a: near the true rows (so tokens start recovered), b: a random direction.
    const a = Float64Array.from({ length: N * T * D }, (_, k) => E[ids[Math.floor(k / D)] * D + (k % D)] + 0.3 * rand.normal());
    const b = rand.fillNormal(new Float64Array(N * T * D));
    const alongNoise = noisePaths(E, D, a, b);
    const rows = <X>(v: X[]) => Array.from({ length: N }, (_, s) => v.slice(s * T, (s + 1) * T));
    const t = { ids: rows(ids), perPosition: new Array(T).fill(0), alongNoise } as unknown as Parameters<typeof noiseForTokens>[0];
    const breaks = [...new Set(alongNoise.flatMap((p) => p.std))].sort((x, y) => x - y);
    const reaches = (s: number, below: number) => rows(alongNoise.map((p, i) => (nearestAtStd(p, s) === ids[i] ? 1 : 0) as number)).some((h) => h.reduce((x, y) => x + y, 0) / T >= below);
    for (const below of [0.25, 0.5, 0.75, 1]) {
      let scan = 0;
      for (let k = breaks.length - 1; k >= 0; k--) {
        if (reaches(breaks[k], below)) {
          scan = k + 1 < breaks.length ? breaks[k + 1] : Infinity;
          break;
        }
      }
      assert.equal(noiseForTokens(t, below), scan, `trial ${trial}, below ${below}`);
      kinds[scan === 0 ? 'zero' : Number.isFinite(scan) ? 'finite' : 'infinite']++;
    }
  }
  assert.ok(kinds.finite >= 20 && kinds.infinite > 0, JSON.stringify(kinds));
});

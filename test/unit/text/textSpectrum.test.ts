// The spectrum page on a token-id model (examples/text): computed in embedding space on the split model, labelled
// so, with the tokens the prediction recovers at any slider std (risk graded on them), equal to `i2f analyze`'s.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { computeSpectrumState, noiseView, spectrumView, type SpectrumRequest } from '../../../server/src/analysis/spectrumData';
import { analyzeModel } from '../../../server/src/analysis/analyzeModel';
import { riskLevel } from '../../../server/src/engine/risk';

const examples = join(__dirname, '../../../examples/text');
const req: SpectrumRequest = {
  config: join(examples, 'review.yaml'), model: join(examples, 'tiny_text.onnx'), data: join(examples, 'samples.txt'),
  defences: ['gaussian:std=0.01'], damping: 0, seed: 0, loss: 'cross-entropy', sample: 1, k: 4, targetPsnr: 15,
} as SpectrumRequest;

test('spectrum page on the text example: embedding space, tokens at the configured and any other std', async () => {
  const state = await computeSpectrumState(req);
  const v = spectrumView(state);
  assert.deepEqual(v.input.dims, [8, 16]);
  assert.equal(v.input.image, null);
  assert.match(v.input.embedding!.note, /embedding space/);
  assert.deepEqual([v.input.embedding!.tokens, v.input.embedding!.dim], [8, 16]);
  assert.equal(v.spectrum.inputSize, 8 * 16);
  assert.equal(v.settings.samples, 2);
  assert.equal(v.directions.length, 4);

  // The configured std gives the numbers `i2f analyze` gives for the same request (the diagnostics' numbers).
  const report = await analyzeModel({ ...req, spectrumK: 0, traceSamples: 1 });
  const t = v.noise.tokens!;
  assert.deepEqual(t.perSample, report.results.flatMap((r) => r.tokens!.perSample));
  assert.equal(t.shown.sample, 1);
  assert.deepEqual(t.shown.nearest, report.results[1].tokens!.nearest[0]);
  assert.equal(t.shown.recoveredText, report.results[1].tokens!.recoveredText![0]);
  assert.equal(v.noise.risk, report.results[1].risk);
  assert.equal(v.noise.risk, riskLevel({ psnr: 0, converged: true, tokensRecovered: t.shown.recovered }));

  // A larger std on the slider: fewer tokens, and the level follows them.
  const loud = noiseView(state, 1);
  assert.ok(loud.tokens!.recovered < t.recovered, `${loud.tokens!.recovered} vs ${t.recovered}`);
  assert.equal(loud.risk, riskLevel({ psnr: 0, converged: true, tokensRecovered: loud.tokens!.shown.recovered }));
  assert.equal(noiseView(state, 0).tokens!.recovered, 1, 'no noise, no deterministic δ: x0 itself');
});

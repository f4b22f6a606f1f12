// `i2f analyze` on a token-id model: samples from a text file + vocab.txt, an int .npy, or seeded ids; the report
// says the analysis is in embedding space and gives the tokens an attacker recovers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeModel, type AnalyzeRequest } from '../../../server/src/analysis/analyzeModel';
import { formatTokenText, tokenize, vocabFileFor } from '../../../server/src/analysis/tokens';
import { formatAnalysisText } from '../../../server/src/analysis/formatText';
import { UserError } from '../../../server/src/errors';

const examples = join(__dirname, '../../../examples/text');
const model = join(examples, 'tiny_text.onnx');
const base: AnalyzeRequest = { model, defences: ['gaussian:std=0.03'], damping: 0, spectrumK: 0, seed: 0, loss: 'cross-entropy' };

test('whitespace tokeniser over a plain vocab: unknown words → <unk>, padded with <pad>, truncated to T', () => {
  const vocab = ['<pad>', '<unk>', 'the', 'movie', 'was', 'fun'];
  assert.deepEqual(tokenize('The movie was  REALLY fun', vocab, 8), [2, 3, 4, 1, 5, 0, 0, 0]);
  assert.deepEqual(tokenize('the the the the the', vocab, 3), [2, 2, 2]);
  assert.throws(() => tokenize('zzz', ['<pad>', 'a'], 2), UserError);
  assert.equal(vocabFileFor(model), join(examples, 'vocab.txt'));
});

test('analyze on a text file: embedding-space model info, token recovery overall, per position and per sample', async () => {
  const report = await analyzeModel({ ...base, data: join(examples, 'samples.txt') });
  const input = report.model.input!;
  assert.equal(input.kind, 'token-ids');
  assert.equal(input.analysisSpace, 'embedding');
  assert.match(input.note, /embedding space/);
  assert.equal(input.embeddingMatrix, 'embed.weight');
  assert.deepEqual([input.vocabSize, input.embeddingDim, input.sequenceLength], [50, 16, 8]);
  assert.deepEqual(report.model.inputShape, [1, 8, 16]);
  assert.equal(report.results.length, 2);
  for (const r of report.results) {
    const t = r.tokens!;
    assert.equal(t.metric, 'L2');
    assert.equal(t.perPosition.length, 8);
    assert.ok(t.recovered >= 0 && t.recovered <= 1);
    assert.equal(t.perSample.length, 1);
    assert.equal(t.text!.length, 1);
    assert.ok(r.rmse > 0 && r.solver.converged);
  }
  assert.equal(report.results[0].tokens!.text![0], 'i loved this film so much <pad> <pad>');
  const summary = formatAnalysisText(report);
  assert.match(summary, /risk: (HIGH|MEDIUM|LOW) \(graded on tokens: \d+% of sample 0's tokens recovered\)/);
  assert.match(summary, /predicted attacker error \(embedding space\): RMSE/);
  const text = formatTokenText(report);
  assert.match(text, /Embedding space: .*embed\.weight stays in θ/);
  assert.match(text, /an attacker recovers \d+\.\d% of the tokens \(L2 nearest embedding row; per position/);
});

test('analyze on int64 ids (.npy): tiny noise recovers every token, large noise few', async () => {
  const small = await analyzeModel({ ...base, data: join(examples, 'samples_ids.npy'), defences: ['gaussian:std=1e-3'] });
  assert.deepEqual(small.results.map((r) => r.tokens!.recovered), [1, 1]);
  assert.deepEqual(small.results[1].tokens!.ids[0], small.results[1].tokens!.nearest[0]);
  const large = await analyzeModel({ ...base, data: join(examples, 'samples_ids.npy'), defences: ['gaussian:std=0.3'] });
  for (const r of large.results) assert.ok(r.tokens!.recovered < 0.5, `recovered ${r.tokens!.recovered} at std 0.3`);
  // No defence: the linearised attacker rebuilds x0 exactly.
  const none = await analyzeModel({ ...base, defences: [], syntheticSamples: 1 });
  assert.equal(none.results[0].tokens!.recovered, 1);
  assert.match(none.settings.data, /synthetic token ids/);
});

test('text samples need a vocabulary of the embedding size beside the model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-text-'));
  copyFileSync(model, join(dir, 'm.onnx'));
  writeFileSync(join(dir, 's.txt'), 'the movie\n');
  await assert.rejects(analyzeModel({ ...base, model: join(dir, 'm.onnx'), data: join(dir, 's.txt') }), /need a vocabulary beside the model/);
  writeFileSync(join(dir, 'm.vocab.txt'), '<pad>\n<unk>\nthe\nmovie\n');
  await assert.rejects(analyzeModel({ ...base, model: join(dir, 'm.onnx'), data: join(dir, 's.txt') }), /4 tokens but the embedding matrix has 50 rows/);
});

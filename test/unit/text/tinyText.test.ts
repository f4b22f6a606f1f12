// The token-id path (server/src/backends/onnx/embedding.ts) against the PyTorch float64 references of
// tools/fixtures/text_fixtures.py: a tiny transformer text classifier analysed in EMBEDDING SPACE
// (x = E[ids], θ includes the embedding matrix E).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { embedTokens, embeddingMatrix, findTokenEmbedding, recoverTokens, splitAtEmbedding } from '../../../server/src/backends/onnx/embedding';
import { readNpy } from '../../../server/src/formats/npy';
import { readSafetensors } from '../../../server/src/formats/safetensors';
import { oneHot } from '../../../server/src/analysis/inputs';
import { analyzeInfluence } from '../../../server/src/engine/influence';
import { flattenTheta, relativeError } from '../../support/fixtures';

const dir = join(__dirname, '../../fixtures/text/tiny_text');

async function textOperator() {
  const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
  const original = await OnnxModel.open(join(dir, 'model.onnx'));
  const info = findTokenEmbedding(original.model, original.file);
  assert.ok(info, 'a token-id model');
  const ids = Array.from((await readNpy(join(dir, 'ids.npy'))).data as BigInt64Array, Number);
  const labels = Array.from((await readNpy(join(dir, 'labels.npy'))).data as BigInt64Array, Number);
  const model = OnnxModel.fromModel(original.file, splitAtEmbedding(original.model, info, ids, ref.batch));
  const x = embedTokens(original.model, info, ids);
  const op = model.operator({ batch: ref.batch, input: x, target: oneHot(labels, ref.logits[0].length), loss: 'cross-entropy' });
  return { ref, original, info, ids, model, x, op };
}

test('tiny_text: the embedding lookup is found and the split keeps E in θ', async () => {
  const { ref, original, info, model, x, op } = await textOperator();
  try {
    assert.equal(info.matrix, 'embed.weight');
    assert.deepEqual(info.tokenDims, [8]);
    assert.equal(info.dim, 16);
    assert.deepEqual(model.sampleDims, [8, 16]);
    assert.deepEqual([...model.trainable].sort(), ref.parameters.map((p: { name: string }) => p.name).sort());
    assert.deepEqual(model.trainable, original.trainable, 'θ layout unchanged by the split');
    const xRef = (await readNpy(join(dir, 'x.npy'))).data as Float32Array;
    assert.deepEqual(Array.from(x), Array.from(xRef));
    assert.equal(op.inputSize, ref.dX);
    assert.equal(op.parameterCount, ref.dTheta);
  } finally {
    await op.dispose();
  }
});

test('tiny_text: g, J u, Jᵀ v and J Jᵀ v match PyTorch float64 in embedding space to 1e-5', async () => {
  const { ref, op } = await textOperator();
  try {
    const g = new Float64Array(op.parameterCount);
    const loss = await op.gradient(g);
    assert.ok(Math.abs(loss - ref.loss.value) <= 1e-5 * Math.abs(ref.loss.value), `loss ${loss} vs ${ref.loss.value}`);
    const gRef = flattenTheta((await readSafetensors(join(dir, 'g.safetensors'))).tensors as never, op.parameters, op.parameterCount);
    const errors: Record<string, number> = { g: relativeError(g, gRef) };
    const u = flattenTheta((await readSafetensors(join(dir, 'u.safetensors'))).tensors as never, op.parameters, op.parameterCount);
    const Ju = new Float64Array(op.inputSize);
    await op.jacobianVector(u, Ju);
    errors.Ju = relativeError(Ju, (await readNpy(join(dir, 'Ju.npy'))).data as Float64Array);
    const v = Float64Array.from((await readNpy(join(dir, 'v.npy'))).data as Float64Array);
    const JTv = new Float64Array(op.parameterCount);
    await op.jacobianTransposeVector(v, JTv);
    errors.JTv = relativeError(JTv, flattenTheta((await readSafetensors(join(dir, 'JTv.safetensors'))).tensors as never, op.parameters, op.parameterCount));
    const JJTv = new Float64Array(op.inputSize);
    await op.gramVector(v, JJTv);
    errors.JJTv = relativeError(JJTv, (await readNpy(join(dir, 'JJTv.npy'))).data as Float64Array);
    if (op.precise) {
      const pJu = new Float64Array(op.inputSize);
      await op.precise.jacobianVector(u, pJu);
      errors.preciseJu = relativeError(pJu, (await readNpy(join(dir, 'Ju.npy'))).data as Float64Array);
      const pG = new Float64Array(op.inputSize);
      await op.precise.gramVector(v, pG);
      errors.preciseJJTv = relativeError(pG, (await readNpy(join(dir, 'JJTv.npy'))).data as Float64Array);
    }
    console.log('tiny_text agreement', JSON.stringify(errors));
    for (const [k, e] of Object.entries(errors)) assert.ok(e < 1e-5, `${k}: ${e}`);
  } finally {
    await op.dispose();
  }
});

test('tiny_text: undamped I²F for the stored δ matches PyTorch to 1e-2; tokens recovered as the reference says', async () => {
  const { ref, original, info, ids, x, op } = await textOperator();
  try {
    const delta = flattenTheta((await readSafetensors(join(dir, 'delta.safetensors'))).tensors as never, op.parameters, op.parameterCount);
    const r = await analyzeInfluence(op, { defences: [], delta, damping: 0, tolerance: 1e-8, spectrumK: 0, seed: 1, dataRange: 1, batchSize: ref.batch, productRoundoff: 2 ** -24 });
    const iRef = (await readNpy(join(dir, 'i2f_undamped.npy'))).data as Float64Array;
    const I = r.cache.influenceDeterministic!;
    const e = relativeError(I, iRef);
    console.log('tiny_text I²F', JSON.stringify({ ours: r.i2f, ref: ref.delta.i2f, vectorError: e, converged: r.solver.converged, iterations: r.solver.iterations }));
    assert.ok(Math.abs(r.i2f - ref.delta.i2f) <= 1e-2 * ref.delta.i2f, `I²F ${r.i2f} vs ${ref.delta.i2f}`);
    assert.ok(e < 1e-2, `I(δ) vector: ${e}`);
    const rec = recoverTokens(embeddingMatrix(original.model, info), info.dim, Float64Array.from(x, (xi, i) => xi + I[i]), ids, 8);
    assert.equal(rec.recovered, ref.tokenRecovery.recovered);
    assert.deepEqual(rec.nearest, ref.tokenRecovery.nearest.flat());
  } finally {
    await op.dispose();
  }
});

// Defence specs and the δ they cause, against hand-computed small cases (numpy semantics for quantiles and rounding).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  clippingBias, computeDefenceDelta, describeDefence, parseDefence, parseDefences, prune, quantile, quantize,
  roundHalfToEven, sharedGradient, topK,
} from '../../../server/src/engine/defences';
import { UserError } from '../../../server/src/errors';

function badDefence(spec: string, ...fragments: string[]) {
  assert.throws(() => parseDefence(spec), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.code, 'bad-defence');
    for (const f of [spec, ...fragments]) assert.ok(e.message.includes(f), `'${e.message}' should mention '${f}'`);
    return true;
  });
}

describe('defence specs', () => {
  it('parses every kind into a typed model', () => {
    assert.deepEqual(parseDefences(['gaussian:std=0.01', 'dpsgd:clip=1,noise=1.1', 'prune:ratio=0.9', 'quantize:bits=8', 'topk:ratio=0.1']), [
      { kind: 'gaussian', std: 0.01 },
      { kind: 'dpsgd', clip: 1, noise: 1.1 },
      { kind: 'prune', ratio: 0.9 },
      { kind: 'quantize', bits: 8 },
      { kind: 'topk', ratio: 0.1 },
    ]);
    assert.deepEqual(parseDefence(' DPSGD: noise = 2 , clip=0.5 '), { kind: 'dpsgd', clip: 0.5, noise: 2 });
    assert.equal(describeDefence(parseDefence('dpsgd:noise=2,clip=0.5')), 'dpsgd:clip=0.5,noise=2');
  });

  it('rejects bad specs naming the spec, the key and what is allowed', () => {
    badDefence('laplace:b=1', "unknown defence 'laplace'", 'gaussian:std=');
    badDefence('gaussian:sigma=1', "unknown key 'sigma'", 'allowed: std');
    badDefence('gaussian:std=-1', 'std must be a finite number ≥ 0', "'-1'");
    badDefence('gaussian:std=abc', 'std must be');
    badDefence('gaussian', "missing key 'std'");
    badDefence('dpsgd:clip=1', "missing key 'noise'");
    badDefence('dpsgd:clip=0,noise=1', 'clip must be a finite number > 0');
    badDefence('prune:ratio=1.5', 'ratio must be a number in [0, 1]');
    badDefence('quantize:bits=1', 'bits must be an integer from 2 to 32');
    badDefence('quantize:bits=4.5', 'bits must be an integer');
    badDefence('topk:ratio=0.1,ratio=0.2', "key 'ratio' given twice");
  });
});

describe('defences → δ', () => {
  it('computes quantiles with numpy linear interpolation', () => {
    assert.equal(quantile(Float64Array.of(4, 1, 3, 2), 0.5), 2.5);
    assert.ok(Math.abs(quantile(Float64Array.of(5, 4, 3, 2, 1), 0.3) - 2.2) < 1e-15);
    assert.equal(quantile(Float64Array.of(7), 0.9), 7);
    assert.equal(quantile(Float64Array.of(1, 9), 1), 9);
  });

  it('prunes entries strictly below the |g| quantile and keeps ties at it', () => {
    assert.deepEqual([...prune(Float64Array.of(0.1, -0.2, 0.3, -0.4, 0.5), 0.3)], [0, 0, 0.3, -0.4, 0.5]);
    assert.deepEqual([...prune(Float64Array.of(1, -1, 1, 2), 0.5)], [1, -1, 1, 2]);
    assert.deepEqual([...prune(Float64Array.of(1, -3, 2), 1)], [0, -3, 0]);
  });

  it('rounds half to even like numpy.round', () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001].map(roundHalfToEven), [0, 2, 2, -0, -2, -2, 2, 3]);
  });

  it('quantises each parameter tensor with its own symmetric scale', () => {
    const g = Float64Array.of(3, 1.5, -0.5, 2.5, 0.75, -0.375, 0, 0);
    const tensors = [{ offset: 0, size: 4 }, { offset: 4, size: 2 }, { offset: 6, size: 2 }];
    // bits 3: levels 3; tensor 1 scale 1 → [3, 2, −0, 2]; tensor 2 scale 0.25 → [3, −2]·0.25; all-zero tensor stays
    assert.deepEqual([...quantize(g, 3, tensors)], [3, 2, -0, 2, 0.75, -0.5, 0, 0]);
  });

  it('keeps the ceil(P·d_θ) largest entries, ties by lower index', () => {
    assert.deepEqual([...topK(Float64Array.of(1, -3, 2, -2, 0.5), 0.5)], [0, -3, 2, -2, 0]);
    assert.deepEqual([...topK(Float64Array.of(1, -3, 2, -2, 0.5), 0.4)], [0, -3, 2, 0, 0]);
    assert.deepEqual([...topK(Float64Array.of(1, 2), 0)], [0, 0]);
  });

  it('computes DP-SGD clipping bias and noise std σC/B from per-example gradients', async () => {
    const examples = [Float64Array.of(3, 4), Float64Array.of(0.6, 0.8)];
    const bias = clippingBias(examples, 2);
    assert.ok(Math.abs(bias[0] + 0.9) < 1e-15 && Math.abs(bias[1] + 1.2) < 1e-15);
    const g = Float64Array.of(1.8, 2.4);
    const d = await computeDefenceDelta([parseDefence('dpsgd:clip=2,noise=1')], g, {
      parameters: [{ offset: 0, size: 2 }], exampleGradients: async () => examples, seed: 4,
    });
    // Clipping rescales (factors 2/5 and 1): not a perturbation; the noise σC/B = 1 is seen against the clipped
    // gradient of the least-clipped example (c_max = 1 here: no credit).
    assert.equal(d.deterministic, null);
    assert.deepEqual(d.clipping!.factors, [0.4, 1]);
    assert.equal(d.clipping!.noiseScale, 1);
    assert.ok(Math.abs(d.clipping!.rescaleNorm - 1.5) < 1e-15);
    assert.equal(d.gaussianStd, 1);
    assert.equal(d.batchSize, 2);
    assert.equal(d.noise!.length, 2);
    // Both examples clipped (c = 2/5 and 2/2.5): the noise std is σC/(B·c_max) = 1/0.8.
    const both = await computeDefenceDelta([parseDefence('dpsgd:clip=2,noise=1')], g, {
      parameters: [{ offset: 0, size: 2 }], exampleGradients: async () => [Float64Array.of(3, 4), Float64Array.of(1.5, 2)], seed: 4,
    });
    assert.ok(Math.abs(both.gaussianStd - 1.25) < 1e-15);
    assert.deepEqual(both.clipping!.factors, [0.4, 0.8]);
  });

  it('masks the noise of a pruning or top-k that comes after it, not of one before it', async () => {
    const g = Float64Array.of(0.1, -0.2, 0.3, -0.4, 0.5);
    const ctx = { parameters: [{ offset: 0, size: 5 }], seed: 7 };
    const after = await computeDefenceDelta(parseDefences(['gaussian:std=0.1', 'topk:ratio=0.4']), g, ctx);
    assert.deepEqual([...after.noiseMask!], [0, 0, 0, 1, 1]);
    assert.equal(after.keptFraction, 0.4);
    assert.deepEqual([0, 1, 2].map((i) => after.noise![i]), [0, 0, 0]);
    assert.ok(after.noise![3] !== 0 && after.noise![4] !== 0);
    const before = await computeDefenceDelta(parseDefences(['topk:ratio=0.4', 'gaussian:std=0.1']), g, ctx);
    assert.equal(before.noiseMask, undefined);
    assert.ok(before.noise!.every((v) => v !== 0));
  });

  it('builds the gradient really shared: clipped mean, noise σC/B, compression of the noisy gradient', async () => {
    const examples = [Float64Array.of(3, 4), Float64Array.of(0.6, 0.8)];
    const g = Float64Array.of(1.8, 2.4);
    const z = Float64Array.of(1, -1);
    const shared = await sharedGradient([parseDefence('dpsgd:clip=2,noise=0.5')], g, { parameters: [{ offset: 0, size: 2 }], exampleGradients: async () => examples }, z);
    // mean(clip) = ((1.2, 1.6) + (0.6, 0.8))/2 = (0.9, 1.2); noise 0.5·2/2 = 0.5 along z
    assert.ok(Math.abs(shared[0] - 1.4) < 1e-15 && Math.abs(shared[1] - 0.7) < 1e-15);
    const sparse = await sharedGradient(parseDefences(['gaussian:std=1', 'topk:ratio=0.5']), Float64Array.of(0.1, 0.2), { parameters: [] }, Float64Array.of(3, -0.1));
    assert.deepEqual([...sparse], [3.1, 0]);
  });

  it('composes in order: compressions act on the defended gradient, Gaussian variances add', async () => {
    const g = Float64Array.of(0.1, -0.2, 0.3, -0.4, 0.5);
    const ctx = { parameters: [{ offset: 0, size: 5 }], seed: 7 };
    const d = await computeDefenceDelta(parseDefences(['prune:ratio=0.3', 'gaussian:std=0.1', 'topk:ratio=0.4', 'gaussian:std=0.2']), g, ctx);
    // prune → [0, 0, .3, −.4, .5]; top-2 → [0, 0, 0, −.4, .5]; δ = that − g
    assert.deepEqual([...d.deterministic!].map((x) => Math.round(x * 1e12) / 1e12), [-0.1, 0.2, -0.3, 0, 0]);
    assert.ok(Math.abs(d.gaussianStd - Math.sqrt(0.05)) < 1e-15);
    const again = await computeDefenceDelta(parseDefences(['gaussian:std=1']), g, ctx);
    const same = await computeDefenceDelta(parseDefences(['gaussian:std=3']), g, ctx);
    assert.deepEqual([...again.noise!], [...same.noise!], 'the unit draw depends on the seed only');
    assert.equal(again.deterministic, null);
  });

  it('asks for per-example gradients when DP-SGD clipping has none', async () => {
    await assert.rejects(
      computeDefenceDelta([parseDefence('dpsgd:clip=1,noise=1')], new Float64Array(3), { parameters: [] }),
      (e: unknown) => e instanceof UserError && e.code === 'dpsgd-needs-example-gradients',
    );
  });
});

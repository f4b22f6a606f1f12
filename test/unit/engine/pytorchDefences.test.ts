// The defences' δ, the expected I²F of Gaussian noise and the extreme spectrum against the PyTorch float64 references
// every fixture commits (tools/fixtures/generate.py → test/fixtures/models/<name>/reference.json): prune (50%, 90%),
// 4-bit quantisation, top-k 10% and DP-SGD clipping δ, `expectedI2F`, the spectrum's top and bottom, λmin, the
// condition number and the numerical rank.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { clippingBias, prune, quantile, quantize, topK } from '../../../server/src/engine/defences';
import { analyzeInfluence } from '../../../server/src/engine/influence';
import { lanczos } from '../../../server/src/engine/lanczos';
import { readNpy } from '../../../server/src/formats/npy';
import { readSafetensors } from '../../../server/src/formats/safetensors';
import { fixtureOperator, flattenTheta, relativeError, root } from '../../support/fixtures';

const fixtures = existsSync(root) ? readdirSync(root).filter((d) => existsSync(join(root, d, 'reference.json'))) : [];

async function theta(dir: string, file: string, op: { parameters: readonly { name: string; offset: number; size: number }[]; parameterCount: number }) {
  return flattenTheta((await readSafetensors(join(dir, file))).tensors as never, op.parameters, op.parameterCount);
}

function norm(v: Float64Array): number {
  return Math.sqrt(v.reduce((a, x) => a + x * x, 0));
}

test('every fixture commits the defence references these tests read', () => {
  assert.ok(fixtures.length >= 6, `fixtures: ${fixtures}`);
});

for (const name of fixtures) {
  test(`${name}: prune, quantize and top-k δ computed from PyTorch's g equal PyTorch's δ; clipping δ from our per-example gradients`, async () => {
    const dir = join(root, name);
    const { ref, op } = await fixtureOperator(dir);
    try {
      const d = ref.defences;
      // From the reference's own float64 g: the defence's semantics alone (quantile, ties, rounding) are compared.
      const g = await theta(dir, 'g.safetensors', op);
      const cases: [string, Float64Array][] = [
        ['prune', prune(g, d.prune.ratio)],
        ['prune90', prune(g, d.prune90.ratio)],
        ['quantize', quantize(g, d.quantize.bits, op.parameters)],
        ['topk', topK(g, d.topk.ratio)],
      ];
      assert.ok(Math.abs(norm(g) - ref.gNorm) <= 1e-12 * ref.gNorm, `${name} ‖g‖ ${norm(g)} vs ${ref.gNorm}`);
      for (const [key, defended] of cases) {
        const ours = defended.map((v, i) => v - g[i]);
        if (d[key].zeroed !== undefined) {
          // PyTorch's count: entries strictly below the threshold (already-zero ones included), and its threshold
          const threshold = quantile(Float64Array.from(g, Math.abs), d[key].ratio);
          assert.ok(Math.abs(threshold - d[key].threshold) <= 1e-12 * Math.max(d[key].threshold, 1e-300), `${name} ${key}: threshold ${threshold} vs ${d[key].threshold}`);
          assert.equal(g.reduce((a, v) => a + (Math.abs(v) < threshold ? 1 : 0), 0), d[key].zeroed, `${name} ${key}: entries zeroed`);
        }
        const theirs = await theta(dir, d[key].file, op);
        // (lenet5_pool: half of g is exactly 0 behind ReLU and max-pooling, so its 50% quantile is 0 and nothing is pruned)
        const off = norm(theirs) > 0 ? relativeError(ours, theirs) : norm(ours);
        assert.ok(off <= 1e-12, `${name} ${key}: δ off by ${off}`);
        assert.ok(Math.abs(norm(ours) - d[key].deltaNorm) <= 1e-12 * d[key].deltaNorm, `${name} ${key}: ‖δ‖ ${norm(ours)} vs ${d[key].deltaNorm}`);
      }
      // Clipping needs per-example gradients: ours (float32 products) against PyTorch's norms and δ.
      const examples = await op.exampleGradients();
      const norms = examples.map(norm);
      norms.forEach((n, i) => assert.ok(Math.abs(n - d.dpsgdClip.perExampleNorms[i]) <= 1e-5 * n, `${name} ‖g_${i}‖ ${n} vs ${d.dpsgdClip.perExampleNorms[i]}`));
      const clip = clippingBias(examples, d.dpsgdClip.clipNorm);
      const theirs = await theta(dir, d.dpsgdClip.file, op);
      assert.ok(relativeError(clip, theirs) <= 1e-5, `${name} clipping δ off by ${relativeError(clip, theirs)}`);
      assert.ok(Math.abs(norm(clip) - d.dpsgdClip.deltaNorm) <= 1e-5 * d.dpsgdClip.deltaNorm);
    } finally {
      await op.dispose();
    }
  });
}

// The defence δ through the whole analysis: ‖J δ‖, I_lb and the undamped I²F of each δ against PyTorch's dense
// pseudo-inverse (the MLP: κ 4.7, every solve is short).
test('MLP: ‖Jδ‖, the lower bound and the undamped I²F of every defence δ match PyTorch', async () => {
  const dir = join(root, 'mlp');
  const { ref, op } = await fixtureOperator(dir);
  try {
    for (const key of ['prune', 'prune90', 'quantize', 'topk', 'dpsgdClip']) {
      const r = ref.defences[key];
      const delta = await theta(dir, r.file, op);
      const a = await analyzeInfluence(op, { delta, batchSize: ref.batch, productRoundoff: 2 ** -24 });
      assert.ok(a.solver.converged, `${key}: not converged`);
      assert.ok(Math.abs(a.jDeltaNorm - r.jDeltaNorm) <= 1e-4 * r.jDeltaNorm, `${key}: ‖Jδ‖ ${a.jDeltaNorm} vs ${r.jDeltaNorm}`);
      assert.ok(Math.abs(a.lowerBound - r.lowerBound) <= 1e-3 * r.lowerBound, `${key}: I_lb ${a.lowerBound} vs ${r.lowerBound}`);
      assert.ok(Math.abs(a.i2f - r.i2f) <= 1e-3 * r.i2f, `${key}: I²F ${a.i2f} vs ${r.i2f}`);
      assert.ok(a.i2f <= r.upperBound * (1 + 1e-9) && a.lowerBound <= a.i2f, `${key}: I_lb ≤ I²F ≤ ‖Jδ‖/λmin`);
    }
  } finally {
    await op.dispose();
  }
});

// The whole spectrum by Lanczos on the float64 products (d_x steps: the Krylov space is all of x), against the
// dense eigendecomposition: top and bottom 20, λmin on the range, the condition number and the numerical rank.
// (vit_tiny's float64 products differ from PyTorch's by ~5e-9, pytorchReference.test.ts, which puts its null space
// above the 1e-10·λmax rank tolerance, and 768 steps take a minute here: its undamped I²F is checked below instead.)
for (const name of ['mlp', 'smooth_cnn']) {
  test(`${name}: the complete Lanczos spectrum matches PyTorch's top 20, bottom 20, λmin, condition and rank`, async () => {
    const dir = join(root, name);
    const { ref, op } = await fixtureOperator(dir);
    try {
      const n = op.inputSize;
      assert.ok(op.precise, 'float64 products');
      const r = await lanczos((v, o) => op.precise!.gramVector(v, o), n, { steps: n, seed: 3 });
      const s = ref.spectrum;
      const lmax = r.values[0];
      assert.ok(Math.abs(lmax - s.lambdaMax) <= 1e-9 * s.lambdaMax, `λmax ${lmax} vs ${s.lambdaMax}`);
      (s.top20 as number[]).forEach((l, i) => assert.ok(Math.abs(r.values[i] - l) <= 1e-8 * s.lambdaMax, `top ${i}: ${r.values[i]} vs ${l}`));
      // The rank at PyTorch's tolerance (eigenvalues > 1e-10·λmax): the zero eigenvalues come out at rounding level.
      const rank = r.values.filter((l) => l > 1e-10 * lmax).length;
      assert.equal(rank, s.rank, `${name}: rank ${rank} vs ${s.rank} (${s.rankTolerance})`);
      const onRange = r.values.slice(0, rank);
      const lmin = onRange[rank - 1];
      assert.ok(Math.abs(lmin - s.lambdaMin) <= 1e-6 * s.lambdaMax, `λmin ${lmin} vs ${s.lambdaMin}`);
      assert.ok(Math.abs(lmax / lmin - s.condition) <= 1e-3 * s.condition, `condition ${lmax / lmin} vs ${s.condition}`);
      const bottom = [...onRange].reverse().slice(0, 20);
      (s.bottom20 as number[]).forEach((l, i) => assert.ok(Math.abs(bottom[i] - l) <= 1e-6 * s.lambdaMax, `bottom ${i}: ${bottom[i]} vs ${l}`));
      // The raw bottom: PyTorch's null eigenvalues are at rounding level, and Lanczos sees a repeated eigenvalue once
      // (a Krylov space holds one direction per distinct eigenvalue): its smallest value is at the same level.
      const asc = [...r.values].reverse();
      assert.ok(Math.abs(asc[0] - s.lambdaMinRaw) <= 1e-9 * s.lambdaMax, `raw λmin ${asc[0]} vs ${s.lambdaMinRaw}`);
      assert.ok(Math.abs(asc[0] - (s.bottom20Raw as number[])[0]) <= 1e-9 * s.lambdaMax);
      // Every eigenvalue of eigenvalues.npy on the range, one by one.
      const all = Array.from((await readNpy(join(dir, ref.files.eigenvalues))).data as Float64Array).sort((a, b) => b - a);
      assert.equal(all.length, n);
      all.slice(0, rank).forEach((l, i) => assert.ok(Math.abs(onRange[i] - l) <= 1e-8 * s.lambdaMax, `eigenvalue ${i}: ${onRange[i]} vs ${l}`));
      assert.ok(all.slice(rank).every((l) => Math.abs(l) <= 1e-10 * s.lambdaMax), 'PyTorch\'s null space');
    } finally {
      await op.dispose();
    }
  });
}

// E‖I(δ)‖ for δ ~ N(0, std²I): √(std²·Σ 1/λ) undamped, √(std²·Σ λ/(λ+ε)²) damped. MLP: the closed form from our
// complete spectrum; DLG LeNet (d_x 3 072): the Hutchinson estimate, within three of its standard errors.
test('MLP: the expected I²F of Gaussian noise (closed form from the complete spectrum) matches PyTorch, undamped and damped', async () => {
  const dir = join(root, 'mlp');
  const { ref, op } = await fixtureOperator(dir);
  try {
    const e = ref.expectedI2F;
    const base = { defences: [{ kind: 'gaussian' as const, std: e.std }], batchSize: ref.batch, productRoundoff: 2 ** -24, spectrumK: 5, spectrumSteps: op.inputSize };
    const u = await analyzeInfluence(op, base);
    assert.equal(u.noise.traceMethod, 'closed-form');
    assert.ok(Math.abs(u.i2fExpected - e.undamped) <= 1e-4 * e.undamped, `undamped ${u.i2fExpected} vs ${e.undamped}`);
    for (const d of e.damped as { eps: number; i2f: number }[]) {
      const r = await analyzeInfluence(op, { ...base, damping: d.eps });
      assert.ok(Math.abs(r.i2fExpected - d.i2f) <= 1e-4 * d.i2f, `ε=${d.eps}: ${r.i2fExpected} vs ${d.i2f}`);
    }
  } finally {
    await op.dispose();
  }
});

test('DLG LeNet: the expected I²F of Gaussian noise (Hutchinson, 4 draws) is within 3 standard errors of PyTorch', async () => {
  const dir = join(root, 'dlg_lenet');
  const { ref, op } = await fixtureOperator(dir);
  try {
    const e = ref.expectedI2F;
    // Damped with the reference's ε = 1e-4·λmax: the same estimator at a fraction of the undamped solves' cost.
    const d = (e.damped as { eps: number; i2f: number }[])[0];
    const r = await analyzeInfluence(op, { defences: [{ kind: 'gaussian', std: e.std }], batchSize: ref.batch, productRoundoff: 2 ** -24, damping: d.eps, traceSamples: 4 });
    assert.equal(r.noise.traceMethod, 'hutchinson');
    const se = r.i2fExpectedStdError;
    assert.ok(se > 0 && se < 0.2 * r.i2fExpected, `standard error ${se}`);
    assert.ok(Math.abs(r.i2fExpected - d.i2f) <= 3 * se + 1e-3 * d.i2f, `ε=${d.eps}: ${r.i2fExpected} ± ${se} vs ${d.i2f}`);
  } finally {
    await op.dispose();
  }
});

// The two fixtures whose undamped I²F no other test solved: ResNet-8 (ReLU, BatchNorm, residual Add; κ 4.7e5) and
// the tiny ViT (LayerNorm, GELU, attention; singular, rank 735 of 768).
for (const name of ['resnet8', 'vit_tiny']) {
  test(`${name}: the undamped I²F of the fixture δ matches PyTorch's pseudo-inverse to 1e-2`, async () => {
    const dir = join(root, name);
    const { ref, op } = await fixtureOperator(dir);
    try {
      const delta = await theta(dir, ref.delta.file, op);
      const r = await analyzeInfluence(op, { delta, batchSize: ref.batch, productRoundoff: 2 ** -24 });
      assert.ok(r.solver.converged, `${name}: residual ${r.solver.relativeResidual} after ${r.solver.iterations} iterations`);
      assert.ok(Math.abs(r.i2f - ref.delta.i2f) <= 1e-2 * ref.delta.i2f, `${name}: I²F ${r.i2f} vs ${ref.delta.i2f}`);
      assert.ok(Math.abs(r.lowerBound - ref.delta.lowerBound) <= 1e-3 * ref.delta.lowerBound, `${name}: I_lb ${r.lowerBound} vs ${ref.delta.lowerBound}`);
    } finally {
      await op.dispose();
    }
  });
}

// The randomized Nyström preconditioner (nystrom.ts, preconditioner.ts) and preconditioned CG (cg.ts, refine.ts)
// against dense truths with known spectra (denseOperator.ts: J = U Σ Vᵀ, seeded), and analyzeInfluence's default
// path that builds the sketch once and reuses it.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SolveBudget } from '../../../server/src/engine/budget';
import { conjugateGradient } from '../../../server/src/engine/cg';
import { analyzeInfluence } from '../../../server/src/engine/influence';
import { dot } from '../../../server/src/engine/linalg';
import { NYSTROM_BUDGET_SHARE, nystromPreconditioner } from '../../../server/src/engine/nystrom';
import { autoAcceleration, NYSTROM_AUTO_LARGE_INPUT, SpectralPreconditioner } from '../../../server/src/engine/preconditioner';
import { Random } from '../../../server/src/engine/random';
import { reliableUpdateCG } from '../../../server/src/engine/refine';
import type { SymmetricProduct } from '../../../server/src/engine/solve';
import { symmetricEigen } from '../../../server/src/engine/symmetricEigen';
import { DenseInversionOperator, denseJacobian, exactInfluence, geometricSpectrum, orthonormalColumns } from './denseOperator';
import { relativeError } from './helpers';

/** dlg_lenet-like: a slowly decaying top (20/(1 + i/3)) above a geometric tail down to 20/κ. */
function lenetLikeSpectrum(n: number, kappa: number, topCount: number): number[] {
  const top = Array.from({ length: topCount }, (_, i) => 20 / (1 + i / 3));
  const last = top[topCount - 1] * 0.9;
  return [...top, ...geometricSpectrum(n - topCount, last, (kappa * last) / 20)];
}

describe('symmetricEigen', () => {
  it('recovers the eigenpairs of Q diag(λ) Qᵀ (repeated and negative eigenvalues included)', () => {
    const k = 40;
    const q = orthonormalColumns(k, k, 3);
    const lambdas = Array.from({ length: k }, (_, i) => (i < 3 ? 5 : 4 - i * 0.2)); // 5 three times, down to −3.8
    const a = new Float64Array(k * k);
    for (let t = 0; t < k; t++) for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) a[i * k + j] += lambdas[t] * q[t][i] * q[t][j];
    const { values, vectors } = symmetricEigen(a, k);
    for (let i = 0; i < k; i++) assert.ok(Math.abs(values[i] - lambdas[i]) < 1e-12, `λ_${i}: ${values[i]} vs ${lambdas[i]}`);
    for (let i = 3; i < k; i++) { // simple eigenvalues: the vector up to sign
      const v = vectors.subarray(i * k, (i + 1) * k);
      assert.ok(Math.abs(Math.abs(dot(Float64Array.from(v), q[i])) - 1) < 1e-10, `vector ${i}`);
    }
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += vectors[i * k + t] * vectors[j * k + t];
      assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-12);
    }
  });
});

describe('SpectralPreconditioner', () => {
  it('maps the top k eigenvalues of A + μI to λ_k + μ and leaves the others', () => {
    const n = 30, k = 5, mu = 0.01;
    const u = orthonormalColumns(n, n, 9);
    const lambdas = geometricSpectrum(n, 10, 1e4);
    const p = new SpectralPreconditioner(u.slice(0, k), Float64Array.from(lambdas.slice(0, k)), mu);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      // P⁻¹ (A + μI) u_i = (λ_i + μ)·P⁻¹ u_i
      const x = u[i].map((v) => v * (lambdas[i] + mu));
      p.apply(x, out);
      const expected = i < k ? lambdas[k - 1] + mu : lambdas[i] + mu;
      assert.ok(relativeError(out, u[i].map((v) => v * expected)) < 1e-12, `eigenvalue ${i}`);
    }
    assert.throws(() => new SpectralPreconditioner(u.slice(0, 2), Float64Array.of(1, 2), 0), /descending/);
    assert.throws(() => new SpectralPreconditioner(u.slice(0, 1), Float64Array.of(0), 0), /> 0/);
  });
});

describe('nystromPreconditioner', () => {
  it('is exact on a J Jᵀ of rank ≤ ℓ (exact products): eigenvalues and subspace', async () => {
    const n = 60, r = 8;
    const lambdas = [...geometricSpectrum(r, 50, 100), ...new Array(n - r).fill(0)];
    const jac = denseJacobian(n, 80, lambdas, 5);
    const op = new DenseInversionOperator(jac);
    const s = await nystromPreconditioner(op, n, { rank: 12, seed: 1 });
    assert.equal(s.products, 12);
    assert.equal(op.counts.gramVector, 12);
    assert.equal(s.preconditioner.rank, r, 'the zero eigenvalues are not flattened');
    for (let i = 0; i < r; i++) assert.ok(Math.abs(s.eigenvalues[i] - lambdas[i]) < 1e-9 * lambdas[0], `λ̂_${i} ${s.eigenvalues[i]} vs ${lambdas[i]}`);
    for (let i = 0; i < r; i++) { // every u_i lies in span(top r), and they are orthonormal
      const ui = s.preconditioner.vectors[i];
      let inSpan = 0;
      for (let t = 0; t < r; t++) inSpan += dot(ui, jac.u[t]) ** 2;
      assert.ok(Math.abs(inSpan - 1) < 1e-10, `u_${i} in span: ${inSpan}`);
      for (let j = 0; j <= i; j++) assert.ok(Math.abs(dot(ui, s.preconditioner.vectors[j]) - (i === j ? 1 : 0)) < 1e-10);
    }
  });

  it('never overestimates the spectrum (Â ⪯ A) and pins its top on a decaying spectrum', async () => {
    const n = 200;
    const lambdas = geometricSpectrum(n, 20, 1e6);
    const op = new DenseInversionOperator(denseJacobian(n, 240, lambdas, 7), { float32: true });
    const s = await nystromPreconditioner(op, n, { rank: 60, seed: 2, productRoundoff: 2 ** -24 });
    for (let i = 0; i < s.preconditioner.rank; i++) assert.ok(s.eigenvalues[i] <= lambdas[i] * (1 + 1e-5), `λ̂_${i} ${s.eigenvalues[i]} > λ_${i} ${lambdas[i]}`);
    // Single-pass Nyström on a slow decay (7% per eigenvalue): the top within 2%, the first 20 within 10%.
    assert.ok(s.eigenvalues[0] >= 0.98 * lambdas[0], `λ̂_0 ${s.eigenvalues[0]} vs ${lambdas[0]}`);
    for (let i = 0; i < 20; i++) assert.ok(s.eigenvalues[i] >= 0.9 * lambdas[i], `top λ̂_${i} ${s.eigenvalues[i]} vs ${lambdas[i]}`);
  });

  it('builds the same preconditioner with the SIMD kernels and the JS loops (blockKernels.ts), to rounding', async () => {
    const n = 301; // columns past a multiple of 8 and past one kernel chunk
    const op = new DenseInversionOperator(denseJacobian(n, 320, lenetLikeSpectrum(n, 1e6, 40), 31), { float32: true });
    const [simd, js] = [await nystromPreconditioner(op, n, { rank: 45, seed: 6, productRoundoff: 2 ** -24 }), await nystromPreconditioner(op, n, { rank: 45, seed: 6, productRoundoff: 2 ** -24, simd: false })];
    assert.equal(simd.preconditioner.rank, js.preconditioner.rank);
    assert.ok(simd.preconditioner.rank > 30, `kept ${simd.preconditioner.rank}`);
    assert.equal(simd.stabilisingShift, js.stabilisingShift);
    for (let i = 0; i < simd.preconditioner.rank; i++) assert.ok(Math.abs(simd.eigenvalues[i] - js.eigenvalues[i]) <= 1e-12 * simd.eigenvalues[0], `λ̂_${i}`);
    const r = new Random(12).fillNormal(new Float64Array(n));
    const a = new Float64Array(n), b = new Float64Array(n);
    simd.preconditioner.apply(r, a);
    js.preconditioner.apply(r, b);
    assert.ok(relativeError(a, b) < 1e-11, `P⁻¹ r differs by ${relativeError(a, b)}`);
  });

  it('takes its products through the block product (gramVectors) in chunks of maxBlock', async () => {
    const n = 50;
    const dense = new DenseInversionOperator(denseJacobian(n, 60, geometricSpectrum(n, 1, 1e3), 11));
    const calls: number[] = [];
    const op = {
      maxBlock: 4,
      gramVector: async () => { throw new Error('single products should not be used'); },
      gramVectors: async (vs: readonly Float64Array[], outs: readonly Float64Array[]) => {
        calls.push(vs.length);
        for (let i = 0; i < vs.length; i++) await dense.gramVector(vs[i], outs[i]);
      },
    };
    const s = await nystromPreconditioner(op, n, { rank: 10, seed: 3 });
    assert.deepEqual(calls, [4, 4, 2]);
    assert.equal(s.products, 10);
  });

  it('stops sketching when the budget is spent and builds from the columns done (still a valid preconditioner)', async () => {
    const n = 80;
    const dense = new DenseInversionOperator(denseJacobian(n, 100, geometricSpectrum(n, 5, 1e4), 13));
    let now = 0;
    const budget = new SolveBudget(1, () => now);
    const op = { gramVector: async (v: Float64Array, o: Float64Array) => { now += 300; await dense.gramVector(v, o); } };
    const s = await nystromPreconditioner(op, n, { rank: 30, seed: 4, block: 1, budget });
    assert.equal(s.products, 4, '4 products of 0.3 s in a 1 s budget (checked before each block, after the first)');
    assert.ok(s.preconditioner.rank > 0 && s.preconditioner.rank <= 4);
  });
});

describe('the sketch within a budget', () => {
  it('takes at most its share of the budget left, at the product time measured on its own blocks', async () => {
    const n = 80;
    const dense = new DenseInversionOperator(denseJacobian(n, 100, geometricSpectrum(n, 5, 1e4), 13));
    let now = 0;
    const budget = new SolveBudget(100, () => now);
    now = 20_000; // 80 s left when the sketch starts: 0.4 × 80 = 32 s, at 1 s per product
    const op = { gramVector: async (v: Float64Array, o: Float64Array) => { now += 1000; await dense.gramVector(v, o); } };
    const s = await nystromPreconditioner(op, n, { rank: 60, seed: 4, block: 3, budget, budgetShare: NYSTROM_BUDGET_SHARE });
    assert.equal(s.products, 30, 'blocks of 3 while the next one fits 32 s: 30 products, not the 60 asked for');
    assert.ok(!budget.exhausted && budget.remainingSeconds === 50, 'the rest of the budget is left to the solve');
    assert.ok(s.preconditioner.rank > 0 && s.preconditioner.rank <= 30);
    // Without a share, the budget only stops it when spent; a rank that fits is not cut.
    now = 0;
    const all = await nystromPreconditioner(op, n, { rank: 20, seed: 4, block: 3, budget: new SolveBudget(100, () => now), budgetShare: NYSTROM_BUDGET_SHARE });
    assert.equal(all.products, 20);
  });

  it('leaves most of a small budget to the solve in the analysis (the sketch built from the first iteration)', async () => {
    const n = 120;
    const jac = denseJacobian(n, 160, lenetLikeSpectrum(n, 1e6, 40), 21);
    const dense = new DenseInversionOperator(jac);
    let now = 0;
    const slow = Object.assign(Object.create(dense) as DenseInversionOperator, {
      gramVector: async (v: Float64Array, o: Float64Array) => { now += 100; await dense.gramVector(v, o); },
    });
    const delta = new Random(3).fillNormal(new Float64Array(160));
    const r = await analyzeInfluence(slow, { delta, preconditioner: 'nystrom', nystromAfter: 0, nystromRank: 60, solveBudgetSeconds: 5, clock: () => now, lanczosSteps: 5 });
    const sketch = r.solver.solves[0].nystrom!;
    // 5 s at 0.1 s per product: the sketch's 0.4 × 5 s = 2 s fit 20 products, taken in blocks of 8 (the dense
    // operator has no maxBlock): 16, as a third block would end at 2.4 s; the rest iterates.
    assert.equal(sketch.sketchProducts, 16);
    assert.ok(r.solver.solves[0].iterations > 0);
  });
});

describe('preconditioned CG', () => {
  it('converges to the dense truth in far fewer iterations than plain CG, sketch included (float64 products)', async () => {
    const n = 240;
    const jac = denseJacobian(n, 300, lenetLikeSpectrum(n, 1e7, 80), 17);
    const op = new DenseInversionOperator(jac);
    const delta = new Random(2).fillNormal(new Float64Array(300));
    const b = new Float64Array(n);
    await op.jacobianVector(delta, b);
    const a: SymmetricProduct = (v, o) => op.gramVector(v, o);
    const plain = await conjugateGradient(a, b, { tolerance: 1e-10 });
    const s = await nystromPreconditioner(op, n, { rank: 100, seed: 5 });
    const r = await conjugateGradient(a, b, { tolerance: 1e-10, preconditioner: s.preconditioner });
    assert.equal(r.converged, true);
    assert.ok(r.relativeResidual <= 1e-10, `true residual ${r.relativeResidual}`);
    const truth = exactInfluence(jac, delta);
    assert.ok(relativeError(r.solution, truth) < 1e-5, `solution error ${relativeError(r.solution, truth)}`);
    assert.ok(r.iterations < 0.5 * plain.iterations, `preconditioned ${r.iterations} vs plain ${plain.iterations}`);
    assert.ok(r.products + s.products < plain.products, `preconditioned ${r.products} + sketch ${s.products} vs plain ${plain.products}`);
  });

  it('float32 sketch and products with float64 reliable updates: the pseudo-inverse solution of a singular J Jᵀ', async () => {
    const n = 140;
    const lambdas = [...lenetLikeSpectrum(110, 1e6, 40), ...new Array(30).fill(0)];
    const jac = denseJacobian(n, 200, lambdas, 23);
    const op = new DenseInversionOperator(jac, { float32: true, precise: true });
    const delta = new Random(6).fillNormal(new Float64Array(200));
    const b = new Float64Array(n);
    await op.precise!.jacobianVector(delta, b);
    const low: SymmetricProduct = (v, o) => op.gramVector(v, o);
    const high: SymmetricProduct = (v, o) => op.precise!.gramVector(v, o);
    const plain = await reliableUpdateCG(low, high, b, { tolerance: 1e-9 });
    const s = await nystromPreconditioner(op, n, { rank: 50, seed: 7, productRoundoff: 2 ** -24 });
    assert.ok(s.preconditioner.rank <= 110, 'nothing flattened in the null space');
    const r = await reliableUpdateCG(low, high, b, { tolerance: 1e-9, preconditioner: s.preconditioner });
    assert.equal(r.converged, true, `residual ${r.relativeResidual}`);
    const truth = exactInfluence(jac, delta);
    const err = relativeError(r.solution, truth);
    assert.ok(err < 1e-5, `solution error ${err}`);
    let nullSq = 0;
    for (let k = 110; k < n; k++) nullSq += dot(jac.u[k], r.solution) ** 2;
    assert.ok(Math.sqrt(nullSq / dot(r.solution, r.solution)) < 1e-5, `null-space part ${Math.sqrt(nullSq / dot(r.solution, r.solution))}`);
    assert.ok(r.refinement.lowProducts < 0.5 * plain.refinement.lowProducts, `preconditioned ${r.refinement.lowProducts} vs plain ${plain.refinement.lowProducts}`);
  });

  it('serves the damped system (J Jᵀ + εI) z = b with shift μ = ε', async () => {
    const n = 120, eps = 1e-3;
    const jac = denseJacobian(n, 150, geometricSpectrum(n, 10, 1e8), 29);
    const op = new DenseInversionOperator(jac);
    const delta = new Random(8).fillNormal(new Float64Array(150));
    const b = new Float64Array(n);
    await op.jacobianVector(delta, b);
    const a: SymmetricProduct = (v, o) => op.gramVector(v, o);
    const s = await nystromPreconditioner(op, n, { rank: 40, seed: 9, shift: eps });
    assert.equal(s.preconditioner.shift, eps);
    const plain = await conjugateGradient(a, b, { tolerance: 1e-10, damping: eps });
    const r = await conjugateGradient(a, b, { tolerance: 1e-10, damping: eps, preconditioner: s.preconditioner });
    assert.equal(r.converged, true);
    const truth = exactInfluence(jac, delta, eps);
    assert.ok(relativeError(r.solution, truth) < 1e-8, `solution error ${relativeError(r.solution, truth)}`);
    assert.ok(r.iterations < plain.iterations, `${r.iterations} vs ${plain.iterations}`);
  });

  it('refuses a preconditioner and a deflation space together', async () => {
    const p = new SpectralPreconditioner([Float64Array.of(1, 0)], Float64Array.of(1), 0);
    const { DeflationSpace } = await import('../../../server/src/engine/deflation');
    const w = DeflationSpace.fromVectors([Float64Array.of(1, 0)], [Float64Array.of(1, 0)]);
    const a: SymmetricProduct = async (v, o) => { o.set(v); };
    await assert.rejects(conjugateGradient(a, Float64Array.of(1, 1), { preconditioner: p, deflation: w }), /not supported/);
  });
});

describe('analyzeInfluence with the Nyström preconditioner', () => {
  const n = 120;
  const jac = denseJacobian(n, 200, lenetLikeSpectrum(n, 1e6, 40), 41);
  const gradient = new Random(8).fillNormal(new Float64Array(200));
  const delta = new Random(4).fillNormal(new Float64Array(200));
  const base = {
    delta, tolerance: 1e-8, productRoundoff: 2 ** -24, defences: [{ kind: 'gaussian' as const, std: 1e-3 }], traceSamples: 2,
    preconditioner: 'nystrom' as const, nystromRank: 40, nystromAfter: 30,
  };

  it('sketches once after nystromAfter plain iterations, reuses it in the noise and trace solves, same I²F as plain', async () => {
    const op = new DenseInversionOperator(jac, { float32: true, precise: true, gradient });
    const r = await analyzeInfluence(op, base);
    const [det, ...rest] = r.solver.solves;
    assert.equal(r.solver.converged, true);
    assert.ok(det.nystrom?.builtHere, 'built in the deterministic solve');
    assert.equal(det.nystrom.fromIteration, 30);
    assert.equal(det.nystrom.sketchProducts, 40);
    assert.equal(det.deflation, undefined);
    assert.ok(rest.length >= 2);
    for (const s of rest) assert.equal(s.nystrom?.builtHere, false, `${s.purpose} reuses it`);
    for (const s of r.solver.solves) assert.ok(s.relativeResidual <= 1e-8);
    // Every float32 product is accounted for: the solves', the sketch's and λmax's.
    const solveLow = r.solver.solves.reduce((a, s) => a + s.refinement!.lowProducts, 0);
    assert.equal(op.counts.gramVector, solveLow + 40 + r.lambdaMax.steps);
    const truth = Math.hypot(...exactInfluence(jac, delta));
    assert.ok(Math.abs(r.cache.influenceDeterministic!.reduce((a, x) => a + x * x, 0) ** 0.5 - truth) / truth < 1e-6);

    const off = await analyzeInfluence(new DenseInversionOperator(jac, { float32: true, precise: true, gradient }), { ...base, preconditioner: 'none' });
    for (const s of off.solver.solves) assert.equal(s.nystrom, undefined);
    assert.ok(Math.abs(off.i2f - r.i2f) / r.i2f < 1e-6, `${off.i2f} vs ${r.i2f}`);
    const products = (x: typeof r) => x.solver.solves.reduce((a, s) => a + s.products + (s.nystrom?.builtHere ? s.nystrom.sketchProducts : 0), 0);
    assert.ok(products(r) < products(off), `preconditioned ${products(r)} vs plain ${products(off)} products`);
  });

  it('does not sketch for a solve that converges within nystromAfter iterations', async () => {
    const op = new DenseInversionOperator(denseJacobian(40, 60, geometricSpectrum(40, 1, 10), 3), { float32: true, precise: true, gradient: gradient.subarray(0, 60) });
    const r = await analyzeInfluence(op, { delta: delta.subarray(0, 60), tolerance: 1e-8, preconditioner: 'nystrom', nystromRank: 20, nystromAfter: 30 });
    assert.equal(r.solver.converged, true);
    assert.equal(r.solver.solves[0].nystrom, undefined);
  });

  it('preconditions float32-only solves too (a preconditioner only has to be SPD): what the default (auto) picks there', async () => {
    // Deflation needs float64 residuals (influence.ts): without precise products 'auto' has only the sketch.
    const op = new DenseInversionOperator(jac, { float32: true, gradient });
    const r = await analyzeInfluence(op, { delta, tolerance: 1e-5, productRoundoff: 2 ** -24, nystromRank: 40, nystromAfter: 0 });
    const [s] = r.solver.solves;
    assert.equal(s.precision, 'products');
    assert.equal(s.converged, true, `residual ${s.relativeResidual}`);
    assert.equal(s.nystrom?.fromIteration, 0);
    const truth = Math.hypot(...exactInfluence(jac, delta));
    assert.ok(Math.abs(r.i2f - truth) / truth < 1e-3, `${r.i2f} vs ${truth}`);
  });
});

describe('the Nyström preconditioner on a real model', () => {
  it('converges every solve on the examples LeNet (images 0 and 1, Gaussian defence), where deflation needed its fixes', async () => {
    // Deflated, these solves first stalled at 4e-3 (image 1) and 3.2e-5 (image 0) until refine.ts forced replacements
    // and the stagnation fallback (deflation.test.ts); preconditioning needs neither.
    const { OnnxModel } = await import('../../../server/src/backends/onnx/onnxModel');
    const { loadSamples, argmaxRows, oneHot } = await import('../../../server/src/analysis/inputs');
    const { join } = await import('node:path');
    const examples = join(__dirname, '../../../examples');
    const model = await OnnxModel.open(join(examples, 'models/lenet.onnx'));
    for (const image of ['0_disc.png', '1_triangle.png']) {
      const { data: x } = await loadSamples(model, join(examples, 'data/images', image), 1, 0);
      const pred = await model.predict(x, 1);
      const op = model.operator({ batch: 1, input: x, target: oneHot(argmaxRows(pred.logits, 1), pred.logits.length), loss: 'cross-entropy' });
      try {
        const r = await analyzeInfluence(op, { defences: [{ kind: 'gaussian', std: 1e-3 }], productRoundoff: 2 ** -24, traceSamples: 1, preconditioner: 'nystrom' });
        const [first, ...rest] = r.solver.solves;
        assert.ok(first.nystrom?.builtHere, `${image}: the solve is long enough to precondition`);
        assert.equal(first.nystrom.abandonedAt, undefined, `${image}: the preconditioned solve did not stagnate`);
        for (const s of rest) assert.equal(s.nystrom?.builtHere, false);
        for (const s of r.solver.solves) {
          assert.equal(s.converged, true, `${image} ${s.purpose}: residual ${s.relativeResidual} after ${s.iterations} iterations`);
          assert.ok(s.relativeResidual <= 1e-6);
        }
        assert.notEqual(r.risk, 'uncertain');
      } finally {
        await op.dispose();
      }
    }
  });
});

describe("what 'auto' accelerates with (preconditioner.ts autoAcceleration)", () => {
  it('takes the sketch from NYSTROM_AUTO_LARGE_INPUT, or for large models, and deflates small inputs', () => {
    assert.equal(autoAcceleration(3 * 32 * 32, 19_438), 'deflation', 'the examples LeNet, one picture');
    assert.equal(autoAcceleration(2 * 3 * 32 * 32, 62_006), 'deflation', 'lenet5_pool, d_x 6 144');
    assert.equal(autoAcceleration(4 * 3 * 32 * 32, 19_438), 'nystrom', 'the examples LeNet, four pictures');
    assert.equal(autoAcceleration(3 * 32 * 32, 11_173_962), 'nystrom', 'ResNet-18 CIFAR');
    assert.equal(autoAcceleration(576, 11_173_962), 'deflation', 'a small input deflates whatever the model');
    assert.equal(autoAcceleration(NYSTROM_AUTO_LARGE_INPUT - 1, 1000), 'deflation');
    assert.equal(autoAcceleration(NYSTROM_AUTO_LARGE_INPUT, 1000), 'nystrom');
  });

  it('on the examples LeNet at batch 4 (d_x 12 288), the default sketches and gets further than deflation in the same iterations', async () => {
    // The verdict sweep's LeNet batch-4 noise solves: deflated they ran into the 20 000-iteration cap (true residual
    // 1.7e-6), preconditioned they converge in ~10 500 (bench/FINDINGS.md). Here the first 600 iterations of each.
    const { openRun } = await import('../../../server/src/analysis/analyzeModel');
    const { argmaxRows, oneHot } = await import('../../../server/src/analysis/inputs');
    const { join } = await import('node:path');
    const examples = join(__dirname, '../../../examples');
    const run = await openRun({ model: join(examples, 'models/lenet.onnx'), data: join(examples, 'data/images'), batch: 4, maxSamples: 4, seed: 0, defences: [] });
    const x = run.samples.data.subarray(0, 4 * run.per);
    const pred = await run.model.predict(x, 4);
    const op = run.model.operator({ batch: 4, input: x, target: oneHot(argmaxRows(pred.logits, 4), pred.logits.length / 4), loss: 'cross-entropy' });
    try {
      const opts = { defences: [{ kind: 'gaussian' as const, std: 1e-4 }], productRoundoff: 2 ** -24, traceSamples: 1, batchSize: 4, maxIterations: 600 };
      const auto = (await analyzeInfluence(op, opts)).solver.solves[0];
      const deflated = (await analyzeInfluence(op, { ...opts, preconditioner: 'deflation' })).solver.solves[0];
      assert.equal(auto.deflation, undefined);
      assert.equal(auto.nystrom?.rank, 400);
      assert.equal(auto.nystrom.fromIteration, 100);
      assert.ok(deflated.deflation?.builtHere, 'the deflated run did deflate');
      assert.equal(auto.iterations, 600);
      assert.equal(deflated.iterations, 600);
      assert.ok(auto.relativeResidual < 0.6 * deflated.relativeResidual, `residual after 600 iterations: sketch ${auto.relativeResidual}, deflation ${deflated.relativeResidual}`);
    } finally {
      await op.dispose();
    }
  });
});

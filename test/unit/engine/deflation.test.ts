// Deflated mixed-precision CG (deflation.ts + refine.ts) against dense truths on small SPD systems with κ 1e6–1e8,
// and analyzeInfluence building the deflation space once and reusing it across its solves.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DeflationSpace } from '../../../server/src/engine/deflation';
import { conjugateGradient } from '../../../server/src/engine/cg';
import { analyzeInfluence } from '../../../server/src/engine/influence';
import { dot } from '../../../server/src/engine/linalg';
import { Random } from '../../../server/src/engine/random';
import { reliableUpdateCG } from '../../../server/src/engine/refine';
import type { SymmetricProduct } from '../../../server/src/engine/solve';
import { DenseInversionOperator, denseJacobian, exactInfluence, geometricSpectrum } from './denseOperator';
import { relativeError } from './helpers';

async function system(lambdas: number[], dtheta: number, seed = 21) {
  const jac = denseJacobian(lambdas.length, dtheta, lambdas, seed);
  const op = new DenseInversionOperator(jac, { float32: true, precise: true });
  const delta = new Random(5).fillNormal(new Float64Array(dtheta));
  const b = new Float64Array(lambdas.length);
  await op.precise!.jacobianVector(delta, b);
  const low: SymmetricProduct = (v, o) => op.gramVector(v, o);
  const high: SymmetricProduct = (v, o) => op.precise!.gramVector(v, o);
  return { jac, op, delta, b, low, high };
}

/** A slowly decaying top (20/(1 + i/3), like dlg_lenet's J Jᵀ) above a geometric tail down to λmax/κ. */
function lenetLikeSpectrum(n: number, kappa: number, topCount = 40): number[] {
  const top = Array.from({ length: topCount }, (_, i) => 20 / (1 + i / 3));
  const last = top[topCount - 1] * 0.9;
  return [...top, ...geometricSpectrum(n - topCount, last, (kappa * last) / 20)];
}

describe('deflated CG with float32 products and float64 reliable updates', () => {
  it('reaches 1e-9 at κ = 1e7 with far fewer products than without deflation, build included', async () => {
    // Measured: 7 303 float32 products plain (d_x 120: conjugacy is long lost), 2 531 + 90 deflated.
    const { jac, delta, b, low, high } = await system(lenetLikeSpectrum(120, 1e7), 240);
    const plain = await reliableUpdateCG(low, high, b, { tolerance: 1e-9 });
    const space = await DeflationSpace.build(low, 120, { vectors: 30, steps: 60, seed: 3 });
    assert.ok(space && space.size >= 10 && space.size <= 30, `the converged ones of the top 30 Ritz pairs: ${space?.size}`);
    assert.equal(space.buildProducts, 60 + 2 * space.size);
    const r = await reliableUpdateCG(low, high, b, { tolerance: 1e-9, deflation: space });
    assert.equal(r.converged, true);
    assert.ok(r.relativeResidual <= 1e-9, `residual ${r.relativeResidual}`);
    const truth = exactInfluence(jac, delta);
    assert.ok(relativeError(r.solution, truth) < 1e-5, `solution error ${relativeError(r.solution, truth)}`);
    assert.ok(relativeError(plain.solution, truth) < 1e-5);
    const cost = r.refinement.lowProducts + space.buildProducts;
    assert.ok(cost < 0.7 * plain.refinement.lowProducts, `deflated ${r.refinement.lowProducts} + build ${space.buildProducts} vs plain ${plain.refinement.lowProducts}`);
  });

  it('is exact on the span of W: b there is solved without an iteration', async () => {
    const lambdas = geometricSpectrum(80, 16, 1e8);
    const { jac, high } = await system(lambdas, 160);
    const k = 6;
    const w = jac.u.slice(0, k);
    const aw = w.map((u, i) => u.map((x) => x * lambdas[i]));
    const space = DeflationSpace.fromVectors(w, aw);
    const b = new Float64Array(80);
    for (let i = 0; i < k; i++) for (let j = 0; j < 80; j++) b[j] += (i + 1) * w[i][j];
    const r = await reliableUpdateCG(async () => { throw new Error('no fast product should be needed'); }, high, b, { tolerance: 1e-12, deflation: space });
    assert.equal(r.converged, true);
    assert.equal(r.iterations, 0);
    const truth = new Float64Array(80);
    for (let i = 0; i < k; i++) for (let j = 0; j < 80; j++) truth[j] += ((i + 1) / lambdas[i]) * w[i][j];
    assert.ok(relativeError(r.solution, truth) < 1e-12, `${relativeError(r.solution, truth)}`);
  });

  it('keeps the pseudo-inverse solution on a singular J Jᵀ (κ 1e6 on the range)', async () => {
    const lambdas = [...lenetLikeSpectrum(100, 1e6), ...new Array(20).fill(0)];
    const { jac, delta, b, low, high } = await system(lambdas, 240);
    const space = await DeflationSpace.build(low, 120, { vectors: 30, steps: 60, seed: 1 });
    const r = await reliableUpdateCG(low, high, b, { tolerance: 1e-9, deflation: space! });
    assert.equal(r.converged, true, `residual ${r.relativeResidual}`);
    // Measured before W was purified into range(A) (deflation.ts): 2.6e-5 off, all of it in the null space.
    const err = relativeError(r.solution, exactInfluence(jac, delta));
    assert.ok(err < 1e-5, `solution error ${err}`);
    let nullSq = 0;
    for (let k = 100; k < 120; k++) nullSq += dot(jac.u[k], r.solution) ** 2;
    assert.ok(Math.sqrt(nullSq / dot(r.solution, r.solution)) < 1e-5, `null-space part ${Math.sqrt(nullSq / dot(r.solution, r.solution))}`);
  });

  it('continues a stopped solve from its iterate (start) to the same answer', async () => {
    const { jac, delta, b, low, high } = await system(geometricSpectrum(100, 10, 1e6), 200);
    const first = await reliableUpdateCG(low, high, b, { tolerance: 1e-9, maxIterations: 50 });
    assert.equal(first.converged, false);
    const space = await DeflationSpace.build(low, 100, { vectors: 10, steps: 30 });
    const rest = await reliableUpdateCG(low, high, b, { tolerance: 1e-9, start: first.solution, deflation: space! });
    assert.equal(rest.converged, true);
    assert.ok(rest.relativeResidual <= 1e-9);
    assert.ok(relativeError(rest.solution, exactInfluence(jac, delta)) < 1e-5);
    // A start that already solves the system costs one precise product and no iteration.
    const again = await reliableUpdateCG(low, high, b, { tolerance: 1e-9, start: rest.solution });
    assert.equal(again.iterations, 0);
    assert.equal(again.refinement.highProducts, 1);
    assert.equal(again.relativeResidual, rest.relativeResidual);
  });

  it('deflates only converged Ritz pairs', async () => {
    const { low } = await system(lenetLikeSpectrum(120, 1e7), 240);
    const space = await DeflationSpace.build(low, 120, { vectors: 40, steps: 30, seed: 3 });
    assert.ok(space && space.size < 30, `30 steps cannot converge 30 pairs: ${space?.size}`);
  });

  it('refuses a W whose Wᵀ A W is not positive definite', () => {
    const w = [Float64Array.of(1, 0), Float64Array.of(0, 1)];
    assert.throws(() => DeflationSpace.fromVectors(w, [Float64Array.of(1, 0), Float64Array.of(0, 0)]), /not positive definite/);
  });
});

describe('deflated CG on exact (float64) products', () => {
  it('converges to 1e-10 at κ = 1e8 in fewer products than plain CG, build included, exact on span W', async () => {
    const jac = denseJacobian(120, 240, lenetLikeSpectrum(120, 1e8), 17);
    const op = new DenseInversionOperator(jac);
    const delta = new Random(2).fillNormal(new Float64Array(240));
    const b = new Float64Array(120);
    await op.jacobianVector(delta, b);
    const a: SymmetricProduct = (v, o) => op.gramVector(v, o);
    const plain = await conjugateGradient(a, b, { tolerance: 1e-10 });
    const space = await DeflationSpace.build(a, 120, { vectors: 30, steps: 60, seed: 4 });
    const r = await conjugateGradient(a, b, { tolerance: 1e-10, deflation: space! });
    assert.equal(r.converged, true);
    assert.ok(r.relativeResidual <= 1e-10, `residual ${r.relativeResidual}`);
    const truth = exactInfluence(jac, delta);
    assert.ok(relativeError(r.solution, truth) < 1e-4, `solution error ${relativeError(r.solution, truth)}`);
    assert.ok(r.products + space!.buildProducts < plain.products, `deflated ${r.products} + ${space!.buildProducts} vs plain ${plain.products}`);
    // Continued from a start: the same answer.
    const half = await conjugateGradient(a, b, { tolerance: 1e-10, maxIterations: 40 });
    const rest = await conjugateGradient(a, b, { tolerance: 1e-10, start: half.solution, deflation: space! });
    assert.equal(rest.converged, true);
    assert.ok(relativeError(rest.solution, truth) < 1e-4);
  });
});

describe('analyzeInfluence with deflation', () => {
  const lambdas = lenetLikeSpectrum(100, 1e6, 30);
  const jac = denseJacobian(100, 200, lambdas, 41);
  const gradient = new Random(8).fillNormal(new Float64Array(200));
  const delta = new Random(4).fillNormal(new Float64Array(200));
  const base = {
    delta, tolerance: 1e-8, productRoundoff: 2 ** -24, defences: [{ kind: 'gaussian' as const, std: 1e-3 }], traceSamples: 2,
    deflationSteps: 40, deflation: 20,
  };

  it('builds the space once in the first long solve and reuses it in the noise and trace solves', async () => {
    const op = new DenseInversionOperator(jac, { float32: true, precise: true, gradient });
    const r = await analyzeInfluence(op, base);
    const [det, ...rest] = r.solver.solves;
    assert.equal(r.solver.converged, true);
    assert.ok(det.deflation?.builtHere, 'built in the deterministic solve');
    assert.equal(det.deflation.fromIteration, 80, 'after DEFLATION_TRIGGER_FACTOR × steps plain iterations');
    const k = det.deflation.vectors;
    assert.ok(k >= 5 && k <= 20, `converged Ritz pairs among the top 20: ${k}`);
    assert.equal(det.deflation.buildProducts, 40 + 2 * k);
    assert.ok(rest.length >= 2);
    for (const s of rest) assert.equal(s.deflation?.builtHere, false, `${s.purpose} reuses it`);
    for (const s of r.solver.solves) assert.ok(s.relativeResidual <= 1e-8);
    // Every fast product is accounted for: the solves' own plus the one build.
    // (the build: 40 Lanczos and k A W products on float32, k purifications on float64)
    const solveLow = r.solver.solves.reduce((a, s) => a + s.refinement!.lowProducts, 0);
    const solveHigh = r.solver.solves.reduce((a, s) => a + s.refinement!.highProducts, 0);
    assert.equal(op.counts.gramVector, solveLow + det.deflation.buildProducts - k + r.lambdaMax.steps);
    assert.equal(op.counts.preciseGramVector, solveHigh + k);
    const truth = exactInfluence(jac, delta);
    assert.ok(Math.abs(r.cache.influenceDeterministic!.reduce((a, x) => a + x * x, 0) ** 0.5 - Math.hypot(...truth)) / Math.hypot(...truth) < 1e-6);

    const off = await analyzeInfluence(new DenseInversionOperator(jac, { float32: true, precise: true, gradient }), { ...base, deflation: 0 });
    for (const s of off.solver.solves) assert.equal(s.deflation, undefined);
    assert.ok(Math.abs(off.i2f - r.i2f) / r.i2f < 1e-6, `${off.i2f} vs ${r.i2f}`);
    const products = (x: typeof r) => x.solver.solves.reduce((a, s) => a + s.products + (s.deflation?.builtHere ? s.deflation.buildProducts : 0), 0);
    assert.ok(products(r) < products(off), `deflated ${products(r)} vs plain ${products(off)} products`);
  });

  it('takes the Ritz vectors of the spectrum when the analysis computed one (no second Lanczos run)', async () => {
    const op = new DenseInversionOperator(jac, { float32: true, precise: true, gradient });
    const r = await analyzeInfluence(op, { delta, tolerance: 1e-8, productRoundoff: 2 ** -24, spectrumK: 5, spectrumSteps: 40, deflation: 20 });
    const [s] = r.solver.solves;
    assert.equal(s.converged, true);
    const k = s.deflation!.vectors;
    assert.deepEqual({ steps: s.deflation?.lanczosSteps, products: s.deflation?.buildProducts }, { steps: 0, products: 2 * k });
    assert.equal(op.counts.gramVector, s.refinement!.lowProducts + k + r.lambdaMax.steps + r.spectrum!.steps);
    const truth = Math.hypot(...exactInfluence(jac, delta));
    assert.ok(Math.abs(r.i2f - truth) / truth < 1e-6, `${r.i2f} vs ${truth}`);
  });

  it('deflates the solves of an operator with exact products and no precise ones, never float32-only ones', async () => {
    const op = new DenseInversionOperator(jac, { gradient });
    const r = await analyzeInfluence(op, { delta, tolerance: 1e-9, deflationSteps: 40, deflation: 20 });
    const [s] = r.solver.solves;
    assert.equal(s.precision, 'products');
    assert.equal(s.converged, true);
    assert.ok(s.deflation?.builtHere);
    const truth = Math.hypot(...exactInfluence(jac, delta));
    assert.ok(Math.abs(r.i2f - truth) / truth < 1e-5, `${r.i2f} vs ${truth}`);
    // float32 products without float64 residuals (measured on dlg_lenet: deflated, the solve stalled at 1.6e-4)
    const f32 = await analyzeInfluence(new DenseInversionOperator(jac, { float32: true, gradient }), {
      delta, tolerance: 1e-9, productRoundoff: 2 ** -24, deflationSteps: 40, deflation: 20,
    });
    assert.equal(f32.solver.solves[0].deflation, undefined);
  });

  it('never builds it for a well-conditioned system that converges before the trigger', async () => {
    const easy = denseJacobian(60, 120, geometricSpectrum(60, 8, 10), 3);
    const op = new DenseInversionOperator(easy, { float32: true, precise: true, gradient: gradient.subarray(0, 120) });
    const r = await analyzeInfluence(op, { delta: delta.subarray(0, 120), tolerance: 1e-8, preconditioner: 'deflation' });
    assert.equal(r.solver.converged, true);
    assert.equal(r.solver.solves[0].deflation, undefined);
    assert.ok(r.solver.solves[0].iterations < 80);
  });
});

describe('deflated mixed-precision CG on a real model', () => {
  it('converges on the examples LeNet where float32 rounding pins W-components in the recurrence residual', async () => {
    // Before the forced replacements (refine.ts DEFLATED_UPDATE_EVERY): 20 000 iterations, true residual 4.2e-3;
    // plain mixed-precision CG: 8 642 iterations to 1e-6.
    const { OnnxModel } = await import('../../../server/src/backends/onnx/onnxModel');
    const { loadSamples, argmaxRows, oneHot } = await import('../../../server/src/analysis/inputs');
    const { join } = await import('node:path');
    const examples = join(__dirname, '../../../examples');
    const model = await OnnxModel.open(join(examples, 'models/lenet.onnx'));
    const { data: x } = await loadSamples(model, join(examples, 'data/images/1_triangle.png'), 1, 0);
    const pred = await model.predict(x, 1);
    const op = model.operator({ batch: 1, input: x, target: oneHot(argmaxRows(pred.logits, 1), pred.logits.length), loss: 'cross-entropy' });
    try {
      const r = await analyzeInfluence(op, { defences: [{ kind: 'gaussian', std: 1e-3 }], productRoundoff: 2 ** -24, traceSamples: 1, preconditioner: 'deflation' });
      const [s] = r.solver.solves;
      assert.ok(s.deflation?.builtHere, 'the solve is long enough to deflate');
      assert.equal(s.converged, true, `residual ${s.relativeResidual} after ${s.iterations} iterations`);
      assert.ok(s.relativeResidual <= 1e-6);
      assert.notEqual(r.risk, 'uncertain');
    } finally {
      await op.dispose();
    }
  });

  it('finishes without deflation when the deflated solve stagnates (examples LeNet, image 0)', async () => {
    // Before the fallback: stagnated at 3.2e-5 after 5 000 iterations, risk 'uncertain'.
    const { OnnxModel } = await import('../../../server/src/backends/onnx/onnxModel');
    const { loadSamples, argmaxRows, oneHot } = await import('../../../server/src/analysis/inputs');
    const { join } = await import('node:path');
    const examples = join(__dirname, '../../../examples');
    const model = await OnnxModel.open(join(examples, 'models/lenet.onnx'));
    const { data: x } = await loadSamples(model, join(examples, 'data/images/0_disc.png'), 1, 0);
    const pred = await model.predict(x, 1);
    const op = model.operator({ batch: 1, input: x, target: oneHot(argmaxRows(pred.logits, 1), pred.logits.length), loss: 'cross-entropy' });
    try {
      const r = await analyzeInfluence(op, { defences: [{ kind: 'gaussian', std: 1e-3 }], productRoundoff: 2 ** -24, traceSamples: 1, preconditioner: 'deflation' });
      for (const s of r.solver.solves) assert.equal(s.converged, true, `${s.purpose}: residual ${s.relativeResidual} after ${s.iterations} iterations`);
      assert.notEqual(r.risk, 'uncertain');
    } finally {
      await op.dispose();
    }
  });
});

// Mixed-precision solves: float32-rounded products with float64 residuals (reliable updates) against dense truths,
// and analyzeInfluence choosing them whenever the operator offers precise products.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conjugateGradient } from '../../../server/src/engine/cg';
import { analyzeInfluence } from '../../../server/src/engine/influence';
import { Random } from '../../../server/src/engine/random';
import { reliableUpdateCG } from '../../../server/src/engine/refine';
import type { SymmetricProduct } from '../../../server/src/engine/solve';
import { choleskySolve, DenseInversionOperator, denseJacobian, exactInfluence, geometricSpectrum } from './denseOperator';
import { relativeError } from './helpers';

async function system(lambdas: number[], dtheta: number, seed = 11) {
  const jac = denseJacobian(lambdas.length, dtheta, lambdas, seed);
  const op = new DenseInversionOperator(jac, { float32: true, precise: true });
  const delta = new Random(5).fillNormal(new Float64Array(dtheta));
  const b = new Float64Array(lambdas.length);
  await op.precise!.jacobianVector(delta, b);
  const low: SymmetricProduct = (v, o) => op.gramVector(v, o);
  const high: SymmetricProduct = (v, o) => op.precise!.gramVector(v, o);
  return { jac, op, delta, b, low, high };
}

const kappa1e6 = geometricSpectrum(80, 16, 1e6);
const singular = [...geometricSpectrum(60, 16, 1e5), ...new Array(20).fill(0)];

describe('CG with float32 products and float64 reliable updates', () => {
  it('reaches a float64 true residual of 1e-9 at κ = 1e6, where float32 CG stalls near 1e-5', async () => {
    const { jac, op, delta, b, low, high } = await system(kappa1e6, 160);
    const plain = await conjugateGradient(low, b, { tolerance: 1e-9, productRoundoff: 2 ** -24, operatorNorm: 16 });
    assert.ok(plain.relativeResidual > 1e-7, `float32 CG floor ${plain.relativeResidual}`);
    const before = { ...op.counts };
    const r = await reliableUpdateCG(low, high, b, { tolerance: 1e-9 });
    assert.equal(r.converged, true);
    assert.equal(r.stopReason, 'converged');
    assert.ok(r.relativeResidual <= 1e-9, `residual ${r.relativeResidual}`);
    const truth = exactInfluence(jac, delta);
    assert.ok(relativeError(r.solution, truth) < 1e-5, `solution error ${relativeError(r.solution, truth)}`);
    assert.ok(relativeError(r.solution, truth) < relativeError(plain.solution, truth) / 10, 'far better than float32 CG');
    // Bookkeeping.
    assert.equal(r.refinement.lowProducts, op.counts.gramVector - before.gramVector);
    assert.equal(r.refinement.highProducts, op.counts.preciseGramVector - before.preciseGramVector);
    assert.equal(r.refinement.innerIterations.reduce((a, x) => a + x, 0), r.iterations);
    assert.equal(r.products, r.refinement.lowProducts + r.refinement.highProducts);
    assert.equal(r.refinement.residualHistory.at(-1), r.relativeResidual);
  });

  it('needs about one float64 product per decade of residual while the float32 products pay (u·κ ≪ 1)', async () => {
    const { jac, op, delta, b, low, high } = await system(geometricSpectrum(80, 16, 1e4), 160);
    const r = await reliableUpdateCG(low, high, b, { tolerance: 1e-9 });
    assert.equal(r.converged, true);
    assert.equal(r.refinement.switchedToPreciseAt, null);
    assert.equal(r.refinement.outerIterations, op.counts.preciseGramVector);
    assert.ok(r.refinement.highProducts <= 20, `about one float64 product per decade: ${r.refinement.highProducts}`);
    assert.ok(relativeError(r.solution, exactInfluence(jac, delta)) < 1e-7);
  });

  it('converges to the pseudo-inverse solution on a singular J Jᵀ (no null-space growth)', async () => {
    const { jac, delta, b, low, high } = await system(singular, 120);
    const r = await reliableUpdateCG(low, high, b, { tolerance: 1e-9 });
    assert.equal(r.converged, true);
    assert.ok(relativeError(r.solution, exactInfluence(jac, delta)) < 1e-5, `${relativeError(r.solution, exactInfluence(jac, delta))}`);
    let nullNorm = 0;
    for (let k = 60; k < 80; k++) {
      let c = 0;
      for (let i = 0; i < 80; i++) c += jac.u[k][i] * r.solution[i];
      nullNorm += c * c;
    }
    let zNorm = 0;
    for (const zi of r.solution) zNorm += zi * zi;
    assert.ok(Math.sqrt(nullNorm / zNorm) < 1e-5, `null-space part ${Math.sqrt(nullNorm / zNorm)}`);
  });

  it('gives the float32 products up for the float64 ones when they stagnate (u·κ ≳ 1)', async () => {
    const { jac, op, delta, b, low, high } = await system(geometricSpectrum(80, 16, 3e8), 160);
    const r = await reliableUpdateCG(low, high, b, { tolerance: 1e-8, maxIterations: 10000 });
    assert.equal(r.converged, true, `residual ${r.relativeResidual}`);
    assert.ok(r.refinement.switchedToPreciseAt !== null && r.refinement.switchedToPreciseAt > 0);
    assert.equal(r.refinement.lowProducts, op.counts.gramVector);
    assert.equal(r.refinement.highProducts, op.counts.preciseGramVector);
    assert.ok(r.refinement.highProducts > r.refinement.outerIterations, 'CG iterations on float64 products after the switch');
    assert.ok(relativeError(r.solution, exactInfluence(jac, delta)) < 1e-3);
    // Never switch: the same system on float32 products with updates only.
    const stay = await reliableUpdateCG(low, high, b, { tolerance: 1e-8, maxIterations: 3000, switchToPrecise: false });
    assert.equal(stay.refinement.switchedToPreciseAt, null);
    assert.ok(stay.relativeResidual > 1e-6, `float32 segments alone stall: ${stay.relativeResidual}`);
  });

  it('solves the damped system like a Cholesky factorisation', async () => {
    const { jac, b, low, high } = await system(kappa1e6, 160);
    const r = await reliableUpdateCG(low, high, b, { damping: 1e-3, tolerance: 1e-11 });
    assert.equal(r.converged, true);
    assert.ok(relativeError(r.solution, choleskySolve(jac, b, 1e-3)) < 1e-9);
  });

  it('reports an unconverged solve as such when the budget runs out', async () => {
    const { b, low, high } = await system(kappa1e6, 160);
    const r = await reliableUpdateCG(low, high, b, { tolerance: 1e-9, maxIterations: 30 });
    assert.equal(r.converged, false);
    assert.equal(r.stopReason, 'max-iterations');
    assert.equal(r.limitedByPrecision, false);
    assert.ok(r.relativeResidual > 1e-9);
    assert.equal(r.iterations, 30);
  });

  it('answers b = 0 with z = 0 and no product', async () => {
    const { op, low, high } = await system(kappa1e6, 160);
    const r = await reliableUpdateCG(low, high, new Float64Array(80));
    assert.equal(r.converged, true);
    assert.equal(r.products, 0);
    assert.equal(op.counts.preciseGramVector + op.counts.gramVector, 0);
  });

  it('stops when aborted', async () => {
    const { b, low, high } = await system(kappa1e6, 160);
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(reliableUpdateCG(low, high, b, { signal: ac.signal }), { name: 'AbortError' });
  });
});

describe('analyzeInfluence with precise products', () => {
  const lambdas = geometricSpectrum(60, 8, 3e6);
  const jac = denseJacobian(60, 120, lambdas, 31);
  const gradient = new Random(8).fillNormal(new Float64Array(120));

  it('refines in mixed precision: float64 right-hand sides and residuals, converged to the tolerance', async () => {
    const op = new DenseInversionOperator(jac, { float32: true, precise: true, gradient });
    const delta = new Random(4).fillNormal(new Float64Array(120));
    const r = await analyzeInfluence(op, { delta, tolerance: 1e-8, productRoundoff: 2 ** -24 });
    const [s] = r.solver.solves;
    assert.equal(s.precision, 'mixed');
    assert.ok(s.refinement && s.refinement.highProducts > 0);
    assert.equal(s.converged, true);
    assert.equal(s.limitedByPrecision, false);
    assert.ok(s.relativeResidual <= 1e-8);
    assert.equal(op.counts.preciseJacobianVector, 1, 'b = J δ from the precise product');
    const truth = exactInfluence(jac, delta);
    assert.ok(Math.abs(r.i2f - Math.hypot(...truth)) / Math.hypot(...truth) < 1e-6);
    assert.notEqual(r.risk, 'uncertain');

    // The same analysis on float32 products alone stops at their floor, far from the truth in comparison.
    const plain = await analyzeInfluence(new DenseInversionOperator(jac, { float32: true, gradient }), { delta, tolerance: 1e-8, productRoundoff: 2 ** -24 });
    assert.equal(plain.solver.solves[0].precision, 'products');
    assert.ok(plain.solver.relativeResidual > s.relativeResidual * 10);
  });

  it('can be switched off, and an unconverged refinement makes the risk uncertain', async () => {
    const delta = new Random(4).fillNormal(new Float64Array(120));
    const off = await analyzeInfluence(new DenseInversionOperator(jac, { float32: true, precise: true, gradient }), { delta, refine: false });
    assert.equal(off.solver.solves[0].precision, 'products');
    const short = await analyzeInfluence(new DenseInversionOperator(jac, { float32: true, precise: true, gradient }), { delta, maxIterations: 20, productRoundoff: 2 ** -24 });
    assert.equal(short.solver.converged, false);
    assert.equal(short.risk, 'uncertain');
  });
});

// CG and MINRES on (J Jᵀ + εI) z = J δ against dense truths: factor-built pseudo-inverse and Cholesky.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conjugateGradient } from '../../../server/src/engine/cg';
import { minres } from '../../../server/src/engine/minres';
import { Random } from '../../../server/src/engine/random';
import type { SymmetricProduct } from '../../../server/src/engine/solve';
import { choleskySolve, DenseInversionOperator, denseJacobian, exactInfluence, geometricSpectrum } from './denseOperator';
import { relativeError } from './helpers';

async function system(lambdas: number[], dtheta: number, float32 = false) {
  const jac = denseJacobian(lambdas.length, dtheta, lambdas, 11);
  const op = new DenseInversionOperator(jac, { float32 });
  const delta = new Random(5).fillNormal(new Float64Array(dtheta));
  const b = new Float64Array(lambdas.length);
  await op.jacobianVector(delta, b);
  const gram: SymmetricProduct = (v, o) => op.gramVector(v, o);
  return { jac, op, delta, b, gram };
}

const kappa1e6 = geometricSpectrum(80, 16, 1e6);
const singular = [...geometricSpectrum(60, 16, 1e5), ...new Array(20).fill(0)];

for (const [name, solver] of [['CG', conjugateGradient], ['MINRES', minres]] as const) {
  describe(`${name} on the influence system`, () => {
    it('reaches a true relative residual of 1e-6 at κ = 1e6 and matches the dense solution', async () => {
      const { jac, delta, b, gram } = await system(kappa1e6, 160);
      const r = await solver(gram, b, { tolerance: 1e-6 });
      assert.equal(r.converged, true);
      assert.ok(r.relativeResidual <= 1e-6, `residual ${r.relativeResidual}`);
      assert.ok(r.iterations > 80, 'conjugacy is lost: more iterations than d_x, as I2F.md measured');
      assert.ok(relativeError(r.solution, exactInfluence(jac, delta)) < (name === 'CG' ? 1e-3 : 1e-2));
    });

    it('converges to the pseudo-inverse solution on a singular J Jᵀ', async () => {
      const { jac, delta, b, gram } = await system(singular, 120);
      const r = await solver(gram, b, { tolerance: 1e-8 });
      assert.equal(r.converged, true);
      assert.ok(relativeError(r.solution, exactInfluence(jac, delta)) < 1e-4);
      // min-norm: no component in the null space of J Jᵀ
      for (let k = 60; k < 80; k++) {
        let c = 0;
        for (let i = 0; i < 80; i++) c += jac.u[k][i] * r.solution[i];
        assert.ok(Math.abs(c) < 1e-8, `null-space component ${c}`);
      }
    });

    it('solves the damped system like a Cholesky factorisation of J Jᵀ + εI', async () => {
      const { jac, b, gram } = await system(kappa1e6, 160);
      const r = await solver(gram, b, { damping: 1e-3, tolerance: 1e-10 });
      assert.equal(r.damping, 1e-3);
      assert.ok(r.iterations < 400, `ε bounds κ by 1.6e4: ${r.iterations}`);
      assert.ok(relativeError(r.solution, choleskySolve(jac, b, 1e-3)) < 1e-8);
    });

    it('stops at the float32 product floor and says so when told the products are float32', async () => {
      const { jac, delta, b, gram } = await system(kappa1e6, 160, true);
      const r = await solver(gram, b, { tolerance: 1e-9, productRoundoff: 2 ** -24, operatorNorm: 16 });
      assert.equal(r.converged, true);
      assert.equal(r.limitedByPrecision, true);
      assert.ok(r.relativeResidual > 1e-9 && r.relativeResidual <= r.attainableResidual);
      assert.ok(relativeError(r.solution, exactInfluence(jac, delta)) < 0.05);
    });

    it('reports non-convergence when the iteration budget is too small', async () => {
      const { b, gram } = await system(kappa1e6, 160);
      const r = await solver(gram, b, { maxIterations: 10 });
      assert.equal(r.converged, false);
      assert.equal(r.stopReason, 'max-iterations');
      assert.ok(r.relativeResidual > 1e-6);
    });

    it('stops the solve when the AbortSignal fires', async () => {
      const { op, b, gram } = await system(kappa1e6, 160);
      const controller = new AbortController();
      const before = op.counts.gramVector;
      await assert.rejects(
        solver(gram, b, { signal: controller.signal, onProgress: (i) => { if (i === 10) controller.abort(); } }),
        (e: Error) => e.name === 'AbortError',
      );
      assert.ok(op.counts.gramVector - before <= 12, `products after abort: ${op.counts.gramVector - before}`);
    });

    it('returns zero at once for a zero right-hand side (δ = 0)', async () => {
      const r = await solver(async () => { throw new Error('no product expected'); }, new Float64Array(5));
      assert.deepEqual([...r.solution], [0, 0, 0, 0, 0]);
      assert.equal(r.converged, true);
      assert.equal(r.relativeResidual, 0);
    });
  });
}

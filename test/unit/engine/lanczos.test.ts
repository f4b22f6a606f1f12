// Lanczos with full re-orthogonalisation against spectra built into dense J, and the tridiagonal eigen-solver.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { extremeSpectrum, lambdaMax, lanczos } from '../../../server/src/engine/lanczos';
import { tridiagonalEigen } from '../../../server/src/engine/tridiagonal';
import { DenseInversionOperator, denseJacobian, geometricSpectrum } from './denseOperator';
import { assertClose } from './helpers';

describe('tridiagonal eigen-solver', () => {
  it('finds the eigenvalues 2 − 2cos(kπ/(n+1)) of the 1-D Laplacian with orthonormal vectors', () => {
    const n = 12;
    const { values, vectors } = tridiagonalEigen(new Array(n).fill(2), new Array(n - 1).fill(-1), n);
    for (let k = 1; k <= n; k++) assertClose(values[k - 1], 2 - 2 * Math.cos((k * Math.PI) / (n + 1)), 1e-13, `λ${k}`);
    for (let a = 0; a < n; a++)
      for (let b = 0; b < n; b++) {
        let d = 0;
        for (let j = 0; j < n; j++) d += vectors[a * n + j] * vectors[b * n + j];
        assert.ok(Math.abs(d - (a === b ? 1 : 0)) < 1e-13);
      }
  });
});

describe('Lanczos on J Jᵀ', () => {
  const lambdas = [16.3, 9, 5, ...geometricSpectrum(117, 3, 1e5)];
  const op = new DenseInversionOperator(denseJacobian(120, 200, lambdas, 3));

  it('finds λmax to 1e-10 within the default 20 steps', async () => {
    const r = await lambdaMax(op);
    assert.ok(r.steps <= 20);
    assert.equal(r.converged, true);
    assertClose(r.value, 16.3, 1e-10, 'λmax');
    assert.ok(Math.abs(r.value - 16.3) <= r.residual + 1e-12, 'the residual bounds the error');
  });

  it('finds the top three eigenvalues with small Ritz residuals and matching Ritz vectors', async () => {
    const r = await lanczos((v, o) => op.gramVector(v, o), 120, { steps: 60, seed: 1, ritzVectors: 3 });
    [16.3, 9, 5].forEach((l, i) => assertClose(r.values[i], l, 1e-10, `λ${i + 1}`));
    for (let i = 0; i < 3; i++) {
      // ‖A y − θ y‖ matches the reported residual bound
      const ay = new Float64Array(120);
      await op.gramVector(r.vectors[i], ay);
      let res = 0;
      for (let j = 0; j < 120; j++) res += (ay[j] - r.values[i] * r.vectors[i][j]) ** 2;
      assert.ok(Math.sqrt(res) <= 10 * r.residuals[i] + 1e-10, `pair ${i}: ${Math.sqrt(res)} vs ${r.residuals[i]}`);
    }
  });

  it('recovers the whole spectrum, λmin included, after d_x steps', async () => {
    const s = await extremeSpectrum(op, 3, { steps: 120 });
    assert.equal(s.complete, true);
    assert.equal(s.steps, 120);
    const sorted = lambdas.slice().sort((a, b) => a - b);
    s.bottom.forEach((l, i) => assertClose(l, sorted[i], 1e-6, `bottom ${i}`));
    s.top.forEach((l, i) => assertClose(l, lambdas[i], 1e-12, `top ${i}`));
  });

  it('says through its residuals that λmin is not trustworthy after few steps', async () => {
    const s = await extremeSpectrum(op, 1, { steps: 30 });
    assert.equal(s.complete, false);
    const lmin = 3e-5;
    assert.ok(s.bottom[0] > 2 * lmin, `30 steps overestimate λmin: ${s.bottom[0]}`);
    assert.ok(s.bottomResiduals[0] > s.bottom[0] * 1e-3, 'and the residual says so');
    assert.ok(s.topResiduals[0] < 1e-8);
  });

  it('is deterministic for a seed', async () => {
    const a = await lanczos((v, o) => op.gramVector(v, o), 120, { steps: 10, seed: 9 });
    const b = await lanczos((v, o) => op.gramVector(v, o), 120, { steps: 10, seed: 9 });
    assert.deepEqual(a.values, b.values);
  });
});

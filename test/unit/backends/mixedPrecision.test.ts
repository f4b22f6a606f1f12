// The undamped I²F by mixed-precision CG (float32 products, float64 right-hand side and reliable updates) on the
// singular fixtures, against the PyTorch float64 pseudo-inverse I²F: where float32 CG alone stalls at a true
// residual of ~3e-6…4e-6 (lenet5_pool then reads 'uncertain'), the mixed solve converges to 1e-6 in float64.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeInfluence } from '../../../server/src/engine/influence';
import { norm } from '../../../server/src/engine/linalg';
import { readSafetensors } from '../../../server/src/formats/safetensors';
import { fixtureOperator, flattenTheta, root } from '../../support/fixtures';

for (const [name, agreement] of [['lenet5_pool', 1e-6], ['smooth_cnn', 1e-4], ['mlp', 1e-8]] as const) {
  test(`${name}: mixed-precision undamped I²F converges in float64 and matches PyTorch to ${agreement}`, { skip: !existsSync(join(root, name, 'reference.json')) }, async () => {
    const dir = join(root, name);
    const { ref, op } = await fixtureOperator(dir);
    try {
      const delta = flattenTheta((await readSafetensors(join(dir, 'delta.safetensors'))).tensors as never, op.parameters, op.parameterCount);
      const r = await analyzeInfluence(op, { delta, batchSize: ref.batch, productRoundoff: 2 ** -24 });
      const [s] = r.solver.solves;
      assert.equal(s.precision, 'mixed');
      assert.equal(s.converged, true, `residual ${s.relativeResidual} after ${s.iterations} iterations`);
      assert.equal(s.limitedByPrecision, false);
      assert.ok(s.relativeResidual <= 1e-6);
      assert.notEqual(r.risk, 'uncertain');
      // The reported residual is the float64 truth of the returned I(δ).
      const b = new Float64Array(op.inputSize);
      const az = new Float64Array(op.inputSize);
      await op.precise!.jacobianVector(delta, b);
      await op.precise!.gramVector(r.cache.influenceDeterministic!, az);
      const truth = norm(b.map((bi, i) => bi - az[i])) / norm(b);
      assert.ok(Math.abs(truth - s.relativeResidual) <= 1e-3 * s.relativeResidual, `reported ${s.relativeResidual}, float64 truth ${truth}`);
      const off = Math.abs(r.i2f - ref.delta.i2f) / ref.delta.i2f;
      assert.ok(off <= agreement, `I²F ${r.i2f} vs PyTorch ${ref.delta.i2f}: ${off}`);
    } finally {
      await op.dispose();
    }
  });
}

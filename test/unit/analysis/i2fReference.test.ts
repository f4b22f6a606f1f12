// The whole analysis (λmax, I_lb, damped and undamped I²F) against PyTorch float64 references computed from the
// dense J Jᵀ of each fixture (tools/fixtures/generate.py), with the fixture's own δ. Agreement required by the
// engine issue: λmax ≤ 1e-4, I_lb ≤ 1e-3, I²F ≤ 1e-3 damped and ≤ 1e-2 undamped, including the DLG LeNet at
// U(−0.5, 0.5) initialisation (κ(J Jᵀ) ≈ 1.2e7).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyzeInfluence } from '../../../server/src/engine/influence';
import { readSafetensors } from '../../../server/src/formats/safetensors';
import { fixtureOperator, flattenTheta } from '../../support/fixtures';

const root = join(__dirname, '../../fixtures/models');

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

async function check(name: string, opts: { undamped: boolean }) {
  const dir = join(root, name);
  const { ref, op } = await fixtureOperator(dir);
  try {
    const delta = flattenTheta((await readSafetensors(join(dir, ref.delta.file))).tensors as never, op.parameters, op.parameterCount);
    const base = { delta, seed: 1, batchSize: ref.batch, productRoundoff: 2 ** -24 };
    for (const damped of ref.delta.i2fDamped as { eps: number; i2f: number }[]) {
      const r = await analyzeInfluence(op, { ...base, damping: damped.eps });
      assert.ok(r.solver.converged, `${name} ε=${damped.eps}: solve did not converge (${r.solver.relativeResidual})`);
      assert.ok(rel(r.lambdaMax.value, ref.spectrum.lambdaMax) <= 1e-4, `${name} λmax ${r.lambdaMax.value} vs ${ref.spectrum.lambdaMax}`);
      // Damped, the bound divides by the top of J Jᵀ + εI: ‖Jδ‖/(λmax + ε) (the reference's is ‖Jδ‖/λmax).
      const bound = (ref.delta.lowerBound * ref.spectrum.lambdaMax) / (ref.spectrum.lambdaMax + damped.eps);
      assert.ok(rel(r.lowerBound, bound) <= 1e-3, `${name} I_lb ${r.lowerBound} vs ${bound}`);
      assert.ok(r.lowerBound <= damped.i2f * (1 + 1e-3), `${name} ε=${damped.eps}: the damped bound stays below the damped I²F`);
      assert.ok(rel(r.i2f, damped.i2f) <= 1e-3, `${name} damped ε=${damped.eps}: I²F ${r.i2f} vs ${damped.i2f}`);
    }
    if (opts.undamped) {
      const r = await analyzeInfluence(op, { ...base, damping: 0 });
      assert.ok(r.solver.converged, `${name} undamped: solve did not converge (${r.solver.relativeResidual})`);
      assert.ok(rel(r.i2f, ref.delta.i2f) <= 1e-2, `${name} undamped: I²F ${r.i2f} vs ${ref.delta.i2f} (residual ${r.solver.relativeResidual}, ${r.solver.iterations} iterations)`);
    }
  } finally {
    await op.dispose();
  }
}

test('MLP: λmax, I_lb and the damped and undamped I²F match the dense PyTorch float64 reference', async () => {
  await check('mlp', { undamped: true });
});

test('DLG LeNet (κ ≈ 1.2e7): λmax, I_lb and the damped and undamped I²F match the dense PyTorch float64 reference', async () => {
  await check('dlg_lenet', { undamped: true });
});

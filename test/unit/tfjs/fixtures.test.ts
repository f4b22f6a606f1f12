// The tfjs engine (WASM) against PyTorch float64 references and against the ONNX derivative-graph engine on
// every fixture model: g, J u, Jᵀ v and J Jᵀ v to 1e-5 relative (issue 6: "How we will know it works").

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TfjsInversionOperator } from '../../../server/src/backends/tfjs/tfjsOperator';
import { fixtureInputs, fixtureNames, referenceVectors, relativeError, seededVector } from './helpers';

const TOL = 1e-5;

test('the tfjs engine has fixture models to check', () => {
  assert.ok(fixtureNames().includes('mlp') && fixtureNames().includes('dlg_lenet'), `fixtures: ${fixtureNames()}`);
});

for (const name of fixtureNames()) {
  test(`${name}: tfjs-wasm products match PyTorch float64 and the ONNX engine to 1e-5`, async (t) => {
    const f = await fixtureInputs(name);
    const common = { file: f.dir, trainable: f.model.trainable, loss: 'cross-entropy' as const, batch: f.batch, input: f.x, target: f.target };
    const tj = await TfjsInversionOperator.create({ ...common, specialise: (b) => f.model.specialise(b), backend: 'wasm' });
    const ox = f.model.operator({ ...common });
    try {
      assert.deepEqual(tj.parameters, ox.parameters, 'θ layout is the ONNX engine’s');
      const P = tj.parameterCount;
      const X = tj.inputSize;
      const ref = f.ref ? await referenceVectors(f.dir, tj.parameters, P) : undefined;
      const u = ref?.u ?? seededVector(P, 7);
      const v = ref?.v ?? seededVector(X, 11);
      const run = async (op: typeof tj | typeof ox) => {
        const g = new Float64Array(P);
        const loss = await op.gradient(g);
        const Ju = new Float64Array(X);
        await op.jacobianVector(u, Ju);
        const JTv = new Float64Array(P);
        await op.jacobianTransposeVector(v, JTv);
        const JJTv = new Float64Array(X);
        await op.gramVector(v, JJTv);
        return { loss, g, Ju, JTv, JJTv };
      };
      const a = await run(tj);
      const b = await run(ox);
      const rows: string[] = [];
      for (const k of ['g', 'Ju', 'JTv', 'JJTv'] as const) {
        const vsOnnx = relativeError(a[k], b[k]);
        const vsTorch = ref ? relativeError(a[k], ref[k]) : NaN;
        rows.push(`${k}: vs torch ${vsTorch.toExponential(2)}, vs onnx ${vsOnnx.toExponential(2)}`);
        assert.ok(vsOnnx < TOL, `${k} vs ONNX engine: ${vsOnnx}`);
        if (ref) assert.ok(vsTorch < TOL, `${k} vs PyTorch: ${vsTorch}`);
      }
      if (f.ref) assert.ok(Math.abs(a.loss - f.ref.loss.value) <= 1e-5 * Math.abs(f.ref.loss.value), `loss ${a.loss} vs ${f.ref.loss.value}`);
      t.diagnostic(`${name}${ref ? '' : ' (no PyTorch reference: ONNX engine only)'}: ${rows.join('; ')}`);
    } finally {
      await tj.dispose();
      await ox.dispose();
    }
  });
}

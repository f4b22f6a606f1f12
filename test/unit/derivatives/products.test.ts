// The derivative graphs against a dense Jacobian built by central finite differences of the gradient graph,
// on smooth tiny models (MEASURED.md: finite differences are only trustworthy without max/ReLU kinks).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { float32Decimal, float32Literal } from '../../../server/src/backends/onnx/derivatives/lower';
import { operatorFor, rng, tinyAttention, tinyConv, tinyMlp, tinyMobile, tinyPiecewise, tinyPointwise, tinyRegression, type TinyModel } from './tinyGraphs';
import { relativeError as relErr } from '../../support/numeric';


/** J[i, :] = ∂g/∂x_i by central differences of the float32 gradient graph. */
async function denseJacobian(m: TinyModel, x: Float32Array, labels: number[], h: number, target?: Float32Array): Promise<Float64Array[]> {
  const rows: Float64Array[] = [];
  const op = operatorFor(m, x, labels, target);
  const plus = new Float64Array(op.parameterCount);
  const minus = new Float64Array(op.parameterCount);
  const xp = Float64Array.from(x);
  for (let i = 0; i < x.length; i++) {
    xp[i] = x[i] + h;
    op.setInput(xp);
    await op.gradient(plus);
    xp[i] = x[i] - h;
    op.setInput(xp);
    await op.gradient(minus);
    xp[i] = x[i];
    rows.push(plus.map((p, j) => (p - minus[j]) / (2 * h)));
  }
  await op.dispose();
  return rows;
}

async function checkModel(m: TinyModel, seed: number, h = 1e-2, tolerance = 2e-3): Promise<void> {
  const r = rng(seed);
  const dx = m.inputDims.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: dx }, () => r());
  const labels = Array.from({ length: m.inputDims[0] }, (_, i) => i % m.classes);
  const target = m.loss === 'mse' ? Float32Array.from({ length: m.inputDims[0] * m.classes }, () => r()) : undefined;
  const J = await denseJacobian(m, x, labels, h, target);
  const op = operatorFor(m, x, labels, target);
  const dtheta = op.parameterCount;
  const u = Float64Array.from({ length: dtheta }, () => r() * 2 - 1);
  const v = Float64Array.from({ length: dx }, () => r() * 2 - 1);

  const Ju = new Float64Array(dx);
  await op.jacobianVector(u, Ju);
  const JuDense = J.map((row) => row.reduce((s, jij, j) => s + jij * u[j], 0));
  assert.ok(relErr(Ju, JuDense) < tolerance, `J u off by ${relErr(Ju, JuDense)}`);

  const JTv = new Float64Array(dtheta);
  await op.jacobianTransposeVector(v, JTv);
  const JTvDense = new Float64Array(dtheta);
  J.forEach((row, i) => row.forEach((jij, j) => (JTvDense[j] += jij * v[i])));
  assert.ok(relErr(JTv, JTvDense) < tolerance, `Jᵀ v off by ${relErr(JTv, JTvDense)}`);

  // The fused product equals the two products composed (same float32 kernels: tight).
  const JJTv = new Float64Array(dx);
  await op.gramVector(v, JJTv);
  const composed = new Float64Array(dx);
  await op.jacobianVector(JTv, composed);
  assert.ok(relErr(JJTv, composed) < 1e-5, `fused J Jᵀ v off by ${relErr(JJTv, composed)}`);

  // Adjoint identity v·(J u) = u·(Jᵀ v).
  const left = v.reduce((s, vi, i) => s + vi * Ju[i], 0);
  const right = u.reduce((s, ui, j) => s + ui * JTv[j], 0);
  assert.ok(Math.abs(left - right) <= 1e-5 * (Math.abs(left) + Math.abs(right)), `adjoint mismatch ${left} vs ${right}`);
  await op.dispose();
}

test('MLP products (Gemm with alpha, beta, transB; sigmoid) match a finite-difference Jacobian', async () => {
  await checkModel(tinyMlp(), 11);
});

test('grouped, strided, dilated, padded Conv with tanh and AveragePool matches a finite-difference Jacobian', async () => {
  await checkModel(tinyConv(), 12);
});

test('attention, written-out layer norm, erf-GELU, Slice and Concat match a finite-difference Jacobian', async () => {
  await checkModel(tinyAttention(), 13);
});

test('Pad, BatchNorm, LeakyRelu, ceil-mode MaxPool, Relu, Where, GlobalAveragePool and Gather match finite differences away from kinks', async () => {
  await checkModel(tinyPiecewise(), 14, 1e-3, 1e-2);
});

test('Clip, HardSwish, dilated padded MaxPool and HardSigmoid (rewritten by decompose.ts) match finite differences away from kinks', async () => {
  await checkModel(tinyMobile(), 16, 1e-3, 1e-2);
});

test('a mean-squared-error loss gives products that match a finite-difference Jacobian', async () => {
  await checkModel(tinyRegression(), 15);
});

test('the gradient graph returns the cross-entropy loss of the batch', async () => {
  const m = tinyMlp();
  const x = Float32Array.from({ length: 10 }, (_, i) => i / 10);
  const op = operatorFor(m, x, [0, 2]);
  const g = new Float64Array(op.parameterCount);
  const loss = await op.gradient(g);
  // Independent forward pass in plain JS.
  const init = m.graph.initializers;
  const w1 = init.get('w1')!.data as Float32Array, b1 = init.get('b1')!.data as Float32Array;
  const w2 = init.get('w2')!.data as Float32Array, b2 = init.get('b2')!.data as Float32Array;
  let expected = 0;
  [0, 2].forEach((label, n) => {
    const h = [0, 1, 2, 3].map((j) => 1 / (1 + Math.exp(-(b1[j] + [0, 1, 2, 3, 4].reduce((s, k) => s + w1[j * 5 + k] * x[n * 5 + k], 0)))));
    const z = [0, 1, 2].map((c) => 0.7 * h.reduce((s, hj, j) => s + w2[c * 4 + j] * hj, 0) + 1.3 * b2[c]);
    const lse = Math.log(z.reduce((s, zc) => s + Math.exp(zc), 0));
    expected += (lse - z[label]) / 2;
  });
  assert.ok(Math.abs(loss - expected) < 1e-5, `${loss} vs ${expected}`);
  await op.dispose();
});

/** v·(A w) − w·(A v) relative: A = J Jᵀ is symmetric, to rounding of the products. */
async function symmetryDefect(a: (v: Float64Array, out: Float64Array) => Promise<void>, v: Float64Array, w: Float64Array): Promise<number> {
  const av = new Float64Array(v.length);
  const aw = new Float64Array(v.length);
  await a(v, av);
  await a(w, aw);
  const left = v.reduce((s, vi, i) => s + vi * aw[i], 0);
  const right = w.reduce((s, wi, i) => s + wi * av[i], 0);
  return Math.abs(left - right) / (Math.abs(left) + Math.abs(right));
}

for (const [label, make, seed] of [
  ['MLP', tinyMlp, 21], ['grouped/strided/dilated Conv and AveragePool', tinyConv, 22], ['1×1 Conv, plain and grouped', tinyPointwise, 25],
  ['Pad, BatchNorm, LeakyRelu, ceil-mode MaxPool, GlobalAveragePool', tinyPiecewise, 23], ['MSE loss', tinyRegression, 24],
] as const) {
  test(`float64 products (${label}) agree with the float32 ones and are symmetric to double rounding`, async () => {
    const m = make();
    const r = rng(seed);
    const dx = m.inputDims.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: dx }, () => r());
    const labels = Array.from({ length: m.inputDims[0] }, (_, i) => i % m.classes);
    const target = m.loss === 'mse' ? Float32Array.from({ length: m.inputDims[0] * m.classes }, () => r()) : undefined;
    const op = operatorFor(m, x, labels, target);
    try {
      const precise = op.precise;
      assert.ok(precise, 'float64 products available');
      const u = Float64Array.from({ length: op.parameterCount }, () => r() * 2 - 1);
      const v = Float64Array.from({ length: dx }, () => r() * 2 - 1);
      const w = Float64Array.from({ length: dx }, () => r() * 2 - 1);
      const [ju32, ju64, g32, g64] = [dx, dx, dx, dx].map((n) => new Float64Array(n));
      await op.jacobianVector(u, ju32);
      await precise.jacobianVector(u, ju64);
      await op.gramVector(v, g32);
      await precise.gramVector(v, g64);
      assert.ok(relErr(ju32, ju64) < 1e-5, `J u float32 vs float64: ${relErr(ju32, ju64)}`);
      assert.ok(relErr(g32, g64) < 1e-5, `J Jᵀ v float32 vs float64: ${relErr(g32, g64)}`);
      const defect64 = await symmetryDefect((a, o) => precise.gramVector(a, o), v, w);
      assert.ok(defect64 < 1e-13, `float64 symmetry defect ${defect64}`);
      // The float64 graphs hold no float32 value at all.
      const model = op.productModel('gram', m.inputDims[0], 'float64').model;
      const floats = [...model.graph.initializers.values()].filter((t) => t.dtype === 'float32');
      assert.deepEqual(floats.map((t) => t.dims), []);
      assert.ok(!model.graph.nodes.some((n) => ['Conv', 'ConvTranspose', 'AveragePool', 'GlobalAveragePool'].includes(n.opType)));
    } finally {
      await op.dispose();
    }
  });
}

test('erf-GELU gets float64 products from a double series for Erf (no double kernel) that agree with float32', async () => {
  const m = tinyAttention();
  const op = operatorFor(m, Float32Array.from({ length: 12 }, (_, i) => i / 12), [1]);
  try {
    const precise = op.precise;
    assert.ok(precise);
    const v = Float64Array.from({ length: 12 }, (_, i) => (i % 3) - 1);
    const g32 = new Float64Array(12);
    const g64 = new Float64Array(12);
    await op.gramVector(v, g32);
    await precise.gramVector(v, g64);
    assert.ok(relErr(g32, g64) < 1e-5, `float32 vs float64: ${relErr(g32, g64)}`);
    assert.ok(!op.productModel('gram', 1, 'float64').model.graph.nodes.some((n) => n.opType === 'Erf'));
  } finally {
    await op.dispose();
  }
});

test('product graphs hold only live nodes, no duplicate node and no reshape of a reshape', async () => {
  for (const m of [tinyConv(), tinyPiecewise(), tinyMlp()]) {
    const dx = m.inputDims.reduce((a, b) => a * b, 1);
    const op = operatorFor(m, Float32Array.from({ length: dx }, (_, i) => (i % 5) / 5), Array.from({ length: m.inputDims[0] }, (_, i) => i % m.classes));
    try {
      for (const kind of ['gradient', 'jacobianVector', 'jacobianTransposeVector', 'gram'] as const) {
        for (const floatType of ['float32', 'float64'] as const) {
          const { graph } = op.productModel(kind, m.inputDims[0], floatType).model;
          const consumed = new Set(graph.nodes.flatMap((n) => n.inputs));
          for (const o of graph.outputs) consumed.add(o.name);
          const dead = graph.nodes.filter((n) => !n.outputs.some((o) => o && consumed.has(o)));
          assert.deepEqual(dead.map((n) => n.opType), [], `${kind}/${floatType}: dead nodes`);
          const keys = graph.nodes.map((n) => `${n.opType}|${n.inputs.join(',')}|${JSON.stringify(n.attributes)}`);
          assert.equal(new Set(keys).size, keys.length, `${kind}/${floatType}: duplicate nodes`);
          const producer = new Map(graph.nodes.map((n) => [n.outputs[0], n.opType]));
          // (reshapes the builder emits: the model's own forward Reshape nodes keep their names)
          const chained = graph.nodes.filter((n) => n.name.startsWith('n_') && n.opType === 'Reshape' && producer.get(n.inputs[0]) === 'Reshape');
          assert.deepEqual(chained.map((n) => n.name), [], `${kind}/${floatType}: reshape chains`);
        }
      }
    } finally {
      await op.dispose();
    }
  }
});

test('float64 mode reads float32 attributes and scalar constants as the literals the exporter rounded', () => {
  assert.equal(float32Decimal(Math.fround(0.01)), 0.01);
  assert.equal(float32Decimal(Math.fround(1e-5)), 1e-5);
  assert.equal(float32Literal(Math.fround(Math.SQRT2)), Math.SQRT2);
  assert.equal(float32Literal(Math.fround(1 / Math.sqrt(8))), Math.sqrt(1 / 8));
  assert.equal(float32Literal(Math.fround(0.5)), 0.5);
  const weight = Math.fround(0.123456789);
  assert.equal(float32Literal(weight), weight, 'no simple literal: the float32 value itself');
  assert.equal(float32Literal(0.1), 0.1, 'a double that is no float32 is left alone');
});

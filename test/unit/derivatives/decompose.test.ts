// The rewrite of Clip / HardSigmoid / HardSwish (graph/decompose.ts) computes what onnxruntime's own kernels compute
// on the original graph: a forward check independent of our derivative rules (their products are checked against
// finite differences in products.test.ts and against PyTorch on MobileNets in test/unit/models).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeModel } from '../../../server/src/backends/onnx/onnxProto';
import * as ort from 'onnxruntime-node';
import { decomposePiecewiseLinear, DECOMPOSED_OPS } from '../../../server/src/graph/decompose';
import type { Graph, Model } from '../../../server/src/graph/ir';
import { operatorFor, rng, tinyMobile } from './tinyGraphs';

async function run(graph: Graph, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const model: Model = { graph, opsets: [{ domain: '', version: 17 }], producerName: 'test', producerVersion: '0', irVersion: 8 };
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    const out = await session.run({ x: new ort.Tensor('float32', x, dims) });
    return out[graph.outputs[0].name].data as Float32Array;
  } finally {
    await session.release();
  }
}

test('the rewritten activations give onnxruntime’s Clip, HardSwish and HardSigmoid values (inputs straddling every kink)', async () => {
  const m = tinyMobile();
  assert.ok(m.original.nodes.some((n) => DECOMPOSED_OPS.has(n.opType)));
  assert.ok(!m.graph.nodes.some((n) => DECOMPOSED_OPS.has(n.opType)), 'nothing left to rewrite');
  const r = rng(31);
  const n = m.inputDims.reduce((a, b) => a * b, 1);
  for (const scale of [0.5, 3, 12]) {
    const x = Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
    const [want, got] = [await run(m.original, x, m.inputDims), await run(m.graph, x, m.inputDims)];
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(want[i] - got[i]) <= 1e-5 * (1 + Math.abs(want[i])), `output ${i}: ${got[i]} vs ${want[i]} (input scale ${scale})`);
  }
});

test('a graph without those ops is returned as it is; Clip with one bound or none keeps its meaning', async () => {
  const plain: Graph = { name: 'g', nodes: [{ name: 'r', opType: 'Relu', domain: '', inputs: ['x'], outputs: ['y'], attributes: {} }], initializers: new Map(), inputs: [{ name: 'x', dtype: 'float32', dims: [1, 4] }], outputs: [{ name: 'y', dtype: 'float32', dims: [1, 4] }] };
  assert.equal(decomposePiecewiseLinear(plain), plain);
  const x = Float32Array.of(-3, -0.5, 0.5, 3);
  for (const inputs of [['x', 'lo'], ['x', '', 'hi'], ['x']]) {
    const g: Graph = {
      ...plain,
      nodes: [{ name: 'c', opType: 'Clip', domain: '', inputs, outputs: ['y'], attributes: {} }],
      initializers: new Map([['lo', { dtype: 'float32', dims: [], data: Float32Array.of(-1) }], ['hi', { dtype: 'float32', dims: [], data: Float32Array.of(1) }]]),
    };
    assert.deepEqual([...(await run(decomposePiecewiseLinear(g), x, [1, 4]))], [...(await run(g, x, [1, 4]))], `Clip(${inputs.join(', ')})`);
  }
});

test('float64 products of the rewritten graph agree with the float32 ones; J Jᵀ is symmetric to double rounding', async () => {
  const m = tinyMobile();
  const r = rng(26);
  const dx = m.inputDims.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: dx }, () => r());
  const op = operatorFor(m, x, [1, 3]);
  try {
    const precise = op.precise!;
    assert.ok(precise, 'float64 products available');
    const rel = (a: Float64Array, b: Float64Array) => Math.sqrt(a.reduce((s, ai, i) => s + (ai - b[i]) ** 2, 0) / b.reduce((s, bi) => s + bi * bi, 0));
    const u = Float64Array.from({ length: op.parameterCount }, () => r() * 2 - 1);
    const v = Float64Array.from({ length: dx }, () => r() * 2 - 1);
    const w = Float64Array.from({ length: dx }, () => r() * 2 - 1);
    const [ju32, ju64, gv32, gv64, gw64] = [dx, dx, dx, dx, dx].map((n) => new Float64Array(n));
    await op.jacobianVector(u, ju32);
    await precise.jacobianVector(u, ju64);
    await op.gramVector(v, gv32);
    await precise.gramVector(v, gv64);
    await precise.gramVector(w, gw64);
    assert.ok(rel(ju32, ju64) < 1e-5, `J u float32 vs float64: ${rel(ju32, ju64)}`);
    assert.ok(rel(gv32, gv64) < 1e-5, `J Jᵀ v float32 vs float64: ${rel(gv32, gv64)}`);
    const left = v.reduce((s, vi, i) => s + vi * gw64[i], 0);
    const right = w.reduce((s, wi, i) => s + wi * gv64[i], 0);
    // 2.9e-13 measured: the two 84-term sums cancel more than the other tiny models' (products.test.ts holds 1e-13).
    assert.ok(Math.abs(left - right) / (Math.abs(left) + Math.abs(right)) < 1e-12);
  } finally {
    await op.dispose();
  }
});

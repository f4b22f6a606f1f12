// One regression test per tfjs trap (MEASURED.md, ARCHITECTURE.md): each shows tfjs's stock behaviour going
// wrong (so the check can tell) and the patched engine getting the exact answer.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { sigmoidGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Sigmoid_grad';
import { tanhGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Tanh_grad';
import { expGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Exp_grad';
import { softmaxGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Softmax_grad';
import { conv2DGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Conv2D_grad';
import { conv2DBackpropInputGradConfig } from '@tensorflow/tfjs-core/dist/gradients/Conv2DBackpropInput_grad';
import { maxPoolGradConfig } from '@tensorflow/tfjs-core/dist/gradients/MaxPool_grad';
import { activateBackend } from '../../../server/src/backends/tfjs/backend';
import { conv2dValid, PATCHED_GRADIENTS, withGradients } from '../../../server/src/backends/tfjs/gradients';
import { logSoftmax, runGraph, TfjsConstants } from '../../../server/src/backends/tfjs/interpreter';
import { inferShapes } from '../../../server/src/graph/shapes';
import type { Graph } from '../../../server/src/graph/ir';
import { relativeError } from './helpers';

const near = (a: number, b: number, tol = 1e-5) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('tfjs-core’s CommonJS bundle registers no gradients; the engine registers its own table', async () => {
  // This test file is its own process (node --test): nothing has installed gradients before this line.
  assert.equal(tf.getGradient('Add'), undefined, 'the CommonJS bundle now registers gradients: revisit gradients.ts');
  assert.equal(tf.getGradient('Sigmoid'), undefined);
  await activateBackend('cpu');
  for (const c of PATCHED_GRADIENTS) assert.equal(tf.getGradient(c.kernelName)?.gradFunc, c.gradFunc, c.kernelName);
});

// f(x) = x·s(x): f'' = s''·x + 2 s'. A stock rule reading the saved output s(x) loses the s''·x term silently.
const secondDerivative = (s: (x: tf.Tensor) => tf.Tensor, x0: number) =>
  tf.tidy(() => tf.grad(tf.grad((x: tf.Tensor) => tf.mul(x, s(x))))(tf.scalar(x0)).dataSync()[0]);

const unaries = [
  { name: 'sigmoid', stock: sigmoidGradConfig, op: tf.sigmoid, d1: (x: number) => { const s = 1 / (1 + Math.exp(-x)); return s * (1 - s); }, d2: (x: number) => { const s = 1 / (1 + Math.exp(-x)); return s * (1 - s) * (1 - 2 * s); } },
  { name: 'tanh', stock: tanhGradConfig, op: tf.tanh, d1: (x: number) => 1 - Math.tanh(x) ** 2, d2: (x: number) => -2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2) },
  { name: 'exp', stock: expGradConfig, op: tf.exp, d1: Math.exp, d2: Math.exp },
];

for (const u of unaries) {
  test(`${u.name}: stock second order is silently wrong, the recomputing rule is exact`, async () => {
    await activateBackend('cpu');
    const x0 = 0.7;
    const truth = u.d2(x0) * x0 + 2 * u.d1(x0);
    const stock = withGradients([u.stock], () => secondDerivative(u.op, x0));
    assert.ok(!near(stock, truth, 1e-3), `stock ${u.name} is right now (${stock} vs ${truth}): the trap is gone`);
    assert.ok(near(stock, 2 * u.d1(x0), 1e-5), 'stock drops exactly the s″·x term');
    const patched = secondDerivative(u.op, x0);
    assert.ok(near(patched, truth), `patched ${patched} vs ${truth}`);
  });
}

// Cross-entropy Hessian in the logits: H = diag(p) − p pᵀ, whatever the label; plus ½‖z‖² (Hessian I), so a rule
// that loses the cross-entropy part still returns a plausible, connected, wrong answer.
function crossEntropyHessianVector(lsm: (z: tf.Tensor) => tf.Tensor, z0: number[], t: number[], w: number[]): Float32Array {
  return tf.tidy(() => {
    const target = tf.tensor(t);
    const wt = tf.tensor(w);
    const gradDotW = (z: tf.Tensor) => tf.sum(tf.mul(tf.grad((zz: tf.Tensor) => tf.sub(tf.mul(tf.sum(tf.mul(zz, zz)), 0.5), tf.sum(tf.mul(target, lsm(zz)))))(z), wt)) as tf.Scalar;
    return tf.grad(gradDotW)(tf.tensor(z0)).dataSync() as Float32Array;
  });
}

test('softmax cross-entropy: tfjs’s logSoftmax and softmax are wrong at second order, z − logSumExp(z) is exact', async () => {
  await activateBackend('cpu');
  const z0 = [0.3, -1.2, 2.0, 0.5];
  const t = [0, 0, 1, 0];
  const w = [1, -2, 0.5, 3];
  const e = z0.map(Math.exp);
  const p = e.map((v) => v / e.reduce((a, b) => a + b));
  const pw = p.reduce((a, pi, i) => a + pi * w[i], 0);
  const truth = p.map((pi, i) => pi * w[i] - pi * pw + w[i]);
  const stockLsm = crossEntropyHessianVector((z) => tf.logSoftmax(z), z0, t, w);
  assert.ok(relativeError(stockLsm, truth) > 1e-2, `tf.logSoftmax is right at 2nd order now: ${stockLsm}`);
  assert.ok(relativeError(stockLsm, w) < 1e-6, 'tf.logSoftmax loses exactly the cross-entropy Hessian');
  const stockSoftmax = withGradients([softmaxGradConfig], () => crossEntropyHessianVector((z) => tf.log(tf.softmax(z)), z0, t, w));
  assert.ok(relativeError(stockSoftmax, truth) > 1e-2, `stock Softmax rule is right at 2nd order now: ${stockSoftmax}`);
  const patched = crossEntropyHessianVector((z) => logSoftmax(z, 0), z0, t, w);
  assert.ok(relativeError(patched, truth) < 1e-6, `patched ${patched} vs ${truth}`);
});

/**
 * A mixed second derivative of a conv: f(x, w) = ½‖conv(x, w)‖² is quadratic in x, so the central difference
 * (∇w f(x + v) − ∇w f(x − v))/2 is exactly d/dt ∇w f(x + t v), up to float32 rounding.
 */
function convMixed(stride: number, dilation: number) {
  const x = tf.tensor4d(Array.from({ length: 2 * 9 * 9 * 3 }, (_, i) => Math.sin(i * 0.37)), [2, 9, 9, 3]);
  const v = tf.tensor4d(Array.from({ length: 2 * 9 * 9 * 3 }, (_, i) => Math.cos(i * 0.11)), [2, 9, 9, 3]);
  const w = tf.tensor4d(Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.sin(i * 1.3) * 0.5), [3, 3, 3, 4]);
  const f = (xx: tf.Tensor, ww: tf.Tensor) => {
    const y = conv2dValid(xx as tf.Tensor4D, ww as tf.Tensor4D, [stride, stride], [dilation, dilation]);
    return tf.mul(tf.sum(tf.mul(y, y)), 0.5) as tf.Scalar;
  };
  const gradW = (xx: tf.Tensor) => tf.grad((ww: tf.Tensor) => f(xx, ww))(w);
  const u = tf.tensor4d(Array.from({ length: 3 * 3 * 3 * 4 }, (_, i) => Math.cos(i * 0.7)), [3, 3, 3, 4]);
  const gradX = (ww: tf.Tensor) => tf.grad((xx: tf.Tensor) => f(xx, ww))(x);
  // Jᵀv form: ∇w ⟨∇x f, v⟩ = d/dt ∇w f(x + t v);  J u form: ∇x ⟨∇w f, u⟩ = d/dt ∇x f(w + t u).
  const mixed = () => tf.tidy(() => tf.grad((ww: tf.Tensor) => tf.sum(tf.mul(tf.grad((xx: tf.Tensor) => f(xx, ww))(x), v)) as tf.Scalar)(w).dataSync());
  const difference = () => tf.tidy(() => tf.div(tf.sub(gradW(tf.add(x, v)), gradW(tf.sub(x, v))), 2).dataSync());
  const mixedJu = () => tf.tidy(() => tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.grad((ww: tf.Tensor) => f(xx, ww))(w), u)) as tf.Scalar)(x).dataSync());
  const differenceJu = () => tf.tidy(() => tf.div(tf.sub(gradX(tf.add(w, u)), gradX(tf.sub(w, u))), 2).dataSync());
  return { mixed, difference, mixedJu, differenceJu };
}

test('conv2d: stock second derivatives throw; the conv2d-only gradient table is exact (strides and dilations)', async () => {
  await activateBackend('cpu');
  const stock = convMixed(1, 1);
  // ∇x⟨∇w f, u⟩ crosses Conv2DBackpropFilter, which has no gradient in tfjs.
  assert.throws(() => withGradients([conv2DGradConfig, conv2DBackpropInputGradConfig], stock.mixedJu), /gradient function not found for Conv2DBackpropFilter/);
  assert.throws(() => withGradients([conv2DGradConfig], convMixed(1, 2).mixed), /dilation rates greater than 1/);
  for (const [s, d] of [[1, 1], [2, 1], [1, 2], [2, 2]]) {
    const c = convMixed(s, d);
    const err = relativeError(c.mixed(), c.difference());
    const errJu = relativeError(c.mixedJu(), c.differenceJu());
    // 1e-4: the float32 difference of two large gradients cancels digits; a lost term would be O(1).
    assert.ok(err < 1e-4 && errJu < 1e-4, `stride ${s} dilation ${d}: Jᵀv form ${err}, J u form ${errJu}`);
  }
});

test('WASM: no Conv2DBackpropFilter kernel under the stock rule; the patched rule runs on WASM', async () => {
  await activateBackend('wasm');
  const c = convMixed(2, 1);
  assert.throws(
    () => withGradients([conv2DGradConfig], () => tf.tidy(() => tf.grad((w: tf.Tensor) => tf.sum(tf.conv2d(tf.ones([1, 5, 5, 1]) as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid')))(tf.ones([3, 3, 1, 1])))),
    /Conv2DBackpropFilter/,
  );
  const err = relativeError(c.mixed(), c.difference());
  const errJu = relativeError(c.mixedJu(), c.differenceJu());
  assert.ok(err < 1e-4 && errJu < 1e-4, `patched conv on WASM: ${err}, ${errJu}`);
});

test('WASM: stock MaxPool gradient is wrong for windows whose max ≤ 0; window-slice pooling picks the first max', async () => {
  await activateBackend('wasm');
  // One 2×2 window per quadrant; the top-left window's max is negative, the bottom-right's is 0.
  const xs = [-3, -1, 5, 2, -2, -4, 1, 7, 6, 0.5, -5, 0, 1, 2, -1, -2];
  const expected = new Float32Array(16);
  for (const i of [1, 7, 8, 11]) expected[i] = 1; // argmax of each window, row-major first on ties
  const stock = withGradients([maxPoolGradConfig], () =>
    tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid')))(tf.tensor4d(xs, [1, 4, 4, 1])).dataSync()),
  );
  assert.ok(relativeError(stock, expected) > 0.1, `WASM MaxPool gradient is right now: ${Array.from(stock)}`);
  const graph: Graph = {
    name: 'pool',
    nodes: [{ name: 'pool', opType: 'MaxPool', domain: '', inputs: ['x'], outputs: ['y'], attributes: { kernel_shape: { type: 'ints', value: [2, 2] }, strides: { type: 'ints', value: [2, 2] } } }],
    initializers: new Map(),
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 1, 4, 4] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 1, 2, 2] }],
  };
  const ig = { graph, types: inferShapes(graph, new Map([['x', [1, 1, 4, 4]]])), file: 'pool' };
  const constants = new TfjsConstants(ig, new Set());
  const patched = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(runGraph(ig, constants, x, new Map())))(tf.tensor4d(xs, [1, 1, 4, 4])).dataSync());
  assert.deepEqual(Array.from(patched), Array.from(expected));
});

test('a tensor used twice (x·w + (x·w)²): gradients are fresh handles, so accumulating them frees nothing still in use', async () => {
  await activateBackend('cpu');
  const x = tf.tensor([1, 2, 3]);
  const w = tf.tensor([0.5, 0.1, 0.2]);
  const f = (wv: tf.Tensor) => {
    const a = tf.mul(x, wv);
    return tf.sum(tf.add(a, tf.mul(a, a))) as tf.Scalar;
  };
  // A rule returning dy itself (the shared object) had tfjs dispose it on accumulation: "reading 'backend'" TypeError.
  const shared = PATCHED_GRADIENTS.map((c) => (c.kernelName === 'Add' ? { ...c, gradFunc: (dy: tf.Tensor | tf.Tensor[]) => ({ a: () => dy as tf.Tensor, b: () => dy as tf.Tensor }) } : c));
  assert.throws(() => withGradients(shared, () => tf.grads(f)([w])), /backend/, 'the shared-dy rule fails (so this test can tell)');
  // d/dw Σ (x w + x² w²) = x + 2 x² w
  const g = tf.grads(f)([w])[0].dataSync();
  [1 + 2 * 1 * 0.5, 2 + 2 * 4 * 0.1, 3 + 2 * 9 * 0.2].forEach((want, i) => assert.ok(near(g[i], want), `g[${i}] = ${g[i]}, want ${want}`));
});

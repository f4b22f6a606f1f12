// The block products (k vectors through one graph with a leading block axis, blockTangent.ts; k = 1 is how the
// single J Jᵀ v runs on conv-heavy models, onnxOperator.ts GramRoute) against the plain single-product graph
// (tangent.ts), and ResNet-18's single product against PyTorch float64: on the PyTorch-exported fixture models, torchvision's MobileNetV2, ShuffleNetV2 and ResNet-18
// exported with torch.onnx.export's defaults (tools/fixtures/torchvision_export.py: depthwise convolutions, folded
// BatchNorm, channel shuffle), and the tiny hand-built graphs that carry the ops the fixtures lack (grouped and
// dilated Conv, Pad, Where, Gather, ScatterElements, attention, an MSE loss).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { oneHot } from '../../../server/src/analysis/inputs';
import { readNpy, writeNpy } from '../../../server/src/formats/npy';
import { gramBlock, type InversionOperator } from '../../../server/src/engine/operator';
import type { OnnxInversionOperator } from '../../../server/src/backends/onnx/onnxOperator';
import { fixtureOperator, relativeError, root } from '../../support/fixtures';
import { operatorFor, rng, tinyAttention, tinyConv, tinyMlp, tinyMobile, tinyPiecewise, tinyRegression, type TinyModel } from '../derivatives/tinyGraphs';

const TOLERANCE = 1e-6;
const ROOT = join(__dirname, '../../..');
const torchAvailable = spawnSync('/usr/bin/python3', ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0;
const fixtures = existsSync(root) ? readdirSync(root).filter((d) => existsSync(join(root, d, 'reference.json'))) : [];

function vectors(n: number, size: number, seed: number): Float64Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Float64Array.from({ length: size }, () => r() * 2 - 1));
}

/**
 * outs of the block product (`op`, gramRoute 'block': k = 1 too runs the block graph) against the plain single-product
 * graph's J Jᵀ v of each vector (`plain`, gramRoute 'single': tangent.ts, no conv weight routes), each to TOLERANCE.
 */
async function checkGram(op: InversionOperator, plain: InversionOperator, k: number, seed: number, label: string): Promise<void> {
  const vs = vectors(k, op.inputSize, seed);
  const outs = vs.map(() => new Float64Array(op.inputSize));
  await op.gramVectors!(vs, outs);
  for (let i = 0; i < k; i++) {
    const single = new Float64Array(op.inputSize);
    await plain.gramVector(vs[i], single);
    const err = relativeError(outs[i], single);
    assert.ok(err < TOLERANCE, `${label}, k = ${k}, vector ${i}: block J Jᵀ V off by ${err}`);
  }
}

/** The block Jᵀ V and J U against the operator's single products. */
async function checkOtherBlocks(op: OnnxInversionOperator, k: number, seed: number, label: string): Promise<void> {
  const vs = vectors(k, op.inputSize, seed);
  const us = vectors(k, op.parameterCount, seed + 1);
  const JTV = vs.map(() => new Float64Array(op.parameterCount));
  await op.jacobianTransposeVectors(vs, JTV);
  const JU = us.map(() => new Float64Array(op.inputSize));
  await op.jacobianVectors(us, JU);
  for (let i = 0; i < k; i++) {
    const JTv = new Float64Array(op.parameterCount);
    await op.jacobianTransposeVector(vs[i], JTv);
    assert.ok(relativeError(JTV[i], JTv) < TOLERANCE, `${label}, block Jᵀ V, k = ${k}, vector ${i}: off by ${relativeError(JTV[i], JTv)}`);
    const Ju = new Float64Array(op.inputSize);
    await op.jacobianVector(us[i], Ju);
    assert.ok(relativeError(JU[i], Ju) < TOLERANCE, `${label}, block J U, k = ${k}, vector ${i}: off by ${relativeError(JU[i], Ju)}`);
  }
}

test('fixture models exist for the block products', () => {
  for (const name of ['mlp', 'dlg_lenet', 'lenet5_pool', 'resnet8', 'smooth_cnn', 'vit_tiny']) assert.ok(fixtures.includes(name), `missing fixture ${name}`);
});

for (const name of fixtures) {
  test(`${name}: J Jᵀ V for k = 1, 3, 8 equals k single products to ${TOLERANCE}`, async () => {
    const { op } = await fixtureOperator(join(root, name), { gramRoute: 'block' });
    const { op: plain } = await fixtureOperator(join(root, name), { gramRoute: 'single' });
    try {
      for (const k of [1, 3, 8]) await checkGram(op, plain, k, 100 + k, name);
      assert.equal(op.gramVectorGraph, 'block');
    } finally {
      await op.dispose();
      await plain.dispose();
    }
  });
}

for (const name of ['lenet5_pool', 'resnet8', 'vit_tiny']) {
  test(`${name}: block Jᵀ V and J U for k = 3 equal single products`, async () => {
    const { op } = await fixtureOperator(join(root, name));
    try {
      await checkOtherBlocks(op, 3, 7, name);
    } finally {
      await op.dispose();
    }
  });
}

// resnet18 at 32×32 (11.2M parameters): its 2×2 and 1×1 stages take the Gram route and the small-map GEMMs.
for (const name of ['mobilenet_v2', 'shufflenet_v2_x0_5', 'resnet18']) {
  test(`torchvision ${name} exported with torch.onnx.export's defaults: J Jᵀ V for k = 3 equals single products`, { skip: torchAvailable ? false : '/usr/bin/python3 cannot import torch and torchvision' }, async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'i2f-blocks-')), `${name}.onnx`);
    execFileSync('/usr/bin/python3', [join(ROOT, 'tools/fixtures/torchvision_export.py'), name, file], { stdio: 'ignore' });
    const model = await OnnxModel.open(file);
    const r = rng(5);
    const x = Float32Array.from({ length: 3 * 32 * 32 }, () => r());
    const op = model.operator({ batch: 1, input: x, target: oneHot([3], 10), loss: 'cross-entropy' });
    const plain = model.operator({ batch: 1, input: x, target: oneHot([3], 10), loss: 'cross-entropy', gramRoute: 'single' });
    try {
      if (name === 'mobilenet_v2') assert.ok(model.model.graph.nodes.some((n) => n.opType === 'Conv' && (n.attributes.group?.value as number) > 1), 'depthwise convolutions');
      // Their late 1×1 convolutions (1×1 and 2×2 maps at 32×32) take the Gram route (gramWeights.ts) by default.
      // (Each such layer has two P × P Gram matrices, AᵀA and ∂yᵀ∂y.)
      const gramLayers = op.productModel('gram', 1, 'float32', 3).model.graph.nodes.filter((n) => n.outputs[0]?.endsWith('_gram')).length / 2;
      assert.ok(gramLayers >= 3, `${name}: ${gramLayers} conv weights through the Gram matrices`);
      await checkGram(op, plain, 3, 41, name);
    } finally {
      await op.dispose();
      await plain.dispose();
    }
  });
}

// The single product itself on a model the project did not write, against an independent truth: the default route
// (GramRoute 'auto') runs ResNet-18's J Jᵀ v on the block graph at k = 1 (its conv weight tangents through the Gram
// matrices and im2col GEMMs), and PyTorch's float64 double backward on the same seeded model, BatchNorm fused as the
// exporter folds it (tools/fixtures/torchvision_gram_reference.py), must agree to float32 products' 1e-5. As a
// large model (11M θ) it also takes the split graph: the primal half once per x, the tangent half per call.
test('torchvision resnet18 exported with torch.onnx.export\'s defaults: the single J Jᵀ v (block graph at k = 1) matches PyTorch float64', { skip: torchAvailable ? false : '/usr/bin/python3 cannot import torch and torchvision' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-single-'));
  const file = join(dir, 'resnet18.onnx');
  execFileSync('/usr/bin/python3', [join(ROOT, 'tools/fixtures/torchvision_export.py'), 'resnet18', file], { stdio: 'ignore' });
  const r = rng(11);
  const x = Float32Array.from({ length: 3 * 32 * 32 }, () => r());
  const [v] = vectors(1, x.length, 13);
  writeFileSync(join(dir, 'x.npy'), writeNpy({ dtype: 'float32', dims: [1, 3, 32, 32], data: x }));
  writeFileSync(join(dir, 'v.npy'), writeNpy({ dtype: 'float64', dims: [x.length], data: v }));
  const label = 7;
  const reference = JSON.parse(execFileSync('/usr/bin/python3', [join(ROOT, 'tools/fixtures/torchvision_gram_reference.py'), 'resnet18', join(dir, 'x.npy'), join(dir, 'v.npy'), String(label), join(dir, 'JJTv.npy')]).toString().trim().split('\n').pop()!);
  const truth = (await readNpy(join(dir, 'JJTv.npy'))).data as Float64Array;
  const model = await OnnxModel.open(file);
  const op = model.operator({ batch: 1, input: x, target: oneHot([label], 10), loss: 'cross-entropy' });
  try {
    assert.equal(op.parameterCount, reference.parameters, 'θ of the exported graph = the fused model\'s parameters');
    const out = new Float64Array(op.inputSize);
    await op.gramVector(v, out);
    assert.equal(op.gramVectorGraph, 'block', `ResNet-18's routable conv work ${op.routableWork} takes the block graph`);
    const err = relativeError(out, truth);
    assert.ok(err < 1e-5, `block graph at k = 1 against PyTorch float64: ${err}`);
    // The truth is not trivially met: a different v gives a product far from it.
    const [w] = vectors(1, x.length, 14);
    await op.gramVector(w, out);
    assert.ok(relativeError(out, truth) > 0.1);
    // A large model runs the graph's primal half once per x and keeps its outputs (onnxOperator.ts gramPrimal):
    // moving x must recompute them. At a new x the routed product (k = 1 and a block of 3) equals the plain graph's.
    const x2 = Float32Array.from({ length: x.length }, () => r());
    op.setInput(Float64Array.from(x2));
    const plain = model.operator({ batch: 1, input: x2, target: oneHot([label], 10), loss: 'cross-entropy', gramRoute: 'single' });
    try {
      const moved = new Float64Array(op.inputSize);
      await op.gramVector(v, moved);
      assert.ok(relativeError(moved, truth) > 1e-3, 'setInput changes the product');
      await checkGram(op, plain, 3, 15, 'resnet18 after setInput');
      const expected = new Float64Array(op.inputSize);
      await plain.gramVector(v, expected);
      assert.ok(relativeError(moved, expected) < TOLERANCE, `after setInput: ${relativeError(moved, expected)}`);
      // And back: the first x's product again.
      op.setInput(Float64Array.from(x));
      await op.gramVector(v, out);
      assert.ok(relativeError(out, truth) < 1e-5);
    } finally {
      await plain.dispose();
    }
  } finally {
    await op.dispose();
  }
});

const tiny: [string, () => TinyModel][] = [
  ['MLP (Gemm alpha, beta, transB)', () => tinyMlp()],
  ['grouped strided dilated Conv, AveragePool', () => tinyConv()],
  ['attention, layer norm, GELU, Slice, Concat', () => tinyAttention()],
  ['Pad, BatchNorm, LeakyRelu, ceil MaxPool, Where, Gather', () => tinyPiecewise()],
  ['Clip, HardSwish, dilated MaxPool (decomposed)', () => tinyMobile()],
  ['MSE loss', () => tinyRegression()],
];
for (const [label, make] of tiny) {
  test(`tiny ${label}: block J Jᵀ V, Jᵀ V and J U equal single products`, async () => {
    const m = make();
    const r = rng(21);
    const dx = m.inputDims.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: dx }, () => r());
    const labels = Array.from({ length: m.inputDims[0] }, (_, i) => i % m.classes);
    const target = m.loss === 'mse' ? Float32Array.from({ length: m.inputDims[0] * m.classes }, () => r()) : undefined;
    const op = operatorFor(m, x, labels, target, 'block');
    const plain = operatorFor(m, x, labels, target, 'single');
    try {
      for (const k of [1, 3]) await checkGram(op, plain, k, 200 + k, label);
      await checkOtherBlocks(op, 3, 9, label);
    } finally {
      await op.dispose();
      await plain.dispose();
    }
  });
}

/** The operator's block product behind maxBlock 3 (and oneBlockSize when asked), recording the size of every call. */
function limitedTo3(op: OnnxInversionOperator, oneBlockSize?: true) {
  const calls: number[] = [];
  const limited = {
    gramVector: (v: Float64Array, out: Float64Array) => op.gramVector(v, out),
    gramVectors: (vs: readonly Float64Array[], outs: readonly Float64Array[]) => {
      calls.push(vs.length);
      return op.gramVectors(vs, outs);
    },
    maxBlock: 3,
    ...(oneBlockSize ? { oneBlockSize } : {}),
  };
  return { calls, limited };
}

async function assertSingles(op: OnnxInversionOperator, vs: Float64Array[], outs: Float64Array[]): Promise<void> {
  for (let i = 0; i < vs.length; i++) {
    const single = new Float64Array(op.inputSize);
    await op.gramVector(vs[i], single);
    assert.ok(relativeError(outs[i], single) < TOLERANCE, `vector ${i}: ${relativeError(outs[i], single)}`);
  }
}

test('gramBlock splits at maxBlock: 8 vectors in blocks of 3, 3 and 2 equal 8 single products', async () => {
  const { op } = await fixtureOperator(join(root, 'lenet5_pool'));
  try {
    const { calls, limited } = limitedTo3(op);
    const vs = vectors(8, op.inputSize, 31);
    const outs = vs.map(() => new Float64Array(op.inputSize));
    await gramBlock(limited, vs, outs);
    assert.deepEqual(calls, [3, 3, 2]);
    await assertSingles(op, vs, outs);
  } finally {
    await op.dispose();
  }
});

test('gramBlock with one session alive (oneBlockSize): 8 vectors at maxBlock 3 go as 3, 3 and 3 (one zero vector), 2 as 2', async () => {
  const { op } = await fixtureOperator(join(root, 'lenet5_pool'));
  try {
    const { calls, limited } = limitedTo3(op, true);
    const vs = vectors(8, op.inputSize, 37);
    const outs = vs.map(() => new Float64Array(op.inputSize));
    await gramBlock(limited, vs, outs);
    assert.deepEqual(calls, [3, 3, 3]);
    await assertSingles(op, vs, outs);
    // A round with one chunk is never padded (a round that shrank for good rebuilds once instead).
    calls.length = 0;
    await gramBlock(limited, vs.slice(0, 2), outs.slice(0, 2));
    assert.deepEqual(calls, [2]);
  } finally {
    await op.dispose();
  }
});

test('the ONNX operator keeps one block size only where it keeps one session (large models, or maxSessions set)', async () => {
  const { op, model, ref, labels } = await fixtureOperator(join(root, 'lenet5_pool'));
  const x = await readNpy(join(root, 'lenet5_pool', 'x.npy'));
  const limited = model.operator({
    batch: ref.batch, input: Float32Array.from(x.data as Float32Array), target: oneHot(labels, ref.logits[0].length), loss: 'cross-entropy', session: { maxSessions: 1 },
  });
  try {
    assert.equal(op.oneBlockSize, false);
    assert.equal(limited.oneBlockSize, true);
  } finally {
    await op.dispose();
    await limited.dispose();
  }
});

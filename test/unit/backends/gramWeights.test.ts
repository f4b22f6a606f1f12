// The block J Jᵀ V with conv weight tangents through the Gram matrices of their operands or as im2col GEMMs
// (gramWeights.ts), on a matrix of conv geometries (strides, asymmetric padding, dilation, rectangular and 1×1
// kernels, 1-D, batch > 1, groups and a shared weight, which the plan must leave on the direct path): against the
// operator's single float32 products, its float64 products (Conv lowered to double ops, no im2col), and on one
// graph a dense J assembled column by column from float64 J e_j.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AttributeValue, Graph, Node, Tensor } from '../../../server/src/graph/ir';
import { ort, type OnnxInversionOperator } from '../../../server/src/backends/onnx/onnxOperator';
import { encodeModel } from '../../../server/src/backends/onnx/onnxProto';
import { gramPays, type GramWeightsMode } from '../../../server/src/backends/onnx/derivatives/gramWeights';
import { relativeError } from '../../support/fixtures';
import { i64, int, ints, node, operatorFor, randomTensor, rng, type TinyModel } from '../derivatives/tinyGraphs';

interface ConvSpec {
  label: string;
  batch: number;
  channels: number;
  /** Input spatial dims (one entry: a 1-D conv). */
  spatial: number[];
  out: number;
  kernel: number[];
  strides?: number[];
  pads?: number[];
  dilations?: number[];
  group?: number;
  /** A second Conv reads the first one's weight (tied weights): the plan must leave it alone. */
  shared?: boolean;
  /** How many conv weights the 'all' plan must route through the Gram matrices. */
  gram: number;
}

const SPECS: ConvSpec[] = [
  { label: '3×3, stride 1, pad 1', batch: 1, channels: 3, spatial: [6, 6], out: 4, kernel: [3, 3], pads: [1, 1, 1, 1], gram: 2 },
  { label: '3×3, stride 2, pad 1, batch 2', batch: 2, channels: 2, spatial: [7, 6], out: 3, kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], gram: 2 },
  { label: '2×3, strides (2, 1), asymmetric pads, dilation (1, 2)', batch: 2, channels: 2, spatial: [6, 7], out: 3, kernel: [2, 3], strides: [2, 1], pads: [1, 0, 0, 2], dilations: [1, 2], gram: 2 },
  { label: '1×1, stride 2 (a shortcut)', batch: 1, channels: 4, spatial: [5, 5], out: 6, kernel: [1, 1], strides: [2, 2], gram: 2 },
  { label: '3×3, dilation 2, pad 2', batch: 1, channels: 2, spatial: [7, 7], out: 3, kernel: [3, 3], pads: [2, 2, 2, 2], dilations: [2, 2], gram: 2 },
  { label: '1-D, kernel 3, stride 2, pad (1, 0)', batch: 2, channels: 3, spatial: [9], out: 4, kernel: [3], strides: [2], pads: [1, 0], gram: 2 },
  { label: 'grouped (2 groups): direct path for the grouped layer', batch: 1, channels: 4, spatial: [5, 5], out: 4, kernel: [3, 3], pads: [1, 1, 1, 1], group: 2, gram: 1 },
  { label: 'a weight read by two Convs: direct path', batch: 1, channels: 3, spatial: [5, 5], out: 3, kernel: [3, 3], pads: [1, 1, 1, 1], shared: true, gram: 0 },
];

const outSize = (n: number, k: number, s: number, pb: number, pe: number, d: number) => Math.floor((n + pb + pe - d * (k - 1) - 1) / s) + 1;

/** x → Conv(spec, bias) → Tanh → Conv(3×3 same, group 1) → Sigmoid → Gemm → 3 logits. */
function convNet(spec: ConvSpec, seed: number): TinyModel {
  const r = rng(seed);
  const rank = spec.spatial.length;
  const strides = spec.strides ?? new Array(rank).fill(1);
  const pads = spec.pads ?? new Array(2 * rank).fill(0);
  const dilations = spec.dilations ?? new Array(rank).fill(1);
  const group = spec.group ?? 1;
  const ySpatial = spec.spatial.map((n, i) => outSize(n, spec.kernel[i], strides[i], pads[i], pads[i + rank], dilations[i]));
  const second = spec.shared ? spec.kernel : new Array(rank).fill(3);
  const secondPads = spec.shared ? pads : new Array(2 * rank).fill(1);
  const secondStrides = spec.shared ? strides : new Array(rank).fill(1);
  const secondDilations = spec.shared ? dilations : new Array(rank).fill(1);
  const zSpatial = ySpatial.map((n, i) => outSize(n, second[i], secondStrides[i], secondPads[i], secondPads[i + rank], secondDilations[i]));
  const c2 = spec.shared ? spec.out : 2;
  const flat = c2 * zSpatial.reduce((a, b) => a * b, 1);
  const init: Record<string, Tensor> = {
    w1: randomTensor([spec.out, spec.channels / group, ...spec.kernel], r, 0.6), b1: randomTensor([spec.out], r, 0.3),
    fw: randomTensor([3, flat], r, 0.5), fb: randomTensor([3], r),
    shape: i64([spec.batch, flat]),
  };
  if (!spec.shared) init.w2 = randomTensor([2, spec.out, ...second], r, 0.5);
  const geometry: Record<string, AttributeValue> = { strides: ints(strides), pads: ints(pads), dilations: ints(dilations), group: int(group) };
  const nodes: Node[] = [
    node('Conv', ['x', 'w1', 'b1'], ['c1'], geometry),
    node('Tanh', ['c1'], ['t1']),
    spec.shared
      ? node('Conv', ['t1', 'w1'], ['c2'], geometry)
      : node('Conv', ['t1', 'w2'], ['c2'], { pads: ints(secondPads) }),
    node('Sigmoid', ['c2'], ['t2']),
    node('Reshape', ['t2', 'shape'], ['flat']),
    node('Gemm', ['flat', 'fw', 'fb'], ['z'], { transB: int(1) }),
  ];
  const inputDims = [spec.batch, spec.channels, ...spec.spatial];
  const graph: Graph = {
    name: 'convnet', nodes, initializers: new Map(Object.entries(init)),
    inputs: [{ name: 'x', dtype: 'float32', dims: inputDims }], outputs: [{ name: 'z', dtype: 'float32', dims: [] }],
  };
  return { graph, inputDims, trainable: spec.shared ? ['w1', 'b1', 'fw', 'fb'] : ['w1', 'b1', 'w2', 'fw', 'fb'], loss: 'cross-entropy', classes: 3 };
}

function setup(m: TinyModel, seed: number): { op: OnnxInversionOperator; x: Float32Array; target: Float32Array } {
  const r = rng(seed);
  const x = Float32Array.from({ length: m.inputDims.reduce((a, b) => a * b, 1) }, () => r() * 2 - 1);
  const labels = Array.from({ length: m.inputDims[0] }, (_, i) => i % m.classes);
  const target = new Float32Array(m.inputDims[0] * m.classes);
  labels.forEach((y, i) => (target[i * m.classes + y] = 1));
  return { op: operatorFor(m, x, labels), x, target };
}

/** J Jᵀ V of the block graph built with `mode`, run on its own session; and how many im2col Convs it has. */
async function blockGram(op: OnnxInversionOperator, x: Float32Array, target: Float32Array, vs: Float64Array[], mode: GramWeightsMode): Promise<{ outs: Float64Array[]; im2cols: number; grams: number; weightGemms: number; smallMaps: number }> {
  const k = vs.length;
  const { model, layout } = op.productModel('gram', undefined, 'float32', k, mode);
  const T = ort().Tensor;
  const session = await ort().InferenceSession.create(encodeModel(model));
  try {
    const flat = new Float32Array(k * layout.inputSize);
    vs.forEach((v, i) => flat.set(v, i * layout.inputSize));
    const r = await session.run({ [layout.inputName]: new T('float32', x, layout.inputDims), i2f_target: new T('float32', target, layout.targetDims), i2f_V: new T('float32', flat, [k, layout.inputSize]) });
    const data = r.JJTV.data as Float32Array;
    const outs = vs.map((_, i) => Float64Array.from(data.subarray(i * layout.inputSize, (i + 1) * layout.inputSize)));
    const count = (hint: string) => model.graph.nodes.filter((n) => n.outputs[0]?.endsWith(`_${hint}`)).length;
    return { outs, im2cols: count('im2col'), grams: count('gram'), weightGemms: count('tW'), smallMaps: count('columns') + count('col2im') };
  } finally {
    await session.release();
  }
}

function vectors(n: number, size: number, seed: number): Float64Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Float64Array.from({ length: size }, () => r() * 2 - 1));
}

for (const [i, spec] of SPECS.entries()) {
  test(`Gram conv weights, ${spec.label}: block J Jᵀ V equals single float32 and float64 products`, async () => {
    const m = convNet(spec, 40 + i);
    const { op, x, target } = setup(m, 60 + i);
    try {
      const vs = vectors(3, op.inputSize, 80 + i);
      const gram = await blockGram(op, x, target, vs, 'all');
      const gemm = await blockGram(op, x, target, vs, 'gemm');
      const direct = await blockGram(op, x, target, vs, 'off');
      // The Gram route: two P × P matrices (AᵀA, ∂yᵀ∂y) per layer; the GEMM route: two GEMMs making tW per layer.
      assert.equal(gram.grams, 2 * spec.gram, `${spec.label}: ${gram.grams / 2} layers through the Gram matrices, expected ${spec.gram}`);
      assert.equal(gram.weightGemms, 0);
      assert.equal(gemm.weightGemms, 2 * spec.gram, `${spec.label}: ${gemm.weightGemms / 2} conv weight tangents as im2col GEMMs, expected ${spec.gram}`);
      assert.equal(gemm.grams, 0);
      assert.equal(direct.grams + direct.weightGemms + direct.im2cols, 0);
      for (let j = 0; j < vs.length; j++) {
        const single = new Float64Array(op.inputSize);
        await op.gramVector(vs[j], single);
        const precise = new Float64Array(op.inputSize);
        await op.precise!.gramVector(vs[j], precise);
        assert.ok(relativeError(gram.outs[j], single) < 1e-6, `${spec.label}, vector ${j}: Gram route off the single product by ${relativeError(gram.outs[j], single)}`);
        assert.ok(relativeError(gemm.outs[j], single) < 1e-6, `${spec.label}, vector ${j}: GEMM weight tangents off the single product by ${relativeError(gemm.outs[j], single)}`);
        assert.ok(relativeError(direct.outs[j], single) < 1e-6, `${spec.label}, vector ${j}: direct block off by ${relativeError(direct.outs[j], single)}`);
        assert.ok(relativeError(gram.outs[j], precise) < 1e-5, `${spec.label}, vector ${j}: Gram route off the float64 product by ${relativeError(gram.outs[j], precise)}`);
      }
    } finally {
      await op.dispose();
    }
  });
}

test('small maps (≤ GEMM_MAX_POSITIONS per image): the blocked-input Conv and ConvTranspose run as one GEMM over all images', async () => {
  // 7×6 at stride 2: 4×3 = 12 positions, both convs and their input-gradient ConvTransposes; 6×6 = 36: none.
  for (const [index, expected] of [[1, true], [0, false]] as const) {
    const m = convNet(SPECS[index], 90);
    const { op, x, target } = setup(m, 91);
    try {
      const vs = vectors(3, op.inputSize, 92);
      const { outs, smallMaps } = await blockGram(op, x, target, vs, 'off');
      assert.equal(smallMaps > 0, expected, `${SPECS[index].label}: ${smallMaps} small-map GEMM nodes`);
      for (const [j, v] of vs.entries()) {
        const single = new Float64Array(op.inputSize);
        await op.gramVector(v, single);
        assert.ok(relativeError(outs[j], single) < 1e-6, `${SPECS[index].label}, vector ${j}: ${relativeError(outs[j], single)}`);
      }
    } finally {
      await op.dispose();
    }
  }
});

test('Gram conv weights: J Jᵀ V equals the dense J (float64 J eⱼ, column by column) times Jᵀ V', async () => {
  const m = convNet(SPECS[2], 7);
  const { op, x, target } = setup(m, 8);
  try {
    const dx = op.inputSize;
    const dt = op.parameterCount;
    // J [d_x, d_θ] from float64 J eⱼ; then J (Jᵀ v) in float64 here.
    const J: Float64Array[] = [];
    const e = new Float64Array(dt);
    for (let j = 0; j < dt; j++) {
      e.fill(0);
      e[j] = 1;
      const col = new Float64Array(dx);
      await op.precise!.jacobianVector(e, col);
      J.push(col);
    }
    const vs = vectors(2, dx, 9);
    const { outs, grams } = await blockGram(op, x, target, vs, 'all');
    assert.equal(grams, 4);
    for (const [i, v] of vs.entries()) {
      const jtv = J.map((col) => col.reduce((s, c, r) => s + c * v[r], 0));
      const dense = new Float64Array(dx);
      J.forEach((col, j) => col.forEach((c, r) => (dense[r] += c * jtv[j])));
      assert.ok(relativeError(outs[i], dense) < 1e-5, `vector ${i}: off the dense J Jᵀ v by ${relativeError(outs[i], dense)}`);
    }
  } finally {
    await op.dispose();
  }
});

test('gramPays: the 4×4 and 8×8 stages of ResNet-18 at 32×32 go through the Gram matrices, the 32×32 and 16×16 ones do not', () => {
  // (C, O, kernel size, P): multiply-adds of the Gram route over the direct one, module comment of gramWeights.ts.
  assert.ok(gramPays(512, 512, 9, 16) < 0.05);
  assert.ok(gramPays(256, 256, 9, 64) < 0.25);
  assert.ok(gramPays(256, 512, 1, 16) < 0.1); // the 4×4 stage's 1×1 shortcut
  assert.ok(gramPays(128, 256, 1, 64) > 0.5); // the 8×8 stage's: O·P² is no longer small against O·C·P
  assert.ok(gramPays(128, 128, 9, 256) > 1);
  assert.ok(gramPays(64, 64, 9, 1024) > 5);
});

// tfjs GRAPH models (tfjs-converter format, written by tools/fixtures/tfjs_graph_fixtures.ts): the official
// @tensorflow/tfjs-converter loadGraphModel runs each file from disk, and its predictions equal those of our IR
// (run by onnxruntime) and of the ONNX twin; the products on the graph-model form equal the ONNX engine's on the
// twin and PyTorch's float64 references (≤ 1e-5); the rest of the converter ops agree across both engines; bad
// files fail with located UserErrors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { TfjsInversionOperator } from '../../../server/src/backends/tfjs/tfjsOperator';
import { activateBackend } from '../../../server/src/backends/tfjs/backend';
import { UserError } from '../../../server/src/errors';
import { fixtureInputs, referenceVectors, twinOperators, relativeError, seededVector, tfjsRoot } from './helpers';

/** The official loader on a model.json from disk (shards read as tf.io's file handlers would). */
async function officialModel(file: string) {
  const json = JSON.parse(readFileSync(file, 'utf8'));
  const data = Buffer.concat(json.weightsManifest.flatMap((g: { paths: string[] }) => g.paths.map((p) => readFileSync(join(dirname(file), p)))));
  const weightSpecs = json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights);
  return loadGraphModel(tf.io.fromMemory({ ...json, weightSpecs, weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) }));
}

/** NCHW (the IR's layout) → NHWC (TensorFlow's), for images; vectors unchanged. */
function toNhwc(x: Float32Array, dims: number[]): tf.Tensor {
  const t = tf.tensor(x, dims);
  return dims.length === 4 ? tf.transpose(t, [0, 2, 3, 1]) : t;
}

const GRAPH_TWINS = { graph_mlp: 'mlp', graph_mlp_uint8: 'mlp', graph_lenet5_pool: 'lenet5_pool', graph_ops: undefined } as const;

for (const [name, twin] of Object.entries(GRAPH_TWINS)) {
  test(`${name}: the official loadGraphModel's logits equal our IR's${twin ? ` and the ONNX twin's (${twin})` : ''}`, async (t) => {
    await activateBackend('cpu');
    const file = join(tfjsRoot, name, 'model.json');
    const ours = await OnnxModel.open(file);
    const batch = 3;
    const dims = [batch, ...ours.sampleDims];
    const x = Float32Array.from(seededVector(batch * ours.sampleSize, 5), (v) => 0.5 + 0.25 * v);
    const official = await officialModel(file);
    // graph_ops ends in Softmax (the IR drops it: the loss takes logits); ask the official graph for the logits node.
    const logitsNode = name === 'graph_ops' ? 'StatefulPartitionedCall/model/logits/BiasAdd' : undefined;
    const y = (logitsNode ? official.execute(toNhwc(x, dims), logitsNode) : official.execute(toNhwc(x, dims))) as tf.Tensor;
    const theirs = Float64Array.from(await y.data());
    const mine = Float64Array.from((await ours.predict(x, batch)).logits);
    const errs = [`IR vs official ${relativeError(mine, theirs).toExponential(2)}`];
    assert.ok(relativeError(mine, theirs) < 1e-5, errs[0]);
    if (twin) {
      const onnx = await OnnxModel.open(join(tfjsRoot, '../models', twin, 'model.onnx'));
      const ref = Float64Array.from((await onnx.predict(x, batch)).logits);
      const e = relativeError(theirs, ref);
      errs.push(`official vs ONNX twin ${e.toExponential(2)}`);
      // The uint8 twin's weights are quantised: its logits sit within quantisation error of the float model's.
      assert.ok(e < (name.endsWith('uint8') ? 2e-2 : 1e-5), errs[1]);
      if (name.endsWith('uint8')) assert.ok(e > 1e-7, 'the uint8 weights are really quantised');
    }
    t.diagnostic(`${name}: ${errs.join(', ')}`);
  });
}

/** θ of the tfjs twins is the ONNX one except the LeNet's first Dense after the NHWC flatten (rows in H, W, C order). */
function permuteFc1(vec: Float64Array, layout: readonly { offset: number; dims: number[] }[], toOnnx: boolean): Float64Array {
  const out = Float64Array.from(vec);
  const fc1 = layout[4];
  if (fc1?.dims.join() !== '120,400') return out;
  for (let o = 0; o < 120; o++)
    for (let c = 0; c < 16; c++)
      for (let p = 0; p < 25; p++) {
        const onnx = fc1.offset + o * 400 + c * 25 + p;
        const tfjs = fc1.offset + o * 400 + p * 16 + c;
        if (toOnnx) out[onnx] = vec[tfjs];
        else out[tfjs] = vec[onnx];
      }
  return out;
}

for (const [name, twin] of [['graph_mlp', 'mlp'], ['graph_lenet5_pool', 'lenet5_pool']] as const) {
  test(`${name}: products on the graph-model form equal PyTorch float64 and the ONNX twin on both engines (≤ 1e-5)`, async (t) => {
    const { f, ops, onnxTwin } = await twinOperators(join(tfjsRoot, name, 'model.json'), twin);
    try {
      const ref = await referenceVectors(f.dir, onnxTwin.parameters, onnxTwin.parameterCount);
      const u = permuteFc1(ref.u, ops.onnx.parameters, false);
      const rows: string[] = [];
      const twinG = new Float64Array(onnxTwin.parameterCount);
      await onnxTwin.gradient(twinG);
      for (const [engine, op] of Object.entries(ops)) {
        const g = new Float64Array(op.parameterCount);
        const loss = await op.gradient(g);
        const Ju = new Float64Array(op.inputSize);
        await op.jacobianVector(u, Ju);
        const JTv = new Float64Array(op.parameterCount);
        await op.jacobianTransposeVector(ref.v, JTv);
        const errs = {
          g: relativeError(permuteFc1(g, op.parameters, true), ref.g),
          gVsOnnxTwin: relativeError(permuteFc1(g, op.parameters, true), twinG),
          Ju: relativeError(Ju, ref.Ju),
          JTv: relativeError(permuteFc1(JTv, op.parameters, true), ref.JTv),
        };
        rows.push(`${engine}: ${Object.entries(errs).map(([k, e]) => `${k} ${e.toExponential(2)}`).join(', ')}`);
        assert.ok(Math.abs(loss - f.ref!.loss.value) < 1e-5 * f.ref!.loss.value, `${engine} loss ${loss}`);
        for (const [k, e] of Object.entries(errs)) assert.ok(e < 1e-5, `${engine} ${k}: ${e}`);
      }
      t.diagnostic(`${name} vs PyTorch: ${rows.join('; ')}`);
    } finally {
      await ops.onnx.dispose();
      await ops.tfjs.dispose();
      await onnxTwin.dispose();
    }
  });
}

test('graph_ops (Mul/Sub/RealDiv by constants, conv+BiasAdd, FusedBatchNormV3, Relu6, depthwise, AvgPool, concat, Mean, Squeeze): both engines agree to 1e-5', async (t) => {
  const model = await OnnxModel.open(join(tfjsRoot, 'graph_ops', 'model.json'));
  assert.deepEqual(model.sampleDims, [3, 8, 8]);
  const batch = 2;
  const x = Float32Array.from(seededVector(batch * model.sampleSize, 9), (v) => 0.5 + 0.25 * v);
  const target = new Float32Array(batch * 10);
  target[3] = 1;
  target[10 + 7] = 1;
  const opts = { batch, input: x, target, loss: 'cross-entropy' as const };
  const onnx = model.operator(opts);
  const tj = await TfjsInversionOperator.create({ ...opts, file: model.file, trainable: model.trainable, specialise: (b) => model.specialise(b), backend: 'wasm' });
  try {
    // θ: conv kernel + bias, BN scale + offset, depthwise kernel + bias, pointwise kernel + bias, logits kernel + bias.
    assert.equal(onnx.parameters.length, 10, onnx.parameters.map((p) => p.name).join(', '));
    const u = seededVector(onnx.parameterCount, 21);
    const v = seededVector(onnx.inputSize, 22);
    const rows: string[] = [];
    const out: Record<string, Float64Array>[] = [];
    for (const op of [onnx, tj]) {
      const g = new Float64Array(op.parameterCount);
      await op.gradient(g);
      const Ju = new Float64Array(op.inputSize);
      await op.jacobianVector(u, Ju);
      const JTv = new Float64Array(op.parameterCount);
      await op.jacobianTransposeVector(v, JTv);
      out.push({ g, Ju, JTv });
    }
    for (const k of ['g', 'Ju', 'JTv']) {
      const e = relativeError(out[1][k], out[0][k]);
      rows.push(`${k} ${e.toExponential(2)}`);
      assert.ok(e < 1e-5, `${k}: ${e}`);
      assert.ok(out[0][k].some((val) => val !== 0), `${k} is not all zero`);
    }
    t.diagnostic(`graph_ops tfjs vs onnx: ${rows.join(', ')}`);
  } finally {
    await onnx.dispose();
    await tj.dispose();
  }
});

test('graph models: missing shards, short shards, unmapped ops, missing constants and two outputs are located UserErrors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-tfjs-graph-'));
  const src = join(tfjsRoot, 'graph_lenet5_pool');
  const json = JSON.parse(readFileSync(join(src, 'model.json'), 'utf8'));
  const file = join(dir, 'model.json');
  const put = (j: unknown) => writeFileSync(file, JSON.stringify(j));
  const rejects = (code: string, pattern: RegExp, node?: string) =>
    assert.rejects(OnnxModel.open(file), (e: unknown) => e instanceof UserError && e.code === code && pattern.test(e.message) && e.location.file === file && (node === undefined || e.location.node === node));
  put(json);
  await rejects('missing-weights', /group1-shard1of1\.bin/);
  writeFileSync(join(dir, 'group1-shard1of1.bin'), readFileSync(join(src, 'group1-shard1of1.bin')).subarray(0, 1000));
  await rejects('corrupt-weights', /bytes/);
  copyFileSync(join(src, 'group1-shard1of1.bin'), join(dir, 'group1-shard1of1.bin'));
  await OnnxModel.open(file); // intact copy loads

  const pool = json.modelTopology.node.find((n: { name: string }) => n.name.endsWith('pool2/MaxPool'));
  pool.op = 'FractionalMaxPool';
  put(json);
  await rejects('unsupported-op', /FractionalMaxPool.*not supported/, pool.name);
  pool.op = 'MaxPool';

  const weights = json.weightsManifest[0].weights;
  const saved = weights[0].name;
  weights[0].name = 'renamed';
  put(json);
  await rejects('missing-weights', /conv1\/Conv2D\/ReadVariableOp.*not in the weights manifest/);
  weights[0].name = saved;

  json.modelTopology.node.push({ name: 'extra', op: 'Relu', input: ['StatefulPartitionedCall/sequential/fc2/Relu'] });
  delete json.signature;
  put(json);
  await rejects('unsupported-model', /2 outputs/);

  json.weightsManifest[0].paths = ['../outside.bin'];
  put(json);
  await rejects('corrupt-weights', /outside the model's folder/);
});

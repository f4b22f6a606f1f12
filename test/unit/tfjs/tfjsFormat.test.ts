// tfjs layers models (written by tools/fixtures/tfjs_fixtures.ts with tfjs-layers itself, same weights as the
// ONNX fixtures) load into the IR and give the same products as their ONNX twins on both engines; quantised
// weights dequantise; broken files fail with located UserErrors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { readTfjsWeights } from '../../../server/src/backends/tfjs/loadTfjs';
import { UserError } from '../../../server/src/errors';
import { fixtureInputs, referenceVectors, twinOperators, relativeError, tfjsRoot } from './helpers';

/** The Dense after Flatten in each conv twin: its kernel, units and the (C, H, W) map it reads. */
const FLATTEN_DENSE: Record<string, { kernel: string; out: number; chw: [number, number, number] }> = {
  lenet5_pool: { kernel: 'fc1/kernel', out: 120, chw: [16, 5, 5] },
  dlg_lenet: { kernel: 'fc/kernel', out: 10, chw: [12, 8, 8] },
};

type Layout = readonly { name: string; offset: number; size: number }[];

/**
 * The functional ResNet-8 twin's θ follows Keras's topological layer order (a block's shortcut conv before its bn2),
 * not PyTorch's module order: its blocks move by name (each block itself is in the ONNX layout).
 */
const ONNX_NAME: Record<string, (tfjs: string) => string> = {
  resnet8: (n) =>
    n
      .replace(/^block(\d)_shortcut_conv\//, 'layers.$1.0.shortcut.0.')
      .replace(/^block(\d)_shortcut_bn\//, 'layers.$1.0.shortcut.1.')
      .replace(/^block(\d)_/, 'layers.$1.0.')
      .replace(/[./](kernel|gamma)$/, '.weight')
      .replace(/[./](bias|beta)$/, '.bias'),
};

/** θ index maps tfjs twin ↔ ONNX: identical except the Dense after Flatten, whose inputs are in (H, W, C) order. */
function relayout(name: string, vec: Float64Array, layout: Layout, onnx: Layout, toOnnx: boolean): Float64Array {
  const rename = ONNX_NAME[name];
  if (rename && !toOnnx) {
    const out = new Float64Array(vec.length);
    for (const p of layout) out.set(vec.subarray(onnx.find((q) => q.name === rename(p.name))!.offset).subarray(0, p.size), p.offset);
    return out;
  }
  if (rename) {
    const out = new Float64Array(vec.length);
    for (const p of layout) out.set(vec.subarray(p.offset, p.offset + p.size), onnx.find((q) => q.name === rename(p.name))!.offset);
    return out;
  }
  const out = Float64Array.from(vec);
  const fd = FLATTEN_DENSE[name];
  if (!fd) return out;
  const base = layout.find((p) => p.name === fd.kernel)!.offset;
  const [C, H, W] = fd.chw;
  const n = C * H * W;
  for (let o = 0; o < fd.out; o++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const nchw = base + o * n + (c * H + h) * W + w;
          const nhwc = base + o * n + (h * W + w) * C + c;
          if (toOnnx) out[nchw] = vec[nhwc];
          else out[nhwc] = vec[nchw];
        }
  return out;
}

const toOnnxLayout = (name: string, vec: Float64Array, layout: Layout, onnx: Layout) => relayout(name, vec, layout, onnx, true);
const fromOnnxLayout = (name: string, vec: Float64Array, layout: Layout, onnx: Layout) => relayout(name, vec, layout, onnx, false);

for (const name of ['mlp', 'lenet5_pool', 'dlg_lenet', 'resnet8']) {
  test(`${name}: the tfjs layers twin gives the ONNX twin's products (PyTorch references) on both engines`, async (t) => {
    const { f, ops, onnxTwin } = await twinOperators(join(tfjsRoot, name, 'model.json'), name);
    try {
      const ref = await referenceVectors(f.dir, onnxTwin.parameters, onnxTwin.parameterCount);
      const u = fromOnnxLayout(name, ref.u, ops.onnx.parameters, onnxTwin.parameters);
      const rows: string[] = [];
      for (const [engine, op] of Object.entries(ops)) {
        const g = new Float64Array(op.parameterCount);
        const loss = await op.gradient(g);
        const Ju = new Float64Array(op.inputSize);
        await op.jacobianVector(u, Ju);
        const JTv = new Float64Array(op.parameterCount);
        await op.jacobianTransposeVector(ref.v, JTv);
        const errs = {
          g: relativeError(toOnnxLayout(name, g, op.parameters, onnxTwin.parameters), ref.g),
          Ju: relativeError(Ju, ref.Ju),
          JTv: relativeError(toOnnxLayout(name, JTv, op.parameters, onnxTwin.parameters), ref.JTv),
        };
        rows.push(`${engine}: g ${errs.g.toExponential(2)}, Ju ${errs.Ju.toExponential(2)}, JTv ${errs.JTv.toExponential(2)}`);
        assert.ok(Math.abs(loss - f.ref!.loss.value) < 1e-5 * f.ref!.loss.value, `${engine} loss ${loss}`);
        for (const [k, e] of Object.entries(errs)) assert.ok(e < 1e-5, `${engine} ${k}: ${e}`);
      }
      t.diagnostic(`${name} (tfjs twin vs PyTorch): ${rows.join('; ')}`);
    } finally {
      await ops.onnx.dispose();
      await ops.tfjs.dispose();
      await onnxTwin.dispose();
    }
  });
}

test('uint8-quantised weights dequantise to within half a step of the float32 twin', async () => {
  const file = join(tfjsRoot, 'mlp_uint8', 'model.json');
  const json = JSON.parse(readFileSync(file, 'utf8'));
  const q = await readTfjsWeights(file, json);
  const fFile = join(tfjsRoot, 'mlp', 'model.json');
  const f = await readTfjsWeights(fFile, JSON.parse(readFileSync(fFile, 'utf8')));
  for (const spec of json.weightsManifest[0].weights) {
    const a = q.get(spec.name)!.data as Float32Array;
    const b = f.get(spec.name)!.data as Float32Array;
    const worst = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
    assert.ok(worst <= spec.quantization.scale / 2 + 1e-6, `${spec.name}: ${worst} vs step ${spec.quantization.scale}`);
  }
  const model = await OnnxModel.open(file);
  assert.equal(model.parameterCount, 2410);
});

test('missing shards, wrong byte counts and unsupported layers are located UserErrors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-tfjs-'));
  const json = JSON.parse(readFileSync(join(tfjsRoot, 'mlp', 'model.json'), 'utf8'));
  const file = join(dir, 'model.json');
  writeFileSync(file, JSON.stringify(json));
  await assert.rejects(OnnxModel.open(file), (e: unknown) => e instanceof UserError && e.code === 'missing-weights' && /group1-shard1of1\.bin/.test(e.message) && e.location.file === file);
  writeFileSync(join(dir, 'group1-shard1of1.bin'), readFileSync(join(tfjsRoot, 'mlp', 'group1-shard1of1.bin')).subarray(0, 100));
  await assert.rejects(OnnxModel.open(file), (e: unknown) => e instanceof UserError && e.code === 'corrupt-weights' && /fc1\/kernel|bytes/.test(e.message));
  copyFileSync(join(tfjsRoot, 'mlp', 'group1-shard1of1.bin'), join(dir, 'group1-shard1of1.bin'));
  json.modelTopology.config.layers[1].class_name = 'LSTM';
  writeFileSync(file, JSON.stringify(json));
  await assert.rejects(OnnxModel.open(file), (e: unknown) => e instanceof UserError && e.code === 'unsupported-op' && e.location.node === 'fc2' && /LSTM/.test(e.message));
});

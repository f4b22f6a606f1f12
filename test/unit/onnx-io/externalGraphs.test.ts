// Models over 2 GB (issue 10): a model whose initialisers are all ONNX external data (written by onnx-python,
// tools/fixtures/external_data_model.py) loads to the same θ as the inline model, and the large-θ path (product
// graphs written to disk with θ as external data, one session alive at a time) gives the same products as the
// normal path and as PyTorch, forced here by lowered thresholds on the small DLG LeNet.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { ExternalGraphFolder } from '../../../server/src/backends/onnx/externalData';
import { readNpy } from '../../../server/src/formats/npy';
import { readSafetensors } from '../../../server/src/formats/safetensors';
import { fixtureOperator, flattenTheta, relativeError, root } from '../../support/fixtures';
import { oneHot } from '../../../server/src/analysis/inputs';

const lenet = join(root, 'dlg_lenet');
const external = join(__dirname, '../../fixtures/onnx-io/external_lenet/model.onnx');

test('a model saved by onnx-python with every initialiser external loads to the same θ as the inline model', async () => {
  assert.ok(statSync(external).size < 4096, 'the model file holds only the graph');
  const inline = await OnnxModel.open(join(lenet, 'model.onnx'));
  const split = await OnnxModel.open(external);
  assert.deepEqual(split.trainable, inline.trainable);
  for (const name of inline.trainable) {
    const a = inline.model.graph.initializers.get(name)!;
    const b = split.model.graph.initializers.get(name)!;
    assert.deepEqual(b.dims, a.dims, name);
    assert.deepEqual(b.data, a.data, name);
  }
});

test('the large-θ path (product graphs on disk, θ as external data, one session at a time) gives the normal path\'s products', async () => {
  const { ref, op: normal, labels } = await fixtureOperator(lenet);
  const model = await OnnxModel.open(external);
  const x = await readNpy(join(lenet, 'x.npy'));
  const op = model.operator({
    batch: ref.batch, input: Float32Array.from(x.data as Float32Array), target: oneHot(labels, ref.logits[0].length), loss: 'cross-entropy',
    session: { externalGraphBytes: 0, maxSessions: 1 },
  });
  try {
    const u = flattenTheta((await readSafetensors(join(lenet, 'u.safetensors'))).tensors as never, op.parameters, op.parameterCount);
    const v = Float64Array.from((await readNpy(join(lenet, 'v.npy'))).data as Float64Array);
    const JuRef = (await readNpy(join(lenet, 'Ju.npy'))).data as Float64Array;
    const JJTvRef = (await readNpy(join(lenet, 'JJTv.npy'))).data as Float64Array;
    const products: [string, (o: typeof op) => Promise<Float64Array>, ArrayLike<number> | undefined, number][] = [
      ['g', async (o) => { const g = new Float64Array(o.parameterCount); await o.gradient(g); return g; }, undefined, 0],
      ['J u', async (o) => { const r = new Float64Array(o.inputSize); await o.jacobianVector(u, r); return r; }, JuRef, 1e-5],
      ['Jᵀ v', async (o) => { const r = new Float64Array(o.parameterCount); await o.jacobianTransposeVector(v, r); return r; }, undefined, 0],
      ['J Jᵀ v', async (o) => { const r = new Float64Array(o.inputSize); await o.gramVector(v, r); return r; }, JJTvRef, 1e-5],
      ['float64 J u', async (o) => { const r = new Float64Array(o.inputSize); await o.precise!.jacobianVector(u, r); return r; }, JuRef, 1e-10],
      ['float64 J Jᵀ v', async (o) => { const r = new Float64Array(o.inputSize); await o.precise!.gramVector(v, r); return r; }, JJTvRef, 1e-10],
      // Back to a product whose session was released: rebuilt from its file on disk.
      ['J u again', async (o) => { const r = new Float64Array(o.inputSize); await o.jacobianVector(u, r); return r; }, JuRef, 1e-5],
    ];
    for (const [name, run, truth, tolerance] of products) {
      const a = await run(op);
      const b = await run(normal);
      // Same graph, same kernels: the path changes where θ's bytes come from, not one bit of the result.
      assert.deepEqual(a, b, `${name} differs from the normal path by ${relativeError(a, b)}`);
      if (truth) assert.ok(relativeError(a, truth) < tolerance, `${name} vs PyTorch: ${relativeError(a, truth)}`);
      assert.ok(op.liveSessions <= 1, `${op.liveSessions} sessions alive after ${name}`);
    }
    // Each product graph written once (J u's second use read its file), beside one shared weights file.
    const files = op.graphFiles;
    assert.equal(files.length, 6);
    const folder = dirname(files[0]);
    assert.deepEqual(readdirSync(folder).sort(), [...files.map((f) => f.slice(folder.length + 1)), 'weights.bin'].sort());
    // θ (float32, 77,632 bytes) is on disk once for the float32 graphs; each float64 graph adds its widened copy.
    const thetaBytes = 4 * op.parameterCount;
    for (const f of files) assert.ok(statSync(f).size < thetaBytes / 2, `${f} keeps θ outside (${statSync(f).size} bytes)`);
    assert.ok(statSync(join(folder, 'weights.bin')).size >= thetaBytes * 3, 'θ in float32 and twice in float64');
    await op.dispose();
    assert.equal(existsSync(folder), false, 'dispose removes the folder');
  } finally {
    await op.dispose();
    await normal.dispose();
  }
});

test('a product-graph folder left by a process that died (no exit hook ran) is removed when the next one is made', () => {
  const parent = mkdtempSync(join(tmpdir(), 'i2f-orphans-'));
  try {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its pid names no process now
    const orphan = join(parent, `i2f-products-${dead}-abc123`);
    const living = join(parent, `i2f-products-${process.ppid}-def456`);
    for (const d of [orphan, living]) {
      mkdirSync(d);
      writeFileSync(join(d, 'weights.bin'), 'θ');
    }
    const folder = new ExternalGraphFolder(parent);
    assert.equal(existsSync(orphan), false, 'the dead process\'s folder is gone');
    assert.equal(existsSync(living), true, 'a running process\'s folder stays');
    assert.ok(dirname(folder.dir) === parent && folder.dir.includes(`i2f-products-${process.pid}-`));
    folder.dispose();
    assert.equal(existsSync(folder.dir), false);
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
});

test('with one session allowed, products called concurrently all complete with the numbers of sequential calls', async () => {
  const { ref, op: sequential, labels } = await fixtureOperator(lenet);
  const model = await OnnxModel.open(external);
  const x = await readNpy(join(lenet, 'x.npy'));
  const op = model.operator({
    batch: ref.batch, input: Float32Array.from(x.data as Float32Array), target: oneHot(labels, ref.logits[0].length), loss: 'cross-entropy',
    session: { externalGraphBytes: 0, maxSessions: 1 },
  });
  try {
    const u = flattenTheta((await readSafetensors(join(lenet, 'u.safetensors'))).tensors as never, op.parameters, op.parameterCount);
    const v = Float64Array.from((await readNpy(join(lenet, 'v.npy'))).data as Float64Array);
    const run = (o: typeof op) => {
      const out = { g: new Float64Array(o.parameterCount), ju: new Float64Array(o.inputSize), jjtv: new Float64Array(o.inputSize), ju64: new Float64Array(o.inputSize) };
      return { out, calls: [o.gradient(out.g), o.jacobianVector(u, out.ju), o.gramVector(v, out.jjtv), o.precise!.jacobianVector(u, out.ju64), o.gramVector(v, out.jjtv)] };
    };
    // A session in use is never released under its call, even while the others wait for their turn: with g's
    // session built first, the g call below is in flight on it when J u asks for the only place.
    await op.gradient(new Float64Array(op.parameterCount));
    const concurrent = run(op);
    await Promise.all(concurrent.calls);
    const expected = run(sequential);
    for (const c of expected.calls) await c;
    assert.deepEqual(concurrent.out, expected.out);
  } finally {
    await op.dispose();
    await sequential.dispose();
  }
});

// Checkpoints written by torch.save (zip and legacy), Lightning-like and DDP dicts, strided views, safetensors and
// Hugging Face folders (tools/fixtures/checkpoint_fixtures.py): each reads as the same trained weights, applies to
// the exported graph, and the products then equal PyTorch float64 at those weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { readCheckpoint } from '../../../server/src/checkpoints/readCheckpoint';
import { readNpy } from '../../../server/src/formats/npy';
import { readSafetensors } from '../../../server/src/formats/safetensors';
import { oneHot } from '../../../server/src/analysis/inputs';
import { analyzeModel } from '../../../server/src/analysis/analyzeModel';
import { UserError } from '../../../server/src/errors';
import { flattenTheta, relativeError } from '../../support/fixtures';

const dir = join(__dirname, '..', '..', 'fixtures', 'checkpoints');
const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
const ALL = ['state_dict.pt', 'state_dict_legacy.pt', 'lightning.ckpt', 'ddp.pth', 'wrapped.pt', 'views.pt', 'model.safetensors', 'hf', 'hf_sharded', 'hf_bin', 'run', 'run/checkpoint-500'];

async function operatorWith(weights?: string) {
  const model = await OnnxModel.open(join(dir, 'model.onnx'), weights ? { weights: join(dir, weights) } : {});
  const x = await readNpy(join(dir, 'x.npy'));
  const labels = Array.from((await readNpy(join(dir, 'labels.npy'))).data as BigInt64Array, Number);
  const op = model.operator({ batch: ref.batch, input: Float32Array.from(x.data as Float32Array), target: oneHot(labels, 10), loss: 'cross-entropy' });
  return { model, op };
}

test('θ of the PRESERVE export is named_parameters, and the statistics are initialisers beside it', async () => {
  const model = await OnnxModel.open(join(dir, 'model.onnx'));
  assert.deepEqual([...model.trainable].sort(), [...ref.parameters].sort());
  for (const s of ref.statistics) assert.ok(model.model.graph.initializers.has(s), s);
});

test('every checkpoint form holds the same tensors as the safetensors file, bit for bit', async () => {
  const expected = (await readSafetensors(join(dir, 'model.safetensors'))).tensors;
  for (const form of ALL) {
    const ckpt = await readCheckpoint(join(dir, form));
    // The dict with the most entries that end like a parameter name (Lightning's state_dict, not the optimizer's).
    const dict = ckpt.stateDicts.find((d) => [...d.tensors.keys()].some((k) => k.endsWith('conv1.weight')))!;
    assert.ok(dict, `${form}: a state dict`);
    for (const [name, t] of expected) {
      const key = [...dict.tensors.keys()].find((k) => k === name || k.endsWith('.' + name))!;
      assert.ok(key, `${form}: ${name}`);
      const got = dict.tensors.get(key)!.load();
      assert.deepEqual(got.dims, t.dims, `${form}: ${name} dims`);
      assert.deepEqual([...got.data], [...t.data], `${form}: ${name} values`);
    }
  }
});

test('the Lightning file exposes its state_dict entry and the optimizer state separately', async () => {
  const ckpt = await readCheckpoint(join(dir, 'lightning.ckpt'));
  assert.deepEqual(ckpt.stateDicts.map((d) => d.path.join('.')), ['state_dict']);
  // Optimizer states are dicts keyed by int (not names): not a state dict.
  assert.equal(ckpt.format, 'pytorch');
  assert.equal((await readCheckpoint(join(dir, 'state_dict_legacy.pt'))).format, 'pytorch-legacy');
});

test('every dtype torch.save writes decodes to its values (bfloat16 and int16 widened exactly)', async () => {
  const expected = JSON.parse(readFileSync(join(dir, 'dtypes.json'), 'utf8'));
  const { tensors } = (await readCheckpoint(join(dir, 'dtypes.pt'))).stateDicts[0];
  const half = (h: number) => { const e = (h >> 10) & 0x1f; const f = h & 0x3ff; return (h & 0x8000 ? -1 : 1) * (e ? (1 + f / 1024) * 2 ** (e - 15) : f * 2 ** -24); };
  const irDtype: Record<string, string> = { f64: 'float64', f16: 'float16', bf16: 'float32', i64: 'int64', i32: 'int32', i16: 'int32', i8: 'int8', u8: 'uint8', b: 'bool', f32_2d_t: 'float32' };
  for (const [name, e] of Object.entries(expected) as [string, { shape: number[]; values: number[] }][]) {
    const t = tensors.get(name)!.load();
    assert.equal(t.dtype, irDtype[name], name);
    assert.deepEqual(t.dims, e.shape, name);
    const values = [...t.data].map((v) => (t.dtype === 'float16' ? half(Number(v)) : Number(v)));
    assert.deepEqual(values, e.values, name);
  }
});

test('the same weights as .pt, legacy .pt, Lightning, DDP, views, .safetensors and HF folders give the same products, equal to PyTorch float64', async () => {
  const base = await operatorWith();
  const gInitial = new Float64Array(base.op.parameterCount);
  await base.op.gradient(gInitial);
  await base.op.dispose();
  const gRef = flattenTheta((await readSafetensors(join(dir, 'g.safetensors'))).tensors as never, base.op.parameters, base.op.parameterCount);
  // The exported (initial) weights are not the trained ones: applying a checkpoint must change the numbers.
  assert.ok(relativeError(gInitial, gRef) > 0.1, 'initial weights differ from the checkpoint');

  const u = flattenTheta((await readSafetensors(join(dir, 'u.safetensors'))).tensors as never, base.op.parameters, base.op.parameterCount);
  const v = Float64Array.from((await readNpy(join(dir, 'v.npy'))).data as Float64Array);
  const JuRef = (await readNpy(join(dir, 'Ju.npy'))).data as Float64Array;
  const JJTvRef = (await readNpy(join(dir, 'JJTv.npy'))).data as Float64Array;
  let first: Float64Array | undefined;
  for (const form of ALL) {
    const { op } = await operatorWith(form);
    try {
      const g = new Float64Array(op.parameterCount);
      const loss = await op.gradient(g);
      assert.ok(Math.abs(loss - ref.loss) <= 1e-5 * ref.loss, `${form}: loss ${loss} vs ${ref.loss}`);
      assert.ok(relativeError(g, gRef) < 1e-5, `${form}: g ${relativeError(g, gRef)}`);
      const Ju = new Float64Array(op.inputSize);
      await op.jacobianVector(u, Ju);
      assert.ok(relativeError(Ju, JuRef) < 1e-5, `${form}: Ju ${relativeError(Ju, JuRef)}`);
      const JJTv = new Float64Array(op.inputSize);
      await op.gramVector(v, JJTv);
      assert.ok(relativeError(JJTv, JJTvRef) < 1e-5, `${form}: JJTv ${relativeError(JJTv, JJTvRef)}`);
      // Identical float32 weights in every form: identical products, not merely close ones.
      if (!first) first = JJTv;
      else assert.ok(relativeError(JJTv, first) <= 1e-12, `${form}: differs from the first form`);
    } finally {
      await op.dispose();
    }
  }
});

test('a checkpoint that does not fit lists its missing, unexpected and mis-shaped keys in one error', async () => {
  const { applyCheckpoint } = await import('../../../server/src/checkpoints/applyCheckpoint');
  const { decodedTensor } = await import('../../../server/src/checkpoints/checkpointTensor');
  const model = await OnnxModel.open(join(dir, 'model.onnx'));
  const f32 = (dims: number[]) => decodedTensor({ dtype: 'float32', dims, data: new Float32Array(dims.reduce((a, b) => a * b, 1)) });
  const tensors = new Map([
    ['module.conv1.weight', f32([4, 1, 3, 3])],
    ['module.conv1.bias', f32([5])],
    ['module.head.weight', f32([10, 64])],
    ['module.bn1.num_batches_tracked', f32([])],
  ]);
  const ckpt = { source: 'x.pt', files: ['x.pt'], format: 'pytorch' as const, stateDicts: [{ path: [], tensors }] };
  assert.throws(() => applyCheckpoint(model.model, ckpt, model.trainable, 'model.onnx'), (e: unknown) => {
    assert.ok(e instanceof UserError && e.code === 'weights-mismatch');
    assert.match(e.message, /4 missing \(bn1\.weight, bn1\.bias, fc\.weight, fc\.bias\)/);
    assert.match(e.message, /1 unexpected \(module\.head\.weight\)/);
    assert.match(e.message, /1 mis-shaped \(module\.conv1\.bias \[5\] where the model has \[4\]\)/);
    assert.doesNotMatch(e.message, /num_batches_tracked/);
    return true;
  });
});

test('a whole pickled model (not its state_dict) is refused with the class named', async () => {
  // A zip whose data.pkl names a user class, as torch.save(model) writes.
  const { decodeCheckpoint } = await import('../../../server/src/checkpoints/readCheckpoint');
  const pkl = Buffer.concat([Buffer.from([0x80, 0x02, 0x63]), Buffer.from('__main__\nNet\n'), Buffer.from([0x29, 0x81, 0x2e])]);
  assert.throws(() => decodeCheckpoint(new Uint8Array(pkl), 'net.pt'), (e: unknown) => e instanceof UserError && e.code === 'unsafe-checkpoint' && /refuses the global '__main__\.Net'/.test(e.message));
});

test('the I²F numbers (PSNR, lower bound, risk) of .pt, .safetensors and an HF folder agree to 1e-6', async () => {
  const run = (weights: string) => analyzeModel({
    model: join(dir, 'model.onnx'), weights: join(dir, weights), data: join(dir, 'x.npy'), labels: join(dir, 'labels.npy'), batch: 2,
    defences: ['gaussian:std=1e-3'], damping: 0, spectrumK: 0, seed: 7, loss: 'cross-entropy',
  });
  const numbers = (r: Awaited<ReturnType<typeof run>>) => r.results.flatMap((b) => [b.psnr, b.expectedPsnr, b.lowerBound, b.i2f, b.lambdaMax, b.gradientNorm]);
  const pt = numbers(await run('state_dict.pt'));
  assert.ok(pt.every(Number.isFinite), `finite: ${pt}`);
  for (const form of ['model.safetensors', 'hf_sharded', 'lightning.ckpt']) {
    const other = numbers(await run(form));
    for (let i = 0; i < pt.length; i++) assert.ok(Math.abs(other[i] - pt[i]) <= 1e-6 * Math.max(1, Math.abs(pt[i])), `${form}: ${other[i]} vs ${pt[i]} (#${i})`);
  }
});

test('files that are not checkpoints we read are refused by what they are', async () => {
  const { decodeCheckpoint } = await import('../../../server/src/checkpoints/readCheckpoint');
  // Keras' HDF5 weights: the HDF5 signature, then anything.
  const h5 = new Uint8Array([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => decodeCheckpoint(h5, 'model.h5'), (e: unknown) => e instanceof UserError && e.code === 'unsupported-checkpoint' && /HDF5/.test(e.message) && /state_dict/.test(e.message));
  // numpy.savez: a zip archive, but no data.pkl in it.
  await assert.rejects(readCheckpoint(join(dir, 'arrays.npz')), (e: unknown) => e instanceof UserError && e.code === 'corrupt-weights' && /no data\.pkl: not a torch\.save file \(entries: w\.npy\)/.test(e.message));
});

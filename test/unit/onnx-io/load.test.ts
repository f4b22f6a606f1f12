// Loading .onnx files from disk: the size limit, external data inside the model's folder, and refusals outside it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, symlinkSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadOnnxFile } from '../../../server/src/backends/onnx/load';
import { encodeModel } from '../../../server/src/backends/onnx/onnxProto';
import { UserError } from '../../../server/src/errors';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'onnx-io');
const fixture = (name: string) => join(FIXTURES, name);

function rejectsWith(code: string, ...patterns: RegExp[]) {
  return (e: unknown) => {
    assert.ok(e instanceof UserError, String(e));
    assert.equal(e.code, code, e.message);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  };
}

test('external data written by onnx-python is read from the model\'s folder and the model runs in onnxruntime', async () => {
  const truth = JSON.parse(readFileSync(fixture('external.json'), 'utf8'));
  const model = await loadOnnxFile(fixture('external.onnx'));
  const w = model.graph.initializers.get('W')!;
  assert.equal('external' in w, false);
  assert.deepEqual([...w.data], truth.W.map(Math.fround));
  const session = await ort.InferenceSession.create(Buffer.from(encodeModel(model)));
  const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(truth.input), [2, 4]) });
  await session.release();
  const y = out.y.data as Float32Array;
  truth.output.forEach((v: number, i: number) => assert.ok(Math.abs(y[i] - v) < 1e-5, `y[${i}] = ${y[i]}, expected ${v}`));
});

test('a model over the size limit is refused before reading, naming the file, its size and the limit', async () => {
  const file = fixture('tiny_torch.onnx');
  await assert.rejects(loadOnnxFile(file, { maxBytes: 1000 }), (e: unknown) => {
    rejectsWith('model-too-large', /1862 bytes/, /1000 bytes/)(e);
    assert.equal((e as UserError).location.file, file);
    return true;
  });
});

test('external data counts toward the size limit', async () => {
  // external.onnx is 240 bytes and its weights 60: a 260-byte limit admits the file but not its data.
  await assert.rejects(loadOnnxFile(fixture('external.onnx'), { maxBytes: 260 }), rejectsWith('model-too-large', /external data/));
});

test('an external-data location that climbs out of the model\'s folder is refused, naming the tensor and the path', async () => {
  await assert.rejects(loadOnnxFile(fixture('external_escape.onnx')), rejectsWith('unsafe-external-data', /'W'/, /\.\.\/formats\/samples\.npy/));
});

test('an absolute external-data location is refused, naming the tensor and the path', async () => {
  await assert.rejects(loadOnnxFile(fixture('external_absolute.onnx')), rejectsWith('unsafe-external-data', /'W'/, /\/etc\/hostname/));
});

test('a symbolic link inside the folder that points outside it is refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-load-'));
  try {
    copyFileSync(fixture('external.onnx'), join(dir, 'external.onnx'));
    symlinkSync(fixture('weights.bin'), join(dir, 'weights.bin'));
    await assert.rejects(loadOnnxFile(join(dir, 'external.onnx')), rejectsWith('unsafe-external-data', /outside the model's folder/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing external-data file is a located error naming the tensor and the file', async () => {
  await assert.rejects(loadOnnxFile(fixture('external_missing.onnx')), (e: unknown) => {
    rejectsWith('missing-external-data', /'W'/, /no_such_weights\.bin/)(e);
    assert.equal((e as UserError).location.file, fixture('external_missing.onnx'));
    return true;
  });
});

test('an external-data file shorter than the tensor needs is corrupt, with both sizes in the message', async () => {
  await assert.rejects(loadOnnxFile(fixture('external_short.onnx')), rejectsWith('corrupt-model', /'W'/, /only 10 bytes/));
});

test('a missing model file and a corrupt one fail as UserErrors carrying the path', async () => {
  await assert.rejects(loadOnnxFile(fixture('nope.onnx')), rejectsWith('model-not-found'));
  const dir = mkdtempSync(join(tmpdir(), 'i2f-load-'));
  try {
    const bad = join(dir, 'bad.onnx');
    writeFileSync(bad, readFileSync(fixture('tiny_torch.onnx')).subarray(0, 700));
    await assert.rejects(loadOnnxFile(bad), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.equal(e.code, 'corrupt-model');
      assert.equal(e.location.file, bad);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

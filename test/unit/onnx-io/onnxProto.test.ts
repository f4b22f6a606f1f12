// The ONNX codec against independent truths: PyTorch's exporter, onnx-python's typed fields, and onnxruntime itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../../../server/src/backends/onnx/onnxProto';
import { ProtoWriter } from '../../../server/src/backends/onnx/protobuf';
import type { Graph, Model, Tensor } from '../../../server/src/graph/ir';
import { UserError } from '../../../server/src/errors';
import { seeded } from '../../support/property';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'onnx-io');
const fixture = (name: string) => join(FIXTURES, name);
const read = (name: string) => new Uint8Array(readFileSync(fixture(name)));

interface TorchTruth {
  input: number[]; inputDims: number[]; output: number[]; outputDims: number[];
  params: Record<string, { dims: number[]; values: number[] }>;
}
const torchTruth = (): TorchTruth => JSON.parse(readFileSync(fixture('tiny_torch.json'), 'utf8'));

function isUserError(code?: string) {
  return (e: unknown) => e instanceof UserError && (code === undefined || e.code === code);
}

async function run(model: Model, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(Buffer.from(encodeModel(model)));
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++)
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])), `element ${i}: ${actual[i]} vs ${expected[i]}`);
}

test('a model exported by PyTorch decodes with its weights, attributes and symbolic batch dimension', () => {
  const model = decodeModel(read('tiny_torch.onnx'), { file: fixture('tiny_torch.onnx') });
  const truth = torchTruth();
  assert.equal(model.producerName, 'pytorch');
  assert.deepEqual(model.opsets, [{ domain: '', version: 13 }]);
  for (const [name, p] of Object.entries(truth.params)) {
    const t = model.graph.initializers.get(name);
    assert.ok(t, `initializer ${name}`);
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.dims, p.dims);
    assert.ok(t.data instanceof Float32Array);
    assertClose(t.data, p.values, 1e-7);
  }
  const conv = model.graph.nodes.find((n) => n.opType === 'Conv')!;
  assert.deepEqual(conv.attributes.pads, { type: 'ints', value: [1, 1, 1, 1] });
  assert.deepEqual(conv.attributes.group, { type: 'int', value: 1 });
  const gemm = model.graph.nodes.find((n) => n.opType === 'Gemm')!;
  assert.deepEqual(gemm.attributes.alpha, { type: 'float', value: 1 });
  const constant = model.graph.nodes.find((n) => n.opType === 'Constant')!;
  assert.equal(constant.attributes.value.type, 'tensor');
  assert.equal((constant.attributes.value.value as Tensor).dtype, 'int64');
  assert.deepEqual(model.graph.outputs, [{ name: 'logits', dtype: 'float32', dims: ['batch', 3] }]);
});

test('initialisers that the exporter also listed as graph inputs are not graph inputs', () => {
  // tiny_torch.onnx was exported with keep_initializers_as_inputs=True: the file lists five inputs.
  const model = decodeModel(read('tiny_torch.onnx'), { file: 'tiny_torch.onnx' });
  assert.deepEqual(model.graph.inputs, [{ name: 'x', dtype: 'float32', dims: ['batch', 1, 4, 4] }]);
});

test('a decoded PyTorch model, encoded again, runs in onnxruntime and reproduces PyTorch\'s outputs', async () => {
  const truth = torchTruth();
  const model = decodeModel(read('tiny_torch.onnx'), { file: 'tiny_torch.onnx' });
  const out = await run(model, { x: new ort.Tensor('float32', Float32Array.from(truth.input), truth.inputDims) });
  assert.deepEqual(out.logits.dims, truth.outputDims);
  assertClose(out.logits.data as Float32Array, truth.output, 1e-5);
});

test('tensors stored in typed fields decode to the values onnx-python wrote', () => {
  const g = decodeModel(read('typed_fields.onnx'), { file: 'typed_fields.onnx' }).graph;
  const get = (n: string) => g.initializers.get(n)!;
  assert.deepEqual([...(get('f32').data as Float32Array)], [1.5, -2, 3.25, 0]);
  assert.deepEqual([...(get('f64').data as Float64Array)], [1e-300, -2.5, 1e300]);
  assert.deepEqual([...(get('i64').data as BigInt64Array)], [-(2n ** 40n), 7n, 2n ** 62n]);
  assert.deepEqual([...(get('i32').data as Int32Array)], [-5, 2 ** 31 - 1]);
  assert.ok(get('i8').data instanceof Int8Array);
  assert.deepEqual([...get('i8').data], [-128, 0, 127]);
  assert.deepEqual([...get('u8').data], [0, 255]);
  assert.equal(get('flag').dtype, 'bool');
  assert.deepEqual([...get('flag').data], [1, 0, 1]);
  // float16 keeps its bits: 1.0 is 0x3c00, -0.5 is 0xb800.
  assert.equal(get('half').dtype, 'float16');
  assert.deepEqual([...get('half').data], [0x3c00, 0xb800]);
  assert.deepEqual(g.inputs[0].dims, ['n', 3]);
});

function tensor(dtype: Tensor['dtype'], dims: number[], values: number[] | bigint[]): Tensor {
  const ctor = { float32: Float32Array, float64: Float64Array, float16: Uint16Array, int8: Int8Array, uint8: Uint8Array, bool: Uint8Array, int32: Int32Array, int64: BigInt64Array }[dtype];
  return { dtype, dims, data: (ctor as { from(v: unknown): Tensor['data'] }).from(values) };
}

function sampleModel(): Model {
  const body: Graph = {
    name: 'body', nodes: [{ name: 'inner', opType: 'Identity', domain: '', inputs: ['a'], outputs: ['b'], attributes: {} }],
    initializers: new Map([['k', tensor('float32', [1], [2])]]),
    inputs: [], outputs: [{ name: 'b', dtype: 'float32', dims: [-1] }],
  };
  return {
    irVersion: 8, producerName: 'test', producerVersion: '1', opsets: [{ domain: '', version: 13 }, { domain: 'com.example', version: 1 }],
    graph: {
      name: 'g',
      nodes: [
        {
          name: 'n0', opType: 'Custom', domain: 'com.example', inputs: ['x', '', 'w64'], outputs: ['y'],
          attributes: {
            f: { type: 'float', value: 0.25 }, i: { type: 'int', value: -7 }, big: { type: 'int', value: 2 ** 63 },
            s: { type: 'string', value: 'ü' }, t: { type: 'tensor', value: tensor('int64', [2], [-1n, 2n ** 62n]) },
            fs: { type: 'floats', value: [1.5, -0.5] }, is: { type: 'ints', value: [0, -1, 2 ** 40] },
            ss: { type: 'strings', value: ['a', ''] }, g: { type: 'graph', value: body },
          },
        },
        { name: '', opType: 'Relu', domain: '', inputs: ['y'], outputs: ['z'], attributes: {} },
      ],
      initializers: new Map<string, Tensor>([
        ['w64', tensor('float64', [2, 2], [1, 2, 3, 4])], ['w16', tensor('float16', [1], [0x3c00])],
        ['wi8', tensor('int8', [2], [-1, 1])], ['wu8', tensor('uint8', [1], [200])], ['wb', tensor('bool', [2], [1, 0])],
        ['wi32', tensor('int32', [], [-9])], ['empty', tensor('float32', [0, 3], [])],
      ]),
      inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 3, -1] }],
      outputs: [{ name: 'z', dtype: 'float32', dims: [] }],
    },
  };
}

test('a model built in memory comes back unchanged from encode and decode, except that unnamed nodes get op_<index>', () => {
  const model = sampleModel();
  const back = decodeModel(encodeModel(model), { file: 'mem.onnx' });
  model.graph.nodes[1].name = 'op_1';
  // 2^63 is INT64_MAX read into a double; it is written as INT64_MAX and read back as the same double.
  assert.deepEqual(back, model);
});

test('an encoded float64 graph with tensor, float and ints attributes runs in onnxruntime with the expected numbers', async () => {
  // y = 0.5 · Transpose(x) @ W + c via Gemm's alpha, c a Constant node; checked against arithmetic done here.
  const model: Model = {
    irVersion: 8, producerName: '', producerVersion: '', opsets: [{ domain: '', version: 13 }],
    graph: {
      name: 'check',
      nodes: [
        { name: 't', opType: 'Transpose', domain: '', inputs: ['x'], outputs: ['xt'], attributes: { perm: { type: 'ints', value: [1, 0] } } },
        { name: 'c', opType: 'Constant', domain: '', inputs: [], outputs: ['cv'], attributes: { value: { type: 'tensor', value: tensor('float64', [2], [-10, 0.5]) } } },
        { name: '', opType: 'Gemm', domain: '', inputs: ['xt', 'W', 'cv'], outputs: ['y'], attributes: { alpha: { type: 'float', value: 0.5 }, transB: { type: 'int', value: 0 } } },
      ],
      initializers: new Map([['W', tensor('float64', [3, 2], [1, 2, 3, 4, 5, 6])]]),
      inputs: [{ name: 'x', dtype: 'float64', dims: [3, 'n'] }],
      outputs: [{ name: 'y', dtype: 'float64', dims: ['n', 2] }],
    },
  };
  const x = new Float64Array([1, -1, 0.5, 2, 0, 1]); // [3,2]: columns are the two samples; Transpose makes them rows
  const out = await run(model, { x: new ort.Tensor('float64', x, [3, 2]) });
  // sample 0 = (1, 0.5, 0): p = (1*1+0.5*3, 1*2+0.5*4) = (2.5, 4); sample 1 = (-1, 2, 1): p = (-1+6+5, -2+8+6) = (10, 12)
  const expected = [2.5 * 0.5 - 10, 4 * 0.5 + 0.5, 10 * 0.5 - 10, 12 * 0.5 + 0.5];
  assert.deepEqual([...(out.y.data as Float64Array)], expected);
});

test('a model whose tensors live in an external file is refused by decodeModel alone, naming the tensor', () => {
  assert.throws(
    () => decodeModel(read('external.onnx'), { file: 'external.onnx' }),
    (e: unknown) => e instanceof UserError && e.code === 'external-data' && /'W'/.test(e.message) && e.location.file === 'external.onnx',
  );
  const marked = decodeModel(read('external.onnx'), { file: 'external.onnx', allowExternal: true });
  const w = marked.graph.initializers.get('W') as Tensor & { external?: { location: string; offset: number; length?: number } };
  assert.deepEqual(w.external, { location: 'weights.bin', offset: 0, length: 48 });
});

test('every truncation of a real model fails as a UserError naming the file', () => {
  const bytes = read('tiny_torch.onnx');
  for (let n = 0; n < bytes.length; n++) {
    try {
      decodeModel(bytes.subarray(0, n), { file: 'cut.onnx' });
    } catch (e) {
      assert.ok(e instanceof UserError, `prefix ${n}: ${e}`);
      assert.equal(e.location.file, 'cut.onnx');
      continue;
    }
    // A cut exactly between top-level fields can still be a valid (smaller) model; that is fine too.
  }
});

test('a tensor that declares 2^40 bytes of raw data fails at once as corrupt-model', () => {
  const w = new ProtoWriter();
  w.message(7, () => {
    w.tag(5, 2); // initializer
    w.rawVarint(2 ** 40);
  });
  assert.throws(() => decodeModel(w.finish(), { file: 'huge.onnx' }), isUserError('corrupt-model'));
});

test('a tensor whose raw data disagrees with its shape is corrupt, with both sizes in the message', () => {
  const w = new ProtoWriter();
  w.message(7, () =>
    w.message(5, () => {
      w.int64(1, 2 ** 30);
      w.int64(1, 4);
      w.int64(2, 1);
      w.string(8, 'big');
      w.bytes(9, new Uint8Array(16));
    }),
  );
  assert.throws(() => decodeModel(w.finish(), { file: 'lie.onnx' }), (e: unknown) => e instanceof UserError && e.code === 'corrupt-model' && /'big'/.test(e.message) && /16 bytes/.test(e.message));
});

test('subgraphs nested thousands deep fail as corrupt-model instead of overflowing the stack', () => {
  // GraphProto{ node{ attribute{ g: GraphProto{ ... } } } } built inside out.
  let inner = new Uint8Array(0);
  for (let depth = 0; depth < 3000; depth++) {
    const w = new ProtoWriter();
    w.message(1, () => w.message(5, () => { w.string(1, 'body'); w.int64(20, 5); w.bytes(6, inner); }));
    inner = w.finish().slice();
  }
  const top = new ProtoWriter();
  top.bytes(7, inner);
  assert.throws(() => decodeModel(top.finish(), { file: 'deep.onnx' }), isUserError('corrupt-model'));
});

test('random bytes either decode or fail as a UserError, never anything else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      try {
        decodeModel(bytes, { file: 'random.onnx' });
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
      }
    }),
    seeded({ numRuns: 3000 }),
  );
});

test('a real model with random bytes flipped either decodes or fails as a UserError', () => {
  const original = read('tiny_torch.onnx');
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(original.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }), (flips) => {
      const bytes = original.slice();
      for (const [at, value] of flips) bytes[at] = value;
      try {
        decodeModel(bytes, { file: 'flipped.onnx' });
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
      }
    }),
    seeded({ numRuns: 2000 }),
  );
});

// Hostile models past the protobuf decoder: real fixtures mutated at the byte level (flips, truncations, spliced
// and repeated ranges) and at the graph level (ops swapped, inputs dropped or renamed, attributes and shapes
// corrupted, nodes removed, opsets changed), then written to disk and put through everything the analysis does
// before onnxruntime: open (decode, external data, support check, untying), specialise (folding, shape inference)
// and the product graphs' construction. Each either works or throws a UserError, never another exception.

import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { decodeModel, encodeModel } from '../../../server/src/backends/onnx/onnxProto';
import { buildProductGraph } from '../../../server/src/backends/onnx/derivatives/productGraphs';
import { UserError } from '../../../server/src/errors';
import type { AttributeValue, Model } from '../../../server/src/graph/ir';
import { REPO } from '../../robustness/corpus';
import { seeded } from '../../support/property';

const FIXTURES = ['mlp', 'smooth_cnn', 'dlg_lenet', 'resnet8'];
const originals = new Map(FIXTURES.map((f) => [f, readFileSync(join(REPO, 'test/fixtures/models', f, 'model.onnx'))]));
const dir = mkdtempSync(join(tmpdir(), 'i2f-open-prop-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Everything before onnxruntime; returns what failed, or undefined when the model opened or was refused properly. */
async function openAll(bytes: Uint8Array): Promise<string | undefined> {
  const file = join(dir, 'model.onnx');
  writeFileSync(file, bytes);
  try {
    const model = await OnnxModel.open(file);
    const spec = model.specialise(1);
    const opts = { graph: spec.graph, types: spec.types, trainable: model.trainable, loss: 'cross-entropy' as const, opset: spec.opset, file };
    buildProductGraph(opts, 'gradient');
    buildProductGraph(opts, 'jacobianVector');
    return undefined;
  } catch (e) {
    if (e instanceof UserError && e.message.length > 0) return undefined;
    return String((e as Error)?.stack ?? e);
  }
}

const fixture = fc.constantFrom(...FIXTURES);

test('real models with bytes flipped, cut, spliced or repeated either open or fail as a UserError', async () => {
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  );
  await fc.assert(
    fc.asyncProperty(fixture, fc.array(edit, { minLength: 1, maxLength: 4 }), async (name, edits) => {
      let b = Buffer.from(originals.get(name)!);
      for (const e of edits) {
        const at = e.at % b.length;
        if (e.kind === 'flip') b[at] = e.value;
        else if (e.kind === 'cut') b = b.subarray(0, at);
        else if (e.kind === 'repeat') b = Buffer.concat([b.subarray(0, at + e.length), b.subarray(at)]);
        else b = Buffer.concat([b.subarray(0, at), Buffer.from(e.bytes), b.subarray(at)]);
        if (b.length === 0) break;
      }
      const failure = await openAll(b);
      assert.equal(failure, undefined, `${name} after ${JSON.stringify(edits)}:\n${failure}`);
    }),
    seeded({ seed: 9, numRuns: 200 }),
  );
});

type GraphEdit = (m: Model, pick: number, value: number) => void;
const OPS = ['Conv', 'Gemm', 'Relu', 'Sigmoid', 'MaxPool', 'AveragePool', 'Reshape', 'Flatten', 'Add', 'MatMul', 'Softmax', 'Concat', 'Gather', 'Transpose', 'BatchNormalization', 'Slice', 'FancyOp', '', 'toString', 'constructor', '__proto__', 'hasOwnProperty'];
const HOSTILE_INTS = [-1, 0, 1, 3, 7, -7, 2 ** 31 - 1, -(2 ** 31), 1e15];
const nodeOf = (m: Model, pick: number) => m.graph.nodes[pick % Math.max(1, m.graph.nodes.length)];
const GRAPH_EDITS: Record<string, GraphEdit> = {
  swapOp: (m, p, v) => { const n = nodeOf(m, p); if (n) n.opType = OPS[v % OPS.length]; },
  dropInput: (m, p) => { const n = nodeOf(m, p); if (n?.inputs.length) n.inputs.pop(); },
  blankInput: (m, p, v) => { const n = nodeOf(m, p); if (n?.inputs.length) n.inputs[v % n.inputs.length] = ''; },
  renameInput: (m, p, v) => { const n = nodeOf(m, p); if (n?.inputs.length) n.inputs[v % n.inputs.length] = 'nowhere'; },
  selfLoop: (m, p) => { const n = nodeOf(m, p); if (n?.inputs.length && n.outputs.length) n.inputs[0] = n.outputs[0]; },
  extraOutput: (m, p) => { const n = nodeOf(m, p); if (n) n.outputs.push(`extra_${p}`); },
  removeNode: (m, p) => { if (m.graph.nodes.length) m.graph.nodes.splice(p % m.graph.nodes.length, 1); },
  duplicateNode: (m, p) => { const n = nodeOf(m, p); if (n) m.graph.nodes.push({ ...n, name: `${n.name}_again` }); },
  reverseNodes: (m) => { m.graph.nodes.reverse(); },
  intAttribute: (m, p, v) => {
    const n = nodeOf(m, p);
    if (!n) return;
    const keys = Object.keys(n.attributes);
    const key = keys.length ? keys[v % keys.length] : ['axis', 'kernel_shape', 'strides', 'pads', 'group', 'perm'][v % 6];
    const x = HOSTILE_INTS[v % HOSTILE_INTS.length];
    n.attributes[key] = (v % 2 ? { type: 'int', value: x } : { type: 'ints', value: [x, x, x, x].slice(0, 1 + (v % 4)) }) as AttributeValue;
  },
  dropAttribute: (m, p, v) => { const n = nodeOf(m, p); if (n) { const keys = Object.keys(n.attributes); if (keys.length) delete n.attributes[keys[v % keys.length]]; } },
  reshapeInitializer: (m, p, v) => {
    const entries = [...m.graph.initializers.entries()];
    if (!entries.length) return;
    const [name, t] = entries[p % entries.length];
    // Same element count, other shape: decodes fine, lies about the layout.
    const n = t.data.length;
    m.graph.initializers.set(name, { ...t, dims: v % 3 === 0 ? [n] : v % 3 === 1 ? [1, n] : [n, 1, 1] });
  },
  poisonInitializer: (m, p, v) => {
    const entries = [...m.graph.initializers.values()];
    if (!entries.length) return;
    const t = entries[p % entries.length];
    if (t.data instanceof Float32Array || t.data instanceof Float64Array) t.data.fill([NaN, Infinity, -Infinity, 0][v % 4]);
    else if (t.data instanceof BigInt64Array) t.data.fill(BigInt(HOSTILE_INTS[v % HOSTILE_INTS.length] | 0));
  },
  dropInitializer: (m, p) => { const keys = [...m.graph.initializers.keys()]; if (keys.length) m.graph.initializers.delete(keys[p % keys.length]); },
  inputDims: (m, p, v) => {
    const input = m.graph.inputs[0];
    if (!input) return;
    const dims = [...input.dims];
    if (!dims.length) return;
    dims[p % dims.length] = [0, -1, 'n', 1, 2 ** 31 - 1, 3, 1000][v % 7];
    input.dims = dims;
  },
  inputRank: (m, p) => { const input = m.graph.inputs[0]; if (input) input.dims = p % 2 ? input.dims.slice(1) : [...input.dims, 1]; },
  secondInput: (m) => { m.graph.inputs.push({ ...m.graph.inputs[0], name: 'x2' }); },
  noOutputs: (m) => { m.graph.outputs = []; },
  opset: (m, _p, v) => { m.opsets = [{ domain: '', version: [1, 6, 9, 13, 99, -1][v % 6] }]; },
};

test('real models with their graph corrupted (ops, inputs, attributes, shapes, weights, opsets) either open or fail as a UserError', async () => {
  const edit = fc.tuple(fc.constantFrom(...Object.keys(GRAPH_EDITS)), fc.nat(1000), fc.nat(1000));
  await fc.assert(
    fc.asyncProperty(fixture, fc.array(edit, { minLength: 1, maxLength: 3 }), async (name, edits) => {
      const model = decodeModel(originals.get(name)!, { file: `${name}.onnx` });
      for (const [kind, pick, value] of edits) GRAPH_EDITS[kind](model, pick, value);
      let bytes: Uint8Array;
      try {
        bytes = encodeModel(model);
      } catch {
        return; // the encoder refuses its own inconsistent input: nothing reaches a user's disk that way
      }
      const failure = await openAll(bytes);
      assert.equal(failure, undefined, `${name} after ${JSON.stringify(edits)}:\n${failure}`);
    }),
    seeded({ seed: 9, numRuns: 300 }),
  );
});

test("ops named after Object.prototype's members ('toString', '__proto__', …) are unknown ops to shape inference, not its rules", async () => {
  const { inferShapes } = await import('../../../server/src/graph/shapes');
  for (const op of ['toString', 'constructor', '__proto__', 'valueOf', 'hasOwnProperty']) {
    const graph = {
      name: 'g',
      nodes: [{ name: 'n', opType: op, domain: '', inputs: ['x'], outputs: ['y'], attributes: {} }],
      initializers: new Map(),
      inputs: [{ name: 'x', dtype: 'float32' as const, dims: [1, 2] }],
      outputs: [{ name: 'y', dtype: 'float32' as const, dims: [1, 2] }],
    };
    assert.throws(() => inferShapes(graph, new Map()), (e: unknown) => e instanceof UserError && e.code === 'unsupported-op' && e.message.includes(op), op);
  }
});

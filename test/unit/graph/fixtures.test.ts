import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { decodeModel } from '../../../server/src/backends/onnx/onnxProto';
import { inferShapes } from '../../../server/src/graph/shapes';
import { simplifyForAnalysis } from '../../../server/src/graph/fold';
import { trainableParameters } from '../../../server/src/graph/parameters';
import { checkSupport, opHistogram } from '../../../server/src/graph/support';
import { sizeOf } from '../../../server/src/graph/ir';

// Truths come from tools/fixtures/graph_fixtures.py: ONNX shape inference with data propagation at batch 3, torch's
// output shape and named_parameters.
const DIR = join(__dirname, '../../fixtures/graph');
interface Truth {
  model: string;
  opset: number;
  input: { name: string; dims: number[] };
  torchOutputDims: number[];
  namedParameters: string[];
  buffers: string[];
  nodeOutputs: number;
  shapes: Record<string, number[]>;
  dtypes: Record<string, string>;
}
const ONNX_TYPE_NAMES: Record<string, string> = { float: 'float32', double: 'float64', float16: 'float16' };
const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .map((f) => {
    const truth = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Truth;
    const file = join(DIR, truth.model);
    return { truth, file, model: () => decodeModel(new Uint8Array(readFileSync(file)), { file }) };
  });

test('the graph fixtures are all there', () => {
  assert.deepEqual(fixtures.map((f) => f.truth.model).sort(), [
    'convnet_fused_opset13.onnx', 'convnet_opset13.onnx', 'convnet_opset17.onnx', 'mlp_opset13.onnx', 'vit_opset13.onnx', 'vit_opset17.onnx',
  ]);
});

for (const { truth, file, model } of fixtures) {
  const inputs = new Map([[truth.input.name, truth.input.dims]]);

  test(`${truth.model}: every node output has the shape and dtype ONNX shape inference gives at batch 3`, () => {
    const m = model();
    checkSupport(m, file);
    const types = inferShapes(m.graph, inputs, { file });
    let compared = 0;
    for (const n of m.graph.nodes)
      for (const o of n.outputs) {
        if (!o) continue;
        assert.ok(types.has(o), `no type for ${o}`);
        if (!truth.shapes[o]) continue;
        assert.deepEqual(types.get(o)!.dims, truth.shapes[o], `${o} of ${n.name} (${n.opType})`);
        assert.equal(types.get(o)!.dtype, ONNX_TYPE_NAMES[truth.dtypes[o]] ?? truth.dtypes[o], `${o} dtype`);
        compared++;
      }
    assert.equal(compared, Object.keys(truth.shapes).length);
    assert.deepEqual(types.get(m.graph.outputs[0].name)!.dims, truth.torchOutputDims);
  });

  test(`${truth.model}: folded for batch 3, it keeps θ, loses shape chains and no-ops, and still has torch's output shape`, () => {
    const m = model();
    const theta = trainableParameters(m);
    const nodesBefore = m.graph.nodes.length;
    const folded = simplifyForAnalysis(m, new Set(theta), { batch: 3, file });
    assert.equal(m.graph.nodes.length, nodesBefore, 'the input model is unchanged');
    const ops = new Set(folded.graph.nodes.map((n) => n.opType));
    for (const gone of ['Constant', 'Shape', 'Identity', 'Dropout', 'Gather', 'Unsqueeze', 'ConstantOfShape', 'Equal', 'Where'])
      assert.ok(!ops.has(gone) || (gone === 'Gather' && truth.model.startsWith('vit')), `${gone} left in ${[...ops]}`);
    for (const name of theta) assert.ok(folded.graph.initializers.has(name), `θ ${name} kept`);
    const used = new Set(folded.graph.nodes.flatMap((n) => n.inputs));
    for (const name of theta) assert.ok(used.has(name), `θ ${name} is still read by a node`);
    const types = inferShapes(folded.graph, inputs, { file });
    assert.deepEqual(types.get(folded.graph.outputs[0].name)!.dims, truth.torchOutputDims);
    assert.equal(folded.graph.outputs[0].name, m.graph.outputs[0].name);
    for (const n of folded.graph.nodes)
      for (const o of n.outputs) if (truth.shapes[o]) assert.deepEqual(types.get(o)!.dims, truth.shapes[o], o);
    // Specialised to batch 7, the same file folds to batch-7 Reshape targets.
    const seven = simplifyForAnalysis(m, new Set(theta), { batch: 7, file });
    const t7 = inferShapes(seven.graph, new Map([[truth.input.name, [7, ...truth.input.dims.slice(1)]]]), { file });
    assert.deepEqual(t7.get(seven.graph.outputs[0].name)!.dims, [7, ...truth.torchOutputDims.slice(1)]);
  });

  test(`${truth.model}: θ is what torch's named_parameters lists (BatchNorm statistics excluded)`, () => {
    const m = model();
    const theta = trainableParameters(m);
    for (const b of truth.buffers) assert.ok(!theta.includes(b), `buffer ${b} is not θ`);
    if (truth.model.startsWith('convnet_fused')) {
      // Conv+BN were fused by the exporter: θ is the fused weights, as many numbers as the convs and fc have.
      const count = theta.reduce((s, n) => s + sizeOf(m.graph.initializers.get(n)!.dims), 0);
      assert.equal(count, 3 * 8 * 25 + 8 + 2 * (8 * 8 * 9 + 8) + 32 * 10 + 10);
      assert.ok(theta.includes('fc.weight') && theta.includes('fc.bias'));
      return;
    }
    assert.deepEqual([...theta].sort(), [...truth.namedParameters].sort());
    if (!truth.model.startsWith('vit')) assert.deepEqual(theta, truth.namedParameters, 'module order is use order here');
    else assert.deepEqual(theta.slice(0, 4), ['patch.weight', 'patch.bias', 'cls', 'pos']);
  });
}

test('the op histogram counts the ResNet-style block', () => {
  const { model } = fixtures.find((f) => f.truth.model === 'convnet_opset17.onnx')!;
  const h = opHistogram(model());
  assert.deepEqual(h.find((e) => e.op === 'Conv'), { op: 'Conv', domain: '', count: 3 });
  assert.deepEqual(h.find((e) => e.op === 'BatchNormalization'), { op: 'BatchNormalization', domain: '', count: 3 });
  assert.ok(h.every((e, i) => i === 0 || h[i - 1].count >= e.count));
});

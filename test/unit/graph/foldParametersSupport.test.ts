import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simplifyForAnalysis } from '../../../server/src/graph/fold';
import { inferShapes } from '../../../server/src/graph/shapes';
import { tensorToNumbers } from '../../../server/src/graph/evaluate';
import { trainableParameters } from '../../../server/src/graph/parameters';
import { checkSupport, unsupportedOps, opHistogram, topologicalOrder } from '../../../server/src/graph/support';
import { UserError } from '../../../server/src/errors';
import { attr, f32, graph, i64, model, node } from './build';

test('a Linear written as MatMul(x, Transpose(fc.weight)) keeps the Transpose so θ keeps its name and layout', () => {
  const m = model({
    nodes: [node('Transpose', ['fc.weight'], ['wt'], { perm: attr.ints([1, 0]) }), node('MatMul', ['x', 'wt'], ['y'])],
    inputs: [['x', ['B', 4]]],
    initializers: { 'fc.weight': f32([3, 4]) },
  });
  const theta = trainableParameters(m);
  assert.deepEqual(theta, ['fc.weight']);
  const folded = simplifyForAnalysis(m, new Set(theta), { batch: 2 });
  assert.deepEqual(folded.graph.nodes.map((n) => n.opType), ['Transpose', 'MatMul']);
  assert.ok(folded.graph.initializers.has('fc.weight'));
  // The same Transpose over a non-trainable constant folds away.
  const frozen = simplifyForAnalysis(m, new Set(), { batch: 2 });
  assert.deepEqual(frozen.graph.nodes.map((n) => n.opType), ['MatMul']);
  assert.deepEqual(frozen.graph.initializers.get('wt')!.dims, [4, 3]);
});

test('Constant nodes and scalar arithmetic on them fold into initialisers', () => {
  const m = model({
    nodes: [
      node('Constant', [], ['d'], { value: attr.tensor(f32([], [16])) }),
      node('Sqrt', ['d'], ['sd']),
      node('Div', ['x', 'sd'], ['y']),
    ],
    inputs: [['x', ['B', 4]]],
  });
  const folded = simplifyForAnalysis(m, new Set(), { batch: 5 });
  assert.deepEqual(folded.graph.nodes.map((n) => n.opType), ['Div']);
  assert.deepEqual(tensorToNumbers(folded.graph.initializers.get('sd')!), [4]);
  assert.deepEqual(folded.graph.inputs[0].dims, [5, 4]);
  assert.equal(folded.graph.initializers.has('d'), false, 'intermediate constants are pruned');
});

test('a flatten chain on the batch input folds to a concrete Reshape target once B is chosen', () => {
  const m = model({
    nodes: [
      node('Shape', ['x'], ['s']),
      node('Gather', ['s', 'zero'], ['b'], { axis: attr.int(0) }),
      node('Unsqueeze', ['b', 'ax0'], ['b1']),
      node('Concat', ['b1', 'minus1'], ['target'], { axis: attr.int(0) }),
      node('Reshape', ['x', 'target'], ['y']),
    ],
    inputs: [['x', ['batch', 3, 2, 2]]],
    initializers: { zero: i64([], [0]), ax0: i64([1], [0]), minus1: i64([1], [-1]) },
  });
  const folded = simplifyForAnalysis(m, new Set(), { batch: 4 });
  assert.deepEqual(folded.graph.nodes.map((n) => n.opType), ['Reshape']);
  assert.deepEqual(tensorToNumbers(folded.graph.initializers.get('target')!), [4, -1]);
  assert.deepEqual([...folded.graph.initializers.keys()], ['target']);
  // Without a batch size the chain depends on the input: it stays.
  const unspecialised = simplifyForAnalysis(m, new Set());
  assert.equal(unspecialised.graph.nodes.length, 5);
});

test('Identity and inference Dropout disappear, and a graph output keeps its name', () => {
  const m = model({
    nodes: [
      node('Relu', ['x'], ['r']),
      node('Dropout', ['r'], ['d'], { ratio: attr.float(0.5) }),
      node('Identity', ['d'], ['logits']),
    ],
    inputs: [['x', [2, 3]]],
    outputs: ['logits'],
  });
  const folded = simplifyForAnalysis(m, new Set(), {});
  assert.deepEqual(folded.graph.nodes.map((n) => [n.opType, n.inputs, n.outputs]), [['Relu', ['x'], ['logits']]]);
  assert.equal(folded.graph.outputs[0].name, 'logits');
});

test('weights the exporter tied with Identity (equal initial values) resolve to the one initialiser', () => {
  const m = model({
    nodes: [
      node('Identity', ['bn.weight'], ['block.bn.weight']),
      node('BatchNormalization', ['x', 'bn.weight', 'bn.bias', 'm', 'v'], ['a']),
      node('BatchNormalization', ['a', 'block.bn.weight', 'bn.bias', 'm', 'v'], ['y']),
    ],
    inputs: [['x', [2, 3, 4, 4]]],
    initializers: { 'bn.weight': f32([3]), 'bn.bias': f32([3]), m: f32([3]), v: f32([3], [1, 1, 1]) },
  });
  const theta = trainableParameters(m);
  assert.deepEqual(theta, ['bn.weight', 'bn.bias']);
  const folded = simplifyForAnalysis(m, new Set(theta), {});
  assert.deepEqual(folded.graph.nodes.map((n) => n.inputs[1]), ['bn.weight', 'bn.weight']);
});

test('θ excludes BatchNorm statistics, scalars, exporter-named constants and shape-only initialisers', () => {
  const m = model({
    nodes: [
      node('Conv', ['x', 'conv.weight', 'conv.bias'], ['c']),
      node('BatchNormalization', ['c', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], ['b']),
      node('Mul', ['b', 'onnx::Mul_7'], ['s']),
      node('Mul', ['s', 'half'], ['h']),
      node('Sub', ['h', 'mean'], ['z']),
      node('Div', ['z', 'std'], ['n']),
      node('Shape', ['table'], ['ts']),
      node('Flatten', ['n'], ['f']),
      node('Gemm', ['f', 'onnx::Gemm_9', 'fc.bias'], ['g'], { transB: attr.int(1) }),
      node('Add', ['g', 'pos'], ['y']),
    ],
    inputs: [['x', [1, 2, 3, 3]]],
    initializers: {
      'conv.weight': f32([2, 2, 1, 1]), 'conv.bias': f32([2]), 'bn.weight': f32([2]), 'bn.bias': f32([2]),
      'bn.running_mean': f32([2]), 'bn.running_var': f32([2]), 'onnx::Mul_7': f32([2, 1, 1]), half: f32([], [0.5]),
      mean: f32([2, 1, 1]), std: f32([2, 1, 1]), table: f32([5, 5]), 'onnx::Gemm_9': f32([4, 18]), 'fc.bias': f32([4]),
      pos: f32([1, 4]),
    },
  });
  assert.deepEqual(trainableParameters(m), ['conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'onnx::Gemm_9', 'fc.bias', 'pos']);
});

test('topological order follows the file where it can and names a node of a cycle', () => {
  const g = graph({
    nodes: [node('Relu', ['a'], ['b'], {}, 'second'), node('Relu', ['x'], ['a'], {}, 'first'), node('Relu', ['b'], ['y'], {}, 'third')],
    inputs: [['x', [1]]],
  });
  assert.deepEqual(topologicalOrder(g).map((n) => n.name), ['first', 'second', 'third']);
  const cyc = graph({
    nodes: [node('Add', ['x', 'q'], ['p'], {}, 'p'), node('Relu', ['p'], ['q'], {}, 'q'), node('Relu', ['x'], ['y'], {}, 'ok')],
    inputs: [['x', [1]]],
  });
  assert.throws(() => topologicalOrder(cyc), (e: unknown) => e instanceof UserError && e.code === 'graph-cycle' && ['p', 'q'].includes(e.location.node!));
  assert.throws(() => inferShapes(cyc, new Map()), (e: unknown) => e instanceof UserError && e.code === 'graph-cycle');
});

test('checkSupport rejects custom ops, unknown ops and out-of-range opsets, naming op, node and file', () => {
  const ok = model({ nodes: [node('Relu', ['x'], ['y'])], inputs: [['x', [1]]] });
  checkSupport(ok, 'ok.onnx');
  const custom = model({ nodes: [{ ...node('FusedGelu', ['x'], ['y'], {}, 'gelu1'), domain: 'com.microsoft' }, node('NonZero', ['y'], ['z'], {}, 'nz')], inputs: [['x', [1]]] });
  assert.throws(
    () => checkSupport(custom, 'm.onnx'),
    (e: unknown) =>
      e instanceof UserError && e.code === 'unsupported-op' && e.location.node === 'gelu1' && e.location.file === 'm.onnx' &&
      /com\.microsoft::FusedGelu/.test(e.message) && /m\.onnx/.test(e.message) && /2 unsupported nodes/.test(e.message),
  );
  assert.deepEqual(unsupportedOps(custom), [
    { op: 'FusedGelu', node: 'gelu1', domain: 'com.microsoft' },
    { op: 'NonZero', node: 'nz', domain: '' },
  ]);
  for (const v of [6, 22])
    assert.throws(() => checkSupport(model({ nodes: [node('Relu', ['x'], ['y'])], inputs: [['x', [1]]] }, v), 'old.onnx'), (e: unknown) => e instanceof UserError && e.code === 'unsupported-opset' && new RegExp(`opset ${v}`).test(e.message));
  assert.deepEqual(opHistogram(custom).map((h) => [h.domain, h.op, h.count]), [['com.microsoft', 'FusedGelu', 1], ['', 'NonZero', 1]]);
});

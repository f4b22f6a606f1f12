import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inferShapes, analyseShapes } from '../../../server/src/graph/shapes';
import { tensorToNumbers } from '../../../server/src/graph/evaluate';
import { UserError } from '../../../server/src/errors';
import type { AttributeValue, Tensor } from '../../../server/src/graph/ir';
import { attr, f32, graph, i64, node } from './build';

/** Output dims of one node whose float inputs have the given dims (a number[][]) and whose other inputs are constants. */
function outDims(op: string, ins: (number[] | Tensor | '')[], attributes: Record<string, AttributeValue> = {}, nOut = 1): number[][] {
  const initializers: Record<string, Tensor> = {};
  const inputs: [string, number[]][] = [];
  const names = ins.map((v, i) => {
    if (v === '') return '';
    if (Array.isArray(v)) inputs.push([`x${i}`, v]);
    else initializers[`c${i}`] = v;
    return Array.isArray(v) ? `x${i}` : `c${i}`;
  });
  const outs = Array.from({ length: nOut }, (_, i) => `y${i}`);
  const g = graph({ nodes: [node(op, names, outs, attributes, 'n')], inputs, initializers });
  const types = inferShapes(g, new Map());
  return outs.map((o) => types.get(o)!.dims);
}

function shapeError(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof UserError && e.code === 'shape-error' && pattern.test(e.message) && e.location.node === 'n');
}

test('elementwise ops broadcast like numpy', () => {
  assert.deepEqual(outDims('Add', [[2, 1, 4], [3, 1]]), [[2, 3, 4]]);
  assert.deepEqual(outDims('Mul', [[5], []]), [[5]]);
  assert.deepEqual(outDims('Where', [i64([2, 1], [1, 0]), [1, 3], [2, 3]]).map((d) => d), [[2, 3]]);
  assert.deepEqual(outDims('Max', [[2, 3], [3], [1, 1]]), [[2, 3]]);
  assert.deepEqual(outDims('Sub', [[0, 3], [1, 3]]), [[0, 3]]);
  shapeError(() => outDims('Add', [[2, 3], [4]]), /do not broadcast/);
});

test('comparisons and Not produce bool of the broadcast shape', () => {
  const g = graph({ nodes: [node('Greater', ['a', 'b'], ['y']), node('Not', ['y'], ['z'])], inputs: [['a', [2, 3]], ['b', [3]]] });
  const t = inferShapes(g, new Map());
  assert.deepEqual(t.get('z'), { dtype: 'bool', dims: [2, 3] });
});

test('Gemm honours transA and transB and checks the inner size and C', () => {
  assert.deepEqual(outDims('Gemm', [[4, 10], [3, 10], [3]], { transB: attr.int(1) }), [[4, 3]]);
  assert.deepEqual(outDims('Gemm', [[10, 4], [10, 3]], { transA: attr.int(1) }), [[4, 3]]);
  shapeError(() => outDims('Gemm', [[4, 10], [3, 10]]), /inner sizes 10 and 3/);
  shapeError(() => outDims('Gemm', [[4, 10], [10, 3], [4]]), /does not broadcast/);
});

test('MatMul broadcasts batch dims and handles 1-D operands', () => {
  assert.deepEqual(outDims('MatMul', [[2, 5, 3, 4], [4, 6]]), [[2, 5, 3, 6]]);
  assert.deepEqual(outDims('MatMul', [[7, 1, 3, 4], [5, 4, 2]]), [[7, 5, 3, 2]]);
  assert.deepEqual(outDims('MatMul', [[4], [4, 6]]), [[6]]);
  assert.deepEqual(outDims('MatMul', [[2, 3, 4], [4]]), [[2, 3]]);
  assert.deepEqual(outDims('MatMul', [[4], [4]]), [[]]);
  shapeError(() => outDims('MatMul', [[3, 4], [5, 6]]), /inner sizes 4 and 5/);
});

test('Conv handles strides, pads, dilations, groups and auto_pad', () => {
  assert.deepEqual(outDims('Conv', [[2, 3, 32, 32], [6, 3, 5, 5], [6]]), [[2, 6, 28, 28]]);
  assert.deepEqual(
    outDims('Conv', [[1, 4, 32, 32], [8, 2, 3, 3]], { group: attr.int(2), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) }),
    [[1, 8, 16, 16]],
  );
  assert.deepEqual(outDims('Conv', [[1, 1, 10, 10], [1, 1, 3, 3]], { dilations: attr.ints([2, 2]) }), [[1, 1, 6, 6]]);
  assert.deepEqual(outDims('Conv', [[1, 1, 10, 11], [1, 1, 3, 3]], { auto_pad: attr.string('SAME_UPPER'), strides: attr.ints([3, 3]) }), [[1, 1, 4, 4]]);
  assert.deepEqual(outDims('Conv', [[1, 1, 10, 11], [1, 1, 3, 3]], { auto_pad: attr.string('SAME_LOWER') }), [[1, 1, 10, 11]]);
  assert.deepEqual(outDims('Conv', [[1, 1, 10, 11], [1, 1, 3, 3]], { auto_pad: attr.string('VALID'), strides: attr.ints([2, 2]) }), [[1, 1, 4, 5]]);
  assert.deepEqual(outDims('Conv', [[1, 2, 9], [4, 2, 3]], { pads: attr.ints([2, 0]) }), [[1, 4, 9]]);
  shapeError(() => outDims('Conv', [[1, 3, 8, 8], [4, 2, 3, 3]]), /3 channels/);
  shapeError(() => outDims('Conv', [[1, 3, 2, 2], [4, 3, 3, 3]]), /does not fit/);
  shapeError(() => outDims('Conv', [[1, 3, 8, 8], [4, 3, 3, 3], [5]]), /bias/);
});

test('ConvTranspose inverts a strided Conv, with output_padding and groups', () => {
  // Conv 7→4 with k3 s2 p1; its transpose with output_padding 0 gives 7 back, with 1 gives 8.
  assert.deepEqual(outDims('ConvTranspose', [[1, 6, 4, 4], [6, 2, 3, 3]], { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]) }), [[1, 2, 7, 7]]);
  assert.deepEqual(
    outDims('ConvTranspose', [[1, 6, 4, 4], [6, 2, 3, 3]], { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]), output_padding: attr.ints([1, 1]), group: attr.int(3) }),
    [[1, 6, 8, 8]],
  );
  assert.deepEqual(outDims('ConvTranspose', [[2, 3, 5, 5], [3, 4, 3, 3]], { dilations: attr.ints([2, 2]) }), [[2, 4, 9, 9]]);
  assert.deepEqual(outDims('ConvTranspose', [[2, 3, 5, 5], [3, 4, 3, 3]], { output_shape: attr.ints([10, 10]), strides: attr.ints([2, 2]) }), [[2, 4, 10, 10]]);
  shapeError(() => outDims('ConvTranspose', [[1, 5, 4, 4], [6, 2, 3, 3]]), /5 channels/);
});

test('MaxPool has an int64 Indices output and ceil_mode drops a window that starts in the padding', () => {
  const g = graph({ nodes: [node('MaxPool', ['x'], ['y', 'i'], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) })], inputs: [['x', [2, 3, 7, 7]]] });
  const t = inferShapes(g, new Map());
  assert.deepEqual(t.get('y'), { dtype: 'float32', dims: [2, 3, 3, 3] });
  assert.deepEqual(t.get('i'), { dtype: 'int64', dims: [2, 3, 3, 3] });
  assert.deepEqual(outDims('MaxPool', [[1, 1, 7, 7]], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]), ceil_mode: attr.int(1) }), [[1, 1, 4, 4]]);
  // torch.nn.MaxPool2d(3, 2, padding=1, ceil_mode=True) on 6: ceil((6+2-3)/2)+1 = 4, but window 4 would start at 6 ≥ 6+1? no: (4-1)*2=6 < 7 → 4.
  assert.deepEqual(outDims('MaxPool', [[1, 1, 6, 6]], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]), ceil_mode: attr.int(1) }), [[1, 1, 4, 4]]);
  // torch.nn.MaxPool2d(2, 2, padding=1, ceil_mode=True) on 5: ceil((5+2-2)/2)+1 = 4, last start 6 ≥ 5+1 → 3.
  assert.deepEqual(outDims('MaxPool', [[1, 1, 5, 5]], { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 1, 1]), ceil_mode: attr.int(1) }), [[1, 1, 3, 3]]);
  shapeError(() => outDims('MaxPool', [[1, 1, 5, 5]], {}), /kernel_shape is required/);
});

test('AveragePool, GlobalAveragePool and the normalisations keep channels', () => {
  assert.deepEqual(outDims('AveragePool', [[1, 3, 8, 8]], { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]), count_include_pad: attr.int(1) }), [[1, 3, 8, 8]]);
  assert.deepEqual(outDims('GlobalAveragePool', [[4, 16, 7, 5]]), [[4, 16, 1, 1]]);
  assert.deepEqual(outDims('BatchNormalization', [[4, 16, 7, 5], f32([16]), f32([16]), f32([16]), f32([16])]), [[4, 16, 7, 5]]);
  shapeError(() => outDims('BatchNormalization', [[4, 16, 7, 5], f32([8]), f32([16]), f32([16]), f32([16])]), /scale has shape \[8\]/);
  assert.deepEqual(outDims('LayerNormalization', [[2, 5, 8], f32([8]), f32([8])], { axis: attr.int(-1) }, 3), [[2, 5, 8], [2, 5, 1], [2, 5, 1]]);
  shapeError(() => outDims('LayerNormalization', [[2, 5, 8], f32([5])]), /normalised shape/);
});

test('Flatten, Transpose, Concat and Split', () => {
  assert.deepEqual(outDims('Flatten', [[2, 3, 4, 5]]), [[2, 60]]);
  assert.deepEqual(outDims('Flatten', [[2, 3, 4, 5]], { axis: attr.int(0) }), [[1, 120]]);
  assert.deepEqual(outDims('Flatten', [[2, 3, 4, 5]], { axis: attr.int(-1) }), [[24, 5]]);
  assert.deepEqual(outDims('Transpose', [[2, 3, 4]]), [[4, 3, 2]]);
  assert.deepEqual(outDims('Transpose', [[2, 3, 4]], { perm: attr.ints([0, 2, 1]) }), [[2, 4, 3]]);
  shapeError(() => outDims('Transpose', [[2, 3, 4]], { perm: attr.ints([0, 0, 1]) }), /not a permutation/);
  assert.deepEqual(outDims('Concat', [[2, 3], [2, 5]], { axis: attr.int(-1) }), [[2, 8]]);
  shapeError(() => outDims('Concat', [[2, 3], [3, 5]], { axis: attr.int(1) }), /differ outside axis 1/);
  assert.deepEqual(outDims('Split', [[6, 4], i64([2], [2, 4])], {}, 2), [[2, 4], [4, 4]]);
  assert.deepEqual(outDims('Split', [[6, 9]], { axis: attr.int(1) }, 3), [[6, 3], [6, 3], [6, 3]]);
  assert.deepEqual(outDims('Split', [[6, 4]], { split: attr.ints([1, 5]) }, 2), [[1, 4], [5, 4]]);
  shapeError(() => outDims('Split', [[6, 4], i64([2], [2, 3])], {}, 2), /does not add up/);
});

test('Reshape copies 0, infers -1, and respects allowzero', () => {
  assert.deepEqual(outDims('Reshape', [[2, 3, 4], i64([2], [0, -1])]), [[2, 12]]);
  assert.deepEqual(outDims('Reshape', [[2, 3, 4], i64([3], [-1, 2, 2])]), [[6, 2, 2]]);
  assert.deepEqual(outDims('Reshape', [[0, 3], i64([2], [0, 3])], { allowzero: attr.int(1) }), [[0, 3]]);
  shapeError(() => outDims('Reshape', [[2, 3, 4], i64([2], [5, -1])]), /cannot reshape/);
  shapeError(() => outDims('Reshape', [[2, 3, 4], i64([2], [-1, -1])]), /more than one -1/);
  shapeError(() => outDims('Reshape', [[2, 3], [2]]), /computed at run time/);
});

test('Slice clamps, counts negative indices from the end and steps backwards', () => {
  const big = 9223372036854775807;
  assert.deepEqual(outDims('Slice', [[10, 8], i64([1], [2]), i64([1], [big]), i64([1], [0])]), [[8, 8]]);
  assert.deepEqual(outDims('Slice', [[10, 8], i64([2], [-3, 1]), i64([2], [-1, 100])]), [[2, 7]]);
  assert.deepEqual(outDims('Slice', [[10, 8], i64([1], [-1]), i64([1], [-big - 1]), i64([1], [1]), i64([1], [-1])]), [[10, 8]]);
  assert.deepEqual(outDims('Slice', [[10, 8], i64([1], [0]), i64([1], [8]), i64([1], [-1]), i64([1], [3])]), [[10, 3]]);
  assert.deepEqual(outDims('Slice', [[10, 8], i64([1], [5]), i64([1], [2])]), [[0, 8]]);
  // opset < 10: attributes.
  assert.deepEqual(outDims('Slice', [[10, 8]], { starts: attr.ints([1]), ends: attr.ints([3]), axes: attr.ints([1]) }), [[10, 2]]);
  shapeError(() => outDims('Slice', [[10, 8], i64([1], [0]), i64([1], [8]), i64([1], [2])]), /out of range/);
});

test('Pad, Unsqueeze, Squeeze and the reductions take axes as attributes or inputs', () => {
  assert.deepEqual(outDims('Pad', [[1, 3, 4, 4], i64([8], [0, 0, 1, 2, 0, 0, 1, 2])]), [[1, 3, 6, 8]]);
  assert.deepEqual(outDims('Pad', [[1, 3, 4, 4]], { pads: attr.ints([0, 0, -1, 0, 0, 0, -1, 0]) }), [[1, 3, 2, 4]]);
  assert.deepEqual(outDims('Unsqueeze', [[3, 4], i64([2], [0, -1])]), [[1, 3, 4, 1]]);
  assert.deepEqual(outDims('Unsqueeze', [[3, 4]], { axes: attr.ints([1]) }), [[3, 1, 4]]);
  assert.deepEqual(outDims('Squeeze', [[1, 3, 1, 4], i64([1], [2])]), [[1, 3, 4]]);
  assert.deepEqual(outDims('Squeeze', [[1, 3, 1, 4]]), [[3, 4]]);
  shapeError(() => outDims('Squeeze', [[1, 3, 1, 4], i64([1], [1])]), /cannot squeeze axis 1/);
  assert.deepEqual(outDims('ReduceMean', [[2, 3, 4]], { axes: attr.ints([-1]) }), [[2, 3, 1]]);
  assert.deepEqual(outDims('ReduceSum', [[2, 3, 4], i64([2], [0, 2])], { keepdims: attr.int(0) }), [[3]]);
  assert.deepEqual(outDims('ReduceSum', [[2, 3, 4]], { keepdims: attr.int(0) }), [[]]);
  assert.deepEqual(outDims('ReduceSum', [[2, 3, 4]], { noop_with_empty_axes: attr.int(1) }), [[2, 3, 4]]);
  assert.deepEqual(outDims('ArgMax', [[2, 3, 4]], { axis: attr.int(1), keepdims: attr.int(0) }), [[2, 4]]);
});

test('Gather, GatherElements and ScatterElements', () => {
  assert.deepEqual(outDims('Gather', [[5, 6, 7], i64([2, 3], [0, 1, 2, 3, 4, -1])], { axis: attr.int(1) }), [[5, 2, 3, 7]]);
  assert.deepEqual(outDims('Gather', [[5, 6], i64([], [2])]), [[6]]);
  shapeError(() => outDims('Gather', [[5, 6], i64([], [5])]), /index 5 is out of range/);
  assert.deepEqual(outDims('GatherElements', [[5, 6], i64([5, 2], Array(10).fill(0))], { axis: attr.int(1) }), [[5, 2]]);
  assert.deepEqual(outDims('ScatterElements', [[4, 36], i64([4, 9], Array(36).fill(0)), [4, 9]], { axis: attr.int(1), reduction: attr.string('add') }), [[4, 36]]);
  shapeError(() => outDims('ScatterElements', [[4, 36], i64([4, 9], Array(36).fill(0)), [4, 8]]), /updates/);
});

test('Expand, Tile, ConstantOfShape and Range read their shape inputs as constants', () => {
  assert.deepEqual(outDims('Expand', [[3, 1], i64([3], [2, 1, 4])]), [[2, 3, 4]]);
  assert.deepEqual(outDims('Tile', [[3, 2], i64([2], [2, 3])]), [[6, 6]]);
  assert.deepEqual(outDims('ConstantOfShape', [i64([2], [3, 4])], { value: attr.tensor(i64([1], [0])) }), [[3, 4]]);
  assert.deepEqual(outDims('Range', [i64([], [2]), i64([], [11]), i64([], [3])]), [[3]]);
  assert.deepEqual(outDims('Range', [i64([], [10]), i64([], [4]), i64([], [-2])]), [[3]]);
  shapeError(() => outDims('Expand', [[3, 2], i64([2], [4, 3])]), /cannot expand/);
});

test('Einsum covers explicit, implicit and ellipsis equations', () => {
  assert.deepEqual(outDims('Einsum', [[2, 3, 4], [2, 4, 5]], { equation: attr.string('bij,bjk->bik') }), [[2, 3, 5]]);
  assert.deepEqual(outDims('Einsum', [[3, 4], [4, 5]], { equation: attr.string('ij,jk') }), [[3, 5]]);
  assert.deepEqual(outDims('Einsum', [[2, 7, 3, 4], [4, 5]], { equation: attr.string('...ij,jk->...ik') }), [[2, 7, 3, 5]]);
  assert.deepEqual(outDims('Einsum', [[3, 3]], { equation: attr.string('ii->') }), [[]]);
  shapeError(() => outDims('Einsum', [[3, 4], [5, 6]], { equation: attr.string('ij,jk->ik') }), /label 'j'/);
});

test('Cast, Constant, Dropout and Clip types', () => {
  const g = graph({
    nodes: [
      node('Constant', [], ['k'], { value: attr.tensor(i64([2], [3, 4])) }),
      node('Constant', [], ['s'], { value_float: attr.float(0.5) }),
      node('Cast', ['x'], ['c'], { to: attr.int(11) }),
      node('Dropout', ['x'], ['d', 'm']),
      node('Clip', ['x', 's', ''], ['cl']),
    ],
    inputs: [['x', [2, 2]]],
  });
  const t = inferShapes(g, new Map());
  assert.deepEqual(t.get('k'), { dtype: 'int64', dims: [2] });
  assert.deepEqual(t.get('s'), { dtype: 'float32', dims: [] });
  assert.deepEqual(t.get('c'), { dtype: 'float64', dims: [2, 2] });
  assert.deepEqual(t.get('m'), { dtype: 'bool', dims: [2, 2] });
  assert.deepEqual(t.get('cl'), { dtype: 'float32', dims: [2, 2] });
});

test('a Shape→Gather→Unsqueeze→Concat→Reshape flatten chain resolves once the batch size is given', () => {
  const g = graph({
    nodes: [
      node('Shape', ['x'], ['s']),
      node('Constant', [], ['zero'], { value: attr.tensor(i64([], [0])) }),
      node('Gather', ['s', 'zero'], ['b'], { axis: attr.int(0) }),
      node('Unsqueeze', ['b', 'ax0'], ['b1']),
      node('Concat', ['b1', 'minus1'], ['target'], { axis: attr.int(0) }),
      node('Reshape', ['x', 'target'], ['y']),
    ],
    inputs: [['x', ['batch', 3, 4, 4]]],
    initializers: { ax0: i64([1], [0]), minus1: i64([1], [-1]) },
  });
  const a = analyseShapes(g, new Map([['x', [5, 3, 4, 4]]]));
  assert.deepEqual(a.types.get('y')!.dims, [5, 48]);
  assert.deepEqual(tensorToNumbers(a.constants.get('target')!), [5, -1]);
  assert.throws(() => inferShapes(g, new Map()), (e: unknown) => e instanceof UserError && /symbolic dims/.test(e.message));
  assert.throws(
    () => inferShapes(g, new Map([['x', [5, 3, 4, 5]]])),
    (e: unknown) => e instanceof UserError && /size 4 on axis 3/.test(e.message),
  );
});

test('shape-chain arithmetic (Div, Mul, Cast, Slice, Shape start/end) evaluates exactly', () => {
  // A ViT-style head split: [B, T, 12] → [B, T, 3, 12 / 3].
  const g = graph({
    nodes: [
      node('Shape', ['x'], ['s'], { start: attr.int(0), end: attr.int(2) }),
      node('Shape', ['x'], ['c'], { start: attr.int(-1) }),
      node('Div', ['c', 'three'], ['hd']),
      node('Cast', ['hd'], ['hd64'], { to: attr.int(7) }),
      node('Concat', ['s', 'three', 'hd64'], ['target'], { axis: attr.int(0) }),
      node('Reshape', ['x', 'target'], ['y']),
    ],
    inputs: [['x', ['B', 'T', 12]]],
    initializers: { three: i64([1], [3]) },
  });
  const t = inferShapes(g, new Map([['x', [2, 7, 12]]]));
  assert.deepEqual(t.get('y')!.dims, [2, 7, 3, 4]);
});

test('an unknown op is reported with its node', () => {
  const g = graph({ nodes: [node('NonZero', ['x'], ['y'], {}, 'nz')], inputs: [['x', [3]]] });
  assert.throws(() => inferShapes(g, new Map(), { file: 'm.onnx' }), (e: unknown) => e instanceof UserError && e.code === 'unsupported-op' && e.location.node === 'nz' && e.location.file === 'm.onnx');
});

test('a value nobody produces is a shape error naming the node', () => {
  const g = graph({ nodes: [node('Relu', ['ghost'], ['y'], {}, 'n')] });
  shapeError(() => inferShapes(g, new Map()), /'ghost' is not produced/);
});

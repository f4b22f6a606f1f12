// maxBlock's memory model (blockMemory.ts): the per-vector float count of a block J Jᵀ V on a conv net small enough
// to count by hand, and blockLimit's clamps. The estimate's calibration against peak RSS on ResNet-18 and ResNet-50
// is a measurement (bench/blocks.ts, bench/FINDINGS.md issue 18), not a test.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inferShapes } from '../../../server/src/graph/shapes';
import { blockVectorFloats } from '../../../server/src/backends/onnx/blockMemory';
import { blockLimit, BLOCK_MEMORY_BYTES, MAX_BLOCK } from '../../../server/src/backends/onnx/onnxOperator';
import { gramPays, GRAM_MAX_RATIO } from '../../../server/src/backends/onnx/derivatives/gramWeights';
import { graph, i64, int, ints, node, operatorFor, randomTensor, rng } from '../derivatives/tinyGraphs';

/** x [1,2,4,4] → Conv 8×2×3×3 pad 1 → Relu → Conv 32×8×3×3 stride 2 pad 1 → [1,32,2,2] → Reshape → Gemm → 3 logits. */
function twoConvs() {
  const r = rng(3);
  const init = { w1: randomTensor([8, 2, 3, 3], r, 0.5), w2: randomTensor([32, 8, 3, 3], r, 0.3), fw: randomTensor([3, 128], r, 0.2), fb: randomTensor([3], r), shape: i64([1, 128]) };
  const nodes = [
    node('Conv', ['x', 'w1'], ['y1'], { pads: ints([1, 1, 1, 1]) }),
    node('Relu', ['y1'], ['r1']),
    node('Conv', ['r1', 'w2'], ['y2'], { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) }),
    node('Reshape', ['y2', 'shape'], ['flat']),
    node('Gemm', ['flat', 'fw', 'fb'], ['z'], { transB: int(1) }),
  ];
  const g = graph([1, 2, 4, 4], init, nodes, 'z');
  return { graph: g, types: inferShapes(g, new Map([['x', [1, 2, 4, 4]]])), trainable: ['w1', 'w2', 'fw', 'fb'] };
}

test('blockVectorFloats: 2 × activations + d_θ − the Gram-routed conv weights + their operands, counted by hand', () => {
  // The plan's rule: the 16-position first conv keeps its weight tangent, the 4-position second one goes by the Gram matrices.
  assert.ok(gramPays(2, 8, 9, 16) > GRAM_MAX_RATIO && gramPays(8, 32, 9, 4) <= GRAM_MAX_RATIO);
  const { graph: g, types, trainable } = twoConvs();
  const f = blockVectorFloats(g, types, trainable);
  // activations x 32, y1 128, r1 128, y2 128, flat 128, z 3; θ: 144 + 2304 + 384 + 3.
  assert.equal(f.activations, 32 + 128 + 128 + 128 + 128 + 3);
  assert.equal(f.parameters, 144 + 2304 + 384 + 3);
  assert.equal(f.gramWeights, 2304);
  assert.equal(f.gramOperands, 128 + 128);
  assert.equal(f.total, 2 * 547 + 2835 - 2304 + 256);
});

test('blockLimit: what fits BLOCK_MEMORY_BYTES, between 1 and MAX_BLOCK', () => {
  const perVector = BLOCK_MEMORY_BYTES / 4 / 3.5; // three and a half vectors' floats fit
  assert.equal(blockLimit(perVector), 3);
  assert.equal(blockLimit(1e12), 1);
  assert.equal(blockLimit(10), MAX_BLOCK);
  // ResNet-50 at 224×224 (87.7M floats per vector by the estimate, ≈ 350 MB measured) takes 3.
  assert.equal(blockLimit(87.7e6), 3);
});

test('the operator reports maxBlock from the same estimate', async () => {
  const m = twoConvs();
  const op = operatorFor({ graph: m.graph, inputDims: [1, 2, 4, 4], trainable: m.trainable, loss: 'cross-entropy', classes: 3 }, new Float32Array(32).fill(0.5), [1]);
  try {
    assert.equal(op.maxBlock, blockLimit(blockVectorFloats(m.graph, m.types, m.trainable).total));
  } finally {
    await op.dispose();
  }
});

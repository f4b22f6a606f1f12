// The execution-provider setting: asking for CUDA where this onnxruntime-node build (or machine) has none falls back
// to the CPU cleanly, the products stay right, and the fallback is remembered (so it is tried once, and reported).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { unavailableProviders } from '../../../server/src/backends/onnx/onnxOperator';
import { readNpy } from '../../../server/src/formats/npy';
import { oneHot } from '../../../server/src/analysis/inputs';
import { fixtureOperator, relativeError, root } from '../../support/fixtures';

test('selecting the CUDA provider gives the same products, on CUDA where it loads and on the CPU where it does not', async () => {
  const dir = join(root, 'mlp');
  const cpu = (await fixtureOperator(dir)).op;
  const model = await OnnxModel.open(join(dir, 'model.onnx'));
  const x = Float32Array.from((await readNpy(join(dir, 'x.npy'))).data as Float32Array);
  const labels = Array.from((await readNpy(join(dir, 'labels.npy'))).data as BigInt64Array, Number);
  const cuda = model.operator({ batch: labels.length, input: x, target: oneHot(labels, 10), loss: 'cross-entropy', session: { executionProviders: ['cuda', 'cpu'] } });
  try {
    const a = new Float64Array(cpu.parameterCount);
    const b = new Float64Array(cuda.parameterCount);
    await cpu.gradient(a);
    await cuda.gradient(b);
    assert.ok(relativeError(b, a) < 1e-6, `g differs by ${relativeError(b, a)}`);
    const v = Float64Array.from({ length: cpu.inputSize }, (_, i) => Math.sin(i));
    const ga = new Float64Array(cpu.inputSize);
    const gb = new Float64Array(cpu.inputSize);
    await cpu.gramVector(v, ga);
    await cuda.gramVector(v, gb);
    assert.ok(relativeError(gb, ga) < 1e-5);
    if (unavailableProviders.has('cuda')) assert.match(unavailableProviders.get('cuda')!, /\S/, 'the reason is kept for the report');
  } finally {
    await cpu.dispose();
    await cuda.dispose();
  }
});

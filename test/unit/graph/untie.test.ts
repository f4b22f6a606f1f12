import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Model, Tensor } from '../../../server/src/graph/ir';
import { untieExportedParameters } from '../../../server/src/graph/untie';
import { trainableParameters } from '../../../server/src/graph/parameters';

const ones = (): Tensor => ({ dtype: 'float32', dims: [4], data: new Float32Array(4).fill(1) });

function model(): Model {
  // Two LayerNorms whose fresh weights are all ones: the exporter kept 'ln1.weight' and made 'ln2.weight' an Identity.
  return {
    irVersion: 8, producerName: 'pytorch', producerVersion: '1.13', opsets: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      initializers: new Map([['ln1.weight', ones()], ['ln1.bias', ones()], ['ln2.bias', ones()], ['onnx::Mul_7', ones()]]),
      inputs: [{ name: 'x', dtype: 'float32', dims: ['batch', 4] }],
      outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 4] }],
      nodes: [
        { name: 'tie', opType: 'Identity', domain: '', inputs: ['ln1.weight'], outputs: ['ln2.weight'], attributes: {} },
        { name: 'shadow', opType: 'Identity', domain: '', inputs: ['ln1.weight'], outputs: ['onnx::Identity_3'], attributes: {} },
        { name: 'ln1', opType: 'LayerNormalization', domain: '', inputs: ['x', 'ln1.weight', 'ln1.bias'], outputs: ['h'], attributes: {} },
        { name: 'ln2', opType: 'LayerNormalization', domain: '', inputs: ['h', 'ln2.weight', 'ln2.bias'], outputs: ['y'], attributes: {} },
      ],
    },
  };
}

test('parameters the exporter tied through Identity become separate trainable parameters again', () => {
  const m = model();
  assert.deepEqual(trainableParameters(m), ['ln1.weight', 'ln1.bias', 'ln2.bias'], 'before: ln2.weight hides behind the tie');
  assert.deepEqual(untieExportedParameters(m), ['ln2.weight']);
  assert.deepEqual(trainableParameters(m), ['ln1.weight', 'ln1.bias', 'ln2.weight', 'ln2.bias']);
  const copy = m.graph.initializers.get('ln2.weight')!;
  assert.notEqual(copy.data, m.graph.initializers.get('ln1.weight')!.data, 'a copy, not a shared buffer');
  assert.ok(m.graph.nodes.some((n) => n.name === 'shadow'), 'exporter-named Identity outputs are left alone');
});

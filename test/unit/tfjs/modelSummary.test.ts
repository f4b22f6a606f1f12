// The model report for a TensorFlow.js model.json: its own layers/ops, θ as the analysis sees it (mapped onto the
// IR: OIHW kernels), analysable when the loader maps every op; an op it cannot map is named with its node.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { summariseModel } from '../../../server/src/analysis/modelSummary';
import { tfjsRoot } from './helpers';

test('a tfjs graph model and a layers model are reported analysable, with θ in the analysed (OIHW) layout', async () => {
  const graph = await summariseModel(join(tfjsRoot, 'graph_lenet5_pool', 'model.json'));
  assert.equal(graph.format, 'tfjs');
  assert.equal(graph.analysable, true, graph.notes.join('; '));
  assert.equal(graph.parameters, 62006);
  assert.deepEqual(graph.theta[0].dims, [6, 3, 5, 5], 'HWIO [5, 5, 3, 6] re-laid out as OIHW');
  assert.ok(graph.ops.some((o) => o.op === '_FusedConv2D' && o.supported && o.count === 2));
  assert.deepEqual(graph.inputs[0].dims, [-1, 32, 32, 3], 'the file’s own NHWC input');
  const layers = await summariseModel(join(tfjsRoot, 'mlp_uint8', 'model.json'));
  assert.equal(layers.analysable, true);
  assert.equal(layers.parameters, 2410);
});

test('an op the tfjs loader cannot map makes the report name it and its node', async () => {
  const s = await summariseModel(join(__dirname, '../../fixtures/bad/models/tfjs-graph-unsupported-op/model.json'));
  assert.equal(s.analysable, false);
  assert.deepEqual(s.unsupported.map((u) => [u.op, u.node]), [['Softplus', 'odd']]);
  assert.equal(s.ops.find((o) => o.op === 'Softplus')?.supported, false);
  assert.equal(s.ops.find((o) => o.op === 'MatMul')?.supported, true);
  assert.match(s.notes[0], /Softplus.*not supported/);
});

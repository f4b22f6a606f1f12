// An If whose condition folds at a fixed batch becomes the branch it takes (graph/fold.ts). PyTorch's exporter writes
// one for `squeeze(d)` on a dimension it cannot size (Opacus' dcgan.py Discriminator ends in `.view(-1, 1).squeeze(1)`):
// the same function exported with and without it (tools/fixtures/squeeze_if.py, real torch.onnx.export files) must
// give the same analysis. An If whose condition depends on the input's values is refused, said plainly.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeModel, type AnalyzeRequest } from '../../../server/src/analysis/analyzeModel';
import { loadModelFile } from '../../../server/src/backends/modelFile';
import { simplifyForAnalysis } from '../../../server/src/graph/fold';
import { trainableParameters } from '../../../server/src/graph/parameters';
import { unsupportedOps } from '../../../server/src/graph/support';
import type { Graph } from '../../../server/src/graph/ir';
import { f32, graph, model, node } from './build';

const FIXTURES = join(__dirname, '../../fixtures/graph/squeeze-if');
const reference = JSON.parse(readFileSync(join(FIXTURES, 'squeeze_if.json'), 'utf8'));

test("PyTorch's If around squeeze is taken by the analysis and folds at a fixed batch into the Squeeze branch", async () => {
  // What onnx itself reads in the files: the If is there, and only in one of them.
  assert.equal(reference.files.squeeze_if.ops.at(-1), 'If');
  assert.ok(!reference.files.squeeze_plain.ops.includes('If'));
  const m = await loadModelFile(join(FIXTURES, 'squeeze_if.onnx'));
  assert.deepEqual(unsupportedOps(m), [], 'both branches hold ops the analysis differentiates');
  const folded = simplifyForAnalysis(m, new Set(trainableParameters(m)), { batch: 2 });
  const ops = folded.graph.nodes.map((n) => n.opType);
  assert.ok(!ops.includes('If') && ops.includes('Squeeze'), ops.join(' '));
  assert.deepEqual(folded.graph.outputs.map((o) => o.name), ['logits']);
});

test('the If-guarded export and the plain one give the same analysis (λmax, gradient, I²F)', async () => {
  const base: AnalyzeRequest = { model: '', defences: ['gaussian:std=0.01'], damping: 0, spectrumK: 0, seed: 0, loss: 'cross-entropy', batch: 2, syntheticSamples: 2 };
  const [withIf, plain] = await Promise.all(['squeeze_if', 'squeeze_plain'].map((f) => analyzeModel({ ...base, model: join(FIXTURES, `${f}.onnx`) })));
  const a = withIf.results[0];
  const b = plain.results[0];
  for (const k of ['lambdaMax', 'gradientNorm', 'i2f'] as const) assert.ok(Math.abs(a[k] - b[k]) <= 1e-6 * Math.abs(b[k]), `${k}: ${a[k]} vs ${b[k]}`);
  assert.ok(b.lambdaMax > 0);
});

test("an If whose condition depends on the input's values is refused at the fold, with the node", () => {
  const branch = (op: string): Graph => graph({ nodes: [node(op, ['x'], [`${op}_out`])] });
  const m = model({
    nodes: [
      node('ReduceSum', ['x'], ['s'], {}, 'sum'),
      node('Greater', ['s', 'zero'], ['c'], {}, 'positive'),
      { ...node('If', ['c'], ['y'], {}, 'branch_on_x'), attributes: { then_branch: { type: 'graph', value: branch('Relu') }, else_branch: { type: 'graph', value: branch('Sigmoid') } } },
    ],
    inputs: [['x', ['B', 4]]],
    initializers: { zero: f32([], [0]) },
  });
  assert.throws(() => simplifyForAnalysis(m, new Set(), { batch: 2 }), /the condition of If node 'branch_on_x' depends on the input's values/);
});

test("a final Sigmoid behind view/squeeze (dcgan.py's discriminator) is moved last: analysed as BCELoss on it, as the same function written sigmoid-last", async () => {
  assert.equal(reference.files.sigmoid_squeezed.ops.indexOf('Sigmoid'), 4, 'torch writes the Sigmoid before the reshapes');
  const m = await loadModelFile(join(FIXTURES, 'sigmoid_squeezed.onnx'));
  const folded = simplifyForAnalysis(m, new Set(trainableParameters(m)), { batch: 2 });
  const last = folded.graph.nodes.at(-1)!;
  assert.deepEqual([last.opType, last.outputs], ['Sigmoid', ['logits']]);
  assert.deepEqual(folded.graph.nodes.map((n) => n.opType).filter((op) => op === 'Sigmoid'), ['Sigmoid']);
  const base: AnalyzeRequest = { model: '', defences: ['gaussian:std=0.01'], damping: 0, spectrumK: 0, seed: 0, loss: 'auto', batch: 2, syntheticSamples: 2 };
  const [moved, written] = await Promise.all(['sigmoid_squeezed', 'sigmoid_last'].map((f) => analyzeModel({ ...base, model: join(FIXTURES, `${f}.onnx`) })));
  for (const r of [moved, written]) assert.match(r.settings.lossDescription ?? '', /^binary cross-entropy \(torch BCELoss on the model's final Sigmoid\), 1 output per example/);
  const [a, b] = [moved.results[0], written.results[0]];
  for (const k of ['lambdaMax', 'gradientNorm', 'i2f'] as const) assert.ok(Math.abs(a[k] - b[k]) <= 1e-6 * Math.abs(b[k]), `${k}: ${a[k]} vs ${b[k]}`);
  assert.ok(b.lambdaMax > 0);
});

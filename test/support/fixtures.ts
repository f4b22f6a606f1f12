// Shared access to the PyTorch float64 fixtures (test/fixtures/models/<name>/, tools/fixtures/generate.py).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxModel } from '../../server/src/backends/onnx/onnxModel';
import { readNpy } from '../../server/src/formats/npy';
import { oneHot } from '../../server/src/analysis/inputs';
import type { GramRoute } from '../../server/src/backends/onnx/onnxOperator';

export const root = join(__dirname, '../fixtures/models');

export { relativeError } from './numeric';

/** Flattens name-keyed θ tensors into the operator's layout. */
export function flattenTheta(tensors: Map<string, { data: ArrayLike<number> }>, layout: readonly { name: string; offset: number; size: number }[], total: number): Float64Array {
  const out = new Float64Array(total);
  for (const p of layout) {
    const t = tensors.get(p.name);
    assert.ok(t, `reference lacks parameter ${p.name}`);
    assert.equal(t.data.length, p.size, `size of ${p.name}`);
    out.set(Float64Array.from(t.data), p.offset);
  }
  return out;
}

/** The fixture's model and operator at its x and labels (gramRoute: which graph gramVector runs on; default 'auto'). */
export async function fixtureOperator(dir: string, opts: { gramRoute?: GramRoute } = {}) {
  const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
  const model = await OnnxModel.open(join(dir, 'model.onnx'));
  const x = await readNpy(join(dir, 'x.npy'));
  const labels = Array.from((await readNpy(join(dir, 'labels.npy'))).data as BigInt64Array, Number);
  const classes = ref.logits[0].length;
  const op = model.operator({ batch: ref.batch, input: Float32Array.from(x.data as Float32Array), target: oneHot(labels, classes), loss: 'cross-entropy', gramRoute: opts.gramRoute });
  return { ref, model, op, labels };
}


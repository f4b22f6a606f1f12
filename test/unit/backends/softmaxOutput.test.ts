// Models that end in Softmax or LogSoftmax (probabilities or log-probabilities out: Opacus' examples return
// F.log_softmax and train with F.nll_loss) against PyTorch float64 (tools/fixtures/softmax_output_reference.py,
// committed output in test/fixtures/softmax-output/): both engines take the cross-entropy on the logits before the
// final op, so g and J Jᵀ v equal PyTorch's F.cross_entropy on the logits. The tfjs engine used to take it on the
// probabilities (a softmax of a softmax): g off by 67%, λmax 8.5× smaller than the ONNX engine's, a comfort no real
// training gives.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { TfjsInversionOperator } from '../../../server/src/backends/tfjs/tfjsOperator';
import { batchTargets } from '../../../server/src/analysis/lossChoice';
import type { InversionOperator } from '../../../server/src/engine/operator';
import { readNpy } from '../../../server/src/formats/npy';
import { relativeError } from '../../support/fixtures';

const DIR = join(__dirname, '..', '..', 'fixtures', 'softmax-output');
interface Reference { parameters: string[]; label: number; gradientNorm: number; g: number[]; jjtv: number[] }
const REFERENCE = JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as Record<'softmax' | 'logsoftmax', Reference> & { torch: string };

async function npy(name: string): Promise<Float64Array> {
  return Float64Array.from((await readNpy(join(DIR, name))).data as ArrayLike<number>);
}

/** PyTorch's g (named_parameters order) in the operator's θ layout. */
function toLayout(op: InversionOperator, ref: Reference): Float64Array {
  const out = new Float64Array(op.parameterCount);
  let offset = 0;
  for (const name of ref.parameters) {
    const slot = op.parameters.find((p) => p.name === name);
    assert.ok(slot, `θ has ${name}`);
    out.set(ref.g.slice(offset, offset + slot.size), slot.offset);
    offset += slot.size;
  }
  assert.equal(offset, ref.g.length);
  return out;
}

for (const final of ['softmax', 'logsoftmax'] as const) {
  describe(`a model ending in ${final === 'softmax' ? 'Softmax' : 'LogSoftmax'}: cross-entropy on its logits, both engines, against PyTorch float64 (torch ${REFERENCE.torch})`, () => {
    const ref = REFERENCE[final];
    async function setUp() {
      const model = await OnnxModel.open(join(DIR, `${final}.onnx`));
      const x = Float32Array.from(await npy('x.npy'));
      const targets = batchTargets('auto', model, (await model.predict(x, 1)).logits, 1);
      assert.equal(targets.loss, 'cross-entropy');
      assert.deepEqual(targets.labels, [ref.label], 'the label is the prediction, as the reference took it');
      return { model, x, targets, v: await npy('v.npy') };
    }
    async function check(op: InversionOperator, v: Float64Array) {
      const g = new Float64Array(op.parameterCount);
      await op.gradient(g);
      assert.ok(relativeError(g, toLayout(op, ref)) < 1e-5, `g: ${relativeError(g, toLayout(op, ref))}`);
      const jjtv = new Float64Array(op.inputSize);
      await op.gramVector(v, jjtv);
      assert.ok(relativeError(jjtv, ref.jjtv) < 1e-5, `J Jᵀ v: ${relativeError(jjtv, ref.jjtv)}`);
    }

    it('the ONNX engine', async () => {
      const { model, x, targets, v } = await setUp();
      const op = model.operator({ batch: 1, input: x, target: targets.target, loss: targets.loss });
      try { await check(op, v); } finally { await op.dispose(); }
    });

    it('the tfjs engine', async () => {
      const { model, x, targets, v } = await setUp();
      const op = await TfjsInversionOperator.create({
        file: model.file, trainable: model.trainable, loss: targets.loss, specialise: (b) => model.specialise(b), batch: 1, input: x, target: targets.target, backend: 'wasm',
      });
      try { await check(op, v); } finally { await op.dispose(); }
    });
  });
}

// Binary cross-entropy, the loss of one-output models (analysis/lossChoice.ts), against PyTorch float64
// (tools/fixtures/binary_reference.py, committed output in test/fixtures/binary/): Flower's fl-tabular
// IncomeClassifier (…→ Linear(64, 1) → Sigmoid, nn.BCELoss) at batch 2, a Linear(14, 1) with nn.BCEWithLogitsLoss and
// a multi-label Linear(14, 3) → Sigmoid with nn.BCELoss.
// The loss, g, J Jᵀ v (float32 and float64 products), λmax, ‖J δ‖, the I²F and its lower bound under a small
// Gaussian δ, on both engines; and the guard: the softmax cross-entropy the engine used to take on such a model is
// constant, gives g ≡ 0, and must be graded UNCERTAIN, never LOW. And MSE on the IncomeClassifier at the analysis'
// regression targets (one unit below the outputs).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { TfjsInversionOperator } from '../../../server/src/backends/tfjs/tfjsOperator';
import { batchTargets, chooseLoss } from '../../../server/src/analysis/lossChoice';
import { analyzeInfluence } from '../../../server/src/engine/influence';
import type { InversionOperator } from '../../../server/src/engine/operator';
import { readNpy } from '../../../server/src/formats/npy';
import { relativeError } from '../../support/fixtures';

const DIR = join(__dirname, '..', '..', 'fixtures', 'binary');

interface Reference {
  parameters: string[]; parameterCount: number; batch: number; targets: number[]; output: number[]; loss: number; gradientNorm: number;
  jjtv: number[]; lambdaMax: number; lambdaMin: number; jDeltaNorm: number; i2f: number; lowerBound: number;
}
type Case = 'income' | 'linear' | 'multilabel' | 'incomeMse';
const REFERENCE = JSON.parse(readFileSync(join(DIR, 'reference.json'), 'utf8')) as Record<Case, Reference> & { torch: string };

async function npy(name: string): Promise<Float64Array> {
  return Float64Array.from((await readNpy(join(DIR, name))).data as ArrayLike<number>);
}

/** A vector laid out in named_parameters order (the reference's) put into the operator's θ layout. */
function toLayout(op: InversionOperator, ref: Reference, flat: Float64Array): Float64Array {
  const out = new Float64Array(op.parameterCount);
  let offset = 0;
  for (const name of ref.parameters) {
    const slot = op.parameters.find((p) => p.name === name);
    assert.ok(slot, `θ has ${name}`);
    out.set(flat.subarray(offset, offset + slot.size), slot.offset);
    offset += slot.size;
  }
  assert.equal(offset, flat.length);
  return out;
}

async function problem(name: Case) {
  const ref = REFERENCE[name];
  const model = await OnnxModel.open(join(DIR, `${name}.onnx`));
  const x = Float32Array.from(await npy(`${name}.x.npy`));
  const predicted = await model.predict(x, ref.batch);
  // The income and multi-label targets are the model's own predictions (output > 1/2), as the reference took them;
  // the linear one's label 1 is given (its logit is below 0).
  const targets = batchTargets('auto', model, predicted.logits, ref.batch, name === 'linear' ? ref.targets : undefined);
  return { ref, model, x, predicted, targets };
}

for (const name of ['income', 'linear', 'multilabel'] as const) {
  describe(`${name}: binary cross-entropy against PyTorch float64 (torch ${REFERENCE.torch})`, () => {
    it('is the loss chosen for one output, with the reference\'s labels; the model\'s output is the reference\'s', async () => {
      const { ref, predicted, targets } = await problem(name);
      assert.equal(targets.loss, 'binary-cross-entropy');
      assert.equal(targets.sigmoid, name !== 'linear', 'the income and multi-label models end in a Sigmoid, the linear one in logits');
      assert.equal(targets.outputs, name === 'multilabel' ? 3 : 1);
      assert.deepEqual(Array.from(targets.target), ref.targets, 'one {0,1} target per output');
      if (targets.outputs === 1) assert.deepEqual(targets.labels, ref.targets);
      assert.ok(relativeError(Float64Array.from(predicted.logits), ref.output) < 1e-6);
    });

    it('the loss, g and J Jᵀ v on the ONNX engine (float32 products to 1e-5, float64 to 1e-9), λmax, ‖J δ‖, I²F and its bound to 1e-6', async () => {
      const { ref, model, x, targets } = await problem(name);
      const op = model.operator({ batch: ref.batch, input: x, target: targets.target, loss: targets.loss });
      try {
        assert.equal(op.parameterCount, ref.parameterCount);
        const g = new Float64Array(op.parameterCount);
        const loss = await op.gradient(g);
        assert.ok(Math.abs(loss - ref.loss) <= 1e-6 * ref.loss, `loss ${loss} vs ${ref.loss}`);
        const gRef = toLayout(op, ref, await npy(`${name}.g.npy`));
        assert.ok(relativeError(g, gRef) < 1e-5, `g: ${relativeError(g, gRef)}`);
        const v = await npy(`${name}.v.npy`);
        const jjtv = new Float64Array(op.inputSize);
        await op.gramVector(v, jjtv);
        assert.ok(relativeError(jjtv, ref.jjtv) < 1e-5, `J Jᵀ v (float32): ${relativeError(jjtv, ref.jjtv)}`);
        assert.ok(op.precise, 'double kernels for every op of these models');
        await op.precise!.gramVector(v, jjtv);
        assert.ok(relativeError(jjtv, ref.jjtv) < 1e-9, `J Jᵀ v (float64): ${relativeError(jjtv, ref.jjtv)}`);

        const delta = toLayout(op, ref, await npy(`${name}.delta.npy`));
        const r = await analyzeInfluence(op, { delta, damping: 0, tolerance: 1e-10, seed: 0, batchSize: ref.batch, lanczosSteps: op.inputSize, productRoundoff: 2 ** -24 });
        const close = (ours: number, theirs: number, what: string, tol = 1e-6) => assert.ok(Math.abs(ours - theirs) <= tol * Math.abs(theirs), `${what}: ${ours} vs PyTorch ${theirs}`);
        close(r.gradientNorm, ref.gradientNorm, '‖g‖');
        close(r.lambdaMax.value, ref.lambdaMax, 'λmax');
        close(r.jDeltaNorm, ref.jDeltaNorm, '‖J δ‖');
        close(r.lowerBound, ref.lowerBound, 'I_lb = ‖J δ‖/λmax');
        close(r.i2f, ref.i2f, 'I²F = ‖(J Jᵀ)⁻¹ J δ‖');
        assert.ok(r.lowerBound <= r.i2f, 'the bound is below the I²F');
        assert.equal(r.validity.noGradient, undefined);
        assert.notEqual(r.risk, 'low', 'the gradient of the real loss reveals x: a δ of 1e-3‖g‖ leaves it rebuilt');
      } finally {
        await op.dispose();
      }
    });

    it('the tfjs engine (its own BCE in tfjs ops, nested autodiff) gives the same g and J Jᵀ v to 1e-5', async () => {
      const { ref, model, x, targets } = await problem(name);
      const op = await TfjsInversionOperator.create({
        file: model.file, trainable: model.trainable, loss: targets.loss, specialise: (b) => model.specialise(b), batch: ref.batch, input: x, target: targets.target, backend: 'wasm',
      });
      try {
        const g = new Float64Array(op.parameterCount);
        const loss = await op.gradient(g);
        assert.ok(Math.abs(loss - ref.loss) <= 1e-5 * ref.loss, `loss ${loss} vs ${ref.loss}`);
        assert.ok(relativeError(g, toLayout(op, ref, await npy(`${name}.g.npy`))) < 1e-5);
        const jjtv = new Float64Array(op.inputSize);
        await op.gramVector(await npy(`${name}.v.npy`), jjtv);
        assert.ok(relativeError(jjtv, ref.jjtv) < 1e-5, `J Jᵀ v: ${relativeError(jjtv, ref.jjtv)}`);
      } finally {
        await op.dispose();
      }
    });
  });
}

describe('the softmax cross-entropy of a one-output model gives no gradient: UNCERTAIN, never LOW', () => {
  it('g and λmax are exactly 0, validity says noGradient, the risk is uncertain, with and without a Gaussian δ', async () => {
    const { ref, model, x, predicted } = await problem('income');
    const targets = batchTargets('cross-entropy', model, predicted.logits, ref.batch);
    assert.equal(targets.loss, 'cross-entropy', 'an explicit loss is kept');
    const op = model.operator({ batch: ref.batch, input: x, target: targets.target, loss: targets.loss });
    try {
      const g = new Float64Array(op.parameterCount);
      await op.gradient(g);
      assert.ok(g.every((gi) => gi === 0), 'a softmax over one output is the constant 1: the loss is 0 for every θ');
      for (const delta of [undefined, toLayout(op, ref, await npy('income.delta.npy'))]) {
        const r = await analyzeInfluence(op, { delta, damping: 0, seed: 0, batchSize: ref.batch });
        assert.equal(r.gradientNorm, 0);
        assert.equal(r.lambdaMax.value, 0);
        assert.equal(r.validity.noGradient, true);
        assert.equal(r.risk, 'uncertain', 'not the LOW "carries nothing" of a measured, tiny λmax');
      }
    } finally {
      await op.dispose();
    }
  });

  it('auto picks binary cross-entropy for one output or a final Sigmoid, cross-entropy for class scores', () => {
    assert.equal(chooseLoss('auto', 1, false), 'binary-cross-entropy');
    assert.equal(chooseLoss('auto', 1, true), 'binary-cross-entropy');
    assert.equal(chooseLoss('auto', 5, true), 'binary-cross-entropy', 'several sigmoid outputs: multi-label');
    assert.equal(chooseLoss('auto', 10, false), 'cross-entropy');
    assert.equal(chooseLoss('mse', 1, true), 'mse', 'an explicit loss wins');
  });
});

describe(`MSE (a regressor's loss) on the IncomeClassifier against PyTorch float64 (torch ${REFERENCE.torch})`, () => {
  it('targets one unit below the outputs (never the outputs themselves, where g ≡ 0); loss, g, J Jᵀ v, λmax, ‖J δ‖, the I²F and its bound', async () => {
    const ref = REFERENCE.incomeMse;
    const model = await OnnxModel.open(join(DIR, 'incomeMse.onnx'));
    const x = Float32Array.from(await npy('incomeMse.x.npy'));
    const predicted = await model.predict(x, ref.batch);
    const targets = batchTargets('mse', model, predicted.logits, ref.batch);
    assert.equal(targets.loss, 'mse');
    assert.ok(relativeError(Float64Array.from(targets.target), ref.targets) < 1e-6, 'the reference took the same targets');
    const op = model.operator({ batch: ref.batch, input: x, target: targets.target, loss: targets.loss });
    try {
      const g = new Float64Array(op.parameterCount);
      const loss = await op.gradient(g);
      assert.ok(Math.abs(loss - ref.loss) <= 1e-5 * ref.loss, `loss ${loss} vs ${ref.loss}`);
      assert.ok(relativeError(g, toLayout(op, ref, await npy('incomeMse.g.npy'))) < 1e-5);
      assert.ok(ref.gradientNorm > 0.1, 'a residual of the size real targets leave: g is not the zero of a perfect fit');
      const v = await npy('incomeMse.v.npy');
      const jjtv = new Float64Array(op.inputSize);
      await op.precise!.gramVector(v, jjtv);
      // 1e-6, not BCE's 1e-9: the targets here are float32 outputs less one (BCE's are exact {0,1}), and the residual
      // enters J directly; measured 2.5e-8.
      assert.ok(relativeError(jjtv, ref.jjtv) < 1e-6, `J Jᵀ v (float64): ${relativeError(jjtv, ref.jjtv)}`);
      const delta = toLayout(op, ref, await npy('incomeMse.delta.npy'));
      const r = await analyzeInfluence(op, { delta, damping: 0, tolerance: 1e-10, seed: 0, batchSize: ref.batch, lanczosSteps: op.inputSize, productRoundoff: 2 ** -24 });
      const close = (ours: number, theirs: number, what: string) => assert.ok(Math.abs(ours - theirs) <= 1e-6 * Math.abs(theirs), `${what}: ${ours} vs PyTorch ${theirs}`);
      close(r.gradientNorm, ref.gradientNorm, '‖g‖');
      close(r.lambdaMax.value, ref.lambdaMax, 'λmax');
      close(r.jDeltaNorm, ref.jDeltaNorm, '‖J δ‖');
      close(r.lowerBound, ref.lowerBound, 'I_lb');
      close(r.i2f, ref.i2f, 'I²F');
    } finally {
      await op.dispose();
    }
  });
});

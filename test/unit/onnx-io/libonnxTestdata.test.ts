// Every model of ONNX's own PyTorch-converted and PyTorch-operator test sets (Debian's libonnx-testdata, installed by
// .ci/run) either gives finite g, J u and Jᵀ v or is refused with a UserError that names what is wrong (the op, the
// opset, "no trainable parameters"): never an internal error. The MaxPool-with-dilation models used to end in an
// invalid derivative graph (a Concat of zero θ blocks: they have no parameters).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { isUserError } from '../../../server/src/errors';

const ROOT = '/usr/share/libonnx-testdata/data';
const SETS = ['pytorch-converted', 'pytorch-operator'];

async function outcome(file: string): Promise<{ kind: 'ok' | 'refused'; detail: string }> {
  try {
    const m = await OnnxModel.open(file);
    const n = m.sampleSize;
    const out = await m.predict(new Float32Array(n).fill(0.3), 1);
    const classes = out.dims.slice(1).reduce((a, b) => a * b, 1);
    const op = m.operator({ batch: 1, input: Float32Array.from({ length: n }, (_, i) => Math.sin(i + 1)), target: new Float32Array(classes).fill(0.1), loss: 'mse' });
    try {
      const g = new Float64Array(op.parameterCount);
      await op.gradient(g);
      const ju = new Float64Array(op.inputSize);
      await op.jacobianVector(Float64Array.from(g, (_, i) => Math.cos(i)), ju);
      const jtv = new Float64Array(op.parameterCount);
      await op.jacobianTransposeVector(Float64Array.from(ju, (_, i) => Math.sin(i)), jtv);
      assert.ok([...g, ...ju, ...jtv].every(Number.isFinite), `${file}: non-finite products`);
      return { kind: 'ok', detail: `θ ${op.parameterCount}` };
    } finally {
      await op.dispose();
    }
  } catch (e) {
    if (!isUserError(e)) throw new Error(`${file}: internal error: ${(e as Error)?.stack ?? e}`);
    return { kind: 'refused', detail: `${e.code}: ${e.message}` };
  }
}

for (const set of SETS) {
  const dir = join(ROOT, set);
  test(`libonnx-testdata ${set}: analysed or refused by name, never an internal error`, { skip: existsSync(dir) ? false : `${dir} is not installed (apt-get install libonnx-testdata)` }, async () => {
    const seen: string[] = [];
    for (const name of readdirSync(dir).sort()) {
      const file = join(dir, name, 'model.onnx');
      if (!existsSync(file)) continue;
      const o = await outcome(file);
      seen.push(name);
      if (o.kind === 'refused') {
        // A refusal says what: the opset, the op by name, or that nothing is trainable.
        assert.match(o.detail, /^(unsupported-opset: .*opset \d+|unsupported-op: op \w+|no-parameters: the model has no trainable parameters|dynamic-shape|unsupported-model)/, `${name}: ${o.detail}`);
      }
    }
    assert.ok(seen.length > 30, `only ${seen.length} models found in ${dir}`);
  });
}

test('the dilated MaxPool models are refused for having no parameters, by name', { skip: existsSync(ROOT) ? false : 'libonnx-testdata is not installed' }, async () => {
  for (const name of ['test_MaxPool1d_stride_padding_dilation', 'test_MaxPool2d_stride_padding_dilation']) {
    const o = await outcome(join(ROOT, 'pytorch-converted', name, 'model.onnx'));
    assert.equal(o.kind, 'refused');
    assert.match(o.detail, /^no-parameters: /);
  }
});

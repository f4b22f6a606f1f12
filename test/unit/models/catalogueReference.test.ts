// The catalogue's graphs against the real definitions (torchvision 0.14, FedML's model code) run by PyTorch in float64
// with the same weights (tools/fixtures/catalogue_reference.py): θ names and shapes equal named_parameters, the
// BatchNorm statistics are non-θ initialisers, g, J u and Jᵀ v agree to 1e-5, and our seeded initialisation has the
// spread of each family's own init.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildArchitecture, findArchitecture } from '../../../server/src/models/catalogue';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { trainableParameters } from '../../../server/src/graph/parameters';
import { sizeOf } from '../../../server/src/graph/ir';
import { applyHashedWeights, hashed } from './hashedWeights';
import { relativeError as relErr } from '../../support/numeric';

const DIR = join(__dirname, '../../fixtures/catalogue/references');

interface Reference {
  name: string;
  /** 'groupnorm': the architecture after Opacus' ModuleValidator.fix (BatchNorm → GroupNorm(gcd(32, C), C)). */
  normalisation?: 'groupnorm';
  inputShape: number[];
  classes: number;
  label: number;
  theta: [string, number[]][];
  buffers: [string, number[]][];
  initStd: Record<string, number>;
  /** Absent for models too large to differentiate in a test (vgg11_bn): θ, buffers and init only. */
  g?: Record<string, { norm: number; head: number[] }>;
  JTv?: Record<string, { norm: number; head: number[] }>;
  Ju?: number[];
}


/** Per-parameter norms and first entries of a θ-space vector laid out as the operator lays θ out. */
function blocks(op: { parameters: readonly { name: string; offset: number; size: number }[] }, vec: Float64Array, ref: NonNullable<Reference['g']>): { ours: number[]; theirs: number[] } {
  const ours: number[] = [];
  const theirs: number[] = [];
  for (const p of op.parameters) {
    const r = ref[p.name];
    const block = vec.subarray(p.offset, p.offset + p.size);
    let sq = 0;
    for (let i = 0; i < block.length; i++) sq += block[i] * block[i];
    ours.push(Math.sqrt(sq), ...Array.from(block.subarray(0, r.head.length)));
    theirs.push(r.norm, ...r.head);
  }
  return { ours, theirs };
}

const references = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

test('every reference is of a catalogue model, and the catalogue models named in the issue all have one', () => {
  // `resnet18+groupnorm.json` is resnet18 built with normalisation 'groupnorm' (its `name` and `normalisation`).
  const names = references.map((f) => f.replace(/\.json$/, '').split('+')[0]);
  for (const n of names) assert.ok(findArchitecture(n), `${n} is in the catalogue`);
  for (const n of ['lr', 'cnn', 'resnet18', 'mobilenet_v2']) assert.ok(names.includes(n), `${n} has a reference`);
});

for (const file of references) {
  const ref = JSON.parse(readFileSync(join(DIR, file), 'utf8')) as Reference;
  test(`${ref.name}${ref.normalisation ? ` (${ref.normalisation})` : ''}: θ is named_parameters${ref.g ? ', g, J u, Jᵀ v equal PyTorch float64 to 1e-5' : ' (names, shapes and init)'}`, async () => {
    const arch = findArchitecture(ref.name)!;
    const model = buildArchitecture(arch, { inputShape: ref.inputShape, classes: ref.classes, seed: 0, ...(ref.normalisation ? { normalisation: ref.normalisation } : {}) });

    // θ: the same names with the same shapes; the statistics are initialisers outside θ.
    const theta = trainableParameters(model);
    const shapes = new Map(theta.map((n) => [n, model.graph.initializers.get(n)!.dims]));
    assert.deepEqual([...theta].sort(), ref.theta.map(([n]) => n).sort());
    for (const [n, dims] of ref.theta) assert.deepEqual(shapes.get(n), dims, `${n}'s shape`);
    for (const [n, dims] of ref.buffers) {
      assert.deepEqual(model.graph.initializers.get(n)?.dims, dims, `buffer ${n}`);
      assert.ok(!shapes.has(n), `${n} is not θ`);
    }

    // The seeded init follows the family's distributions: the spread of each sizeable tensor within 10%.
    for (const [n] of ref.theta) {
      const t = model.graph.initializers.get(n)!;
      if (sizeOf(t.dims) < 1000) continue;
      // The first 2^20 entries of a larger tensor are i.i.d. draws too: enough for a 10% spread check.
      const d = (t.data as Float32Array).subarray(0, 1 << 20);
      const mean = d.reduce((s, x) => s + x, 0) / d.length;
      const std = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (d.length - 1));
      const want = ref.initStd[n];
      assert.ok(Math.abs(std - want) <= 0.1 * want + 1e-7, `${n}: init std ${std} vs PyTorch's ${want}`);
    }

    if (!ref.g || !ref.JTv || !ref.Ju) return;
    applyHashedWeights(model);
    const om = OnnxModel.fromModel(`${ref.name}.onnx`, model);
    const x = hashed('input', sizeOf(ref.inputShape), 'input');
    const target = new Float32Array(ref.classes);
    target[ref.label] = 1;
    const op = om.operator({ batch: 1, input: x, target, loss: 'cross-entropy' });
    try {
      const g = new Float64Array(op.parameterCount);
      await op.gradient(g);
      const gb = blocks(op, g, ref.g!);
      assert.ok(relErr(gb.ours, gb.theirs) < 1e-5, `g: ${relErr(gb.ours, gb.theirs)}`);

      const u = new Float64Array(op.parameterCount);
      for (const p of op.parameters) u.set(hashed(`u.${p.name}`, p.size, 'direction'), p.offset);
      const ju = new Float64Array(op.inputSize);
      await op.jacobianVector(u, ju);
      assert.ok(relErr([...ju], ref.Ju!) < 1e-5, `J u: ${relErr([...ju], ref.Ju!)}`);

      const v = Float64Array.from(hashed('v', op.inputSize, 'direction'));
      const jtv = new Float64Array(op.parameterCount);
      await op.jacobianTransposeVector(v, jtv);
      const jb = blocks(op, jtv, ref.JTv!);
      assert.ok(relErr(jb.ours, jb.theirs) < 1e-5, `Jᵀ v: ${relErr(jb.ours, jb.theirs)}`);
    } finally {
      await op.dispose();
    }
  });
}

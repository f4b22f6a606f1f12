// Opacus' ModuleValidator.fix in a script (BatchNorm → GroupNorm(gcd(32, C), C)) read and reproduced by the export
// bridge, and the InstanceNormalization torch.onnx.export writes for GroupNorm and InstanceNorm differentiated:
// J Jᵀ v on the bridge's export against PyTorch float64 on the fixed model built independently
// (tools/fixtures/groupnorm_reference.py), and on an InstanceNorm2d(affine=True) net exported with the defaults.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { oneHot } from '../../../server/src/analysis/inputs';
import { readNpy, writeNpy } from '../../../server/src/formats/npy';
import { findPython, type FoundPython } from '../../../server/src/python/interpreter';
import { materialisePythonModel } from '../../../server/src/python/pythonModel';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';
import { relativeError } from '../../support/fixtures';
import { debianTorch, needing } from '../../support/requirements';
import { rng } from '../derivatives/tinyGraphs';

const { before, test } = needing(debianTorch);

const ROOT = join(__dirname, '..', '..', '..');
const SCRIPT_DIR = join(ROOT, 'test', 'fixtures', 'python', 'opacus-fix');
const GENERATOR = join(ROOT, 'tools', 'fixtures', 'groupnorm_reference.py');
let python: FoundPython;

before(async () => {
  const search = await findPython({ configured: '/usr/bin/python3', pathEnv: '' });
  assert.ok(search.found, JSON.stringify(search.tried));
  python = search.found;
});

/** PyTorch float64 J Jᵀ v for `model` at x, v (and its θ count); the generator exports the ONNX too when `onnx` is given. */
async function truth(dir: string, model: string, x: Float32Array, dims: number[], v: Float64Array, label: number, onnx?: string): Promise<{ jjtv: Float64Array; parameters: number }> {
  writeFileSync(join(dir, 'x.npy'), writeNpy({ dtype: 'float32', dims, data: x }));
  writeFileSync(join(dir, 'v.npy'), writeNpy({ dtype: 'float64', dims: [v.length], data: v }));
  const out = join(dir, `${model}.npy`);
  const printed = execFileSync('/usr/bin/python3', [GENERATOR, model, join(dir, 'x.npy'), join(dir, 'v.npy'), String(label), out, ...(onnx ? [onnx] : [])], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const { parameters } = JSON.parse(printed.trim().split('\n').pop()!) as { parameters: number };
  return { jjtv: Float64Array.from((await readNpy(out)).data as ArrayLike<number>), parameters };
}

function seeded(n: number, seed: number, lo = 0, hi = 1): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * r());
}

async function gramOf(file: string, x: Float32Array, v: Float64Array, label: number, classes: number): Promise<{ out: Float64Array; parameters: number; ops: Set<string> }> {
  const model = await OnnxModel.open(file);
  const op = model.operator({ batch: 1, input: x, target: oneHot([label], classes), loss: 'cross-entropy' });
  try {
    const out = new Float64Array(op.inputSize);
    await op.gramVector(v, out);
    return { out, parameters: op.parameterCount, ops: new Set(model.model.graph.nodes.map((n) => n.opType)) };
  } finally {
    await op.dispose();
  }
}

test('a script that fixes its model with ModuleValidator.fix: read as such, with the shape of its DataLoader\'s dataset', async () => {
  const file = join(SCRIPT_DIR, 'train_dp.py');
  const { setup } = await readPythonFile(file, readFileSync(file, 'utf8'));
  assert.equal(setup?.pythonModel?.value, 'train_dp:Net', 'the class, followed back through .to() and ModuleValidator.fix');
  assert.equal(setup?.normalisation?.value, 'groupnorm');
  assert.equal(setup?.normalisation?.valueRange.start.line, 34, 'located on `ModuleValidator.fix(model)` (line 35)');
  assert.deepEqual(setup?.pythonInputHint?.shape, [1, 28, 28]);
  assert.match(setup!.pythonInputHint!.from, /^MNIST's, the dataset the DP call's DataLoader loads \(line 38\)/);
});

test('the bridge makes the fix\'s swap: J Jᵀ v of its export equals PyTorch float64 on the fixed model (GroupNorm(2, 6), (16, 16), (4, 20))', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-gnfix-'));
  const ref = { factory: 'train_dp:Net', root: SCRIPT_DIR, inputHint: { shape: [1, 28, 28], from: 'MNIST' }, normalisation: 'groupnorm' as const };
  const fixed = await materialisePythonModel(ref, { configured: python.path, pathEnv: '', cacheDir: dir });
  assert.deepEqual(fixed.exported.groupNormReplaced, ['bn1', 'bn2', 'bn3']);
  assert.deepEqual(fixed.exported.inputShape, [1, 28, 28]);
  assert.ok(fixed.notes.some((n) => /3 BatchNorm layer\(s\) made GroupNorm\(gcd\(32, C\), C\)/.test(n)), fixed.notes.join('; '));
  const x = Float32Array.from(seeded(28 * 28, 3));
  const v = seeded(28 * 28, 4, -1, 1);
  const reference = await truth(dir, 'script', x, [1, 1, 28, 28], v, 7);
  const ours = await gramOf(fixed.file, x, v, 7, 10);
  assert.ok(ours.ops.has('InstanceNormalization') && !ours.ops.has('BatchNormalization'), [...ours.ops].join(','));
  assert.equal(ours.parameters, reference.parameters);
  const err = relativeError(ours.out, reference.jjtv);
  assert.ok(err < 1e-5, `J Jᵀ v against PyTorch float64: ${err}`);
  // Without the fix the bridge exports the class as written (BatchNorm), a different J Jᵀ.
  const plain = await materialisePythonModel({ factory: 'train_dp:Net', root: SCRIPT_DIR, inputHint: ref.inputHint }, { configured: python.path, pathEnv: '', cacheDir: dir });
  const unfixed = await gramOf(plain.file, x, v, 7, 10);
  assert.ok(!unfixed.ops.has('InstanceNormalization'));
  assert.ok(relativeError(unfixed.out, reference.jjtv) > 1e-2, 'the fix changes the product');
});

test('InstanceNorm2d(affine=True) exported with torch.onnx.export\'s defaults: J Jᵀ v equals PyTorch float64, its scale and B in θ', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-instnorm-'));
  const onnx = join(dir, 'instnorm.onnx');
  const x = Float32Array.from(seeded(3 * 8 * 8, 5));
  const v = seeded(3 * 8 * 8, 6, -1, 1);
  const reference = await truth(dir, 'instnorm', x, [1, 3, 8, 8], v, 2, onnx);
  const ours = await gramOf(onnx, x, v, 2, 5);
  assert.ok(ours.ops.has('InstanceNormalization'));
  assert.equal(ours.parameters, reference.parameters, 'conv, norm scale and B, fc');
  const err = relativeError(ours.out, reference.jjtv);
  assert.ok(err < 1e-5, `J Jᵀ v against PyTorch float64: ${err}`);
});

// A model whose code freezes its backbone (requires_grad False on all but the head, as Flower's flowertune-vit does):
// the export bridge records the frozen parameters in the ONNX file, θ is the trainable ones, and g and J Jᵀ v match
// PyTorch float64 taken with respect to those alone (tools/fixtures/frozen_backbone_reference.py). Pretrained weights
// asked of torch.hub are never downloaded: read from the hub cache as data, or the analysis says it is at initialisation.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxModel } from '../../../server/src/backends/onnx/onnxModel';
import { decodeModel, encodeModel } from '../../../server/src/backends/onnx/onnxProto';
import { oneHot } from '../../../server/src/analysis/inputs';
import { FROZEN_PARAMETERS_KEY, namedParameters, trainableParameters } from '../../../server/src/graph/parameters';
import { loadModelFile } from '../../../server/src/backends/modelFile';
import { findPython, type FoundPython } from '../../../server/src/python/interpreter';
import { materialisePythonModel } from '../../../server/src/python/pythonModel';
import { relativeError } from '../../support/fixtures';
import { debianTorch, needing } from '../../support/requirements';

const { before, test } = needing(debianTorch);

const FIXTURE = join(__dirname, '..', '..', 'fixtures', 'python', 'frozen-backbone');
const reference = JSON.parse(readFileSync(join(FIXTURE, 'reference.json'), 'utf8'));
let python: FoundPython;

before(async () => {
  const search = await findPython({ configured: '/usr/bin/python3', pathEnv: '' });
  assert.ok(search.found, JSON.stringify(search.tried));
  python = search.found;
});

function build(factory: string, cacheDir: string, env: Record<string, string> = {}) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  return materialisePythonModel(
    { factory, root: FIXTURE, inputShape: reference.inputShape, args: { positional: reference.args, keyword: {} } },
    { configured: python.path, pathEnv: '', cacheDir },
  ).finally(() => {
    for (const k of Object.keys(env)) if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  });
}

test('the head only is θ: g and J Jᵀ v of the export match PyTorch float64 with respect to the trainable parameters', async () => {
  const built = await build('frozen_head:get_model', mkdtempSync(join(tmpdir(), 'i2f-frozen-')));
  assert.deepEqual(built.exported.frozen, reference.frozen);
  // Exported although no weight of nn.MultiheadAttention requires grad (its inference-only kernel has no ONNX export).
  const model = await OnnxModel.open(built.file);
  assert.deepEqual(model.trainable, ['head.weight', 'head.bias']);
  assert.equal(namedParameters(model.model).length, 10, 'the frozen ones are still parameters of the graph');
  const note = built.notes.find((n) => /trainable/.test(n));
  assert.equal(note, 'only 25 of 153 parameters trainable (2 of 10 tensors: head.weight, head.bias): the other 8 have requires_grad False when the model is built, so training shares no gradient of theirs and θ is the trainable ones (a state_dict applies by name)');

  const x = Float32Array.from(reference.x as number[]);
  const op = model.operator({ batch: 1, input: x, target: oneHot([reference.label], reference.classes), loss: 'cross-entropy' });
  try {
    assert.equal(op.parameterCount, 25);
    const g = new Float64Array(op.parameterCount);
    const loss = await op.gradient(g);
    assert.ok(Math.abs(loss - reference.loss) < 1e-5 * reference.loss, `loss ${loss} vs ${reference.loss}`);
    const gRef = new Float64Array(op.parameterCount);
    for (const p of op.parameters) gRef.set(reference.g[p.name], p.offset);
    assert.ok(relativeError(g, gRef) < 1e-5, `g: ${relativeError(g, gRef)}`);
    const v = Float64Array.from(reference.v as number[]);
    const jjtv = new Float64Array(op.inputSize);
    await op.gramVector(v, jjtv);
    const err = relativeError(jjtv, Float64Array.from(reference.JJTv));
    assert.ok(err < 1e-5, `J Jᵀ v: ${err}`);
    // With every parameter as θ the product is another one: the test tells the two apart.
    assert.ok(relativeError(jjtv, Float64Array.from(reference.all.JJTv)) > 0.1);
  } finally {
    await op.dispose();
  }
});

test('the frozen list travels in the ONNX metadata; a value that is not a list of names freezes nothing', async () => {
  const built = await build('frozen_head:get_model', mkdtempSync(join(tmpdir(), 'i2f-frozen-meta-')));
  const model = await loadModelFile(built.file);
  assert.deepEqual(JSON.parse(model.metadataProps![FROZEN_PARAMETERS_KEY]), reference.frozen);
  const again = decodeModel(encodeModel(model), { file: 'again.onnx' });
  assert.deepEqual(trainableParameters(again), ['head.weight', 'head.bias'], 'encode → decode keeps it');
  again.metadataProps = { [FROZEN_PARAMETERS_KEY]: '{"patch.weight": true}' };
  assert.deepEqual(trainableParameters(again), namedParameters(again));
  again.metadataProps = { [FROZEN_PARAMETERS_KEY]: 'not json' };
  assert.deepEqual(trainableParameters(again), namedParameters(again));
  assert.ok(namedParameters(again).includes('patch.weight'));
});

test('pretrained weights not in the torch hub cache: built at initialisation, said so, nothing downloaded', async () => {
  const home = mkdtempSync(join(tmpdir(), 'i2f-torch-home-'));
  const built = await build('frozen_head:get_pretrained_model', mkdtempSync(join(tmpdir(), 'i2f-pretrained-')), { TORCH_HOME: home });
  assert.deepEqual(built.exported.pretrained.map((p) => [p.url, p.state]), [['https://example.invalid/i2f/tinyvit-00000000.pth', 'missing']]);
  assert.equal(built.exported.pretrained[0].file, join(home, 'hub', 'checkpoints', 'tinyvit-00000000.pth'));
  assert.match(built.initialisation!, /^at initialisation, not with the pretrained weights its code loads \(https:\/\/example\.invalid\/i2f\/tinyvit-00000000\.pth\): tinyvit-00000000\.pth is not in the torch hub cache \(.*\), and the export bridge downloads nothing/);
  assert.deepEqual(built.exported.frozen.length, 8);
});

test('pretrained weights in the torch hub cache: read as data and applied, and said so', async () => {
  const home = mkdtempSync(join(tmpdir(), 'i2f-torch-home-'));
  const checkpoints = join(home, 'hub', 'checkpoints');
  mkdirSync(checkpoints, { recursive: true });
  // The backbone's weights, saved by torch.save: all 0.125, so they are told apart from any initialisation.
  const file = join(checkpoints, 'tinyvit-00000000.pth');
  execFileSync('/usr/bin/python3', ['-B', '-c', `import sys, torch; sys.path.insert(0, ${JSON.stringify(FIXTURE)}); import frozen_head
m = frozen_head.TinyViT(3)
torch.save({k: torch.full_like(v, 0.125) for k, v in m.state_dict().items()}, ${JSON.stringify(file)})`]);
  const built = await build('frozen_head:get_pretrained_model', mkdtempSync(join(tmpdir(), 'i2f-pretrained-')), { TORCH_HOME: home });
  assert.deepEqual(built.exported.pretrained.map((p) => p.state), ['cache']);
  assert.match(built.initialisation!, /^with the pretrained weights its code loads, read as data from the torch hub cache \(.*tinyvit-00000000\.pth\)/);
  const model = await loadModelFile(built.file);
  const patch = model.graph.initializers.get('patch.weight')!.data as Float32Array;
  assert.ok(patch.every((w) => w === 0.125), 'the backbone has the cached weights');
  const head = model.graph.initializers.get('head.weight')!.data as Float32Array;
  assert.ok(!head.every((w) => w === 0.125), 'the new head is at initialisation');
});

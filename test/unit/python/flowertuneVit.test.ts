// Flower's flowertune-vit as published (test/fixtures/upstream-python/adap+flower/examples/flowertune-vit, unchanged):
// its pyproject.toml read as the audit and the editor read it, the model its client module builds materialised by the
// export bridge with Debian's /usr/bin/python3. get_model(num_classes) is called with the run config's 102, the
// ImageNet weights it asks torch.hub for are not downloaded (said), and the frozen backbone leaves the head as θ.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { materialiseModel } from '../../../server/src/models/materialise';
import { linkConfig } from '../../../server/src/workspace/discover';
import { readTrainingSource } from '../../../server/src/workspace/readSetup';
import { loadModelFile } from '../../../server/src/backends/modelFile';
import { trainableParameters } from '../../../server/src/graph/parameters';
import { debianTorch, needing } from '../../support/requirements';

const { test } = needing(debianTorch);

const APP = join(__dirname, '..', '..', 'fixtures', 'upstream-python', 'adap+flower', 'examples', 'flowertune-vit');

test('flowertune-vit: get_model(102) from the run config, built at initialisation (ImageNet weights not downloaded, said), head only trainable', { timeout: 5 * 60_000 }, async () => {
  const file = join(APP, 'pyproject.toml');
  const setup = await readTrainingSource(file, readFileSync(file, 'utf8'));
  assert.ok(setup && !('kind' in setup));
  const config = linkConfig(file, setup);
  assert.equal(config.modelRef?.kind, 'python');
  const ref = config.modelRef as Extract<NonNullable<typeof config.modelRef>, { kind: 'python' }>;
  assert.equal(ref.factory, 'vitexample.task:get_model');
  assert.deepEqual(ref.args, { positional: [102], keyword: {} });

  // An empty TORCH_HOME: the hub cache has no vit_b_16 weights, whatever this machine's own cache holds.
  const home = mkdtempSync(join(tmpdir(), 'i2f-torch-home-'));
  const saved = process.env.TORCH_HOME;
  process.env.TORCH_HOME = home;
  let m: Awaited<ReturnType<typeof materialiseModel>>;
  try {
    m = await materialiseModel(ref, { cacheDir: mkdtempSync(join(tmpdir(), 'i2f-vit-')), python: { configured: '/usr/bin/python3' } });
  } finally {
    if (saved === undefined) delete process.env.TORCH_HOME;
    else process.env.TORCH_HOME = saved;
  }
  assert.match(m.description, /^vitexample\.task:get_model\(102\) built by \/usr\/bin\/python3/);
  assert.match(m.description, /input shape \[3, 224, 224\] inferred/);
  assert.match(m.description, /only 78,438 of 85,877,094 parameters trainable \(2 of 152 tensors: heads\.head\.weight, heads\.head\.bias\): the other 150 have requires_grad False/);
  assert.match(m.description, /found from the Flower app \(vitexample\.client_app builds its model with get_model\(\)\), called on line 45 with `num_classes` = 102 from 'num-classes' in pyproject\.toml/);
  assert.match(m.initialisation!, /^at initialisation, not with the pretrained weights its code loads \(https:\/\/download\.pytorch\.org\/models\/vit_b_16-c867db91\.pth\): vit_b_16-c867db91\.pth is not in the torch hub cache/);
  const model = await loadModelFile(m.path);
  assert.deepEqual(trainableParameters(model), ['heads.head.weight', 'heads.head.bias']);
});

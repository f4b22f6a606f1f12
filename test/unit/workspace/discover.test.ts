import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { discoverWorkspace, modelsInFolderSync } from '../../../server/src/workspace/discover';

const FIXTURES = join(__dirname, '..', '..', 'fixtures', 'configs');

/** A throwaway workspace: files given as relative path → content. */
function workspace(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'i2f-discover-'));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), content);
  }
  return root;
}

test('links each fixture config to the model it names and lists the models no config names', async () => {
  const scan = await discoverWorkspace(FIXTURES);
  const rel = (p: string) => relative(FIXTURES, p);
  const byConfig = new Map(scan.configs.map((c) => [rel(c.path), c]));
  assert.equal(byConfig.get('opacus/train.yaml')?.model, join(FIXTURES, 'models', 'lenet.onnx'));
  assert.equal(byConfig.get('opacus/train.yaml')?.modelSource, 'config');
  assert.equal(byConfig.get('hydra/config.yaml')?.model, join(FIXTURES, 'models', 'lenet.onnx'));
  const i2f = byConfig.get('i2f/experiment.yaml');
  assert.equal(i2f?.weights, join(FIXTURES, 'models', 'round-40.safetensors'));
  assert.equal(i2f?.samples, join(FIXTURES, 'samples'));
  for (const unrelated of ['unrelated/ci.yaml', 'unrelated/docker-compose.yml', 'unrelated/tsconfig.json']) {
    assert.ok(!byConfig.has(unrelated), unrelated);
  }
  assert.deepEqual(scan.syntaxErrors.map((e) => rel(e.file)).sort(), [
    'malformed/config_fed_client.json',
    'malformed/pyproject.toml',
    'malformed/train.yaml',
  ]);
  const lenet = scan.models.find((m) => rel(m.path) === 'models/lenet.onnx');
  assert.deepEqual(lenet?.configs.map(rel).sort(), ['hydra/config.yaml', 'i2f/experiment.yaml', 'opacus/train.yaml']);
  assert.deepEqual(scan.unclaimedModels.map((m) => rel(m.path)), ['models/orphan.onnx']);
  assert.equal(scan.truncated, false);
});

test('skips node_modules, .git, dist and hidden folders', async () => {
  const root = workspace({
    'train.yaml': 'noise_multiplier: 1\nmax_grad_norm: 1\n',
    'node_modules/pkg/train.yaml': 'batch_size: 1\n',
    '.git/x.yaml': 'batch_size: 1\n',
    'dist/train.yaml': 'batch_size: 1\n',
    '.venv/lib/model.onnx': '',
    'net.onnx': '',
  });
  try {
    const scan = await discoverWorkspace(root);
    assert.deepEqual(scan.configs.map((c) => relative(root, c.path)), ['train.yaml']);
    assert.deepEqual(scan.models.map((m) => relative(root, m.path)), ['net.onnx']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('adopts the only model in a config folder when the config names none', async () => {
  const root = workspace({ 'exp/train.yaml': 'batch_size: 8\n', 'exp/net.onnx': '', 'two/a.onnx': '', 'two/b.onnx': '', 'two/c.yaml': 'batch_size: 8\n' });
  try {
    const scan = await discoverWorkspace(root);
    const exp = scan.configs.find((c) => c.path.endsWith(join('exp', 'train.yaml')));
    assert.equal(exp?.model, join(root, 'exp', 'net.onnx'));
    assert.equal(exp?.modelSource, 'same-folder');
    const two = scan.configs.find((c) => c.path.endsWith(join('two', 'c.yaml')));
    assert.equal(two?.model, undefined);
    assert.equal(two?.modelSource, 'none');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('recognises TensorFlow.js model.json as a model, not as a config', async () => {
  const root = workspace({ 'web/model.json': '{"format": "layers-model", "modelTopology": {}, "weightsManifest": []}' });
  try {
    const scan = await discoverWorkspace(root);
    assert.deepEqual(scan.models.map((m) => [relative(root, m.path), m.format]), [['web/model.json', 'tfjs']]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('links a PyTorch checkpoint a config names as its weights, and the model beside it as its model', async () => {
  const root = workspace({ 'train.yaml': 'batch_size: 8\ncheckpoint: net.pt\n', 'net.pt': '', 'net.onnx': '' });
  try {
    const scan = await discoverWorkspace(root);
    assert.deepEqual(scan.models.map((m) => [relative(root, m.path), m.format, m.configs.length]), [['net.onnx', 'onnx', 1]]);
    assert.equal(relative(root, scan.configs[0].weights!), 'net.pt');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('terminates on symlink loops and visits a linked folder once', async () => {
  const root = workspace({ 'a/train.yaml': 'batch_size: 8\n', 'a/net.onnx': '' });
  try {
    symlinkSync(join(root, 'a'), join(root, 'a', 'loop'), 'dir');
    symlinkSync(root, join(root, 'a', 'up'), 'dir');
    symlinkSync(join(root, 'missing'), join(root, 'dangling'));
    const scan = await discoverWorkspace(root);
    assert.equal(scan.configs.length, 1);
    assert.equal(scan.models.length, 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('stops at the entry bound and says the result is partial', async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < 50; i++) files[`c${String(i).padStart(2, '0')}.yaml`] = 'batch_size: 8\n';
  const root = workspace(files);
  try {
    const scan = await discoverWorkspace(root, { maxEntries: 10 });
    assert.equal(scan.truncated, true);
    assert.equal(scan.configs.length, 10);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('discovers the examples workspace once it has configs', async (t) => {
  const examples = join(__dirname, '..', '..', '..', 'examples');
  if (!existsSync(join(examples, 'opacus', 'train.yaml'))) {
    t.skip('examples/ has no configs yet');
    return;
  }
  const scan = await discoverWorkspace(examples);
  assert.ok(scan.configs.length > 0);
  assert.ok(scan.configs.some((c) => c.path.endsWith(join('opacus', 'train.yaml'))));
});

test('the server\'s same-folder adoption (modelsInFolderSync) finds what discoverWorkspace adopts, tfjs model.json included', async () => {
  const tfjs = '{"format": "graph-model", "modelTopology": {}, "weightsManifest": []}';
  const root = workspace({
    'web/train.yaml': 'batch_size: 8\n', 'web/model.json': tfjs,
    'onnx/train.yaml': 'batch_size: 8\n', 'onnx/net.onnx': '',
    'plain/train.yaml': 'batch_size: 8\n', 'plain/model.json': '{"name": "not a model"}',
  });
  try {
    const scan = await discoverWorkspace(root);
    for (const folder of ['web', 'onnx', 'plain']) {
      const config = scan.configs.find((c) => c.path === join(root, folder, 'train.yaml'));
      assert.deepEqual(modelsInFolderSync(join(root, folder)), config?.model ? [config.model] : [], folder);
    }
    assert.deepEqual(modelsInFolderSync(join(root, 'web')), [join(root, 'web', 'model.json')]);
    assert.deepEqual(modelsInFolderSync(join(root, 'plain')), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

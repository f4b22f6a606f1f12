import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flowerAppModel, type FlowerAppModelResolution } from '../../../server/src/pysource/flowerAppModel';
import { readFlowerApp } from '../../../server/src/pysource/flowerApp';

/** Flower's examples, unchanged (upstream-python/README.md). */
const EXAMPLES = join(__dirname, '..', '..', 'fixtures', 'upstream-python', 'adap+flower', 'examples');

function model(r: FlowerAppModelResolution) {
  assert.ok('model' in r, 'problem' in r ? r.problem : '');
  return r.model;
}

async function resolve(root: string) {
  const app = readFlowerApp(join(root, 'pyproject.toml'));
  assert.ok(app?.setup?.flowerClientApp, 'a Flower app with a clientapp component');
  return flowerAppModel(root, app.setup.flowerClientApp.value, app.runConfig);
}

/** A Flower app with `get_model` in task.py and `body` as the client function's lines. */
function app(body: string, config = 'num-classes = 7'): string {
  const root = mkdtempSync(join(tmpdir(), 'i2f-flowerargs-'));
  mkdirSync(join(root, 'pkg'));
  writeFileSync(join(root, 'pyproject.toml'), `[tool.flwr.app.components]\nclientapp = "pkg.client_app:app"\n\n[tool.flwr.app.config]\n${config}\n`);
  writeFileSync(join(root, 'pkg', '__init__.py'), '');
  writeFileSync(join(root, 'pkg', 'task.py'), 'import torch\n\ndef get_model(num_classes, width=8):\n    return torch.nn.Linear(width, num_classes)\n');
  writeFileSync(
    join(root, 'pkg', 'client_app.py'),
    `from flwr.clientapp import ClientApp\nfrom pkg.task import get_model\n\napp = ClientApp()\n\n\n@app.train()\ndef train(msg, context):\n${body
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n')}\n`,
  );
  return root;
}

test("flowertune-vit: get_model(num_classes) is get_model(102), num_classes read from the run config's num-classes", async () => {
  const m = model(await resolve(join(EXAMPLES, 'flowertune-vit')));
  assert.equal(m.factory, 'vitexample.task:get_model');
  assert.deepEqual(m.args, { positional: [102], keyword: {} });
  assert.match(m.how, /called on line 45 with `num_classes` = 102 from 'num-classes' in pyproject\.toml \(line 32/);
});

test('flower-secure-aggregation: Net() is built without arguments', async () => {
  const m = model(await resolve(join(EXAMPLES, 'flower-secure-aggregation')));
  assert.equal(m.factory, 'secaggexample.task:Net');
  assert.equal(m.args, undefined);
  assert.equal(m.how, 'found from the Flower app (secaggexample.client_app instantiates Net)');
});

test('reads run-config values passed directly, through int(), by keyword and with .get("key", default)', async () => {
  const direct = model(await resolve(app('model = get_model(context.run_config["num-classes"])')));
  assert.deepEqual(direct.args, { positional: [7], keyword: {} });
  const cast = model(await resolve(app('n = int(context.run_config["num-classes"])\nmodel = get_model(num_classes=n, width=4)')));
  assert.deepEqual(cast.args, { positional: [], keyword: { num_classes: 7, width: 4 } });
  const fallback = model(await resolve(app('model = get_model(context.run_config.get("classes", 3))')));
  assert.deepEqual(fallback.args, { positional: [3], keyword: {} });
  const given = model(await resolve(app('model = get_model(context.run_config.get("num-classes", 3))')));
  assert.deepEqual(given.args, { positional: [7], keyword: {} });
});

test('an argument not in the run config leaves the factory without arguments and says which one and why', async () => {
  const m = model(await resolve(app('k = context.run_config["classes"]\nmodel = get_model(k)')));
  assert.equal(m.args, undefined);
  assert.match(m.how, /built without arguments: get_model\(\)'s argument 1 = `k` \(line \d+\) is set at run time \('classes' is not in .*pyproject\.toml's \[tool\.flwr\.app\.config\]\)/);
});

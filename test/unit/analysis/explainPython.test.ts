// The audit's one-line fix (analysis/report/explain.ts) for DP code in Python: a standalone script gets a fix that
// exists for a script (it has no config beside it), a Flower app's Python file is pointed at the app's pyproject.toml.
// The setups are read from real files: Opacus' examples and Flower's opacus example, committed unchanged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixFor } from '../../../server/src/analysis/report/explain';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';
import type { DiscoveredConfig } from '../../../server/src/workspace/discover';

const UPSTREAM = join(__dirname, '../../fixtures/upstream-python');

async function config(file: string, text = readFileSync(file, 'utf8')): Promise<DiscoveredConfig> {
  const setup = (await readPythonFile(file, text)).setup!;
  return { path: file, setup, modelSource: 'none' } as DiscoveredConfig;
}

test('a standalone script that is not imported gets the fix in the script, never an i2f snippet', async () => {
  // dcgan.py with its Discriminator reading the parsed flags themselves (`opt.ndf`): neither the script (parse_args()
  // exits on the required --data-root) nor its definitions alone can be imported.
  const file = join(UPSTREAM, 'pytorch+opacus', 'examples', 'dcgan.py');
  const dcgan = await config(file, readFileSync(file, 'utf8').replace('nn.Conv2d(nc, ndf, 4, 2, 1, bias=False)', 'nn.Conv2d(nc, opt.ndf, 4, 2, 1, bias=False)'));
  assert.match(dcgan.setup.pythonModelProblem!.reason, /nor can Discriminator be built from dcgan\.py's definitions alone: Discriminator needs `opt`, which would run `parser\.parse_args\(\)` \(line 123/);
  const fix = fixFor({ status: 'not-analysed', reason: 'x', config: dcgan })!;
  assert.match(fix, /^guard the top level of dcgan\.py with `if __name__ == "__main__":`/);
  assert.doesNotMatch(fix, /i2f/);
  // A standalone build that fails: fix the script; an input shape no config can give: the model file beside it.
  const mnist = await config(join(UPSTREAM, 'pytorch+opacus', 'examples', 'mnist.py'));
  mnist.modelRef = { kind: 'python', factory: 'mnist:SampleConvNet', root: '/x' };
  assert.equal(fixFor({ status: 'failed', reason: "NameError: name 'x' is not defined", config: mnist }), 'fix the Python error above in the script (the model is built as mnist:SampleConvNet from its folder)');
  assert.match(fixFor({ status: 'failed', reason: 'could not infer the input shape (…)', config: mnist })!, /^export the model with torch\.onnx\.export \(at the input size it trains on\) into the script's folder: the only model file in a script's folder is analysed with it/);
  assert.match(fixFor({ status: 'failed', reason: 'derives from pytorch_lightning.LightningModule, which this Python lacks (pytorch_lightning was stood in for)', config: mnist })!, /^install pytorch_lightning in the Python that builds the model/);
  // A part of an installed package that this version lacks, which the model uses: the version that has it.
  assert.equal(
    fixFor({ status: 'failed', reason: 'the model uses torch.func.vmap, which this Python lacks (torch.func was stood in for while the script was imported, and a stand-in does nothing): install a torch that has torch.func (this one is 1.13) in the Python that builds the model. The error: ValueError: …', config: mnist }),
    'install a torch that has torch.func (this one is 1.13) in the Python that builds the model, or name one that has it with i2f.python (or --python)',
  );
});

test("a Flower app's Python file whose model is not found is pointed at the app's pyproject.toml", async () => {
  const client = join(UPSTREAM, 'adap+flower', 'examples', 'opacus', 'opacus_fl', 'client_app.py');
  // The app's model hidden behind a name the reader cannot follow (a call's result).
  const text = readFileSync(client, 'utf8').replace(/module=[\w.]+/, 'module=build()');
  const c = await config(client, text);
  assert.equal(c.setup.standaloneScript, undefined);
  assert.equal(c.setup.pythonModel, undefined);
  const fix = fixFor({ status: 'not-analysed', reason: 'x', config: c })!;
  assert.match(fix, /^name the model: `\[tool\.i2f\] model = "pkg\.module:Factory"` in the app's pyproject\.toml/);
});

// `i2f audit` on standalone PyTorch scripts calling Opacus' make_private, the most common private-training code there
// is: Opacus' own examples unchanged (test/fixtures/upstream-python/pytorch+opacus/examples) and a public script that
// trains at import, audited with Debian's /usr/bin/python3 (torch 1.13, no opacus: the bridge stands in for it). The
// model class a script defines is built by the export bridge from the script's folder and analysed under the σ, C
// and batch its argparse defaults give; a script the bridge must not import, or whose model it cannot build, says
// why at the line concerned.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { debianTorch } from '../support/requirements';
import { auditWithPython, ensureBuilt, REPO, runCli } from './helpers';

const UPSTREAM = join(REPO, 'test', 'fixtures', 'upstream-python');

/** Opacus' examples, the public unguarded script, and a script whose file name is not a module name, in one folder tree. */
function scripts(): string {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-scripts-'));
  cpSync(join(UPSTREAM, 'pytorch+opacus', 'examples'), join(dir, 'opacus'), { recursive: true });
  mkdirSync(join(dir, 'unguarded'));
  cpSync(join(UPSTREAM, 't1ffanyc+inseparable-six', 'inseparable_six', 'train_mnist_dp.py'), join(dir, 'unguarded', 'train_mnist_dp.py'));
  mkdirSync(join(dir, 'by-path'));
  // Its argparse default reaches the constructor (hidden=8), and a top-level parse_args() runs on import: the
  // bridge's sys.argv = [script] gives it the defaults.
  writeFileSync(
    join(dir, 'by-path', 'dp-train.py'),
    [
      'import argparse',
      'import torch.nn as nn',
      'from opacus import PrivacyEngine',
      'parser = argparse.ArgumentParser()',
      'parser.add_argument("--hidden", type=int, default=8)',
      'parser.add_argument("--sigma", type=float, default=0.5)',
      'args = parser.parse_args()',
      '',
      'class Net(nn.Module):',
      '    def __init__(self, hidden):',
      '        super().__init__()',
      '        self.fc1 = nn.Linear(12, hidden)',
      '        self.fc2 = nn.Linear(hidden, 3)',
      '    def forward(self, x):',
      '        return self.fc2(self.fc1(x).relu())',
      '',
      'def main():',
      '    model = Net(args.hidden)',
      '    PrivacyEngine().make_private(module=model, optimizer=None, data_loader=None, noise_multiplier=args.sigma, max_grad_norm=1.0)',
      '',
      'if __name__ == "__main__":',
      '    main()',
      '',
    ].join('\n'),
  );
  return dir;
}

test("audits Opacus' examples as standalone scripts with /usr/bin/python3: mnist.py's SampleConvNet is built and analysed (I2F001 on the noise argument), scripts that must not be imported are built from their definitions, the LightningModule from a stand-in for Lightning; the rest say why not", { timeout: 10 * 60_000, skip: debianTorch.skip }, async () => {
  ensureBuilt();
  const ws = scripts();
  const { root, cache, config, findings, lineOf } = await auditWithPython(ws, 'i2f-scripts-cache-');

  // mnist.py: σ 1, C 1 and batch 64 from its argparse defaults; SampleConvNet built by that Python at MNIST's shape.
  // fsdp_example.py's SampleConvNet is the same class: whichever of the two comes second is answered from the cache.
  const done = (c: any) => c.status === 'analysed' || c.status === 'cached';
  const mnist = config('opacus/mnist.py');
  assert.ok(done(mnist), mnist.reason);
  assert.deepEqual(mnist.leakage.batches[0].defense, ['dpsgd:clip=1,noise=1']);
  assert.equal(mnist.leakage.parameters, 26010);
  for (const k of ['lambdaMax', 'gradientNorm']) assert.ok(Number.isFinite(mnist.leakage.batches[0][k]) && mnist.leakage.batches[0][k] > 0, k);
  const [leak] = findings('opacus/mnist.py', 'I2F001');
  assert.match(lineOf('opacus/mnist.py', leak.line), /^\s+noise_multiplier=args\.sigma,/, 'on the noise argument');
  assert.match(leak.message, /mnist:SampleConvNet built by \/usr\/bin\/python3 \(torch 1\.13/);
  // The shape of the dataset its DP DataLoader loads, tried before any inference.
  assert.match(leak.message, /input shape \[1, 28, 28\], MNIST's, the dataset the DP call's DataLoader loads \(line 213\)/);
  assert.match(leak.message, /stood in for while the model was built: opacus/);
  // The default analysis batch is i2f.maxSamples (1); the script's 64 is read and said.
  assert.match(leak.message, /batch 1 \(config: 64, analysed at 1\)/);
  const [summary] = findings('opacus/mnist.py', 'I2F140');
  assert.match(summary.message, /noise multiplier 1, default of --sigma \(line 160.*clipping norm 1, default of --max-per-sample-grad_norm \(line 168.*batch size 64, default of --batch-size \(line 123/);
  // Its ε from the script alone: N from datasets.MNIST's train split, 10 epochs from its loop, δ from get_epsilon's
  // --delta; equal to the mpmath reference. Scripts whose N or epochs are not read name why, never an i2f: section.
  const ref = JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'privacy', 'opacus_examples_reference.json'), 'utf8')).cases.find((c: any) => c.script === 'mnist.py');
  assert.equal(mnist.privacy.status, 'computed');
  assert.equal(mnist.privacy.steps, ref.steps);
  assert.ok(Math.abs(mnist.privacy.epsilon - ref.epsilon) <= 1e-6 * ref.epsilon, `ε ${mnist.privacy.epsilon}`);
  for (const f of root.findings.filter((x: any) => x.code === 'I2F134')) assert.doesNotMatch(f.message, /i2f:|section/, f.file);
  assert.match(config('opacus/dcgan.py').privacy.missing[0].reason, /changes the DataLoader's dataset `dataset` after it is built/);

  // A script named with a hyphen is loaded by path; the constructor gets its argparse default as JSON.
  const byPath = config('by-path/dp-train.py');
  assert.equal(byPath.status, 'analysed', byPath.reason);
  assert.equal(byPath.leakage.parameters, 12 * 8 + 8 + 8 * 3 + 3);
  assert.match(findings('by-path/dp-train.py', 'I2F001')[0].message, /dp-train\.py:Net\(8\) built by \/usr\/bin\/python3/);

  // Not imported, built from their definitions: fsdp_example.py and the public unguarded script would download MNIST
  // at import; the model classes need only the scripts' imports.
  for (const [file, cls, params, skipped] of [
    ['opacus/fsdp_example.py', 'fsdp_example:SampleConvNet', 26010, /`datasets\.MNIST\(\)`, line 80: it downloads a dataset/],
    ['unguarded/train_mnist_dp.py', 'train_mnist_dp:Net', 28 * 28 * 256 + 256 + 256 * 10 + 10, /`datasets\.MNIST\(\)`, line 15: it downloads a dataset/],
  ] as const) {
    const c = config(file);
    assert.ok(done(c), `${file}: ${c.reason}`);
    assert.equal(c.leakage.parameters, params, file);
    const [built] = findings(file, 'I2F001');
    assert.match(built.message, new RegExp(`${cls.replace(/[.:]/g, '\\$&')} built by /usr/bin/python3`), file);
    assert.match(built.message, /built from \S+ imports and the definitions \w+ needs \(\w+\) without running its top level \(which would run /, file);
    assert.match(built.message, skipped, file);
    assert.match(built.message, /input shape \[1, 28, 28\], MNIST's, the dataset the DP call's DataLoader loads/, file);
  }
  // dcgan.py exits in parse_args() at import (required --data-root): Discriminator is built from its definitions with
  // ndf and nc read from the script (128 and 1), at the 64 × 64 its convolutions take, and analysed under binary
  // cross-entropy on its one sigmoid output; torch's If around its final squeeze(1) is folded at the fixed batch.
  const dcgan = config('opacus/dcgan.py');
  assert.ok(done(dcgan), dcgan.reason);
  assert.equal(dcgan.leakage.parameters, 11032064);
  // BCELoss on its final Sigmoid, as dcgan.py trains it (torch writes the Sigmoid before view/squeeze; the fold moves it).
  assert.equal(dcgan.leakage.loss.kind, 'binary-cross-entropy');
  assert.match(dcgan.leakage.loss.description, /^binary cross-entropy \(torch BCELoss on the model's final Sigmoid\), 1 output per example/);
  assert.ok(dcgan.leakage.lambdaMax > 0);
  const built = JSON.parse(readFileSync(join(ws, dirname(dcgan.model), 'manifest.json'), 'utf8')).result;
  assert.equal(built.modelClass, 'dcgan.Discriminator');
  assert.deepEqual(built.inputShape, [1, 64, 64]);
  assert.deepEqual(built.parameters[0], ['main.0.weight', [128, 1, 4, 4]]);
  assert.match(findings('opacus/dcgan.py', 'I2F140')[0].message, /it is built from dcgan\.py's imports and the definitions Discriminator needs \(Discriminator, ndf, nc\) without running its top level \(which would run `parser\.parse_args\(\)`, line 123.*nc = 1 read from `1` \(line 154\), ndf = 128 read from `int\(opt\.ndf\)` \(line 168\), default of --ndf/);
  // Nothing ran their top level: the unguarded script downloads MNIST into ./data, fsdp_example.py into ./mnist.
  assert.ok(!existsSync(join(ws, 'unguarded', 'data')) && !existsSync(join(ws, 'opacus', 'mnist')));
  // `i2f analyze` on the unguarded script's class builds it the same way, and still downloads nothing.
  const analyzed = await runCli(['analyze', 'train_mnist_dp:Net', '--batch', '1', '--json', '--python', '/usr/bin/python3'], { cwd: join(ws, 'unguarded'), env: { I2F_CACHE_DIR: cache } });
  assert.equal(analyzed.code, 0, analyzed.stderr);
  assert.ok(!existsSync(join(ws, 'unguarded', 'data')));
  const [byAnalyze, byAudit] = [JSON.parse(analyzed.stdout).results[0].lambdaMax, config('unguarded/train_mnist_dp.py').leakage.batches[0].lambdaMax];
  assert.ok(Math.abs(byAnalyze - byAudit) <= 1e-6 * byAudit, `λmax ${byAnalyze} by i2f analyze, ${byAudit} by the audit`);
  const refused: [string, RegExp][] = [
    // Not built: a constructor argument set at run time.
    ['opacus/imdb.py', /^the SampleNet constructor's argument `vocab_size` = `len\(tokenizer\)` \(line 267\) is set at run time/],
    ['opacus/char-lstm-classification.py', /^the CharNNClassifier constructor's argument 1 = `rnn_type` \(line 404\) is set at run time/],
  ];
  for (const [file, reason] of refused) {
    const c = config(file);
    assert.equal(c.status, 'not-analysed', file);
    assert.match(c.reason, reason, file);
    assert.equal(findings(file, 'I2F001').length, 0, file);
  }
  // cifar10.py imports torch.func (torch ≥ 2.0) at its top for its own per-sample gradients; torch 1.13 lacks it, and
  // convnet(num_classes=10) needs none of it: the bridge stands in for torch.func as for the missing opacus and tqdm,
  // builds convnet, and the finding says what was stood in for.
  const cifar = config('opacus/cifar10.py');
  assert.equal(cifar.status, 'analysed', cifar.reason);
  assert.equal(cifar.leakage.parameters, 131466);
  const [cifarLeak] = findings('opacus/cifar10.py', 'I2F001');
  assert.match(lineOf('opacus/cifar10.py', cifarLeak.line), /^\s+noise_multiplier=args\.sigma,/, 'on the noise argument');
  assert.match(cifarLeak.message, /cifar10:convnet\(num_classes=10\) built by \/usr\/bin\/python3 \(torch 1\.13/);
  assert.match(cifarLeak.message, /stood in for while the model was built: opacus, torch\.func, tqdm;/);
  // At CIFAR10's 32 × 32, the dataset its DP DataLoader loads (convnet also runs on 28 × 28, which inference tries first).
  assert.match(cifarLeak.message, /input shape \[3, 32, 32\], CIFAR10's, the dataset the DP call's DataLoader loads \(line 285\)/);

  // mnist_lightning.py: `module=self` is the LightningModule, built by the bridge; pytorch_lightning is not installed
  // here, so its LightningModule is a torch.nn.Module stand-in and the class's own forward is exported. Its
  // training_step trains that forward under cross-entropy, which the finding says; its layers are SampleConvNet's.
  const lightning = config('opacus/mnist_lightning.py');
  assert.ok(done(lightning), lightning.reason);
  assert.equal(lightning.leakage.parameters, 26010);
  const [lit] = findings('opacus/mnist_lightning.py', 'I2F001');
  assert.match(lit.message, /mnist_lightning:LitSampleConvNetClassifier built by \/usr\/bin\/python3/);
  assert.match(lit.message, /pytorch_lightning\.LightningModule stood in for by a torch\.nn\.Module \(its save_hyperparameters kept, its logging a no-op\): the model is the class's own layers, and its forward the function analysed/);
  assert.match(lit.message, /its training_step trains forward \(`F\.cross_entropy\(output, target\)`, line 126\), the function analysed/);
  assert.equal(findings('opacus/mnist_lightning.py', 'I2F163').length, 0);
  // The same layers as mnist.py's SampleConvNet, analysed by hand with `i2f analyze`: the same λmax.
  const byHand = await runCli(['analyze', 'mnist:SampleConvNet', '--batch', '1', '--json', '--python', '/usr/bin/python3'], { cwd: join(ws, 'opacus'), env: { I2F_CACHE_DIR: cache } });
  assert.equal(byHand.code, 0, byHand.stderr);
  const reference = JSON.parse(byHand.stdout).results[0].lambdaMax;
  for (const file of ['opacus/mnist_lightning.py', 'opacus/fsdp_example.py']) {
    const got = config(file).leakage.batches[0].lambdaMax;
    assert.ok(Math.abs(got - reference) <= 1e-6 * reference, `${file}: λmax ${got} vs i2f analyze ${reference}`);
  }

  // The text report gives each refused script the fix that exists for a script.
  const text = await runCli(['audit', ws, '--python', '/usr/bin/python3', '--cache-dir', cache]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /fix: pass SampleNet a literal value \(or an argparse default\) for `vocab_size`, or give that parameter a default in imdb\.py/);
  assert.match(text.stdout, /opacus\/mnist\.py \(from cache\)/);
});

test("a TensorFlow Privacy tutorial (a Keras model the bridge cannot build) is analysed with the model file beside it, and the finding names that file", { timeout: 5 * 60_000 }, async () => {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'i2f-tfp-'));
  const script = join(dir, 'mnist_dpsgd_tutorial_keras.py');
  cpSync(join(UPSTREAM, 'tensorflow+privacy', 'tutorials', 'mnist_dpsgd_tutorial_keras.py'), script);
  const cache = mkdtempSync(join(tmpdir(), 'i2f-tfp-cache-'));
  // Alone: not analysed, and the fix is the one a script has (a model file in its folder), never an i2f section.
  const alone = await runCli(['audit', dir, '--cache-dir', cache]);
  assert.equal(alone.code, 0, alone.stderr);
  assert.match(alone.stdout, /not analysed: TensorFlow Privacy trains a TensorFlow model, which the export bridge does not build \(it builds PyTorch models\)/);
  assert.match(alone.stdout, /fix: save the model into the script's folder as a TensorFlow\.js model\.json \(tensorflowjs_converter\) or ONNX \(tf2onnx\): the only model file in a script's folder is analysed with it/);
  // With the DLG LeNet (28×28 grey, as MNIST) beside it: analysed, and I2F001 says which model it was.
  cpSync(join(REPO, 'examples', 'models', 'lenet.onnx'), join(dir, 'lenet.onnx'));
  const r = await runCli(['audit', dir, '--format', 'json', '--cache-dir', cache]);
  assert.equal(r.code, 0, r.stderr);
  const root = JSON.parse(r.stdout).roots[0];
  const c = root.configs.find((x: { file: string }) => x.file === 'mnist_dpsgd_tutorial_keras.py');
  assert.equal(c.status, 'analysed', c.reason);
  const leak = root.findings.find((f: { file: string; code: string }) => f.file === c.file && f.code === 'I2F001');
  assert.ok(leak, 'I2F001 on the noise argument');
  assert.match(leak.message, /Model: lenet\.onnx, the only model file in this folder\./);
});

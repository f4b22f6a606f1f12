// The training loss named in a config (`i2f: loss`), on fl-tabular's IncomeClassifier (Flower, Apache-2.0: the model
// of test/fixtures/python/flower-fl-tabular exported to test/fixtures/binary/income.onnx): the audit differentiates
// the loss the key names, and its numbers are those of `i2f analyze --loss X` on the same model (λmax and ‖g‖ to 1e-6
// relative: two processes' Lanczos runs differ in the last digits). A loss that gives no gradient there (softmax
// cross-entropy over its one output) is I2F159 with the leakage's SARIF properties and the key that fixes it.

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AnalyzeReport } from '../../server/src/analysis/analyzeModel';
import { auditWithPython, ensureBuilt, REPO, runCli, validateAuditJson, validateSarif } from './helpers';
import { debianTorch } from '../support/requirements';

const INCOME = join(REPO, 'test', 'fixtures', 'binary', 'income.onnx');

function close(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(Math.abs(a), Math.abs(b)), `${what}: ${a} vs ${b}`);
}

function workspaceWith(config: string, name = 'train.yaml'): string {
  const ws = mkdtempSync(join(tmpdir(), 'i2f-losskey-'));
  cpSync(INCOME, join(ws, 'income.onnx'));
  writeFileSync(join(ws, name), config);
  return ws;
}

for (const loss of ['mse', 'binary-cross-entropy'] as const) {
  test(`i2f: loss: ${loss} on the IncomeClassifier: the audit analyses it, equal to i2f analyze --loss ${loss}`, { timeout: 5 * 60_000 }, async () => {
    ensureBuilt();
    const ws = workspaceWith(`model: income.onnx\nbatch_size: 1\ni2f:\n  loss: ${loss}\n`);
    const audit = await runCli(['audit', ws, '--format', 'json', '--no-cache']);
    assert.equal(audit.code === 0 || audit.code === 1, true, audit.stderr);
    const doc = JSON.parse(audit.stdout);
    assert.deepEqual(validateAuditJson(doc), []);
    const [config] = doc.roots[0].configs;
    assert.equal(config.leakage.loss.kind, loss);
    const f = doc.roots[0].findings.find((x: { code: string }) => x.code === 'I2F001');
    assert.match(f.message, new RegExp(`Loss: ${loss}, named in 'i2f\\.loss'\\.`));
    const cli = JSON.parse((await runCli(['analyze', INCOME, '--loss', loss, '--json'])).stdout) as AnalyzeReport;
    assert.equal(cli.settings.loss, loss);
    const a = config.leakage.batches[0];
    const b = cli.results[0];
    assert.ok(b.lambdaMax > 0, 'the loss gives a gradient');
    close(a.lambdaMax, b.lambdaMax, 'λmax');
    close(a.gradientNorm, b.gradientNorm, '‖g‖');
    close(a.lowerBound, b.lowerBound, 'I_lb');
  });
}

test('i2f: loss: cross-entropy on one output: I2F159 with the SARIF leakage properties and the i2f: loss key as its fix; a bad loss is a located I2F108', { timeout: 5 * 60_000 }, async () => {
  ensureBuilt();
  const ws = workspaceWith('[tool.i2f]\nmodel = "income.onnx"\nloss = "cross-entropy"\n', 'pyproject.toml');
  const out = join(ws, 'i2f.sarif');
  const r = await runCli(['audit', ws, '--format', 'sarif', '--out', out, '--no-cache']);
  assert.equal(r.code, 0, r.stderr);
  const sarif = JSON.parse(readFileSync(out, 'utf8'));
  assert.deepEqual(validateSarif(sarif), []);
  const result = sarif.runs[0].results.find((x: { ruleId: string }) => x.ruleId === 'I2F159');
  assert.ok(result, 'I2F159, not I2F001');
  assert.equal(sarif.runs[0].results.some((x: { ruleId: string }) => x.ruleId === 'I2F001'), false);
  const i2f = result.properties.i2f;
  assert.equal(i2f.risk, 'uncertain');
  assert.equal(i2f.lambdaMax, 0);
  assert.equal(i2f.loss, 'cross-entropy');
  assert.equal(i2f.parameters, 14 * 128 + 128 + 128 * 64 + 64 + 64 + 1);
  assert.match(result.message.text, /or in this config: `\[tool\.i2f\] loss = "binary-cross-entropy"`/);
  assert.match(result.message.text, /Loss: cross-entropy, named in 'tool\.i2f\.loss'\./);

  const bad = workspaceWith('model: income.onnx\nbatch_size: 1\ni2f:\n  loss: hinge\n');
  const j = await runCli(['audit', bad, '--format', 'json', '--no-cache']);
  const doc = JSON.parse(j.stdout);
  const problem = doc.roots[0].findings.find((x: { code: string }) => x.code === 'I2F108');
  assert.match(problem.message, /'loss' should be auto, cross-entropy, binary-cross-entropy, mse, not 'hinge'/);
  assert.equal(problem.range.start.line, 3, 'the value on the 4th line (0-based)');
  // The rest is analysed as without the key (auto: binary cross-entropy on one output).
  assert.equal(doc.roots[0].configs[0].leakage.loss.kind, 'binary-cross-entropy');
});

test("a DP script whose code trains a one-output model with nn.CrossEntropyLoss: I2F159 (UNCERTAIN) pointing at the loss's line; with nn.MSELoss, the MSE analysed", { timeout: 10 * 60_000, skip: debianTorch.skip }, async () => {
  ensureBuilt();
  const script = (loss: string) => [
    'import torch', 'import torch.nn as nn', 'from opacus import PrivacyEngine', '',
    'class Regressor(nn.Module):', '    def __init__(self):', '        super().__init__()', '        self.hidden = nn.Linear(8, 16)', '        self.out = nn.Linear(16, 1)', '',
    '    def forward(self, x):', '        return self.out(torch.tanh(self.hidden(x)))', '',
    'def train(model, loader, optimizer):', `    criterion = ${loss}`, '    for x, y in loader:', '        optimizer.zero_grad()',
    '        criterion(model(x), y).backward()', '        optimizer.step()', '',
    'if __name__ == "__main__":', '    model = Regressor()', '    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)',
    '    engine = PrivacyEngine()', '    model, optimizer, loader = engine.make_private(module=model, optimizer=optimizer, data_loader=None, noise_multiplier=0.5, max_grad_norm=1.0)',
    '    train(model, loader, optimizer)', '',
  ].join('\n');
  const ws = mkdtempSync(join(tmpdir(), 'i2f-losscode-'));
  writeFileSync(join(ws, 'train.py'), script('nn.CrossEntropyLoss()'));
  const a = await auditWithPython(ws, 'i2f-losscode-cache-');
  const [f] = a.findings('train.py', 'I2F159');
  assert.ok(f, JSON.stringify(a.root.findings.map((x: { code: string }) => x.code)));
  assert.equal(f.risk, 'uncertain');
  assert.match(f.message, /Loss: nn\.CrossEntropyLoss \(train\.py line 15\), read in the training code\./);
  assert.deepEqual(a.findings('train.py', 'I2F001'), []);

  writeFileSync(join(ws, 'train.py'), script('nn.MSELoss()'));
  const m = await auditWithPython(ws, 'i2f-losscode-cache-');
  const [g] = m.findings('train.py', 'I2F001');
  assert.ok(g, JSON.stringify(m.root.findings.map((x: { code: string }) => x.code)));
  assert.match(g.message, /Loss: nn\.MSELoss \(train\.py line 15\), read in the training code\./);
  assert.equal(m.config('train.py').leakage.loss.kind, 'mse');
});

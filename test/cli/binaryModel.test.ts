// `i2f audit` on Flower's fl-tabular app, its files unchanged (test/fixtures/python/flower-fl-tabular), with Debian's
// /usr/bin/python3: its IncomeClassifier ends in Linear(64, 1) → Sigmoid and trains with nn.BCELoss. The engine used
// to take a softmax cross-entropy over that one output, a constant: g ≡ 0, λmax 0, and LOW "the gradient carries
// essentially nothing about the input". Under no defence it is now analysed with binary cross-entropy and HIGH; and
// `i2f analyze --loss cross-entropy` on the same class says the loss gives no gradient (UNCERTAIN), never LOW.

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AnalyzeReport } from '../../server/src/analysis/analyzeModel';
import { leakageFindingOf, DEFAULT_CONFIG_ANALYSIS } from '../../server/src/analysis/configFindings';
import { linkConfig } from '../../server/src/workspace/discover';
import { readTrainingConfig } from '../../server/src/config/recognise';
import { debianTorch } from '../support/requirements';
import { auditWithPython, ensureBuilt, REPO, runCli, validateAuditJson } from './helpers';

const APP = join(REPO, 'test', 'fixtures', 'python', 'flower-fl-tabular');
const INCOME = join(REPO, 'test', 'fixtures', 'binary', 'income.onnx');

test("Flower's fl-tabular (one sigmoid output, BCELoss) under no defence: analysed with binary cross-entropy, HIGH, not LOW", { timeout: 10 * 60_000, skip: debianTorch.skip }, async () => {
  ensureBuilt();
  const ws = mkdtempSync(join(tmpdir(), 'i2f-fltabular-'));
  cpSync(APP, ws, { recursive: true });
  const a = await auditWithPython(ws, 'i2f-fltabular-cache-');
  const config = a.config('pyproject.toml');
  assert.equal(config.status, 'analysed');
  const leak = config.leakage;
  assert.equal(leak.parameters, 14 * 128 + 128 + 128 * 64 + 64 + 64 + 1);
  assert.deepEqual(leak.loss, { kind: 'binary-cross-entropy', description: "binary cross-entropy (torch BCELoss on the model's final Sigmoid), 1 output per example", outputShape: [1, 1] });
  const b = leak.batches[0];
  assert.ok(b.gradientNorm > 0 && b.lambdaMax > 0, `‖g‖ ${b.gradientNorm}, λmax ${b.lambdaMax}`);
  assert.notEqual(leak.validity.determined, 'none', 'the gradient determines the input');
  assert.equal(leak.risk, 'high', 'no defence: δ = 0, the input is rebuilt');
  const [finding] = a.findings('pyproject.toml', 'I2F001');
  assert.equal(finding.severity, 'error');
  assert.match(finding.message, /^Leakage risk HIGH: under no defence, a gradient-inversion attacker rebuilds sample 0/);
  assert.match(finding.message, /Loss analysed: binary cross-entropy \(torch BCELoss on the model's final Sigmoid\), 1 output per example\./);
  assert.match(finding.message, /fltabular\.task:IncomeClassifier built by \/usr\/bin\/python3/);
  assert.doesNotMatch(finding.message, /carries essentially nothing/);
  assert.deepEqual(a.findings('pyproject.toml', 'I2F159'), []);
});

test('i2f analyze --loss cross-entropy on the IncomeClassifier: the loss gives no gradient, UNCERTAIN with the loss and output named; auto: BCE, finite and HIGH', { timeout: 5 * 60_000 }, async () => {
  ensureBuilt();
  const ce = await runCli(['analyze', INCOME, '--loss', 'cross-entropy', '--json']);
  assert.equal(ce.code, 0, ce.stderr);
  const report = JSON.parse(ce.stdout) as AnalyzeReport;
  assert.equal(report.settings.loss, 'cross-entropy');
  assert.deepEqual(report.settings.outputShape, [1, 1]);
  const b = report.results[0];
  assert.equal(b.gradientNorm, 0);
  assert.equal(b.lambdaMax, 0);
  assert.equal(b.validity?.noGradient, true);
  assert.equal(b.risk, 'uncertain');
  const text = await runCli(['analyze', INCOME, '--loss', 'cross-entropy']);
  assert.match(text.stdout, /risk: UNCERTAIN \(not analysed: the loss gives no gradient\)/);
  assert.match(text.stdout, /the loss analysed, cross-entropy \(softmax over the outputs\), 1 output per example, output shape \[1, 1\], gives no gradient/);
  assert.match(text.stdout, /--loss binary-cross-entropy/);

  const auto = JSON.parse((await runCli(['analyze', INCOME, '--json'])).stdout) as AnalyzeReport;
  assert.equal(auto.settings.loss, 'binary-cross-entropy');
  assert.ok(auto.results[0].gradientNorm > 0 && auto.results[0].lambdaMax > 0);
  assert.equal(auto.results[0].risk, 'high');
  assert.equal((await runCli(['analyze', INCOME, '--loss', 'hinge'])).code, 2, 'an unknown loss is a usage error');

  // The finding a config gets for such a report (the editor re-derives findings from cached reports): I2F159, a
  // warning, UNCERTAIN, never I2F001's LOW.
  const dir = mkdtempSync(join(tmpdir(), 'i2f-noGradient-'));
  cpSync(INCOME, join(dir, 'income.onnx'));
  const file = join(dir, 'train.yaml');
  const yaml = 'model: income.onnx\nbatch_size: 1\nnoise_multiplier: 1.0\nmax_grad_norm: 1.0\n';
  writeFileSync(file, yaml);
  const parsed = readTrainingConfig(file, readFileSync(file, 'utf8'), { fileExists: () => true });
  assert.ok(parsed && !('kind' in parsed));
  const f = leakageFindingOf(linkConfig(file, parsed), report, DEFAULT_CONFIG_ANALYSIS);
  assert.equal(f.code, 'I2F159');
  assert.equal(f.severity, 'warning');
  assert.equal(f.risk, 'uncertain');
  assert.match(f.message, /^Leakage not analysed \(risk UNCERTAIN\): the loss analysed, cross-entropy \(softmax over the outputs\), 1 output per example, output shape \[1, 1\], gives no gradient/);
  assert.match(f.message, /a softmax over one output is the constant 1/);
  assert.match(f.message, /`i2f analyze MODEL --loss binary-cross-entropy`/);
});

test('the audit of a model whose output cannot move (ReLU inactive on the whole box): I2F159, UNCERTAIN in text, JSON and --fail-on, never LOW', { timeout: 5 * 60_000 }, async () => {
  ensureBuilt();
  const ws = mkdtempSync(join(tmpdir(), 'i2f-dead-'));
  cpSync(join(REPO, 'test', 'fixtures', 'binary', 'dead.onnx'), join(ws, 'dead.onnx'));
  writeFileSync(join(ws, 'train.yaml'), 'model: dead.onnx\nbatch_size: 1\n');
  const json = await runCli(['audit', ws, '--format', 'json', '--no-cache']);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.deepEqual(validateAuditJson(report), []);
  const [config] = report.roots[0].configs;
  assert.equal(config.leakage.risk, 'uncertain');
  assert.equal(config.leakage.loss.kind, 'binary-cross-entropy', 'one output: the default loss is binary cross-entropy');
  assert.equal(config.leakage.batches[0].gradientNorm, 0);
  assert.equal(config.leakage.batches[0].lambdaMax, 0);
  const codes = report.roots[0].findings.map((f: any) => f.code);
  assert.ok(codes.includes('I2F159') && !codes.includes('I2F001'), codes.join(' '));
  const f = report.roots[0].findings.find((x: any) => x.code === 'I2F159');
  assert.equal(f.severity, 'warning');
  assert.equal(f.risk, 'uncertain');
  assert.match(f.message, /the loss analysed, binary cross-entropy \(torch BCEWithLogitsLoss on the outputs\), 1 output per example, output shape \[1, 1\], gives no gradient/);
  assert.match(f.message, /does not move with its input or weights at these samples/);
  assert.deepEqual(report.summary.risk, { high: 0, medium: 0, low: 0, uncertain: 1 });
  const text = await runCli(['audit', ws, '--no-cache']);
  assert.match(text.stdout, /leakage UNCERTAIN {2}not analysed: the loss analysed \(binary-cross-entropy\) gives no gradient/);
  assert.equal((await runCli(['audit', ws, '--no-cache', '--fail-on', 'high'])).code, 1, 'uncertain fails at high');
});

test("the project's own attack on the IncomeClassifier (fl-tabular's model, seed 0): the graded PSNR is never below what the attack reaches", { timeout: 5 * 60_000 }, async () => {
  ensureBuilt();
  const stds = [1e-4, 1e-3, 1e-2, 3e-2];
  const attack = await runCli(['attack', INCOME, '--sweep', `std=${stds.join(',')}`, '--json']);
  assert.equal(attack.code, 0, attack.stderr);
  const a = JSON.parse(attack.stdout);
  assert.equal(a.settings.loss, 'binary-cross-entropy', 'the attacker matches the gradient of the loss the model trains with');
  const levels = a.results[0].sweep.levels as { std: number; psnr: number }[];
  assert.equal(levels.length, stds.length);
  assert.ok(a.results[0].psnr > 100, `no defence: the attack rebuilds the input (PSNR ${a.results[0].psnr} dB)`);
  for (const level of levels) {
    const r = await runCli(['analyze', INCOME, '--defense', `gaussian:std=${level.std}`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const b = (JSON.parse(r.stdout) as AnalyzeReport).results[0];
    assert.ok(b.validity!.gradedPsnr >= level.psnr, `std ${level.std}: graded ${b.validity!.gradedPsnr} dB, attack ${level.psnr} dB`);
  }
});

// The solve budget end to end through `i2f analyze`'s request (analyzeModel): a budget too small for any iteration
// gives an 'uncertain' result that says the budget ran out, with its residual, in JSON and in text; the budget's
// own logic is tested on a deterministic clock (test/unit/engine/budget.test.ts). 1e-9 s is spent before the first
// product whatever the machine's speed, so nothing here depends on timing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyseConfig, DEFAULT_CONFIG_ANALYSIS } from '../../../server/src/analysis/configFindings';
import { readTrainingConfig } from '../../../server/src/config/recognise';
import { linkConfig } from '../../../server/src/workspace/discover';
import { auditPaths } from '../../../server/src/analysis/audit';
import { toAuditJson } from '../../../server/src/analysis/report/json';
import { validateAuditJson, workspace } from '../../cli/helpers';
import { analyzeModel, type AnalyzeRequest } from '../../../server/src/analysis/analyzeModel';
import { formatAnalysisText } from '../../../server/src/analysis/formatText';
import { normaliseSettings, analysisKnobs, configAnalysisSettings } from '../../../server/src/analysis/settings';

const model = join(__dirname, '../../../examples/models/mlp.onnx');
const request = (budget?: number): AnalyzeRequest => ({
  model, defences: ['gaussian:std=1e-3'], damping: 0, spectrumK: 0, seed: 0, loss: 'cross-entropy', traceSamples: 1,
  ...(budget !== undefined ? { solveBudgetSeconds: budget } : {}),
});

test('a spent solve budget: risk uncertain, the budget and the residual in the report and the text', async () => {
  const labels: string[] = [];
  const report = await analyzeModel(request(1e-9), { onProgress: (stage) => labels.push(stage) });
  const [b] = report.results;
  assert.equal(b.risk, 'uncertain');
  assert.equal(b.solver.converged, false);
  assert.ok(b.solver.iterations <= 1, `${b.solver.iterations} iterations`);
  assert.ok(b.solver.relativeResidual > 1e-6);
  assert.equal(b.solver.budget?.exhausted, true);
  assert.equal(b.solver.budget?.seconds, 1e-9);
  assert.match(formatAnalysisText(report), /risk: UNCERTAIN \(the solve budget of 1e-9 s ran out at relative residual [\d.e+-]+ after [01] iterations/);
});

test('without a budget the same analysis converges and carries no budget field; progress names iterations and time left', async () => {
  const labels: string[] = [];
  const report = await analyzeModel(request(), { onProgress: (stage) => labels.push(stage) });
  const [b] = report.results;
  assert.equal(b.solver.converged, true);
  assert.notEqual(b.risk, 'uncertain');
  assert.equal(b.solver.budget, undefined);
  assert.ok(labels.some((l) => /^solve-noise: iteration \d+, residual \d\.\de[+-]\d+, ~\d+ s left$/.test(l)), labels.filter((l) => l.startsWith('solve')).slice(0, 3).join(' | '));
});

test('i2f.solveBudgetSeconds: validated, part of the analysis knobs (cache key) only when set', () => {
  assert.equal(normaliseSettings({}).solveBudgetSeconds, 0);
  assert.equal(normaliseSettings({ solveBudgetSeconds: -5 }).solveBudgetSeconds, 0);
  assert.equal(normaliseSettings({ solveBudgetSeconds: 'x' }).solveBudgetSeconds, 0);
  const set = normaliseSettings({ solveBudgetSeconds: 600 });
  assert.equal(analysisKnobs(set).solveBudgetSeconds, 600);
  assert.equal(configAnalysisSettings(set).solveBudgetSeconds, 600);
  assert.equal('solveBudgetSeconds' in analysisKnobs(normaliseSettings({})), false);
});

test('I2F001 under a spent budget: UNCERTAIN, naming the budget, the residual and the setting to raise', async () => {
  // A config whose verdict needs a solve: DP-SGD noise (clip-only's δ is 0 since clipping is a rescaling, and its
  // verdict, HIGH, needs none).
  const file = join(__dirname, '../../../examples/opacus/train.yaml');
  const parsed = readTrainingConfig(file, readFileSync(file, 'utf8'), { fileExists: existsSync });
  assert.ok(parsed && !('kind' in parsed));
  const a = await analyseConfig(linkConfig(file, parsed), { ...DEFAULT_CONFIG_ANALYSIS, solveBudgetSeconds: 1e-9 });
  const f = a.findings.find((x) => x.code === 'I2F001')!;
  assert.equal(f.risk, 'uncertain');
  assert.match(f.message, /^Leakage risk UNCERTAIN: the solve budget of 1e-9 s ran out at relative residual [\d.e+-]+ after [01] iterations.*, so no confident number is shown; raise i2f\.solveBudgetSeconds to finish it\./);
});

test('the audit JSON carries the budget (settings and each budget-stopped solve) and stays valid against its schema', async () => {
  const dir = workspace({
    'i2f.config.json': '{"solveBudgetSeconds": 1e-9}',
    'train.yaml': 'training:\n  batch_size: 1\nprivacy:\n  noise_multiplier: 1.0\n  max_grad_norm: 1.0\nmodel_path: mlp.onnx\n',
    'mlp.onnx': readFileSync(model),
  });
  const run = await auditPaths([dir], { failOn: 'never', noCache: true });
  const json = toAuditJson(run) as any;
  assert.deepEqual(validateAuditJson(json), []);
  assert.equal(json.roots[0].settings.solveBudgetSeconds, 1e-9);
  const budgets = JSON.stringify(json).match(/"budget":\{[^}]*\}/g) ?? [];
  assert.ok(budgets.length >= 1 && budgets.every((b) => b.includes('"exhausted":true') && b.includes('"seconds":1e-9')), budgets.join(' '));
  assert.deepEqual(validateAuditJson({ ...json, roots: [{ ...json.roots[0], settings: { ...json.roots[0].settings, solveBudgetSeconds: -1 } }] }).length > 0, true);
});

test('a budget that stops the solve after some iterations (injected clock): the band, graded, in the report and the text', async () => {
  // Each clock reading advances one second: the budget stops the same iteration on any machine.
  let t = 0;
  const clock = () => (t += 1000);
  const bands: string[] = [];
  const report = await analyzeModel(request(20), { clock, onBand: (p) => bands.push(`${p.stage}:${p.iteration}`) });
  const [b] = report.results;
  assert.equal(b.solver.converged, false);
  assert.equal(b.solver.budget?.exhausted, true);
  assert.ok(b.solver.iterations >= 1, `${b.solver.iterations} iterations`);
  assert.ok(b.band, 'a budget-stopped result carries its band');
  assert.equal(b.risk, b.band.risk[0], 'graded on the conservative end');
  assert.notEqual(b.risk, 'uncertain');
  assert.ok(b.band.i2f[0] <= (b.i2fExpected ?? b.i2f) * (1 + 1e-12));
  assert.ok(bands.length > 0 && bands[0] === 'solve-noise:1', bands.join(' '));
  assert.match(formatAnalysisText(report), /risk: (HIGH|MEDIUM|LOW)[^\n]*\(the solve budget of 20 s ran out at relative residual [\d.e+-]+ after \d+ iterations[^;]*; expected I²F (between|at least) /);
});

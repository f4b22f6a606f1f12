// The audit's pieces in process (fast): settings files, --fail-on levels, and every format on a broken workspace
// plus a synthetic analysed config, validated against the audit JSON schema and the official SARIF 2.1.0 schema.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAuditSettings } from '../../../server/src/analysis/report/settingsFile';
import { exitCodeOf, failsAt, findingLevel, type AuditRun } from '../../../server/src/analysis/report/model';
import { auditPaths, pool } from '../../../server/src/analysis/audit';
import { toAuditJson } from '../../../server/src/analysis/report/json';
import { toSarif } from '../../../server/src/analysis/report/sarif';
import { toHtml } from '../../../server/src/analysis/report/html';
import { formatText } from '../../../server/src/analysis/report/text';
import { spectrumSvg, spreadSvg } from '../../../server/src/analysis/report/svg';
import type { AnalyzeReport } from '../../../server/src/analysis/analyzeModel';
import type { Finding } from '../../../server/src/analysis/configFindings';
import { validateAuditJson, validateSarif, workspace } from '../../cli/helpers';

const range = { start: { line: 2, character: 4 }, end: { line: 2, character: 10 } };
const f = (over: Partial<Finding>): Finding => ({ code: 'I2F101', severity: 'warning', message: 'm', file: '/w/a.yaml', range, documentation: 'docs/rules.md#x', ...over });

test('settings: .vscode/settings.json (JSONC, flat and nested i2f keys) under i2f.config.json under --settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-settings-'));
  mkdirSync(join(dir, '.vscode'));
  writeFileSync(join(dir, '.vscode/settings.json'), '{\n // comment\n "i2f.thresholds.high": 30, "i2f": {"damping": 0.5, "maxSamples": 3}, "editor.tabSize": 2,\n}');
  assert.deepEqual(loadAuditSettings(dir).settings.thresholds, { high: 30, medium: 12, tokensHigh: 0.5, tokensMedium: 0.1, epsilon: 10 });
  assert.equal(loadAuditSettings(dir).settings.damping, 0.5);
  writeFileSync(join(dir, 'i2f.config.json'), '{"maxSamples": 2, "i2f.targetPsnr": 18, "thresholds": {"medium": 10}}');
  const s = loadAuditSettings(dir);
  assert.equal(s.settings.maxSamples, 2);
  assert.equal(s.settings.targetPsnr, 18);
  assert.deepEqual(s.settings.thresholds, { high: 30, medium: 10, tokensHigh: 0.5, tokensMedium: 0.1, epsilon: 10 });
  assert.equal(s.sources.length, 2);
  const extra = join(dir, 'extra.json');
  writeFileSync(extra, '{"maxSamples": 1, "maxModelSizeMB": 5}');
  const t = loadAuditSettings(dir, extra).settings;
  assert.equal(t.maxSamples, 1);
  assert.equal(t.maxModelSizeMB, 5);
  writeFileSync(join(dir, 'i2f.config.json'), '{"maxSamples": ');
  assert.throws(() => loadAuditSettings(dir), /i2f\.config\.json/);
});

test('--fail-on levels: I2F001 by risk (uncertain fails closed as high), other findings by severity', () => {
  assert.equal(findingLevel(f({ code: 'I2F001', severity: 'information', risk: 'low' })), 'low');
  assert.equal(findingLevel(f({ code: 'I2F001', severity: 'error', risk: 'high' })), 'high');
  assert.equal(findingLevel(f({ code: 'I2F001', severity: 'information', risk: 'uncertain' })), 'high');
  assert.equal(findingLevel(f({ code: 'I2F107', severity: 'error' })), 'high');
  assert.equal(findingLevel(f({ severity: 'warning' })), 'medium');
  assert.equal(findingLevel(f({ code: 'I2F109', severity: 'information' })), 'low');
  assert.equal(findingLevel(f({ severity: 'hint' })), 'none');
  const warn = f({ severity: 'warning' });
  assert.deepEqual((['high', 'medium', 'low', 'never'] as const).map((l) => failsAt(warn, l)), [false, true, true, false]);
  const run = (findings: Finding[], failOn: AuditRun['failOn']): AuditRun => ({
    tool: { name: 'i2f-privacy-lint', version: '0' },
    createdAt: new Date().toISOString(),
    failOn,
    roots: [{ root: '/w', settings: loadAuditSettings(tmpdir()).settings, settingsSources: [], truncated: false, configs: [{ file: '/w/a.yaml', status: 'not-analysed', reason: 'x', findings }] }],
  });
  assert.equal(exitCodeOf(run([warn], 'high')), 0);
  assert.equal(exitCodeOf(run([warn], 'medium')), 1);
  assert.equal(exitCodeOf(run([], 'low')), 0);
});

test('pool runs at most N tasks at once and keeps the order of results', async () => {
  let running = 0;
  let peak = 0;
  const tasks = Array.from({ length: 9 }, (_, i) => async () => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, 5 + (i % 3) * 5));
    running--;
    return i;
  });
  assert.deepEqual(await pool(3, tasks), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(peak, 3);
});

function syntheticReport(): AnalyzeReport {
  const batch = {
    samples: [0, 1, 2],
    labels: [3, 0, 5],
    defense: ['gaussian:std=0.001'],
    loss: 2.3,
    gradientNorm: 1.5,
    deltaNorm: 0.2,
    jDeltaNorm: 0.1,
    lambdaMax: 30.9,
    lowerBound: 0.004,
    i2f: 1.2,
    i2fExpected: 1.3,
    i2fExpectedStdError: 0.01,
    rmse: 0.02,
    psnr: 33.9,
    expectedRmse: 0.03,
    expectedPsnr: 30.4,
    risk: 'high' as const,
    perSample: [{ sample: 0, rmse: 0.03, psnr: 30.4 }, { sample: 1, rmse: 0.2, psnr: 14 }, { sample: 2, rmse: 0.6, psnr: 4.4 }],
    mostExposed: { sample: 0, rmse: 0.03, psnr: 30.4 },
    noiseForTarget: { targetPsnr: 15, std: 0.05, stdForEverySample: 0.08, noiseMultiplier: 1.2 },
    solver: { method: 'cg', iterations: 100, relativeResidual: 1e-7, converged: true, damping: 0 },
    spectrum: { top: [30.9, 12, 8, 3, 1], bottom: [0, 1e-6, 3e-5, 1e-3, 0.02], bottomResiduals: [], steps: 40, complete: false },
    timing: {},
    // Outside the first-order regime, the raw prediction past the box: what the JSON and SARIF must carry as such.
    validity: {
      deltaRatio: 0.13, firstOrder: false, rawRmse: 0.03, rawPsnr: 30.4, rawMostExposedRmse: 0.03, rawMostExposedPsnr: 30.4, outOfRange: false,
      boxFloorPsnr: 6.02, determined: 'unknown' as const, sensitivity: 3, resolution: 1e-7, gradedPsnr: 36.4, lowerBoundCertified: false,
      lambdaMaxResidual: 0.02, clipping: { clip: 1, factors: [0.4, 0.7, 1], rescaleNorm: 0.5, noiseScale: 1 },
    },
  };
  return {
    model: { path: '/w/m.onnx', format: 'onnx', parameters: 19438, inputShape: [3, 3, 32, 32], backend: 'onnx', theta: ['w'] },
    settings: { damping: 0, tolerance: 1e-6, seed: 0, loss: 'cross-entropy', batch: 3, data: 'synthetic', dataRange: 1 },
    results: [batch],
  };
}

test('every format on a broken workspace plus a synthetic analysed config; JSON and SARIF valid against their schemas', async () => {
  const dir = workspace({
    'i2f.config.json': '{"maxSamples": 1}',
    'bad.yaml': 'training:\n  batch_size: [1, 2\nprivacy:\n  noise_multiplier: 1.0\n',
    'missing.yaml': 'training:\n  batch_size: 4\nmodel_path: nowhere.onnx\n',
    'corrupt/train.yaml': 'training:\n  batch_size: 2\nmodel_path: model.onnx\n',
    'corrupt/model.onnx': Buffer.from('this is not a protobuf at all \x00\x01\x02'),
  });
  const run = await auditPaths([dir], { failOn: 'high', noCache: true });
  const codes = run.roots[0].configs.flatMap((c) => c.findings.map((x) => `${c.file.slice(dir.length + 1)}:${x.code}`)).sort();
  assert.deepEqual(codes, ['bad.yaml:I2F100', 'corrupt/train.yaml:I2F002', 'missing.yaml:I2F107']);
  assert.equal(exitCodeOf(run), 1);
  // Add an analysed config with a synthetic report (no model run) to cover the leakage paths of every format.
  run.roots[0].configs.push({
    file: join(dir, 'synthetic.yaml'),
    status: 'analysed',
    cacheKey: 'k',
    ms: 1234,
    report: syntheticReport(),
    findings: [{ ...f({ code: 'I2F001', severity: 'error', risk: 'high', file: join(dir, 'synthetic.yaml'), message: 'Leakage risk HIGH: <b>&</b>' }) }],
  });
  const json = toAuditJson(run);
  assert.deepEqual(validateAuditJson(json), []);
  assert.equal(json.failed, true);
  assert.equal(json.summary.risk.high, 1);
  const sarif = toSarif(run);
  assert.deepEqual(validateSarif(sarif), []);
  const withDocs = toSarif(run, { docsBaseUrl: 'https://github.com/o/r/blob/main/' });
  assert.deepEqual(validateSarif(withDocs), []);
  // The validators do reject: a driver without a name, a relative helpUri (format "uri" is absolute).
  assert.notDeepEqual(validateSarif({ version: '2.1.0', runs: [{ tool: { driver: {} } }] }), []);
  assert.notDeepEqual(validateSarif({ version: '2.1.0', runs: [{ tool: { driver: { name: 'x', rules: [{ id: 'A', helpUri: 'docs/rules.md#a' }] } } }] }), []);
  assert.notDeepEqual(validateAuditJson({ ...json, version: 2 }), []);
  // Validity (issue 15): the regime, ‖δ‖/‖g‖, the share determined, the box cap, the raw I²F and the graded PSNR, in
  // the JSON (leakage and its batch) and in the SARIF result's i2f properties; the schema holds its shape.
  const leak = json.roots[0].configs.find((c) => c.file === 'synthetic.yaml')!.leakage!;
  assert.deepEqual(leak.validity, leak.batches[0].validity);
  assert.deepEqual(leak.validity, {
    regime: 'extrapolated', deltaRatio: 0.13, firstOrderLimit: 1e-2, determined: 'unknown', outOfRange: false, boxFloorPsnr: 6.02,
    raw: { rmse: 0.03, psnr: 30.4, mostExposedRmse: 0.03, mostExposedPsnr: 30.4, i2f: 1.3 }, gradedPsnr: 36.4,
    lowerBoundCertified: false, lambdaMaxResidual: 0.02, clipping: { clip: 1, factors: [0.4, 0.7, 1], noiseScale: 1 },
  });
  const broken = structuredClone(json) as any;
  broken.roots[0].configs.find((c: any) => c.file === 'synthetic.yaml').leakage.validity.regime = 'roughly';
  assert.notDeepEqual(validateAuditJson(broken), [], 'the schema checks the regime');
  const sarifLeak = (sarif as any).runs[0].results.find((r: any) => r.ruleId === 'I2F001');
  assert.deepEqual(sarifLeak.properties.i2f.validity, leak.validity);
  const rules = (withDocs as any).runs[0].tool.driver.rules;
  assert.equal(rules.find((r: any) => r.id === 'I2F101').helpUri, 'https://github.com/o/r/blob/main/docs/rules.md#i2f101-clipping-without-noise');
  const html = toHtml(run);
  assert.match(html, /<svg class="plot spectrum"/);
  assert.match(html, /<svg class="plot spread"/);
  assert.ok(!html.includes('<b>&</b>'), 'messages are escaped');
  assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'no remote loads');
  const text = formatText(run, { color: false, cwd: dir });
  assert.match(text, /bad\.yaml:\d+:\d+ +error +I2F100/);
  assert.match(text, /FAILED \(--fail-on high/);
  assert.ok(!formatText(run, { color: false, cwd: dir }).includes('\x1b['));
  assert.ok(formatText(run, { color: true, cwd: dir }).includes('\x1b[31m'));
});

test('SVG plots: log-scale spectrum with a break between the top and bottom ends; one bar per sample', () => {
  const svg = spectrumSvg({ top: [10, 5, 1], bottom: [1e-4, 1e-3], complete: false, dimension: 100, title: 'Spectrum' });
  assert.equal((svg.match(/<circle /g) ?? []).length, 5);
  assert.match(svg, /class="break"/);
  assert.match(svg, /1e-4/);
  const spread = spreadSvg({ samples: [{ sample: 0, psnr: 25 }, { sample: 1, psnr: Infinity }], thresholds: { high: 20, medium: 12 }, title: 'Spread' });
  assert.equal((spread.match(/class="bar /g) ?? []).length, 2);
  assert.match(spread, /risk-high/);
});

// `i2f audit` as a process (the BUILT dist/cli.js) on a copy of examples/ and on broken workspaces: exit codes for
// every --fail-on, the JSON report against docs/audit-json.schema.json, SARIF against the official SARIF 2.1.0
// schema, the cache (--cache-dir, --no-cache), and the HTML report opened in headless Chromium with its plots.
// The first examples run analyses everything (one sample per config, minutes on a loaded machine); the later ones
// are answered by the result cache it filled.

import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readTrainingConfig } from '../../server/src/config/recognise';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { addBrokenFiles } from '../protocol/fixtures';
import { chromium as debianChromium } from '../support/requirements';
import { ensureBuilt, FAST_SETTINGS, REPO, runCli, validateAuditJson, validateSarif, workspace } from './helpers';

const FAIL_ONS = ['high', 'medium', 'low', 'never'] as const;
/** The training configs of examples/ (one per format people use, plus the text classifier). */
const EXAMPLE_CONFIGS = ['clip-only.yaml', 'fedml/fedml_config.yaml', 'flower/pyproject.toml', 'hf/training_args.json', 'nvflare/config_fed_client.json', 'opacus/train.yaml', 'text/review.yaml'];
const N = EXAMPLE_CONFIGS.length;
const RESULTS = join(REPO, 'test-results');

/** The level each finding counts at, computed here independently of the implementation (docs/audit.md). */
function expectedExit(doc: any, failOn: (typeof FAIL_ONS)[number]): number {
  if (failOn === 'never') return 0;
  const rank = { none: 0, low: 1, medium: 2, high: 3 } as const;
  const sev = { error: 'high', warning: 'medium', information: 'low', hint: 'none' } as const;
  const levels = doc.roots.flatMap((r: any) => r.findings).map((f: any) => (f.risk ? (f.risk === 'uncertain' ? 'high' : f.risk) : sev[f.severity as keyof typeof sev]));
  return levels.some((l: keyof typeof rank) => rank[l] >= rank[failOn]) ? 1 : 0;
}

describe('i2f audit on a copy of examples/', { timeout: 40 * 60_000 }, () => {
  let ws: string;
  let cache: string;
  let json: any;
  const html = () => join(ws, 'out', 'report.html');

  before(() => {
    ensureBuilt();
    ws = workspace({ 'i2f.config.json': FAST_SETTINGS }, { examples: true, prefix: 'i2f-audit-examples-' });
    cache = mkdtempSync(join(tmpdir(), 'i2f-audit-cache-'));
  });

  test('--format html analyses every config (with the spectrum) and writes one self-contained page', { timeout: 30 * 60_000 }, async () => {
    const r = await runCli(['audit', ws, '--format', 'html', '--out', html(), '--cache-dir', cache, '--jobs', '2', '--spectrum', '20']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '', 'the report went to --out');
    // Configs that share a cache key (fedml and hf differ only in Gaussian noise) share one analysis.
    const m = new RegExp(`${N} training config\\(s\\): (\\d) analysed, (\\d) from cache, 0 not analysed, 0 failed`).exec(r.stderr);
    assert.ok(m && Number(m[1]) + Number(m[2]) === N && Number(m[1]) >= N - 2, r.stderr);
    assert.match(r.stderr, new RegExp(`\\[1/${N}\\]`), 'progress lines on a non-TTY stderr');
    const page = readFileSync(html(), 'utf8');
    assert.ok(!/\b(src|href)\s*=\s*["']?(https?:)?\/\//i.test(page), 'no remote loads');
    assert.match(page, /Content-Security-Policy/);
  });

  test('the HTML page in headless Chromium: a spectrum and a per-sample plot per analysed config, no network, light and dark', { timeout: 5 * 60_000, skip: debianChromium.skip }, async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: debianChromium.path,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const requests: string[] = [];
      const problems: string[] = [];
      page.on('request', (req) => requests.push(req.url()));
      page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
      page.on('pageerror', (e) => problems.push(String(e)));
      const url = pathToFileURL(html()).href;
      await page.goto(url, { waitUntil: 'load' });
      assert.deepEqual(requests, [url], 'the page loads nothing but itself');
      assert.deepEqual(problems, [], 'no script errors or CSP violations');

      const analysed = await page.locator('section.config[data-status="analysed"], section.config[data-status="cached"]').count();
      assert.equal(analysed, N);
      assert.equal(await page.locator('section.config svg.spectrum').count(), analysed, 'one spectrum per analysed config (batch 1 each)');
      assert.equal(await page.locator('section.config svg.spread').count(), analysed);
      for (let i = 0; i < analysed; i++) {
        const spectrum = page.locator('svg.spectrum').nth(i);
        assert.ok((await spectrum.locator('circle.point').count()) >= 2, 'eigenvalues drawn');
        assert.ok((await spectrum.locator('polyline.series').count()) >= 1);
        const box = await spectrum.boundingBox();
        assert.ok(box && box.width > 300 && box.height > 150, `spectrum ${i} is laid out (${JSON.stringify(box)})`);
        assert.ok((await page.locator('svg.spread').nth(i).locator('rect.bar').count()) >= 1, 'per-sample bars drawn');
      }
      assert.ok((await page.locator('tr.finding').count()) >= N);

      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: join(RESULTS, 'audit-report.png'), fullPage: true });
      const light = await page.evaluate('getComputedStyle(document.body).backgroundColor');
      await page.emulateMedia({ colorScheme: 'dark' });
      const dark = await page.evaluate('getComputedStyle(document.body).backgroundColor');
      assert.notEqual(light, dark, 'prefers-color-scheme: dark switches the palette');
      await page.screenshot({ path: join(RESULTS, 'audit-report-dark.png'), fullPage: false });
      // The notes filter (inline JS) hides information findings.
      const notes = await page.locator('tr.sev-information').first().isVisible();
      await page.locator('#show-notes').uncheck();
      assert.equal(notes && !(await page.locator('tr.sev-information').first().isVisible()), true);
    } finally {
      await browser.close();
    }
  });

  test('--format json from the cache: valid against docs/audit-json.schema.json', { timeout: 5 * 60_000 }, async () => {
    const r = await runCli(['audit', ws, '--format', 'json', '--cache-dir', cache]);
    assert.equal(r.code, 0, r.stderr);
    json = JSON.parse(r.stdout);
    assert.deepEqual(validateAuditJson(json), []);
    assert.equal(json.version, 1);
    assert.equal(json.summary.configs, N);
    assert.equal(json.summary.fromCache, N, 'every analysis came from the cache the html run filled');
    const files = json.roots[0].configs.map((c: any) => c.file).sort();
    assert.deepEqual(files, EXAMPLE_CONFIGS);
    assert.equal(json.roots[0].findings.filter((f: any) => f.code === 'I2F001').length, N);
    assert.ok(json.roots[0].findings.some((f: any) => f.code === 'I2F101' && f.file === 'clip-only.yaml' && f.line === 8));
    assert.deepEqual(json.roots[0].settings.sources, [join(ws, 'i2f.config.json')]);
    for (const c of json.roots[0].configs) assert.ok(c.leakage.batches[0].spectrum, `${c.file}: the cached entry kept its spectrum`);
  });

  test('--format sarif: valid against the official SARIF 2.1.0 schema, located relative to the root', { timeout: 5 * 60_000 }, async () => {
    const out = join(ws, 'out', 'i2f.sarif');
    const r = await runCli(['audit', ws, '--format', 'sarif', '--out', out, '--cache-dir', cache]);
    assert.equal(r.code, 0, r.stderr);
    const sarif = JSON.parse(readFileSync(out, 'utf8'));
    assert.deepEqual(validateSarif(sarif), []);
    const run = sarif.runs[0];
    const ids = run.tool.driver.rules.map((x: any) => x.id);
    assert.ok(ids.includes('I2F001') && ids.includes('I2F101') && ids.includes('I2F113'));
    for (const rule of run.tool.driver.rules) {
      assert.ok(rule.name && rule.shortDescription.text);
      assert.match(rule.properties.documentation, /^docs\/rules\.md#i2f\d{3}-/);
    }
    assert.equal(run.results.length, json.summary.findings);
    for (const res of run.results) {
      assert.ok(ids.includes(res.ruleId));
      assert.equal(run.tool.driver.rules[res.ruleIndex].id, res.ruleId);
      assert.ok(['error', 'warning', 'note'].includes(res.level));
      const loc = res.locations[0].physicalLocation;
      assert.equal(loc.artifactLocation.uriBaseId, 'SRCROOT');
      assert.ok(existsSync(join(ws, loc.artifactLocation.uri)), loc.artifactLocation.uri);
      assert.ok(loc.region.startLine >= 1 && loc.region.startColumn >= 1);
      if (res.ruleId === 'I2F001') assert.ok(['high', 'medium', 'low', 'uncertain'].includes(res.properties.i2f.risk));
    }
    assert.equal(run.originalUriBaseIds.SRCROOT.uri, pathToFileURL(ws).href + '/');

    // Reports saved in the workspace quote the configs' keys (noise multiplier, batch size, model path, δ): the
    // editor and the next audit must not read them as training configs (the JSON report was read as one).
    const saved = join(ws, 'out', 'audit.json');
    writeFileSync(saved, JSON.stringify(json, null, 2));
    assert.equal(readTrainingConfig(saved, readFileSync(saved, 'utf8')), null, 'the JSON report is not a config');
    assert.equal(readTrainingConfig(out, readFileSync(out, 'utf8')), null, 'the SARIF log is not a config');
  });

  test('exit code for each --fail-on matches the levels of the findings', { timeout: 10 * 60_000 }, async () => {
    for (const failOn of FAIL_ONS) {
      const r = await runCli(['audit', ws, '--format', 'json', '--fail-on', failOn, '--cache-dir', cache]);
      const doc = JSON.parse(r.stdout);
      assert.equal(r.code, expectedExit(doc, failOn), `--fail-on ${failOn}`);
      assert.equal(doc.failed, r.code === 1);
    }
    // Every analysed config has an I2F001 (at least low): --fail-on low always fails here.
    const low = await runCli(['audit', '.', '--fail-on', 'low', '--cache-dir', cache], { cwd: ws });
    assert.equal(low.code, 1);
    assert.match(low.stdout, /FAILED \(--fail-on low/);
    assert.match(low.stdout, /^clip-only\.yaml \(from cache\)$/m, 'text groups by file');
    assert.match(low.stdout, /^  ✖ clip-only\.yaml:8:3  warning I2F101 /m, 'path:line:col severity code, failing marked');
  });
});

describe('i2f audit on broken workspaces', { timeout: 10 * 60_000 }, () => {
  before(() => ensureBuilt());

  test('malformed YAML/JSON/TOML, a missing model, a corrupt .onnx, an unsupported op: located findings and exit codes', { timeout: 5 * 60_000 }, async () => {
    const ws = workspace({ 'i2f.config.json': FAST_SETTINGS }, { examples: false, prefix: 'i2f-audit-broken-' });
    // addBrokenFiles reads models/mlp.onnx from the workspace.
    mkdirSync(join(ws, 'models'));
    spawnSync('cp', [join(REPO, 'examples/models/mlp.onnx'), join(ws, 'models/mlp.onnx')]);
    addBrokenFiles(ws);
    const codes: Record<string, number> = {};
    let doc: any;
    for (const failOn of FAIL_ONS) {
      const r = await runCli(['audit', ws, '--format', 'json', '--fail-on', failOn, '--no-cache']);
      codes[failOn] = r.code!;
      doc = JSON.parse(r.stdout);
      assert.deepEqual(validateAuditJson(doc), []);
    }
    assert.deepEqual(codes, { high: 1, medium: 1, low: 1, never: 0 }, 'errors count as high');
    const got = doc.roots[0].findings.map((f: any) => `${f.file}:${f.line}:${f.code}`).sort();
    assert.ok(got.includes('broken/yaml/train.yaml:3:I2F100'), got.join('\n'));
    assert.ok(got.includes('broken/json/config.json:4:I2F100'), got.join('\n'));
    assert.ok(got.includes('broken/toml/pyproject.toml:2:I2F100'), got.join('\n'));
    assert.ok(got.includes('broken/missing/train.yaml:4:I2F107'), got.join('\n'));
    assert.ok(got.includes('broken/corrupt/train.yaml:6:I2F002'), got.join('\n'));
    assert.ok(got.includes('broken/unsupported/train.yaml:6:I2F002'), got.join('\n'));
    const status = Object.fromEntries(doc.roots[0].configs.map((c: any) => [c.file, c.status]));
    assert.equal(status['broken/yaml/train.yaml'], 'unreadable');
    assert.equal(status['broken/missing/train.yaml'], 'not-analysed');
    assert.equal(status['broken/corrupt/train.yaml'], 'failed');
    const sarif = await runCli(['audit', ws, '--format', 'sarif', '--no-cache']);
    assert.deepEqual(validateSarif(JSON.parse(sarif.stdout)), []);
  });

  test('a workspace whose worst finding is a warning: fails medium and low, passes high', async () => {
    const ws = workspace({ 'train.yaml': 'training:\n  batch_size: 4\nprivacy:\n  max_grad_norm: 1.0\n' }, { prefix: 'i2f-audit-warn-' });
    const codes = [];
    for (const failOn of FAIL_ONS) codes.push((await runCli(['audit', ws, '--fail-on', failOn, '--no-cache'])).code);
    assert.deepEqual(codes, [0, 1, 1, 0]);
  });

  test('the cache: a second run is answered from --cache-dir; --no-cache neither reads nor writes it', { timeout: 5 * 60_000 }, async () => {
    const ws = workspace({ 'i2f.config.json': FAST_SETTINGS }, { examples: true, prefix: 'i2f-audit-cache-' });
    for (const p of ['clip-only.yaml', 'opacus', 'fedml', 'nvflare', 'hf', 'text']) rmSync(join(ws, p), { recursive: true });
    const cache = mkdtempSync(join(tmpdir(), 'i2f-audit-cachedir-'));
    const status = async (...extra: string[]) => {
      const r = await runCli(['audit', ws, '--format', 'json', '--cache-dir', cache, ...extra]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout).roots[0].configs.map((c: any) => c.status);
    };
    assert.deepEqual(await status(), ['analysed']);
    assert.deepEqual(await status(), ['cached']);
    const results = join(cache, 'results');
    const before = statSync(results).mtimeMs;
    assert.deepEqual(await status('--no-cache'), ['analysed']);
    assert.equal(statSync(results).mtimeMs, before);
    const fresh = mkdtempSync(join(tmpdir(), 'i2f-audit-nocache-'));
    const r = await runCli(['audit', ws, '--format', 'json', '--cache-dir', fresh, '--no-cache']);
    assert.equal(r.code, 0);
    assert.ok(!existsSync(join(fresh, 'results')), '--no-cache wrote nothing');
  });

  test('usage errors exit 2', async () => {
    assert.equal((await runCli(['audit', '--format', 'pdf'])).code, 2);
    assert.equal((await runCli(['audit', '--fail-on', 'critical'])).code, 2);
    assert.equal((await runCli(['audit', join(tmpdir(), 'no-such-folder-i2f')])).code, 2);
    const ws = workspace({ 'i2f.config.json': '{"maxSamples": ' }, { prefix: 'i2f-audit-badsettings-' });
    const r = await runCli(['audit', ws]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /i2f\.config\.json/);
  });
});

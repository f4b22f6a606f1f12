// `i2f audit` on a folder of Jupyter notebooks as published: Opacus' tutorials and TensorFlow Privacy's Colab tutorial
// (test/fixtures/upstream-python/, unchanged), beside a notebook cut short (broken JSON) and one in Julia. Each finding
// is checked at its cell, found independently in the .ipynb with JSON.parse, in the text output (`nb.ipynb:cell N:L:C`,
// ruff's form), the JSON (`cell` beside the .ipynb line/column) and SARIF (the .ipynb region, the cell as a property).
// Debian's /usr/bin/python3 (torch 1.13, no opacus) builds SampleNet from Opacus' intro notebook's definitions.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debianTorch } from '../support/requirements';
import { auditWithPython, ensureBuilt, REPO, runCli, validateSarif } from './helpers';

const UPSTREAM = join(REPO, 'test', 'fixtures', 'upstream-python');
const OPACUS = join(UPSTREAM, 'pytorch+opacus', 'tutorials');

function notebooks(): string {
  const ws = mkdtempSync(join(tmpdir(), 'i2f-notebooks-'));
  for (const f of ['building_image_classifier.ipynb', 'intro_to_advanced_features.ipynb', 'building_lstm_name_classifier.ipynb', 'building_text_classifier.ipynb']) cpSync(join(OPACUS, f), join(ws, f));
  cpSync(join(UPSTREAM, 'tensorflow+privacy', 'g3doc', 'tutorials', 'classification_privacy.ipynb'), join(ws, 'classification_privacy.ipynb'));
  // A notebook cut off mid-file (an interrupted save), and one whose kernel is Julia.
  writeFileSync(join(ws, 'cut.ipynb'), readFileSync(join(OPACUS, 'building_image_classifier.ipynb'), 'utf8').slice(0, 12_000));
  writeFileSync(join(ws, 'flux.ipynb'), JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'julia-1.10', language: 'julia', display_name: 'Julia 1.10' } }, cells: [{ cell_type: 'code', metadata: {}, execution_count: null, outputs: [], source: ['# DP-SGD by hand, as opacus does it\n', 'using Flux'] }] }, null, 1));
  // A bounded solve: the places are under test here, not ResNet-18's converged number.
  writeFileSync(join(ws, 'i2f.config.json'), JSON.stringify({ maxSamples: 1, solveBudgetSeconds: 10 }));
  return ws;
}

/** The 1-based notebook cell whose code holds `code`, and the 1-based line and column of it there (JSON.parse's reading). */
function placeOf(file: string, code: string): { cell: number; line: number; column: number } {
  const cells = (JSON.parse(readFileSync(file, 'utf8')) as { cells: { cell_type: string; source: string | string[] }[] }).cells;
  for (const [i, c] of cells.entries()) {
    if (c.cell_type !== 'code') continue;
    const lines = [c.source].flat().join('').split('\n');
    const l = lines.findIndex((x) => x.includes(code));
    if (l >= 0) return { cell: i + 1, line: l + 1, column: lines[l].indexOf(code) + 1 };
  }
  throw new Error(`${code} not in ${file}`);
}

test("audits notebooks: I2F001 on the cell of each DP call, ε of TF Privacy's tutorial, SampleNet built from a cell; broken and Julia notebooks located", { timeout: 15 * 60_000, skip: debianTorch.skip }, async () => {
  ensureBuilt();
  const ws = notebooks();
  const { root, cache, config, findings, lineOf: fileLine } = await auditWithPython(ws, 'i2f-notebooks-cache-');

  // Opacus' image classifier: torchvision's resnet18 made GroupNorm, analysed, on max_grad_norm in its DP cell.
  const classifier = config('building_image_classifier.ipynb');
  assert.equal(classifier.status, 'analysed', classifier.reason);
  const [leak] = findings('building_image_classifier.ipynb', 'I2F001');
  assert.match(leak.message, /resnet18 .*GroupNorm/);
  const clip = placeOf(join(ws, 'building_image_classifier.ipynb'), 'max_grad_norm=MAX_GRAD_NORM');
  assert.deepEqual({ cell: leak.cell.number, line: leak.cell.line, column: leak.cell.column }, clip);
  assert.match(fileLine('building_image_classifier.ipynb', leak.line), /"\s+max_grad_norm=MAX_GRAD_NORM,\\n",$/, 'line and column are the .ipynb JSON string holding it');
  assert.equal(fileLine('building_image_classifier.ipynb', leak.line).slice(leak.column - 1, leak.endColumn - 1), 'max_grad_norm');

  // Opacus' intro to advanced features: SampleNet, defined in a cell, built by the bridge from the notebook's definitions.
  const intro = config('intro_to_advanced_features.ipynb');
  assert.equal(intro.status, 'analysed', intro.reason);
  assert.equal(intro.leakage.parameters, 16 * 8 + 8 + 8 * 2 + 2);
  const [introLeak] = findings('intro_to_advanced_features.ipynb', 'I2F001');
  assert.match(introLeak.message, /intro_to_advanced_features\.ipynb:SampleNet built by \/usr\/bin\/python3 .*from the notebook's imports and the definitions SampleNet needs \(SampleNet\) only: no other cell ran/);
  const introDp = placeOf(join(ws, 'intro_to_advanced_features.ipynb'), 'privacy_engine.make_private(');
  assert.equal(introLeak.cell.number, introDp.cell);

  // The LSTM tutorial: not analysed, and the reason says the cell and line of the argument set at run time.
  const lstm = config('building_lstm_name_classifier.ipynb');
  assert.equal(lstm.status, 'not-analysed');
  const arg = placeOf(join(ws, 'building_lstm_name_classifier.ipynb'), 'len(ds.labels)');
  assert.match(lstm.reason, new RegExp(`\`len\\(ds\\.labels\\)\` \\(cell ${arg.cell}, line ${arg.line}\\) is set at run time`));
  assert.doesNotMatch(JSON.stringify(root.findings.filter((f: any) => f.file.endsWith('.ipynb'))), /\bscript\b|__main__/, 'notebooks are not told about scripts');

  // The BERT tutorial: three make_private_with_epsilon calls, each `target_delta=DELTA` (δ from len() at run time) noted
  // on its own cell at its value; the model (from_pretrained) is not built, said with the cell of `module=model`.
  const bert = join(ws, 'building_text_classifier.ipynb');
  const cells = (JSON.parse(readFileSync(bert, 'utf8')) as { cells: { cell_type: string; source: string[] }[] }).cells;
  const deltas = cells.flatMap((c, i) => (c.cell_type === 'code' ? c.source.join('').split('\n').flatMap((l, k) => (l.includes('target_delta=DELTA') ? [{ number: i + 1, line: k + 1, column: l.indexOf('DELTA') + 1 }] : [])) : []));
  assert.equal(deltas.length, 3);
  const notes = findings('building_text_classifier.ipynb', 'I2F141').map((f: any) => ({ number: f.cell.number, line: f.cell.line, column: f.cell.column }));
  assert.deepEqual(notes, deltas);
  const module = placeOf(bert, 'module=model');
  assert.match(config('building_text_classifier.ipynb').reason, new RegExp(`\`module=model\` \\(cell ${module.cell}, line ${module.line}\\) was not traced`));

  // TensorFlow Privacy's tutorial: ε from its cells, equal to the mpmath reference; the DP summary on the optimizer's cell.
  const tfp = config('classification_privacy.ipynb');
  const ref = JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'privacy', 'notebook_privacy_reference.json'), 'utf8')).cases[0];
  assert.equal(tfp.privacy.status, 'computed');
  assert.ok(Math.abs(tfp.privacy.epsilon - ref.epsilon) <= 1e-6 * ref.epsilon, `ε ${tfp.privacy.epsilon}`);
  const [tfpSummary] = findings('classification_privacy.ipynb', 'I2F140');
  assert.equal(tfpSummary.cell.number, placeOf(join(ws, 'classification_privacy.ipynb'), 'DPKerasSGDOptimizer(').cell);

  // The broken notebook: located where the text stops; the Julia one: at its language. Others' results are above.
  const [cut] = findings('cut.ipynb', 'I2F145');
  assert.equal(config('cut.ipynb').status, 'unreadable');
  assert.equal(cut.line, readFileSync(join(ws, 'cut.ipynb'), 'utf8').split('\n').length);
  assert.match(cut.message, /Notebook is not valid JSON/);
  const [flux] = findings('flux.ipynb', 'I2F145');
  assert.match(flux.message, /Notebook in julia: only Python notebooks are read/);
  assert.match(fileLine('flux.ipynb', flux.line), /"language": "julia"/);

  // The text output: ruff's `file:cell N:line:col`. SARIF: the .ipynb region, the cell as a property.
  const text = await runCli(['audit', ws, '--python', '/usr/bin/python3', '--cache-dir', cache]);
  assert.ok(text.stdout.includes(`building_image_classifier.ipynb:cell ${clip.cell}:${clip.line}:${clip.column}`), text.stdout);
  assert.ok(text.stdout.includes(`cut.ipynb:${cut.line}:${cut.column}`));
  const sarif = JSON.parse((await runCli(['audit', ws, '--format', 'sarif', '--python', '/usr/bin/python3', '--cache-dir', cache])).stdout);
  assert.deepEqual(validateSarif(sarif), []);
  const result = sarif.runs[0].results.find((x: any) => x.ruleId === 'I2F001' && x.locations[0].physicalLocation.artifactLocation.uri === 'building_image_classifier.ipynb');
  assert.equal(result.locations[0].physicalLocation.region.startLine, leak.line);
  assert.deepEqual(result.properties.notebookCell, leak.cell);
});

test("`i2f audit NOTEBOOK` says why a notebook is no DP setup: Opacus' ddp_tutorial writes its DP code to scripts with %%writefile", { timeout: 2 * 60_000 }, async () => {
  ensureBuilt();
  // Alone in a folder: `i2f audit FILE` discovers FILE's whole folder, and the tutorials beside it are long to read
  // (make_private_with_epsilon's σ search).
  const ws = mkdtempSync(join(tmpdir(), 'i2f-notebook-file-'));
  for (const f of ['ddp_tutorial.ipynb', 'guide_to_module_validator.ipynb']) cpSync(join(OPACUS, f), join(ws, f));
  const ddp = await runCli(['audit', join(ws, 'ddp_tutorial.ipynb'), '--no-cache']);
  assert.equal(ddp.code, 0, ddp.stderr);
  assert.match(ddp.stdout, /is not a training config: its DP code is in `%%writefile` cells, which write opacus_ddp_demo\.py, opacus_distributed_data_loader_demo\.py, opacus_sync_demo\.py rather than run it in the notebook/);
  const validator = await runCli(['audit', join(ws, 'guide_to_module_validator.ipynb'), '--no-cache']);
  assert.match(validator.stdout, /is not a training config: its 6 code cell\(s\) call no DP API the audit recognises/);
});

test('`i2f analyze notebook.ipynb:SampleNet` builds the class from the notebook cell that defines it', { timeout: 5 * 60_000, skip: debianTorch.skip }, async () => {
  ensureBuilt();
  const ws = mkdtempSync(join(tmpdir(), 'i2f-notebook-analyze-'));
  cpSync(join(OPACUS, 'intro_to_advanced_features.ipynb'), join(ws, 'intro_to_advanced_features.ipynb'));
  const cache = mkdtempSync(join(tmpdir(), 'i2f-notebook-analyze-cache-'));
  const r = await runCli(['analyze', 'intro_to_advanced_features.ipynb:SampleNet', '--python', '/usr/bin/python3', '--json'], { cwd: ws, env: { I2F_CACHE_DIR: cache } });
  assert.equal(r.code, 0, r.stderr);
  const model = JSON.parse(r.stdout).model;
  assert.equal(model.parameters, 16 * 8 + 8 + 8 * 2 + 2);
  assert.deepEqual(model.theta, ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']);
  assert.match(model.description, /from the notebook's imports and the definitions SampleNet needs \(SampleNet\) only: no other cell ran/);
});

test("SARIF fingerprints of a notebook's findings hold when its outputs change (the .ipynb lines move, the cells do not)", { timeout: 2 * 60_000 }, async () => {
  ensureBuilt();
  const nb = JSON.parse(readFileSync(join(UPSTREAM, 'tensorflow+privacy', 'g3doc', 'tutorials', 'classification_privacy.ipynb'), 'utf8'));
  // A cell that does not parse: its I2F144 has no config key, so its fingerprint rests on its place.
  nb.cells.splice(nb.cells.length - 2, 0, { cell_type: 'code', metadata: {}, execution_count: null, outputs: [], source: ['weights = [1, 2\n', 'print(weights)'] });
  const ws = mkdtempSync(join(tmpdir(), 'i2f-notebook-sarif-'));
  const run = async () => JSON.parse((await runCli(['audit', ws, '--format', 'sarif', '--no-cache'])).stdout).runs[0].results as any[];
  writeFileSync(join(ws, 'classification_privacy.ipynb'), JSON.stringify(nb, null, 1));
  const before = await run();
  // The notebook run once more: the data cell prints (its output lands in the JSON above the DP cells).
  const dataCell = nb.cells.find((c: any) => c.cell_type === 'code' && c.source.join('').includes('load_data()'));
  dataCell.outputs = [{ output_type: 'stream', name: 'stdout', text: Array.from({ length: 40 }, (_, i) => `epoch ${i}\n`) }];
  writeFileSync(join(ws, 'classification_privacy.ipynb'), JSON.stringify(nb, null, 1));
  const after = await run();
  assert.ok(before.length >= 3);
  assert.ok(before.some((r) => r.ruleId === 'I2F144'));
  assert.equal(after.length, before.length);
  before.forEach((b, i) => {
    assert.notEqual(after[i].locations[0].physicalLocation.region.startLine, b.locations[0].physicalLocation.region.startLine, 'the .ipynb lines moved');
    assert.deepEqual(after[i].properties.notebookCell, b.properties.notebookCell);
    assert.deepEqual(after[i].partialFingerprints, b.partialFingerprints, b.ruleId);
  });
});

test("`i2f audit` (a batch job) waits for make_private_with_epsilon's σ, where the editor shows the clipping-only reading first (I2F167): Opacus' tutorial with ε 10 over 1 epoch", { timeout: 5 * 60_000 }, async () => {
  ensureBuilt();
  const ws = mkdtempSync(join(tmpdir(), 'i2f-notebook-sigma-'));
  const text = readFileSync(join(OPACUS, 'building_image_classifier.ipynb'), 'utf8');
  const short = text.replace('"EPSILON = 50.0\\n"', '"EPSILON = 10.0\\n"').replace('"EPOCHS = 20\\n"', '"EPOCHS = 1\\n"');
  assert.equal(short.length, text.length - 1, 'both constants found');
  writeFileSync(join(ws, 'building_image_classifier.ipynb'), short);
  writeFileSync(join(ws, 'i2f.config.json'), JSON.stringify({ maxSamples: 1, solveBudgetSeconds: 10 }));
  // An empty σ memo (a fresh cache folder): the search runs during the audit.
  const r = await runCli(['audit', ws, '--format', 'json', '--cache-dir', mkdtempSync(join(tmpdir(), 'i2f-notebook-sigma-cache-'))]);
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  const root = JSON.parse(r.stdout).roots[0];
  assert.equal(root.configs.find((c: { file: string }) => c.file === 'building_image_classifier.ipynb')?.status, 'analysed');
  const findings = root.findings as { code: string; message: string }[];
  const sigma = (JSON.parse(readFileSync(join(REPO, 'test', 'fixtures', 'privacy', 'prv_reference.json'), 'utf8')).noise as { name: string; noiseMultiplier: number }[])
    .find((n) => n.name === 'building_image_classifier_short')!.noiseMultiplier;
  assert.match(findings.find((f) => f.code === 'I2F140')!.message, new RegExp(`noise multiplier ${Number(sigma.toPrecision(6))}, σ `));
  assert.deepEqual(findings.filter((f) => f.code === 'I2F167' || f.code === 'I2F168'), [], 'no provisional reading in a batch job');
});

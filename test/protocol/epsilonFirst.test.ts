// make_private_with_epsilon in the editor, over real LSP traffic on Opacus' own image-classifier tutorial
// (test/fixtures/upstream-python/pytorch+opacus/tutorials/building_image_classifier.ipynb, unchanged but for the
// constants a step names): with an empty σ memo the clipping-only reading is published at once, with I2F167 saying σ
// is being derived and that no noise is counted, then the reading at Opacus' σ replaces it. An edit that changes the
// budget stops the running search (its worker terminated: the i2f/stats count, and no answer in the memo), so do
// "I²F: Cancel analyses" and closing the notebook, and the progress item's cancel button leaves the clipping-only
// reading, graded without noise (I2F168); a .py script (the tutorial's cells saved as one) is stopped on close too.
// The σ expected is Opacus' own get_noise_multiplier's (tools/fixtures/prv_reference.py).

import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Diagnostic } from 'vscode-languageserver';
import { leakageOf, startServer, stats, WAIT_MS, type OpenNotebook, type Session } from './lspClient';

const TIMEOUT = { timeout: 600_000 };
const TUTORIAL = join(__dirname, '..', 'fixtures', 'upstream-python', 'pytorch+opacus', 'tutorials', 'building_image_classifier.ipynb');
const NOTEBOOK = 'tutorials/building_image_classifier.ipynb';
/** The cell holding make_private_with_epsilon (0-based over all 41 cells), and the first code cell (its constants). */
const DP_CELL = 27;
const FIRST_CODE = 5;

interface NoiseReference { name: string; targetEpsilon: number; epochs: number; accountant: string; noiseMultiplier: number }
const reference = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'privacy', 'prv_reference.json'), 'utf8')) as { noise: NoiseReference[] };
/** Opacus' σ for the tutorial with EPSILON = 10.0 and EPOCHS = 1: a search of about a second. */
const SHORT = reference.noise.find((n) => n.name === 'building_image_classifier_short' && n.accountant === 'prv')!;

/** The tutorial's first code cell with EPSILON and EPOCHS set so. */
function constants(text: string, epsilon: string, epochs: number): string {
  assert.match(text, /^EPSILON = [\d.]+$/m);
  assert.match(text, /^EPOCHS = \d+$/m);
  return text.replace(/^EPSILON = [\d.]+$/m, `EPSILON = ${epsilon}`).replace(/^EPOCHS = \d+$/m, `EPOCHS = ${epochs}`);
}

/** The tutorial copied into the workspace with its constants set so (its JSON edited as text: one line each). */
function prepare(epsilon: string, epochs: number) {
  return (workspace: string) => {
    mkdirSync(join(workspace, 'tutorials'));
    const text = readFileSync(TUTORIAL, 'utf8');
    const edited = text.replace('"EPSILON = 50.0\\n"', `"EPSILON = ${epsilon}\\n"`).replace('"EPOCHS = 20\\n"', `"EPOCHS = ${epochs}\\n"`);
    assert.equal(edited.length - text.length, epsilon.length - 4 + String(epochs).length - 2, 'both constants found in the tutorial\'s JSON');
    writeFileSync(join(workspace, NOTEBOOK), edited);
  };
}

const byCode = (d: Diagnostic[], code: string) => d.find((x) => x.code === code);
const budget = (epsilon: number, epochs: number) =>
  `σ being derived as Opacus' make_private_with_epsilon chooses it for ε ${epsilon}, δ 1e-5, ${epochs} epochs, q = 1/len(data_loader) = 1/98 (⌈50000/512⌉), ${epochs * 98} steps, PRV accountant (the PrivacyEngine's default since Opacus 1.3): the noise is not yet counted`;

/** The σ answers kept in the session's storage (the editor's cache folder). */
function memoFiles(s: Session): string[] {
  const dir = join(s.workspace, '.i2f-storage', 'opacus-noise');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
}

/** The progress items the σ searches began, in order ($/progress begin with their title). */
function searchProgress(s: Session): { token: string | number; message?: string }[] {
  return s.progress.filter((p) => p.value.kind === 'begin' && p.value.title === 'I²F: deriving σ from target_epsilon').map((p) => ({ token: p.token, message: p.value.message }));
}
const ended = (s: Session, token: string | number) => s.progress.some((p) => p.token === token && p.value.kind === 'end');

/** Asks i2f/stats until no σ search is in flight and every search worker has exited (terminate() is asynchronous). */
async function searchesEnded(s: Session, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const n = (await stats(s)).noiseSearches;
    if (n?.searches === 0 && n.workers === 0) return;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(n)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function publishedOn(s: Session, uri: string): Diagnostic[][] {
  return s.published.filter((p) => p.uri === uri).map((p) => p.diagnostics);
}

test("Opacus' tutorial, σ not yet known: the clipping-only reading with I2F167 first, then Opacus' σ; an edit of the budget and closing the notebook stop the search", TIMEOUT, async () => {
  // Untrusted: the model is not analysed, so only the σ reading is under test here (and the test stays quick).
  const s = await startServer({ prepare: prepare('10.0', 1), initializationOptions: { trusted: false } });
  try {
    const nb: OpenNotebook = s.openNotebook(NOTEBOOK);
    const dp = nb.cells[DP_CELL].uri;
    assert.match(nb.cells[DP_CELL].text, /make_private_with_epsilon/);

    // Its σ arrives: the reading at Opacus' σ, I2F167 gone.
    const sigma = Number(SHORT.noiseMultiplier.toPrecision(6));
    const derived = await s.waitForDiagnostics(dp, (d) => new RegExp(`noise multiplier ${sigma}\\b`).test(byCode(d, 'I2F140')?.message ?? ''));
    assert.equal(byCode(derived, 'I2F167'), undefined, 'no "being derived" once σ is known');
    assert.match(byCode(derived, 'I2F140')!.message, new RegExp(`σ ${Number(SHORT.noiseMultiplier.toPrecision(4))}, as Opacus' make_private_with_epsilon chooses it for ε 10, δ 1e-5, 1 epochs`));
    // Before it, the first reading of the cell: the clipping-only one, saying σ is being derived and not counted.
    const first = publishedOn(s, dp)[0];
    const deriving = byCode(first, 'I2F167');
    assert.ok(deriving, `the first findings on the DP cell say σ is being derived: ${JSON.stringify(first.map((d) => d.code))}`);
    assert.equal(deriving.message, `${budget(10, 1)}; only the clipping is analysed (the leakage finding is graded without noise) until σ arrives, then these findings are replaced by the reading at that σ.`);
    assert.equal(deriving.severity, 3, 'information');
    assert.match(nb.cells[DP_CELL].text.split('\n')[deriving.range.start.line], /target_epsilon=EPSILON/, 'on the target_epsilon argument');
    const summary = byCode(first, 'I2F140')!;
    assert.match(summary.message, /Noise: the σ Opacus chooses from the target ε is not yet derived, so no noise is counted \(clipping only\)\./);
    assert.doesNotMatch(summary.message, /noise multiplier/, 'no σ in the first reading');
    assert.ok(!first.some((d) => d.code === 'I2F001'), 'untrusted: no model analysis');
    const [firstSearch] = searchProgress(s);
    assert.match(firstSearch.message ?? '', /^building_image_classifier\.ipynb: ε 10, δ 1e-5, 1 epochs, q = 0\.0102, PRV accountant$/);
    await s.waitFor('the first search\'s progress ended', () => ended(s, firstSearch.token));
    assert.equal(memoFiles(s).length, 1, 'its answer kept in the editor\'s storage');

    // The tutorial's own budget (a search of a minute): the clipping-only reading again, for that budget.
    const cell = nb.cells[FIRST_CODE].text;
    s.changeCell(nb, FIRST_CODE, constants(cell, '50.0', 20));
    await s.waitForDiagnostics(dp, (d) => byCode(d, 'I2F167')?.message.startsWith(budget(50, 20)) ?? false);
    const long = await s.waitFor('the long search\'s progress item', () => searchProgress(s)[1]);
    assert.match(long.message ?? '', /ε 50, δ 1e-5, 20 epochs/);
    assert.deepEqual((await stats(s)).noiseSearches, { searches: 1, workers: 1 }, 'the search runs on its worker thread');

    // Edited during the search (back to ε 10 over 1 epoch, answered from the memo): the long search is stopped, the
    // findings are those of the edited values, and nothing of the stopped search lands.
    s.changeCell(nb, FIRST_CODE, constants(cell, '10.0', 1));
    await s.waitForDiagnostics(dp, (d) => new RegExp(`noise multiplier ${sigma}\\b`).test(byCode(d, 'I2F140')?.message ?? '') && !byCode(d, 'I2F167'));
    await s.waitFor('the long search\'s progress ended', () => ended(s, long.token));
    await searchesEnded(s, 'the long search stopped, its worker thread ended');
    assert.equal(memoFiles(s).length, 1, 'no answer for the stopped search');
    const now = s.diagnostics.get(dp)!;
    assert.match(byCode(now, 'I2F140')!.message, /ε 10, δ 1e-5, 1 epochs/);

    // The long budget again, stopped by "I²F: Cancel analyses": I2F168 says so, and it is not searched again for
    // that budget.
    s.changeCell(nb, FIRST_CODE, constants(cell, '50.0', 20));
    const again = await s.waitFor('the third search\'s progress item', () => searchProgress(s)[2]);
    assert.deepEqual(await s.connection.sendRequest('i2f/cancelAll'), { cancelled: 1 });
    const cancelled = await s.waitForDiagnostics(dp, (d) => !!byCode(d, 'I2F168'));
    assert.match(byCode(cancelled, 'I2F168')!.message, /^σ not derived \(its search was cancelled\) as Opacus' make_private_with_epsilon chooses it for ε 50, δ 1e-5, 20 epochs/);
    assert.ok(ended(s, again.token));
    await searchesEnded(s, '"Cancel analyses" stopped the search and ended its worker thread');

    // Another long budget (ε 50 over 19 epochs), then the notebook closed during its search: stopped; the file on
    // disk (ε 10, 1 epoch) is read with the σ the memo holds.
    s.changeCell(nb, FIRST_CODE, constants(cell, '50.0', 19));
    const last = await s.waitFor('the fourth search\'s progress item', () => searchProgress(s)[3]);
    assert.match(last.message ?? '', /ε 50, δ 1e-5, 19 epochs/);
    s.closeNotebook(nb);
    await s.waitFor('the fourth search\'s progress ended', () => ended(s, last.token));
    await searchesEnded(s, 'closing the notebook stopped its search and ended its worker thread');
    const onDisk = await s.waitForDiagnostics(nb.uri, (d) => !!byCode(d, 'I2F140'));
    assert.match(byCode(onDisk, 'I2F140')!.message, new RegExp(`noise multiplier ${sigma}\\b`));
    assert.equal(memoFiles(s).length, 1);
  } finally {
    await s.close();
  }
});

test("Opacus' tutorial, its σ search cancelled from the progress item: the clipping-only reading stays (I2F168), its leakage finding graded without noise; a new budget is searched and the same analysis read at σ", TIMEOUT, async () => {
  // A bounded solve (the grading under each reading is under test, not the number): ResNet-18 + GroupNorm.
  const s = await startServer({ prepare: prepare('50.0', 20), settings: { solveBudgetSeconds: 10 } });
  try {
    const nb = s.openNotebook(NOTEBOOK);
    const dp = nb.cells[DP_CELL].uri;
    await s.waitForDiagnostics(dp, (d) => !!byCode(d, 'I2F167'));
    const search = await s.waitFor('the search\'s progress item', () => searchProgress(s)[0]);
    // The status item says it too (beside the model's analysis, which runs meanwhile).
    await s.waitFor('a status naming the σ search', () => s.statuses.some((st) => /deriving σ for building_image_classifier\.ipynb|σ being derived from the target ε for building_image_classifier\.ipynb/.test(`${st.text} ${st.detail}`)));
    void s.connection.sendNotification('window/workDoneProgress/cancel', { token: search.token });
    const stopped = await s.waitForDiagnostics(dp, (d) => !!byCode(d, 'I2F168'));
    assert.equal(byCode(stopped, 'I2F167'), undefined);
    assert.match(byCode(stopped, 'I2F168')!.message, /^σ not derived \(its search was cancelled\) as Opacus' make_private_with_epsilon chooses it for ε 50, δ 1e-5, 20 epochs, .*: the noise is not counted; only the clipping is analysed/);
    await searchesEnded(s, 'the cancelled search stopped, its worker thread ended');
    const status = s.statuses[s.statuses.length - 1];
    assert.doesNotMatch(`${status.text} ${status.detail}`, /σ/, 'the status item no longer names a σ search');

    // The model's analysis ends with σ still unknown: graded with no noise at all, and the hover on it says so (the
    // message's own wording depends on whether the bounded solve converged).
    const clippingOnly = await s.waitForDiagnostics(dp, (d) => !!leakageOf(d));
    const leak = leakageOf(clippingOnly)!;
    assert.equal(leak.data?.fromCache, false, 'the analysis that ran');
    assert.ok(byCode(clippingOnly, 'I2F168'), 'still said beside it');
    const hoverOn = async (d: Diagnostic) =>
      ((await s.connection.sendRequest('textDocument/hover', { textDocument: { uri: dp }, position: { line: d.range.start.line, character: d.range.start.character + 2 } })) as { contents: { value: string } } | null)?.contents.value ?? '';
    const before = await hoverOn(leak);
    assert.match(before, /→ `dpsgd:clip=1\.2,noise=0`/, before);
    assert.match(before, /is not yet derived: the noise is not counted, only the clipping is analysed\./);
    assert.ok(!memoFiles(s).length, 'nothing of the cancelled search in the memo');

    // Another budget (ε 10 over 1 epoch): searched, and the same analysis (answered from the cache) read at σ.
    s.changeCell(nb, FIRST_CODE, constants(nb.cells[FIRST_CODE].text, '10.0', 1));
    const sigma = Number(SHORT.noiseMultiplier.toPrecision(6));
    const atSigma = await s.waitForDiagnostics(dp, (d) => !!leakageOf(d) && new RegExp(`noise multiplier ${sigma}\\b`).test(byCode(d, 'I2F140')?.message ?? ''));
    const derived = leakageOf(atSigma)!;
    assert.equal(derived.data?.fromCache, true, 'the clipping-only analysis, read at σ (no second solve)');
    assert.equal(byCode(atSigma, 'I2F167'), undefined);
    assert.equal(byCode(atSigma, 'I2F168'), undefined);
    const after = await hoverOn(derived);
    // Specs are shown to 4 significant digits (the engine's to 12).
    assert.match(after, new RegExp(`→ \`dpsgd:clip=1\\.2,noise=${Number(SHORT.noiseMultiplier.toPrecision(4))}\``), after);
    assert.match(after, new RegExp(`σ ${Number(SHORT.noiseMultiplier.toPrecision(4))}, as Opacus' make_private_with_epsilon chooses it for ε 10, δ 1e-5, 1 epochs`));
    // Noise only makes the attacker's reconstruction worse: the reading without it was never the more comforting one
    // (its exact reconstruction's PSNR ∞ travels in JSON as null).
    const data = (d: Diagnostic) => d.data as { risk: 'low' | 'medium' | 'high' | 'uncertain'; psnr: number | null };
    const psnr = (d: Diagnostic) => data(d).psnr ?? (/PSNR ∞ dB/.test(d.message) ? Infinity : NaN);
    const rank = { low: 0, medium: 1, high: 2, uncertain: 2 };
    assert.ok(rank[data(leak).risk] >= rank[data(derived).risk], `clipping only ${data(leak).risk}, at σ ${data(derived).risk}`);
    assert.ok(psnr(leak) >= psnr(derived), `clipping only ${psnr(leak)} dB, at σ ${psnr(derived)} dB`);
    process.stderr.write(`clipping only: ${data(leak).risk}, PSNR ${psnr(leak)} dB; at σ ${sigma}: ${data(derived).risk}, PSNR ${psnr(derived)} dB\n`);
  } finally {
    await s.close();
  }
});

test("the same as a script (the tutorial's code cells saved as a .py): I2F167 at once, the search stopped when the file closes, I2F168 on the closed file", TIMEOUT, async () => {
  // The code cells joined as a script would hold them (IPython-only lines left out), with the tutorial's own budget.
  const nb = JSON.parse(readFileSync(TUTORIAL, 'utf8')) as { cells: { cell_type: string; source: string[] | string }[] };
  const script = nb.cells.filter((c) => c.cell_type === 'code').map((c) => [c.source].flat().join('')).join('\n\n')
    .split('\n').filter((l) => !/^\s*[!%]/.test(l)).join('\n');
  const s = await startServer({ prepare: (w) => writeFileSync(join(w, 'image_classifier.py'), script), initializationOptions: { trusted: false } });
  try {
    const uri = s.open('image_classifier.py');
    const first = await s.waitForDiagnostics(uri, (d) => !!byCode(d, 'I2F140'));
    assert.equal(byCode(first, 'I2F167')?.message.startsWith(budget(50, 20)), true, JSON.stringify(first.map((d) => d.code)));
    const search = await s.waitFor('the search\'s progress item', () => searchProgress(s)[0]);
    assert.match(search.message ?? '', /^image_classifier\.py: ε 50, δ 1e-5, 20 epochs/);
    void s.connection.sendNotification('textDocument/didClose', { textDocument: { uri } });
    await s.waitFor('the search\'s progress ended', () => ended(s, search.token));
    await searchesEnded(s, 'closing the script stopped its search and ended its worker thread');
    // Closed, it is read from disk and not searched: I2F168 says when it will be.
    const closed = await s.waitForDiagnostics(uri, (d) => !!byCode(d, 'I2F168'));
    assert.match(byCode(closed, 'I2F168')!.message, /^σ not yet derived as Opacus' make_private_with_epsilon chooses it for ε 50, .*Its search \(up to a minute\) runs while the file is open in the editor or audited/);
    assert.equal(memoFiles(s).length, 0);
  } finally {
    await s.close();
  }
});

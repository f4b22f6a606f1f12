// What the server says about an open notebook's joined code cells goes back to the cell it belongs to: diagnostics per
// cell URI (every cell listed, so a cell's old findings are cleared), hints and lenses of one cell only, quick-fix
// edits split into the cells they edit, and a cell's positions mapped into the joined text for the requests.

import test from 'node:test';
import assert from 'node:assert/strict';
import type { CodeAction, Diagnostic } from 'vscode-languageserver';
import { actionInCells, brokenCellFindings, diagnosticsByCell, hintsInCell, hoverInCell, notebookCells, rangeToJoined, toJoined } from '../../../server/src/features/notebookCells';

const NB = 'file:///w/tutorial.ipynb';
const cell = (k: number) => `vscode-notebook-cell:/w/tutorial.ipynb#C${k}`;
const range = (l0: number, c0: number, l1: number, c1: number) => ({ start: { line: l0, character: c0 }, end: { line: l1, character: c1 } });

async function sample() {
  // Three cells: 2 lines, 1 line, 3 lines → joined lines 0–1, 2, 3–5.
  return notebookCells(NB, [
    { uri: cell(0), number: 1, text: 'import opacus\nC = 1.0' },
    { uri: cell(1), number: 3, text: '%matplotlib inline' },
    { uri: cell(2), number: 5, text: 'pe = opacus.PrivacyEngine()\nmodel, opt, dl = pe.make_private(\n    noise_multiplier=0.5, max_grad_norm=C)' },
  ]);
}

test('joined text: line for line, the IPython magic blanked', async () => {
  const nb = await sample();
  assert.deepEqual(nb.spans.map((s) => [s.cell, s.firstLine, s.lineCount]), [[0, 0, 2], [1, 2, 1], [2, 3, 3]]);
  assert.equal(nb.text.split('\n')[2], '');
  assert.deepEqual(nb.broken, []);
  assert.deepEqual(toJoined(nb, 2, { line: 2, character: 4 }), { line: 5, character: 4 });
  // A position past a cell's last line (an editor's whole-cell range) stays in that cell.
  assert.deepEqual(toJoined(nb, 0, { line: 40, character: 0 }), { line: 1, character: 0 });
  assert.deepEqual(rangeToJoined(nb, 2, range(0, 0, 2, 10)), range(3, 0, 5, 10));
});

test('diagnostics go to their cells; every cell gets a list', async () => {
  const nb = await sample();
  const d = (r: ReturnType<typeof range>, code: string): Diagnostic => ({ range: r, code, message: code });
  const byCell = diagnosticsByCell(nb, [d(range(5, 4, 5, 24), 'I2F001'), d(range(1, 4, 1, 7), 'I2F142')]);
  assert.deepEqual([...byCell.keys()], [cell(0), cell(1), cell(2)]);
  assert.deepEqual(byCell.get(cell(2))!.map((x) => [x.code, x.range]), [['I2F001', range(2, 4, 2, 24)]]);
  assert.deepEqual(byCell.get(cell(0))!.map((x) => [x.code, x.range]), [['I2F142', range(1, 4, 1, 7)]]);
  assert.deepEqual(byCell.get(cell(1)), []);
});

test('messages name the cell as VS Code counts cells, and the line in it', async () => {
  const nb = await sample();
  const byCell = diagnosticsByCell(nb, [{ range: range(5, 4, 5, 24), code: 'I2F140', message: 'clipping norm C (line 2); the script passes it to make_private at line 5; `line 9` in code, pyproject.toml (line 3)' }]);
  assert.equal(byCell.get(cell(2))![0].message, 'clipping norm C (cell 1, line 2); the notebook passes it to make_private at cell 5, line 2; `line 9` in code, pyproject.toml (line 3)');
  const hover = hoverInCell(nb, { contents: { kind: 'markdown', value: 'Read from `C` (line 2)' }, range: range(5, 4, 5, 20) });
  assert.deepEqual(hover, { contents: { kind: 'markdown', value: 'Read from `C` (cell 1, line 2)' }, range: range(2, 4, 2, 20) });
});

test('inlay hints of one cell only, at its positions', async () => {
  const nb = await sample();
  const hints = [{ position: { line: 5, character: 24 }, label: '31 dB' }, { position: { line: 1, character: 7 }, label: 'C' }];
  assert.deepEqual(hintsInCell(nb, 2, hints), [{ position: { line: 2, character: 24 }, label: '31 dB' }]);
  assert.deepEqual(hintsInCell(nb, 1, hints), []);
});

test("a quick fix's edits of the joined text land in the cells they edit; other files' edits are kept", async () => {
  const nb = await sample();
  const action: CodeAction = {
    title: 'Set noise_multiplier to 1.1',
    diagnostics: [{ range: range(5, 4, 5, 24), message: 'x', code: 'I2F001' }],
    edit: { changes: { [NB]: [{ range: range(5, 21, 5, 24), newText: '1.1' }, { range: range(1, 4, 1, 7), newText: '2.0' }], 'file:///w/pyproject.toml': [{ range: range(3, 0, 3, 1), newText: 'x' }] } },
  };
  const mapped = actionInCells(nb, action);
  assert.deepEqual(mapped.edit!.changes, {
    [cell(2)]: [{ range: range(2, 21, 2, 24), newText: '1.1' }],
    [cell(0)]: [{ range: range(1, 4, 1, 7), newText: '2.0' }],
    'file:///w/pyproject.toml': [{ range: range(3, 0, 3, 1), newText: 'x' }],
  });
  assert.deepEqual(mapped.diagnostics![0].range, range(2, 4, 2, 24));
});

test('a cell that does not parse: blanked in the joined text, and an I2F144 located on it', async () => {
  const nb = await notebookCells(NB, [
    { uri: cell(0), number: 1, text: 'import opacus\nx = (1,' },
    { uri: cell(1), number: 3, text: 'pe = opacus.PrivacyEngine()' },
  ]);
  assert.equal(nb.broken.length, 1);
  assert.equal(nb.text, '\n\npe = opacus.PrivacyEngine()');
  const [f] = brokenCellFindings(nb, '/w/tutorial.ipynb');
  assert.equal(f.code, 'I2F144');
  const byCell = diagnosticsByCell(nb, [{ range: f.range, message: f.message, code: f.code }]);
  assert.equal(byCell.get(cell(0))![0].range.start.line, 1, 'on the line of the open bracket');
  assert.match(byCell.get(cell(0))![0].message, /^Python syntax error at cell 1, line 2, column \d+ \(/);
  assert.deepEqual(byCell.get(cell(1)), []);
});

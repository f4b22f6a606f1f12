// A notebook cell that does not parse is set aside so the other cells are still read: on Opacus' image-classifier
// tutorial (committed unchanged), an unclosed bracket in the transforms cell hides the whole DP set-up when the cells
// are read joined as they are, and leaves it whole once that cell is set aside.

import test from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setAsideBrokenCells } from '../../../server/src/pysource/cellSyntax';
import { joinCodeCells } from '../../../server/src/pysource/notebook';
import { readPythonFile } from '../../../server/src/pysource/pythonSetup';

const TUTORIAL = join(__dirname, '../../fixtures/upstream-python/pytorch+opacus/tutorials/building_image_classifier.ipynb');
const FILE = '/snapshot/opacus/tutorials/building_image_classifier.ipynb';

function codeCells(): string[] {
  const nb = JSON.parse(readFileSync(TUTORIAL, 'utf8')) as { cells: { cell_type: string; source: string | string[] }[] };
  return nb.cells.filter((c) => c.cell_type === 'code').map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source));
}

test('a notebook whose cells all parse is read as joined, nothing set aside', async () => {
  const joined = joinCodeCells(codeCells().map((text) => ({ text })));
  const r = await setAsideBrokenCells(joined);
  assert.deepEqual(r.broken, []);
  assert.equal(r.joined, joined);
});

test('an unclosed bracket in one cell: that cell is set aside, located, and the other cells are read', async () => {
  const cells = codeCells();
  // Cell 2 is the imports and transforms; an unfinished list at its end.
  cells[2] = `${cells[2]}\nextra = [1, 2\n`;
  const joined = joinCodeCells(cells.map((text) => ({ text })));
  // As they are, the bracket swallows every later cell: no DP set-up is found at all.
  assert.equal((await readPythonFile(FILE, joined.text)).setup, null);

  const { joined: readable, broken } = await setAsideBrokenCells(joined);
  assert.equal(broken.length, 1);
  assert.equal(broken[0].cell, 2);
  const span = joined.spans[2];
  const errorLine = cells[2].split('\n').indexOf('extra = [1, 2');
  assert.equal(broken[0].range.start.line, span.firstLine + errorLine, 'on the line of the unclosed bracket');
  assert.match(broken[0].what, /extra = \[1, 2|missing/);
  // Line for line: every other cell's lines are where they were.
  assert.equal(readable.text.split('\n').length, joined.text.split('\n').length);
  for (const s of joined.spans.filter((x) => x.cell !== 2)) {
    assert.deepEqual(readable.text.split('\n').slice(s.firstLine, s.firstLine + s.lineCount), joined.text.split('\n').slice(s.firstLine, s.firstLine + s.lineCount));
  }
  const r = await readPythonFile(FILE, readable.text);
  assert.ok(r.setup, 'the DP set-up is read from the other cells');
  assert.equal(r.setup.architecture?.value, 'resnet18');
  assert.equal(r.setup.clippingNorm?.value, 1.2);
});

test('ordinary Python (no DP library named) is not ours to check', async () => {
  const joined = joinCodeCells([{ text: 'x = [1, 2' }, { text: 'print(x)' }]);
  assert.deepEqual((await setAsideBrokenCells(joined)).broken, []);
});

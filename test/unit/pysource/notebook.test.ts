// Jupyter notebooks read as Python (pysource/notebook.ts), on public notebooks as published: Opacus' seven tutorials and
// TensorFlow Privacy's Colab tutorial (`!pip install` in a cell), committed unchanged under
// test/fixtures/upstream-python/. Each cell's text is checked against JSON.parse's own decoding, every character's place
// in the .ipynb against the raw file text, and the joined text against tree-sitter (no syntax error where IPython
// syntax was blanked); then the IPython rules one by one, and bad input.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  cellRangeToFile,
  cellToFile,
  cellToJoined,
  fileToCell,
  joinCodeCells,
  joinedRangeToCell,
  joinedToCell,
  parseNotebook,
  type Notebook,
} from '../../../server/src/pysource/notebook';
import { parsePython, pythonParser, type SyntaxNode } from '../../../server/src/pysource/pythonParser';

const UPSTREAM = join(__dirname, '../../fixtures/upstream-python');
const OPACUS = join(UPSTREAM, 'pytorch+opacus/tutorials');
const TFP = join(UPSTREAM, 'tensorflow+privacy/g3doc/tutorials/classification_privacy.ipynb');
const NOTEBOOKS = [...readdirSync(OPACUS).filter((f) => f.endsWith('.ipynb')).map((f) => join(OPACUS, f)), TFP];

function read(path: string): { text: string; nb: Notebook } {
  const text = readFileSync(path, 'utf8');
  const nb = parseNotebook(path, text);
  assert.equal(nb.kind, 'notebook', path);
  return { text, nb: nb as Notebook };
}

async function syntaxErrors(source: string): Promise<string[]> {
  const parse = parsePython(await pythonParser(), source);
  assert.equal(parse.kind, 'tree');
  if (parse.kind !== 'tree') return [];
  const out: string[] = [];
  const walk = (n: SyntaxNode): void => {
    if (n.type === 'ERROR' || n.isMissing) out.push(`line ${n.startPosition.row + 1}: ${n.text.slice(0, 40)}`);
    else if (n.hasError) for (const c of n.children) if (c) walk(c);
  };
  walk(parse.tree.rootNode);
  parse.tree.delete();
  return out;
}

test('every public notebook: cells as Jupyter stores them, code cells in order, read as Python', () => {
  assert.equal(NOTEBOOKS.length, 8);
  for (const path of NOTEBOOKS) {
    const { text, nb } = read(path);
    const json = JSON.parse(text) as { nbformat: number; cells: { cell_type: string; source: string | string[] }[] };
    assert.equal(nb.nbformat, json.nbformat);
    assert.equal(nb.cells.length, json.cells.length, path);
    json.cells.forEach((c, i) => {
      assert.equal(nb.cells[i].text, Array.isArray(c.source) ? c.source.join('') : c.source, `${path} cell ${i}`);
      assert.equal(nb.cells[i].kind === 'code', c.cell_type === 'code');
    });
    assert.deepEqual(
      nb.codeCells.map((c) => c.index),
      json.cells.flatMap((c, i) => (c.cell_type === 'code' ? [i] : [])),
    );
  }
});

test('every character of every code cell maps to the JSON character that encodes it, and back', () => {
  let checked = 0;
  for (const path of NOTEBOOKS) {
    const { text, nb } = read(path);
    const lines = text.split('\n');
    for (const cell of nb.codeCells) {
      const cellLines = cell.text.split('\n');
      cellLines.forEach((line, l) => {
        for (let ch = 0; ch <= line.length; ch++) {
          const at = cellToFile(nb, cell, { line: l, character: ch });
          const raw = lines[at.line].slice(at.character);
          // The character in the cell (or the newline that ends its line) is what the JSON at that place decodes to.
          const expected = ch < line.length ? line[ch] : l < cellLines.length - 1 ? '\n' : undefined;
          if (expected === undefined) {
            assert.equal(raw[0], '"', `${path}: the end of a cell is its source string's closing quote`);
            continue;
          }
          const token = raw[0] === '\\' ? (raw[1] === 'u' ? raw.slice(0, 6) : raw.slice(0, 2)) : raw[0];
          assert.equal(JSON.parse(`"${token}"`), expected, `${path} cell ${cell.index} ${l}:${ch}`);
          const back = fileToCell(nb, at);
          assert.equal(back?.cell, cell);
          assert.deepEqual(back?.position, { line: l, character: ch });
          checked++;
        }
      });
    }
  }
  assert.ok(checked > 30_000, `${checked} characters`);
});

test("Opacus' image-classifier tutorial: make_private's call is found in the joined text on its cell and its JSON line", async () => {
  const { text, nb } = read(join(OPACUS, 'building_image_classifier.ipynb'));
  const joined = joinCodeCells(nb.codeCells);
  assert.equal(joined.text.split('\n').length, nb.codeCells.reduce((n, c) => n + c.text.split('\n').length, 0));
  assert.deepEqual(await syntaxErrors(joined.text), []);
  const line = joined.text.split('\n').findIndex((l) => l.includes('privacy_engine.make_private_with_epsilon('));
  const character = joined.text.split('\n')[line].indexOf('make_private');
  const inCell = joinedToCell(joined, { line, character });
  assert.ok(inCell);
  const cell = nb.codeCells[inCell.cell];
  assert.equal(cell.text.split('\n')[inCell.position.line].slice(inCell.position.character, inCell.position.character + 12), 'make_private');
  assert.deepEqual(cellToJoined(joined, inCell.cell, inCell.position), { line, character });
  // Found independently in the .ipynb: the one JSON source line holding the call.
  const fileLines = text.split('\n');
  const jsonLine = fileLines.findIndex((l) => l.includes('privacy_engine.make_private_with_epsilon('));
  const inFile = cellToFile(nb, cell, inCell.position);
  assert.deepEqual(inFile, { line: jsonLine, character: fileLines[jsonLine].indexOf('make_private') });
  const r = cellRangeToFile(nb, cell, { start: inCell.position, end: { ...inCell.position, character: inCell.position.character + 12 } });
  assert.equal(fileLines[r.start.line].slice(r.start.character, r.end.character), 'make_private');
});

test('every public notebook joins into Python tree-sitter parses; the only errors are typos in the tutorials themselves', async () => {
  const broken: string[] = [];
  for (const path of NOTEBOOKS) {
    const { nb } = read(path);
    const joined = joinCodeCells(nb.codeCells);
    let next = 0;
    joined.spans.forEach((s, i) => {
      assert.equal(s.cell, i);
      assert.equal(s.firstLine, next);
      next += s.lineCount;
    });
    assert.equal(next, joined.text.split('\n').length);
    // Every error in the joined text lies in a cell that is not Python on its own (joining adds none).
    for (const e of await syntaxErrors(joined.text)) {
      const line = Number(/^line (\d+)/.exec(e)![1]) - 1;
      const cell = joinedToCell(joined, { line, character: 0 })!.cell;
      assert.ok((await syntaxErrors(joinCodeCells([nb.codeCells[cell]]).text)).length > 0, `${path}: ${e}`);
      broken.push(`${path.split('/').pop()} cell ${nb.codeCells[cell].index + 1}`);
    }
  }
  // Opacus' guide_to_grad_sampler shows DP-SGD by hand in pseudo-Python (`for x, y i DataLoader(…)`, `zero_grad().`);
  // guide_to_module_validator ends a list with `]. # quite a mouthful`. Both are typos in the published tutorials.
  assert.deepEqual([...new Set(broken)], ['guide_to_grad_sampler.ipynb cell 4', 'guide_to_module_validator.ipynb cell 9']);
});

test("TensorFlow Privacy's Colab tutorial: `!pip install` is blanked on its own line; joined raw it is a syntax error", async () => {
  const { nb } = read(TFP);
  const raw = nb.codeCells.map((c) => c.text).join('\n');
  assert.ok((await syntaxErrors(raw)).length > 0, 'the cell as written is not Python');
  const joined = joinCodeCells(nb.codeCells);
  const pip = nb.codeCells.findIndex((c) => c.text.startsWith('!pip install tensorflow-privacy'));
  assert.ok(pip > 0);
  assert.equal(joined.text.split('\n')[joined.spans[pip].firstLine], '');
  // The cell after it keeps its text at its own lines.
  const after = joined.spans[pip + 1];
  assert.equal(joined.text.split('\n')[after.firstLine], nb.codeCells[pip + 1].text.split('\n')[0]);
});

test('IPython syntax blanked line for line; Python that looks like it is kept', async () => {
  const cells = [
    { text: '%matplotlib inline\nimport torch\n!nvidia-smi' },
    { text: 'files = !ls data\nout = %timeit -o f()\nx == !y' },
    { text: 'torch.nn.Linear?\n?torch\nobj??' },
    { text: '%%bash\necho hi\nfor f in *; do echo $f; done' },
    { text: '%%time\nmodel = train(model)\n' },
    { text: 'if True:\n    !pip install opacus\n    %cd data\nprint(1)' },
    { text: 's = """\n%d items\n!not a shell line\n"""\ncd = 3\nrun(x)\npip install opacus==1.4\nload_ext autoreload' },
    { text: '!pip install \\\n    opacus\nx = 1' },
    { text: '' },
  ];
  const joined = joinCodeCells(cells);
  const lines = joined.text.split('\n');
  const cell = (i: number): string[] => lines.slice(joined.spans[i].firstLine, joined.spans[i].firstLine + joined.spans[i].lineCount);
  assert.deepEqual(cell(0), ['', 'import torch', '']);
  assert.deepEqual(cell(1), ['', '', 'x == !y'], 'a comparison is not an assignment from a shell command');
  assert.deepEqual(cell(2), ['', '', '']);
  assert.deepEqual(cell(3), ['', '', ''], 'a %%bash cell whole');
  assert.deepEqual(cell(4), ['', 'model = train(model)', ''], "%%time's body is Python IPython runs");
  assert.deepEqual(cell(5), ['if True:', '    pass', '    pass', 'print(1)'], 'inside a block, `pass` keeps it a block');
  assert.deepEqual(cell(6), ['s = """', '%d items', '!not a shell line', '"""', 'cd = 3', 'run(x)', '', '']);
  assert.deepEqual(cell(7), ['', '', 'x = 1'], 'a continued shell line with its continuation');
  assert.deepEqual(cell(8), ['']);
  assert.equal(joined.spans.at(-1)!.firstLine + 1, lines.length);
  const errors = await syntaxErrors(joined.text.replace('x == !y', 'x == y'));
  assert.deepEqual(errors, []);
});

test('joined ranges map to their cell; a range running past its cell is cut at the cell end', () => {
  const joined = joinCodeCells([{ text: 'a = 1\nb = (2,' }, { text: 'c = 3' }]);
  assert.deepEqual(joinedRangeToCell(joined, { start: { line: 2, character: 0 }, end: { line: 2, character: 5 } }), {
    cell: 1,
    range: { start: { line: 0, character: 0 }, end: { line: 0, character: 5 } },
  });
  assert.deepEqual(joinedRangeToCell(joined, { start: { line: 1, character: 4 }, end: { line: 2, character: 5 } }), {
    cell: 0,
    range: { start: { line: 1, character: 4 }, end: { line: 1, character: 7 } },
  });
  assert.equal(joinedToCell(joined, { line: 3, character: 0 }), undefined);
  assert.equal(cellToJoined(joined, 1, { line: 1, character: 0 }), undefined);
});

test('bad input: broken JSON, JSON that is no notebook, other languages, nbformat 3', () => {
  const good = readFileSync(join(OPACUS, 'guide_to_grad_sampler.ipynb'), 'utf8');
  const cut = good.slice(0, 4000);
  const broken = parseNotebook('cut.ipynb', cut);
  assert.equal(broken.kind, 'error');
  if (broken.kind === 'error') {
    assert.match(broken.message, /not valid JSON/);
    assert.equal(broken.range.start.line, cut.split('\n').length - 1, 'located where the text stops');
  }
  const empty = parseNotebook('empty.ipynb', '');
  assert.equal(empty.kind, 'error');
  const notNb = parseNotebook('x.ipynb', '{\n  "name": "package"\n}');
  assert.equal(notNb.kind, 'error');
  if (notNb.kind === 'error') assert.match(notNb.message, /Not a Jupyter notebook/);
  assert.equal(parseNotebook('a.ipynb', '[1, 2]').kind, 'error');
  const r = parseNotebook('r.ipynb', JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'ir', language: 'R' } }, cells: [] }, null, 1));
  assert.equal(r.kind, 'not-python');
  if (r.kind === 'not-python') {
    assert.equal(r.language, 'r');
    assert.match(r.message, /only Python notebooks/);
    assert.equal(r.range.start.line, 6, 'at "language": "R"');
  }
  const julia = parseNotebook('j.ipynb', JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { language_info: { name: 'julia' } }, cells: [] }));
  assert.equal(julia.kind, 'not-python');
  const v3 = parseNotebook(
    'v3.ipynb',
    JSON.stringify({ nbformat: 3, nbformat_minor: 0, metadata: {}, worksheets: [{ cells: [{ cell_type: 'code', language: 'python', input: ['import opacus\n', 'x = 1'] }, { cell_type: 'heading', source: 'T' }] }] }),
  );
  assert.equal(v3.kind, 'notebook');
  if (v3.kind === 'notebook') {
    assert.equal(v3.codeCells.length, 1);
    assert.equal(v3.codeCells[0].text, 'import opacus\nx = 1');
    assert.equal(v3.cells[1].kind, 'markdown');
  }
});

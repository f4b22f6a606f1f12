// Jupyter notebooks (.ipynb) as Python source: the code cells are joined into one Python text that the rest of
// pysource reads like a script, with a map that takes every position in that text back to its cell, and a cell
// position to the place in the .ipynb JSON that holds it (for SARIF and the CLI's file:line:col, where no cell URI
// exists). The notebook is read as data; nothing in it runs.

import { parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from 'jsonc-parser';
import { LineIndex, type Position, type Range } from '../config/keyTree';

export const NOTEBOOK_EXTENSION = '.ipynb';

export type CellKind = 'code' | 'markdown' | 'raw';

export interface NotebookCell {
  /** 0-based index among all the notebook's cells (markdown too): Jupyter's order, what "cell N" counts (1-based). */
  index: number;
  kind: CellKind;
  /** The cell's source as Jupyter joins it (a list of strings is concatenated as written). */
  text: string;
  /**
   * For each UTF-16 offset of `text` (and one past its end), the offset in the .ipynb text of the JSON character that
   * encodes it (an escape such as `\n` or `\u00e9` maps to its backslash). Empty for a cell without a source string.
   */
  jsonOffsets: Int32Array;
}

export interface NotebookProblem {
  kind: 'error';
  file: string;
  message: string;
  /** In the .ipynb text. */
  range: Range;
}

export interface Notebook {
  kind: 'notebook';
  file: string;
  /** 'python' or the language the notebook's metadata names (lower case). */
  language: string;
  nbformat: number;
  cells: NotebookCell[];
  /** The code cells, in order: what `joinCodeCells` joins (a span's `cell` indexes this list). */
  codeCells: NotebookCell[];
  /** The .ipynb text's line index, for cell → file positions. */
  lines: LineIndex;
}

/** A notebook in another language (R, Julia, Scala): read, and said not to be Python. */
export interface ForeignNotebook {
  kind: 'not-python';
  file: string;
  language: string;
  message: string;
  /** Where the language is named in the .ipynb (its metadata), or the file's start. */
  range: Range;
}

export type NotebookReading = Notebook | ForeignNotebook | NotebookProblem;

/** Notebooks larger than this are not read (outputs with images can be tens of megabytes; training code is not). */
export const MAX_NOTEBOOK_CHARS = 20_000_000;

/** Reads an .ipynb text. Never throws: bad JSON or a JSON file that is not a notebook is a located problem. */
export function parseNotebook(file: string, text: string): NotebookReading {
  const lines = new LineIndex(text);
  const at = (offset: number, length = 1): Range => lines.range(offset, offset + Math.max(1, length));
  if (text.length > MAX_NOTEBOOK_CHARS) {
    return { kind: 'error', file, message: `Notebook too large to read (${text.length} characters, limit ${MAX_NOTEBOOK_CHARS}).`, range: at(0) };
  }
  let root: JsonNode | undefined;
  const errors: ParseError[] = [];
  try {
    root = parseTree(text, errors, { allowTrailingComma: false, disallowComments: true });
  } catch (e) {
    return { kind: 'error', file, message: `Notebook JSON could not be read: ${(e as Error).message}`, range: at(0) };
  }
  if (errors.length || !root) {
    const first = errors[0];
    const words = first ? printParseErrorCode(first.error).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase() : 'empty file';
    return { kind: 'error', file, message: `Notebook is not valid JSON: ${words}.`, range: at(first?.offset ?? 0, first?.length) };
  }
  if (root.type !== 'object') return { kind: 'error', file, message: 'Not a Jupyter notebook: the file is not a JSON object.', range: at(root.offset) };
  const nbformatNode = property(root, 'nbformat');
  const nbformat = typeof nbformatNode?.value === 'number' ? nbformatNode.value : undefined;
  // nbformat 4 keeps `cells` at the top; nbformat 3 kept them in worksheets[0].cells with `input` for code.
  let cellsNode = property(root, 'cells');
  if (!cellsNode && nbformat === 3) cellsNode = property(property(root, 'worksheets')?.children?.[0], 'cells');
  if (!cellsNode || cellsNode.type !== 'array' || nbformat === undefined) {
    return { kind: 'error', file, message: 'Not a Jupyter notebook: no "nbformat" number and "cells" list at its top level.', range: at(root.offset) };
  }
  if (nbformat < 3 || nbformat > 4) {
    return { kind: 'error', file, message: `Jupyter notebook format ${nbformat} is not read (formats 3 and 4 are).`, range: at(nbformatNode!.offset, nbformatNode!.length) };
  }
  const language = notebookLanguage(root);
  if (language.name !== 'python') {
    return {
      kind: 'not-python',
      file,
      language: language.name,
      message: `Notebook in ${language.name}: only Python notebooks are read for DP training code.`,
      range: language.node ? at(language.node.offset, language.node.length) : at(root.offset),
    };
  }
  const cells: NotebookCell[] = [];
  (cellsNode.children ?? []).forEach((c, index) => {
    const type = property(c, 'cell_type')?.value;
    const kind: CellKind = type === 'code' ? 'code' : type === 'markdown' || type === 'heading' ? 'markdown' : 'raw';
    const source = property(c, nbformat === 3 && kind === 'code' ? 'input' : 'source');
    const { text: cellText, offsets } = decodeSource(text, source);
    cells.push({ index, kind, text: cellText, jsonOffsets: offsets });
  });
  return { kind: 'notebook', file, language: 'python', nbformat, cells, codeCells: cells.filter((c) => c.kind === 'code'), lines };
}

function property(node: JsonNode | undefined, key: string): JsonNode | undefined {
  if (!node || node.type !== 'object') return undefined;
  for (const p of node.children ?? []) if (p.children?.[0]?.value === key) return p.children[1];
  return undefined;
}

/**
 * The notebook's language: `metadata.kernelspec.language`, else `metadata.language_info.name`, else a kernel named
 * python* (Colab writes `{"name": "python3"}` only); a notebook with none of these is taken as Python, Jupyter's
 * default kernel.
 */
function notebookLanguage(root: JsonNode): { name: string; node?: JsonNode } {
  const metadata = property(root, 'metadata');
  const kernelspec = property(metadata, 'kernelspec');
  for (const node of [property(kernelspec, 'language'), property(property(metadata, 'language_info'), 'name')]) {
    if (typeof node?.value === 'string' && node.value.trim()) return { name: node.value.trim().toLowerCase(), node };
  }
  const kernel = property(kernelspec, 'name');
  if (typeof kernel?.value === 'string' && !/^python/i.test(kernel.value) && kernel.value.trim()) return { name: kernel.value.trim().toLowerCase(), node: kernel };
  return { name: 'python' };
}

/** A cell's source (a string, or a list of strings Jupyter concatenates) decoded, with each character's JSON offset. */
function decodeSource(json: string, source: JsonNode | undefined): { text: string; offsets: Int32Array } {
  const parts = source?.type === 'string' ? [source] : source?.type === 'array' ? (source.children ?? []).filter((n) => n.type === 'string') : [];
  const chars: string[] = [];
  const offsets: number[] = [];
  let end = source ? source.offset + 1 : 0;
  for (const part of parts) {
    // The token is `"…"`: walk between the quotes, one JSON character (or escape) per decoded UTF-16 unit.
    const stop = part.offset + part.length - 1;
    let i = part.offset + 1;
    while (i < stop) {
      const start = i;
      let ch = json[i];
      if (ch === '\\') {
        const e = json[i + 1];
        if (e === 'u') {
          ch = String.fromCharCode(parseInt(json.slice(i + 2, i + 6), 16));
          i += 6;
        } else {
          ch = ({ n: '\n', t: '\t', r: '\r', b: '\b', f: '\f', '"': '"', '\\': '\\', '/': '/' } as Record<string, string>)[e] ?? e;
          i += 2;
        }
      } else i += 1;
      chars.push(ch);
      offsets.push(start);
    }
    end = stop;
  }
  offsets.push(end);
  return { text: chars.join(''), offsets: Int32Array.from(offsets) };
}

/** A code cell's line in the joined text: which cell, and where its lines start there. */
export interface CellSpan {
  /** Index into the cells given to joinCodeCells (for a parsed notebook: its `codeCells`). */
  cell: number;
  /** 0-based line of the joined text where the cell's first line is. */
  firstLine: number;
  lineCount: number;
}

export interface JoinedCells {
  /** Python text: the cells one after the other, each starting on a new line, IPython-only lines blanked. */
  text: string;
  spans: CellSpan[];
}

/**
 * Cell magics whose body is Python that IPython runs in the notebook's namespace (timed, captured, profiled): only
 * their first line is blanked. Every other `%%magic` cell (bash, html, writefile, a kernel extension's language) is
 * blanked whole: its body is not Python, or does not run as the notebook's own code. Ruff keeps the same distinction
 * for its notebook linting (it reads %%time/%%timeit/%%capture bodies and skips other cell magics).
 */
const PYTHON_BODY_CELL_MAGICS = new Set(['time', 'timeit', 'capture', 'prun', 'debug']);

/**
 * IPython's automagic: with `%automagic` on (IPython's default), `pip install x` on its own line runs `%pip install x`.
 * Only these names, followed by an argument (a word or a flag, never an operator), are taken as such; `cd = 3` or
 * `run(x)` stay Python.
 */
const AUTOMAGIC = /^(pip|conda|mamba|cd|load_ext|matplotlib|autoreload|run)\s+[-\w.'"]/;

/**
 * Joins code cells into one Python text tree-sitter can read, one line per cell line so positions map back exactly.
 * IPython syntax that is not Python is blanked line for line (IPython rewrites it before Python sees it, see
 * IPython.core.inputtransformer2): `%magic` and `!shell` lines, `x = !cmd` / `x = %magic` assignments, `?name` and
 * `name?` help, automagic (`pip install …`), and `%%magic` cells whole except those whose body is Python. Inside an
 * indented block a blanked line becomes `pass` at its indentation so the block around it still parses. Lines inside
 * a triple-quoted string are left alone (`%d` at the start of a docstring line is text, not a magic).
 */
export function joinCodeCells(cells: readonly { text: string }[]): JoinedCells {
  const out: string[] = [];
  const spans: CellSpan[] = [];
  cells.forEach((c, cell) => {
    const lines = c.text.split(/\r\n|\r|\n/);
    spans.push({ cell, firstLine: out.length, lineCount: lines.length });
    out.push(...blankIPython(lines));
  });
  return { text: out.join('\n'), spans };
}

function blankIPython(lines: string[]): string[] {
  const first = lines.findIndex((l) => l.trim() !== '');
  const cellMagic = first >= 0 ? /^\s*%%(\w+)/.exec(lines[first]) : null;
  if (cellMagic && !PYTHON_BODY_CELL_MAGICS.has(cellMagic[1])) return lines.map(() => '');
  const result: string[] = [];
  let inString: string | undefined; // the triple quote a multi-line string opened with
  let continued = false; // the previous blanked line ended with a backslash: this one belongs to it
  for (const [i, line] of lines.entries()) {
    const ipython = !inString && (continued || (cellMagic !== null && i === first) || isIPythonLine(line));
    if (ipython) {
      const indent = /^\s*/.exec(line)![0];
      result.push(indent && !continued ? `${indent}pass` : '');
      continued = /\\\s*$/.test(line);
      continue;
    }
    continued = false;
    result.push(line);
    inString = tripleQuoteState(line, inString);
  }
  return result;
}

function isIPythonLine(line: string): boolean {
  const s = line.trimStart();
  if (s.startsWith('%') || s.startsWith('!') || s.startsWith('?')) return true;
  // `files = !ls`, `t = %timeit -o f()`: an assignment whose right side is a shell command or a line magic.
  if (/^[\w.,\s[\]()]+=\s*[!%]/.test(s) && !/^[\w.,\s[\]()]+==/.test(s)) return true;
  // `torch.nn.Linear?` / `obj??`: help on a name (a `?` ending a line is never Python).
  if (/^[\w.]+\?\??\s*$/.test(s)) return true;
  return AUTOMAGIC.test(s) && !/^\w+\s+(=|\+=|-=|\*=|\/=|==|!=|if\b|for\b|in\b|and\b|or\b|is\b|not\b)/.test(s);
}

/** Tracks whether a line ends inside a triple-quoted string (enough for docstrings and long literals). */
function tripleQuoteState(line: string, open: string | undefined): string | undefined {
  let state = open;
  let i = 0;
  while (i < line.length) {
    if (state) {
      const close = line.indexOf(state, i);
      if (close < 0) return state;
      state = undefined;
      i = close + 3;
      continue;
    }
    const ch = line[i];
    if (ch === '#') return undefined;
    if (line.startsWith('"""', i) || line.startsWith("'''", i)) {
      state = line.slice(i, i + 3);
      i += 3;
      continue;
    }
    if (ch === '"' || ch === "'") {
      // A one-line string: skip to its closing quote.
      let j = i + 1;
      while (j < line.length && line[j] !== ch) j += line[j] === '\\' ? 2 : 1;
      i = j + 1;
      continue;
    }
    i += 1;
  }
  return state;
}

/** A position in the joined text → the cell (index into the joined cells) and the position in that cell. */
export function joinedToCell(joined: JoinedCells, position: Position): { cell: number; position: Position } | undefined {
  const span = spanAt(joined.spans, position.line);
  if (!span) return undefined;
  return { cell: span.cell, position: { line: position.line - span.firstLine, character: position.character } };
}

/**
 * A range in the joined text → its cell and the range in that cell. A range that runs past its first cell's end
 * (a parse that swallowed the next cell) is cut at the end of that cell's last line.
 */
export function joinedRangeToCell(joined: JoinedCells, range: Range): { cell: number; range: Range } | undefined {
  const span = spanAt(joined.spans, range.start.line);
  if (!span) return undefined;
  const start = { line: range.start.line - span.firstLine, character: range.start.character };
  let end = { line: range.end.line - span.firstLine, character: range.end.character };
  if (end.line >= span.lineCount) {
    const lastLine = span.firstLine + span.lineCount - 1;
    end = { line: span.lineCount - 1, character: lineLength(joined.text, lastLine) };
  }
  return { cell: span.cell, range: { start, end } };
}

/** A position in a cell (index into the joined cells) → the position in the joined text. */
export function cellToJoined(joined: JoinedCells, cell: number, position: Position): Position | undefined {
  const span = joined.spans.find((s) => s.cell === cell);
  if (!span || position.line < 0 || position.line >= span.lineCount) return undefined;
  return { line: span.firstLine + position.line, character: position.character };
}

/** A position in a notebook cell → where the .ipynb text holds that character (inside its JSON source string). */
export function cellToFile(notebook: Notebook, cell: NotebookCell, position: Position): Position {
  if (!cell.jsonOffsets.length) return notebook.lines.position(0);
  // Offsets in the cell text, counting its own line breaks (\r\n counts two).
  let offset = 0;
  for (let line = 0; line < position.line; line++) {
    const nl = nextLineStart(cell.text, offset);
    if (nl < 0) break;
    offset = nl;
  }
  const lineEnd = lineEndAt(cell.text, offset);
  offset = Math.min(offset + Math.max(0, position.character), lineEnd);
  return notebook.lines.position(cell.jsonOffsets[Math.min(offset, cell.jsonOffsets.length - 1)]);
}

/** A range in a notebook cell → its range in the .ipynb text. */
export function cellRangeToFile(notebook: Notebook, cell: NotebookCell, range: Range): Range {
  return { start: cellToFile(notebook, cell, range.start), end: cellToFile(notebook, cell, range.end) };
}

/**
 * The inverse, for a position in the .ipynb text (a SARIF region, a CLI `file:line:col`): the code cell whose source
 * holds it and the position in that cell, or undefined outside every code cell's source.
 */
export function fileToCell(notebook: Notebook, position: Position): { cell: NotebookCell; position: Position } | undefined {
  const target = offsetOf(notebook.lines.text, position);
  for (const cell of notebook.codeCells) {
    const o = cell.jsonOffsets;
    if (!o.length || target < o[0] || target > o[o.length - 1]) continue;
    // Offsets rise with the text: the last character starting at or before the target holds it.
    let lo = 0;
    let hi = o.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (o[mid] <= target) lo = mid;
      else hi = mid - 1;
    }
    return { cell, position: new LineIndex(cell.text.replace(/\r\n?/g, (m) => (m.length === 2 ? ' \n' : '\n'))).position(lo) };
  }
  return undefined;
}

function spanAt(spans: readonly CellSpan[], line: number): CellSpan | undefined {
  let lo = 0;
  let hi = spans.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = spans[mid];
    if (line < s.firstLine) hi = mid - 1;
    else if (line >= s.firstLine + s.lineCount) lo = mid + 1;
    else return s;
  }
  return undefined;
}

function nextLineStart(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) return i + 1;
    if (c === 13) return text.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
  }
  return -1;
}

function lineEndAt(text: string, from: number): number {
  let i = from;
  while (i < text.length && text.charCodeAt(i) !== 10 && text.charCodeAt(i) !== 13) i++;
  return i;
}

/** A 0-based line/character in a text whose lines end with \n → its offset (clamped to the line). */
function offsetOf(text: string, position: Position): number {
  let offset = 0;
  for (let l = 0; l < position.line; l++) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) return text.length;
    offset = nl + 1;
  }
  return Math.min(offset + Math.max(0, position.character), lineEndAt(text, offset));
}

function lineLength(text: string, line: number): number {
  let offset = 0;
  for (let l = 0; l < line; l++) {
    const nl = text.indexOf('\n', offset);
    if (nl < 0) return 0;
    offset = nl + 1;
  }
  return lineEndAt(text, offset) - offset;
}

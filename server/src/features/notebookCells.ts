// An open Jupyter notebook in the editor (LSP 3.17 notebook document sync): its Python code cells are read joined, as
// the Python of a file at the notebook's path (pysource/notebook.ts joins them and maps lines), and what the server
// says about that joined text goes back to the cell it belongs to: diagnostics per cell URI, and hovers, inlay hints,
// code lenses and quick fixes asked on a cell position mapped through the same spans.

import type { CodeAction, CodeLens, Diagnostic, Hover, InlayHint, TextEdit } from 'vscode-languageserver';
import type { Position, Range } from '../config/keyTree';
import { cellToJoined, joinCodeCells, joinedRangeToCell, joinedToCell, type JoinedCells } from '../pysource/notebook';
import { notebookWordingBy } from '../pysource/notebookReading';
import { setAsideBrokenCells, type BrokenCell } from '../pysource/cellSyntax';
import { RULES, ruleDocumentation } from '../config/ruleCatalog';
import type { Finding } from '../analysis/configFindings';

/** The code cells of an open notebook as one reading saw them: the view built from it maps through these spans. */
export interface NotebookCells extends JoinedCells {
  /** The notebook document's URI (file:…/x.ipynb). */
  uri: string;
  /**
   * The Python code cells in notebook order (spans index these): each cell's own text document URI, its text, and its
   * number as Jupyter and VS Code count cells (1-based among all cells, markdown too).
   */
  cells: { uri: string; text: string; number: number }[];
  /** Cells that do not parse (pysource/cellSyntax.ts): blanked in `text`, each gets a located message. */
  broken: BrokenCell[];
}

/** The cells joined; a cell that does not parse is set aside so the others are still read. */
export async function notebookCells(uri: string, cells: { uri: string; text: string; number: number }[]): Promise<NotebookCells> {
  const { joined, broken } = await setAsideBrokenCells(joinCodeCells(cells));
  return { uri, cells, text: joined.text, spans: joined.spans, broken };
}

/**
 * The message on a cell Python cannot parse (I2F144, "Python file not read", for this one cell): where the error is,
 * and that the other cells are read without it. In the joined text's lines, like every other finding.
 */
export function brokenCellFindings(nb: NotebookCells, file: string): Finding[] {
  const rule = RULES.pythonNotRead;
  return nb.broken.map((b) => {
    return {
      code: rule.code,
      severity: rule.severity,
      file,
      range: b.range,
      documentation: ruleDocumentation(rule),
      // "line N" of the joined text, said as "cell C, line L" with every other message (inNotebookWords).
      message: `Python syntax error at line ${b.range.start.line + 1}, column ${b.range.start.character + 1} (${b.what}): IPython would not run this cell, so its code is left out of the DP reading; the other cells are read without it.`,
    };
  });
}

/** The index of the cell with this URI among the notebook's code cells, or -1. */
export function cellIndexOf(nb: NotebookCells, cellUri: string): number {
  return nb.cells.findIndex((c) => c.uri === cellUri);
}

/** A position in a cell → the same position in the joined text (a line past the cell's end: its last line). */
export function toJoined(nb: NotebookCells, cell: number, p: Position): Position {
  const span = nb.spans.find((s) => s.cell === cell);
  if (!span) return p;
  return cellToJoined(nb, cell, { line: Math.max(0, Math.min(p.line, span.lineCount - 1)), character: p.character }) ?? p;
}

/** A range of the joined text → the cell holding its start and the range there (cut at that cell's end). */
export function toCell(nb: NotebookCells, r: Range): { cell: number; range: Range } | undefined {
  return joinedRangeToCell(nb, r);
}

/** Every code cell's diagnostics (an empty list for a cell with none, so what it showed before is cleared). */
export function diagnosticsByCell(nb: NotebookCells, diagnostics: Diagnostic[]): Map<string, Diagnostic[]> {
  const out = new Map<string, Diagnostic[]>(nb.cells.map((c) => [c.uri, []]));
  for (const d of diagnostics) {
    const at = toCell(nb, d.range);
    if (!at) continue;
    out.get(nb.cells[at.cell].uri)!.push({ ...d, range: at.range, message: inNotebookWords(nb, d.message) });
  }
  return out;
}

/** A range in one cell → the joined text's range. */
export function rangeToJoined(nb: NotebookCells, cell: number, r: Range): Range {
  return { start: toJoined(nb, cell, r.start), end: toJoined(nb, cell, r.end) };
}

/** A hover computed on the joined text, back in the cell (its range there). */
export function hoverInCell(nb: NotebookCells, hover: Hover | null): Hover | null {
  if (!hover) return hover;
  const c = hover.contents;
  const contents = typeof c === 'string' ? inNotebookWords(nb, c) : 'kind' in c ? { ...c, value: inNotebookWords(nb, c.value) } : c;
  const at = hover.range ? toCell(nb, hover.range) : undefined;
  return at ? { contents, range: at.range } : { contents };
}

/**
 * What the reading wrote about the joined text, said for the notebook: "line N" becomes "cell C, line L" (C as VS
 * Code's "Cell C of …" and Jupyter count, L in the cell), "script" becomes "notebook" (pysource/notebookReading.ts).
 */
export function inNotebookWords(nb: NotebookCells, text: string): string {
  return notebookWordingBy(text, (line) => {
    const at = joinedToCell(nb, { line, character: 0 });
    return at ? `cell ${nb.cells[at.cell].number}, line ${at.position.line + 1}` : undefined;
  });
}

/** Hints of the joined text that fall in this cell, at their cell positions. */
export function hintsInCell(nb: NotebookCells, cell: number, hints: InlayHint[]): InlayHint[] {
  const out: InlayHint[] = [];
  for (const h of hints) {
    const at = toCell(nb, { start: h.position, end: h.position });
    if (at?.cell === cell) out.push({ ...h, position: at.range.start });
  }
  return out;
}

/** Lenses of the joined text that fall in this cell. */
export function lensesInCell(nb: NotebookCells, cell: number, lenses: CodeLens[]): CodeLens[] {
  const out: CodeLens[] = [];
  for (const l of lenses) {
    const at = toCell(nb, l.range);
    if (at?.cell === cell) out.push({ ...l, range: at.range });
  }
  return out;
}

/** A quick fix's edits of the joined text (keyed by the notebook's URI) become edits of the cells they fall in. */
export function actionInCells(nb: NotebookCells, action: CodeAction): CodeAction {
  const changes = action.edit?.changes;
  if (!changes?.[nb.uri]) return action;
  const mapped: Record<string, TextEdit[]> = {};
  for (const [uri, edits] of Object.entries(changes)) {
    if (uri !== nb.uri) {
      mapped[uri] = edits;
      continue;
    }
    for (const e of edits) {
      const at = toCell(nb, e.range);
      if (at) (mapped[nb.cells[at.cell].uri] ??= []).push({ ...e, range: at.range });
    }
  }
  // The diagnostics it fixes are the cells' own (the client matches them by range).
  const diagnostics = action.diagnostics?.map((d) => {
    const at = toCell(nb, d.range);
    return at ? { ...d, range: at.range } : d;
  });
  return { ...action, ...(diagnostics ? { diagnostics } : {}), edit: { ...action.edit, changes: mapped } };
}

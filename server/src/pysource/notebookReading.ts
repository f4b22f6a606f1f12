// A Jupyter notebook read for DP training like a script: its code cells joined (notebook.ts), read by readPythonFile,
// and everything that reading located taken back into the .ipynb. Ranges become places in the .ipynb text (the JSON
// string that holds each source line, so SARIF regions and `file:line:col` point into the file), and every "line N"
// the reading wrote into a message becomes "cell C, line L" (Jupyter's cell number, 1-based over all cells as ruff
// counts them, and the line in that cell). The editor does not use this: it maps the joined text to cell URIs itself.

import { syntaxError, type ConfigSyntaxError, type Position, type Range } from '../config/keyTree';
import type { TrainingSetup } from '../config/trainingSetup';
import { cellRangeToFile, fileToCell, joinCodeCells, joinedRangeToCell, joinedToCell, parseNotebook, type JoinedCells, type Notebook } from './notebook';
import { mentionsDpLibrary, readPythonFile, type ReadPythonOptions } from './pythonSetup';
import { setAsideBrokenCells } from './cellSyntax';
import { RULES } from '../config/ruleCatalog';

/** UserError code of a notebook that is not read (broken JSON, not a notebook, not Python): rule I2F145. */
export const NOTEBOOK_NOT_READ = 'notebook-not-read';

/**
 * The DP libraries a notebook must name before a problem reading it is worth a finding: those whose call sites are read,
 * less plain `tensorflow` (every TensorFlow notebook names it; readPythonFile still reads it for TF Privacy's optimizers).
 */
const MENTIONS_DP = /opacus|tensorflow_privacy|flwr|optax|dp_transformers/;

export interface NotebookSetupReading {
  setup: TrainingSetup | null;
  notebook: Notebook;
  joined: JoinedCells;
}

/**
 * Reads an .ipynb for DP training. A Python notebook: its setup (or null without DP call sites), ranges in the .ipynb.
 * A broken or non-Python notebook that mentions a DP library: a located I2F145 problem; one that mentions none: null,
 * as ordinary Python gets no findings. Never throws.
 */
export async function readNotebookFile(file: string, text: string, options: ReadPythonOptions = {}): Promise<NotebookSetupReading | ConfigSyntaxError | null> {
  // Most notebooks name no DP library (readPythonFile's own test): not even their JSON is parsed.
  if (!options.parseAll && !mentionsDpLibrary(text)) return null;
  const nb = parseNotebook(file, text);
  if (nb.kind !== 'notebook') {
    if (!MENTIONS_DP.test(text)) return null;
    return syntaxError(file, 'json', nb.message, nb.range, NOTEBOOK_NOT_READ);
  }
  // A cell Python cannot parse is set aside (IPython would not run it), as the editor does (cellSyntax.ts).
  const { joined, broken } = await setAsideBrokenCells(joinCodeCells(nb.codeCells));
  const reading = await readPythonFile(file, joined.text, { ...options, notebook: true });
  if (reading.setup) {
    for (const b of broken) {
      reading.setup.problems.push({
        rule: RULES.pythonNotRead.code,
        range: b.range,
        message: `Python syntax error at line ${b.range.start.line + 1}, column ${b.range.start.character + 1} (${b.what}): IPython would not run that cell, so its code is left out of the DP reading; the other cells are read without it.`,
      });
    }
    toNotebookPlaces(reading.setup, nb, joined);
  }
  return { setup: reading.setup, notebook: nb, joined };
}

/** "cell 12, line 3" for a 0-based line of the joined text. */
export function cellLineLabel(nb: Notebook, joined: JoinedCells, joinedLine: number): string | undefined {
  const at = joinedToCell(joined, { line: joinedLine, character: 0 });
  if (!at) return undefined;
  return `cell ${nb.codeCells[at.cell].index + 1}, line ${at.position.line + 1}`;
}

/**
 * Moves a setup read from the joined text into the notebook: ranges to .ipynb places, "line N" to "cell C, line L",
 * "script" to "notebook" in what users read. Objects that belong to another file (a value read from a Flower app's
 * pyproject.toml carries its own `file`) are left as they are.
 */
function toNotebookPlaces(setup: TrainingSetup, nb: Notebook, joined: JoinedCells): void {
  const seen = new Set<object>();
  const range = (r: Range): void => {
    const at = joinedRangeToCell(joined, r);
    const cell = at ? nb.codeCells[at.cell] : undefined;
    const mapped: Range = at && cell ? cellRangeToFile(nb, cell, at.range) : { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
    // New positions, not edits of the old ones: two ranges may share a position object.
    r.start = mapped.start;
    r.end = mapped.end;
  };
  const visit = (value: unknown, owner: Record<string, unknown> | unknown[], key: string | number): void => {
    if (typeof value === 'string') {
      (owner as Record<string | number, unknown>)[key] = notebookWording(value, nb, joined);
      return;
    }
    if (!value || typeof value !== 'object' || seen.has(value)) return;
    seen.add(value);
    if (isRange(value)) {
      seen.add(value.start);
      seen.add(value.end);
      range(value);
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, value, i));
      return;
    }
    const o = value as Record<string, unknown>;
    if (typeof o.file === 'string' && o.file !== nb.file) return;
    for (const k of Object.keys(o)) if (k !== 'file') visit(o[k], o, k);
  };
  for (const k of Object.keys(setup)) if (k !== 'file') visit((setup as unknown as Record<string, unknown>)[k], setup as unknown as Record<string, unknown>, k);
}

function isRange(v: object): v is Range {
  const r = v as Partial<Range>;
  return isPosition(r.start) && isPosition(r.end) && Object.keys(v).length === 2;
}

function isPosition(p: unknown): p is Position {
  return !!p && typeof (p as Position).line === 'number' && typeof (p as Position).character === 'number';
}

/**
 * What the reading wrote for a script, said for a notebook. "line N" (a line of the joined text; never one of
 * another file, which is always named first: "pyproject.toml (line 3") becomes "cell C, line L"; outside `code`
 * spans, "script" becomes "notebook" (the reading's messages say "script" for the file it reads). Where a message
 * would give a script's remedy that has no notebook form (`if __name__ == "__main__":`), the reading itself says the
 * notebook's (pythonSetup.ts with `notebook`: notebookModule.ts's refusal and fix).
 */
export function notebookWording(text: string, nb: Notebook, joined: JoinedCells): string {
  return notebookWordingBy(text, (line) => cellLineLabel(nb, joined, line));
}

/**
 * notebookWording with the "cell C, line L" of a 0-based joined line given by `label`: the editor's open notebook has
 * its cells from the LSP client, not from an .ipynb text (features/notebookCells.ts).
 */
export function notebookWordingBy(text: string, label: (joinedLine: number) => string | undefined): string {
  return notebookWords(text.split(/(`[^`]*`)/).map((part, i) => (i % 2 === 1 ? part : part.replace(/(?<!\.\w{1,8} \(?)\bline (\d+)\b/g, (m, n: string) => label(Number(n) - 1) ?? m))).join(''));
}

/** "script" → "notebook" outside `code` spans, for texts written about the notebook after its reading (the audit's fixes). */
export function notebookWords(text: string): string {
  return text
    .split(/(`[^`]*`)/)
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part
          .replace(/\bstandalone scripts?\b/g, (m) => (m.endsWith('s') ? 'notebooks' : 'notebook'))
          .replace(/\bscript's\b/g, "notebook's")
          .replace(/\bscripts\b/g, 'notebooks')
          .replace(/\bscript\b/g, 'notebook'),
    )
    .join('');
}

/** Where a place in the .ipynb is in the notebook, as Jupyter numbers cells (1-based, all cells). */
export interface CellPlace {
  cell: number;
  /** 0-based, in the cell. */
  range: Range;
}

/** A function from places in an .ipynb text to their cell, or undefined for a text that is no Python notebook. */
export function cellPlaces(file: string, text: string): ((range: Range) => CellPlace | undefined) | undefined {
  const nb = parseNotebook(file, text);
  if (nb.kind !== 'notebook') return undefined;
  return (range) => {
    const start = fileToCell(nb, range.start);
    if (!start) return undefined;
    const end = fileToCell(nb, range.end);
    return { cell: start.cell.index + 1, range: { start: start.position, end: end && end.cell === start.cell ? end.position : start.position } };
  };
}

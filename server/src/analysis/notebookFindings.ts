// The audit's findings in a Jupyter notebook, placed as people read notebooks: each gets its cell (Jupyter's number,
// 1-based over all cells, as ruff reports `notebook.ipynb:cell 3:2:8`) and its line and column in that cell, beside
// the place in the .ipynb that SARIF and `file:line:col` consumers open. Texts the audit wrote about the file after
// reading it (a fix, an ε hint) say "notebook" where they said "script".

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { NOTEBOOK_EXTENSION } from '../pysource/notebook';
import { cellPlaces, notebookWords } from '../pysource/notebookReading';
import type { ConfigOutcome } from './report/model';

export function placeInNotebook(outcome: ConfigOutcome): void {
  if (extname(outcome.file).toLowerCase() !== NOTEBOOK_EXTENSION) return;
  let text: string;
  try {
    text = readFileSync(outcome.file, 'utf8');
  } catch {
    return;
  }
  const places = cellPlaces(outcome.file, text);
  if (!places) return; // not a Python notebook: its one finding (I2F145) is about the file
  for (const f of outcome.findings) {
    if (f.file !== outcome.file) continue;
    const at = places(f.range);
    if (at) f.cell = at;
    f.message = notebookWords(f.message);
  }
  if (outcome.fix) outcome.fix = notebookWords(outcome.fix);
  if (outcome.reason) outcome.reason = notebookWords(outcome.reason);
}

// A model defined in a Jupyter notebook cell, made importable for the export bridge: the notebook's imports, the
// definition the DP call trains and what it reads (pysource/notebookModule.ts) are written as a module into the cache,
// named by its contents, and the bridge loads that file by path with the notebook's folder as its root (so modules
// beside the notebook import as they do in Jupyter). Nothing else of the notebook runs. The module keeps the joined
// cells' line numbers, so a traceback through it is said as the notebook's cell and line.

import { promises as fs } from 'node:fs';
import { basename, join } from 'node:path';
import { UserError } from '../errors';
import { joinCodeCells, joinedToCell, parseNotebook, NOTEBOOK_EXTENSION, type JoinedCells, type Notebook } from '../pysource/notebook';
import { notebookHazardMessage, notebookModule } from '../pysource/notebookModule';
import { importHazard } from '../pysource/importSafety';
import { setAsideBrokenCells } from '../pysource/cellSyntax';
import { parsePython, pythonParser } from '../pysource/pythonParser';
import { writeGeneratedModule, type GeneratedFactory } from './generatedModule';

/** `<cache>/notebook-modules/<hash>/<stem>_ipynb.py:Name`, and its lines said as the notebook's cells and lines. */
export interface NotebookFactory extends GeneratedFactory {
  /** What the module defines, for the report. */
  defines: string[];
}

/** Whether a `module:Factory` names a notebook (`tutorial.ipynb:Net`, as pysource/pythonSetup.ts writes it). */
export function isNotebookFactory(factory: string): boolean {
  return factory.split(':')[0].toLowerCase().endsWith(NOTEBOOK_EXTENSION);
}

/** Writes the module for `notebook.ipynb:Name` (relative to root) into the cache and returns how the bridge loads it. */
export async function notebookFactory(factory: string, root: string, cacheDir: string): Promise<NotebookFactory> {
  const [file, name] = factory.split(':');
  const path = join(root, file);
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (e) {
    throw new UserError('notebook-not-read', `${file} could not be read to build ${name}: ${(e as Error).message}`);
  }
  const nb = parseNotebook(path, text);
  if (nb.kind !== 'notebook') throw new UserError('notebook-not-read', `${file} could not be read to build ${name}: ${nb.message}`);
  // The cells the reading read: one Python cannot parse is left out, as IPython would not run it (cellSyntax.ts).
  const { joined } = await setAsideBrokenCells(joinCodeCells(nb.codeCells));
  const parser = await pythonParser();
  const parsed = parsePython(parser, joined.text);
  if (parsed.kind !== 'tree') throw new UserError('notebook-not-read', `${file} could not be read to build ${name}: ${parsed.message}`);
  let module;
  try {
    module = notebookModule(parsed.tree.rootNode, joined.text, name);
  } finally {
    parsed.tree.delete();
  }
  if (!module.defines.includes(name)) throw new UserError('notebook-not-read', `${name} is not defined at the top level of ${file}'s code cells`);
  const place = (line: number) => placeOf(nb, joined, line);
  // The notebook may have changed since it was read: what is kept is checked again before any Python runs.
  const check = parsePython(parser, module.text);
  if (check.kind === 'tree') {
    try {
      const hazard = importHazard(path, check.tree.rootNode);
      if (hazard) throw new UserError('notebook-import-hazard', notebookHazardMessage(path, hazard, place(hazard.line) ?? `line ${hazard.line + 1}`));
    } finally {
      check.tree.delete();
    }
  }
  const stem = basename(file, NOTEBOOK_EXTENSION).replace(/\W/g, '_').replace(/^(\d)/, '_$1');
  const generated = await writeGeneratedModule(cacheDir, 'notebook-modules', `${stem}_ipynb.py`, module.text);
  return { factory: `${generated}:${name}`, generated, place, defines: module.defines };
}

function placeOf(nb: Notebook, joined: JoinedCells, line: number): string | undefined {
  const at = joinedToCell(joined, { line, character: 0 });
  return at ? `${basename(nb.file)} cell ${nb.codeCells[at.cell].index + 1}, line ${at.position.line + 1}` : undefined;
}

// The module the export bridge imports for a model class (or builder function) defined in a notebook cell. A notebook
// cannot be imported, and running it would train: the module is made of its top-level imports and class/function
// definitions, and the top-level assignments those definitions read (constants such as `NUM_CLASSES = 10`, followed
// name by name), nothing else (definitionsModule.ts): no training loop, no data loading, no DP call runs. A line of the
// module is the same line of the joined cells (notebook.ts), so a traceback maps back to its cell. What is kept is then
// checked by importSafety's rules like a script's top level: a kept constant that calls a cell's function or downloads
// a dataset is refused with its place.

import { basename } from 'node:path';
import { definitionsModule, type DefinitionsModule } from './definitionsModule';
import { importHazard, type ImportHazard } from './importSafety';
import type { SyntaxNode } from './pythonParser';

export type NotebookModule = Pick<DefinitionsModule, 'text' | 'defines'>;

/**
 * The importable part of a notebook's joined cells (`root` is their parse, `text` the joined text) for `name`, the
 * class or builder function the bridge builds (definitionsModule.ts).
 */
export function notebookModule(root: SyntaxNode, text: string, name: string): NotebookModule {
  const { text: module, defines } = definitionsModule(root, text, name);
  return { text: module, defines };
}

/** What importing the module would run that could train (importSafety's rules), if anything; `file` is the notebook. */
export function notebookModuleHazard(file: string, moduleRoot: SyntaxNode): ImportHazard | undefined {
  return importHazard(file, moduleRoot);
}

/** The refusal, located by `where` ("cell 4, line 2"), with the notebook's ways forward. */
export function notebookHazardMessage(file: string, hazard: ImportHazard, where: string): string {
  return `the export bridge builds a model defined in ${basename(file)} from the notebook's imports, definitions and the constants they use, never its other cells; one of those would run \`${hazard.what}\` (${where}: ${hazard.why})`;
}

/** The fix that goes with it. */
export function notebookHazardFix(file: string, name: string): string {
  return `make what ${name} needs from ${basename(file)} a literal constant or compute it inside ${name}, or define ${name} in a .py module beside the notebook and import it there`;
}


// The module the export bridge imports for a model class (or builder function) defined in a notebook cell. A notebook
// cannot be imported, and running it would train: the module is made of its top-level imports and class/function
// definitions, and the top-level assignments those definitions read (constants such as `NUM_CLASSES = 10`, followed
// name by name), nothing else: no training loop, no data loading, no DP call runs. Every other line is blank, so a line
// of the module is the same line of the joined cells (notebook.ts) and a traceback maps back to its cell. What is kept
// is then checked by importSafety's rules like a script's top level: a kept constant that calls a cell's function or
// downloads a dataset is refused with its place.

import { basename } from 'node:path';
import { importHazard, type ImportHazard } from './importSafety';
import type { SyntaxNode } from './pythonParser';

export interface NotebookModule {
  /** Python text, line for line with the joined cells; lines not kept are empty. */
  text: string;
  /** The names it defines (classes, functions, kept constants), for messages. */
  defines: string[];
}

const DEFINITIONS = new Set(['class_definition', 'function_definition', 'decorated_definition']);
const IMPORTS = new Set(['import_statement', 'import_from_statement', 'future_import_statement']);

/**
 * The importable part of a notebook's joined cells (`root` is their parse, `text` the joined text) for `name`, the
 * class or builder function the bridge builds: every top-level import, then `name`'s definition, and what it reads
 * from the notebook's top level (other definitions, constants), followed name by name. A function's parameters and
 * the names it assigns are its own (a `train(model, …)` beside the model does not pull in the cell's `model = …`).
 */
export function notebookModule(root: SyntaxNode, text: string, name: string): NotebookModule {
  const statements = root.namedChildren.filter((n): n is SyntaxNode => !!n && n.type !== 'comment');
  const kept = new Set<SyntaxNode>();
  const defines: string[] = [];
  const byName = new Map<string, SyntaxNode[]>();
  const add = (n: string, s: SyntaxNode) => byName.set(n, [...(byName.get(n) ?? []), s]);
  for (const s of statements) {
    if (IMPORTS.has(s.type) || importsOnly(s)) kept.add(s);
    else if (DEFINITIONS.has(s.type)) {
      const def = s.type === 'decorated_definition' ? s.childForFieldName('definition') : s;
      const n = def?.childForFieldName('name')?.text;
      if (n) add(n, s);
    } else if (s.type === 'expression_statement') {
      const a = assignmentOf(s);
      if (a) for (const t of targetsOf(a)) add(t, s);
    }
  }
  // Every top-level statement binding a needed name is kept, in the notebook's order (`x = 1` then `x += 1`).
  const queue = [name];
  const needed = new Set(queue);
  while (queue.length) {
    const n = queue.pop()!;
    for (const s of byName.get(n) ?? []) {
      if (kept.has(s)) continue;
      kept.add(s);
      defines.push(n);
      for (const id of freeNames(s)) {
        if (needed.has(id)) continue;
        needed.add(id);
        queue.push(id);
      }
    }
  }
  const lines = text.split('\n');
  const keep = new Array<boolean>(lines.length).fill(false);
  for (const s of kept) for (let r = s.startPosition.row; r <= s.endPosition.row; r++) keep[r] = true;
  return { text: lines.map((l, i) => (keep[i] ? l : '')).join('\n'), defines: [...new Set(defines)] };
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

/**
 * `try: import x` / `except ImportError: import y as x` (an optional dependency), every branch imports, passes or raises: kept
 * with the imports, or the definitions that use `x` would not find it.
 */
function importsOnly(stmt: SyntaxNode): boolean {
  if (stmt.type !== 'try_statement') return false;
  const blocks = [stmt.childForFieldName('body'), ...stmt.namedChildren.filter((c) => c?.type === 'except_clause' || c?.type === 'else_clause' || c?.type === 'finally_clause').map((c) => c!.namedChildren.find((x) => x?.type === 'block') ?? null)];
  return blocks.every((b) => !!b && b.namedChildren.every((c) => !c || c.type === 'comment' || c.type === 'pass_statement' || c.type === 'raise_statement' || IMPORTS.has(c.type)));
}

function assignmentOf(stmt: SyntaxNode): SyntaxNode | undefined {
  const a = stmt.namedChild(0);
  return a && (a.type === 'assignment' || a.type === 'augmented_assignment') ? a : undefined;
}

/** The names an assignment binds: `x`, `a, b`, `x: int`, chained `a = b = 1` (the right side of an assignment nests). */
function targetsOf(assignment: SyntaxNode): string[] {
  const out: string[] = [];
  for (let a: SyntaxNode | null = assignment; a && (a.type === 'assignment' || a.type === 'augmented_assignment'); a = a.childForFieldName('right')) {
    const left = a.childForFieldName('left');
    if (!left) continue;
    if (left.type === 'identifier') out.push(left.text);
    else if (left.type === 'pattern_list' || left.type === 'tuple_pattern' || left.type === 'list_pattern') {
      for (const c of left.namedChildren) if (c?.type === 'identifier') out.push(c.text);
    }
  }
  return out;
}

/**
 * The names a top-level statement reads from the module: identifiers it uses, less attribute names (`self.fc`),
 * keyword names (`bias=`), and in a function or lambda its parameters and the names it binds (assignments, loop and
 * `with … as` targets, comprehension variables, nested definitions, local imports). Approximate the way a reader is:
 * a name both local and global in one function counts as local, as Python decides it.
 */
function freeNames(stmt: SyntaxNode): Set<string> {
  const used = new Set<string>();
  const bound = new Set<string>();
  const scoped = (n: SyntaxNode) => n.type === 'function_definition' || n.type === 'lambda' || n.type === 'list_comprehension' || n.type === 'set_comprehension' || n.type === 'dictionary_comprehension' || n.type === 'generator_expression';
  const stack: { n: SyntaxNode; local: boolean }[] = [{ n: stmt, local: false }];
  while (stack.length) {
    const { n, local } = stack.pop()!;
    const inScope = local || scoped(n);
    if (n.type === 'identifier') {
      const parent = n.parent;
      const field = parent ? fieldOf(parent, n) : undefined;
      if (parent?.type === 'attribute' && field === 'attribute') continue;
      if (parent?.type === 'keyword_argument' && field === 'name') continue;
      if (inScope && isBinding(n)) bound.add(n.text);
      else used.add(n.text);
      continue;
    }
    for (let i = n.namedChildCount - 1; i >= 0; i--) {
      const c = n.namedChild(i);
      if (c) stack.push({ n: c, local: inScope });
    }
  }
  for (const b of bound) used.delete(b);
  return used;
}

function fieldOf(parent: SyntaxNode, child: SyntaxNode): string | undefined {
  for (const f of ['attribute', 'name', 'left', 'alias', 'parameters']) {
    if (parent.childForFieldName(f)?.id === child.id) return f;
  }
  return undefined;
}

/** Whether an identifier is bound where it stands (a parameter, an assignment or loop target, a definition's name…). */
function isBinding(id: SyntaxNode): boolean {
  let child = id;
  for (let p = id.parent; p; child = p, p = p.parent) {
    switch (p.type) {
      case 'parameters':
      case 'lambda_parameters':
      case 'list_splat_pattern':
      case 'dictionary_splat_pattern':
        return true;
      case 'default_parameter':
      case 'typed_default_parameter':
      case 'typed_parameter':
        return fieldOf(p, child) === 'name' || p.namedChild(0)?.id === child.id;
      case 'assignment':
      case 'augmented_assignment':
      case 'for_statement':
      case 'for_in_clause':
        return fieldOf(p, child) === 'left';
      case 'as_pattern':
        return fieldOf(p, child) === 'alias' || p.childForFieldName('alias')?.id === child.id || child.type === 'as_pattern_target';
      case 'as_pattern_target':
        return true;
      case 'function_definition':
      case 'class_definition':
        return fieldOf(p, child) === 'name';
      case 'import_statement':
      case 'import_from_statement':
      case 'aliased_import':
      case 'dotted_name':
        if (p.type === 'dotted_name') continue;
        return true;
      case 'pattern_list':
      case 'tuple_pattern':
      case 'list_pattern':
      case 'tuple':
      case 'list':
      case 'parenthesized_expression':
        continue;
      default:
        return false;
    }
  }
  return false;
}

// The module the export bridge imports in place of a file it must not run: the file's top-level imports, the definition
// of the class or builder function it builds, and what that definition reads from the file's top level (other
// definitions, the constants they use, and the statements that configure those constants, such as `parser.add_argument`
// before `args = parser.parse_args()`), followed name by name; nothing else. No training loop, data loading or DP call
// runs. Every other line is blank, so a line of the module is the same line of the file (a notebook's joined cells,
// notebook.ts) and a traceback maps back to it. Notebooks (notebookModule.ts) and standalone scripts whose top level
// trains (scriptDefinitions.ts) are built this way; what is kept is then checked by importSafety's rules like any top
// level.

import type { SyntaxNode } from './pythonParser';

export interface DefinitionsModule {
  /** Python text, line for line with the source; lines not kept are empty. */
  text: string;
  /** The names it defines (classes, functions, kept constants), in the order they were reached. */
  defines: string[];
  /**
   * The names whose statements keep the source's line `row` (0-based), from `name` down to the one bound there
   * (`['Discriminator', 'ndf', 'opt']`): why a line is in the module. Undefined for an import or a line not kept.
   */
  keptFor(row: number): string[] | undefined;
  /**
   * Names read by what is kept that no kept statement binds, though the file assigns them at module level inside a
   * block (`try:` … `nc = 1`): the module alone would not define them.
   */
  boundInBlocks: string[];
}

/** A constant written as a value instead of the statements that bind it (a script's argparse default, say). */
export interface ConstantLiteral {
  name: string;
  /** 0-based line the literal is written on: the source's binding statement, so the module keeps the source's order. */
  row: number;
  /** The Python literal (`128`, `0.5`, `"cuda"`, `True`). */
  python: string;
}

export interface DefinitionsOptions {
  /** Constants written as literals (their binding statements and what those read are not kept). */
  literals?: ConstantLiteral[];
}

const DEFINITIONS = new Set(['class_definition', 'function_definition', 'decorated_definition']);
const IMPORTS = new Set(['import_statement', 'import_from_statement', 'future_import_statement']);
/** Statements that run the block under them at import: bindings inside them are module-level bindings. */
const BLOCKS = new Set(['if_statement', 'try_statement', 'with_statement', 'for_statement', 'while_statement']);

/**
 * The importable part of a file (`root` is its parse, `text` its text) for `name`, the class or builder function the
 * bridge builds: every top-level import, then `name`'s definition, and what it reads from the top level (other
 * definitions, constants), followed name by name. A function's parameters and the names it assigns are its own (a
 * `train(model, …)` beside the model does not pull in the cell's `model = …`). A kept constant brings the top-level
 * statements that configure it: a method call on it (`parser.add_argument(…)`, `CLASSES.append(…)`) or an assignment
 * to its attribute or item (`cfg.width = 64`), or the module would hold a constant other than the one the file builds.
 */
export function definitionsModule(root: SyntaxNode, text: string, name: string, options: DefinitionsOptions = {}): DefinitionsModule {
  const statements = root.namedChildren.filter((n): n is SyntaxNode => !!n && n.type !== 'comment');
  const kept = new Map<SyntaxNode, string>();
  const imports = new Set<SyntaxNode>();
  const defines: string[] = [];
  const byName = new Map<string, SyntaxNode[]>();
  const add = (n: string, s: SyntaxNode) => byName.set(n, [...(byName.get(n) ?? []), s]);
  const literal = new Map((options.literals ?? []).map((l) => [l.name, l]));
  for (const s of statements) {
    if (IMPORTS.has(s.type) || importsOnly(s)) imports.add(s);
    else if (DEFINITIONS.has(s.type)) {
      const def = s.type === 'decorated_definition' ? s.childForFieldName('definition') : s;
      const n = def?.childForFieldName('name')?.text;
      if (n) add(n, s);
    } else if (s.type === 'expression_statement') {
      const a = assignmentOf(s);
      if (a) for (const t of targetsOf(a)) add(t, s);
      const configured = configuredName(s);
      if (configured) add(configured, s);
    }
  }
  // Every top-level statement binding a needed name is kept, in the file's order (`x = 1` then `x += 1`).
  const queue = [name];
  const neededBy = new Map<string, string | undefined>([[name, undefined]]);
  const chain = (n: string) => {
    const out = [n];
    for (let p = neededBy.get(n); p !== undefined; p = neededBy.get(p)) out.unshift(p);
    return out;
  };
  const unbound = new Set<string>();
  while (queue.length) {
    const n = queue.pop()!;
    if (literal.has(n)) {
      defines.push(n);
      continue;
    }
    const binding = byName.get(n);
    if (!binding) unbound.add(n);
    for (const s of binding ?? []) {
      if (kept.has(s)) continue;
      kept.set(s, n);
      defines.push(n);
      for (const id of freeNames(s)) {
        if (neededBy.has(id)) continue;
        neededBy.set(id, n);
        queue.push(id);
      }
    }
  }
  const lines = text.split('\n');
  const out = lines.map(() => '');
  const owner = new Array<string | undefined>(lines.length).fill(undefined);
  for (const s of imports) for (let r = s.startPosition.row; r <= s.endPosition.row; r++) out[r] = lines[r];
  for (const [s, n] of kept) {
    for (let r = s.startPosition.row; r <= s.endPosition.row; r++) {
      out[r] = lines[r];
      owner[r] = n;
    }
  }
  for (const l of literal.values()) {
    if (!neededBy.has(l.name) || l.row >= out.length || out[l.row]) continue;
    out[l.row] = `${l.name} = ${l.python}`;
    owner[l.row] = l.name;
  }
  const inBlocks = blockBindings(statements);
  return {
    text: out.join('\n'),
    defines: [...new Set(defines)],
    keptFor: (row) => (owner[row] === undefined ? undefined : chain(owner[row]!)),
    boundInBlocks: [...unbound].filter((n) => inBlocks.has(n)),
  };
}

/** `parser.add_argument(…)`, `cfg.width = 64`, `CLASSES[0] = "cat"`: the top-level name the statement configures. */
function configuredName(stmt: SyntaxNode): string | undefined {
  const e = stmt.namedChild(0);
  if (!e) return undefined;
  let target: SyntaxNode | null = null;
  if (e.type === 'call') {
    const fn = e.childForFieldName('function');
    if (fn?.type === 'attribute') target = fn.childForFieldName('object');
  } else if (e.type === 'assignment' || e.type === 'augmented_assignment') {
    const left = e.childForFieldName('left');
    if (left?.type === 'attribute') target = left.childForFieldName('object');
    else if (left?.type === 'subscript') target = left.childForFieldName('value');
  }
  return target?.type === 'identifier' ? target.text : undefined;
}

/** Names assigned at module level inside an if/try/with/for/while block (never inside a definition). */
function blockBindings(statements: SyntaxNode[]): Set<string> {
  const names = new Set<string>();
  const visit = (n: SyntaxNode, inBlock: boolean) => {
    if (DEFINITIONS.has(n.type) || n.type === 'lambda') return;
    if (inBlock && (n.type === 'assignment' || n.type === 'augmented_assignment')) for (const t of targetsOf(n)) names.add(t);
    for (const c of n.namedChildren) if (c) visit(c, inBlock || BLOCKS.has(n.type));
  };
  for (const s of statements) if (BLOCKS.has(s.type)) visit(s, false);
  return names;
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

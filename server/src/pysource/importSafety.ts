// Whether a standalone script can be imported by the export bridge without starting its training. Importing a module
// runs its top level, so the bridge imports a script (to build the model class it defines) only when that top level,
// read here with tree-sitter and never run, cannot train, load data or stop the interpreter. The rule is conservative:
// what it cannot tell apart from training is refused, with the line that would run and the way to guard it.
//
// Refused at the top level (outside `if __name__ == "__main__":`, inside any other if/try, which do run, and in class
// bodies, which run when the class is defined):
//  - a `for`, `while` or `with` statement (training loops, opened data files, `with torch.no_grad()` evaluation);
//  - a call to a function or class defined in the script or imported from a module beside it (`main()`, `train()`);
//  - a call whose method name is a training or launching entry point (`trainer.fit()`, `loss.backward()`,
//    `optimizer.step()`, `privacy_engine.make_private()`, `mp.spawn()`, `fl.client.start_client()`…);
//  - a call with `download=True` (a dataset fetched at import: torchvision's MNIST(…, download=True));
//  - `parse_args()` when a flag is `required=True` (with only the script's name on the command line it would exit).
// Everything else runs: library calls (`logging.basicConfig`, `parser.add_argument`, `torch.manual_seed`,
// `warnings.simplefilter`), assignments, definitions. The bridge sets `sys.argv = [script]`, so a top-level
// `parse_args()` sees the argparse defaults.

import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { callArguments, lastName, short, stringLiteral, walk } from './moduleIndex';
import type { SyntaxNode } from './pythonParser';

export interface ImportHazard {
  /** What would run, as written (`main()`, `for epoch in range(opt.niter)`). */
  what: string;
  /** 0-based line. */
  line: number;
  /** Why it is refused, one clause ("calls main(), defined in this file"). */
  why: string;
}

/** Method names that train, evaluate or launch training whatever object they are called on. */
const TRAINING_METHODS = new Set([
  'fit',
  'fit_generator',
  'backward',
  'step',
  'make_private',
  'make_private_with_epsilon',
  'spawn',
  'run_simulation',
  'start_simulation',
  'start_client',
  'start_numpy_client',
  'start_server',
]);

/**
 * The first statement of a module's top level that importing it would run and that could train (or stop the
 * interpreter); undefined when importing it only defines things. `file` is the module's path (for the modules
 * beside it that its own imports name).
 */
export function importHazard(file: string, root: SyntaxNode): ImportHazard | undefined {
  const local = localNames(file, root);
  const requiredFlag = requiredFlagOf(root);
  for (const stmt of topLevelStatements(root)) {
    const hazard = statementHazard(stmt, local, requiredFlag);
    if (hazard) return hazard;
  }
  return undefined;
}

/** The message for a refused import, located, with both ways forward. */
export function importHazardMessage(file: string, hazard: ImportHazard): string {
  const name = basename(file);
  return `importing ${name} would run \`${hazard.what}\` (line ${hazard.line + 1}: ${hazard.why}), so the export bridge does not import it: put the script's top level under \`if __name__ == "__main__":\`, or move the model class into a module of its own that the script imports`;
}

/** The statements that run when the module is imported: the module's, and those of if/elif/else/try blocks, skipping a `__main__` guard's body. */
function* topLevelStatements(root: SyntaxNode): Generator<SyntaxNode> {
  const stack: SyntaxNode[] = [...root.namedChildren].filter((c): c is SyntaxNode => !!c).reverse();
  while (stack.length) {
    const n = stack.pop()!;
    const push = (nodes: (SyntaxNode | null)[]) => {
      for (const c of [...nodes].reverse()) if (c && c.type !== 'comment') stack.push(c);
    };
    switch (n.type) {
      case 'if_statement': {
        yield* expressionOnly(n.childForFieldName('condition'));
        const guarded = isMainGuard(n.childForFieldName('condition'));
        const branches: SyntaxNode[] = [];
        if (!guarded) branches.push(...blockChildren(n.childForFieldName('consequence')));
        for (const alt of n.childrenForFieldName('alternative')) {
          if (!alt) continue;
          if (alt.type === 'elif_clause') {
            yield* expressionOnly(alt.childForFieldName('condition'));
            branches.push(...blockChildren(alt.childForFieldName('consequence')));
          } else {
            branches.push(...blockChildren(alt.childForFieldName('body') ?? alt));
          }
        }
        push(branches);
        break;
      }
      case 'try_statement': {
        const parts: SyntaxNode[] = [...blockChildren(n.childForFieldName('body'))];
        for (const c of n.namedChildren) {
          if (c && (c.type === 'except_clause' || c.type === 'else_clause' || c.type === 'finally_clause' || c.type === 'except_group_clause')) {
            parts.push(...blockChildren(c.namedChildren.find((x) => x?.type === 'block') ?? null));
          }
        }
        push(parts);
        break;
      }
      case 'block':
        push(n.namedChildren);
        break;
      default:
        yield n;
    }
  }
}

/** A condition is evaluated too: yield it as an expression statement. */
function* expressionOnly(node: SyntaxNode | null): Generator<SyntaxNode> {
  if (node) yield node;
}

function blockChildren(block: SyntaxNode | null): SyntaxNode[] {
  if (!block) return [];
  if (block.type !== 'block') return [block];
  return block.namedChildren.filter((c): c is SyntaxNode => !!c && c.type !== 'comment');
}

/** `__name__ == "__main__"` (either side). */
function isMainGuard(cond: SyntaxNode | null): boolean {
  if (!cond || cond.type !== 'comparison_operator') return false;
  const sides = cond.namedChildren.filter((c): c is SyntaxNode => !!c);
  if (sides.length !== 2 || !/^==$/.test(cond.text.slice(sides[0].endIndex - cond.startIndex, sides[1].startIndex - cond.startIndex).trim())) return false;
  const [a, b] = sides;
  const isName = (x: SyntaxNode) => x.type === 'identifier' && x.text === '__name__';
  const isMain = (x: SyntaxNode) => stringLiteral(x) === '__main__';
  return (isName(a) && isMain(b)) || (isName(b) && isMain(a));
}

function statementHazard(stmt: SyntaxNode, local: Map<string, string>, requiredFlag: string | undefined): ImportHazard | undefined {
  const line = stmt.startPosition.row;
  switch (stmt.type) {
    case 'for_statement':
    case 'while_statement':
    case 'with_statement': {
      const keyword = stmt.type.replace('_statement', '');
      return { what: headerOf(stmt), line, why: `a top-level \`${keyword}\` block runs at import` };
    }
    case 'function_definition':
      return undefined;
    case 'class_definition': {
      // A class body runs when the class is defined (at import), as do the base-class expressions; its methods' bodies
      // do not. `class Net(nn.Module): width = main()` would train.
      const bases = stmt.childForFieldName('superclasses');
      const h = bases ? callsHazard(bases, local, requiredFlag) : undefined;
      if (h) return h;
      for (const s of blockChildren(stmt.childForFieldName('body'))) {
        const inner = statementHazard(s, local, requiredFlag);
        if (inner) return inner;
      }
      return undefined;
    }
    case 'decorated_definition':
      // The decorators run at import; the definition's body does not.
      for (const d of stmt.namedChildren) {
        if (d?.type !== 'decorator') continue;
        // `@register` calls register(fn) at import, as `@wrap(3)` calls wrap(3).
        const bare = d.namedChildren.find((c) => c?.type === 'identifier');
        if (bare && local.has(bare.text)) return { what: `@${bare.text}`, line: d.startPosition.row, why: `the decorator calls ${bare.text}, ${local.get(bare.text)}` };
        const h = callsHazard(d, local, requiredFlag);
        if (h) return h;
      }
      return undefined;
    default:
      return callsHazard(stmt, local, requiredFlag);
  }
}

/** The calls an expression or simple statement makes (not inside a lambda, whose body runs only when called). */
function callsHazard(node: SyntaxNode, local: Map<string, string>, requiredFlag: string | undefined): ImportHazard | undefined {
  const stack = [node];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.type === 'lambda') continue;
    if (n.type === 'call') {
      const h = callHazard(n, local, requiredFlag);
      if (h) return h;
    }
    for (let i = n.namedChildCount - 1; i >= 0; i--) {
      const c = n.namedChild(i);
      if (c) stack.push(c);
    }
  }
  return undefined;
}

function callHazard(call: SyntaxNode, local: Map<string, string>, requiredFlag: string | undefined): ImportHazard | undefined {
  const fn = call.childForFieldName('function');
  const line = call.startPosition.row;
  const what = `${short(fn?.text ?? '')}()`;
  if (fn?.type === 'identifier' && local.has(fn.text)) return { what, line, why: `it calls ${fn.text}, ${local.get(fn.text)}` };
  if (fn?.type === 'attribute') {
    const object = fn.childForFieldName('object');
    if (object?.type === 'identifier' && local.has(object.text)) return { what, line, why: `it calls into ${object.text}, ${local.get(object.text)}` };
  }
  const method = lastName(fn);
  if (fn?.type === 'attribute' && method && TRAINING_METHODS.has(method)) return { what, line, why: `\`.${method}()\` trains or launches training` };
  const args = callArguments(call);
  const download = args.keyword.get('download');
  if (download && download.value.text === 'True') return { what, line, why: 'it downloads a dataset (`download=True`)' };
  if (method === 'parse_args' && requiredFlag && !args.positional.length && !args.keyword.size) {
    return { what, line, why: `\`${requiredFlag}\` is required, so with only the script's name on the command line parse_args() exits` };
  }
  return undefined;
}

/** Names the module defines at its top level, or imports from a module beside it, with what they are. */
function localNames(file: string, root: SyntaxNode): Map<string, string> {
  const names = new Map<string, string>();
  const dir = dirname(file);
  const besideIt = (module: string) => {
    const parts = module.replace(/^\.+/, '').split('.');
    if (!parts[0]) return false;
    const base = join(dir, ...parts);
    return existsSync(`${base}.py`) || existsSync(join(base, '__init__.py'));
  };
  for (const n of root.namedChildren) {
    if (!n) continue;
    const def = n.type === 'decorated_definition' ? n.childForFieldName('definition') : n;
    if (def?.type === 'function_definition' || def?.type === 'class_definition') {
      const name = def.childForFieldName('name')?.text;
      if (name) names.set(name, `${def.type === 'class_definition' ? 'a class' : 'a function'} defined in this file (line ${def.startPosition.row + 1})`);
    }
  }
  for (const n of walk(root)) {
    if (n.type === 'import_from_statement') {
      const module = n.childForFieldName('module_name')?.text ?? '';
      if (!module.startsWith('.') && !besideIt(module)) continue;
      if (module.startsWith('.') && module.replace(/^\.+/, '') && !besideIt(module)) continue;
      for (const c of n.childrenForFieldName('name')) {
        const local = c?.type === 'aliased_import' ? c.childForFieldName('alias')?.text : c?.text;
        if (local) names.set(local, `imported from ${module}, a module beside this file`);
      }
    } else if (n.type === 'import_statement') {
      for (const c of n.childrenForFieldName('name')) {
        const dotted = c?.type === 'aliased_import' ? c.childForFieldName('name')?.text : c?.text;
        const local = c?.type === 'aliased_import' ? c.childForFieldName('alias')?.text : dotted?.split('.')[0];
        if (dotted && local && besideIt(dotted)) names.set(local, `the module ${dotted} beside this file`);
      }
    }
  }
  return names;
}

/** The first argparse flag declared `required=True` anywhere in the module (`--data-root`), if any. */
function requiredFlagOf(root: SyntaxNode): string | undefined {
  for (const n of walk(root)) {
    if (n.type !== 'call' || lastName(n.childForFieldName('function')) !== 'add_argument') continue;
    const args = callArguments(n);
    if (args.keyword.get('required')?.value.text !== 'True') continue;
    const option = args.positional.map((p) => stringLiteral(p)).find((s) => s !== undefined);
    if (option) return option;
  }
  return undefined;
}

/** `for epoch in range(opt.niter)` — a block statement's first line, without the colon. */
function headerOf(stmt: SyntaxNode): string {
  const body = stmt.childForFieldName('body');
  const head = body ? stmt.text.slice(0, body.startIndex - stmt.startIndex) : stmt.text.split('\n')[0];
  return short(head.replace(/\s*:\s*$/, '').replace(/\s+/g, ' ').trim());
}

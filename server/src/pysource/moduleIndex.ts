// One parsed Python module, indexed once for the static reads the value resolver makes: definitions, assignments,
// calls by callee name, imports, and the command-line flags (argparse, absl) the module declares.

import type { SyntaxNode, SyntaxTree } from './pythonParser';

export interface FlagDeclaration {
  /** The attribute the parsed flags carry it under (`args.noise_multiplier`, `FLAGS.noise_multiplier`). */
  name: string;
  /** As written on the command line, e.g. '--noise-multiplier'. */
  option: string;
  library: 'argparse' | 'absl';
  /** The default's expression; undefined when the flag declares none (then it is required or None). */
  defaultValue?: SyntaxNode;
  declaration: SyntaxNode;
  /**
   * The value a known command line gives it (an NVFlare job's `script_args="--target_epsilon=50.0"`), read in place
   * of the default; `from` says where that command line is written.
   */
  commandLine?: { value: string | number | boolean; from: string; file: string; range: { start: { line: number; character: number }; end: { line: number; character: number } } };
}

export interface ImportedName {
  /** The dotted module it comes from ('opacus_fl.task'); relative imports keep their dots ('.task'). */
  module: string;
  /** The name in that module. */
  name: string;
  node: SyntaxNode;
}

export interface ModuleIndex {
  file: string;
  text: string;
  tree: SyntaxTree;
  root: SyntaxNode;
  /** `def` by name, at any depth (methods too); several when a name is defined more than once. */
  functions: Map<string, SyntaxNode[]>;
  classes: Map<string, SyntaxNode>;
  /** Calls by the callee's last name segment: `engine.make_private(…)` is under 'make_private'. */
  calls: Map<string, SyntaxNode[]>;
  flags: Map<string, FlagDeclaration>;
  /**
   * An NVFlare client script run by a job whose FedAvg runs a known number of rounds: `FLModel.total_rounds`
   * (`flare.receive().total_rounds`, `input_model.total_rounds`) is that number (pysource/nvflareJobSetup.ts).
   */
  totalRounds?: { value: number; from: string; file: string; range: { start: { line: number; character: number }; end: { line: number; character: number } } };
  /** `from m import a as b` → b ↦ {module: m, name: a}. */
  imports: Map<string, ImportedName>;
  /** Root packages the module imports (`opacus`, `tensorflow_privacy`, `flwr`, `optax`, `dp_transformers`, …). */
  importedPackages: Set<string>;
  /** The dotted module each `import` statement binds a name to: `import torchvision.models as tvm` → tvm ↦ torchvision.models, `import torch.nn` → torch ↦ torch. */
  moduleNames: Map<string, string>;
}

/** Nodes are visited iteratively (a deeply nested expression must not exhaust the stack). */
export function* walk(root: SyntaxNode): Generator<SyntaxNode> {
  const stack: SyntaxNode[] = [root];
  while (stack.length) {
    const n = stack.pop()!;
    yield n;
    for (let i = n.namedChildCount - 1; i >= 0; i--) {
      const c = n.namedChild(i);
      if (c) stack.push(c);
    }
  }
}

/** Source text for a message: whitespace runs as one space, at most 60 characters (`…` where cut). */
export function short(text: string): string {
  const t = text.replace(/\s+/g, ' ');
  return t.length > 60 ? `${t.slice(0, 57)}…` : t;
}

/** `a.b.c` → 'c'; `f` → 'f'; anything else (a subscript, a call's result) → undefined. */
export function lastName(node: SyntaxNode | null | undefined): string | undefined {
  if (!node) return undefined;
  if (node.type === 'identifier') return node.text;
  if (node.type === 'attribute') return node.childForFieldName('attribute')?.text;
  return undefined;
}

/** `model.fc`, `model.layer4[1].conv2`, `dataset.data[idx]`: an attribute or item reached from the name `target`. */
export function partOf(node: SyntaxNode, target: string): boolean {
  let cur: SyntaxNode | null = node;
  while (cur && (cur.type === 'attribute' || cur.type === 'subscript')) {
    const inner: SyntaxNode | null = cur.type === 'attribute' ? cur.childForFieldName('object') : cur.childForFieldName('value');
    if (inner?.text === target) return true;
    cur = inner;
  }
  return false;
}

/** `a.b.c` → 'a.b.c' when the chain is names only. */
export function dottedName(node: SyntaxNode | null | undefined): string | undefined {
  if (!node) return undefined;
  if (node.type === 'identifier') return node.text;
  if (node.type === 'attribute') {
    const obj = dottedName(node.childForFieldName('object'));
    const attr = node.childForFieldName('attribute')?.text;
    return obj && attr ? `${obj}.${attr}` : undefined;
  }
  return undefined;
}

/** The text of a plain string literal ('abc', "abc", r'abc'); undefined for f-strings and concatenations with them. */
export function stringLiteral(node: SyntaxNode | null | undefined): string | undefined {
  if (!node) return undefined;
  if (node.type === 'concatenated_string') {
    const parts = node.namedChildren.map((c) => (c ? stringLiteral(c) : undefined));
    return parts.every((p) => p !== undefined) ? parts.join('') : undefined;
  }
  if (node.type !== 'string') return undefined;
  let out = '';
  for (const c of node.namedChildren) {
    if (!c) continue;
    if (c.type === 'interpolation') return undefined;
    if (c.type === 'string_content') out += c.text;
    else if (c.type === 'escape_sequence') out += c.text;
  }
  return out;
}

/** A call's arguments: positional in order, keyword by name, and whether `*args` / `**kwargs` may supply more. */
export interface CallArguments {
  positional: SyntaxNode[];
  keyword: Map<string, { name: SyntaxNode; value: SyntaxNode; node: SyntaxNode }>;
  splat: boolean;
}

export function callArguments(call: SyntaxNode): CallArguments {
  const out: CallArguments = { positional: [], keyword: new Map(), splat: false };
  const list = call.childForFieldName('arguments');
  if (!list) return out;
  for (const a of list.namedChildren) {
    if (!a || a.type === 'comment') continue;
    if (a.type === 'keyword_argument') {
      const name = a.childForFieldName('name');
      const value = a.childForFieldName('value');
      if (name && value) out.keyword.set(name.text, { name, value, node: a });
    } else if (a.type === 'list_splat' || a.type === 'dictionary_splat') {
      out.splat = true;
    } else {
      out.positional.push(a);
    }
  }
  return out;
}

export function indexModule(file: string, text: string, tree: SyntaxTree): ModuleIndex {
  const root = tree.rootNode;
  const index: ModuleIndex = {
    file,
    text,
    tree,
    root,
    functions: new Map(),
    classes: new Map(),
    calls: new Map(),
    flags: new Map(),
    imports: new Map(),
    importedPackages: new Set(),
    moduleNames: new Map(),
  };
  for (const n of walk(root)) {
    switch (n.type) {
      case 'function_definition': {
        const name = n.childForFieldName('name')?.text;
        if (name) index.functions.set(name, [...(index.functions.get(name) ?? []), n]);
        break;
      }
      case 'class_definition': {
        const name = n.childForFieldName('name')?.text;
        if (name && !index.classes.has(name)) index.classes.set(name, n);
        break;
      }
      case 'call': {
        const name = lastName(n.childForFieldName('function'));
        if (name) index.calls.set(name, [...(index.calls.get(name) ?? []), n]);
        break;
      }
      case 'import_statement':
        for (const c of n.childrenForFieldName('name')) {
          const dotted = c?.type === 'aliased_import' ? c.childForFieldName('name') : c;
          if (!dotted) continue;
          const top = dotted.text.split('.')[0];
          index.importedPackages.add(top);
          const alias = c?.type === 'aliased_import' ? c.childForFieldName('alias')?.text : undefined;
          if (alias) index.moduleNames.set(alias, dotted.text);
          else index.moduleNames.set(top, top);
        }
        break;
      case 'import_from_statement': {
        const module = n.childForFieldName('module_name')?.text ?? '';
        if (!module.startsWith('.')) index.importedPackages.add(module.split('.')[0]);
        for (const c of n.childrenForFieldName('name')) {
          if (!c) continue;
          const original = c.type === 'aliased_import' ? c.childForFieldName('name')?.text : c.text;
          const local = c.type === 'aliased_import' ? c.childForFieldName('alias')?.text : c.text;
          if (original && local) index.imports.set(local, { module, name: original, node: c });
        }
        break;
      }
    }
  }
  for (const call of index.calls.get('add_argument') ?? []) argparseFlag(index, call);
  for (const [name, calls] of index.calls) if (/^DEFINE_(float|integer|string|boolean|bool|enum)$/.test(name)) for (const c of calls) abslFlag(index, c);
  return index;
}

/** `parser.add_argument('--noise-multiplier', '-n', type=float, default=1.0, dest=…)`. */
function argparseFlag(index: ModuleIndex, call: SyntaxNode): void {
  const args = callArguments(call);
  const options = args.positional.map((p) => stringLiteral(p)).filter((s): s is string => s !== undefined);
  const long = options.find((o) => o.startsWith('--')) ?? options.find((o) => !o.startsWith('-'));
  if (!long) return;
  const dest = stringLiteral(args.keyword.get('dest')?.value) ?? long.replace(/^-+/, '').replace(/-/g, '_');
  index.flags.set(dest, { name: dest, option: long, library: 'argparse', defaultValue: args.keyword.get('default')?.value, declaration: call });
}

/** `flags.DEFINE_float('noise_multiplier', 1.1, 'Ratio of the standard deviation to the clipping norm')`. */
function abslFlag(index: ModuleIndex, call: SyntaxNode): void {
  const args = callArguments(call);
  const name = stringLiteral(args.keyword.get('name')?.value ?? args.positional[0]);
  if (!name) return;
  const def = args.keyword.get('default')?.value ?? args.positional[1];
  index.flags.set(name, { name, option: `--${name}`, library: 'absl', defaultValue: def, declaration: call });
}

/** The nearest enclosing node of one of `types`, not crossing `stopAt`. */
export function enclosing(node: SyntaxNode, types: string[]): SyntaxNode | undefined {
  for (let p = node.parent; p; p = p.parent) if (types.includes(p.type)) return p;
  return undefined;
}

/** The statements of a function or module body that belong to it, not to functions or classes nested in it. */
export function* ownNodes(scope: SyntaxNode): Generator<SyntaxNode> {
  const stack: SyntaxNode[] = [];
  const body = scope.type === 'module' ? scope : scope.childForFieldName('body');
  if (!body) return;
  for (let i = body.namedChildCount - 1; i >= 0; i--) {
    const c = body.namedChild(i);
    if (c) stack.push(c);
  }
  while (stack.length) {
    const n = stack.pop()!;
    yield n;
    if (n.type === 'function_definition' || n.type === 'class_definition' || n.type === 'lambda') continue;
    for (let i = n.namedChildCount - 1; i >= 0; i--) {
      const c = n.namedChild(i);
      if (c) stack.push(c);
    }
  }
}

/** The fully qualified name of a callee (`models.resnet18` → `torchvision.models.resnet18`), when its head is imported. */
export function qualifiedName(index: ModuleIndex, fn: SyntaxNode | null): string | undefined {
  const dotted = dottedName(fn);
  if (!dotted) return undefined;
  const [head, ...rest] = dotted.split('.');
  const imported = index.imports.get(head);
  const base = imported ? `${imported.module}.${imported.name}` : index.moduleNames.get(head);
  return base ? [base, ...rest].join('.') : undefined;
}

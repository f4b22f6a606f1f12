// A constructor argument that is a list, tuple or dict display (`hidden_dims=[64, 32]`, `sizes=(args.h1, 16)`,
// `cfg={"depth": 2}`) is a literal when every element is: each element is read by staticValue (literals, module
// constants, argparse defaults …) and must have one value. A name bound once to such a display, and an argparse flag
// whose default is one, are followed. The result is JSON, passed to the export bridge as data (never evaluated).

import type { PythonArgValue } from '../config/trainingSetup';
import { enclosing, lastName, ownNodes, short } from './moduleIndex';
import type { SyntaxNode } from './pythonParser';
import { resolveValue, type ResolveContext } from './staticValue';

export type DisplayResolution =
  | { kind: 'known'; value: PythonArgValue; label: string }
  | { kind: 'runtime'; reason: string }
  /** Not a display (nor a name bound to one): read it as a scalar. */
  | { kind: 'scalar' };

const DISPLAYS = new Set(['list', 'tuple', 'dictionary']);
const MAX_ITEMS = 4_096;

/** The display an expression stands for: itself, a name assigned it once in scope, or a flag's default display. */
function displayOf(ctx: ResolveContext, node: SyntaxNode): { node: SyntaxNode; label: string } | undefined {
  if (node.type === 'parenthesized_expression') {
    const inner = node.namedChildren.find((c) => c && c.type !== 'comment');
    return inner ? displayOf(ctx, inner) : undefined;
  }
  if (DISPLAYS.has(node.type)) return { node, label: '' };
  if (node.type === 'identifier') {
    const scope = enclosing(node, ['function_definition']);
    for (const s of scope ? [scope, ctx.module.root] : [ctx.module.root]) {
      const rights = [...ownNodes(s)].filter((n) => n.type === 'assignment' && n.childForFieldName('left')?.type === 'identifier' && n.childForFieldName('left')?.text === node.text).map((n) => n.childForFieldName('right'));
      if (!rights.length) continue;
      // Assigned more than once: which binding reaches the call is decided at run time; leave it to the scalar reader.
      const right = rights.length === 1 ? rights[0] : undefined;
      return right && DISPLAYS.has(right.type) ? { node: right, label: ` from \`${node.text}\` (line ${right.startPosition.row + 1})` } : undefined;
    }
    return undefined;
  }
  if (node.type === 'attribute') {
    const flag = ctx.module.flags.get(lastName(node) ?? '');
    const def = flag?.defaultValue;
    if (flag && def && DISPLAYS.has(def.type)) return { node: def, label: ` from the default of ${flag.option} (line ${def.startPosition.row + 1}; the command line may override it)` };
  }
  return undefined;
}

export function resolveDisplay(ctx: ResolveContext, node: SyntaxNode): DisplayResolution {
  const display = displayOf(ctx, node);
  if (!display) return { kind: 'scalar' };
  let count = 0;
  const read = (n: SyntaxNode): PythonArgValue | Unread => {
    if (++count > MAX_ITEMS) return new Unread(`more than ${MAX_ITEMS} elements`);
    const inner = displayOf(ctx, n);
    if (inner && DISPLAYS.has(n.type)) {
      const items = inner.node.namedChildren.filter((c): c is SyntaxNode => !!c && c.type !== 'comment');
      if (inner.node.type === 'dictionary') {
        const out: Record<string, PythonArgValue> = {};
        for (const pair of items) {
          if (pair.type !== 'pair') return new Unread(`\`${short(pair.text)}\` unpacks a mapping at run time`);
          const k = pair.childForFieldName('key');
          const v = pair.childForFieldName('value');
          const key = k ? read(k) : undefined;
          if (typeof key !== 'string') return new Unread(key instanceof Unread ? key.reason : `a key of \`${short(inner.node.text)}\` is not a string`);
          const value = v ? read(v) : new Unread('empty value');
          if (isRuntime(value)) return value;
          out[key] = value;
        }
        return out;
      }
      const out: PythonArgValue[] = [];
      for (const item of items) {
        if (item.type === 'list_splat' || item.type === 'list_comprehension') return new Unread(`\`${short(item.text)}\` is expanded at run time`);
        const value = read(item);
        if (isRuntime(value)) return value;
        out.push(value);
      }
      return out;
    }
    if (inner) return read(inner.node);
    if (['list_comprehension', 'dictionary_comprehension', 'set', 'generator_expression'].includes(n.type)) return new Unread(`'${short(n.text)}' is computed at run time`);
    const r = resolveValue(ctx, n);
    if (r.kind === 'runtime') return new Unread(r.reason);
    const distinct = [...new Set(r.values.map((v) => JSON.stringify(v.value)))];
    if (distinct.length > 1) return new Unread(`\`${short(n.text)}\` may be any of ${distinct.join(', ')}`);
    const v = r.values[0].value;
    if (typeof v === 'number' && !Number.isFinite(v)) return new Unread(`\`${short(n.text)}\` is ${v}`);
    return v;
  };
  const value = read(display.node);
  return isRuntime(value) ? { kind: 'runtime', reason: value.reason } : { kind: 'known', value, label: display.label };
}

class Unread {
  constructor(readonly reason: string) {}
}

function isRuntime(v: PythonArgValue | Unread): v is Unread {
  return v instanceof Unread;
}

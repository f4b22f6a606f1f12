// The arguments a call passes to a model's class or builder (`convnet(num_classes=10)`, a Flower app's
// `get_model(num_classes)` with `num_classes = context.run_config["num-classes"]`), read statically: each must have one
// value, a JSON scalar, which the export bridge passes as data (never evaluated as code).

import type { PythonArgValue, PythonModelArgs } from '../config/trainingSetup';
import { resolveDisplay } from './displayValue';
import { callArguments, short, type ModuleIndex } from './moduleIndex';
import type { SyntaxNode } from './pythonParser';
import { resolveValue, type RunConfig } from './staticValue';

export type FactoryArguments =
  /** `args` undefined: the call passes none. `read`: one clause per argument, where its value comes from. */
  | { kind: 'read'; args?: PythonModelArgs; read: string[] }
  /** One argument has no single value read statically; `parameter` names it (`argument 1`, `` `num_classes` ``). */
  | { kind: 'unread'; reason: string; parameter: string };

/**
 * `what` names the callee in messages ("get_model()", "the Net constructor"). The run config, when given, answers
 * `context.run_config["key"]` (directly or through the local variables it is bound to, `int(…)`, `.get("key", d)`).
 */
export function readFactoryArguments(index: ModuleIndex, call: SyntaxNode, what: string, runConfig?: RunConfig): FactoryArguments {
  const args = callArguments(call);
  const line = call.startPosition.row + 1;
  if (args.splat) return { kind: 'unread', reason: `${what} is called with *args or **kwargs (line ${line}), whose values are set at run time`, parameter: '*args' };
  const out: PythonModelArgs = { positional: [], keyword: {} };
  const read: string[] = [];
  const one = (node: SyntaxNode, label: string, named = label): { value: PythonArgValue; from: string } | { unread: string } => {
    const at = `${what}'s argument ${label} = \`${short(node.text)}\` (line ${node.startPosition.row + 1})`;
    const ctx = { module: index, ...(runConfig ? { runConfig } : {}) };
    // `hidden_dims=[64, 32]`: a display of values read statically is a literal too.
    const display = resolveDisplay(ctx, node);
    if (display.kind === 'runtime') return { unread: `${at} is set at run time (${display.reason})` };
    if (display.kind === 'known') return { value: display.value, from: `${named} = ${JSON.stringify(display.value)}${display.label}` };
    const r = resolveValue(ctx, node);
    if (r.kind === 'runtime') return { unread: `${at} is set at run time (${r.reason})` };
    const distinct = [...new Set(r.values.map((v) => JSON.stringify(v.value)))];
    if (distinct.length > 1) return { unread: `${at} may be any of ${distinct.join(', ')}` };
    const v = r.values[0];
    if (typeof v.value === 'number' && !Number.isFinite(v.value)) return { unread: `${at} is ${v.value}` };
    // A literal at the call says itself; anything followed says where the value is written.
    const from = v.source.kind === 'literal' && v.source.range.start.line === node.startPosition.row && node.type !== 'identifier' ? '' : ` from ${v.source.label}`;
    return { value: v.value, from: `${named} = ${JSON.stringify(v.value)}${from}` };
  };
  for (const [i, p] of args.positional.entries()) {
    const v = one(p, `${i + 1}`, p.type === 'identifier' ? `\`${p.text}\`` : `argument ${i + 1}`);
    if ('unread' in v) return { kind: 'unread', reason: v.unread, parameter: `argument ${i + 1}` };
    out.positional.push(v.value);
    read.push(v.from);
  }
  for (const [k, { value }] of args.keyword) {
    const v = one(value, `\`${k}\``);
    if ('unread' in v) return { kind: 'unread', reason: v.unread, parameter: `\`${k}\`` };
    out.keyword[k] = v.value;
    read.push(v.from);
  }
  return out.positional.length || Object.keys(out.keyword).length ? { kind: 'read', args: out, read } : { kind: 'read', read };
}

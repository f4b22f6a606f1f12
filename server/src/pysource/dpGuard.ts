// A DP call that runs only under a condition (`if target_epsilon:`, `if args.dp:`, `if x is not None:`) whose value is
// known from the script's defaults: when the condition is false on them, the call does not run and the script, run as
// written, trains without DP (NVFlare's tutorial cifar10_fl.py: `--target_epsilon` defaults to None and the job passes
// `--target_epsilon=50.0`). Read statically; a condition not read (or true on some default) says nothing.

import type { Range } from '../config/keyTree';
import { lastName, short } from './moduleIndex';
import { nodeRange, type SyntaxNode } from './pythonParser';
import { resolveValue, type ResolveContext, type Scalar } from './staticValue';

export interface DpGuardOff {
  /** The condition as written, and where. */
  condition: string;
  range: Range;
  line: number;
  /** What the condition tests, with its value on the defaults and where that is written. */
  subject: string;
  value: Scalar;
  from: string;
  /** The command-line option that turns the call on (`--target_epsilon`), when the value is a flag's default. */
  option?: string;
}

/** The tested expression and how its value decides the condition; undefined for a condition not read. */
function testOf(cond: SyntaxNode): { subject: SyntaxNode; holds: (v: Scalar) => boolean } | undefined {
  if (cond.type === 'parenthesized_expression') {
    const inner = cond.namedChildren.find((c) => c && c.type !== 'comment');
    return inner ? testOf(inner) : undefined;
  }
  if (cond.type === 'identifier' || cond.type === 'attribute') return { subject: cond, holds: truthy };
  if (cond.type === 'not_operator') {
    const arg = cond.childForFieldName('argument');
    const inner = arg && testOf(arg);
    return inner ? { subject: inner.subject, holds: (v) => !inner.holds(v) } : undefined;
  }
  if (cond.type === 'comparison_operator') {
    const parts = cond.namedChildren.filter((c): c is SyntaxNode => !!c && c.type !== 'comment');
    const ops = cond.children.filter((c) => c && !c.isNamed).map((c) => c!.text);
    const op = ops.join(' ');
    if (parts.length !== 2 || parts[1].type !== 'none') return undefined;
    if (op === 'is not' || op === '!=') return { subject: parts[0], holds: (v) => v !== null };
    if (op === 'is' || op === '==') return { subject: parts[0], holds: (v) => v === null };
  }
  return undefined;
}

/** Python's truth value of a scalar. */
function truthy(v: Scalar): boolean {
  return !(v === null || v === false || v === 0 || v === '');
}

/** The first enclosing `if` that keeps the call from running on the script's defaults, if any. */
export function dpGuardOff(ctx: ResolveContext, call: SyntaxNode): DpGuardOff | undefined {
  let child: SyntaxNode = call;
  for (let p = call.parent; p; child = p, p = p.parent) {
    if (p.type === 'function_definition' || p.type === 'class_definition' || p.type === 'module') break;
    let branch: 'then' | 'else' | undefined;
    let statement: SyntaxNode | undefined;
    if (p.type === 'if_statement' && p.childForFieldName('consequence')?.id === child.id) {
      branch = 'then';
      statement = p;
    } else if (p.type === 'else_clause' && p.parent?.type === 'if_statement') {
      // `else:` of an `if` with no `elif`: runs when the condition is false.
      if (p.parent.namedChildren.some((c) => c?.type === 'elif_clause')) continue;
      branch = 'else';
      statement = p.parent;
    }
    if (!statement || !branch) continue;
    const cond = statement.childForFieldName('condition');
    const test = cond && testOf(cond);
    if (!cond || !test) continue;
    const r = resolveValue(ctx, test.subject);
    if (r.kind !== 'known') continue;
    const runs = r.values.map((v) => (branch === 'then' ? test.holds(v.value) : !test.holds(v.value)));
    // Off only when it is off for every value the defaults may give (a conditional default keeps every branch).
    if (runs.some((x) => x)) continue;
    const v = r.values[0];
    const option = r.values.find((x) => x.source.kind === 'flag-default')?.source.key;
    return {
      condition: `${branch === 'else' ? 'else of ' : ''}if ${short(cond.text)}`,
      range: nodeRange(cond),
      line: cond.startPosition.row + 1,
      subject: lastName(test.subject) ?? short(test.subject.text),
      value: v.value,
      from: v.source.label,
      ...(option ? { option } : {}),
    };
  }
  return undefined;
}

/** Python's spelling of a default (`None`, `False`, `0`). */
export function pythonScalar(v: Scalar): string {
  return v === null ? 'None' : v === true ? 'True' : v === false ? 'False' : typeof v === 'string' ? JSON.stringify(v) : String(v);
}

// What an argument's value is, read statically: a literal, or followed through names bound in the module, `self.`
// attributes set in the class, the arguments a function's callers pass, a helper's return value, a conditional between
// literals (every branch kept), argparse / absl flag defaults and a Flower app's run config (pyproject.toml). Anything
// else is "set at run time", with the reason. Nothing is executed.

import type { Range } from '../config/keyTree';
import type { CodeValueSource } from '../config/trainingSetup';
import { nodeRange, type SyntaxNode } from './pythonParser';
import { callArguments, enclosing, lastName, ownNodes, short, stringLiteral, type ModuleIndex } from './moduleIndex';

export type Scalar = number | string | boolean | null;


export interface PossibleValue {
  value: Scalar;
  source: CodeValueSource;
}

export type Resolution =
  | { kind: 'known'; values: PossibleValue[]; steps: string[] }
  | { kind: 'runtime'; reason: string; range: Range };

/** One value of a Flower app's run config, with where pyproject.toml writes it. */
export interface RunConfigValue {
  value: Scalar;
  file: string;
  key: string;
  keyRange: Range;
  valueRange: Range;
}

export interface RunConfig {
  file: string;
  get(key: string): RunConfigValue | undefined;
}

export interface ResolveContext {
  module: ModuleIndex;
  runConfig?: RunConfig;
  /** `len(x)` when x is known to hold a published number of items (a torchvision dataset's training split). */
  lengthOf?: (node: SyntaxNode) => PossibleValue | undefined;
}

/** Bounds for one argument: every branch of a conditional is kept, but not exponentially many. */
const MAX_DEPTH = 24;
const MAX_VALUES = 16;
const MAX_STEPS = 2_000;

interface Frame {
  /** Arguments bound to this function's parameters by the call being followed (a helper's return value). */
  fn: SyntaxNode;
  bindings: Map<string, { node: SyntaxNode; frame?: Frame }>;
}

class Resolver {
  private steps = 0;
  private readonly active = new Set<number>();
  constructor(private readonly ctx: ResolveContext) {}

  resolve(node: SyntaxNode, frame: Frame | undefined, depth: number): Resolution {
    if (depth > MAX_DEPTH || ++this.steps > MAX_STEPS) return this.runtime(node, 'followed too far to read statically');
    // A node being resolved again further down its own chain: a cycle (`x = f(x)`).
    const id = node.id * 7919 + (frame?.fn.id ?? 0);
    if (this.active.has(id)) return this.runtime(node, 'its value depends on itself');
    this.active.add(id);
    try {
      return this.resolveNode(node, frame, depth);
    } finally {
      this.active.delete(id);
    }
  }

  private runtime(node: SyntaxNode, reason: string): Resolution {
    return { kind: 'runtime', reason, range: nodeRange(node) };
  }

  private literal(node: SyntaxNode, value: Scalar, editable: boolean): Resolution {
    const line = node.startPosition.row + 1;
    return {
      kind: 'known',
      values: [{ value, source: { file: this.ctx.module.file, range: nodeRange(node), kind: 'literal', label: `line ${line}`, editable } }],
      steps: [],
    };
  }

  private resolveNode(node: SyntaxNode, frame: Frame | undefined, depth: number): Resolution {
    switch (node.type) {
      case 'integer':
      case 'float': {
        const v = pythonNumber(node.text);
        return v === undefined ? this.runtime(node, `'${node.text}' is not a number we read`) : this.literal(node, v, true);
      }
      case 'true':
        return this.literal(node, true, false);
      case 'false':
        return this.literal(node, false, false);
      case 'none':
        return this.literal(node, null, false);
      case 'string':
      case 'concatenated_string': {
        const s = stringLiteral(node);
        return s === undefined ? this.runtime(node, 'a formatted string is built at run time') : this.literal(node, s, false);
      }
      case 'parenthesized_expression': {
        const inner = node.namedChildren.find((c) => c && c.type !== 'comment');
        return inner ? this.resolve(inner, frame, depth + 1) : this.runtime(node, 'empty expression');
      }
      case 'unary_operator': {
        const arg = node.childForFieldName('argument');
        const op = node.childForFieldName('operator')?.text ?? node.text.trim()[0];
        if (!arg) break;
        const r = this.resolve(arg, frame, depth + 1);
        if (r.kind !== 'known') return r;
        if (!r.values.every((v) => typeof v.value === 'number')) return this.runtime(node, 'not a number');
        const sign = op === '-' ? -1 : 1;
        return {
          ...r,
          values: r.values.map((v) => ({
            value: sign * (v.value as number),
            // `-1e-5` written as a literal stays editable as a whole.
            source: v.source.kind === 'literal' && arg.type !== 'identifier' ? { ...v.source, range: nodeRange(node) } : v.source,
          })),
        };
      }
      case 'conditional_expression': {
        // `a if cond else b`: the condition is not evaluated; every branch is a possible value.
        const branches = node.namedChildren.filter((c): c is SyntaxNode => !!c && c.type !== 'comment');
        if (branches.length < 3) break;
        return this.union([branches[0], branches[2]], frame, depth, 'a conditional expression picks one of its branches');
      }
      case 'binary_operator':
        return this.arithmetic(node, frame, depth);
      case 'identifier':
        return this.name(node, frame, depth);
      case 'attribute':
        return this.attribute(node, frame, depth);
      case 'subscript':
        return this.subscript(node, frame, depth);
      case 'call':
        return this.call(node, frame, depth);
    }
    return this.runtime(node, `'${short(node.text)}' is computed at run time`);
  }

  private union(nodes: (SyntaxNode | Target)[], frame: Frame | undefined, depth: number, step: string): Resolution {
    const values: PossibleValue[] = [];
    const steps: string[] = [step];
    for (const item of nodes) {
      const t: Target = isTarget(item) ? item : { node: item };
      const r = t.element === undefined ? this.resolve(t.node, frame, depth + 1) : this.element(t.node, t.element, frame, depth + 1);
      if (r.kind !== 'known') return r;
      steps.push(...r.steps);
      for (const v of r.values) if (!values.some((w) => w.value === v.value && sameRange(w.source.range, v.source.range))) values.push(v);
    }
    if (values.length > MAX_VALUES) return { kind: 'runtime', reason: `more than ${MAX_VALUES} possible values`, range: values[0].source.range };
    return { kind: 'known', values, steps: dedupe(steps) };
  }

  /** Element `i` of a tuple-valued expression: `a, b = 1.0, 2.0` or `pid, noise, … = helper(context)`. */
  private element(node: SyntaxNode, i: number, frame: Frame | undefined, depth: number): Resolution {
    if (depth > MAX_DEPTH || ++this.steps > MAX_STEPS) return this.runtime(node, 'followed too far to read statically');
    if (node.type === 'parenthesized_expression') {
      const inner = node.namedChildren.find((c) => c && c.type !== 'comment');
      return inner ? this.element(inner, i, frame, depth + 1) : this.runtime(node, 'empty expression');
    }
    if (node.type === 'tuple' || node.type === 'expression_list' || node.type === 'list') {
      const items = node.namedChildren.filter((c): c is SyntaxNode => !!c && c.type !== 'comment');
      if (items.some((c) => c.type === 'list_splat')) return this.runtime(node, 'a starred element shifts the positions');
      const item = items[i];
      return item ? this.resolve(item, frame, depth + 1) : this.runtime(node, `no element ${i} in \`${short(node.text)}\``);
    }
    if (node.type === 'call') {
      const helper = this.helper(node, frame);
      if (helper) return this.union(helper.returns.map((r) => ({ node: r, element: i })), helper.frame, depth, `returned by ${helper.name}()`);
    }
    return this.runtime(node, `\`${short(node.text)}\` is unpacked at run time`);
  }

  /** A module-level function called by name, with this call's arguments bound to its parameters. */
  private helper(node: SyntaxNode, frame: Frame | undefined): { name: string; returns: SyntaxNode[]; frame: Frame } | undefined {
    const fnNode = node.childForFieldName('function');
    if (fnNode?.type !== 'identifier') return undefined;
    const name = fnNode.text;
    const defs = this.ctx.module.functions.get(name)?.filter((d) => enclosing(d, ['class_definition', 'function_definition']) === undefined) ?? [];
    if (defs.length !== 1) return undefined;
    const def = defs[0];
    const returns = [...ownNodes(def)].filter((n) => n.type === 'return_statement').map((r) => r.namedChildren.find((c) => c && c.type !== 'comment')).filter((c): c is SyntaxNode => !!c);
    const args = callArguments(node);
    const bindings = new Map<string, { node: SyntaxNode; frame?: Frame }>();
    parameterList(def).forEach((p, i) => {
      const passed = args.keyword.get(p.name)?.value ?? (!p.keywordOnly ? args.positional[i] : undefined);
      if (passed) bindings.set(p.name, { node: passed, frame });
    });
    return { name, returns, frame: { fn: def, bindings } };
  }

  private arithmetic(node: SyntaxNode, frame: Frame | undefined, depth: number): Resolution {
    const left = node.childForFieldName('left');
    const right = node.childForFieldName('right');
    const op = node.childForFieldName('operator')?.text;
    if (!left || !right || !op || !['+', '-', '*', '/', '**'].includes(op)) return this.runtime(node, `'${short(node.text)}' is computed at run time`);
    const a = this.resolve(left, frame, depth + 1);
    if (a.kind !== 'known') return a;
    const b = this.resolve(right, frame, depth + 1);
    if (b.kind !== 'known') return b;
    const values: PossibleValue[] = [];
    for (const x of a.values) for (const y of b.values) {
      if (typeof x.value !== 'number' || typeof y.value !== 'number') return this.runtime(node, 'arithmetic on values that are not numbers');
      const v = op === '+' ? x.value + y.value : op === '-' ? x.value - y.value : op === '*' ? x.value * y.value : op === '/' ? x.value / y.value : x.value ** y.value;
      values.push({ value: v, source: { file: this.ctx.module.file, range: nodeRange(node), kind: 'computed', label: `\`${short(node.text)}\` (line ${node.startPosition.row + 1})`, editable: false } });
    }
    if (values.length > MAX_VALUES) return this.runtime(node, `more than ${MAX_VALUES} possible values`);
    return { kind: 'known', values, steps: dedupe([...a.steps, ...b.steps]) };
  }

  /** A bare name: a binding in the enclosing function, one of its parameters, then a module-level binding. */
  private name(node: SyntaxNode, frame: Frame | undefined, depth: number): Resolution {
    const name = node.text;
    const fn = enclosing(node, ['function_definition']);
    if (fn) {
      const local = assignmentsIn(fn, name);
      if (local.length) return this.union(local, frame?.fn.id === fn.id ? frame : undefined, depth, `\`${name}\` assigned in ${fnName(fn)}()`);
      if (parameterNames(fn).includes(name)) return this.parameter(node, fn, name, frame, depth);
    }
    const module = assignmentsIn(this.ctx.module.root, name);
    if (module.length) return this.union(module, undefined, depth, `\`${name}\` assigned at module level`);
    const imported = this.ctx.module.imports.get(name);
    if (imported) return this.runtime(node, `\`${name}\` is imported from ${imported.module}, which is not read`);
    return this.runtime(node, `\`${name}\` is not bound in this file`);
  }

  /** A parameter: the argument the call being followed passes, else what this module's callers pass, else its default. */
  private parameter(node: SyntaxNode, fn: SyntaxNode, name: string, frame: Frame | undefined, depth: number): Resolution {
    const bound = frame?.fn.id === fn.id ? frame.bindings.get(name) : undefined;
    if (bound) return this.resolve(bound.node, bound.frame, depth + 1);
    const params = parameterList(fn);
    const index = params.findIndex((p) => p.name === name);
    const param = params[index];
    const method = enclosing(fn, ['class_definition', 'function_definition'])?.type === 'class_definition';
    const own = fnName(fn);
    // Who calls it: `ClassName(…)` for an __init__, `name(…)` / `obj.name(…)` otherwise.
    const cls = method ? enclosing(fn, ['class_definition']) : undefined;
    const callee = own === '__init__' && cls ? cls.childForFieldName('name')?.text : own;
    const positionalIndex = index - (method ? 1 : 0);
    const args: SyntaxNode[] = [];
    let callers = 0;
    for (const call of (callee ? this.ctx.module.calls.get(callee) : undefined) ?? []) {
      if (call.startIndex >= fn.startIndex && call.endIndex <= fn.endIndex) continue; // recursion
      callers++;
      const a = callArguments(call);
      const passed = a.keyword.get(name)?.value ?? (param && !param.keywordOnly ? a.positional[positionalIndex] : undefined);
      if (passed) args.push(passed);
      else if (a.splat) return this.runtime(node, `\`${name}\` may come from *args/**kwargs at a call of ${callee}()`);
      else if (param?.defaultValue) args.push(param.defaultValue);
      else return this.runtime(node, `a call of ${callee}() passes no \`${name}\``);
    }
    if (callers) return this.union(args, undefined, depth, `\`${name}\` passed to ${callee}()`);
    if (param?.defaultValue) return this.union([param.defaultValue], undefined, depth, `default of parameter \`${name}\` of ${own}()`);
    return this.runtime(node, `\`${name}\` is a parameter of ${own}() and this file never calls it`);
  }

  private attribute(node: SyntaxNode, frame: Frame | undefined, depth: number): Resolution {
    const object = node.childForFieldName('object');
    const attr = node.childForFieldName('attribute')?.text ?? '';
    if (object?.type === 'identifier' && object.text === 'self') {
      const cls = enclosing(node, ['class_definition']);
      if (!cls) return this.runtime(node, '`self` outside a class');
      const sets = selfAssignments(cls, attr);
      if (!sets.length) return this.runtime(node, `\`self.${attr}\` is not set in class ${cls.childForFieldName('name')?.text}`);
      return this.union(sets, undefined, depth, `\`self.${attr}\` set in class ${cls.childForFieldName('name')?.text}`);
    }
    // `input_model.total_rounds` in an NVFlare client script: the rounds its job's FedAvg runs, when the job is read.
    const rounds = this.ctx.module.totalRounds;
    if (attr === 'total_rounds' && rounds) {
      return {
        kind: 'known',
        values: [{ value: rounds.value, source: { file: rounds.file, range: rounds.range, kind: 'computed', label: `${rounds.value} rounds from ${rounds.from}`, editable: false } }],
        steps: [`FLModel.total_rounds: ${rounds.value} rounds from ${rounds.from}`],
      };
    }
    // `args.noise_multiplier` / `FLAGS.noise_multiplier`: the flag's declared default (the command line may change it).
    const flag = this.ctx.module.flags.get(attr);
    if (flag && object && (/^(args|arguments|opt|opts|options|flags|FLAGS|cfg|config|params|hparams|parsed_args)$/.test(lastName(object) ?? '') || this.parsedArgs(object))) {
      if (flag.commandLine) {
        const c = flag.commandLine;
        return {
          kind: 'known',
          values: [{ value: c.value, source: { file: c.file, range: c.range, kind: 'computed', key: flag.option, label: `${flag.option} ${JSON.stringify(c.value)} from ${c.from}`, editable: false } }],
          steps: [`${flag.option} given on the command line by ${c.from}`],
        };
      }
      if (!flag.defaultValue) return this.runtime(node, `${flag.option} has no default: it is given on the command line`);
      const r = this.resolve(flag.defaultValue, undefined, depth + 1);
      if (r.kind !== 'known') return r;
      return {
        kind: 'known',
        values: r.values.map((v) => ({
          value: v.value,
          source: { ...v.source, kind: 'flag-default', key: flag.option, label: `default of ${flag.option} (line ${flag.defaultValue!.startPosition.row + 1}; the command line may override it)` },
        })),
        steps: [...r.steps, `${flag.library} flag ${flag.option}`],
      };
    }
    return this.runtime(node, `\`${short(node.text)}\` is set at run time`);
  }

  /** `opt = parser.parse_args()`: a name bound to parsed command-line arguments, whatever it is called. */
  private parsedArgs(object: SyntaxNode): boolean {
    if (object.type !== 'identifier') return false;
    const scope = enclosing(object, ['function_definition']) ?? this.ctx.module.root;
    return [...assignmentsIn(scope, object.text), ...assignmentsIn(this.ctx.module.root, object.text)].some(
      (t) => t.node.type === 'call' && /(^|\.)parse(_known)?_args$/.test(t.node.childForFieldName('function')?.text ?? ''),
    );
  }

  /** `context.run_config["max-grad-norm"]`: Flower's run config, i.e. the app's pyproject.toml (unless overridden). */
  private subscript(node: SyntaxNode, frame: Frame | undefined, depth: number): Resolution {
    const value = node.childForFieldName('value');
    const key = stringLiteral(node.childForFieldName('subscript'));
    if (value && key !== undefined && lastName(value) === 'run_config') return this.runConfig(node, key);
    return this.runtime(node, `\`${short(node.text)}\` is read at run time`);
  }

  private runConfig(node: SyntaxNode, key: string, fallback?: SyntaxNode, frame?: Frame, depth = 0): Resolution {
    const rc = this.ctx.runConfig;
    const entry = rc?.get(key);
    if (!entry) {
      if (fallback) return this.resolve(fallback, frame, depth + 1);
      return this.runtime(node, rc ? `'${key}' is not in ${rc.file}'s [tool.flwr.app.config]` : `'${key}' comes from the Flower run config and no pyproject.toml with [tool.flwr.app.config] was found`);
    }
    return {
      kind: 'known',
      values: [{
        value: entry.value,
        source: { file: entry.file, range: entry.valueRange, kind: 'run-config', key, label: `'${key}' in pyproject.toml (line ${entry.keyRange.start.line + 1}; \`flwr run --run-config\` may override it)`, editable: typeof entry.value === 'number' },
      }],
      steps: [`Flower run config '${key}'`],
    };
  }

  private call(node: SyntaxNode, frame: Frame | undefined, depth: number): Resolution {
    const fnNode = node.childForFieldName('function');
    const name = lastName(fnNode);
    const args = callArguments(node);
    if (name && ['float', 'int'].includes(name) && fnNode?.type === 'identifier' && args.positional.length === 1) {
      const r = this.resolve(args.positional[0], frame, depth + 1);
      if (r.kind === 'known' && name === 'int') return { ...r, values: r.values.map((v) => ({ ...v, value: typeof v.value === 'number' ? Math.trunc(v.value) : v.value })) };
      return r;
    }
    if (name === 'len' && fnNode?.type === 'identifier' && args.positional.length === 1 && this.ctx.lengthOf) {
      const length = this.ctx.lengthOf(args.positional[0]);
      if (length) return { kind: 'known', values: [length], steps: [length.source.label] };
    }
    // `context.run_config.get("key", default)`
    if (name === 'get' && fnNode?.type === 'attribute' && lastName(fnNode.childForFieldName('object')) === 'run_config') {
      const key = stringLiteral(args.positional[0]);
      if (key !== undefined) return this.runConfig(node, key, args.positional[1], frame, depth);
    }
    // A helper defined in this module: its return values, with this call's arguments bound to its parameters.
    const helper = this.helper(node, frame);
    if (helper) {
      if (!helper.returns.length) return this.runtime(node, `${helper.name}() returns nothing we can read`);
      return this.union(helper.returns, helper.frame, depth, `returned by ${helper.name}()`);
    }
    if (fnNode && /(^|\.)environ\.get$|(^|\.)getenv$/.test(fnNode.text)) return this.runtime(node, `read from an environment variable at run time`);
    return this.runtime(node, `\`${short(node.text)}\` is computed at run time`);
  }
}

/** Resolves one expression of a parsed module. */
export function resolveValue(ctx: ResolveContext, node: SyntaxNode): Resolution {
  return new Resolver(ctx).resolve(node, undefined, 0);
}

/** The value an expression has when it can have only one (every branch the same); undefined otherwise. */
export function onlyValue(ctx: ResolveContext, node: SyntaxNode): Scalar | undefined {
  const r = resolveValue(ctx, node);
  if (r.kind !== 'known') return undefined;
  const values = [...new Set(r.values.map((v) => v.value))];
  return values.length === 1 ? values[0] : undefined;
}

/** Python's numeric literal syntax: underscores, 0x/0o/0b, exponents; complex (`1j`) is not a number here. */
export function pythonNumber(text: string): number | undefined {
  const t = text.replace(/_/g, '').toLowerCase();
  if (/j$/.test(t)) return undefined;
  if (/^0[xob]/.test(t)) return Number(t);
  if (/^0[0-9]+$/.test(t)) return Number.parseInt(t, 10);
  const v = Number(t.replace(/l$/, ''));
  return Number.isFinite(v) ? v : undefined;
}

interface Parameter {
  name: string;
  defaultValue?: SyntaxNode;
  keywordOnly: boolean;
}

function parameterList(fn: SyntaxNode): Parameter[] {
  const out: Parameter[] = [];
  let keywordOnly = false;
  for (const p of fn.childForFieldName('parameters')?.namedChildren ?? []) {
    if (!p) continue;
    if (p.type === 'keyword_separator' || p.type === 'list_splat_pattern') {
      keywordOnly = true;
      continue;
    }
    if (p.type === 'identifier') out.push({ name: p.text, keywordOnly });
    else if (p.type === 'typed_parameter') {
      const id = p.namedChildren.find((c) => c?.type === 'identifier');
      if (id) out.push({ name: id.text, keywordOnly });
    } else if (p.type === 'default_parameter' || p.type === 'typed_default_parameter') {
      const name = p.childForFieldName('name')?.text;
      const value = p.childForFieldName('value');
      if (name) out.push({ name, keywordOnly, ...(value ? { defaultValue: value } : {}) });
    }
  }
  return out;
}

function parameterNames(fn: SyntaxNode): string[] {
  return parameterList(fn).map((p) => p.name);
}

function fnName(fn: SyntaxNode): string {
  return fn.childForFieldName('name')?.text ?? '<function>';
}

function isTarget(x: SyntaxNode | Target): x is Target {
  return !('type' in x);
}

/** An expression to resolve, or element `element` of it when it was unpacked (`a, b = …`). */
interface Target {
  node: SyntaxNode;
  element?: number;
}

/** Right-hand sides of `name = …` (also `name: T = …` and `…, name, … = …`) in a scope's own statements, in file order. */
function assignmentsIn(scope: SyntaxNode, name: string): Target[] {
  const out: Target[] = [];
  for (const n of ownNodes(scope)) {
    if (n.type !== 'assignment') continue;
    const left = n.childForFieldName('left');
    const right = n.childForFieldName('right');
    if (!left || !right || right.type === 'assignment') continue;
    if (left.type === 'identifier' && left.text === name) out.push({ node: right });
    else if (left.type === 'pattern_list' || left.type === 'tuple_pattern') {
      const items = left.namedChildren.filter((c): c is SyntaxNode => !!c);
      const i = items.findIndex((c) => c.type === 'identifier' && c.text === name);
      if (i >= 0 && !items.some((c) => c.type === 'list_splat_pattern')) out.push({ node: right, element: i });
    }
  }
  return out;
}

/** Right-hand sides of `self.attr = …` in any method of the class. */
function selfAssignments(cls: SyntaxNode, attr: string): SyntaxNode[] {
  const out: SyntaxNode[] = [];
  const body = cls.childForFieldName('body');
  for (const member of body?.namedChildren ?? []) {
    const def = member?.type === 'decorated_definition' ? member.childForFieldName('definition') : member;
    if (def?.type !== 'function_definition') continue;
    for (const n of ownNodes(def)) {
      if (n.type !== 'assignment') continue;
      const left = n.childForFieldName('left');
      const right = n.childForFieldName('right');
      if (left?.type === 'attribute' && left.childForFieldName('object')?.text === 'self' && left.childForFieldName('attribute')?.text === attr && right) out.push(right);
    }
  }
  return out;
}

function sameRange(a: Range, b: Range): boolean {
  return a.start.line === b.start.line && a.start.character === b.start.character && a.end.line === b.end.line && a.end.character === b.end.character;
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

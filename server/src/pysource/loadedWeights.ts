// The weights a script loads into the model its DP call trains, read statically: `model.load_state_dict(torch.load(P))`
// and its common variants (`ckpt = torch.load(P, map_location=…)` then `model.load_state_dict(ckpt["state_dict"])`,
// `safetensors.torch.load_file(P)`, `Lit.load_from_checkpoint(P)`), with P a literal, a module constant or an argparse
// default, relative to the script's folder. A script that fine-tunes privately trains from those weights, not from
// initialisation, so the analysis uses them when the file is there (checkpoints/ reads it as data, never unpickling
// code) and says that it is at initialisation, and why, when it is not. `model = torch.load(P)` unpickles a whole
// model, whose class and code cannot be read without running them: said so, with the fix.

import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative } from 'node:path';
import type { Range } from '../config/keyTree';
import { RULES } from '../config/ruleCatalog';
import type { ConfigProblem, PathField, TrainingSetup } from '../config/trainingSetup';
import { assignedBefore, isBinding, modelInside } from './bindings';
import { callArguments, dottedName, enclosing, lastName, short, stringLiteral, type ModuleIndex } from './moduleIndex';
import { nodeRange, type SyntaxNode } from './pythonParser';
import { resolveValue } from './staticValue';

/** Where the weights come from, as far as the script lets it be read. */
export type WeightsPath =
  /** A path read statically: `resolved` is absolute (relative paths are taken from the script's folder). */
  | { kind: 'path'; written: string; resolved: string; exists: boolean; from: string; valueRange: Range }
  /** A flag with no default or a default of None / "": the default run loads nothing (the flag names a file to load). */
  | { kind: 'flag-unset'; option: string; from: string }
  /** Anything else: computed at run time. */
  | { kind: 'runtime'; reason: string }
  /** A file, loaded under an `if` that is false in the default run (`if args.pretrained:`, its default False). */
  | { kind: 'gated'; written: string; condition: string; from: string };

export interface LoadedWeights {
  /** How the script loads them: a state_dict into the model, or a whole pickled model, or a Lightning checkpoint. */
  how: 'state-dict' | 'pickled-model' | 'lightning';
  /** The call that loads them (`netD.load_state_dict(torch.load(opt.netD))`), as written, and where. */
  written: string;
  range: Range;
  line: number;
  /** The expression naming the file (`opt.netD`), as written. */
  pathText: string;
  path: WeightsPath;
  /** The entry a state_dict is taken from (`ckpt["state_dict"]` → 'state_dict'), when the script names one. */
  entry?: string;
}

/** Hops followed from the DP call's model argument back to where the model is made (as the model reader does). */
const MAX_HOPS = 8;

/** Calls that read a checkpoint file into tensors: `torch.load`, safetensors' `load_file`. */
function isCheckpointRead(index: ModuleIndex, call: SyntaxNode): boolean {
  const fn = dottedName(call.childForFieldName('function'));
  if (!fn) return false;
  if (/^(torch\.load|safetensors\.torch\.load_file)$/.test(fn)) return true;
  // A bare name counts when it is imported from torch or safetensors (`from torch import load`; json's load is not).
  const from = index.imports.get(fn);
  return !!from && /^(torch|safetensors\.torch)$/.test(from.module) && /^(load|load_file)$/.test(from.name);
}

interface Binding {
  /** The name as written (`model`, `self.model`, `netD`). */
  name: string;
  /** The function (or module) in which that name holds the model. */
  scope: SyntaxNode;
}

/**
 * The weights loaded into the model a DP call trains (`modelArg`, its `module=` argument), before `dpCall`. Undefined
 * when the script loads none (the analysis at initialisation is then what it trains from).
 */
export function readLoadedWeights(index: ModuleIndex, modelArg: SyntaxNode, dpCall: SyntaxNode): LoadedWeights | undefined {
  const dpScope = scopeOf(index, dpCall);
  const names: Binding[] = [];
  let node: SyntaxNode | undefined = modelArg;
  for (let hops = 0; node && hops < MAX_HOPS; hops++) {
    if (node.type === 'call') {
      // `model = torch.load(P)`: a whole pickled model.
      if (isCheckpointRead(index, node) && lastName(node.childForFieldName('function')) === 'load') return pickledModel(index, node);
      const fn: SyntaxNode | null = node.childForFieldName('function');
      // `Lit.load_from_checkpoint(P)`: the class, with the checkpoint's weights.
      if (fn?.type === 'attribute' && fn.childForFieldName('attribute')?.text === 'load_from_checkpoint') return lightning(index, node);
      // `net.to(device)`, `net.cuda()`, `ModuleValidator.fix(net)`, `DDP(net)`: the model is the name inside.
      const inner: SyntaxNode | undefined = modelInside(index, node)?.inner;
      if (inner && isBinding(inner)) {
        node = inner;
        continue;
      }
      break;
    }
    if (!isBinding(node)) break;
    names.push({ name: node.text, scope: scopeOf(index, node) });
    node = assignedBefore(index, node);
  }
  // The last load_state_dict into one of those names before the DP call (in its function: a later one, or one in
  // another function, is not what the DP call starts from).
  let found: SyntaxNode | undefined;
  for (const call of index.calls.get('load_state_dict') ?? []) {
    const receiver = call.childForFieldName('function')?.childForFieldName('object');
    if (!receiver) continue;
    const name = receiver.text.replace(/\.module$/, '');
    const scope = scopeOf(index, call);
    const bound = names.find((b) => b.name === name && (b.name.startsWith('self.') ? sameClass(call, modelArg) : b.scope.id === scope.id));
    if (!bound) continue;
    if (scope.id === dpScope.id && call.startIndex > dpCall.startIndex) continue;
    if (!found || call.startIndex > found.startIndex) found = call;
  }
  if (!found) return undefined;
  const loaded = stateDict(index, found);
  const gate = offByDefault(index, found);
  return gate && loaded.path.kind === 'path' ? { ...loaded, path: { kind: 'gated', written: shownPath(index.file, loaded.path.resolved), ...gate } } : loaded;
}

/**
 * The `if` around the load that is false when the script runs with its defaults (`if args.pretrained:`, default
 * False; `if opt.netD != "":`), read as far as the values are: the default run then does not load the file.
 */
function offByDefault(index: ModuleIndex, call: SyntaxNode): { condition: string; from: string } | undefined {
  for (let child: SyntaxNode = call, p = call.parent; p && p.type !== 'function_definition' && p.type !== 'module'; child = p, p = p.parent) {
    if (p.type !== 'if_statement' || p.childForFieldName('consequence')?.id !== child.id) continue;
    const condition = p.childForFieldName('condition');
    const value = condition ? truthOf(index, condition) : undefined;
    if (value && !value.truth) return { condition: short(condition!.text), from: value.from };
  }
  return undefined;
}

/** Whether a condition holds in the default run, when every value it may take says the same. */
function truthOf(index: ModuleIndex, node: SyntaxNode): { truth: boolean; from: string } | undefined {
  if (node.type === 'not_operator') {
    const inner = node.childForFieldName('argument');
    const t = inner ? truthOf(index, inner) : undefined;
    return t && { truth: !t.truth, from: t.from };
  }
  if (node.type === 'parenthesized_expression') {
    const inner = node.namedChildren.find((c) => c && c.type !== 'comment');
    return inner ? truthOf(index, inner) : undefined;
  }
  const values = (n: SyntaxNode) => {
    const r = resolveValue({ module: index }, n);
    return r.kind === 'known' ? r.values : undefined;
  };
  if (node.type === 'comparison_operator') {
    // `x != ""`, `x is not None`, `x == ""`, `x is None`
    const [left, right] = node.namedChildren.filter((c): c is SyntaxNode => !!c);
    const op = node.text.slice(left.endIndex - node.startIndex, right.startIndex - node.startIndex).trim();
    const lv = left ? values(left) : undefined;
    const rv = right ? values(right) : undefined;
    if (!lv || !rv || rv.length !== 1 || !['!=', '==', 'is', 'is not'].includes(op)) return undefined;
    const equal = lv.map((v) => v.value === rv[0].value);
    if (!equal.every((e) => e === equal[0])) return undefined;
    return { truth: op === '!=' || op === 'is not' ? !equal[0] : equal[0], from: lv[0].source.label };
  }
  if (node.type === 'identifier' || node.type === 'attribute') {
    // A flag with no default is None, or False for `action="store_true"`: false either way when it is not given.
    const r = resolveValue({ module: index }, node);
    const flag = r.kind === 'runtime' ? /^(--\S+) has no default/.exec(r.reason) : null;
    if (flag) return { truth: false, from: `${flag[1]} is not given` };
    const vs = values(node);
    if (!vs?.length) return undefined;
    const truths = vs.map((v) => !!v.value);
    return truths.every((t) => t === truths[0]) ? { truth: truths[0], from: vs[0].source.label } : undefined;
  }
  return undefined;
}

function scopeOf(index: ModuleIndex, node: SyntaxNode): SyntaxNode {
  return enclosing(node, ['function_definition']) ?? index.root;
}

function sameClass(a: SyntaxNode, b: SyntaxNode): boolean {
  const ca = enclosing(a, ['class_definition']);
  return !!ca && ca.id === enclosing(b, ['class_definition'])?.id;
}

function located(call: SyntaxNode) {
  return { written: short(call.text), range: nodeRange(call), line: call.startPosition.row + 1 };
}

/** `load_state_dict(X)`: X followed through names and `[…]` to the checkpoint read, then its path. */
function stateDict(index: ModuleIndex, call: SyntaxNode): LoadedWeights {
  let node: SyntaxNode | undefined = callArguments(call).positional[0] ?? callArguments(call).keyword.get('state_dict')?.value;
  let entry: string | undefined;
  for (let hops = 0; node && hops < MAX_HOPS; hops++) {
    if (node.type === 'subscript') {
      entry ??= stringLiteral(node.childForFieldName('subscript'));
      node = node.childForFieldName('value') ?? undefined;
      continue;
    }
    if (node.type === 'call' && isCheckpointRead(index, node)) {
      const p = pathArgument(node);
      return { how: 'state-dict', ...located(call), pathText: p ? short(p.text) : '', path: p ? weightsPath(index, p) : { kind: 'runtime', reason: 'the file is not named' }, ...(entry ? { entry } : {}) };
    }
    if (node.type === 'call' && lastName(node.childForFieldName('function')) === 'get') {
      // `ckpt.get("state_dict")`
      entry ??= stringLiteral(callArguments(node).positional[0]);
      node = node.childForFieldName('function')?.childForFieldName('object') ?? undefined;
      continue;
    }
    if (isBinding(node)) {
      node = assignedBefore(index, node);
      continue;
    }
    break;
  }
  const arg = callArguments(call).positional[0];
  return {
    how: 'state-dict',
    ...located(call),
    pathText: arg ? short(arg.text) : '',
    path: { kind: 'runtime', reason: `\`${arg ? short(arg.text) : 'its argument'}\` was not traced to a \`torch.load(…)\` of a file` },
  };
}

function pickledModel(index: ModuleIndex, call: SyntaxNode): LoadedWeights {
  const p = pathArgument(call);
  return { how: 'pickled-model', ...located(call), pathText: p ? short(p.text) : '', path: p ? weightsPath(index, p) : { kind: 'runtime', reason: 'the file is not named' } };
}

function lightning(index: ModuleIndex, call: SyntaxNode): LoadedWeights {
  const args = callArguments(call);
  const p = args.positional[0] ?? args.keyword.get('checkpoint_path')?.value;
  return { how: 'lightning', ...located(call), pathText: p ? short(p.text) : '', path: p ? weightsPath(index, p) : { kind: 'runtime', reason: 'the file is not named' } };
}

/** The file argument of `torch.load(f, …)` / `load_file(filename, …)`. */
function pathArgument(call: SyntaxNode): SyntaxNode | undefined {
  const args = callArguments(call);
  return args.positional[0] ?? args.keyword.get('f')?.value ?? args.keyword.get('filename')?.value;
}

/** The path expression read: one string (literal, constant, flag default; `os.path.join` of such), else why not. */
function weightsPath(index: ModuleIndex, node: SyntaxNode): WeightsPath {
  const joined = pathJoin(index, node);
  if (joined) return joined;
  const r = resolveValue({ module: index }, node);
  if (r.kind === 'runtime') {
    const flag = /^(--\S+) has no default/.exec(r.reason);
    if (flag) return { kind: 'flag-unset', option: flag[1], from: `${flag[1]} has no default` };
    return { kind: 'runtime', reason: r.reason };
  }
  const strings = r.values.filter((v) => typeof v.value === 'string' && v.value !== '');
  const unset = r.values.find((v) => v.value === null || v.value === '');
  if (!strings.length && unset) {
    if (unset.source.kind === 'flag-default' && unset.source.key) {
      const line = /line (\d+)/.exec(unset.source.label)?.[1];
      return { kind: 'flag-unset', option: unset.source.key, from: `its default ${unset.value === null ? 'None' : '""'}${line ? ` on line ${line}` : ''} names no file` };
    }
    return { kind: 'runtime', reason: `\`${short(node.text)}\` is ${unset.value === null ? 'None' : 'empty'} (${unset.source.label})` };
  }
  if (!strings.length) return { kind: 'runtime', reason: `\`${short(node.text)}\` is not a path` };
  // Of several possible paths, the first that exists (else the first): the one the analysis can use.
  const candidates = strings.map((v) => ({ v, resolved: resolvePath(index.file, v.value as string) }));
  const chosen = candidates.find((c) => existsSync(c.resolved)) ?? candidates[0];
  const from = chosen.v.source.kind === 'literal' ? `written on ${chosen.v.source.label}` : chosen.v.source.label;
  return { kind: 'path', written: chosen.v.value as string, resolved: chosen.resolved, exists: existsSync(chosen.resolved), from, valueRange: chosen.v.source.range };
}

/** `os.path.join(DIR, "ckpt.pt")` with every part read as one string. */
function pathJoin(index: ModuleIndex, node: SyntaxNode): WeightsPath | undefined {
  if (node.type !== 'call' || !/^(os\.path\.join|path\.join|join)$/.test(dottedName(node.childForFieldName('function')) ?? '')) return undefined;
  const args = callArguments(node);
  if (args.splat || !args.positional.length) return undefined;
  const parts: string[] = [];
  for (const a of args.positional) {
    const r = resolveValue({ module: index }, a);
    if (r.kind !== 'known' || r.values.length !== 1 || typeof r.values[0].value !== 'string') return { kind: 'runtime', reason: `\`${short(a.text)}\` in \`${short(node.text)}\` is ${r.kind === 'runtime' ? `set at run time (${r.reason})` : 'not one string'}` };
    parts.push(r.values[0].value);
  }
  const written = join(...parts);
  const resolved = resolvePath(index.file, written);
  return { kind: 'path', written, resolved, exists: existsSync(resolved), from: `\`${short(node.text)}\` (line ${node.startPosition.row + 1})`, valueRange: nodeRange(node) };
}

/** Relative paths are taken from the script's folder (where the bridge runs it; `python script.py` from there). */
function resolvePath(script: string, p: string): string {
  const expanded = p.replace(/^~(?=\/|$)/, process.env.HOME ?? '~');
  return isAbsolute(expanded) ? expanded : join(dirname(script), expanded);
}

/** The path as the user reads it: relative to the script's folder when under it. */
export function shownPath(script: string, resolved: string): string {
  const rel = relative(dirname(script), resolved);
  return rel && !rel.startsWith('..') ? rel : resolved;
}

/** The fix offered wherever the analysis cannot use the weights a script loads. */
function analyseWithWeights(factory: string | undefined): string {
  return `\`i2f analyze ${factory ?? 'MODEL'} --weights PATH\` analyses the model with a checkpoint you name`;
}

/**
 * What the weights a script loads mean for its setup: the checkpoint as `setup.weights` when it is in the workspace
 * (the analysis applies it by name, and a mismatch of keys is an error listing them), else a note on the load and in
 * the leakage finding that the analysis is at initialisation, with the fix; a whole pickled model is not read.
 */
export function loadedWeightsSetup(setup: TrainingSetup, w: LoadedWeights, file: string, dpCall: string, factory: string | undefined): ConfigProblem[] {
  const at = `\`${w.written}\` (line ${w.line})`;
  const problems: ConfigProblem[] = [];
  if (w.how === 'pickled-model') {
    const where = w.path.kind === 'path' ? ` from ${shownPath(file, w.path.resolved)}` : '';
    const reason = `${at} unpickles a whole model${where}: its class and code cannot be read without running them, which the analysis never does`;
    setup.pythonModelProblem ??= {
      reason,
      fix: `save the weights instead (\`torch.save(model.state_dict(), PATH)\`) and build the class in the script before loading them (\`model = Net(); model.load_state_dict(torch.load(PATH))\`), or export the model with torch.onnx.export into the script's folder: the only model file in a script's folder is analysed with it`,
    };
    problems.push({ rule: RULES.pickledModel.code, range: w.range, message: `${reason}. Save the state_dict and load it into the class the script builds, or export the model to ONNX beside the script.` });
    return problems;
  }
  const into = w.how === 'lightning' ? 'builds the model from a Lightning checkpoint' : 'loads weights into the model';
  const entry = w.entry ? `, its '${w.entry}' entry` : '';
  const p = w.path;
  if (p.kind === 'path' && p.exists) {
    const shown = shownPath(file, p.resolved);
    const field: PathField = { value: p.written, key: w.pathText || 'torch.load', path: ['torch.load'], keyRange: w.range, valueRange: p.valueRange, file, resolved: p.resolved, exists: true };
    setup.weights ??= field;
    problems.push({
      rule: RULES.scriptWeights.code,
      range: w.range,
      message: `${at} ${into} before ${dpCall}: the analysis uses those weights, ${shown}${entry} (${p.from}), read as data (never unpickled with code) and applied by name.`,
    });
    return problems;
  }
  if (p.kind === 'gated') {
    setup.loadedWeightsNote = `the script loads weights from ${p.written} when \`${p.condition}\` holds (line ${w.line}); the default run starts at initialisation, as analysed`;
    problems.push({
      rule: RULES.scriptWeights.code,
      range: w.range,
      message: `${at} ${into} from ${p.written} only when \`${p.condition}\` holds, which it does not in the default run (${p.from}), before ${dpCall}: the default run starts at initialisation, as the analysis does. To analyse a run that starts from that checkpoint: ${analyseWithWeights(factory)}.`,
    });
    return problems;
  }
  if (p.kind === 'flag-unset') {
    setup.loadedWeightsNote = `the script loads weights from ${p.option} when it is given (line ${w.line}); the default run starts at initialisation, as analysed`;
    problems.push({
      rule: RULES.scriptWeights.code,
      range: w.range,
      message: `${at} ${into} from ${p.option} when it is given (${p.from}), before ${dpCall}: the default run starts at initialisation, as the analysis does. To analyse a run that starts from a checkpoint: ${analyseWithWeights(factory)}.`,
    });
    return problems;
  }
  const why = p.kind === 'path' ? `${shownPath(file, p.resolved)} (${p.from}), which is not in the workspace` : `\`${w.pathText}\`, which is set at run time (${p.reason})`;
  const fix = p.kind === 'path'
    ? `put the checkpoint at ${shownPath(file, p.resolved)} (relative to the script's folder), or ${analyseWithWeights(factory)}`
    : `name the file with a literal, a module constant or an argparse default, or ${analyseWithWeights(factory)}`;
  setup.loadedWeightsNote = `the script loads weights from ${p.kind === 'path' ? shownPath(file, p.resolved) : `\`${w.pathText}\``} (line ${w.line}), not read: ${fix}`;
  problems.push({
    rule: RULES.scriptWeightsNotRead.code,
    range: w.range,
    message: `${at} ${into} from ${why}, before ${dpCall}: the analysis is at initialisation, not of the weights training starts from. Fix: ${fix}.`,
  });
  return problems;
}

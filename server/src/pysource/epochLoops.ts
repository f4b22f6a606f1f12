// The number of epochs a standalone DP-SGD script trains for, read from its epoch loops: `for epoch in range(E)`,
// `range(1, E + 1)`, `range(start, E + 1)` (also inside tqdm(…) / enumerate(…), or tqdm's trange) whose body steps
// an optimizer or calls a function of the script that does (one level), or trains a TensorFlow Estimator for an
// epoch's steps (TensorFlow Privacy's estimator tutorials). E is read statically (staticValue.ts:
// literals, module constants, argparse/absl defaults). Of several loops or several possible values, the most
// iterations are taken: more steps give a larger ε, so the account is never more comforting than the code.

import type { Range } from '../config/keyTree';
import type { CodeValueSource } from '../config/trainingSetup';
import { callArguments, lastName, short, walk, type ModuleIndex } from './moduleIndex';
import { nodeRange, type SyntaxNode } from './pythonParser';
import { resolveValue, type PossibleValue } from './staticValue';

export interface EpochLoop {
  /** `for epoch in range(1, args.epochs + 1)` as written (shortened) and its line. */
  written: string;
  line: number;
  /** The `range(…)` call: where the finding points. */
  range: Range;
  /** Every iteration count its bounds may give, each with where the deciding bound is written. */
  counts: { value: number; source: CodeValueSource }[];
}

export type EpochReading =
  | { kind: 'read'; value: number; loop: EpochLoop; loops: EpochLoop[] }
  | { kind: 'unread'; reason: string; fix: string };

const FIX = 'train in a loop `for epoch in range(EPOCHS)` (or `range(1, EPOCHS + 1)`) whose body steps the DP optimizer or calls the training function, with EPOCHS a literal, a module constant or an argparse default';

/** Iterables that run the loop once per item of the range they wrap. */
const WRAPPERS = new Set(['tqdm', 'enumerate', 'notebook_tqdm']);
/** Cap on the bound combinations a loop's arguments may give (each argument has at most staticValue's 16 values). */
const MAX_COMBINATIONS = 256;

/** The epochs the script's epoch loops run, or why they cannot be read. */
export function epochLoops(index: ModuleIndex): EpochReading {
  const stepping = steppingFunctions(index);
  const estimators = estimatorNames(index);
  const loops: EpochLoop[] = [];
  const unread: string[] = [];
  for (const n of walk(index.root)) {
    if (n.type !== 'for_statement') continue;
    const variable = n.childForFieldName('left');
    const range = rangeCall(n.childForFieldName('right'));
    if (!range || !variable) continue;
    const args = callArguments(range);
    // An epoch loop says so (`for epoch in …`, `range(EPOCHS)`); a loop over steps or runs is not one.
    if (!/epoch/i.test(variable.text) && !/epoch/i.test(args.positional.map((a) => a.text).join(' '))) continue;
    const body = n.childForFieldName('body');
    if (!body || !trains(body, stepping, estimators)) continue;
    const written = `for ${short(variable.text)} in ${short(range.text)}`;
    const line = n.startPosition.row + 1;
    const read = iterations(index, range);
    if ('reason' in read) unread.push(`\`${written}\` (line ${line}): ${read.reason}`);
    else loops.push({ written, line, range: nodeRange(range), counts: read.counts });
  }
  if (unread.length) return { kind: 'unread', reason: `the epoch loop ${unread.join('; ')}`, fix: FIX };
  if (!loops.length) return { kind: 'unread', reason: 'no `for epoch in range(…)` loop that steps the optimizer (directly or through a function of the script) was found', fix: FIX };
  let best = loops[0];
  for (const l of loops) if (most(l) > most(best)) best = l;
  return { kind: 'read', value: most(best), loop: best, loops };
}

function most(loop: EpochLoop): number {
  return Math.max(...loop.counts.map((c) => c.value));
}

/** `range(…)` / `trange(…)`, also as the first argument of tqdm(…) or enumerate(…). */
function rangeCall(node: SyntaxNode | null): SyntaxNode | undefined {
  for (let n = node, hops = 0; n && hops < 3; hops++) {
    if (n.type !== 'call') return undefined;
    const name = lastName(n.childForFieldName('function'));
    if (name === 'range' || name === 'trange') return n;
    if (!name || !WRAPPERS.has(name)) return undefined;
    n = callArguments(n).positional[0] ?? null;
  }
  return undefined;
}

/** `opt.step()` on an optimizer (a receiver named opt…, optimizer…, optimizerD…): one DP-SGD step. */
function stepsOptimizer(node: SyntaxNode): boolean {
  if (node.type !== 'call') return false;
  const fn = node.childForFieldName('function');
  if (fn?.type !== 'attribute' || fn.childForFieldName('attribute')?.text !== 'step') return false;
  return /opt/i.test(lastName(fn.childForFieldName('object')) ?? '');
}

/** Names of the script's functions whose body steps an optimizer (the training function). */
function steppingFunctions(index: ModuleIndex): Set<string> {
  const out = new Set<string>();
  for (const [name, defs] of index.functions) {
    if (defs.some((d) => { const b = d.childForFieldName('body'); return !!b && [...walk(b)].some(stepsOptimizer); })) out.add(name);
  }
  return out;
}

/** Names bound to a TensorFlow Estimator (`mnist_classifier = tf_estimator.Estimator(model_fn=cnn_model_fn, …)`). */
export function estimatorNames(index: ModuleIndex): Set<string> {
  const out = new Set<string>();
  for (const n of walk(index.root)) {
    if (n.type !== 'assignment') continue;
    const right = n.childForFieldName('right');
    if (right?.type === 'call' && lastName(right.childForFieldName('function')) === 'Estimator') out.add(n.childForFieldName('left')!.text);
  }
  return out;
}

/**
 * `mnist_classifier.train(input_fn=…, steps=steps_per_epoch)` on an Estimator: it runs its model_fn's train_op, the
 * `optimizer.minimize(…)` of the TF1 DP optimizer, for `steps` steps. It counts as one epoch of DP-SGD only when those
 * steps say they are an epoch's (TensorFlow Privacy's tutorials: `steps_per_epoch = 60000 // FLAGS.batch_size`, at
 * most the ⌈N/B⌉ the accountant charges per epoch); without `steps=` it runs until its input_fn is exhausted, which may
 * be every epoch at once (`numpy_input_fn(num_epochs=FLAGS.epochs)`), so the loop would not count epochs.
 */
function trainsEstimatorEpoch(n: SyntaxNode, estimators: Set<string>): boolean {
  if (n.type !== 'call') return false;
  const fn = n.childForFieldName('function');
  if (fn?.type !== 'attribute' || lastName(fn) !== 'train' || !estimators.has(fn.childForFieldName('object')?.text ?? '')) return false;
  const steps = callArguments(n).keyword.get('steps')?.value;
  return !!steps && /epoch/i.test(steps.text);
}

/** The loop body steps an optimizer or an Estimator's epoch, or calls (by name, or as `self.name`) a function of the script that steps an optimizer. */
function trains(body: SyntaxNode, stepping: Set<string>, estimators: Set<string>): boolean {
  for (const n of walk(body)) {
    if (stepsOptimizer(n) || trainsEstimatorEpoch(n, estimators)) return true;
    if (n.type !== 'call') continue;
    const fn = n.childForFieldName('function');
    const name = fn?.type === 'identifier' ? fn.text : fn?.type === 'attribute' && fn.childForFieldName('object')?.text === 'self' ? lastName(fn) : undefined;
    if (name && stepping.has(name)) return true;
  }
  return false;
}

/** How many times `range(…)` runs, for every value its bounds may take. */
function iterations(index: ModuleIndex, range: SyntaxNode): { counts: EpochLoop['counts'] } | { reason: string } {
  const args = callArguments(range);
  if (args.splat || args.keyword.size || args.positional.length < 1 || args.positional.length > 3) return { reason: 'its range arguments are not read' };
  const values: PossibleValue[][] = [];
  for (const a of args.positional) {
    const r = resolveValue({ module: index }, a);
    if (r.kind === 'runtime') return { reason: `\`${short(a.text)}\` is set at run time (${r.reason})` };
    const nums = r.values.filter((v) => typeof v.value === 'number' && Number.isSafeInteger(v.value));
    if (nums.length !== r.values.length) return { reason: `\`${short(a.text)}\` is not an integer` };
    // `args.epochs + 1`: said as where `args.epochs` is written (the default of --epochs), not as the sum.
    const operand = a.type === 'binary_operator' ? a.childForFieldName('left') : undefined;
    const inner = operand ? resolveValue({ module: index }, operand) : undefined;
    const where = inner?.kind === 'known' && inner.values.length === nums.length ? inner.values.map((v) => v.source) : undefined;
    values.push(where ? nums.map((v, i) => ({ ...v, source: where[i] })) : nums);
  }
  const [starts, stops, steps] = args.positional.length === 1 ? [[undefined], values[0], [undefined]] : [values[0], values[1], values[2] ?? [undefined]];
  if (starts.length * stops.length * steps.length > MAX_COMBINATIONS) return { reason: 'its bounds may take too many values' };
  const counts: EpochLoop['counts'] = [];
  for (const start of starts) for (const stop of stops) for (const step of steps) {
    const s = (step?.value as number | undefined) ?? 1;
    if (s === 0) return { reason: 'its step is 0' };
    const count = Math.max(0, Math.ceil(((stop!.value as number) - ((start?.value as number | undefined) ?? 0)) / s));
    // Said as where the stop is written (`args.epochs + 1` → the default of --epochs).
    counts.push({ value: count, source: { ...stop!.source, editable: false } });
  }
  return { counts };
}

// The Keras `fit` call that trains a TensorFlow Privacy model, for its epochs, batch size and data: the fit on the
// model the DP optimizer is compiled into (`model.compile(optimizer=optimizer)` with `optimizer = DPKerasSGDOptimizer(…)`),
// or the model that is itself DP (`model = DPSequential(…)`); else the file's only `fit` call. Its `epochs=` and
// `batch_size=` (or positions 4 and 3: fit(x, y, batch_size, epochs)) are read statically like any argument.

import type { DpCallSite } from './callSites';
import { estimatorNames } from './epochLoops';
import { assignedBefore } from './bindings';
import { callArguments, lastName, type ModuleIndex } from './moduleIndex';
import type { SyntaxNode } from './pythonParser';

export type KerasFit =
  | { kind: 'read'; calls: SyntaxNode[]; how: string }
  | { kind: 'unread'; reason: string; fix: string };

const FIX = 'train with `model.fit(x, y, epochs=…, batch_size=…)` on the model the DP optimizer is compiled into, in the script';

/** The model classes of TensorFlow Privacy that are DP themselves (their own train_step clips and noises). */
const DP_MODELS = new Set(['DPSequential', 'DPModel']);

/** The fit calls that train the DP site's model, and how they were chosen. */
export function kerasFit(index: ModuleIndex, site: DpCallSite): KerasFit {
  const fits = (index.calls.get('fit') ?? []).filter((c) => c.childForFieldName('function')?.type === 'attribute');
  if (!fits.length) return { kind: 'unread', reason: 'no Keras `model.fit(…)` call was found to read it from (and no DataLoader: TensorFlow Privacy scripts train with Keras or an Estimator)', fix: FIX };
  const boundTo = assignedName(site.node);
  const models = new Set<string>();
  let how: string;
  if (DP_MODELS.has(site.name)) {
    if (boundTo) models.add(boundTo);
    how = `the DP model \`${boundTo ?? site.name}\``;
  } else {
    for (const compile of index.calls.get('compile') ?? []) {
      const fn = compile.childForFieldName('function');
      if (fn?.type !== 'attribute') continue;
      const args = callArguments(compile);
      const opt = args.keyword.get('optimizer')?.value ?? args.positional[0];
      if (!opt) continue;
      if (opt.startIndex === site.node.startIndex || (boundTo && opt.text === boundTo)) models.add(fn.childForFieldName('object')!.text);
    }
    how = `the model the DP optimizer \`${boundTo ?? site.name}\` is compiled into`;
  }
  const onModel = fits.filter((c) => models.has(c.childForFieldName('function')!.childForFieldName('object')!.text));
  if (onModel.length) return { kind: 'read', calls: onModel, how: `${how} (\`${[...models].join('`, `')}.fit\`)` };
  if (fits.length === 1) return { kind: 'read', calls: fits, how: `the file's only Keras fit call, line ${fits[0].startPosition.row + 1} (not traced to the DP ${DP_MODELS.has(site.name) ? 'model' : 'optimizer'})` };
  return { kind: 'unread', reason: `none of the file's ${fits.length} \`fit\` calls was traced to the model the DP ${DP_MODELS.has(site.name) ? 'model' : 'optimizer'} trains`, fix: FIX };
}

/** `fit`'s argument by keyword, or at its position in fit(x, y, batch_size, epochs, …). */
export function fitArgument(call: SyntaxNode, name: 'x' | 'batch_size' | 'epochs' | 'steps_per_epoch'): { node: SyntaxNode; key: SyntaxNode } | undefined {
  const args = callArguments(call);
  const kw = args.keyword.get(name);
  if (kw) return { node: kw.value, key: kw.name };
  const position = { x: 0, batch_size: 2, epochs: 3, steps_per_epoch: -1 }[name];
  const node = position >= 0 ? args.positional[position] : undefined;
  return node ? { node, key: node } : undefined;
}

/** `optimizer = DPKerasSGDOptimizer(…)`: the name a call is assigned to. */
function assignedName(call: SyntaxNode): string | undefined {
  const p = call.parent;
  if (p?.type !== 'assignment' || p.childForFieldName('right')?.startIndex !== call.startIndex) return undefined;
  const left = p.childForFieldName('left');
  return left?.type === 'identifier' || left?.type === 'attribute' ? left.text : undefined;
}

/**
 * The `numpy_input_fn(x=…, batch_size=…)` an Estimator trains on (`classifier.train(input_fn=train_input_fn, …)`,
 * TensorFlow Privacy's vectorized tutorial): its data and batch. Undefined when no Estimator's train() names one.
 */
export function estimatorInput(index: ModuleIndex): { call: SyntaxNode; x?: SyntaxNode; batch?: { node: SyntaxNode; key: SyntaxNode } } | undefined {
  const estimators = estimatorNames(index);
  for (const train of index.calls.get('train') ?? []) {
    const fn = train.childForFieldName('function');
    if (fn?.type !== 'attribute' || !estimators.has(fn.childForFieldName('object')?.text ?? '')) continue;
    let node: SyntaxNode | undefined = callArguments(train).keyword.get('input_fn')?.value;
    if (node?.type === 'identifier') node = assignedBefore(index, node);
    if (node?.type !== 'call' || lastName(node.childForFieldName('function')) !== 'numpy_input_fn') continue;
    const args = callArguments(node);
    const x = args.keyword.get('x')?.value ?? args.positional[0];
    const b = args.keyword.get('batch_size');
    return { call: node, ...(x ? { x } : {}), ...(b ? { batch: { node: b.value, key: b.name } } : {}) };
  }
  return undefined;
}

// N, the training set a DP-SGD script samples its batches from, read from the script: the DataLoader its DP call
// trains on (`data_loader=train_loader`), that loader's dataset, and on to a torchvision dataset class loaded with
// its training split (`datasets.MNIST(root, train=True)`, `CIFAR10(…)`, `SVHN(split="train")`), whose size is
// published (models/catalogue/datasetSizes.ts). Anything else (a Subset, random_split, ImageFolder, a TensorDataset,
// the test split, a split not read statically) has a size known only at run time: not read, and said which.
// For Keras (TensorFlow Privacy's tutorials), the arrays or tf.data pipeline `model.fit(x, …)` trains on, traced
// back through assignments, tuple unpacking and the script's own functions' returns to a dataset loaded by name:
// `tf.keras.datasets.mnist.load_data()[0]` (its training split) or `tfds.load('mnist', split='train')`.

import type { Range } from '../config/keyTree';
import { publishedTrainSize, trainSplit } from '../models/catalogue/datasetSizes';
import { assignedBefore } from './bindings';
import { callArguments, enclosing, lastName, ownNodes, partOf, qualifiedName, short, stringLiteral, walk, type ModuleIndex } from './moduleIndex';
import { nodeRange, type SyntaxNode } from './pythonParser';
import { onlyValue, resolveValue } from './staticValue';

export type TrainingSetSize =
  | {
      kind: 'read';
      value: number;
      /** The dataset class and split (`MNIST`, `train`). */
      dataset: string;
      split: string;
      /** The dataset's constructor call, where the finding points. */
      range: Range;
      /** How the split was read ("train=True, line 214"; "no train=, the default"). */
      how: string;
      /** What loads it, for the derivation (default: the DataLoader's torchvision dataset). */
      origin?: string;
    }
  | { kind: 'unread'; reason: string; fix: string; range?: Range };

const FIX = 'pass the DataLoader a torchvision dataset loaded with its training split (`datasets.MNIST(root, train=True)`, `CIFAR10(…)`, `SVHN(root, split="train")`): a dataset built any other way has a size only known at run time';

/** Wrappers that keep part of a dataset, or join several: their size is set at run time. */
const PARTS: Record<string, string> = {
  Subset: 'keeps only the indices it is given',
  random_split: 'splits the dataset into parts of sizes set by its arguments',
  ConcatDataset: 'joins several datasets',
  TensorDataset: 'holds tensors built at run time',
};

function at(node: SyntaxNode): string {
  return `\`${short(node.text)}\` (line ${node.startPosition.row + 1})`;
}

/**
 * The training set size the DataLoader `loader` (a `DataLoader(…)` call) reads from, or why it cannot be read. The
 * dataset argument is followed through the names it is bound to (its function's, else the module's).
 */
export function trainingSetSize(index: ModuleIndex, loader: SyntaxNode): TrainingSetSize {
  const args = callArguments(loader);
  // Opacus samples each step at 1/len(data_loader), and a sampler sets that length: q is then not B/N of the dataset.
  const sampler = args.keyword.get('sampler') ?? args.keyword.get('batch_sampler');
  if (sampler) return { kind: 'unread', reason: `the DataLoader's \`${short(sampler.node.text)}\` (line ${sampler.node.startPosition.row + 1}) decides how many examples an epoch draws, so its sampling rate is not B/N of the dataset`, fix: `${FIX}, with no sampler=`, range: nodeRange(sampler.node) };
  const node: SyntaxNode | undefined = args.keyword.get('dataset')?.value ?? args.positional[0];
  if (!node) return { kind: 'unread', reason: `the DataLoader ${at(loader)} is given no dataset argument`, fix: FIX, range: nodeRange(loader) };
  return datasetSize(index, node);
}

/** The size of the dataset an expression holds (`train_dataset`, `datasets.MNIST(…)`), followed through its names. */
export function datasetSize(index: ModuleIndex, expr: SyntaxNode): TrainingSetSize {
  let node: SyntaxNode = expr;
  for (let hops = 0; hops < 8; hops++) {
    if (node.type === 'identifier' || (node.type === 'attribute' && node.childForFieldName('object')?.text === 'self')) {
      // `dataset.data = dataset.data[idx]` (Opacus' dcgan.py keeps one digit): not the published split any more.
      const changed = changedAfterBuilding(index, node.text);
      if (changed) return { kind: 'unread', reason: `${at(changed)} changes the DataLoader's dataset \`${node.text}\` after it is built, so its size is not the published one`, fix: FIX, range: nodeRange(changed) };
      const bound = assignedBefore(index, node);
      if (!bound) {
        const part = unpackedFrom(index, node);
        if (part) return { kind: 'unread', reason: `the DataLoader's dataset \`${node.text}\` is one part of ${at(part)}, which ${PARTS.random_split}`, fix: FIX, range: nodeRange(part) };
        return { kind: 'unread', reason: `the DataLoader's dataset \`${node.text}\` (line ${node.startPosition.row + 1}) was not traced to the call that builds it`, fix: FIX, range: nodeRange(node) };
      }
      node = bound;
      continue;
    }
    if (node.type !== 'call') break;
    const fn = node.childForFieldName('function');
    const name = lastName(fn);
    const qualified = qualifiedName(index, fn);
    if (name && PARTS[name]) return { kind: 'unread', reason: `the DataLoader's dataset is ${at(node)}, which ${PARTS[name]}`, fix: FIX, range: nodeRange(node) };
    if (!qualified?.startsWith('torchvision.datasets.')) {
      return { kind: 'unread', reason: `the DataLoader's dataset is ${at(node)}, not a torchvision dataset class whose training split size is published`, fix: FIX, range: nodeRange(node) };
    }
    return torchvisionSize(index, node, qualified.split('.').pop()!);
  }
  return { kind: 'unread', reason: `the DataLoader's dataset ${at(node)} was not traced to the call that builds it`, fix: FIX, range: nodeRange(node) };
}

/** A torchvision dataset constructor: its training split's size, if that split is the one loaded. */
function torchvisionSize(index: ModuleIndex, call: SyntaxNode, cls: string): TrainingSetSize {
  const split = trainSplit(cls);
  const range = nodeRange(call);
  if (!split) {
    const why = cls === 'ImageFolder' || cls === 'DatasetFolder' ? 'holds the files found in its folder at run time' : 'is not one whose training split size I²F knows';
    return { kind: 'unread', reason: `the DataLoader's dataset is ${at(call)}: torchvision's ${cls} ${why}`, fix: FIX, range };
  }
  const args = callArguments(call);
  if (args.splat) return { kind: 'unread', reason: `${at(call)} is called with *args or **kwargs, so which split it loads is set at run time`, fix: FIX, range };
  const line = (n: SyntaxNode) => `line ${n.startPosition.row + 1}`;
  // Every value the argument may take, read statically; undefined with the reason when any is set at run time.
  const values = (n: SyntaxNode): { values: unknown[] } | { reason: string } => {
    const r = resolveValue({ module: index }, n);
    if (r.kind === 'runtime') return { reason: `\`${short(n.text)}\` (${line(n)}) is set at run time (${r.reason})` };
    return { values: [...new Set(r.values.map((v) => v.value))] };
  };
  // The `train` flag (MNIST, CIFAR10, …; EMNIST takes it by keyword beside its split): absent is True.
  const trainArg = args.keyword.get('train')?.value ?? (split.kind === 'train-flag' ? args.positional[1] : undefined);
  let how = trainArg ? `train=${short(trainArg.text)}, ${line(trainArg)}` : 'no train=, so the training split';
  if (trainArg) {
    const v = values(trainArg);
    if ('reason' in v) return { kind: 'unread', reason: `${cls}'s train flag ${v.reason}`, fix: FIX, range };
    if (v.values.some((x) => x !== true && x !== 1)) {
      const which = v.values.length > 1 ? `may be ${v.values.map(String).join(' or ')}` : `is ${String(v.values[0])}`;
      return { kind: 'unread', reason: `${at(call)} loads ${cls}'s test split (its train flag ${which}), not the training split whose size is published`, fix: FIX, range };
    }
  }
  if (split.kind === 'train-flag') return { kind: 'read', value: split.train, dataset: cls, split: 'train', range, how };
  const splitArg = args.keyword.get('split')?.value ?? args.positional[1];
  let name = split.default;
  if (splitArg) {
    const v = values(splitArg);
    if ('reason' in v) return { kind: 'unread', reason: `${cls}'s split ${v.reason}`, fix: FIX, range };
    const unknown = v.values.filter((x) => typeof x !== 'string' || split.train[x] === undefined);
    if (unknown.length || v.values.length !== 1) {
      return { kind: 'unread', reason: `${at(call)} loads ${cls}'s split ${v.values.map((x) => JSON.stringify(x)).join(' or ')}, not a training split whose size is published`, fix: FIX, range };
    }
    name = v.values[0] as string;
    how = `split=${short(splitArg.text)}, ${line(splitArg)}${trainArg ? `; ${how}` : ''}`;
  } else if (name === undefined) {
    return { kind: 'unread', reason: `${at(call)} names no split, which ${cls} requires`, fix: FIX, range };
  } else {
    how = `no split=, so "${name}"`;
  }
  // STL10's `folds` keeps one tenth of its training split.
  const folds = args.keyword.get('folds')?.value ?? (cls.toUpperCase() === 'STL10' ? args.positional[2] : undefined);
  if (folds && folds.text.trim() !== 'None') return { kind: 'unread', reason: `${at(call)} keeps only the fold \`folds=${short(folds.text)}\` of its training split`, fix: FIX, range };
  return { kind: 'read', value: split.train[name!], dataset: cls, split: name!, range, how };
}

/** An assignment anywhere in the file to a part of `name` (`name.data = …`, `name.targets[i] = …`, `name.samples += …`). */
function changedAfterBuilding(index: ModuleIndex, name: string): SyntaxNode | undefined {
  for (const n of walk(index.root)) {
    if (n.type !== 'assignment' && n.type !== 'augmented_assignment') continue;
    const left = n.childForFieldName('left');
    if (left && partOf(left, name)) return n;
  }
  return undefined;
}

/** `train_set, val_set = random_split(ds, […])`: the call a name is unpacked from, when it is one of the parts wrappers. */
function unpackedFrom(index: ModuleIndex, use: SyntaxNode): SyntaxNode | undefined {
  for (const n of walk(index.root)) {
    if (n.type !== 'assignment') continue;
    const left = n.childForFieldName('left');
    const right = n.childForFieldName('right');
    if (!left || !right || right.type !== 'call' || (left.type !== 'pattern_list' && left.type !== 'tuple_pattern' && left.type !== 'tuple')) continue;
    if (!left.namedChildren.some((c) => c?.text === use.text)) continue;
    if (lastName(right.childForFieldName('function')) === 'random_split') return right;
  }
  return undefined;
}

const FIT_FIX = "train with `model.fit(x, …)` (or an Estimator's `numpy_input_fn(x=…)`) on arrays from `tf.keras.datasets.mnist.load_data()`'s training split (also fashion_mnist, cifar10, cifar100) or on `tfds.load('mnist', split='train')`, assigned in the script: data built any other way has a size only known at run time";

/** What `fit`'s data reads, plus the `.batch(B)` of a tf.data pipeline (the batch when fit has no batch_size=). */
export type FitDataSize = TrainingSetSize & { batch?: SyntaxNode };

/** Calls that keep every example (array conversions, element-wise casts). */
const SAME_ARRAY = /^(numpy\.(array|asarray|ascontiguousarray|float32|float64)|tensorflow\.(cast|convert_to_tensor|constant))$/;
/** Methods that keep every example of an array or tf.data pipeline (reshaping, casting, mapping, shuffling, caching). */
const SAME_EXAMPLES = new Set(['reshape', 'astype', 'map', 'shuffle', 'cache', 'prefetch', 'copy', 'squeeze', 'expand_dims', 'unbatch']);
/** Methods that keep part of the examples, or draw them more than once per epoch. */
const PART_OF: Record<string, string> = {
  take: 'keeps only its first examples', skip: 'drops its first examples', filter: 'keeps the examples its predicate accepts', shard: 'keeps one shard',
  repeat: 'repeats the data, so an epoch of `fit` is not one pass over N',
};

/**
 * N of the data Keras' `model.fit(x, …)` trains on: `x` followed back (assignments before the use, tuple unpacking by
 * position, `return a, b` of the script's functions, element-wise arithmetic with a number, array conversions,
 * dataset-preserving methods) to `tf.keras.datasets.<name>.load_data()` taken at its training split, or to
 * `tfds.load(<name>, split='train')`. A slice, `.take(n)`, the test split or anything untraced is not read.
 */
export function fitDataSize(index: ModuleIndex, x: SyntaxNode): FitDataSize {
  return traceData(index, x, [], 0);
}

function unreadFit(reason: string, node: SyntaxNode): FitDataSize {
  return { kind: 'unread', reason, fix: FIT_FIX, range: nodeRange(node) };
}

/** `path` selects elements, innermost first: `[0, 0]` of load_data() is the training split's images. */
function traceData(index: ModuleIndex, node: SyntaxNode, path: number[], depth: number): FitDataSize {
  const untraced = () => unreadFit(`the training data was followed to ${at(node)}, which was not traced to a dataset loaded by name`, node);
  if (depth > 32) return untraced();
  const next = (n: SyntaxNode, p: number[]) => traceData(index, n, p, depth + 1);
  switch (node.type) {
    case 'parenthesized_expression': {
      const inner = node.namedChildren[0];
      return inner ? next(inner, path) : untraced();
    }
    case 'identifier': {
      const b = bindingBefore(index, node);
      if (!b) return untraced();
      if ('parameter' in b) return unreadFit(`the training data is \`${node.text}\`, a parameter of ${b.parameter}() (line ${node.startPosition.row + 1}), set by its caller`, node);
      return next(b.value, [...(b.position ?? []), ...path]);
    }
    case 'dictionary': {
      // numpy_input_fn(x={'x': train_data}): every value holds the same examples.
      if (path.length) return untraced();
      const values = node.namedChildren.filter((c) => c?.type === 'pair').map((p) => p!.childForFieldName('value')).filter((v): v is SyntaxNode => !!v);
      const read = values.map((v) => next(v, []));
      if (!read.length) return untraced();
      for (const r of read) if (r.kind !== 'read' || r.value !== (read[0] as { value: number }).value) return r.kind !== 'read' ? r : untraced();
      return read[0];
    }
    case 'tuple': case 'expression_list': case 'list': {
      const el = path.length ? node.namedChildren[path[0]] : undefined;
      return el ? next(el, path.slice(1)) : untraced();
    }
    case 'subscript': {
      const value = node.childForFieldName('value');
      const sub = node.childForFieldName('subscript');
      if (value && sub?.type === 'integer') return next(value, [Number(sub.text), ...path]);
      return unreadFit(`${at(node)} keeps part of the data (a slice or an index), so N is not the published split's`, node);
    }
    case 'binary_operator': {
      // `train_data / 255`: arithmetic with a number keeps every example.
      const left = node.childForFieldName('left');
      const right = node.childForFieldName('right');
      const isNumber = (n: SyntaxNode | null) => n?.type === 'integer' || n?.type === 'float';
      if (left && isNumber(right)) return next(left, path);
      if (right && isNumber(left)) return next(right, path);
      return untraced();
    }
    case 'call':
      break;
    default:
      return untraced();
  }
  const fn = node.childForFieldName('function');
  const qualified = qualifiedName(index, fn) ?? '';
  const keras = /^(?:tensorflow\.)?keras\.datasets\.(\w+)\.load_data$/.exec(qualified);
  if (keras) return kerasLoadData(node, keras[1], path);
  if (qualified === 'tensorflow_datasets.load') return tfdsLoad(index, node, path);
  const args = callArguments(node);
  if (SAME_ARRAY.test(qualified) && args.positional[0]) return next(args.positional[0], path);
  if (fn?.type === 'attribute' && !qualified) {
    const method = lastName(fn)!;
    const obj = fn.childForFieldName('object')!;
    if (SAME_EXAMPLES.has(method)) return next(obj, path);
    if (method === 'batch') {
      const r = next(obj, path);
      const b = args.keyword.get('batch_size')?.value ?? args.positional[0];
      return r.kind === 'read' && b && !r.batch ? { ...r, batch: b } : r;
    }
    if (PART_OF[method]) return unreadFit(`${at(node)} ${PART_OF[method]}, so N is not the published split's`, node);
    return untraced();
  }
  // A function of the script: every `return` it has must give the same dataset.
  if (fn?.type === 'identifier' && index.functions.has(fn.text)) {
    const returns: SyntaxNode[] = [];
    for (const def of index.functions.get(fn.text)!) for (const n of ownNodes(def)) if (n.type === 'return_statement' && n.namedChildren[0]) returns.push(n.namedChildren[0]);
    const read = returns.map((r) => next(r, path));
    const first = read[0];
    if (!first) return untraced();
    if (first.kind !== 'read') return first;
    for (const r of read) {
      if (r.kind !== 'read') return r;
      if (r.value !== first.value) return unreadFit(`${fn.text}() returns data of ${first.value} or ${r.value} examples depending on the path taken`, node);
    }
    return first;
  }
  return untraced();
}

/** `tf.keras.datasets.mnist.load_data()` returns `((x_train, y_train), (x_test, y_test))`: element 0 is the training split. */
function kerasLoadData(call: SyntaxNode, name: string, path: number[]): FitDataSize {
  const size = publishedTrainSize(name);
  const range = nodeRange(call);
  if (size === undefined) return unreadFit(`${at(call)}: Keras' ${name} is not a dataset whose training split size I²F knows`, call);
  if (path[0] !== 0) return unreadFit(`the training data is ${path[0] === 1 ? "the test split" : "not the training split"} of ${at(call)}`, call);
  return { kind: 'read', value: size, dataset: name, split: 'train', range, how: `element 0 of load_data(), line ${call.startPosition.row + 1}`, origin: `Keras' tf.keras.datasets.${name}.load_data()` };
}

/** `tfds.load('mnist', split='train')`: the whole training split, a literal name in the table; `with_info=True` returns (ds, info). */
function tfdsLoad(index: ModuleIndex, call: SyntaxNode, path: number[]): FitDataSize {
  const args = callArguments(call);
  if (args.splat) return unreadFit(`${at(call)} is called with *args or **kwargs, so what it loads is set at run time`, call);
  const nameNode = args.keyword.get('name')?.value ?? args.positional[0];
  const one = (n: SyntaxNode | undefined): string | undefined => {
    if (!n) return undefined;
    const lit = stringLiteral(n);
    if (lit !== undefined) return lit;
    const v = onlyValue({ module: index }, n);
    return typeof v === 'string' ? v : undefined;
  };
  const name = one(nameNode);
  if (!name) return unreadFit(`${at(call)} names its dataset with a value not read statically`, call);
  const size = name.includes('/') || name.includes(':') ? undefined : publishedTrainSize(name);
  if (size === undefined) return unreadFit(`${at(call)} loads '${name}', not a dataset whose training split size I²F knows`, call);
  const splitNode = args.keyword.get('split')?.value ?? args.positional[1];
  // tfds.Split.TRAIN is the string 'train'.
  const split = splitNode && /^(tfds\.)?Split\.TRAIN$/.test(splitNode.text) ? 'train' : one(splitNode);
  if (split !== 'train') {
    const why = !splitNode ? 'names no split= (it then returns every split)' : split === undefined ? `reads the split \`${short(splitNode.text)}\`, not read statically` : `reads the split '${split}', not the whole training split ('train')`;
    return unreadFit(`${at(call)} ${why}, so N is not the published training split's`, call);
  }
  const withInfo = args.keyword.get('with_info')?.value;
  let rest = path;
  if (withInfo && withInfo.text !== 'False') {
    if (withInfo.text !== 'True' || path[0] !== 0) return unreadFit(`${at(call)} is called with \`with_info=${short(withInfo.text)}\` and its dataset was not traced to \`fit\``, call);
    rest = path.slice(1);
  }
  if (rest.length) return unreadFit(`the training data is an element of ${at(call)}, not its dataset`, call);
  return { kind: 'read', value: size, dataset: name, split: 'train', range: nodeRange(call), how: `split=${short(splitNode!.text)}, line ${splitNode!.startPosition.row + 1}`, origin: `TensorFlow Datasets' tfds.load('${name}')` };
}

/**
 * The expression a name holds at `use`: the last assignment to it before the use in its function (or, failing that,
 * at module level), with the position when it is unpacked from a tuple (`train, test = …`); or that it is a
 * parameter of its function.
 */
function bindingBefore(index: ModuleIndex, use: SyntaxNode): { value: SyntaxNode; position?: number[] } | { parameter: string } | undefined {
  const fn = enclosing(use, ['function_definition']);
  for (const scope of fn ? [fn, index.root] : [index.root]) {
    let found: { value: SyntaxNode; position: number[]; start: number } | undefined;
    for (const n of ownNodes(scope)) {
      if (n.type !== 'assignment') continue;
      // In the use's own scope only the assignments before it; a function reads the module's after they all ran.
      if ((scope !== index.root || !fn) && n.endIndex > use.startIndex) continue;
      const left = n.childForFieldName('left');
      const right = n.childForFieldName('right');
      if (!left || !right) continue;
      const position = positionIn(left, use.text);
      if (!position) continue;
      if (!found || n.startIndex > found.start) found = { value: right, position, start: n.startIndex };
    }
    if (found) return { value: found.value, position: found.position };
    if (scope === fn) {
      const params = fn.childForFieldName('parameters');
      if (params?.namedChildren.some((p) => (p?.type === 'identifier' ? p.text : p?.childForFieldName('name')?.text ?? p?.namedChildren[0]?.text) === use.text)) {
        return { parameter: fn.childForFieldName('name')?.text ?? 'a function' };
      }
    }
  }
  return undefined;
}

/** Where `name` sits in an assignment's left side: [] for `name = …`, [1, 0] for `_, (name, y) = …`; undefined if absent. */
function positionIn(left: SyntaxNode, name: string): number[] | undefined {
  if (left.type === 'identifier') return left.text === name ? [] : undefined;
  if (left.type !== 'pattern_list' && left.type !== 'tuple_pattern' && left.type !== 'tuple' && left.type !== 'parenthesized_expression') return undefined;
  const children = left.namedChildren.filter((c): c is SyntaxNode => !!c && c.type !== 'comment');
  if (left.type === 'parenthesized_expression') return children[0] ? positionIn(children[0], name) : undefined;
  for (const [i, c] of children.entries()) {
    const inner = positionIn(c, name);
    if (inner) return [i, ...inner];
  }
  return undefined;
}

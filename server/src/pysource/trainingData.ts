// N, the training set a DP-SGD script samples its batches from, read from the script: the DataLoader its DP call
// trains on (`data_loader=train_loader`), that loader's dataset, and on to a torchvision dataset class loaded with
// its training split (`datasets.MNIST(root, train=True)`, `CIFAR10(…)`, `SVHN(split="train")`), whose size is
// published (models/catalogue/datasetSizes.ts). Anything else (a Subset, random_split, ImageFolder, a TensorDataset,
// the test split, a split not read statically) has a size known only at run time: not read, and said which.

import type { Range } from '../config/keyTree';
import { trainSplit } from '../models/catalogue/datasetSizes';
import { assignedBefore, moduleAliases, qualifiedName } from './libraryModel';
import { callArguments, lastName, short, walk, type ModuleIndex } from './moduleIndex';
import { nodeRange, type SyntaxNode } from './pythonParser';
import { resolveValue } from './staticValue';

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
  const aliases = moduleAliases(index);
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
    const qualified = qualifiedName(index, aliases, fn);
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
    let left: SyntaxNode | null = n.childForFieldName('left');
    if (!left || (left.type !== 'attribute' && left.type !== 'subscript')) continue;
    while (left && (left.type === 'attribute' || left.type === 'subscript')) {
      const inner: SyntaxNode | null = left.type === 'attribute' ? left.childForFieldName('object') : left.childForFieldName('value');
      if (inner?.text === name) return n;
      left = inner;
    }
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

// A model a script builds from torchvision by architecture name (`torchvision.models.resnet18(num_classes=10)`,
// `models.resnet18()` after `from torchvision import models`, `get_model("resnet18", …)`) and the input it trains on,
// read from the same file: the torchvision dataset it loads (`datasets.CIFAR10(…)`) and the crop or resize its
// transforms end with. The catalogue (models/catalogue) then writes that architecture as ONNX itself: no Python runs.
// Read statically, like every value in pysource: what cannot be read is said, never guessed.

import type { Range } from '../config/keyTree';
import type { ConfigField, TrainingSetup } from '../config/trainingSetup';
import { findArchitecture, type Architecture } from '../models/catalogue';
import { datasetShape } from '../models/catalogue/datasets';
import { callArguments, dottedName, enclosing, lastName, partOf, qualifiedName, short, stringLiteral, walk, type ModuleIndex } from './moduleIndex';
import { nodeRange, type SyntaxNode } from './pythonParser';
import { onlyValue, resolveValue } from './staticValue';
import { assignedBefore, modelInside, type GroupNormFix } from './bindings';

export interface LibraryModel {
  architecture: Architecture;
  /** `ModuleValidator.fix(model)` (or the older `convert_batchnorm_modules`): BatchNorm → GroupNorm(gcd(32, C), C). */
  groupNorm?: GroupNormFix;
  /** The builder as the script spells it (`models.resnet18`). */
  builder: string;
  /** The builder call (`torchvision.models.resnet18(num_classes=10)`). */
  call: SyntaxNode;
  range: Range;
  /** `num_classes=…` read statically; `unread` says why a written one could not be. */
  classes?: { value: number; range: Range };
  unread?: string;
  /** The argument that loads pretrained weights (`weights=ResNet18_Weights.DEFAULT`, `pretrained=True`), as written. */
  pretrained?: string;
}

export interface ScriptInput {
  /** The torchvision dataset class the file loads (`CIFAR10`), normalised for models/catalogue/datasets.ts. */
  dataset?: { name: string; range: Range };
  /** [H, W] the transforms end with (`Resize(256), CenterCrop(224)` → [224, 224]) when every pipeline agrees. */
  size?: { value: [number, number]; range: Range };
  /** Why the input could not be read (several datasets, pipelines ending at different sizes). */
  unread?: string;
}

/**
 * The torchvision model an expression holds (`module=model`), followed back through the assignments before it:
 * `model = models.resnet18(num_classes=10)`, `model = ModuleValidator.fix(model)`, `model = model.to(device)`, also
 * for `self.model` in the class. Undefined when the chain reaches anything else (a class of the workspace, a call
 * that is neither a builder nor one of these).
 */
export function torchvisionModelOf(index: ModuleIndex, expr: SyntaxNode): LibraryModel | undefined {
  let node: SyntaxNode | undefined = expr;
  let groupNorm: LibraryModel['groupNorm'];
  for (let hops = 0; node && hops < 16; hops++) {
    if (node.type === 'call') {
      const step = modelInside(index, node);
      if (step) {
        if (step.groupNorm) groupNorm ??= step.groupNorm;
        node = step.inner;
        continue;
      }
      const built = torchvisionModel(index, node);
      return built && groupNorm ? { ...built, groupNorm } : built;
    }
    if (node.type === 'identifier' || (node.type === 'attribute' && node.childForFieldName('object')?.text === 'self')) {
      node = assignedBefore(index, node);
      continue;
    }
    return undefined;
  }
  return undefined;
}

/** The torchvision architecture a call builds, if it is one of torchvision's model builders the catalogue has. */
export function torchvisionModel(index: ModuleIndex, call: SyntaxNode): LibraryModel | undefined {
  const fn = call.childForFieldName('function');
  const qualified = qualifiedName(index, fn);
  if (!qualified?.startsWith('torchvision.models.')) return undefined;
  const args = callArguments(call);
  const last = qualified.split('.').pop()!;
  // `get_model("resnet18", weights=None, num_classes=10)` (torchvision ≥ 0.14) names the builder as a string.
  const getModel = last === 'get_model';
  const name = getModel ? stringLiteral(args.keyword.get('name')?.value ?? args.positional[0]) : last;
  const architecture = name ? findArchitecture(name) : undefined;
  if (!architecture || architecture.family !== 'torchvision') return undefined;
  const out: LibraryModel = { architecture, builder: dottedName(fn)!, call, range: nodeRange(call) };

  const classes = args.keyword.get('num_classes');
  if (classes) {
    const r = resolveValue({ module: index }, classes.value);
    const values = r.kind === 'known' ? [...new Set(r.values.map((v) => v.value))] : [];
    if (values.length === 1 && typeof values[0] === 'number' && Number.isSafeInteger(values[0]) && values[0] >= 1) out.classes = { value: values[0], range: nodeRange(classes.value) };
    else out.unread = r.kind === 'runtime' ? `num_classes is set at run time (${r.reason})` : `num_classes may be ${values.map(String).join(' or ')}`;
  }
  // Pretrained weights: the catalogue writes the architecture at initialisation, which is not what the script trains.
  const keyword = args.keyword.get('weights') ?? args.keyword.get('pretrained');
  const weights = keyword?.value ?? (getModel ? undefined : args.positional[0]);
  if (weights && !/^(None|False|0)$/.test(weights.text.trim())) out.pretrained = short(keyword?.node.text ?? weights.text);
  return out;
}

/** The torchvision transforms that set the image size a pipeline delivers. */
const SIZE_TRANSFORMS = new Set(['Resize', 'CenterCrop', 'RandomResizedCrop', 'RandomCrop']);

/** The dataset the file loads through torchvision.datasets and the size its transforms end with. */
export function scriptInput(index: ModuleIndex, trained?: { name: string; range: Range }): ScriptInput {
  const found = new Map<string, Range>();
  const sizes = new Map<string, { value: [number, number]; range: Range }>();
  let unreadSize: string | undefined;
  for (const n of walk(index.root)) {
    if (n.type !== 'call') continue;
    const q = qualifiedName(index, n.childForFieldName('function'));
    if (!q) continue;
    if (q.startsWith('torchvision.datasets.')) {
      const cls = q.split('.').pop()!;
      if (datasetShape(cls) && !found.has(cls)) found.set(cls, nodeRange(n));
    } else if (q.startsWith('torchvision.transforms.') && q.split('.').pop() === 'Compose') {
      // A pipeline's size is that of its last resizing or cropping step.
      const list = callArguments(n).positional[0];
      if (list?.type !== 'list') continue;
      let size: { value: [number, number]; range: Range } | undefined;
      for (const step of list.namedChildren) {
        if (step?.type !== 'call') continue;
        const sq = qualifiedName(index, step.childForFieldName('function'));
        if (!sq?.startsWith('torchvision.transforms.') || !SIZE_TRANSFORMS.has(sq.split('.').pop()!)) continue;
        const arg = callArguments(step).keyword.get('size')?.value ?? callArguments(step).positional[0];
        const hw = arg ? sizeOf(index, arg) : undefined;
        if (!hw) {
          unreadSize = `\`${short(step.text)}\` sets a size that cannot be read statically`;
          size = undefined;
          break;
        }
        size = { value: hw, range: nodeRange(step) };
      }
      if (size) sizes.set(size.value.join('×'), size);
    }
  }
  const out: ScriptInput = {};
  // The dataset the DP call's DataLoader samples (pysource/trainingData.ts) answers, whatever else the file loads (a
  // second dataset for a demo or an evaluation); without it, several datasets leave the input unread.
  if (trained && datasetShape(trained.name)) out.dataset = trained;
  else if (found.size > 1) out.unread = `the file loads several datasets (${[...found.keys()].join(', ')})`;
  else if (found.size === 1) {
    const [name, range] = [...found][0];
    out.dataset = { name, range };
  }
  if (unreadSize) out.unread = [out.unread, unreadSize].filter(Boolean).join('; ');
  else if (sizes.size > 1) out.unread = [out.unread, `its transforms end at different sizes (${[...sizes.keys()].join(', ')})`].filter(Boolean).join('; ');
  else if (sizes.size === 1) out.size = [...sizes.values()][0];
  return out;
}

/** `224`, `(224, 224)`, `[32, 32]`, or a name bound to one of them: [H, W]. */
function sizeOf(index: ModuleIndex, node: SyntaxNode): [number, number] | undefined {
  if (node.type === 'tuple' || node.type === 'list') {
    const parts = node.namedChildren.filter((c): c is SyntaxNode => !!c).map((c) => single(index, c));
    return parts.length === 2 && parts.every((p) => p !== undefined) ? [parts[0]!, parts[1]!] : undefined;
  }
  const s = single(index, node);
  return s !== undefined ? [s, s] : undefined;
}

/** A positive whole number the expression has in every branch. */
function single(index: ModuleIndex, node: SyntaxNode): number | undefined {
  const v = onlyValue({ module: index }, node);
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

/**
 * What the script changes on the model after building it (`model.conv1 = nn.Conv2d(1, 64, 3)`, `model.fc = …`): the
 * catalogue's architecture is then not what it trains. A new last layer `model.fc = nn.Linear(512, k)` only sets the
 * class count, which is read; anything else is named.
 */
export function changedAfterBuilding(index: ModuleIndex, model: LibraryModel): { classes?: { value: number; range: Range }; change?: string } {
  // The name the built model is bound to: `model = resnet18(…)`, also through `.to(device)`.
  let at: SyntaxNode | null = model.call;
  while (at?.parent && (at.parent.type === 'attribute' || at.parent.type === 'call')) at = at.parent;
  const target = at?.parent?.type === 'assignment' ? at.parent.childForFieldName('left')?.text : undefined;
  if (!target) return {};
  const scope = enclosing(model.call, [target.startsWith('self.') ? 'class_definition' : 'function_definition']) ?? index.root;
  const changes = (n: SyntaxNode) => ({ change: `\`${short(n.text)}\` (line ${n.startPosition.row + 1}) changes the model after it is built` });
  let classes: { value: number; range: Range } | undefined;
  for (const n of walk(scope)) {
    if (n.type === 'assignment') {
      const left = n.childForFieldName('left');
      if (!left || !partOf(left, target)) continue;
      // `model.fc = nn.Linear(512, k)` on a ResNet: a new last layer, which only sets the class count.
      const right = n.childForFieldName('right');
      const newHead = model.architecture.name.startsWith('resnet') && left.type === 'attribute' && left.childForFieldName('object')?.text === target
        && left.childForFieldName('attribute')?.text === 'fc' && right?.type === 'call' && lastName(right.childForFieldName('function')) === 'Linear';
      const out = newHead ? callArguments(right!).keyword.get('out_features')?.value ?? callArguments(right!).positional[1] : undefined;
      const k = out ? single(index, out) : undefined;
      if (k === undefined) return changes(n);
      classes = { value: k, range: nodeRange(out!) };
    } else if (n.type === 'call') {
      const fn = n.childForFieldName('function');
      const name = lastName(fn);
      const onModel = fn?.type === 'attribute' && fn.childForFieldName('object')?.text === target && (name === 'add_module' || name === 'register_module');
      const setattr = fn?.type === 'identifier' && name === 'setattr' && callArguments(n).positional[0]?.text === target;
      if (onModel || setattr) return changes(n);
    }
  }
  return classes ? { classes } : {};
}

/**
 * The setup's architecture, dataset, input shape and class count from a torchvision builder and the script's input.
 * `facts` are clauses for the I2F140 summary (what was read and what it means); when the script changes the model
 * or its input cannot be read nothing is set, and `problem` says why and what would let it be analysed.
 */
export function libraryModelSetup(
  setup: TrainingSetup,
  model: LibraryModel,
  index: ModuleIndex,
  file: string,
  trained?: { name: string; range: Range },
): { facts: string[]; problem?: { reason: string; fix: string } } {
  const changed = changedAfterBuilding(index, model);
  const named = `\`${model.builder}\` (torchvision's ${model.architecture.name}${model.groupNorm ? `, its BatchNorms made GroupNorm(gcd(32, C), C) by \`${model.groupNorm.written}\`` : ''})`;
  const refuse = (why: string, fix: string) => ({ facts: [`the model is ${named}, but ${why}, so it is not analysed`], problem: { reason: `${named}: ${why}`, fix } });
  const ownModel = 'build the model in a class or builder function defined in the script or a module beside it (the export bridge then builds it in your Python)';
  if (changed.change) return refuse(`${changed.change}: the catalogue's ${model.architecture.name} is not what it trains`, ownModel);
  if (model.unread) return refuse(model.unread, 'write num_classes as a literal or a flag default');
  const input = scriptInput(index, trained);
  const fromDataset = input.dataset ? datasetShape(input.dataset.name) : undefined;
  if (input.unread || (!fromDataset && !(input.size && (changed.classes ?? model.classes)))) {
    const why = input.unread ?? 'no torchvision dataset or resizing transform says the input size and classes';
    return refuse(`its input cannot be read (${why})`, 'load the data through one torchvision dataset class (CIFAR10(…), MNIST(…)) or end the transforms with a Resize/CenterCrop of a literal size, and pass num_classes');
  }
  const field = <T>(value: T, key: string, range: Range): ConfigField<T> => ({ value, key, path: [key], keyRange: range, valueRange: range, file });
  setup.architecture = field(model.architecture.name, 'model', model.range);
  if (input.dataset) setup.dataset = field(input.dataset.name, 'dataset', input.dataset.range);
  if (model.groupNorm) setup.normalisation = field('groupnorm' as const, 'normalisation', model.groupNorm.range);
  // torchvision's builders take 3 channels whatever the dataset (a grey dataset is converted, or the script fails).
  const hw = input.size?.value ?? [fromDataset!.inputShape[1], fromDataset!.inputShape[2]];
  if (input.size || fromDataset!.inputShape[0] !== 3) setup.inputShape = field([3, hw[0], hw[1]], 'input-shape', input.size?.range ?? input.dataset!.range);
  const classes = changed.classes ?? model.classes;
  if (classes) setup.classes = field(classes.value, 'num_classes', classes.range);
  const facts = [`the model is ${named} at [3, ${hw[0]}, ${hw[1]}] (${input.size ? 'the size its transforms end with' : `${input.dataset!.name}'s`}), ${classes ? classes.value : fromDataset!.classes} classes, written by the architecture catalogue (no Python runs)`];
  if (model.pretrained) facts.push(`\`${model.pretrained}\` loads pretrained weights: the analysis is of the architecture at initialisation, not of those weights`);
  return { facts };
}

// The architecture catalogue: the models real configs name (`model: resnet18`, FedML's `model: cnn`), each written
// as an IR graph by our own builder with θ named as PyTorch's named_parameters names it.

import type { Model } from '../../graph/ir';
import { UserError } from '../../errors';
import type { Architecture, ArchitectureShape } from './architecture';
import { datasetShape, knownDatasets } from './datasets';
import { FEDML_ARCHITECTURES } from './fedml';
import { MOBILENETS } from './torchvisionMobilenet';
import { RESNETS } from './torchvisionResnet';
import { VGGS } from './torchvisionVgg';
import { DENSENETS } from './torchvisionDensenet';
import { EFFICIENTNETS } from './torchvisionEfficientnet';

export type { Architecture } from './architecture';

const ALL: Architecture[] = [...RESNETS, ...MOBILENETS, ...VGGS, ...DENSENETS, ...EFFICIENTNETS, ...FEDML_ARCHITECTURES];
const BY_NAME = new Map<string, Architecture>();
for (const a of ALL) for (const n of [a.name, ...(a.aliases ?? [])]) BY_NAME.set(normaliseArchitectureName(n), a);

/** `ResNet-18`, `resnet18`, `torchvision.models.resnet18` and `models.resnet18()` name the same model. */
export function normaliseArchitectureName(name: string): string {
  return name.trim().toLowerCase().replace(/\(\s*\)$/, '').replace(/^(torchvision\.)?(models\.)?/, '').replace(/[-. ]/g, '');
}

export function findArchitecture(name: string): Architecture | undefined {
  return BY_NAME.get(normaliseArchitectureName(name));
}

export function catalogueNames(): string[] {
  return ALL.map((a) => a.name);
}

export interface ResolvedShape {
  inputShape: number[];
  classes: number;
  /** Where the sizes came from, for the report ("cifar10", "--input-shape/--classes"). */
  from: string;
}

/**
 * The input shape and class count to build `arch` with: explicit sizes win, then the dataset's table entry. A
 * FedML model whose definition fixes the input says so when neither is given.
 */
export function resolveShape(arch: Architecture, spec: { dataset?: string; inputShape?: number[]; classes?: number }): ResolvedShape {
  const fromDataset = spec.dataset ? datasetShape(spec.dataset) : undefined;
  if (spec.dataset && !fromDataset && !(spec.inputShape && spec.classes))
    throw new UserError('unknown-dataset', `dataset '${spec.dataset}' is not one whose input size we know (${knownDatasets().join(', ')}); give the sizes instead (i2f: input-shape: [3, 32, 32], classes: 10, or --input-shape 3,32,32 --classes 10)`);
  const inputShape = spec.inputShape ?? fromDataset?.inputShape;
  const classes = spec.classes ?? fromDataset?.classes;
  if (!inputShape || !classes)
    throw new UserError('model-shape-unknown', `${arch.name} needs an input shape and a class count: name the dataset (dataset: cifar10) or give them (i2f: input-shape: [3, 32, 32], classes: 10; --input-shape 3,32,32 --classes 10)`);
  if (inputShape.length !== 3 || inputShape.some((d) => !Number.isInteger(d) || d < 1) || !Number.isInteger(classes) || classes < 1)
    throw new UserError('model-shape-unknown', `${arch.name}: the input shape must be [channels, height, width] of whole numbers and the classes a whole number ≥ 1 (got [${inputShape.join(', ')}], ${classes})`);
  const from = spec.inputShape || spec.classes ? (fromDataset ? `${spec.dataset}, with the sizes given` : 'the sizes given') : spec.dataset!;
  return { inputShape, classes, from };
}

/** The graph of `arch` at `shape`, or a UserError saying why that shape does not fit it. */
export function buildArchitecture(arch: Architecture, shape: ArchitectureShape): Model {
  const refused = arch.accepts?.(shape);
  if (refused) throw new UserError('model-shape-unknown', `${arch.name}: ${refused}`);
  try {
    return arch.build(shape);
  } catch (e) {
    // The builder checks each layer's sizes: a too-small input shows up as a layer that cannot fit.
    throw new UserError('model-shape-unknown', `${arch.name} cannot take input [${shape.inputShape.join(', ')}]: ${(e as Error).message}`);
  }
}

// How a training config names its model. Real repositories rarely name an `.onnx` file: they name an architecture
// (`model: resnet18`, FedML's `model: cnn`) or a `torch.nn.Module` in their own Python (`pkg.task:Net`), and the weights
// as a checkpoint. The analysis itself always runs on a model file (ONNX or tfjs): a reference that is not a file is
// materialised into the cache first (`models/materialise.ts`: the architecture catalogue emits ONNX with our own writer,
// the Python bridge runs the workspace's interpreter), and `DiscoveredConfig.model` then points at that file.

import type { PythonModelRef } from '../python/pythonModel';

export type ModelRef =
  /** An `.onnx` file or a tfjs `model.json`, named by the config or adopted from its folder. */
  | { kind: 'file'; path: string }
  /** An architecture by name (torchvision's `resnet18`, FedML's `cnn`), shaped by the dataset or explicit sizes. */
  | { kind: 'catalogue'; name: string; dataset?: string; inputShape?: number[]; classes?: number; normalisation?: 'groupnorm' }
  /**
   * A model built by the workspace's own Python: `module:factory` imported from `root` (or `script-name.py:factory`,
   * a standalone script loaded by path), called with `args` when the code builds it with literal arguments.
   */
  | ({ kind: 'python'; foundBy?: string } & PythonModelRef);

/** One line for messages: what the config named. */
export function describeModelRef(ref: ModelRef): string {
  switch (ref.kind) {
    case 'file':
      return ref.path;
    case 'catalogue':
      return `architecture \`${ref.name}\`${ref.normalisation === 'groupnorm' ? ' with GroupNorm' : ''}${ref.dataset ? ` for ${ref.dataset}` : ''}`;
    case 'python':
      return `Python model \`${ref.factory}\``;
  }
}

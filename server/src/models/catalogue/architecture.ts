// What a catalogue entry is: a named architecture that writes itself as an IR graph for an input shape and class count.

import type { Model } from '../../graph/ir';

export interface ArchitectureShape {
  /** One example's input, channels first: [C, H, W]. */
  inputShape: number[];
  classes: number;
  /** Seed of the initial weights (PyTorch's init distributions, our generator). */
  seed: number;
  /** The dataset named, for families whose model depends on it (FedML's `lr` and `cnn`). */
  dataset?: string;
  /** 'groupnorm': each BatchNorm replaced by nn.GroupNorm(gcd(32, C), C), as Opacus' ModuleValidator.fix does. */
  normalisation?: 'groupnorm';
}

export interface Architecture {
  /** The name configs use (`resnet18`, FedML's `cnn`). */
  name: string;
  /** Other spellings that mean the same model. */
  aliases?: string[];
  /** Whose definition this follows, for reports ("torchvision 0.14", "FedML"). */
  family: 'torchvision' | 'fedml';
  /** The module it mirrors, for reports and the generator's references (`torchvision.models.resnet18`). */
  source: string;
  /** Input shapes it takes: a model whose classifier is sized for one resolution says so here. */
  accepts?: (shape: ArchitectureShape) => string | undefined;
  build(shape: ArchitectureShape): Model;
}

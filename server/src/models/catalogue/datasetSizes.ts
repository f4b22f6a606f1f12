// Examples in each split of the datasets torchvision loads by class name (and Keras' `tf.keras.datasets.X.load_data()`
// and TensorFlow Datasets' `tfds.load('x', split='train')` by module or builder name, the same splits): N, the population a DP-SGD run samples its
// batches from (q = B/N) and whose default δ is 1/N rounded down. Each split as torchvision.datasets selects it
// (`train=True|False`, or `split=…`; https://pytorch.org/vision/stable/datasets.html), counted as the datasets' papers
// publish them:
//   MNIST 60,000 / 10,000 (LeCun et al., "Gradient-based learning applied to document recognition", 1998);
//   Fashion-MNIST 60,000 / 10,000 (Xiao et al., arXiv:1708.07747, 2017);
//   Kuzushiji-MNIST 60,000 / 10,000 (Clanuwat et al., arXiv:1812.01718, 2018);
//   EMNIST per split (Cohen et al., "EMNIST: an extension of MNIST to handwritten letters", arXiv:1702.05373, Table II);
//   CIFAR-10 and CIFAR-100 50,000 / 10,000 (Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009);
//   SVHN 73,257 train / 26,032 test / 531,131 extra (Netzer et al., NIPS workshop 2011);
//   STL-10 5,000 train / 8,000 test / 100,000 unlabeled (Coates et al., AISTATS 2011);
//   CelebA 162,770 / 19,867 / 19,962 (Liu et al., ICCV 2015; the standard partition torchvision's `split` reads);
//   USPS 7,291 / 2,007 (Hull, IEEE TPAMI 16(5), 1994).

import { normaliseDatasetName } from './datasets';

/**
 * How a torchvision dataset class chooses its split, and its training split's size: a `train` flag (default True,
 * the second positional argument after `root`), or a `split` string (`default` when the constructor has one).
 */
export type TrainSplit =
  | { kind: 'train-flag'; train: number }
  | { kind: 'split'; default?: string; train: Record<string, number> };

/** Keys normalised as datasets.ts does (lower case, no '-', '_', ' ', '.'). */
const TRAIN_SPLITS: Record<string, TrainSplit> = {
  mnist: { kind: 'train-flag', train: 60_000 },
  fashionmnist: { kind: 'train-flag', train: 60_000 },
  kmnist: { kind: 'train-flag', train: 60_000 },
  cifar10: { kind: 'train-flag', train: 50_000 },
  cifar100: { kind: 'train-flag', train: 50_000 },
  usps: { kind: 'train-flag', train: 7_291 },
  // EMNIST has no default split (`EMNIST(root, split="balanced", train=True)`): each split's training part.
  emnist: { kind: 'split', train: { byclass: 697_932, bymerge: 697_932, balanced: 112_800, letters: 124_800, digits: 240_000, mnist: 60_000 } },
  svhn: { kind: 'split', default: 'train', train: { train: 73_257 } },
  stl10: { kind: 'split', default: 'train', train: { train: 5_000 } },
  celeba: { kind: 'split', default: 'train', train: { train: 162_770 } },
};

/** The training split of a torchvision dataset class (`CIFAR10`), or undefined when it is not in the table. */
export function trainSplit(name: string): TrainSplit | undefined {
  return TRAIN_SPLITS[normaliseDatasetName(name)];
}

/**
 * The whole training split's size of a dataset loaded by name (Keras' `tf.keras.datasets.cifar10`, TensorFlow
 * Datasets' `'fashion_mnist'`), from the same table: the same published splits. Undefined when the name is not in
 * it or has no single training split (EMNIST needs a split named).
 */
export function publishedTrainSize(name: string): number | undefined {
  const split = trainSplit(name);
  if (!split) return undefined;
  return split.kind === 'train-flag' ? split.train : split.default === 'train' ? split.train.train : undefined;
}

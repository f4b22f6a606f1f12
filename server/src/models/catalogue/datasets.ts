// Input shape and class count of the datasets configs name (`dataset: cifar10`), as their usual loaders deliver them.

export interface DatasetShape {
  /** [C, H, W] of one example. */
  inputShape: number[];
  classes: number;
}

const GREY28 = [1, 28, 28];
const RGB32 = [3, 32, 32];

/** Keys are normalised: lower case, no '-', '_', ' ' or '.'. */
const DATASETS: Record<string, DatasetShape> = {
  mnist: { inputShape: GREY28, classes: 10 },
  fashionmnist: { inputShape: GREY28, classes: 10 },
  fmnist: { inputShape: GREY28, classes: 10 },
  kmnist: { inputShape: GREY28, classes: 10 },
  // EMNIST "byclass" and LEAF's FEMNIST: digits and upper/lower-case letters.
  emnist: { inputShape: GREY28, classes: 62 },
  femnist: { inputShape: GREY28, classes: 62 },
  fedemnist: { inputShape: GREY28, classes: 62 },
  cifar10: { inputShape: RGB32, classes: 10 },
  cinic10: { inputShape: RGB32, classes: 10 },
  cifar100: { inputShape: RGB32, classes: 100 },
  // TensorFlow Federated's CIFAR-100 as FedML loads it: 24×24 crops.
  fedcifar100: { inputShape: [3, 24, 24], classes: 100 },
  svhn: { inputShape: RGB32, classes: 10 },
  gtsrb: { inputShape: RGB32, classes: 43 },
  stl10: { inputShape: [3, 96, 96], classes: 10 },
  tinyimagenet: { inputShape: [3, 64, 64], classes: 200 },
  tinyimagenet200: { inputShape: [3, 64, 64], classes: 200 },
  imagenet: { inputShape: [3, 224, 224], classes: 1000 },
  imagenet1k: { inputShape: [3, 224, 224], classes: 1000 },
  ilsvrc2012: { inputShape: [3, 224, 224], classes: 1000 },
};

export function normaliseDatasetName(name: string): string {
  return name.toLowerCase().replace(/[-_ .]/g, '');
}

export function datasetShape(name: string): DatasetShape | undefined {
  const d = DATASETS[normaliseDatasetName(name)];
  return d ? { inputShape: [...d.inputShape], classes: d.classes } : undefined;
}

export function knownDatasets(): string[] {
  return ['mnist', 'fashion-mnist', 'kmnist', 'emnist', 'femnist', 'cifar10', 'cinic10', 'cifar100', 'fed_cifar100', 'svhn', 'gtsrb', 'stl10', 'tiny-imagenet', 'imagenet'];
}

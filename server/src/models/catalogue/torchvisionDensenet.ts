// torchvision 0.14's DenseNet-121 (models/densenet.py): growth 32, blocks (6, 12, 24, 16), bottleneck 4·32; every
// dense layer reads the concatenation of all earlier feature maps of its block (BatchNorm → ReLU → 1×1 conv →
// BatchNorm → ReLU → 3×3 conv); transitions halve the channels and average-pool. Convs kaiming_normal_ (fan_in),
// BatchNorm 1/0, the classifier's bias 0 (its weight at nn.Linear's default).

import type { Architecture } from './architecture';
import { INPUT, NetBuilder, type Value } from './netBuilder';

const KAIMING_IN = { kind: 'kaiming-normal', mode: 'fan_in' } as const;

const densenet121: Architecture = {
  name: 'densenet121',
  family: 'torchvision',
  source: 'torchvision.models.densenet121',
  build(shape) {
    const b = new NetBuilder(shape.seed, shape.normalisation);
    const growth = 32;
    let x: Value = INPUT(shape.inputShape);
    x = b.conv('features.conv0', x, { inChannels: shape.inputShape[0], outChannels: 64, kernel: 7, stride: 2, padding: 3, weightInit: KAIMING_IN });
    x = b.maxPool(b.relu(b.batchNorm('features.norm0', x)), 3, 2, 1);
    [6, 12, 24, 16].forEach((layers, bi) => {
      const features: Value[] = [x];
      for (let l = 1; l <= layers; l++) {
        const p = `features.denseblock${bi + 1}.denselayer${l}`;
        const input = features.length === 1 ? features[0] : b.concat(features);
        let y = b.conv(`${p}.conv1`, b.relu(b.batchNorm(`${p}.norm1`, input)), { inChannels: input.dims[0], outChannels: 4 * growth, kernel: 1, weightInit: KAIMING_IN });
        y = b.conv(`${p}.conv2`, b.relu(b.batchNorm(`${p}.norm2`, y)), { inChannels: 4 * growth, outChannels: growth, kernel: 3, padding: 1, weightInit: KAIMING_IN });
        features.push(y);
      }
      x = b.concat(features);
      if (bi < 3) {
        const p = `features.transition${bi + 1}`;
        x = b.conv(`${p}.conv`, b.relu(b.batchNorm(`${p}.norm`, x)), { inChannels: x.dims[0], outChannels: x.dims[0] / 2, kernel: 1, weightInit: KAIMING_IN });
        x = b.avgPool(x, 2, 2);
      }
    });
    x = b.flatten(b.globalAvgPool(b.relu(b.batchNorm('features.norm5', x))));
    const y = b.linear('classifier', x, x.dims[0], shape.classes, { kind: 'torch-default' }, { kind: 'constant', value: 0 });
    return b.finish(y, shape.inputShape, 'torchvision.densenet121');
  },
};

export const DENSENETS: Architecture[] = [densenet121];

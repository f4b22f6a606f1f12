// torchvision 0.14's VGG-11 with BatchNorm (models/vgg.py, configuration "A"): conv (with bias) → BatchNorm → ReLU,
// max-pools, AdaptiveAvgPool2d((7, 7)), three Linear layers; convs kaiming_normal_(fan_out), biases 0, Linear N(0, 0.01).

import type { Architecture } from './architecture';
import { INPUT, NetBuilder, type Value } from './netBuilder';

const KAIMING = { kind: 'kaiming-normal', mode: 'fan_out' } as const;
const ZERO = { kind: 'constant', value: 0 } as const;
const LINEAR = { kind: 'normal', std: 0.01 } as const;

const vgg11Bn: Architecture = {
  name: 'vgg11_bn',
  family: 'torchvision',
  source: 'torchvision.models.vgg11_bn',
  build(shape) {
    const b = new NetBuilder(shape.seed, shape.normalisation);
    let x: Value = INPUT(shape.inputShape);
    let index = 0;
    for (const v of [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'] as const) {
      if (v === 'M') {
        x = b.maxPool(x, 2, 2);
        index++;
        continue;
      }
      x = b.conv(`features.${index}`, x, { inChannels: x.dims[0], outChannels: v, kernel: 3, padding: 1, bias: true, weightInit: KAIMING, biasInit: ZERO });
      x = b.relu(b.batchNorm(`features.${index + 1}`, x));
      index += 3;
    }
    x = b.flatten(b.adaptiveAvgPool(x, 7, 'vgg11_bn'));
    x = b.relu(b.linear('classifier.0', x, 512 * 7 * 7, 4096, LINEAR, ZERO));
    x = b.relu(b.linear('classifier.3', x, 4096, 4096, LINEAR, ZERO));
    const y = b.linear('classifier.6', x, 4096, shape.classes, LINEAR, ZERO);
    return b.finish(y, shape.inputShape, 'torchvision.vgg11_bn');
  },
};

export const VGGS: Architecture[] = [vgg11Bn];

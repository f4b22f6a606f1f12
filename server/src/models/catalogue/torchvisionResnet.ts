// torchvision 0.14's ResNets (torchvision/models/resnet.py): BasicBlock (18, 34) and Bottleneck v1.5 (50: the stride on
// the 3×3 conv), convs kaiming_normal_(fan_out, relu), BatchNorm 1/0, the fc at nn.Linear's default init.

import type { Architecture } from './architecture';
import { INPUT, NetBuilder, type Value } from './netBuilder';

const KAIMING = { kind: 'kaiming-normal', mode: 'fan_out' } as const;

function resnet(name: string, block: 'basic' | 'bottleneck', layers: number[]): Architecture {
  const expansion = block === 'basic' ? 1 : 4;
  return {
    name,
    family: 'torchvision',
    source: `torchvision.models.${name}`,
    build(shape) {
      const b = new NetBuilder(shape.seed, shape.normalisation);
      let x: Value = INPUT(shape.inputShape);
      x = b.conv('conv1', x, { inChannels: shape.inputShape[0], outChannels: 64, kernel: 7, stride: 2, padding: 3, weightInit: KAIMING });
      x = b.maxPool(b.relu(b.batchNorm('bn1', x)), 3, 2, 1);
      let inplanes = 64;
      layers.forEach((blocks, li) => {
        const planes = 64 << li;
        for (let i = 0; i < blocks; i++) {
          const p = `layer${li + 1}.${i}`;
          const stride = i === 0 && li > 0 ? 2 : 1;
          let out: Value;
          if (block === 'basic') {
            out = b.relu(b.batchNorm(`${p}.bn1`, b.conv(`${p}.conv1`, x, { inChannels: inplanes, outChannels: planes, kernel: 3, stride, padding: 1, weightInit: KAIMING })));
            out = b.batchNorm(`${p}.bn2`, b.conv(`${p}.conv2`, out, { inChannels: planes, outChannels: planes, kernel: 3, padding: 1, weightInit: KAIMING }));
          } else {
            out = b.relu(b.batchNorm(`${p}.bn1`, b.conv(`${p}.conv1`, x, { inChannels: inplanes, outChannels: planes, kernel: 1, weightInit: KAIMING })));
            out = b.relu(b.batchNorm(`${p}.bn2`, b.conv(`${p}.conv2`, out, { inChannels: planes, outChannels: planes, kernel: 3, stride, padding: 1, weightInit: KAIMING })));
            out = b.batchNorm(`${p}.bn3`, b.conv(`${p}.conv3`, out, { inChannels: planes, outChannels: planes * expansion, kernel: 1, weightInit: KAIMING }));
          }
          const downsample = stride !== 1 || inplanes !== planes * expansion;
          const identity = downsample
            ? b.batchNorm(`${p}.downsample.1`, b.conv(`${p}.downsample.0`, x, { inChannels: inplanes, outChannels: planes * expansion, kernel: 1, stride, weightInit: KAIMING }))
            : x;
          x = b.relu(b.add(out, identity));
          inplanes = planes * expansion;
        }
      });
      const y = b.linear('fc', b.flatten(b.globalAvgPool(x)), 512 * expansion, shape.classes);
      return b.finish(y, shape.inputShape, `torchvision.${name}`);
    },
  };
}

export const RESNETS: Architecture[] = [
  resnet('resnet18', 'basic', [2, 2, 2, 2]),
  resnet('resnet34', 'basic', [3, 4, 6, 3]),
  resnet('resnet50', 'bottleneck', [3, 4, 6, 3]),
];

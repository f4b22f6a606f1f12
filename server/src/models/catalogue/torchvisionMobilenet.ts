// torchvision 0.14's MobileNetV2 (models/mobilenetv2.py): ReLU6 (exported as Clip), inverted residuals, convs
// kaiming_normal_(fan_out), BatchNorm 1/0, the classifier's Linear N(0, 0.01) with zero bias.

import type { Architecture } from './architecture';
import { INPUT, NetBuilder, type Value } from './netBuilder';

const KAIMING = { kind: 'kaiming-normal', mode: 'fan_out' } as const;
const ZERO = { kind: 'constant', value: 0 } as const;

/** torchvision's _make_divisible: round to a multiple of 8, never more than 10% down. */
export function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

const mobilenetV2: Architecture = {
  name: 'mobilenet_v2',
  aliases: ['mobilenetv2'],
  family: 'torchvision',
  source: 'torchvision.models.mobilenet_v2',
  build(shape) {
    const b = new NetBuilder(shape.seed);
    // Conv2dNormActivation: conv (no bias) → BatchNorm → ReLU6, named `.0`, `.1`.
    const convBnRelu6 = (p: string, x: Value, out: number, k: number, stride: number, groups = 1) =>
      b.relu6(b.batchNorm(`${p}.1`, b.conv(`${p}.0`, x, { inChannels: x.dims[0], outChannels: out, kernel: k, stride, padding: (k - 1) / 2, groups, weightInit: KAIMING })));
    let x: Value = INPUT(shape.inputShape);
    let inC = makeDivisible(32);
    x = convBnRelu6('features.0', x, inC, 3, 2);
    let index = 1;
    for (const [t, c, n, s] of [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]) {
      const outC = makeDivisible(c);
      for (let i = 0; i < n; i++) {
        const stride = i === 0 ? s : 1;
        const p = `features.${index++}.conv`;
        const hidden = Math.round(inC * t);
        let y = x;
        let k = 0;
        if (t !== 1) y = convBnRelu6(`${p}.${k++}`, y, hidden, 1, 1);
        y = convBnRelu6(`${p}.${k++}`, y, hidden, 3, stride, hidden);
        y = b.conv(`${p}.${k++}`, y, { inChannels: hidden, outChannels: outC, kernel: 1, weightInit: KAIMING });
        y = b.batchNorm(`${p}.${k++}`, y);
        x = stride === 1 && inC === outC ? b.add(x, y) : y;
        inC = outC;
      }
    }
    x = convBnRelu6(`features.${index}`, x, 1280, 1, 1);
    const y = b.linear('classifier.1', b.flatten(b.globalAvgPool(x)), 1280, shape.classes, { kind: 'normal', std: 0.01 }, ZERO);
    return b.finish(y, shape.inputShape, 'torchvision.mobilenet_v2');
  },
};

export const MOBILENETS: Architecture[] = [mobilenetV2];

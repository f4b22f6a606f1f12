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
    const b = new NetBuilder(shape.seed, shape.normalisation);
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

/**
 * MobileNetV3-Small (models/mobilenetv3.py): inverted residuals with ReLU or Hardswish, squeeze-and-excitation gated
 * by Hardsigmoid, BatchNorm ε = 1e-3; convs kaiming_normal_(fan_out) with zero biases, Linear N(0, 0.01), zero bias.
 */
const mobilenetV3Small: Architecture = {
  name: 'mobilenet_v3_small',
  aliases: ['mobilenetv3small'],
  family: 'torchvision',
  source: 'torchvision.models.mobilenet_v3_small',
  build(shape) {
    const b = new NetBuilder(shape.seed, shape.normalisation);
    const act = (x: Value, hs: boolean) => (hs ? b.hardSwish(x) : b.relu(x));
    const convBnAct = (p: string, x: Value, out: number, k: number, stride: number, groups: number, a: 'RE' | 'HS' | null) => {
      const y = b.batchNorm(`${p}.1`, b.conv(`${p}.0`, x, { inChannels: x.dims[0], outChannels: out, kernel: k, stride, padding: (k - 1) / 2, groups, weightInit: KAIMING }), 1e-3, 0.01);
      return a ? act(y, a === 'HS') : y;
    };
    let x: Value = INPUT(shape.inputShape);
    x = convBnAct('features.0', x, 16, 3, 2, 1, 'HS');
    // (in, kernel, expanded, out, squeeze-excite, activation, stride)
    const blocks = [
      [16, 3, 16, 16, true, 'RE', 2], [16, 3, 72, 24, false, 'RE', 2], [24, 3, 88, 24, false, 'RE', 1],
      [24, 5, 96, 40, true, 'HS', 2], [40, 5, 240, 40, true, 'HS', 1], [40, 5, 240, 40, true, 'HS', 1],
      [40, 5, 120, 48, true, 'HS', 1], [48, 5, 144, 48, true, 'HS', 1], [48, 5, 288, 96, true, 'HS', 2],
      [96, 5, 576, 96, true, 'HS', 1], [96, 5, 576, 96, true, 'HS', 1],
    ] as const;
    blocks.forEach(([inC, k, expanded, outC, se, a, stride], i) => {
      const p = `features.${i + 1}.block`;
      let y = x;
      let j = 0;
      if (expanded !== inC) y = convBnAct(`${p}.${j++}`, y, expanded, 1, 1, 1, a);
      y = convBnAct(`${p}.${j++}`, y, expanded, k, stride, expanded, a);
      if (se) {
        const s = `${p}.${j++}`;
        const squeeze = makeDivisible(Math.floor(expanded / 4));
        let gate = b.relu(b.conv(`${s}.fc1`, b.globalAvgPool(y), { inChannels: expanded, outChannels: squeeze, kernel: 1, bias: true, weightInit: KAIMING, biasInit: ZERO }));
        gate = b.hardSigmoid(b.conv(`${s}.fc2`, gate, { inChannels: squeeze, outChannels: expanded, kernel: 1, bias: true, weightInit: KAIMING, biasInit: ZERO }));
        y = b.mul(y, gate);
      }
      y = convBnAct(`${p}.${j++}`, y, outC, 1, 1, 1, null);
      x = stride === 1 && inC === outC ? b.add(y, x) : y;
    });
    x = convBnAct('features.12', x, 576, 1, 1, 1, 'HS');
    x = b.hardSwish(b.linear('classifier.0', b.flatten(b.globalAvgPool(x)), 576, 1024, { kind: 'normal', std: 0.01 }, ZERO));
    const y = b.linear('classifier.3', x, 1024, shape.classes, { kind: 'normal', std: 0.01 }, ZERO);
    return b.finish(y, shape.inputShape, 'torchvision.mobilenet_v3_small');
  },
};

export const MOBILENETS: Architecture[] = [mobilenetV2, mobilenetV3Small];

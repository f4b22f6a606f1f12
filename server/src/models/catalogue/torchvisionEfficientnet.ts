// torchvision 0.14's EfficientNet-B0 (models/efficientnet.py): MBConv blocks (1×1 expand, depthwise k×k, squeeze-and-
// excitation with SiLU and a sigmoid gate, 1×1 project), SiLU written as x·σ(x) as the exporter does, BatchNorm
// ε = 1e-5 (B0 passes no norm_layer), stochastic depth and dropout the identity at analysis time. Convs
// kaiming_normal_(fan_out) with zero biases, BatchNorm 1/0, the classifier U(−1/√classes, 1/√classes) with zero bias.

import type { Architecture } from './architecture';
import { INPUT, NetBuilder, type Value } from './netBuilder';
import { makeDivisible } from './torchvisionMobilenet';

const KAIMING = { kind: 'kaiming-normal', mode: 'fan_out' } as const;
const ZERO = { kind: 'constant', value: 0 } as const;

const efficientnetB0: Architecture = {
  name: 'efficientnet_b0',
  aliases: ['efficientnetb0'],
  family: 'torchvision',
  source: 'torchvision.models.efficientnet_b0',
  build(shape) {
    const b = new NetBuilder(shape.seed, shape.normalisation);
    const convBnSilu = (p: string, x: Value, out: number, k: number, stride: number, groups = 1, act = true): Value => {
      const y = b.batchNorm(`${p}.1`, b.conv(`${p}.0`, x, { inChannels: x.dims[0], outChannels: out, kernel: k, stride, padding: (k - 1) / 2, groups, weightInit: KAIMING }));
      return act ? b.silu(y) : y;
    };
    let x: Value = INPUT(shape.inputShape);
    x = convBnSilu('features.0', x, makeDivisible(32), 3, 2);
    // (expand ratio, kernel, stride, in, out, layers)
    const stages = [[1, 3, 1, 32, 16, 1], [6, 3, 2, 16, 24, 2], [6, 5, 2, 24, 40, 2], [6, 3, 2, 40, 80, 3], [6, 5, 1, 80, 112, 3], [6, 5, 2, 112, 192, 4], [6, 3, 1, 192, 320, 1]];
    stages.forEach(([t, k, s, cin, cout, n], si) => {
      for (let i = 0; i < n; i++) {
        const p = `features.${si + 1}.${i}.block`;
        const inC = i === 0 ? makeDivisible(cin) : makeDivisible(cout);
        const outC = makeDivisible(cout);
        const stride = i === 0 ? s : 1;
        const expanded = makeDivisible(inC * t);
        let y = x;
        let j = 0;
        if (expanded !== inC) y = convBnSilu(`${p}.${j++}`, y, expanded, 1, 1);
        y = convBnSilu(`${p}.${j++}`, y, expanded, k, stride, expanded);
        // Squeeze-and-excitation: fc1 → SiLU → fc2 → sigmoid, a per-channel gate.
        const squeeze = Math.max(1, Math.floor(inC / 4));
        const se = `${p}.${j++}`;
        let gate = b.conv(`${se}.fc1`, b.globalAvgPool(y), { inChannels: expanded, outChannels: squeeze, kernel: 1, bias: true, weightInit: KAIMING, biasInit: ZERO });
        gate = b.sigmoid(b.conv(`${se}.fc2`, b.silu(gate), { inChannels: squeeze, outChannels: expanded, kernel: 1, bias: true, weightInit: KAIMING, biasInit: ZERO }));
        y = b.mul(y, gate);
        y = convBnSilu(`${p}.${j++}`, y, outC, 1, 1, 1, false);
        x = stride === 1 && inC === outC ? b.add(y, x) : y;
      }
    });
    x = convBnSilu('features.8', x, 4 * 320, 1, 1);
    const bound = 1 / Math.sqrt(shape.classes);
    const y = b.linear('classifier.1', b.flatten(b.globalAvgPool(x)), 1280, shape.classes, { kind: 'uniform', bound }, ZERO);
    return b.finish(y, shape.inputShape, 'torchvision.efficientnet_b0');
  },
};

export const EFFICIENTNETS: Architecture[] = [efficientnetB0];

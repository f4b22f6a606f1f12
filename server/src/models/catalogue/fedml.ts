// FedML's built-in models for its `model:` names (fedml/model/model_hub.py `create`), written from their definitions
// in FedML-AI/FedML python/fedml/model/ (linear/lr.py, cv/cnn.py, cv/resnet.py, cv/resnet_gn.py, commit 03e11dfe).

import type { Architecture, ArchitectureShape } from './architecture';
import { INPUT, NetBuilder, type Value } from './netBuilder';
import { sizeOf } from '../../graph/ir';

/**
 * `lr`: LogisticRegression, sigmoid(Linear(x)) on the flattened image (FedML trains it with cross-entropy on those
 * sigmoid outputs, so the graph ends at the sigmoid too).
 */
const lr: Architecture = {
  name: 'lr',
  family: 'fedml',
  source: 'fedml.model.linear.lr.LogisticRegression',
  build(shape) {
    const b = new NetBuilder(shape.seed);
    const x = b.flatten(INPUT(shape.inputShape));
    const y = b.sigmoid(b.linear('linear', x, sizeOf(shape.inputShape), shape.classes));
    return b.finish(y, shape.inputShape, 'fedml.lr');
  },
};

/**
 * `cnn`: CNN_DropOut (FedML builds it for mnist and femnist, `only_digits=False`: 62 classes; we size the last layer
 * from the dataset). Its forward unsqueezes a [B, 28, 28] batch to one channel: our input is that [1, 28, 28].
 * Dropout is the identity at analysis time.
 */
const cnn: Architecture = {
  name: 'cnn',
  aliases: ['cnn_dropout'],
  family: 'fedml',
  source: 'fedml.model.cv.cnn.CNN_DropOut',
  accepts: (s) => (s.inputShape.length === 3 && s.inputShape[0] === 1 && s.inputShape[1] === 28 && s.inputShape[2] === 28 ? undefined : 'CNN_DropOut takes 28×28 one-channel images (its linear_1 has 9216 = 64·12·12 inputs)'),
  build(shape) {
    const b = new NetBuilder(shape.seed);
    let x: Value = INPUT(shape.inputShape);
    x = b.relu(b.conv('conv2d_1', x, { inChannels: 1, outChannels: 32, kernel: 3, bias: true }));
    x = b.relu(b.conv('conv2d_2', x, { inChannels: 32, outChannels: 64, kernel: 3, bias: true }));
    x = b.flatten(b.maxPool(x, 2, 2));
    x = b.relu(b.linear('linear_1', x, 9216, 128));
    const y = b.linear('linear_2', x, 128, shape.classes);
    return b.finish(y, shape.inputShape, 'fedml.cnn');
  },
};

/** CNN_OriginalFedAvg (McMahan et al.'s FedAvg CNN), FedML's other MNIST/FEMNIST CNN. */
const cnnFedAvg: Architecture = {
  name: 'cnn_original_fedavg',
  family: 'fedml',
  source: 'fedml.model.cv.cnn.CNN_OriginalFedAvg',
  accepts: cnn.accepts,
  build(shape) {
    const b = new NetBuilder(shape.seed);
    let x: Value = INPUT(shape.inputShape);
    x = b.maxPool(b.relu(b.conv('conv2d_1', x, { inChannels: 1, outChannels: 32, kernel: 5, padding: 2, bias: true })), 2, 2);
    x = b.maxPool(b.relu(b.conv('conv2d_2', x, { inChannels: 32, outChannels: 64, kernel: 5, padding: 2, bias: true })), 2, 2);
    x = b.relu(b.linear('linear_1', b.flatten(x), 3136, 512));
    const y = b.linear('linear_2', x, 512, shape.classes);
    return b.finish(y, shape.inputShape, 'fedml.cnn_original_fedavg');
  },
};

/**
 * `resnet56`: FedML's CIFAR ResNet (cv/resnet.py) with Bottleneck blocks [6, 6, 6] on 16/32/64 planes; convs
 * kaiming_normal_(fan_out), BatchNorm 1/0, the Linear at PyTorch's default.
 */
const resnet56: Architecture = {
  name: 'resnet56',
  family: 'fedml',
  source: 'fedml.model.cv.resnet.resnet56',
  build(shape) {
    const b = new NetBuilder(shape.seed);
    const conv = { kind: 'kaiming-normal', mode: 'fan_out' } as const;
    let x: Value = INPUT(shape.inputShape);
    x = b.relu(b.batchNorm('bn1', b.conv('conv1', x, { inChannels: shape.inputShape[0], outChannels: 16, kernel: 3, padding: 1, weightInit: conv })));
    let inplanes = 16;
    for (const [li, planes, stride] of [[1, 16, 1], [2, 32, 2], [3, 64, 2]]) {
      for (let i = 0; i < 6; i++) {
        const p = `layer${li}.${i}`;
        const s = i === 0 ? stride : 1;
        let out = b.relu(b.batchNorm(`${p}.bn1`, b.conv(`${p}.conv1`, x, { inChannels: inplanes, outChannels: planes, kernel: 1, weightInit: conv })));
        out = b.relu(b.batchNorm(`${p}.bn2`, b.conv(`${p}.conv2`, out, { inChannels: planes, outChannels: planes, kernel: 3, stride: s, padding: 1, weightInit: conv })));
        out = b.batchNorm(`${p}.bn3`, b.conv(`${p}.conv3`, out, { inChannels: planes, outChannels: planes * 4, kernel: 1, weightInit: conv }));
        const identity = i === 0 ? b.batchNorm(`${p}.downsample.1`, b.conv(`${p}.downsample.0`, x, { inChannels: inplanes, outChannels: planes * 4, kernel: 1, stride: s, weightInit: conv })) : x;
        x = b.relu(b.add(out, identity));
        inplanes = planes * 4;
      }
    }
    const y = b.linear('fc', b.flatten(b.globalAvgPool(x)), 256, shape.classes);
    return b.finish(y, shape.inputShape, 'fedml.resnet56');
  },
};

/**
 * `resnet18_gn`: FedML's ResNet-18 with its GroupNorm2d (cv/resnet_gn.py, 32 channels a group: a BatchNorm over
 * C/32 features on the grouped view, so weight and bias have C/32 entries), convs N(0, 2/(k²·out)), each block's
 * last norm weight zeroed, AvgPool2d(1) (the identity) before the classifier: the feature map must be 1×1 there,
 * as with FedML's fed_cifar100 (24×24) or CIFAR's 32×32.
 */
const resnet18Gn: Architecture = {
  name: 'resnet18_gn',
  family: 'fedml',
  source: 'fedml.model.cv.resnet_gn.resnet18',
  accepts: (s) => (s.inputShape[1] <= 32 && s.inputShape[2] <= 32 && s.inputShape[1] > 16 ? undefined : `FedML's resnet18_gn flattens its layer4 output unpooled into a 512-input Linear: it runs only on inputs of 17–32 pixels (fed_cifar100's 24×24, CIFAR's 32×32), not ${s.inputShape.slice(1).join('×')}`),
  build(shape) {
    const b = new NetBuilder(shape.seed);
    const conv = { kind: 'kaiming-normal', mode: 'fan_out' } as const;
    const gn = (p: string, v: Value) => b.groupNorm(p, v, v.dims[0] / 32, 'group');
    let x: Value = INPUT(shape.inputShape);
    x = b.maxPool(b.relu(gn('bn1', b.conv('conv1', x, { inChannels: shape.inputShape[0], outChannels: 64, kernel: 7, stride: 2, padding: 3, weightInit: conv }))), 3, 2, 1);
    let inplanes = 64;
    for (const [li, planes, stride] of [[1, 64, 1], [2, 128, 2], [3, 256, 2], [4, 512, 2]]) {
      for (let i = 0; i < 2; i++) {
        const p = `layer${li}.${i}`;
        const s = i === 0 ? stride : 1;
        let out = b.relu(gn(`${p}.bn1`, b.conv(`${p}.conv1`, x, { inChannels: inplanes, outChannels: planes, kernel: 3, stride: s, padding: 1, weightInit: conv })));
        out = gn(`${p}.bn2`, b.conv(`${p}.conv2`, out, { inChannels: planes, outChannels: planes, kernel: 3, padding: 1, weightInit: conv }));
        b.fill(`${p}.bn2.weight`, 0);
        const downsample = s !== 1 || inplanes !== planes;
        const identity = downsample ? gn(`${p}.downsample.1`, b.conv(`${p}.downsample.0`, x, { inChannels: inplanes, outChannels: planes, kernel: 1, stride: s, weightInit: conv })) : x;
        x = b.relu(b.add(out, identity));
        inplanes = planes;
      }
    }
    const y = b.linear('fc', b.flatten(x), 512, shape.classes);
    return b.finish(y, shape.inputShape, 'fedml.resnet18_gn');
  },
};

export const FEDML_ARCHITECTURES: Architecture[] = [lr, cnn, cnnFedAvg, resnet56, resnet18Gn];
export type { ArchitectureShape };

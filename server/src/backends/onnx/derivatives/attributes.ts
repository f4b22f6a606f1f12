// The explicit padding of convolution-like ops (and the attribute readers the derivative rules use).

import type { Node } from '../../../graph/ir';

import { attrFloat, attrInt, attrInts, attrString } from '../../../graph/attributes';

export { attrFloat, attrInt, attrInts, attrString };

/** Window geometry of Conv / MaxPool / AveragePool with auto_pad resolved into explicit begin/end pads. */
export interface Window {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** ONNX layout: [b1, b2, …, e1, e2, …]. */
  pads: number[];
}

export function windowOf(node: Node, inputSpatial: number[], kernel: number[]): Window {
  const r = kernel.length;
  const strides = attrInts(node, 'strides') ?? new Array(r).fill(1);
  const dilations = attrInts(node, 'dilations') ?? new Array(r).fill(1);
  let pads = attrInts(node, 'pads') ?? new Array(2 * r).fill(0);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  if (autoPad === 'VALID') pads = new Array(2 * r).fill(0);
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = new Array(2 * r).fill(0);
    for (let i = 0; i < r; i++) {
      const out = Math.ceil(inputSpatial[i] / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - inputSpatial[i]);
      const small = Math.floor(total / 2);
      pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
      pads[i + r] = total - pads[i];
    }
  }
  return { kernel, strides, dilations, pads };
}

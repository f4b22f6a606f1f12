// TensorFlow (NHWC activations, HWIO kernels) → ONNX (NCHW, OIHW) re-layout shared by the layers and graph loaders.

import type { Tensor } from '../../graph/ir';

/** How an activation is laid out in the IR: images channel-first (from TF's NHWC), or [batch, features]. */
export type ActivationLayout = 'nchw' | 'flat';

/**
 * A TF conv kernel [kh, kw, cin, m] → ONNX OIHW. Conv: [m, cin, kh, kw]. Depthwise (channel multiplier m): a group
 * convolution with group = cin whose output channel ci·m + o reads input channel ci only, so [cin·m, 1, kh, kw].
 */
export function relayoutKernel(k: Tensor, depthwise: boolean): Tensor {
  const [kh, kw, cin, m] = k.dims;
  const cout = depthwise ? cin * m : m;
  const w = new Float32Array(k.data.length);
  const src = k.data as Float32Array;
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let ci = 0; ci < cin; ci++)
        for (let o = 0; o < m; o++) {
          const v = src[((i * kw + j) * cin + ci) * m + o];
          if (depthwise) w[((ci * m + o) * kh + i) * kw + j] = v;
          else w[((o * cin + ci) * kh + i) * kw + j] = v;
        }
  return { dtype: 'float32', dims: depthwise ? [cout, 1, kh, kw] : [cout, cin, kh, kw], data: w };
}

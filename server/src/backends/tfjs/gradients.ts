// A closed gradient table for every tfjs kernel the IR interpreter emits, correct to every order: each gradient
// recomputes what it needs from saved INPUTS (never saved outputs) and is written only in kernels of this table.
//
// Why (MEASURED.md, ARCHITECTURE.md): tfjs saves a kernel's outputs as clones taken before the kernel's own tape
// node exists, so at second order a gradient that reads a saved output (sigmoid, tanh, exp, softmax) silently
// treats it as a constant; conv2d's and pooling's gradient kernels have no gradients of their own (second order
// throws), WASM has no Conv2DBackpropFilter kernel, and tfjs-core's CommonJS bundle registers no gradients at all.
// Conv2D's gradients here are conv2d calls on re-laid-out tensors (input gradient: a full correlation with the
// flipped kernel; filter gradient: batch and channel roles swapped, stride as dilation), so the table closes.

import * as tf from '@tensorflow/tfjs-core';

type GradConfig = tf.GradConfig;
type Attrs = Record<string, unknown>;
type CustomGradient = Parameters<typeof tf.customGrad>[0];

/**
 * Sums `dy` over the axes broadcasting stretched, back to `shape` (the gradient of an implicit broadcast).
 * Never `dy` itself: tfjs's backprop disposes an input's previous gradient when it accumulates a second one, so a
 * gradient object shared between two inputs (or with the node's own dy) is freed while still in use (a tensor used
 * twice, as in x + x·y, then failed with "Cannot read properties of undefined (reading 'backend')").
 */
export function sumToShape(dy: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (dy.shape.length === shape.length && dy.shape.every((d, i) => d === shape[i])) return tf.clone(dy);
  const lead = dy.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < dy.rank; i++) if (i < lead || (shape[i - lead] === 1 && dy.shape[i] !== 1)) axes.push(i);
  const summed = axes.length ? tf.sum(dy, axes) : dy;
  return tf.reshape(summed, [...shape]);
}

const zerosLikeInput = (x: tf.Tensor) => () => tf.zeros(x.shape, x.dtype === 'int32' ? 'float32' : x.dtype);

/** Inserts s−1 zeros between the rows of `axis` (the transpose of taking every s-th row). */
export function dilateAxis(x: tf.Tensor, axis: number, s: number): tf.Tensor {
  if (s === 1) return x;
  const n = x.shape[axis];
  const expanded = tf.reshape(x, [...x.shape.slice(0, axis + 1), 1, ...x.shape.slice(axis + 1)]);
  const pads = expanded.shape.map((_, i) => (i === axis + 1 ? [0, s - 1] : [0, 0])) as [number, number][];
  const spread = tf.reshape(tf.pad(expanded, pads), [...x.shape.slice(0, axis), n * s, ...x.shape.slice(axis + 1)]);
  return sliceAxis(spread, axis, 0, (n - 1) * s + 1);
}

/** Rows start, start+s, … (count of them) of `axis`, by padding, reshaping and slicing (no StridedSlice kernel). */
export function subsampleAxis(x: tf.Tensor, axis: number, start: number, s: number, count: number): tf.Tensor {
  if (s === 1) return sliceAxis(x, axis, start, count);
  const need = start + count * s;
  const have = x.shape[axis];
  let y = sliceAxis(x, axis, start, Math.min(have, need) - start);
  if (have < need) y = tf.pad(y, y.shape.map((_, i) => (i === axis ? [0, need - have] : [0, 0])) as [number, number][]);
  const grouped = tf.reshape(y, [...x.shape.slice(0, axis), count, s, ...x.shape.slice(axis + 1)]);
  const first = sliceAxis(grouped, axis + 1, 0, 1);
  return tf.reshape(first, [...x.shape.slice(0, axis), count, ...x.shape.slice(axis + 1)]);
}

export function sliceAxis(x: tf.Tensor, axis: number, start: number, size: number): tf.Tensor {
  if (start === 0 && size === x.shape[axis]) return x;
  const begin = x.shape.map((_, i) => (i === axis ? start : 0));
  const sizes = x.shape.map((d, i) => (i === axis ? size : d));
  return tf.slice(x, begin, sizes);
}

/**
 * conv2d (NHWC, HWIO, 'valid') with any stride s and dilation d: tfjs refuses s > 1 with d > 1 at once, so then it
 * runs at stride 1 and subsamples.
 */
export function conv2dValid(x: tf.Tensor4D, w: tf.Tensor4D, s: [number, number], d: [number, number]): tf.Tensor4D {
  if ((s[0] > 1 || s[1] > 1) && (d[0] > 1 || d[1] > 1)) {
    const full = tf.conv2d(x, w, 1, 'valid', 'NHWC', d);
    const ho = Math.floor((x.shape[1] - (w.shape[0] - 1) * d[0] - 1) / s[0]) + 1;
    const wo = Math.floor((x.shape[2] - (w.shape[1] - 1) * d[1] - 1) / s[1]) + 1;
    return subsampleAxis(subsampleAxis(full, 1, 0, s[0], ho), 2, 0, s[1], wo) as tf.Tensor4D;
  }
  return tf.conv2d(x, w, s, 'valid', 'NHWC', d);
}

/** ∂/∂x of conv2dValid: the full correlation of the stride-dilated dy with the flipped, transposed kernel. */
function inputGradientOps(dy: tf.Tensor4D, w: tf.Tensor4D, xShape: number[], s: [number, number], d: [number, number]): tf.Tensor4D {
  const [kh, kw] = w.shape;
  const spread = dilateAxis(dilateAxis(dy, 1, s[0]), 2, s[1]);
  const ph = (kh - 1) * d[0];
  const pw = (kw - 1) * d[1];
  const padded = tf.pad(spread, [[0, 0], [ph, ph], [pw, pw], [0, 0]]) as tf.Tensor4D;
  const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
  const dx = tf.conv2d(padded, flipped, 1, 'valid', 'NHWC', d);
  const rh = xShape[1] - dx.shape[1];
  const rw = xShape[2] - dx.shape[2];
  return (rh || rw ? tf.pad(dx, [[0, 0], [0, rh], [0, rw], [0, 0]]) : dx) as tf.Tensor4D;
}

/** ∂/∂w of conv2dValid: x with batch and channels swapped, correlated with dy as the kernel, stride ↔ dilation. */
function filterGradientOps(x: tf.Tensor4D, dy: tf.Tensor4D, wShape: number[], s: [number, number], d: [number, number]): tf.Tensor4D {
  const xt = tf.transpose(x, [3, 1, 2, 0]) as tf.Tensor4D; // [C, H, W, N]
  const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [Ho, Wo, N, O]
  const out = conv2dValid(xt, dyt, d, s); // [C, ≥kh, ≥kw, O]
  const cropped = tf.slice(out, [0, 0, 0, 0], [out.shape[0], wShape[0], wShape[1], out.shape[3]]);
  return tf.transpose(cropped, [1, 2, 0, 3]) as tf.Tensor4D;
}

/*
 * Both gradients as single differentiable ops whose own gradients are again small-kernel convolutions. A conv is
 * bilinear in (x, w), so for F(x, dy) = ∂⟨dy, conv(x, w)⟩/∂w and G(dy, w) = ∂⟨dy, conv(x, w)⟩/∂x:
 *   ∂⟨F, ū⟩/∂x = G(dy, ū),  ∂⟨F, ū⟩/∂dy = conv(x, ū);   ∂⟨G, x̄⟩/∂dy = conv(x̄, w),  ∂⟨G, x̄⟩/∂w = F(x̄, dy).
 * Left to autodiff, the second order differentiates through filterGradientOps' conv, whose "kernel" is dy (the
 * whole output plane): on ResNet-8 that made J u 25× slower than these kernel-sized convolutions. The gradients
 * are written with the same ops, so the table still closes at every order.
 */
export function conv2dFilterGradient(x: tf.Tensor4D, dy: tf.Tensor4D, wShape: number[], s: [number, number], d: [number, number]): tf.Tensor4D {
  return tf.customGrad(((xi: tf.Tensor, dyi: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xi, dyi]);
    return {
      value: filterGradientOps(xi as tf.Tensor4D, dyi as tf.Tensor4D, wShape, s, d),
      gradFunc: (ubar: tf.Tensor, [xs, dys]: tf.Tensor[]) => [
        conv2dInputGradient(dys as tf.Tensor4D, ubar as tf.Tensor4D, xs.shape, s, d),
        conv2dValid(xs as tf.Tensor4D, ubar as tf.Tensor4D, s, d),
      ],
    };
  }) as unknown as CustomGradient)(x, dy) as tf.Tensor4D;
}

export function conv2dInputGradient(dy: tf.Tensor4D, w: tf.Tensor4D, xShape: number[], s: [number, number], d: [number, number]): tf.Tensor4D {
  return tf.customGrad(((dyi: tf.Tensor, wi: tf.Tensor, save: tf.GradSaveFunc) => {
    save([dyi, wi]);
    return {
      value: inputGradientOps(dyi as tf.Tensor4D, wi as tf.Tensor4D, xShape, s, d),
      gradFunc: (xbar: tf.Tensor, [dys, ws]: tf.Tensor[]) => [
        conv2dValid(xbar as tf.Tensor4D, ws as tf.Tensor4D, s, d),
        conv2dFilterGradient(xbar as tf.Tensor4D, dys as tf.Tensor4D, ws.shape, s, d),
      ],
    };
  }) as unknown as CustomGradient)(dy, w) as tf.Tensor4D;
}

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number]);

/** The whole table. Kernel input names follow tfjs-core's kernel_names.ts. */
export const PATCHED_GRADIENTS: GradConfig[] = [
  // Gradients are fresh handles (tf.clone shares the data), never dy itself: see sumToShape.
  { kernelName: 'Identity', gradFunc: (dy) => ({ x: () => tf.clone(dy as tf.Tensor) }) },
  { kernelName: 'Cast', inputsToSave: ['x'], gradFunc: (dy) => ({ x: () => tf.clone(dy as tf.Tensor) }) },
  { kernelName: 'Reshape', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as tf.Tensor, x.shape) }) },
  {
    kernelName: 'Transpose',
    gradFunc: (dy, _s, attrs) => {
      const perm = (attrs as Attrs).perm as number[];
      const inverse = perm.map((_, i) => perm.indexOf(i));
      return { x: () => tf.transpose(dy as tf.Tensor, inverse) };
    },
  },
  {
    kernelName: 'Add',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({ a: () => sumToShape(dy as tf.Tensor, a.shape), b: () => sumToShape(dy as tf.Tensor, b.shape) }),
  },
  {
    kernelName: 'Sub',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({ a: () => sumToShape(dy as tf.Tensor, a.shape), b: () => sumToShape(tf.neg(dy as tf.Tensor), b.shape) }),
  },
  {
    kernelName: 'Multiply',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({ a: () => sumToShape(tf.mul(dy as tf.Tensor, b), a.shape), b: () => sumToShape(tf.mul(dy as tf.Tensor, a), b.shape) }),
  },
  {
    kernelName: 'RealDiv',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({
      a: () => sumToShape(tf.div(dy as tf.Tensor, b), a.shape),
      b: () => sumToShape(tf.neg(tf.div(tf.mul(dy as tf.Tensor, a), tf.mul(b, b))), b.shape),
    }),
  },
  {
    kernelName: 'AddN',
    saveAllInputs: true,
    gradFunc: (dy, saved) => saved.map(() => () => tf.clone(dy as tf.Tensor)) as unknown as ReturnType<GradConfig['gradFunc']>,
  },
  { kernelName: 'Neg', gradFunc: (dy) => ({ x: () => tf.neg(dy as tf.Tensor) }) },
  {
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b], attrs) => {
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      const g = dy as tf.Tensor;
      const da = transposeA ? tf.matMul(b, g, transposeB, true) : tf.matMul(g, b, false, !transposeB);
      const db = transposeB ? tf.matMul(g, a, true, transposeA) : tf.matMul(a, g, !transposeA, false);
      return { a: () => sumToShape(da, a.shape), b: () => sumToShape(db, b.shape) };
    },
  },
  // Recomputed from x: tfjs's own rules read the saved output y, which drops out of the tape at second order.
  { kernelName: 'Sigmoid', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => { const y = tf.sigmoid(x); return tf.mul(dy as tf.Tensor, tf.mul(y, tf.sub(1, y))); } }) },
  { kernelName: 'Tanh', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => { const y = tf.tanh(x); return tf.mul(dy as tf.Tensor, tf.sub(1, tf.mul(y, y))); } }) },
  { kernelName: 'Exp', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.exp(x)) }) },
  { kernelName: 'Log', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.div(dy as tf.Tensor, x) }) },
  { kernelName: 'Sqrt', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.div(dy as tf.Tensor, tf.mul(tf.sqrt(x), 2)) }) },
  {
    kernelName: 'Erf',
    inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.mul(tf.exp(tf.neg(tf.mul(x, x))), 2 / Math.sqrt(Math.PI))) }),
  },
  {
    // Only constant exponents reach here (LayerNorm's x²): the exponent's own gradient is never requested.
    kernelName: 'Pow',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({
      a: () => sumToShape(tf.mul(dy as tf.Tensor, tf.mul(b, tf.pow(a, tf.sub(b, 1)))), a.shape),
      b: () => sumToShape(tf.mul(dy as tf.Tensor, tf.mul(tf.pow(a, b), tf.log(a))), b.shape),
    }),
  },
  {
    kernelName: 'Sum',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const axes = normaliseAxes((attrs as Attrs).axis as number | number[], x.rank);
      const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
      return { x: () => tf.mul(tf.reshape(dy as tf.Tensor, kept), tf.ones(x.shape)) };
    },
  },
  {
    kernelName: 'Slice',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const { begin, size } = attrs as { begin: number[]; size: number[] };
      const g = dy as tf.Tensor;
      const pads = x.shape.map((d, i) => [begin[i], d - begin[i] - g.shape[i]] as [number, number]);
      void size;
      return { x: () => tf.pad(g, pads) };
    },
  },
  {
    kernelName: 'PadV2',
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const paddings = (attrs as Attrs).paddings as [number, number][];
      return { x: () => tf.slice(dy as tf.Tensor, paddings.map((p) => p[0]), x.shape) };
    },
  },
  {
    kernelName: 'Concat',
    saveAllInputs: true,
    gradFunc: (dy, saved, attrs) => {
      const axis = normaliseAxes((attrs as Attrs).axis as number, saved[0].rank)[0];
      let offset = 0;
      return saved.map((t) => {
        const start = offset;
        offset += t.shape[axis];
        return () => sliceAxis(dy as tf.Tensor, axis, start, t.shape[axis]);
      }) as unknown as ReturnType<GradConfig['gradFunc']>;
    },
  },
  { kernelName: 'Reverse', gradFunc: (dy, _s, attrs) => ({ x: () => tf.reverse(dy as tf.Tensor, (attrs as Attrs).dims as number[]) }) },
  {
    kernelName: 'Conv2D',
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, [x, filter], attrs) => {
      const a = attrs as Attrs;
      if (a.pad !== 'valid' || (a.dataFormat !== undefined && a.dataFormat !== 'NHWC')) {
        throw new Error(`patched Conv2D gradient: only 'valid' NHWC convolutions are emitted (got pad ${JSON.stringify(a.pad)})`);
      }
      const s = pair(a.strides);
      const d = pair(a.dilations ?? 1);
      return {
        x: () => conv2dInputGradient(dy as tf.Tensor4D, filter as tf.Tensor4D, x.shape, s, d),
        filter: () => conv2dFilterGradient(x as tf.Tensor4D, dy as tf.Tensor4D, filter.shape, s, d),
      };
    },
  },
  // Piecewise-constant kernels (masks, argmax, one-hot): zero gradient, so a second-order pass can cross them.
  ...['Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual'].map(
    (kernelName): GradConfig => ({ kernelName, inputsToSave: ['a', 'b'], gradFunc: (_dy, [a, b]) => ({ a: zerosLikeInput(a), b: zerosLikeInput(b) }) }),
  ),
  { kernelName: 'ArgMax', inputsToSave: ['x'], gradFunc: (_dy, [x]) => ({ x: zerosLikeInput(x) }) },
  { kernelName: 'OneHot', inputsToSave: ['indices'], gradFunc: (_dy, [i]) => ({ indices: zerosLikeInput(i) }) },
  { kernelName: 'ZerosLike', inputsToSave: ['x'], gradFunc: (_dy, [x]) => ({ x: zerosLikeInput(x) }) },
  { kernelName: 'OnesLike', inputsToSave: ['x'], gradFunc: (_dy, [x]) => ({ x: zerosLikeInput(x) }) },
  { kernelName: 'Step', inputsToSave: ['x'], gradFunc: (_dy, [x]) => ({ x: zerosLikeInput(x) }) },
];

function normaliseAxes(axis: number | number[] | undefined, rank: number): number[] {
  const list = axis === undefined || axis === null ? [...Array(rank).keys()] : Array.isArray(axis) ? axis : [axis];
  return list.map((a) => (a < 0 ? a + rank : a));
}

let installed = false;

/** Registers the table over whatever tfjs registered (nothing in its CommonJS bundle; its stock rules in ESM). */
export function installPatchedGradients(): void {
  if (installed) return;
  replaceGradients(PATCHED_GRADIENTS);
  installed = true;
}

/** Replaces the gradients of the given kernels; returns the previous configs (undefined where there was none). */
export function replaceGradients(configs: readonly GradConfig[]): Map<string, GradConfig | undefined> {
  const previous = new Map<string, GradConfig | undefined>();
  for (const c of configs) {
    const old = tf.getGradient(c.kernelName);
    previous.set(c.kernelName, old ?? undefined);
    if (old) tf.unregisterGradient(c.kernelName);
    tf.registerGradient(c);
  }
  return previous;
}

/** Runs `fn` with some kernels' gradients swapped (tests: show a trap with tfjs's stock rule), then restores. */
export function withGradients<T>(configs: readonly GradConfig[], fn: () => T): T {
  const previous = replaceGradients(configs);
  try {
    return fn();
  } finally {
    for (const [name, old] of previous) {
      tf.unregisterGradient(name);
      if (old) tf.registerGradient(old);
    }
  }
}

// Static index maps for Slice and Gather with constant parameters: for each output element, the flat index of
// the input element it copies. Their reverse rule is then one ScatterElements(add) into zeros, which the
// inference build of onnxruntime has (it has no SliceGrad / GatherGrad: ARCHITECTURE.md).

import { sizeOf } from '../../../graph/ir';

function strides(dims: readonly number[]): number[] {
  const s = new Array(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

/** ONNX Slice (opset 13) semantics: negative indices wrap, out-of-range clamp, negative steps walk backwards. */
export function sliceIndexMap(
  dims: readonly number[],
  starts: readonly number[],
  ends: readonly number[],
  axesIn: readonly number[] | undefined,
  stepsIn: readonly number[] | undefined,
): { outDims: number[]; flat: Int32Array; ranges: { start: number; step: number }[] } {
  const r = dims.length;
  const axes = (axesIn ?? starts.map((_, i) => i)).map((a) => (a < 0 ? a + r : a));
  const steps = stepsIn ?? starts.map(() => 1);
  const ranges = dims.map((d) => ({ start: 0, step: 1, count: d }));
  axes.forEach((axis, i) => {
    const d = dims[axis];
    const step = steps[i];
    let start = starts[i];
    let end = ends[i];
    if (start < 0) start += d;
    if (end < 0) end += d;
    if (step > 0) {
      start = Math.min(Math.max(start, 0), d);
      end = Math.min(Math.max(end, 0), d);
      ranges[axis] = { start, step, count: Math.max(0, Math.ceil((end - start) / step)) };
    } else {
      start = Math.min(Math.max(start, -1), d - 1);
      end = Math.min(Math.max(end, -1), d - 1);
      ranges[axis] = { start, step, count: Math.max(0, Math.ceil((end - start) / step)) };
    }
  });
  const outDims = ranges.map((x) => x.count);
  const inStrides = strides(dims);
  const flat = new Int32Array(sizeOf(outDims));
  const idx = new Array(r).fill(0);
  for (let k = 0; k < flat.length; k++) {
    let off = 0;
    for (let a = 0; a < r; a++) off += (ranges[a].start + idx[a] * ranges[a].step) * inStrides[a];
    flat[k] = off;
    for (let a = r - 1; a >= 0; a--) {
      if (++idx[a] < outDims[a]) break;
      idx[a] = 0;
    }
  }
  return { outDims, flat, ranges };
}

/** ONNX Gather(axis) with constant indices (negative ones wrap). */
export function gatherIndexMap(dims: readonly number[], indices: readonly number[], indexDims: readonly number[], axisIn: number): { outDims: number[]; flat: Int32Array } {
  const r = dims.length;
  const axis = axisIn < 0 ? axisIn + r : axisIn;
  const outer = sizeOf(dims.slice(0, axis));
  const inner = sizeOf(dims.slice(axis + 1));
  const outDims = [...dims.slice(0, axis), ...indexDims, ...dims.slice(axis + 1)];
  const flat = new Int32Array(sizeOf(outDims));
  let k = 0;
  for (let o = 0; o < outer; o++) {
    for (const raw of indices) {
      const i = raw < 0 ? raw + dims[axis] : raw;
      for (let j = 0; j < inner; j++) flat[k++] = (o * dims[axis] + i) * inner + j;
    }
  }
  return { outDims, flat };
}

// The batch an analysis runs on: samples from --data (.npy, images, a folder) or seeded synthetic inputs in
// [0, 1], and labels from --labels or the model's own predictions.

import { UserError } from '../errors';
import { Random } from '../engine/random';
import { loadDataPath } from '../formats/images';
import { readNpy } from '../formats/npy';
import type { OnnxModel } from '../backends/onnx/onnxModel';
import { modelFileFormat } from '../backends/modelFile';

export interface Samples {
  /** N samples, flattened, each of the model's input size. */
  data: Float32Array;
  count: number;
  /**
   * The range of the box the model's inputs live in, the PSNR's peak: 1 for images, synthetic inputs and `.npy` data
   * inside [0, 1]; otherwise the smallest box holding both [0, 1] and the data. Never the samples' own max − min: a
   * dark sample (values in [0, 0.3]) would lower its PSNR, and the risk, by 10 dB.
   */
  range: number;
  /** The box's low end (0 for images and synthetic inputs; min(0, min of the data) for .npy): [lo, lo + range]. */
  lo?: number;
  source: string;
}

export async function loadSamples(model: OnnxModel, dataPath: string | undefined, count: number, seed: number): Promise<Samples> {
  const per = model.sampleSize;
  if (!dataPath) {
    const rand = new Random(seed);
    const data = new Float32Array(count * per);
    for (let i = 0; i < data.length; i++) data[i] = rand.uniform();
    return { data, count, range: 1, lo: 0, source: `synthetic U(0, 1), seed ${seed}` };
  }
  // A TensorFlow.js model's users hold their images channels-last: its .npy samples are read in that layout.
  const t = (await loadDataPath(dataPath, model.sampleDims, { channelsLast: modelFileFormat(model.file) === 'tfjs' })).tensor;
  const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as Float64Array);
  if (data.length % per !== 0) {
    throw new UserError('data-shape', `data has ${data.length} values, not a whole number of inputs of shape [${model.sampleDims}]`, { file: dataPath });
  }
  const isImage = !dataPath.endsWith('.npy');
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of data) {
    if (!Number.isFinite(v)) throw new UserError('data-shape', 'data contains NaN or Inf', { file: dataPath });
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = isImage ? 1 : Math.max(1, hi) - Math.min(0, lo);
  return { data, count: data.length / per, range, lo: isImage ? 0 : Math.min(0, lo), source: dataPath };
}

/** Parses --labels: a comma list of ints, or an .npy of ints. */
export async function parseLabels(spec: string | undefined): Promise<number[] | undefined> {
  if (spec === undefined) return undefined;
  if (spec.endsWith('.npy')) {
    const t = await readNpy(spec);
    return Array.from(t.data as ArrayLike<number | bigint>, Number);
  }
  const labels = spec.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  if (labels.some((l) => !Number.isInteger(l) || l < 0)) throw new UserError('bad-labels', `--labels expects non-negative integers, got '${spec}'`);
  return labels;
}

export function argmaxRows(logits: Float32Array, rows: number): number[] {
  const k = logits.length / rows;
  return Array.from({ length: rows }, (_, r) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits[r * k + j] > logits[r * k + best]) best = j;
    return best;
  });
}

export function oneHot(labels: number[], classes: number): Float32Array {
  const t = new Float32Array(labels.length * classes);
  labels.forEach((y, i) => {
    if (y >= classes) throw new UserError('bad-labels', `label ${y} is out of range for a model with ${classes} classes`);
    t[i * classes + y] = 1;
  });
  return t;
}

// Turns the user's sample data (an .npy batch, one image, or a folder of images) into the model's input tensor.

import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import * as jpeg from 'jpeg-js';
import type { Tensor } from '../graph/ir';
import { UserError } from '../errors';
import { decodeNpy } from './npy';

/** Images larger than this are refused before decoding (a 100-megapixel sample is a mistake or an attack). */
const MAX_PIXELS = 100_000_000;
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

/** A batch of samples, with a name per sample so reports can point at the file (or row) it came from. */
export interface DataBatch {
  /** float32, dims [N, ...sampleShape]. */
  tensor: Tensor;
  samples: string[];
}

function isPng(b: Uint8Array): boolean {
  return b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}
function isJpeg(b: Uint8Array): boolean {
  return b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff;
}
function isNpy(b: Uint8Array): boolean {
  return b.length >= 6 && b[0] === 0x93 && b[1] === 0x4e && b[2] === 0x55 && b[3] === 0x4d && b[4] === 0x50 && b[5] === 0x59;
}

function tooManyPixels(file: string, width: number, height: number): UserError {
  return new UserError('image-too-large', `the image is ${width}×${height} pixels, more than ${MAX_PIXELS / 1e6} megapixels`, { file });
}

/**
 * The component count of a JPEG's frame header (1 = grayscale). jpeg-js always returns RGB, so a grayscale JPEG
 * would otherwise become three equal channels.
 */
function jpegComponents(b: Uint8Array): number {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return 3;
    const marker = b[i + 1];
    if (marker === 0xff) { i++; continue; }
    // SOF0..SOF15, except DHT (C4), JPG (C8) and DAC (CC), carry the frame header.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) return b[i + 9];
    if (marker === 0xd9 || marker === 0xda) return 3;
    i += 2 + ((b[i + 2] << 8) | b[i + 3]);
  }
  return 3;
}

/** Decodes PNG or JPEG bytes to float32 [C,H,W] in [0,1]: C = 1 for grayscale images, else 3 (alpha dropped). */
export function decodeImage(bytes: Uint8Array, file: string): Tensor {
  let width: number;
  let height: number;
  let channels: number;
  let pixels: Uint8Array; // interleaved, `stride` bytes per pixel, 8 bits per channel
  let stride: number;
  try {
    if (isPng(bytes)) {
      // IHDR is the first chunk: width and height at bytes 16..23. Checked before pngjs allocates for them.
      if (bytes.length < 24) throw new Error('file too short for a PNG header');
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      width = view.getUint32(16);
      height = view.getUint32(20);
      if (width * height > MAX_PIXELS) throw tooManyPixels(file, width, height);
      // pngjs returns 8-bit RGBA for every colour type (16-bit samples are scaled to 8 bits).
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) as PNG & { colorType?: number };
      channels = png.colorType === 0 || png.colorType === 4 ? 1 : 3;
      pixels = png.data;
      stride = 4;
    } else if (isJpeg(bytes)) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_PIXELS / 1e6, maxMemoryUsageInMB: 1024 });
      width = img.width;
      height = img.height;
      channels = jpegComponents(bytes) === 1 ? 1 : 3;
      pixels = img.data;
      stride = 3;
    } else {
      throw new UserError('unsupported-data', 'not a PNG or JPEG image (supported sample files: .png, .jpg, .npy)', { file });
    }
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError('corrupt-data', `cannot decode the image: ${(e as Error).message}`, { file });
  }
  const plane = width * height;
  const data = new Float32Array(channels * plane);
  // Interleaved HWC bytes → planar CHW floats; a grayscale image's R channel is its gray value.
  for (let c = 0; c < channels; c++) {
    const out = c * plane;
    for (let p = 0, at = c; p < plane; p++, at += stride) data[out + p] = pixels[at] / 255;
  }
  return { dtype: 'float32', dims: [channels, height, width], data };
}

/** Loads a PNG or JPEG file as float32 [C,H,W] in [0,1] (C = 1 for grayscale, 3 otherwise; alpha dropped). */
export async function loadImage(file: string): Promise<Tensor> {
  return decodeImage(await readData(file), file);
}

async function readData(file: string): Promise<Uint8Array> {
  try {
    // /dev/urandom or a FIFO as "samples" would be read forever (or block a thread): regular files only.
    if (!(await fs.stat(file)).isFile()) throw new Error('not a regular file (a device, pipe or socket)');
    return await fs.readFile(file);
  } catch (e) {
    throw new UserError('data-not-found', `cannot read the sample data: ${(e as Error).message}`, { file });
  }
}

/**
 * Converts [C,H,W] between 3 channels and 1: RGB → gray by ITU-R BT.601 luma (what Pillow's convert('L') uses),
 * gray → RGB by repeating the plane.
 */
export function convertChannels(image: Tensor, channels: number, file?: string): Tensor {
  const [c, h, w] = image.dims;
  if (c === channels) return image;
  const plane = h * w;
  const src = image.data as Float32Array;
  if (c === 3 && channels === 1) {
    const data = new Float32Array(plane);
    for (let p = 0; p < plane; p++) data[p] = 0.299 * src[p] + 0.587 * src[plane + p] + 0.114 * src[2 * plane + p];
    return { dtype: 'float32', dims: [1, h, w], data };
  }
  if (c === 1 && channels === 3) {
    const data = new Float32Array(3 * plane);
    data.set(src, 0);
    data.set(src, plane);
    data.set(src, 2 * plane);
    return { dtype: 'float32', dims: [3, h, w], data };
  }
  throw new UserError('shape-mismatch', `the image has ${c} channels but the model takes ${channels}; only 1 ↔ 3 channels are converted`, { file });
}

const fmt = (dims: readonly (number | string)[]) => `[${dims.join(', ')}]`;
/** Model dims that are symbolic or unknown (≤ 0) accept any size. */
const fixed = (d: number) => d > 0;

/**
 * Fits one decoded image to the model's per-sample shape: [C,H,W], [H,W] (grayscale) or a flat [C·H·W].
 * Never resizes: a different height or width is an error naming both sizes.
 */
function fitImage(image: Tensor, sampleShape: readonly number[], file: string): Tensor {
  const [, h, w] = image.dims;
  let channels: number;
  let spatial: number[];
  if (sampleShape.length === 3) {
    channels = fixed(sampleShape[0]) ? sampleShape[0] : image.dims[0];
    spatial = [sampleShape[1], sampleShape[2]];
  } else if (sampleShape.length === 2) {
    channels = 1;
    spatial = [sampleShape[0], sampleShape[1]];
  } else if (sampleShape.length === 1 && fixed(sampleShape[0])) {
    const n = sampleShape[0];
    channels = n === h * w ? 1 : n === 3 * h * w ? 3 : 0;
    if (!channels)
      throw new UserError('shape-mismatch', `the image is ${w}×${h} (${h * w} pixels per channel) but the model takes flat samples of ${n} values, which is neither ${h * w} nor ${3 * h * w}`, { file });
    spatial = [h, w];
  } else {
    throw new UserError('shape-mismatch', `the model takes samples of shape ${fmt(sampleShape)}, which an image cannot fill; use an .npy file`, { file });
  }
  if ((fixed(spatial[0]) && spatial[0] !== h) || (fixed(spatial[1]) && spatial[1] !== w))
    throw new UserError(
      'shape-mismatch',
      `the image is ${h}×${w} (height×width) but the model takes ${spatial[0]}×${spatial[1]}; images are not resized, so resize it to match`,
      { file },
    );
  const fitted = convertChannels(image, channels, file);
  return { dtype: 'float32', dims: sampleShape.map((d, k) => (fixed(d) ? d : fitted.dims[sampleShape.length === 3 ? k : k + 1])), data: fitted.data };
}

function stack(samples: Tensor[], names: string[]): DataBatch {
  const size = samples[0].data.length;
  const data = new Float32Array(samples.length * size);
  samples.forEach((s, k) => data.set(s.data as Float32Array, k * size));
  return { tensor: { dtype: 'float32', dims: [samples.length, ...samples[0].dims], data }, samples: names };
}

/** Loads every .png/.jpg/.jpeg in `dir` (sorted by file name, code-point order) as one batch [N, ...sampleShape]. */
export async function loadImageFolder(dir: string, sampleShape: readonly number[]): Promise<DataBatch> {
  const names = (await fs.readdir(dir, { withFileTypes: true }))
    .filter((e) => e.isFile() && IMAGE_EXTENSIONS.has(path.extname(e.name).toLowerCase()))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) throw new UserError('no-data', 'the folder has no .png, .jpg or .jpeg images', { file: dir });
  const images: Tensor[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    images.push(fitImage(await loadImage(file), sampleShape, file));
  }
  return stack(images, names);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => !fixed(b[k]) || d === b[k]);
}

/** An .npy batch [N, ...sampleShape] (or one sample, sampleShape) as float32; uint8 arrays are scaled to [0,1] like images. */
/** Options of loadDataPath. */
export interface DataLayout {
  /**
   * The model's own layout is channels-last (a TensorFlow.js model, re-laid out to NCHW internally): an .npy of
   * [N, H, W, C] images, as TensorFlow users have them, is taken in that layout and transposed; [N, C, H, W] still
   * works when it cannot be read as channels-last.
   */
  channelsLast?: boolean;
}

/** [N, H, W, C] → [N, C, H, W]. */
function channelsFirst(data: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++) out[((i * c + k) * h + y) * w + x] = data[((i * h + y) * w + x) * c + k];
  return out;
}

function fitArray(array: Tensor, sampleShape: readonly number[], file: string, layout: DataLayout = {}): DataBatch {
  if (layout.channelsLast && sampleShape.length === 3) {
    const [c, h, w] = sampleShape;
    const nhwc = [h, w, c];
    const asNhwc = sameShape(array.dims, nhwc) ? [1, ...array.dims] : array.dims.length === 4 && sameShape(array.dims.slice(1), nhwc) ? array.dims : undefined;
    if (asNhwc) {
      const batch = fitArray({ ...array, dims: [asNhwc[0], c, h, w] }, sampleShape, file);
      batch.tensor.data = channelsFirst(batch.tensor.data as Float32Array, asNhwc[0], h, w, c);
      return batch;
    }
  }
  let dims: number[];
  if (sameShape(array.dims, sampleShape)) dims = [1, ...array.dims];
  else if (array.dims.length === sampleShape.length + 1 && sameShape(array.dims.slice(1), sampleShape)) dims = array.dims.slice();
  else
    throw new UserError(
      'shape-mismatch',
      `the array has shape ${fmt(array.dims)} but the model takes samples of shape ${fmt(sampleShape)}; expected [N, ${sampleShape.join(', ')}]`,
      { file },
    );
  let data: Float32Array;
  if (array.dtype === 'float32') data = array.data as Float32Array;
  else if (array.dtype === 'float64') data = Float32Array.from(array.data as Float64Array);
  else if (array.dtype === 'uint8') {
    const src = array.data as Uint8Array;
    data = new Float32Array(src.length);
    for (let k = 0; k < src.length; k++) data[k] = src[k] / 255;
  } else throw new UserError('unsupported-dtype', `the array holds ${array.dtype}; sample data must be float32, float64 or uint8`, { file });
  const base = path.basename(file);
  return { tensor: { dtype: 'float32', dims, data }, samples: Array.from({ length: dims[0] }, (_, k) => `${base}[${k}]`) };
}

/**
 * The user's sample data as a float32 batch [N, ...sampleShape]: an .npy array ([N, ...] or one sample), a single
 * PNG/JPEG image, or a folder of them. Images are scaled to [0,1] and converted 3 ↔ 1 channels to what the model
 * takes, never resized. `sampleShape` is the model's input shape without the batch axis (dims ≤ 0 mean any).
 */
export async function loadDataPath(dataPath: string, sampleShape: readonly number[], layout: DataLayout = {}): Promise<DataBatch> {
  let stat;
  try {
    stat = await fs.stat(dataPath);
  } catch (e) {
    throw new UserError('data-not-found', `cannot read the sample data: ${(e as Error).message}`, { file: dataPath });
  }
  if (stat.isDirectory()) return loadImageFolder(dataPath, sampleShape);
  const bytes = await readData(dataPath);
  if (isNpy(bytes)) return fitArray(decodeNpy(bytes, dataPath), sampleShape, dataPath, layout);
  const image = fitImage(decodeImage(bytes, dataPath), sampleShape, dataPath);
  return stack([image], [path.basename(dataPath)]);
}

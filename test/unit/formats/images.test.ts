// Sample images decode to the pixels Pillow sees, and data paths become the model's input batch or a clear refusal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { convertChannels, decodeImage, loadDataPath, loadImage, loadImageFolder } from '../../../server/src/formats/images';
import type { Tensor } from '../../../server/src/graph/ir';
import { UserError } from '../../../server/src/errors';

const fixture = (name: string) => join(__dirname, '..', '..', 'fixtures', 'formats', name);
const pillow: Record<string, number[][] | number[][][]> = JSON.parse(readFileSync(fixture('images.json'), 'utf8'));

/** Pillow's HWC (or HW) 0..255 pixels as CHW floats in [0,1], dropping alpha. */
function pillowCHW(name: string, channels: number): number[] {
  const rows = pillow[name];
  const h = rows.length;
  const w = rows[0].length;
  const out: number[] = [];
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const px = rows[y][x];
        out.push((Array.isArray(px) ? px[c] : px) / 255);
      }
  return out;
}

function assertPixels(t: Tensor, expected: number[], tol: number) {
  assert.equal(t.data.length, expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((t.data[i] as number) - expected[i]));
  assert.ok(worst <= tol, `largest difference from Pillow: ${(worst * 255).toFixed(2)}/255`);
}

test('an RGB PNG decodes to Pillow\'s pixels as float32 [3,H,W] in [0,1]', async () => {
  const t = await loadImage(fixture('rgb.png'));
  assert.equal(t.dtype, 'float32');
  assert.deepEqual(t.dims, [3, 4, 5]);
  assertPixels(t, pillowCHW('rgb.png', 3), 1e-7);
});

test('an RGBA PNG loses its alpha channel and a grayscale PNG gives one channel', async () => {
  const rgba = await loadImage(fixture('rgba.png'));
  assert.deepEqual(rgba.dims, [3, 4, 5]);
  assertPixels(rgba, pillowCHW('rgba.png', 3), 1e-7);
  const gray = await loadImage(fixture('gray.png'));
  assert.deepEqual(gray.dims, [1, 4, 5]);
  assertPixels(gray, pillowCHW('gray.png', 1), 1e-7);
});

test('JPEGs decode close to Pillow\'s libjpeg, and a grayscale JPEG gives one channel', async () => {
  const rgb = await loadImage(fixture('rgb.jpg'));
  assert.deepEqual(rgb.dims, [3, 4, 5]);
  // Decoders may differ by a few levels (IDCT and chroma upsampling are not bit-specified).
  assertPixels(rgb, pillowCHW('rgb.jpg', 3), 8 / 255);
  const gray = await loadImage(fixture('gray.jpg'));
  assert.deepEqual(gray.dims, [1, 4, 5]);
  assertPixels(gray, pillowCHW('gray.jpg', 1), 2 / 255);
});

test('a folder of images becomes a batch in file-name order', async () => {
  const batch = await loadImageFolder(fixture('image_folder'), [3, 4, 5]);
  assert.deepEqual(batch.samples, ['img0.png', 'img1.png', 'img2.png']);
  assert.deepEqual(batch.tensor.dims, [3, 3, 4, 5]);
  const first = await loadImage(fixture('image_folder/img0.png'));
  assert.deepEqual([...batch.tensor.data.subarray(0, 60)], [...first.data]);
});

test('an RGB image is converted to the one channel a grayscale model takes, by BT.601 luma', async () => {
  const batch = await loadDataPath(fixture('rgb.png'), [1, 4, 5]);
  assert.deepEqual(batch.tensor.dims, [1, 1, 4, 5]);
  const rgb = pillowCHW('rgb.png', 3);
  const luma = Array.from({ length: 20 }, (_, p) => 0.299 * rgb[p] + 0.587 * rgb[20 + p] + 0.114 * rgb[40 + p]);
  assertPixels(batch.tensor, luma, 1e-6);
});

test('a grayscale image is repeated into three channels for an RGB model, and flattened for an MLP', async () => {
  const batch = await loadDataPath(fixture('gray.png'), [3, 4, 5]);
  const g = pillowCHW('gray.png', 1);
  assertPixels(batch.tensor, [...g, ...g, ...g], 1e-7);
  const flat = await loadDataPath(fixture('gray.png'), [20]);
  assert.deepEqual(flat.tensor.dims, [1, 20]);
  assertPixels(flat.tensor, g, 1e-7);
});

test('an image whose size differs from the model\'s input is refused, naming both sizes', async () => {
  await assert.rejects(loadDataPath(fixture('small.png'), [3, 4, 5]), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.equal(e.code, 'shape-mismatch');
    assert.match(e.message, /3×3/);
    assert.match(e.message, /4×5/);
    assert.equal(e.location.file, fixture('small.png'));
    return true;
  });
});

test('an .npy batch is taken as [N, ...sample], and one sample of the right shape as a batch of one', async () => {
  const batch = await loadDataPath(fixture('samples.npy'), [1, 4, 4]);
  assert.deepEqual(batch.tensor.dims, [2, 1, 4, 4]);
  assert.deepEqual(batch.samples, ['samples.npy[0]', 'samples.npy[1]']);
  const one = await loadDataPath(fixture('samples.npy'), [2, 1, 4, 4]);
  assert.deepEqual(one.tensor.dims, [1, 2, 1, 4, 4]);
  // Symbolic model dims (≤ 0) accept any size.
  const any = await loadDataPath(fixture('samples.npy'), [1, -1, -1]);
  assert.deepEqual(any.tensor.dims, [2, 1, 4, 4]);
});

test('an .npy whose shape does not fit the model is refused with both shapes', async () => {
  await assert.rejects(loadDataPath(fixture('samples.npy'), [3, 32, 32]), (e: unknown) =>
    e instanceof UserError && e.code === 'shape-mismatch' && /\[2, 1, 4, 4\]/.test(e.message) && /\[3, 32, 32\]/.test(e.message));
  await assert.rejects(loadDataPath(fixture('ints.npy'), [2]), (e: unknown) => e instanceof UserError && e.code === 'unsupported-dtype');
});

test('a missing path, a non-image file, a corrupt PNG and an empty folder are UserErrors', async () => {
  await assert.rejects(loadDataPath(fixture('nothing-here'), [3, 4, 5]), (e: unknown) => e instanceof UserError && e.code === 'data-not-found');
  await assert.rejects(loadDataPath(fixture('weights.safetensors'), [3, 4, 5]), (e: unknown) => e instanceof UserError && e.code === 'unsupported-data');
  const png = new Uint8Array(readFileSync(fixture('rgb.png')));
  assert.throws(() => decodeImage(png.subarray(0, 40), 'cut.png'), (e: unknown) => e instanceof UserError && e.code === 'corrupt-data' && e.location.file === 'cut.png');
  const huge = png.slice();
  new DataView(huge.buffer).setUint32(16, 100000);
  new DataView(huge.buffer).setUint32(20, 100000);
  assert.throws(() => decodeImage(huge, 'huge.png'), (e: unknown) => e instanceof UserError && e.code === 'image-too-large');
  await assert.rejects(loadImageFolder(join(__dirname), [3, 4, 5]), (e: unknown) => e instanceof UserError && e.code === 'no-data');
});

test('channel conversion refuses counts other than 1 and 3', () => {
  assert.throws(() => convertChannels({ dtype: 'float32', dims: [2, 1, 1], data: new Float32Array(2) }, 3), (e: unknown) => e instanceof UserError && e.code === 'shape-mismatch');
});

// Draws raw input arrays (C×H×W, channel-major as the model reads them) onto canvases, scaled up without smoothing.

import { interpolateViridis } from 'd3-scale-chromatic';
import type { ImageLayout } from '../../../server/src/webviewProtocol';

export type Colouring = { kind: 'data'; lo: number; hi: number } | { kind: 'diverging' };

/**
 * Data images map [lo, hi] to 0–255 and clip (a reconstruction may overshoot the data's range). Eigen-directions
 * are signed unit vectors: a diverging map, symmetric around 0 at the largest |value| (grey = 0).
 */
export function drawImage(canvas: HTMLCanvasElement, values: readonly number[], layout: ImageLayout, colouring: Colouring, scale = 4): void {
  const { channels: c, height: h, width: w } = layout;
  canvas.width = w * scale;
  canvas.height = h * scale;
  canvas.dataset.pixels = String(w * h);
  const small = document.createElement('canvas');
  small.width = w;
  small.height = h;
  const sctx = small.getContext('2d')!;
  const img = sctx.createImageData(w, h);
  const plane = h * w;
  let amax = 0;
  if (colouring.kind === 'diverging') for (const v of values) amax = Math.max(amax, Math.abs(v));
  const byte = (v: number) => {
    const t = colouring.kind === 'data' ? (v - colouring.lo) / (colouring.hi - colouring.lo || 1) : amax > 0 ? 0.5 + v / (2 * amax) : 0.5;
    return Math.max(0, Math.min(255, Math.round(t * 255)));
  };
  for (let p = 0; p < plane; p++) {
    const o = p * 4;
    if (c === 3) {
      img.data[o] = byte(values[p]);
      img.data[o + 1] = byte(values[plane + p]);
      img.data[o + 2] = byte(values[2 * plane + p]);
    } else if (colouring.kind === 'diverging') {
      // Blue for negative, red for positive, white at 0: readable on light and dark backgrounds alike.
      const t = amax > 0 ? values[p] / amax : 0;
      img.data[o] = Math.round(255 * (t < 0 ? 1 + t : 1));
      img.data[o + 1] = Math.round(255 * (1 - Math.abs(t)));
      img.data[o + 2] = Math.round(255 * (t > 0 ? 1 - t : 1));
    } else {
      const g = byte(values[p]);
      img.data[o] = g;
      img.data[o + 1] = g;
      img.data[o + 2] = g;
    }
    img.data[o + 3] = 255;
  }
  sctx.putImageData(img, 0, 0);
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, w * scale, h * scale);
}

/**
 * Non-image inputs (feature vectors, token embeddings) as a heat strip: one cell per value, `rows` rows (tokens for
 * [T, E] embeddings, else 1), viridis over [lo, hi] (clipped) so the three strips compare on one scale and read on
 * light and dark themes alike.
 */
export function drawStrip(canvas: HTMLCanvasElement, values: readonly number[], rows: number, lo: number, hi: number, targetWidth = 320): void {
  const cols = Math.max(1, Math.ceil(values.length / rows));
  const cw = Math.max(2, Math.floor(targetWidth / cols));
  const ch = rows === 1 ? 28 : Math.max(3, Math.min(cw, Math.floor(160 / rows)));
  canvas.width = cols * cw;
  canvas.height = rows * ch;
  canvas.dataset.pixels = String(values.length);
  const ctx = canvas.getContext('2d')!;
  for (let i = 0; i < values.length; i++) {
    const t = Math.max(0, Math.min(1, (values[i] - lo) / (hi - lo || 1)));
    ctx.fillStyle = interpolateViridis(t);
    ctx.fillRect((i % cols) * cw, Math.floor(i / cols) * ch, cw, ch);
  }
}

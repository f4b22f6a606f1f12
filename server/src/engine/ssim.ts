// Structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004) for reconstructed images: 11×11 Gaussian window
// (σ 1.5), K1 = 0.01, K2 = 0.03, population local (co)variances, mean over the valid region, averaged over
// channels. Images are channel-first [C, H, W] on a data range (1 for [0, 1]). Not defined for 1-D inputs.

const WINDOW = 11;
const SIGMA = 1.5;

function gaussianWindow(): Float64Array {
  const w = new Float64Array(WINDOW);
  let s = 0;
  for (let i = 0; i < WINDOW; i++) {
    const d = i - (WINDOW - 1) / 2;
    w[i] = Math.exp(-(d * d) / (2 * SIGMA * SIGMA));
    s += w[i];
  }
  for (let i = 0; i < WINDOW; i++) w[i] /= s;
  return w;
}

const W1 = gaussianWindow();

/** Separable valid-region Gaussian filter of an H×W plane. */
function filter(img: Float64Array, H: number, W: number): Float64Array {
  const oh = H - WINDOW + 1, ow = W - WINDOW + 1;
  const tmp = new Float64Array(H * ow);
  for (let h = 0; h < H; h++) {
    for (let w = 0; w < ow; w++) {
      let s = 0;
      for (let k = 0; k < WINDOW; k++) s += W1[k] * img[h * W + w + k];
      tmp[h * ow + w] = s;
    }
  }
  const out = new Float64Array(oh * ow);
  for (let h = 0; h < oh; h++) {
    for (let w = 0; w < ow; w++) {
      let s = 0;
      for (let k = 0; k < WINDOW; k++) s += W1[k] * tmp[(h + k) * ow + w];
      out[h * ow + w] = s;
    }
  }
  return out;
}

/** True when a per-example shape is an image SSIM is defined for: [C, H, W] (or [H, W]) with H, W ≥ 11. */
export function ssimDefined(dims: readonly number[]): boolean {
  const hw = dims.length === 3 ? dims.slice(1) : dims.length === 2 ? dims : null;
  return hw !== null && hw[0] >= WINDOW && hw[1] >= WINDOW;
}

export interface SsimResult {
  ssim: number;
  perChannel: number[];
}

/**
 * SSIM of two images of shape `dims` ([C, H, W] or [H, W]). Returns null when SSIM is not defined for the shape
 * (1-D inputs, or images smaller than the 11×11 window).
 */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, dims: readonly number[], range = 1): SsimResult | null {
  if (!ssimDefined(dims)) return null;
  const [C, H, W] = dims.length === 3 ? dims : [1, ...dims];
  if (a.length !== C * H * W || b.length !== a.length) throw new RangeError(`ssim: ${a.length}/${b.length} values for shape [${dims}]`);
  const c1 = (0.01 * range) ** 2, c2 = (0.03 * range) ** 2;
  const plane = H * W;
  const perChannel: number[] = [];
  for (let c = 0; c < C; c++) {
    const u = new Float64Array(plane), v = new Float64Array(plane);
    const uu = new Float64Array(plane), vv = new Float64Array(plane), uv = new Float64Array(plane);
    for (let i = 0; i < plane; i++) {
      const p = a[c * plane + i], q = b[c * plane + i];
      u[i] = p; v[i] = q; uu[i] = p * p; vv[i] = q * q; uv[i] = p * q;
    }
    const mu = filter(u, H, W), mv = filter(v, H, W), fuu = filter(uu, H, W), fvv = filter(vv, H, W), fuv = filter(uv, H, W);
    let s = 0;
    for (let i = 0; i < mu.length; i++) {
      const su = fuu[i] - mu[i] * mu[i], sv = fvv[i] - mv[i] * mv[i], suv = fuv[i] - mu[i] * mv[i];
      s += ((2 * mu[i] * mv[i] + c1) * (2 * suv + c2)) / ((mu[i] * mu[i] + mv[i] * mv[i] + c1) * (su + sv + c2));
    }
    perChannel.push(s / mu.length);
  }
  return { ssim: perChannel.reduce((x, y) => x + y, 0) / C, perChannel };
}

// Readable error measures of a reconstruction error e = x_r − x0 (I2F.md: RMSE = ‖e‖/√d_x, PSNR = 20·log10(range/RMSE)).

/** ‖e‖/√n from a norm and an element count. */
export function rmseFromNorm(errorNorm: number, count: number): number {
  return count > 0 ? errorNorm / Math.sqrt(count) : NaN;
}

/** Root-mean-square of an input-space error vector. */
export function rmse(e: Float64Array, from = 0, to = e.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += e[i] * e[i];
  return rmseFromNorm(Math.sqrt(s), to - from);
}

/**
 * PSNR in dB of an error with this RMSE on data spanning `range` (1 for [0,1] images, 255 for bytes, 2 for [−1,1]).
 * RMSE 0 (δ = 0: the linearised attacker recovers the batch exactly) gives +∞; NaN stays NaN.
 */
export function psnr(rmseValue: number, range = 1): number {
  if (Number.isNaN(rmseValue) || Number.isNaN(range)) return NaN;
  if (rmseValue === 0) return Infinity;
  return 20 * Math.log10(range / rmseValue);
}

/** The RMSE that gives this PSNR: range · 10^(−PSNR/20). */
export function rmseForPsnr(psnrDb: number, range = 1): number {
  return range * Math.pow(10, -psnrDb / 20);
}

export interface SampleError {
  /** Index of the example in the batch. */
  index: number;
  rmse: number;
  psnr: number;
}

/**
 * Splits a batch-major input-space vector (batch first, then the model's layout: I2F.md's x is the whole batch)
 * into its B examples and measures each one. d_x must be a multiple of B.
 */
export function perSampleErrors(e: Float64Array, batchSize: number, range = 1): SampleError[] {
  const per = sampleSize(e.length, batchSize);
  return Array.from({ length: batchSize }, (_, index) => {
    const r = rmse(e, index * per, (index + 1) * per);
    return { index, rmse: r, psnr: psnr(r, range) };
  });
}

/** Squared norm of each example's slice of a batch-major vector. */
export function perSampleSquaredNorms(e: Float64Array, batchSize: number): Float64Array {
  const per = sampleSize(e.length, batchSize);
  const out = new Float64Array(batchSize);
  for (let b = 0; b < batchSize; b++) {
    let s = 0;
    for (let i = b * per; i < (b + 1) * per; i++) s += e[i] * e[i];
    out[b] = s;
  }
  return out;
}

function sampleSize(n: number, batchSize: number): number {
  if (!(Number.isInteger(batchSize) && batchSize >= 1) || n % batchSize !== 0) {
    throw new RangeError(`input size ${n} does not split into ${batchSize} examples`);
  }
  return n / batchSize;
}

/**
 * The most exposed example: the one the attacker rebuilds best (highest PSNR, i.e. lowest error).
 * I2F.md asks to name it, not only report a mean, because protection under the same noise is unequal.
 */
export function mostExposed(samples: readonly SampleError[]): SampleError | null {
  let best: SampleError | null = null;
  for (const s of samples) if (best === null || s.rmse < best.rmse || (Number.isNaN(best.rmse) && !Number.isNaN(s.rmse))) best = s;
  return best;
}

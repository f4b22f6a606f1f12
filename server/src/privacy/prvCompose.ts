// A discretised privacy loss and its T-fold self-composition by FFT (Gopi, Lee, Wutschitz 2021, Sec. 5; Opacus'
// analysis/prv/prvs.py `discretize` and compose.py `_compose_fourier`).

import { dft, inverseDft, type ComplexArray } from './fft';
import { domainStep, shiftDomain, type PrvDomain } from './prvDomain';
import type { TruncatedPrv } from './subsampledGaussianPrv';

/** A probability mass on the grid points of its domain. */
export interface DiscretePrv {
  pmf: Float64Array;
  domain: PrvDomain;
}

/**
 * Mass of each cell [t_i − dt/2, t_i + dt/2) by CDF differences, then the grid moved right by the difference
 * between the continuous mean and the discrete one, so composition keeps the mean exact (the shift must stay under
 * half a cell, else the grid is too coarse for this loss).
 */
export function discretise(prv: TruncatedPrv, domain: PrvDomain): DiscretePrv {
  const n = domain.size;
  const dt = domainStep(domain);
  const pmf = new Float64Array(n);
  let left = prv.cdf(domain.tMin - dt / 2);
  let discreteMean = 0;
  for (let i = 0; i < n; i++) {
    const t = domain.tMin + i * dt;
    const right = prv.cdf(t + dt / 2);
    pmf[i] = right - left;
    discreteMean += t * pmf[i];
    left = right;
  }
  const shift = prv.mean() - discreteMean;
  if (!(Math.abs(shift) < dt / 2)) throw new RangeError(`the discretised privacy loss's mean is ${shift} off the true one, more than half the mesh ${dt}`);
  return { pmf, domain: shiftDomain(domain, shift) };
}

/** z^T for a complex z: by |z|^T and T·arg z (Opacus raises with numpy's complex power, the same to ~T·1e-16). */
function complexPower(re: number, im: number, t: number): [number, number] {
  const r = Math.hypot(re, im);
  if (r === 0) return [0, 0];
  const mag = Math.pow(r, t);
  const angle = t * Math.atan2(im, re);
  return [mag * Math.cos(angle), mag * Math.sin(angle)];
}

/**
 * The pmf of the sum of T independent copies: the cyclic convolution power on the same (even) number of points,
 * irfft(rfft(pmf)^T), rolled so index i again means t_min + i·dt once the grid is moved by the T − 1 extra mean
 * shifts. The real transform of length N is one complex DFT of length N/2 (even samples as real parts, odd as
 * imaginary), so the Bluestein transform works on N/2 points.
 */
export function selfCompose(d: DiscretePrv, times: number): DiscretePrv {
  const size = d.pmf.length;
  if (size % 2 !== 0) throw new RangeError('only an even-sized discretised PRV can be composed');
  if (!(Number.isInteger(times) && times >= 1)) throw new RangeError(`steps must be a whole number ≥ 1, not ${times}`);
  const n = size / 2;
  const z: ComplexArray = { re: new Float64Array(n), im: new Float64Array(n) };
  for (let j = 0; j < n; j++) {
    z.re[j] = d.pmf[2 * j];
    z.im[j] = d.pmf[2 * j + 1];
  }
  const zf = dft(z);
  z.re = z.im = new Float64Array(0);
  // Spectrum X_k = E_k + W^k O_k (W = e^(−2πi/N)) with E, O the DFTs of the even and odd samples,
  // E_k = (Z_k + conj Z_{n−k})/2, O_k = (Z_k − conj Z_{n−k})/(2i); raised to T; and back to the packed form
  // Z'_k = E'_k + i O'_k with E'_k = (Y_k + conj Y_{n−k})/2, O'_k = (Y_k − conj Y_{n−k})·W^(−k)/2, Y = X^T.
  const yr = new Float64Array(n + 1);
  const yi = new Float64Array(n + 1);
  for (let k = 0; k <= n; k++) {
    const a = k % n;
    const b = (n - k) % n;
    const zr = zf.re[a];
    const zi = zf.im[a];
    const cr = zf.re[b];
    const ci = -zf.im[b];
    const er = (zr + cr) / 2;
    const ei = (zi + ci) / 2;
    // (Z − conj Z')/(2i) = (dr + i di)/(2i) = (di − i dr)/2
    const or = (zi - ci) / 2;
    const oi = -(zr - cr) / 2;
    const ang = (-Math.PI * k) / n;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    const xr = er + wr * or - wi * oi;
    const xi = ei + wr * oi + wi * or;
    if (k === 0 || k === n) {
      // The DC and Nyquist terms are real (sums of the pmf with signs ±1); irfft ignores their imaginary parts.
      yr[k] = Math.pow(xr, times);
      yi[k] = 0;
    } else {
      [yr[k], yi[k]] = complexPower(xr, xi, times);
    }
  }
  zf.re = zf.im = new Float64Array(0);
  const packed: ComplexArray = { re: new Float64Array(n), im: new Float64Array(n) };
  for (let k = 0; k < n; k++) {
    const cr = yr[n - k];
    const ci = -yi[n - k];
    const er = (yr[k] + cr) / 2;
    const ei = (yi[k] + ci) / 2;
    const dr = (yr[k] - cr) / 2;
    const di = (yi[k] - ci) / 2;
    const ang = (Math.PI * k) / n;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    const or = dr * wr - di * wi;
    const oi = dr * wi + di * wr;
    // Z' = E' + i O'
    packed.re[k] = er - oi;
    packed.im[k] = ei + or;
  }
  const back = inverseDft(packed);
  let roll = times - 1;
  if (times % 2 === 0) roll += n;
  roll %= size;
  const pmf = new Float64Array(size);
  for (let j = 0; j < n; j++) {
    pmf[(2 * j + roll) % size] = back.re[j];
    pmf[(2 * j + 1 + roll) % size] = back.im[j];
  }
  return { pmf, domain: shiftDomain(d.domain, d.domain.shifts * (times - 1)) };
}

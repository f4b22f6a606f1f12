// The privacy loss random variable (PRV) of one step of the Poisson-subsampled Gaussian mechanism (DP-SGD's step),
// and its truncation to the accountant's domain (Gopi, Lee, Wutschitz, "Numerical composition of differential
// privacy", NeurIPS 2021, Propositions B1 and B4; Opacus' analysis/prv/prvs.py).

import { erfc } from './erfc';
import { integrate } from './gaussKronrod';

/**
 * Y = log((1 − q) + q·e^((2X − 1)/(2σ²))) with X ~ N(1, σ²) (the loss of the "present" world against the "absent"
 * one). Its support starts at log(1 − q); with z = log((e^t + q − 1)/q), the value of X that gives loss t,
 *   P(Y ≤ t) = 1 − q/2·erfc((2zσ² − 1)/(2√2σ)) − (1 − q)/2·erfc((2zσ² + 1)/(2√2σ)).
 */
export class SubsampledGaussianPrv {
  /** log(1 − q): no loss is below it (the worst case for "absent" is that the example was not sampled). */
  readonly supportStart: number;
  private readonly twoSigma2: number;
  private readonly scale: number;

  constructor(
    readonly sampleRate: number,
    readonly noiseMultiplier: number,
  ) {
    if (!(sampleRate > 0 && sampleRate < 1)) throw new RangeError(`the PRV accountant needs a sample rate in (0, 1), not ${sampleRate}`);
    if (!(noiseMultiplier > 0 && Number.isFinite(noiseMultiplier))) throw new RangeError(`the PRV accountant needs a noise multiplier > 0, not ${noiseMultiplier}`);
    this.supportStart = Math.log(1 - sampleRate);
    this.twoSigma2 = 2 * noiseMultiplier * noiseMultiplier;
    this.scale = 2 * Math.SQRT2 * noiseMultiplier;
  }

  cdf(t: number): number {
    if (!(t > this.supportStart)) return 0;
    const q = this.sampleRate;
    const z = Math.log((Math.exp(t) + q - 1) / q);
    return 1 - (q * erfc((z * this.twoSigma2 - 1) / this.scale)) / 2 - ((1 - q) * erfc((z * this.twoSigma2 + 1) / this.scale)) / 2;
  }
}

/** The PRV conditioned on [tMin, tMax): the accountant's discretisation drops the mass outside (Gopi et al., Sec. 5). */
export class TruncatedPrv {
  private readonly cdfAtMin: number;
  private readonly mass: number;

  constructor(
    readonly prv: SubsampledGaussianPrv,
    readonly tMin: number,
    readonly tMax: number,
  ) {
    this.cdfAtMin = prv.cdf(tMin);
    this.mass = prv.cdf(tMax) - this.cdfAtMin;
  }

  cdf(t: number): number {
    if (t < this.tMin) return 0;
    if (t < this.tMax) return (this.prv.cdf(t) - this.cdfAtMin) / this.mass;
    return 1;
  }

  /**
   * E[Y] on the truncation by parts: tMax·F(tMax) − tMin·F(tMin) − ∫F = tMax − ∫_{tMin}^{tMax} F, integrated
   * adaptively from where F leaves 0 (the support's start), with breaks at 0 and at decades either side as F changes
   * fastest near 0. Accurate to ~1e-14 absolute; Opacus integrates the same by QUADPACK, whose own error (tolerance
   * 1.5e-8, typically far better on this smooth F) is what separates our ε from Opacus' when multiplied by the steps.
   */
  mean(): number {
    const start = Math.max(this.tMin, this.prv.supportStart);
    const breaks = [start];
    for (const b of [-1e-1, -1e-2, -1e-3, -1e-4, -1e-5, 0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100]) {
      if (b > start && b < this.tMax) breaks.push(b);
    }
    breaks.push(this.tMax);
    let integral = 0;
    const f = (t: number) => this.cdf(t);
    for (let i = 0; i + 1 < breaks.length; i++) {
      integral += integrate(f, breaks[i], breaks[i + 1], { tolerance: 1e-15, noise: 1e-15 }).value;
    }
    return this.tMax - integral;
  }
}

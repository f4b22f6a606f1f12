// The RDP accountant's time for 10⁶ steps × Opacus's 151 default orders: it runs in a hover, so it must be instant.
// One step's RDP curve (a series per fractional order) is the cost; composing over steps is a multiplication.

import { noiseForEpsilon } from '../server/src/privacy/inverse';
import { RdpCurve } from '../server/src/privacy/rdpAccountant';
import { DEFAULT_ORDERS } from '../server/src/privacy/sampledGaussian';

export interface AccountantBench {
  orders: number;
  /** Per (q, σ): median wall ms of ε for 10⁶ steps from scratch (the curve included). */
  cases: { sampleRate: number; noiseMultiplier: number; epsilon: number; order: number; medianMs: number }[];
  /** The slowest case's median: the hover's worst wait. */
  worstMs: number;
  /** Median wall ms of the noise multiplier for a target ε (a bisection: ~45 curves). */
  inverseMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export function measureAccountant(repeat = 7): AccountantBench {
  const settings = [
    { sampleRate: 256 / 60000, noiseMultiplier: 1.1 },
    { sampleRate: 1e-4, noiseMultiplier: 0.3 },
    { sampleRate: 0.01, noiseMultiplier: 20 },
    { sampleRate: 0.2, noiseMultiplier: 0.2 },
    { sampleRate: 0.5, noiseMultiplier: 5 },
    { sampleRate: 1, noiseMultiplier: 1 },
  ];
  const cases = settings.map((s) => {
    const times: number[] = [];
    let spent = new RdpCurve(s.sampleRate, s.noiseMultiplier).spent(1e6, 1e-5);
    for (let i = 0; i < repeat; i++) {
      const t0 = performance.now();
      spent = new RdpCurve(s.sampleRate, s.noiseMultiplier).spent(1e6, 1e-5);
      times.push(performance.now() - t0);
    }
    return { ...s, epsilon: spent.epsilon, order: spent.order, medianMs: median(times) };
  });
  const inverse: number[] = [];
  for (let i = 0; i < Math.max(3, Math.floor(repeat / 2)); i++) {
    const t0 = performance.now();
    noiseForEpsilon(3, 1e-5, 256 / 60000, 14100);
    inverse.push(performance.now() - t0);
  }
  return { orders: DEFAULT_ORDERS.length, cases, worstMs: Math.max(...cases.map((c) => c.medianMs)), inverseMs: median(inverse) };
}

if (require.main === module) {
  console.log(JSON.stringify(measureAccountant(), null, 1));
}

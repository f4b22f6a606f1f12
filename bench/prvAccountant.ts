// The PRV accountant and Opacus' σ search on the setting of Opacus' image-classifier tutorial (ε 50, δ 1e-5,
// 20 epochs, len(data_loader) 98, 1960 steps): what reproducing make_private_with_epsilon's σ costs when a script
// is read. σ is compared with Opacus' own (test/fixtures/privacy/prv_reference.json, tools/fixtures/prv_reference.py).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { opacusNoiseMultiplier } from '../server/src/privacy/opacusNoise';
import { prvEpsilon } from '../server/src/privacy/prvAccountant';

export interface PrvBench {
  /** ε at Opacus' σ for the tutorial: one evaluation on Opacus' grid. */
  epsilon: { noiseMultiplier: number; epsilon: number; gridSize: number; ms: number };
  /** The whole search as make_private_with_epsilon runs it. */
  search: { noiseMultiplier: number; opacus: number; equal: boolean; ms: number; evaluations: number; coarseEvaluations: number; opacusSeconds: number };
  /** The process's peak resident set after both, MB. */
  maxRssMB: number;
}

export function measurePrv(): PrvBench {
  const ref = JSON.parse(readFileSync(join(__dirname, '../test/fixtures/privacy/prv_reference.json'), 'utf8')) as {
    noise: { name: string; accountant: string; noiseMultiplier: number; targetEpsilon: number; targetDelta: number; epochs: number; loaderLength: number; steps: number; opacusSeconds: number }[];
  };
  const c = ref.noise.find((x) => x.name === 'building_image_classifier' && x.accountant === 'prv')!;
  const sampleRate = 1 / c.loaderLength;
  let t0 = performance.now();
  const e = prvEpsilon({ sampleRate, noiseMultiplier: c.noiseMultiplier, steps: c.steps }, c.targetDelta);
  const epsilonMs = performance.now() - t0;
  t0 = performance.now();
  const s = opacusNoiseMultiplier({ targetEpsilon: c.targetEpsilon, targetDelta: c.targetDelta, sampleRate, epochs: c.epochs, accountant: 'prv' });
  const searchMs = performance.now() - t0;
  const found = s.kind === 'found' ? s : undefined;
  return {
    epsilon: { noiseMultiplier: c.noiseMultiplier, epsilon: e.epsilon, gridSize: e.gridSize, ms: epsilonMs },
    search: {
      noiseMultiplier: found?.noiseMultiplier ?? NaN, opacus: c.noiseMultiplier, equal: found?.noiseMultiplier === c.noiseMultiplier, ms: searchMs,
      evaluations: found?.evaluations ?? 0, coarseEvaluations: found?.coarseEvaluations ?? 0, opacusSeconds: c.opacusSeconds,
    },
    maxRssMB: process.resourceUsage().maxRSS / 1024,
  };
}

if (require.main === module) {
  console.log(JSON.stringify(measurePrv(), null, 1));
}

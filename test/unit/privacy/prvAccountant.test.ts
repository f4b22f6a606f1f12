// The PRV accountant against Opacus' own code (tools/fixtures/prv_reference.py runs opacus/accountants unchanged and
// writes test/fixtures/privacy/prv_reference.json), and its parts against independent truths: erfc against the
// series/continued-fraction logErfc (itself checked against mpmath), the Bluestein DFT against the O(n²) sum, the
// quadrature against closed forms.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { erfc } from '../../../server/src/privacy/erfc';
import { dft, inverseDft } from '../../../server/src/privacy/fft';
import { logErfc } from '../../../server/src/privacy/logSpace';
import { opacusNoiseMultiplier, opacusSteps } from '../../../server/src/privacy/opacusNoise';
import { prvEpsilon } from '../../../server/src/privacy/prvAccountant';
import { alignedDomain, meshSize, safeDomainHalfWidth } from '../../../server/src/privacy/prvDomain';
import { integrate } from '../../../server/src/privacy/gaussKronrod';
import { SubsampledGaussianPrv, TruncatedPrv } from '../../../server/src/privacy/subsampledGaussianPrv';
import { rdpEpsilon } from '../../../server/src/privacy/rdpAccountant';

export interface EpsilonCase {
  sampleRate: number;
  noiseMultiplier: number;
  steps: number;
  delta: number;
  prvEpsilon: number;
  rdpEpsilon: number;
  gridSize: number;
  tMin: number;
  tMax: number;
  opacusMean: number;
  tightMean: number;
}
export const prvReference = JSON.parse(readFileSync(join(__dirname, '../../fixtures/privacy/prv_reference.json'), 'utf8')) as {
  opacus: { commit: string };
  epsilon: EpsilonCase[];
  noise: {
    name: string;
    targetEpsilon: number;
    targetDelta: number;
    epochs: number;
    loaderLength: number;
    sampleRate: number;
    steps: number;
    accountant: 'prv' | 'rdp' | 'gdp';
    noiseMultiplier?: number;
    error?: string;
    trace: [number, number][];
  }[];
  erfc: { x: number; erfc: number }[];
};

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
const label = (c: EpsilonCase) => `q=${c.sampleRate} σ=${c.noiseMultiplier} T=${c.steps} δ=${c.delta}`;

describe('erfc (Cody 1969)', () => {
  it('gives mpmath’s erfc to 1e-15 relative from −6 to 26', () => {
    assert.ok(prvReference.erfc.length > 400);
    let worst = 0;
    for (const { x, erfc: truth } of prvReference.erfc) {
      worst = Math.max(worst, rel(erfc(x), truth));
      assert.ok(rel(erfc(x), truth) <= 1e-15, `x = ${x}: ${erfc(x)} vs ${truth}`);
    }
    console.log(`erfc: worst relative error ${worst.toExponential(2)}`);
  });

  it('agrees with the log-space erfc (series and continued fraction) to its own accuracy, 1e-13', () => {
    // Compared in logs: exp(logErfc) would amplify logErfc's rounding by |log erfc| (≈ 700 at x = 26); 1 − erf
    // loses digits of the log-space erfc near x = 1.5 (3.8e-14 there against the mpmath values above).
    for (let x = -6; x <= 26; x += 0.01337) {
      const truth = logErfc(x);
      assert.ok(Math.abs(Math.log(erfc(x)) - truth) <= 1e-13 + 4e-16 * Math.abs(truth), `x = ${x}: ${erfc(x)} vs ${Math.exp(truth)}`);
    }
    assert.equal(erfc(0), 1);
    assert.equal(erfc(40), 0);
    assert.equal(erfc(-40), 2);
  });
});

describe('DFT of any length', () => {
  const naive = (re: number[], im: number[]) => {
    const n = re.length;
    const out = { re: new Array<number>(n).fill(0), im: new Array<number>(n).fill(0) };
    for (let k = 0; k < n; k++) {
      for (let j = 0; j < n; j++) {
        const a = (-2 * Math.PI * ((j * k) % n)) / n;
        out.re[k] += re[j] * Math.cos(a) - im[j] * Math.sin(a);
        out.im[k] += re[j] * Math.sin(a) + im[j] * Math.cos(a);
      }
    }
    return out;
  };
  let seed = 7;
  const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) - 0.5;

  for (const n of [1, 2, 3, 7, 16, 97, 210, 1000, 1024, 2047]) {
    it(`matches the O(n²) sum at n = ${n}, and inverts`, () => {
      const re = Array.from({ length: n }, random);
      const im = Array.from({ length: n }, random);
      const truth = naive(re, im);
      const ours = dft({ re: Float64Array.from(re), im: Float64Array.from(im) });
      const norm = Math.sqrt(truth.re.reduce((s, v, k) => s + v * v + truth.im[k] ** 2, 0));
      let err = 0;
      for (let k = 0; k < n; k++) err = Math.max(err, Math.hypot(ours.re[k] - truth.re[k], ours.im[k] - truth.im[k]));
      assert.ok(err <= 1e-13 * norm, `n=${n}: max error ${err} vs norm ${norm}`);
      const back = inverseDft(ours);
      for (let j = 0; j < n; j++) assert.ok(Math.abs(back.re[j] - re[j]) < 1e-13 && Math.abs(back.im[j] - im[j]) < 1e-13);
    });
  }
});

describe('adaptive Gauss–Kronrod', () => {
  it('integrates smooth functions to their closed forms', () => {
    assert.ok(Math.abs(integrate(Math.exp, 0, 1).value - (Math.E - 1)) < 1e-15);
    assert.ok(Math.abs(integrate((t) => 1 / (1 + t * t), -50, 50).value - 2 * Math.atan(50)) < 1e-13);
    // ∫_0^∞ erfc = 1/√π
    assert.ok(Math.abs(integrate(erfc, 0, 30).value - 1 / Math.sqrt(Math.PI)) < 1e-14);
  });
});

describe('PRV accountant against Opacus’ PRVAccountant (commit ' + prvReference.opacus.commit.slice(0, 8) + ')', () => {
  it('builds the same grid as Opacus on every case (size and bounds)', () => {
    for (const c of prvReference.epsilon) {
      const deltaError = c.delta / 1000;
      const half = safeDomainHalfWidth(c.sampleRate, c.noiseMultiplier, c.steps, 0.01, deltaError);
      const d = alignedDomain(-half, half, meshSize(c.steps, 0.01, deltaError));
      assert.equal(d.size, c.gridSize, `${label(c)}: grid size`);
      assert.ok(Math.abs(d.tMin - c.tMin) < 1e-12 && Math.abs(d.tMax - c.tMax) < 1e-12, `${label(c)}: bounds ${d.tMin} ${d.tMax}`);
    }
  });

  it('integrates the truncated PRV’s mean to 1e-14 (Opacus’ quad at its default tolerance is off by up to ~1e-10)', () => {
    for (const c of prvReference.epsilon) {
      const mean = new TruncatedPrv(new SubsampledGaussianPrv(c.sampleRate, c.noiseMultiplier), c.tMin, c.tMax).mean();
      assert.ok(Math.abs(mean - c.tightMean) <= 1e-14, `${label(c)}: mean ${mean} vs ${c.tightMean}`);
    }
  });

  // Opacus' ε differs from an exact computation by its mean's quadrature error once per step (the grid is moved by
  // the mean difference, composed T times): T·|opacusMean − tightMean|, up to ~2e-6 at T = 10⁴. Beyond that our ε
  // agrees to ~1e-8 relative (FFT rounding, erfc and the order of sums): 3e-8 is asserted.
  it(`gives Opacus’ ε to 1e-6 relative on all ${prvReference.epsilon.length} cases, the difference explained by Opacus’ mean`, () => {
    assert.ok(prvReference.epsilon.length >= 20);
    let worst = 0;
    let worstUnexplained = 0;
    for (const c of prvReference.epsilon) {
      const ours = prvEpsilon({ sampleRate: c.sampleRate, noiseMultiplier: c.noiseMultiplier, steps: c.steps }, c.delta);
      const r = rel(ours.epsilon, c.prvEpsilon);
      worst = Math.max(worst, r);
      const explained = 1.5 * c.steps * Math.abs(c.opacusMean - c.tightMean);
      worstUnexplained = Math.max(worstUnexplained, Math.max(0, Math.abs(ours.epsilon - c.prvEpsilon) - explained) / c.prvEpsilon);
      assert.ok(r <= 1e-6, `${label(c)}: ε ${ours.epsilon} vs Opacus ${c.prvEpsilon} (relative ${r})`);
      assert.ok(Math.abs(ours.epsilon - c.prvEpsilon) <= 3e-8 * c.prvEpsilon + explained, `${label(c)}: ε ${ours.epsilon} vs Opacus ${c.prvEpsilon}, more than T·Δmean = ${explained}`);
      assert.equal(ours.gridSize, c.gridSize);
      assert.ok(ours.lower <= ours.estimate && ours.estimate <= ours.epsilon);
    }
    console.log(`PRV ε: worst relative difference to Opacus ${worst.toExponential(2)}, ${worstUnexplained.toExponential(2)} beyond Opacus' mean error`);
  });

  it('is tighter than the RDP accountant, whose ε is Opacus’ RDPAccountant’s to 1e-9', () => {
    for (const c of prvReference.epsilon) {
      const rdp = rdpEpsilon({ sampleRate: c.sampleRate, noiseMultiplier: c.noiseMultiplier, steps: c.steps }, c.delta).epsilon;
      assert.ok(rel(rdp, c.rdpEpsilon) <= 1e-9, `${label(c)}: RDP ε ${rdp} vs Opacus ${c.rdpEpsilon}`);
      assert.ok(c.prvEpsilon < c.rdpEpsilon, `${label(c)}: PRV is tighter`);
    }
  });

  it('refuses what Opacus refuses: σ = 0, q outside (0, 1), fractional steps', () => {
    assert.throws(() => prvEpsilon({ sampleRate: 0.01, noiseMultiplier: 0, steps: 10 }, 1e-5), /noise multiplier/);
    assert.throws(() => prvEpsilon({ sampleRate: 1, noiseMultiplier: 1, steps: 10 }, 1e-5), /sample rate/);
    assert.throws(() => prvEpsilon({ sampleRate: 0.01, noiseMultiplier: 1, steps: 10.5 }, 1e-5), /whole steps/);
  });
});

describe('get_noise_multiplier reproduced: the σ make_private_with_epsilon trains with', () => {
  const cases = prvReference.noise;
  const find = (name: string, accountant: string) => cases.find((c) => c.name === name && c.accountant === accountant)!;
  const query = (c: (typeof cases)[number]) => ({ targetEpsilon: c.targetEpsilon, targetDelta: c.targetDelta, sampleRate: 1 / c.loaderLength, epochs: c.epochs, accountant: c.accountant });

  it('turns epochs into Opacus’ steps, int(epochs / (1/len(data_loader)))', () => {
    for (const c of cases) assert.equal(opacusSteps(c.epochs, 1 / c.loaderLength), c.steps, c.name);
  });

  // The full search on the settings whose grids stay small (seconds each); the tutorial's, whose grids reach millions
  // of points, is run by `npm run bench` (bench/prv.ts) and checked here on the two evaluations that decide it.
  for (const [name, accountant] of [['mnist_typical', 'prv'], ['mnist_typical', 'rdp'], ['building_image_classifier', 'rdp'], ['small_budget', 'prv'], ['cifar_typical', 'gdp']] as const) {
    it(`finds Opacus’ σ exactly: ${name}, ${accountant}`, () => {
      const c = find(name, accountant);
      const ours = opacusNoiseMultiplier(query(c));
      if (c.error) {
        assert.equal(ours.kind, 'failed', `Opacus failed (${c.error}), so must we`);
        return;
      }
      assert.equal(ours.kind, 'found');
      if (ours.kind !== 'found') return;
      assert.equal(ours.noiseMultiplier, c.noiseMultiplier, `${name}: σ ${ours.noiseMultiplier} vs Opacus ${c.noiseMultiplier}`);
      const last = c.trace.find(([s]) => s === c.noiseMultiplier)!;
      assert.ok(Math.abs(ours.epsilon - last[1]) <= 1e-6 * last[1] || ours.coarseEvaluations > 0, `${name}: ε at σ`);
      assert.ok(ours.epsilon < c.targetEpsilon && c.targetEpsilon - ours.epsilon <= 0.01);
    });
  }

  it('decides the tutorial’s search as Opacus does (building_image_classifier: ε 50, δ 1e-5, 20 epochs, len 98, PRV)', () => {
    const c = find('building_image_classifier', 'prv');
    assert.equal(c.noiseMultiplier, 0.37197113037109375);
    // Opacus' answer has ε within the tolerance below 50; the σ just under it (the last lower end of its bisection) is above 50.
    const [sigma, eps] = c.trace.find(([s]) => s === c.noiseMultiplier)!;
    const below = Math.max(...c.trace.filter(([s, e]) => e >= c.targetEpsilon && s < sigma).map(([s]) => s));
    const ours = prvEpsilon({ sampleRate: 1 / c.loaderLength, noiseMultiplier: sigma, steps: c.steps }, c.targetDelta).epsilon;
    assert.ok(rel(ours, eps) <= 1e-7, `ε(σ = ${sigma}) ${ours} vs Opacus ${eps}`);
    const atBelow = prvEpsilon({ sampleRate: 1 / c.loaderLength, noiseMultiplier: below, steps: c.steps }, c.targetDelta).epsilon;
    const opacusBelow = c.trace.find(([s]) => s === below)![1];
    assert.ok(rel(atBelow, opacusBelow) <= 1e-7 && atBelow >= c.targetEpsilon, `ε(σ = ${below}) ${atBelow} vs Opacus ${opacusBelow}`);
  });
});

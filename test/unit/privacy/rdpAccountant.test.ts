// The RDP accountant against the committed high-precision reference (tools/fixtures/privacy_reference.py: mpmath,
// from Mironov et al. 2019 and Balle et al. 2020), and its inverses by round trip.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { noiseForEpsilon, stepsForEpsilon } from '../../../server/src/privacy/inverse';
import { logErfc } from '../../../server/src/privacy/logSpace';
import { epsilonFloor, RdpCurve, rdpEpsilon } from '../../../server/src/privacy/rdpAccountant';
import { DEFAULT_ORDERS, sampledGaussianRdp } from '../../../server/src/privacy/sampledGaussian';

interface ReferenceCase {
  sampleRate: number;
  noiseMultiplier: number;
  steps: number;
  delta: number;
  epsilon: number;
  order: number;
  float64LogSpaceEpsilon: number;
  /** One step's RDP per order where the generator computed the truth (every integer order, the window around the minimum), else null. */
  rdpPerStep: (number | null)[];
}
const reference = JSON.parse(readFileSync(join(__dirname, '../../fixtures/privacy/rdp_reference.json'), 'utf8')) as {
  orders: number[];
  cases: ReferenceCase[];
  logErfc: { x: number; logErfc: number }[];
};

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
const label = (c: ReferenceCase) => `q=${c.sampleRate} σ=${c.noiseMultiplier} T=${c.steps} δ=${c.delta}`;

describe('RDP accountant of the Poisson-subsampled Gaussian', () => {
  it('minimises over Opacus’s default orders, 1.1 … 10.9 and 12 … 63', () => {
    assert.deepEqual([...DEFAULT_ORDERS], reference.orders);
    assert.equal(DEFAULT_ORDERS.length, 151);
  });

  it(`gives the reference ε to 1e-6 relative, and its order, on all ${reference.cases.length} cases`, () => {
    assert.ok(reference.cases.length >= 50);
    const curves = new Map<string, RdpCurve>();
    for (const c of reference.cases) {
      const key = `${c.sampleRate}/${c.noiseMultiplier}`;
      if (!curves.has(key)) curves.set(key, new RdpCurve(c.sampleRate, c.noiseMultiplier));
      const spent = curves.get(key)!.spent(c.steps, c.delta);
      assert.ok(rel(spent.epsilon, c.epsilon) <= 1e-6, `${label(c)}: ε ${spent.epsilon} vs ${c.epsilon}`);
      assert.equal(spent.order, c.order, `${label(c)}: order`);
      assert.equal(spent.accountant, 'rdp');
      assert.deepEqual([spent.steps, spent.sampleRate, spent.noiseMultiplier, spent.delta], [c.steps, c.sampleRate, c.noiseMultiplier, c.delta]);
    }
  });

  it('covers the corners the issue names: q = 1, q = 1e-4, σ < 0.5, one step and 10⁶ steps', () => {
    const has = (p: (c: ReferenceCase) => boolean) => assert.ok(reference.cases.some(p));
    has((c) => c.sampleRate === 1);
    has((c) => c.sampleRate === 1e-4 && c.steps === 1_000_000);
    has((c) => c.noiseMultiplier < 0.5 && c.sampleRate < 1);
    has((c) => c.steps === 1);
    has((c) => c.noiseMultiplier === 20 && c.sampleRate === 1e-4);
  });

  it('gives each order’s one-step RDP where it matters for ε (absolute error × 10⁶ steps below 1e-6 of ε)', () => {
    let checked = 0;
    for (const c of reference.cases) {
      const key = `${c.sampleRate}/${c.noiseMultiplier}`;
      checked += c.rdpPerStep.filter((r) => r !== null).length;
      const eps = Math.min(...reference.cases.filter((d) => `${d.sampleRate}/${d.noiseMultiplier}` === key).map((d) => d.epsilon));
      DEFAULT_ORDERS.forEach((alpha, i) => {
        const truth = c.rdpPerStep[i];
        if (truth === null) return;
        const ours = sampledGaussianRdp(c.sampleRate, c.noiseMultiplier, alpha);
        // Relative where RDP is not tiny; where it is (q = 1e-4, σ = 20: 1e-11) the float64 sum loses relative
        // digits of A − 1, but its absolute error times any step count we accept stays far below ε's tolerance.
        const ok = rel(ours, truth) <= 1e-6 || Math.abs(ours - truth) * 1e6 <= 1e-7 * eps;
        assert.ok(ok, `q=${c.sampleRate} σ=${c.noiseMultiplier} α=${alpha}: ${ours} vs ${truth}`);
      });
    }
    assert.ok(checked > 3000, `orders checked: ${checked}`);
  });

  it('agrees with Opacus’s float64 log-space numbers (the generator’s scipy port) to 1e-6', () => {
    for (const c of reference.cases) {
      const ours = rdpEpsilon(c, c.delta).epsilon;
      assert.ok(rel(ours, c.float64LogSpaceEpsilon) <= 1e-6, label(c));
    }
  });

  it('computes log erfc across its regimes like mpmath', () => {
    for (const { x, logErfc: truth } of reference.logErfc) {
      const ours = logErfc(x);
      assert.ok(Math.abs(ours - truth) <= 1e-13 * Math.max(1, Math.abs(truth)), `log erfc(${x}): ${ours} vs ${truth}`);
    }
  });

  it('gives Opacus’s MNIST example ε ≈ 2.6 at δ = 1e-5 (σ 1.1, batch 256 of 60000, 60 epochs)', () => {
    const spent = rdpEpsilon({ sampleRate: 256 / 60000, noiseMultiplier: 1.1, steps: 60 * Math.ceil(60000 / 256) }, 1e-5);
    assert.equal(spent.epsilon.toFixed(1), '2.6');
  });

  it('grows with steps and sampling rate and shrinks with noise', () => {
    const e = (q: number, s: number, t: number) => rdpEpsilon({ sampleRate: q, noiseMultiplier: s, steps: t }, 1e-5).epsilon;
    assert.ok(e(0.01, 1, 1000) < e(0.01, 1, 2000));
    assert.ok(e(0.01, 1, 1000) < e(0.02, 1, 1000));
    assert.ok(e(0.01, 1, 1000) > e(0.01, 1.5, 1000));
  });

  it('treats the degenerate runs as what they are: no noise is ∞, no sampling or no steps is the floor', () => {
    assert.equal(rdpEpsilon({ sampleRate: 0.01, noiseMultiplier: 0, steps: 10 }, 1e-5).epsilon, Infinity);
    assert.equal(rdpEpsilon({ sampleRate: 0.01, noiseMultiplier: 1, steps: 0 }, 1e-5).epsilon, epsilonFloor(1e-5));
    assert.throws(() => rdpEpsilon({ sampleRate: 1.5, noiseMultiplier: 1, steps: 10 }, 1e-5), /sample rate/);
    assert.throws(() => rdpEpsilon({ sampleRate: 0.1, noiseMultiplier: 1, steps: 10 }, 1), /δ/);
  });
});

describe('inverse accounting', () => {
  it('finds the noise multiplier for a target ε, and that σ gives the target back to 1e-6', () => {
    const settings = [
      { eps: 3, delta: 1e-5, q: 256 / 60000, steps: 14100 },
      { eps: 1, delta: 1e-5, q: 0.01, steps: 10_000 },
      { eps: 8, delta: 1e-6, q: 0.1, steps: 50 },
      { eps: 0.5, delta: 1e-5, q: 1e-4, steps: 1_000_000 },
      { eps: 10, delta: 1e-5, q: 1, steps: 1 },
      { eps: 2, delta: 1e-3, q: 0.25, steps: 1000 },
    ];
    for (const s of settings) {
      const found = noiseForEpsilon(s.eps, s.delta, s.q, s.steps);
      assert.equal(found.kind, 'found', JSON.stringify(s));
      if (found.kind !== 'found') continue;
      const back = rdpEpsilon({ sampleRate: s.q, noiseMultiplier: found.noiseMultiplier, steps: s.steps }, s.delta).epsilon;
      assert.ok(back <= s.eps, `ε(σ) ≤ target: ${back}`);
      assert.ok(rel(back, s.eps) <= 1e-6, `round trip ${JSON.stringify(s)}: ${back}`);
      // Less noise misses the target: the σ found is the smallest, not merely a sufficient one.
      const less = rdpEpsilon({ sampleRate: s.q, noiseMultiplier: found.noiseMultiplier * (1 - 1e-6), steps: s.steps }, s.delta).epsilon;
      assert.ok(less > s.eps);
    }
  });

  it('says when no noise reaches the target (below the conversion’s floor)', () => {
    const floor = epsilonFloor(1e-5);
    const r = noiseForEpsilon(floor * 0.9, 1e-5, 0.01, 1000);
    assert.equal(r.kind, 'unreachable');
  });

  it('finds the steps and whole epochs a budget allows, exactly at its edge', () => {
    const q = 256 / 60000;
    const perEpoch = Math.ceil(60000 / 256);
    const budget = stepsForEpsilon(3, 1e-5, q, 1.1, perEpoch);
    const at = (t: number) => rdpEpsilon({ sampleRate: q, noiseMultiplier: 1.1, steps: t }, 1e-5).epsilon;
    assert.ok(rel(at(budget.exactSteps), 3) <= 1e-6, `ε at the exact steps: ${at(budget.exactSteps)}`);
    assert.ok(at(budget.steps) <= 3 && at(budget.steps + 1) > 3);
    assert.equal(budget.epochs, Math.floor(budget.steps / perEpoch));
    // Consistent with the forward direction: 60 epochs give ε ≈ 2.6 < 3, so the budget allows more than 60.
    assert.ok(budget.epochs! > 60);
  });
});

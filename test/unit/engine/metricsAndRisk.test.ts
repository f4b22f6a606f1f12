// RMSE/PSNR, per-sample splits, seeded randomness and risk levels.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mostExposed, perSampleErrors, psnr, rmse, rmseForPsnr } from '../../../server/src/engine/metrics';
import { Random } from '../../../server/src/engine/random';
import { riskLevel } from '../../../server/src/engine/risk';

describe('error metrics', () => {
  it('measures RMSE and PSNR on the data range, with +∞ for an exact reconstruction', () => {
    assert.equal(rmse(Float64Array.of(3, 4, 0, 0)), 2.5);
    assert.equal(psnr(0.1, 1), 20);
    assert.equal(psnr(0, 1), Infinity);
    assert.ok(Number.isNaN(psnr(NaN)));
    assert.ok(Math.abs(rmseForPsnr(psnr(0.037, 255), 255) - 0.037) < 1e-15);
  });

  it('splits a batch-major error by example and names the most exposed one', () => {
    const per = perSampleErrors(Float64Array.of(1, 1, 0.1, 0.1, 2, 2), 3, 1);
    assert.deepEqual(per.map((s) => s.index), [0, 1, 2]);
    assert.ok(Math.abs(per[1].rmse - 0.1) < 1e-15);
    assert.equal(mostExposed(per)!.index, 1);
    assert.throws(() => perSampleErrors(new Float64Array(5), 2));
  });
});

describe('seeded randomness', () => {
  it('gives the same standard normals for a seed and different ones for another', () => {
    const a = new Random(42).fillNormal(new Float64Array(5000));
    const b = new Random(42).fillNormal(new Float64Array(5000));
    const c = new Random(43).fillNormal(new Float64Array(5));
    assert.deepEqual(a, b);
    assert.notDeepEqual([...a.subarray(0, 5)], [...c]);
    const mean = a.reduce((s, x) => s + x, 0) / a.length;
    const variance = a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length;
    assert.ok(Math.abs(mean) < 0.05 && Math.abs(variance - 1) < 0.06, `${mean} ${variance}`);
  });

  it('is pinned to a known sequence so draws agree across machines and versions', () => {
    const r = new Random(1);
    const first = [r.nextUint32(), r.nextUint32(), r.nextUint32()];
    assert.deepEqual(first, PINNED_UINT32);
  });
});

// Recorded from this implementation (xoshiro128** seeded by splitmix32 from 1); a change here changes every cached draw.
const PINNED_UINT32 = [2442144158, 3238099751, 3819917871];

describe('risk levels', () => {
  it('maps PSNR to high / medium / low with the default 20 and 12 dB thresholds', () => {
    assert.equal(riskLevel({ psnr: Infinity, converged: true }), 'high');
    assert.equal(riskLevel({ psnr: 20, converged: true }), 'high');
    assert.equal(riskLevel({ psnr: 19.9, converged: true }), 'medium');
    assert.equal(riskLevel({ psnr: 12, converged: true }), 'medium');
    assert.equal(riskLevel({ psnr: 5, converged: true }), 'low');
    assert.equal(riskLevel({ psnr: 15, converged: true }, { highPsnr: 14, mediumPsnr: 8 }), 'high');
  });

  it('is uncertain when the solve did not converge or a number is not finite', () => {
    assert.equal(riskLevel({ psnr: 30, converged: false }), 'uncertain');
    assert.equal(riskLevel({ psnr: NaN, converged: true }), 'uncertain');
    assert.equal(riskLevel({ psnr: 30, converged: true, numbers: [1, Infinity] }), 'uncertain');
  });
});

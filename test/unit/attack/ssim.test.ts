// SSIM against known values: identity = 1, a numpy reference computed in tools/fixtures/attack_reference.py
// (11×11 Gaussian window σ 1.5, valid region, per channel), shape rules, and the TV prior's gradient.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ssim, ssimDefined } from '../../../server/src/engine/ssim';
import { spearman, totalVariation } from '../../../server/src/engine/attack';
import { Random } from '../../../server/src/engine/random';
import { ATTACK } from './helpers';

const ref = JSON.parse(readFileSync(join(ATTACK, 'ssim.json'), 'utf8'));

test('SSIM of an image with itself is 1', () => {
  const a = Float64Array.from(ref.a as number[]);
  const r = ssim(a, a, ref.shape)!;
  assert.ok(Math.abs(r.ssim - 1) < 1e-12, `${r.ssim}`);
});

test('SSIM matches the numpy reference (noisy copy and inverted image)', () => {
  const a = Float64Array.from(ref.a as number[]);
  const b = Float64Array.from(ref.b as number[]);
  const c = a.map((v) => 1 - v);
  const ab = ssim(a, b, ref.shape)!;
  const ac = ssim(a, c, ref.shape)!;
  assert.ok(Math.abs(ab.ssim - ref.ssimAB) < 1e-12, `${ab.ssim} vs ${ref.ssimAB}`);
  assert.ok(Math.abs(ac.ssim - ref.ssimAC) < 1e-12, `${ac.ssim} vs ${ref.ssimAC}`);
  ab.perChannel.forEach((v, i) => assert.ok(Math.abs(v - ref.ssimABPerChannel[i]) < 1e-12));
  assert.ok(ab.ssim < 1 && ab.ssim > 0.3, `noisy copy ${ab.ssim}`);
  assert.ok(ac.ssim < 0, `inverted image ${ac.ssim}`);
});

test('SSIM of a constant shift by hand: luminance term only', () => {
  // Constant images p and q: σ terms vanish, SSIM = (2pq + C1)/(p² + q² + C1) everywhere.
  const shape = [1, 11, 11];
  const p = new Float64Array(121).fill(0.25), q = new Float64Array(121).fill(0.75);
  const C1 = 1e-4;
  const expected = (2 * 0.25 * 0.75 + C1) / (0.25 ** 2 + 0.75 ** 2 + C1);
  assert.ok(Math.abs(ssim(p, q, shape)!.ssim - expected) < 1e-12);
});

test('SSIM is not defined for 1-D inputs or images below the 11×11 window', () => {
  assert.equal(ssim(new Float64Array(64), new Float64Array(64), [64]), null);
  assert.equal(ssimDefined([3, 8, 8]), false);
  assert.equal(ssimDefined([3, 32, 32]), true);
});

test('TV gradient matches finite differences', () => {
  const shape = [1, 2, 5, 4];
  const x = new Random(5).fillNormal(new Float64Array(40));
  const g = new Float64Array(40);
  totalVariation(x, shape, g, 1);
  for (const i of [0, 7, 19, 33]) {
    const h = 1e-6;
    const xp = Float64Array.from(x), xm = Float64Array.from(x);
    xp[i] += h; xm[i] -= h;
    const fd = (totalVariation(xp, shape) - totalVariation(xm, shape)) / (2 * h);
    assert.ok(Math.abs(fd - g[i]) < 1e-6, `TV grad[${i}] ${g[i]} vs ${fd}`);
  }
});

test('Spearman: perfect, reversed and tied ranks', () => {
  assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 40]), 1);
  assert.equal(spearman([1, 2, 3, 4], [4, 3, 2, 1]), -1);
  assert.ok(Math.abs(spearman([1, 2, 3], [1, 1, 2]) - 0.8660254037844387) < 1e-12);
});

// The deflation kernels (vectorBlocks.ts): WebAssembly SIMD and JS against plain float64 loops, on sizes that need
// the padding (k not a multiple of 4, odd n), two blocks sharing one memory.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Random } from '../../../server/src/engine/random';
import { simdAvailable, vectorBlocks } from '../../../server/src/engine/vectorBlocks';

function reference(rows: Float64Array[], r: Float64Array, c: Float64Array, p: Float64Array) {
  const dots = rows.map((x) => x.reduce((a, xi, j) => a + xi * r[j], 0));
  const combined = Float64Array.from(p, (pj, j) => rows.reduce((a, x, i) => a + c[i] * x[j], pj));
  return { dots, combined };
}

describe('vector blocks', () => {
  it('runs the SIMD kernels on this Node', () => {
    assert.equal(simdAvailable(), true); // Node ≥ 16.4 has fixed-width SIMD: without it every deflated CG slows down
  });

  for (const simd of [true, false]) {
    it(`${simd ? 'SIMD' : 'JS'}: dots and combinations equal float64 loops for k 1…9 and odd n`, () => {
      for (const [k, n] of [[1, 7], [3, 5], [4, 8], [5, 33], [9, 101], [40, 3072]]) {
        const rng = new Random(k * 1000 + n);
        const w = Array.from({ length: k }, () => rng.fillNormal(new Float64Array(n)));
        const aw = Array.from({ length: k + 2 }, () => rng.fillNormal(new Float64Array(n)));
        const original = w.map((x) => Float64Array.from(x));
        const [bw, baw] = vectorBlocks([w, aw], n, { simd });
        assert.deepEqual(bw.rows.map((x) => Array.from(x)), original.map((x) => Array.from(x)), 'rows hold the vectors');
        const r = rng.fillNormal(new Float64Array(n));
        const p = rng.fillNormal(new Float64Array(n));
        const c = rng.fillNormal(new Float64Array(k + 2));
        const truth = reference(original, r, c, p);
        const got = new Float64Array(k).fill(NaN);
        bw.dots(r, got);
        truth.dots.forEach((d, i) => assert.ok(Math.abs(got[i] - d) <= 1e-13 * Math.sqrt(n), `k ${k} n ${n}: dot ${i} ${got[i]} vs ${d}`));
        const pp = Float64Array.from(p);
        bw.addCombination(c, pp);
        truth.combined.forEach((v, j) => assert.ok(Math.abs(pp[j] - v) <= 1e-13 * k, `k ${k} n ${n}: p[${j}] ${pp[j]} vs ${v}`));
        const awTruth = reference(aw, r, c, p);
        const got2 = new Float64Array(k + 2);
        baw.dots(r, got2); // the second block of the same memory
        awTruth.dots.forEach((d, i) => assert.ok(Math.abs(got2[i] - d) <= 1e-13 * Math.sqrt(n)));
        const pa = Float64Array.from(p);
        baw.addCombination(c, pa);
        awTruth.combined.forEach((v, j) => assert.ok(Math.abs(pa[j] - v) <= 1e-13 * k));
      }
    });
  }

  it('SIMD: a NaN coefficient left from a wider call never leaks into the padding rows', () => {
    const rows = [new Float64Array([1, 2, 3]), new Float64Array([4, 5, 6])];
    const [wide, narrow] = vectorBlocks([[...rows, new Float64Array(3), new Float64Array(3), new Float64Array(3)], rows], 3);
    const p = new Float64Array(3);
    wide.addCombination(new Float64Array([0, 0, NaN, NaN, NaN]), p); // writes NaN coefficients into the shared c
    const q = new Float64Array(3);
    narrow.addCombination(new Float64Array([1, 1]), q);
    assert.deepEqual(Array.from(q), [5, 7, 9]);
  });
});

// The Nyström build's block kernels (blockKernels.ts): the WebAssembly SIMD matrix and the JS loops against plain
// float64 loops written here, on sizes that exercise the padding (rows not a multiple of 4, columns not of 8) and the
// column chunks (n past CHUNK_COLUMNS, a last chunk of 8), and P⁻¹'s block over the matrix's own memory.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blockKernelsAvailable, CHUNK_COLUMNS, vectorMatrix } from '../../../server/src/engine/blockKernels';
import { Random } from '../../../server/src/engine/random';

const dotOf = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i], 0);

/** Rows of the reference: row i ← (row i − Σ_{t<i} C_it row t) / C_ii, in plain loops over whole rows. */
function solveLowerReference(rows: Float64Array[], c: Float64Array): Float64Array[] {
  const k = rows.length, out: Float64Array[] = [];
  for (let i = 0; i < k; i++) {
    const r = Float64Array.from(rows[i]);
    for (let t = 0; t < i; t++) for (let j = 0; j < r.length; j++) r[j] -= c[i * k + t] * out[t][j];
    for (let j = 0; j < r.length; j++) r[j] /= c[i * k + i];
    out.push(r);
  }
  return out;
}

function transformReference(rows: Float64Array[], t: Float64Array, m: number): Float64Array[] {
  const k = rows.length, n = rows[0].length;
  return Array.from({ length: m }, (_, i) => {
    const r = new Float64Array(n);
    for (let j = 0; j < k; j++) for (let s = 0; s < n; s++) r[s] += t[j * m + i] * rows[j][s];
    return r;
  });
}

function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string) {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what}[${i}]: ${got[i]} vs ${want[i]}`);
}

describe('block kernels', () => {
  it('run in WebAssembly SIMD on this Node', () => {
    assert.equal(blockKernelsAvailable(), true); // without them the ResNet-50 sketch's build takes minutes of scalar JS
  });

  const sizes: [number, number][] = [[1, 1], [2, 3], [3, 7], [5, 13], [4, 8], [9, CHUNK_COLUMNS + 2], [13, 301], [6, 2 * CHUNK_COLUMNS], [22, 3 * CHUNK_COLUMNS + 17]];
  for (const simd of [true, false]) {
    it(`${simd ? 'SIMD' : 'JS'}: cross products, Gram matrix, triangular solve and transform equal float64 loops`, () => {
      for (const [k, n] of sizes) {
        const rng = new Random(100 * k + n);
        const rows = Array.from({ length: k }, () => rng.fillNormal(new Float64Array(n)));
        const others = Array.from({ length: k }, () => rng.fillNormal(new Float64Array(n)));
        const y = vectorMatrix(k + 3, n, { simd }); // capacity beyond the rows used: a budget-cut sketch
        for (const r of rows) y.append(Float64Array.from(r));
        assert.deepEqual(y.rows.map((r) => Array.from(r)), rows.map((r) => Array.from(r)), `k ${k} n ${n}: rows hold the vectors`);
        const tol = 1e-13 * Math.sqrt(n) * 4;

        const cross = new Float64Array(k * k).fill(NaN);
        y.crossProducts(others, cross, 0);
        const crossTruth = new Float64Array(k * k);
        for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) crossTruth[i * k + j] = dotOf(others[i], rows[j]);
        assertClose(cross, crossTruth, tol, `k ${k} n ${n}: Ωᵀ Y`);
        // By blocks of Ω (nystrom.ts draws it again 16 columns at a time): the same numbers bit for bit, and no
        // block's sums carried into the next call.
        const byBlocks = new Float64Array(k * k).fill(NaN);
        for (let first = 0; first < k; first += 3) y.crossProducts(others.slice(first, first + 3), byBlocks, first);
        assert.deepEqual(byBlocks, cross, `k ${k} n ${n}: Ωᵀ Y by blocks of 3`);

        const gramTruth = new Float64Array(k * k);
        for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) gramTruth[i * k + j] = dotOf(rows[i], rows[j]);
        assertClose(y.gram(), gramTruth, tol, `k ${k} n ${n}: Yᵀ Y`);

        const c = new Float64Array(k * k); // well-conditioned lower triangle: the reference and the kernels agree to rounding
        for (let i = 0; i < k; i++) {
          for (let t = 0; t < i; t++) c[i * k + t] = 0.3 * rng.normal() / Math.sqrt(k);
          c[i * k + i] = 1 + rng.uniform();
        }
        const solved = solveLowerReference(rows, c);
        y.solveLower(c);
        y.rows.forEach((r, i) => assertClose(r, solved[i], 1e-13 * k * 10, `k ${k} n ${n}: C⁻¹ Y row ${i}`));

        for (const m of [k, Math.max(1, k - 3)]) { // m < k: rows dropped, m not a multiple of 4
          const t = new Float64Array(k * m).map(() => rng.normal());
          const before = y.rows.map((r) => Float64Array.from(r));
          const transformed = transformReference(before, t, m);
          y.transform(t, m);
          assert.equal(y.rows.length, m);
          y.rows.forEach((r, i) => assertClose(r, transformed[i], 1e-13 * k * 10, `k ${k} n ${n} m ${m}: T-transform row ${i}`));
          // The matrix is still usable after rows were dropped: its Gram matrix over the m rows left.
          const g = y.gram();
          for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
            assert.ok(Math.abs(g[i * m + j] - dotOf(transformed[i], transformed[j])) <= 1e-12 * Math.sqrt(n) * k * 10, `k ${k} n ${n} m ${m}: Gram after transform`);
          }
        }
      }
    });
  }

  it('SIMD: P⁻¹\'s block over the matrix\'s own memory (no copy) equals float64 loops after rows were dropped', () => {
    const k = 7, n = CHUNK_COLUMNS + 5;
    const rng = new Random(9);
    const y = vectorMatrix(k, n);
    for (let i = 0; i < k; i++) y.append(rng.fillNormal(new Float64Array(n)));
    y.transform(new Float64Array(k * 5).map(() => rng.normal()), 5); // 5 rows left: 3 padding rows in the tile of 8
    const block = y.vectorBlock();
    assert.ok(block, 'the SIMD matrix has a block');
    assert.equal(block.rows.length, 5);
    assert.equal(block.rows[0].buffer, y.rows[0].buffer, 'the block reads the matrix\'s rows where they are');
    const r = rng.fillNormal(new Float64Array(n));
    const c = new Float64Array(5);
    block.dots(r, c);
    y.rows.forEach((u, i) => assert.ok(Math.abs(c[i] - dotOf(u, r)) <= 1e-12, `dot ${i}`));
    const p = rng.fillNormal(new Float64Array(n));
    const want = Float64Array.from(p, (pj, j) => y.rows.reduce((a, u, i) => a + c[i] * u[j], pj));
    block.addCombination(c, p);
    assertClose(p, want, 1e-12, 'p + Σ c_i u_i');
  });

  it('JS: has no block of its own (the preconditioner copies the rows into its kernels)', () => {
    const y = vectorMatrix(2, 3, { simd: false });
    y.append(Float64Array.of(1, 2, 3));
    assert.equal(y.vectorBlock(), null);
  });

  it('refuses a vector of the wrong length and more rows than its capacity', () => {
    for (const simd of [true, false]) {
      const y = vectorMatrix(4, 5, { simd });
      assert.throws(() => y.append(new Float64Array(4)), /length 4, expected 5/);
    }
    const y = vectorMatrix(4, 5);
    for (let i = 0; i < 4; i++) y.append(new Float64Array(5));
    assert.throws(() => y.append(new Float64Array(5)), /more than 4 rows/);
  });
});

// Random.fillNormal's unrolled loop (the Nyström sketch draws ℓ·d_x normals with it, and draws Ω again from the
// seed) against the scalar normal() it must reproduce bit for bit: odd and even lengths, the polar pair's spare
// carried across calls in both directions, and the state left for uniform() afterwards.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Random } from '../../../server/src/engine/random';

describe('Random.fillNormal', () => {
  it('draws what successive normal() calls draw, bit for bit, and leaves the same state', () => {
    for (const seed of [0, 1, 7, -3, 2 ** 40 + 5]) {
      const block = new Random(seed), scalar = new Random(seed);
      for (const len of [0, 1, 3, 4, 5, 1001, 2, 7]) {
        const got = block.fillNormal(new Float64Array(len));
        for (let i = 0; i < len; i++) assert.ok(Object.is(got[i], scalar.normal()), `seed ${seed}, length ${len}, entry ${i}`);
        // A scalar draw between blocks takes the spare a block of odd length left (and vice versa).
        assert.ok(Object.is(block.normal(), scalar.normal()), `seed ${seed}: normal() after a block of ${len}`);
        assert.ok(Object.is(block.uniform(), scalar.uniform()), `seed ${seed}: uniform() after a block of ${len}`);
      }
    }
  });

  it('gives standard normals (mean 0, variance 1 within 4 standard errors over 200 000 draws)', () => {
    const n = 200_000;
    const x = new Random(11).fillNormal(new Float64Array(n));
    let m = 0, v = 0;
    for (const xi of x) m += xi;
    m /= n;
    for (const xi of x) v += (xi - m) ** 2;
    v /= n - 1;
    assert.ok(Math.abs(m) < 4 / Math.sqrt(n), `mean ${m}`);
    assert.ok(Math.abs(v - 1) < 4 * Math.sqrt(2 / n), `variance ${v}`);
  });
});

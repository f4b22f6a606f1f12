// Seeded randomness for the engine: xoshiro128** from an integer seed, uniform and standard normal draws, bit-identical everywhere.
//
// Only 32-bit integer ops (Math.imul, shifts), IEEE division, Math.sqrt (correctly rounded) and Math.log (V8's fdlibm
// port, the same on every platform) are used, so a seed gives the same noise draw on every machine: a cached I(z)
// and a re-run agree bit for bit.

/** splitmix32: spreads an arbitrary integer seed over xoshiro's 128-bit state (never all-zero). */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | null = null;

  /** Any finite number works as a seed; its integer part and sign are used (|seed| < 2^53). */
  constructor(seed: number) {
    const s = Math.trunc(seed);
    const hi = Math.floor(s / 4294967296) | 0;
    const st = { s: (s >>> 0) ^ Math.imul(hi, 0x27d4eb2d) };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st);
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  /** Next 32-bit output of xoshiro128** as an unsigned integer. */
  nextUint32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }

  /** Uniform on [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal N(0, 1), Marsaglia's polar method (needs only log and sqrt). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * Math.log(s)) / s);
        this.spareNormal = v * f;
        return u * f;
      }
    }
  }

  /**
   * Fills `out` with independent standard normals: the draws of `normal()` in the same order, bit for bit, with the
   * generator's state in locals (the Nyström sketch draws ℓ·d_x of them, 6·10⁷ on ResNet-50; 20–23 ns each instead
   * of 49–60 through normal(), measured at load 5).
   */
  fillNormal(out: Float64Array): Float64Array {
    const n = out.length;
    let i = 0;
    if (n > 0 && this.spareNormal !== null) { out[i++] = this.spareNormal; this.spareNormal = null; }
    let a = this.a, b = this.b, c = this.c, d = this.d;
    while (i < n) {
      // Two uniforms of 53 bits (four xoshiro128** outputs), as uniform() makes them.
      let r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0; let t = b << 9; c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
      const h1 = r >>> 5;
      r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0; t = b << 9; c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
      const u = 2 * ((h1 * 67108864 + (r >>> 6)) / 9007199254740992) - 1;
      r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0; t = b << 9; c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
      const h2 = r >>> 5;
      r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0; t = b << 9; c ^= a; d ^= b; b ^= c; a ^= d; c ^= t; d = rotl(d, 11);
      const v = 2 * ((h2 * 67108864 + (r >>> 6)) / 9007199254740992) - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const f = Math.sqrt((-2 * Math.log(s)) / s);
        out[i++] = u * f;
        if (i < n) out[i++] = v * f;
        else this.spareNormal = v * f;
      }
    }
    this.a = a; this.b = b; this.c = c; this.d = d;
    return out;
  }

  /** Fills `out` with ±1 (Rademacher) entries. */
  fillRademacher(out: Float64Array): Float64Array {
    for (let i = 0; i < out.length; i += 32) {
      const bits = this.nextUint32();
      for (let j = 0; j < 32 && i + j < out.length; j++) out[i + j] = (bits >>> j) & 1 ? 1 : -1;
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** A derived seed for the j-th independent stream of a computation (noise draw, trace probe j, Lanczos start…). */
export function deriveSeed(seed: number, stream: number): number {
  const st = { s: (Math.trunc(seed) >>> 0) ^ Math.imul(stream + 1, 0x9e3779b1) };
  splitmix32(st);
  return splitmix32(st);
}

// Adaptive Gauss–Kronrod quadrature (7-point Gauss inside 15-point Kronrod), for the smooth one-dimensional
// integrals of the accountants (the mean of a truncated privacy loss distribution).

// Kronrod nodes on [−1, 1] (non-negative half) and weights; the Gauss nodes are the odd-indexed ones
// (Piessens et al., QUADPACK, 1983, qk15).
const XGK = [
  0.991455371120812639206854697526329, 0.949107912342758524526189684047851, 0.864864423359769072789712788640926,
  0.741531185599394439863864773280788, 0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
  0.207784955007898467600689403773245, 0,
];
const WGK = [
  0.02293532201052922496373200805897, 0.063092092629978553290700663189204, 0.104790010322250183839876322541518,
  0.140653259715525918745189590510238, 0.16900472663926790282658342659855, 0.190350578064785409913256402421014,
  0.204432940075298892414161999234649, 0.209482141084727828012999174891714,
];
const WG = [0.129484966168869693270611432679082, 0.27970539148927666790146777142378, 0.381830050505118944950369775488975, 0.417959183673469387755102040816327];

function kronrod15(f: (t: number) => number, a: number, b: number): { value: number; error: number } {
  const c = (a + b) / 2;
  const h = (b - a) / 2;
  const fc = f(c);
  let k = fc * WGK[7];
  let g = fc * WG[3];
  for (let i = 0; i < 7; i++) {
    const s = f(c - h * XGK[i]) + f(c + h * XGK[i]);
    k += WGK[i] * s;
    if (i % 2 === 1) g += WG[(i - 1) / 2] * s;
  }
  return { value: k * h, error: Math.abs((k - g) * h) };
}

/**
 * ∫_a^b f by bisecting the panels whose Kronrod–Gauss difference exceeds their share of `tolerance` (absolute)
 * plus `noise`·width, f's own absolute rounding (without that floor, rounding noise in f would split panels down
 * to `maxDepth` everywhere). Returns the sum of the Kronrod estimates and the sum of the remaining differences
 * (a pessimistic error bound for smooth f).
 */
export function integrate(
  f: (t: number) => number,
  a: number,
  b: number,
  { tolerance = 1e-14, noise = 0, maxDepth = 30 }: { tolerance?: number; noise?: number; maxDepth?: number } = {},
): { value: number; error: number } {
  if (!(b > a)) return { value: 0, error: 0 };
  let value = 0;
  let error = 0;
  const stack: [number, number, number][] = [[a, b, 0]];
  while (stack.length > 0) {
    const [lo, hi, depth] = stack.pop()!;
    const r = kronrod15(f, lo, hi);
    const share = (tolerance * (hi - lo)) / (b - a) + noise * (hi - lo);
    if (r.error <= share || depth >= maxDepth) {
      value += r.value;
      error += r.error;
    } else {
      const mid = (lo + hi) / 2;
      stack.push([mid, hi, depth + 1], [lo, mid, depth + 1]);
    }
  }
  return { value, error };
}

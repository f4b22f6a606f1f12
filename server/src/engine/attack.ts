// The gradient-inversion attack I²F predicts (I2F.md, "The real attack, for confirmation"), run on the same
// InversionOperator the analysis uses: gradient matching on the defended gradient g* = g0 + δ with known labels.
//
//   DLG L2:               f(x) = ‖g(x) − g*‖²                          ∇x f = 2 J(x) (g(x) − g*)
//   Inverting Gradients:  f(x) = 1 − ⟨g, g*⟩ / (‖g‖ ‖g*‖)               ∇x f = −J(x) (g*/(‖g‖‖g*‖) − cos·g/‖g‖²)
//
// Each evaluation costs one gradient and one J u product. Optional total-variation prior (images), box
// constraint (projection onto the data range), Adam (with Inverting Gradients' signed steps and step decay) or
// L-BFGS with a strong-Wolfe line search (Float64Array state), random restarts from seeded starts.

import { dot, norm } from './linalg';
import type { InversionOperator } from './operator';
import { deriveSeed, Random } from './random';

export type AttackObjective = 'l2' | 'cosine';
export type AttackOptimizer = 'adam' | 'lbfgs';

export interface AttackProgress {
  restart: number;
  restarts: number;
  step: number;
  steps: number;
  /** Current objective (matching loss + TV term). */
  loss: number;
}

export interface AttackOptions {
  /** The shared (defended) gradient g* = g0 + δ, length d_θ. */
  target: Float64Array;
  objective?: AttackObjective;
  optimizer?: AttackOptimizer;
  /** Iterations per restart (default 300 for L-BFGS, as DLG; 2000 for Adam). */
  steps?: number;
  /** Adam step size (default 0.1, I2F.md) or L-BFGS first trial step (default 1). */
  learningRate?: number;
  /** Adam on sign(∇f), as Inverting Gradients does (default: true for the cosine objective, false for L2). */
  signed?: boolean;
  /** Adam step decay ×0.1 at 3/8, 5/8 and 7/8 of the steps (Inverting Gradients' schedule; default true for Adam). */
  decay?: boolean;
  /** L-BFGS memory (default 100, as torch.optim.LBFGS). */
  history?: number;
  /** Box constraint: every coordinate is projected onto [lo, hi] after each step (null: unconstrained). */
  box?: { lo: number; hi: number } | null;
  /** Total-variation weight (0 = none); needs `imageShape`. */
  tv?: number;
  /** [B, C, H, W] of x for the TV prior (x is batch-major, channel-first). */
  imageShape?: readonly number[];
  /** Random restarts (default 1); the one with the lowest final objective wins. */
  restarts?: number;
  seed?: number;
  /** Start of the first restart (default: seeded uniform on `startRange`). */
  start?: Float64Array;
  /** Range of the seeded uniform starts (default the box, else [0, 1]). */
  startRange?: { lo: number; hi: number };
  /** Stop a restart when the objective's relative decrease over 10 iterations falls below this (default 0: run all steps). */
  tolerance?: number;
  signal?: AbortSignal;
  onProgress?: (p: AttackProgress) => void;
}

export interface AttackRun {
  restart: number;
  /** Final matching loss (without the TV term). */
  loss: number;
  objective: number;
  steps: number;
  evaluations: number;
  stopReason: 'steps' | 'tolerance' | 'line-search' | 'converged';
}

export interface AttackResult {
  /** The recovered batch (length d_x). */
  x: Float64Array;
  /** Matching loss at x (‖g − g*‖² or 1 − cos), without the TV term. */
  loss: number;
  /** Objective value the best restart reached (matching + TV). */
  objectiveValue: number;
  /** Objective per iteration of the best restart (the first entry is the start). */
  history: number[];
  /** Iterations over all restarts. */
  steps: number;
  /** Objective evaluations (one gradient + one J u each) over all restarts. */
  evaluations: number;
  ms: number;
  best: number;
  runs: AttackRun[];
  objective: AttackObjective;
  optimizer: AttackOptimizer;
}

interface Evaluation {
  f: number;
  matching: number;
}

/** The attack's objective and its x-gradient on one operator. Exported for tests and other optimisers. */
export class MatchingObjective {
  private readonly g: Float64Array;
  private readonly u: Float64Array;
  private readonly targetNorm: number;
  evaluations = 0;

  constructor(
    private readonly op: InversionOperator,
    private readonly target: Float64Array,
    private readonly kind: AttackObjective,
    private readonly tv = 0,
    private readonly imageShape?: readonly number[],
  ) {
    if (target.length !== op.parameterCount) throw new RangeError(`target gradient: length ${target.length}, expected ${op.parameterCount}`);
    if (tv > 0 && !imageShape) throw new RangeError('a TV prior needs the image shape [B, C, H, W]');
    this.g = new Float64Array(op.parameterCount);
    this.u = new Float64Array(op.parameterCount);
    this.targetNorm = norm(target);
  }

  /** f(x) and ∇f(x) into `grad` (two products: g and J u). */
  async evaluate(x: Float64Array, grad: Float64Array): Promise<Evaluation> {
    const { g, u, target } = this;
    this.op.setInput(x);
    await this.op.gradient(g);
    this.evaluations++;
    let matching: number;
    if (this.kind === 'l2') {
      let s = 0;
      for (let i = 0; i < g.length; i++) {
        const r = g[i] - target[i];
        u[i] = 2 * r;
        s += r * r;
      }
      matching = s;
    } else {
      const gn = norm(g);
      const tn = this.targetNorm;
      if (gn === 0 || tn === 0) {
        grad.fill(0);
        matching = 1;
        return this.addTv(x, grad, matching);
      }
      const c = dot(g, target) / (gn * tn);
      matching = 1 - c;
      // ∂(1 − cos)/∂g = −(g*/(‖g‖‖g*‖) − cos·g/‖g‖²)
      for (let i = 0; i < g.length; i++) u[i] = -(target[i] / (gn * tn) - (c * g[i]) / (gn * gn));
    }
    await this.op.jacobianVector(u, grad);
    return this.addTv(x, grad, matching);
  }

  private addTv(x: Float64Array, grad: Float64Array, matching: number): Evaluation {
    if (!(this.tv > 0)) return { f: matching, matching };
    return { f: matching + this.tv * totalVariation(x, this.imageShape!, grad, this.tv), matching };
  }
}

/** Charbonnier smoothing of |d| in the TV prior (keeps L-BFGS's line search on a differentiable function). */
const TV_EPS = 1e-6;

/**
 * Anisotropic total variation of channel-first images, as Inverting Gradients: mean |x[h, w+1] − x[h, w]| +
 * mean |x[h+1, w] − x[h, w]| over the batch and channels (|d| smoothed as √(d² + ε²) − ε). Adds weight·∇TV into
 * `grad` when given.
 */
export function totalVariation(x: Float64Array, shape: readonly number[], grad?: Float64Array, weight = 1): number {
  const [B, C, H, W] = shape.length === 4 ? shape : [1, ...shape];
  if (B * C * H * W !== x.length) throw new RangeError(`TV: shape [${shape}] does not match ${x.length} values`);
  const nx = B * C * H * Math.max(0, W - 1);
  const ny = B * C * Math.max(0, H - 1) * W;
  let sx = 0, sy = 0;
  for (let p = 0; p < B * C; p++) {
    const base = p * H * W;
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        const i = base + h * W + w;
        if (w + 1 < W) {
          const d = x[i + 1] - x[i];
          const a = Math.sqrt(d * d + TV_EPS * TV_EPS);
          sx += a - TV_EPS;
          if (grad) {
            const k = (weight * d) / (a * nx);
            grad[i + 1] += k;
            grad[i] -= k;
          }
        }
        if (h + 1 < H) {
          const d = x[i + W] - x[i];
          const a = Math.sqrt(d * d + TV_EPS * TV_EPS);
          sy += a - TV_EPS;
          if (grad) {
            const k = (weight * d) / (a * ny);
            grad[i + W] += k;
            grad[i] -= k;
          }
        }
      }
    }
  }
  return (nx > 0 ? sx / nx : 0) + (ny > 0 ? sy / ny : 0);
}

function project(x: Float64Array, box: { lo: number; hi: number } | null | undefined): void {
  if (!box) return;
  for (let i = 0; i < x.length; i++) x[i] = x[i] < box.lo ? box.lo : x[i] > box.hi ? box.hi : x[i];
}

/** Runs the attack: the restart with the lowest final objective wins. Throws `signal.reason` when aborted. */
export async function runAttack(op: InversionOperator, opts: AttackOptions): Promise<AttackResult> {
  const t0 = performance.now();
  const objective = opts.objective ?? 'l2';
  const optimizer = opts.optimizer ?? 'lbfgs';
  const steps = opts.steps ?? (optimizer === 'lbfgs' ? 300 : 2000);
  const restarts = Math.max(1, opts.restarts ?? 1);
  const seed = opts.seed ?? 0;
  const n = op.inputSize;
  if (!(Number.isInteger(steps) && steps >= 0)) throw new RangeError(`steps must be an integer ≥ 0, got ${steps}`);
  if (opts.box && !(opts.box.lo < opts.box.hi)) throw new RangeError(`box [${opts.box.lo}, ${opts.box.hi}] is empty`);
  const range = opts.startRange ?? opts.box ?? { lo: 0, hi: 1 };
  const f = new MatchingObjective(op, opts.target, objective, opts.tv ?? 0, opts.imageShape);
  const runs: AttackRun[] = [];
  let best: { x: Float64Array; run: AttackRun; history: number[] } | null = null;
  let totalSteps = 0;
  for (let r = 0; r < restarts; r++) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const x = new Float64Array(n);
    if (r === 0 && opts.start) {
      if (opts.start.length !== n) throw new RangeError(`start: length ${opts.start.length}, expected ${n}`);
      x.set(opts.start);
    } else {
      const rand = new Random(deriveSeed(seed, 1000 + r));
      for (let i = 0; i < n; i++) x[i] = range.lo + (range.hi - range.lo) * rand.uniform();
    }
    project(x, opts.box);
    const before = f.evaluations;
    const progress = (step: number, loss: number) => opts.onProgress?.({ restart: r, restarts, step, steps, loss });
    const out = optimizer === 'lbfgs'
      ? await lbfgs(f, x, steps, opts, progress)
      : await adam(f, x, steps, objective, opts, progress);
    // final matching loss at the returned point
    const grad = new Float64Array(n);
    const final = await f.evaluate(x, grad);
    const run: AttackRun = {
      restart: r, loss: final.matching, objective: final.f, steps: out.steps, evaluations: f.evaluations - before, stopReason: out.stopReason,
    };
    runs.push(run);
    totalSteps += out.steps;
    if (!best || run.objective < best.run.objective || Number.isNaN(best.run.objective)) best = { x, run, history: out.history };
  }
  return {
    x: best!.x, loss: best!.run.loss, objectiveValue: best!.run.objective, history: best!.history, steps: totalSteps,
    evaluations: f.evaluations, ms: performance.now() - t0, best: best!.run.restart, runs, objective, optimizer,
  };
}

interface OptimiserOutcome {
  steps: number;
  history: number[];
  stopReason: AttackRun['stopReason'];
}

function stalled(history: number[], tolerance: number): boolean {
  const k = history.length - 1;
  if (!(tolerance > 0) || k < 10) return false;
  const old = history[k - 10];
  return old - history[k] <= tolerance * Math.abs(old);
}

async function adam(
  f: MatchingObjective, x: Float64Array, steps: number, objective: AttackObjective, opts: AttackOptions,
  progress: (step: number, loss: number) => void,
): Promise<OptimiserOutcome> {
  const n = x.length;
  const lr0 = opts.learningRate ?? 0.1;
  const signed = opts.signed ?? objective === 'cosine';
  const decay = opts.decay ?? true;
  const b1 = 0.9, b2 = 0.999, eps = 1e-8;
  const m = new Float64Array(n), v = new Float64Array(n), grad = new Float64Array(n);
  const history: number[] = [];
  const milestones = [3 / 8, 5 / 8, 7 / 8].map((q) => Math.floor(q * steps));
  let t = 0;
  for (; t < steps; t++) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const e = await f.evaluate(x, grad);
    history.push(e.f);
    progress(t, e.f);
    if (stalled(history, opts.tolerance ?? 0)) return { steps: t, history, stopReason: 'tolerance' };
    const lr = decay ? lr0 * 0.1 ** milestones.filter((s) => t >= s).length : lr0;
    const c1 = 1 - b1 ** (t + 1), c2 = 1 - b2 ** (t + 1);
    for (let i = 0; i < n; i++) {
      const gi = signed ? Math.sign(grad[i]) : grad[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      x[i] -= (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + eps);
    }
    project(x, opts.box);
  }
  return { steps: t, history, stopReason: 'steps' };
}

/**
 * L-BFGS (two-loop recursion, memory `history`) with a strong-Wolfe line search (bracketing and cubic zoom,
 * Nocedal & Wright Alg. 3.5/3.6, c1 = 1e-4, c2 = 0.9), as torch.optim.LBFGS(line_search_fn='strong_wolfe'). The
 * first trial step is min(1, 1/‖∇f‖₁)·lr, later ones lr (1). With a box, each accepted point is projected (a
 * heuristic: curvature pairs are taken from the projected step).
 */
async function lbfgs(
  f: MatchingObjective, x: Float64Array, steps: number, opts: AttackOptions, progress: (step: number, loss: number) => void,
): Promise<OptimiserOutcome> {
  const n = x.length;
  const memory = Math.max(1, opts.history ?? 100);
  const lr = opts.learningRate ?? 1;
  const S: Float64Array[] = [], Y: Float64Array[] = [], rho: number[] = [];
  const grad = new Float64Array(n), d = new Float64Array(n), xNew = new Float64Array(n), gNew = new Float64Array(n);
  const alpha = new Float64Array(memory);
  let e = await f.evaluate(x, grad);
  const history = [e.f];
  progress(0, e.f);
  let H0 = 1;
  for (let k = 0; k < steps; k++) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const gnorm = norm(grad);
    if (gnorm === 0 || !Number.isFinite(e.f)) return { steps: k, history, stopReason: 'converged' };
    // d = −H ∇f (two-loop recursion)
    for (let i = 0; i < n; i++) d[i] = -grad[i];
    for (let j = S.length - 1; j >= 0; j--) {
      alpha[j] = rho[j] * dot(S[j], d);
      const y = Y[j];
      for (let i = 0; i < n; i++) d[i] -= alpha[j] * y[i];
    }
    for (let i = 0; i < n; i++) d[i] *= H0;
    for (let j = 0; j < S.length; j++) {
      const beta = rho[j] * dot(Y[j], d);
      const s = S[j];
      for (let i = 0; i < n; i++) d[i] += (alpha[j] - beta) * s[i];
    }
    let gd = dot(grad, d);
    if (!(gd < 0)) { // not a descent direction (rounding): restart from steepest descent
      S.length = 0; Y.length = 0; rho.length = 0; H0 = 1;
      for (let i = 0; i < n; i++) d[i] = -grad[i];
      gd = -gnorm * gnorm;
    }
    let l1 = 0;
    for (let i = 0; i < n; i++) l1 += Math.abs(grad[i]);
    const t0 = k === 0 ? Math.min(1, 1 / l1) * lr : lr;
    const ls = await strongWolfe(f, x, e.f, gd, d, t0, xNew, gNew, opts.box);
    if (!ls) return { steps: k, history, stopReason: 'line-search' };
    // curvature pair from the accepted (possibly projected) step
    const s = new Float64Array(n), y = new Float64Array(n);
    for (let i = 0; i < n; i++) { s[i] = xNew[i] - x[i]; y[i] = gNew[i] - grad[i]; }
    const ys = dot(y, s);
    if (ys > 1e-10 * Math.max(dot(y, y), Number.MIN_VALUE) && ys > 0) {
      if (S.length === memory) { S.shift(); Y.shift(); rho.shift(); }
      S.push(s); Y.push(y); rho.push(1 / ys);
      H0 = ys / dot(y, y);
    }
    x.set(xNew);
    grad.set(gNew);
    const moved = ls.f !== e.f;
    e = { f: ls.f, matching: ls.matching };
    history.push(e.f);
    progress(k + 1, e.f);
    if (!moved) return { steps: k + 1, history, stopReason: 'converged' };
    if (stalled(history, opts.tolerance ?? 0)) return { steps: k + 1, history, stopReason: 'tolerance' };
  }
  return { steps, history, stopReason: 'steps' };
}

/** Minimiser of the cubic interpolating (a, fa, ga) and (b, fb, gb), clamped to the interval (N&W eq. 3.59). */
function cubicMin(a: number, fa: number, ga: number, b: number, fb: number, gb: number, lo = Math.min(a, b), hi = Math.max(a, b)): number {
  const d1 = ga + gb - (3 * (fa - fb)) / (a - b);
  const sq = d1 * d1 - ga * gb;
  if (sq >= 0) {
    const d2 = Math.sign(b - a) * Math.sqrt(sq);
    const t = b - (b - a) * ((gb + d2 - d1) / (gb - ga + 2 * d2));
    if (Number.isFinite(t)) return Math.min(Math.max(t, lo), hi);
  }
  return (lo + hi) / 2;
}

/**
 * Strong-Wolfe line search along d from x (f0, g0·d = gd0). Writes the accepted point and its gradient into
 * xNew/gNew; returns its f, or null when no decrease could be found.
 */
async function strongWolfe(
  f: MatchingObjective, x: Float64Array, f0: number, gd0: number, d: Float64Array, t0: number,
  xNew: Float64Array, gNew: Float64Array, box: AttackOptions['box'],
): Promise<{ f: number; matching: number } | null> {
  const c1 = 1e-4, c2 = 0.9, maxEvals = 25;
  const n = x.length;
  let evals = 0;
  const at = async (t: number) => {
    for (let i = 0; i < n; i++) xNew[i] = x[i] + t * d[i];
    project(xNew, box);
    evals++;
    const e = await f.evaluate(xNew, gNew);
    return { t, f: e.f, matching: e.matching, gd: dot(gNew, d) };
  };
  type Point = Awaited<ReturnType<typeof at>>;
  let prev: Point = { t: 0, f: f0, matching: NaN, gd: gd0 };
  let cur = await at(t0);
  let lo: Point | null = null, hi: Point | null = null;
  // bracketing phase
  for (;;) {
    if (!Number.isFinite(cur.f) || cur.f > f0 + c1 * cur.t * gd0 || (prev.t > 0 && cur.f >= prev.f)) { lo = prev; hi = cur; break; }
    if (Math.abs(cur.gd) <= -c2 * gd0) return cur;
    if (cur.gd >= 0) { lo = cur; hi = prev; break; }
    if (evals >= maxEvals) return cur;
    // extrapolate (torch: cubic step clamped to [t + 0.01 (t − t_prev), 10 t])
    const tNext = cubicMin(prev.t, prev.f, prev.gd, cur.t, cur.f, cur.gd, cur.t + 0.01 * (cur.t - prev.t), 10 * cur.t);
    prev = cur;
    cur = await at(tNext);
  }
  // zoom phase
  let best: Point | null = lo.t > 0 ? lo : null;
  while (evals < maxEvals) {
    const width = Math.abs(hi.t - lo.t);
    let t = Number.isFinite(hi.f) ? cubicMin(lo.t, lo.f, lo.gd, hi.t, hi.f, hi.gd) : (lo.t + hi.t) / 2;
    // keep the trial away from the ends (torch: 10% of the interval)
    const a = Math.min(lo.t, hi.t), b = Math.max(lo.t, hi.t);
    if (t - a < 0.1 * width || b - t < 0.1 * width) t = (a + b) / 2;
    if (width * Math.max(1, norm(d)) < 1e-16 * Math.max(1, Math.abs(lo.t))) break;
    const p = await at(t);
    if (!Number.isFinite(p.f) || p.f > f0 + c1 * p.t * gd0 || p.f >= lo.f) {
      hi = p;
    } else {
      if (Math.abs(p.gd) <= -c2 * gd0) return p;
      if (p.gd * (hi.t - lo.t) >= 0) hi = lo;
      lo = p;
      best = p;
    }
  }
  if (best && best.f < f0) {
    await at(best.t); // leave xNew/gNew at the best point
    return best;
  }
  return null;
}

/** Spearman rank correlation (average ranks for ties); NaN for fewer than two points or a constant series. */
export function spearman(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new RangeError('spearman: series of different lengths');
  const ranks = (v: readonly number[]) => {
    const idx = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < idx.length;) {
      let j = i;
      while (j + 1 < idx.length && idx[j + 1][0] === idx[i][0]) j++;
      for (let k = i; k <= j; k++) r[idx[k][1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = ranks(a), rb = ranks(b);
  const n = a.length;
  const ma = ra.reduce((s, x) => s + x, 0) / n, mb = rb.reduce((s, x) => s + x, 0) / n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) { sab += (ra[i] - ma) * (rb[i] - mb); saa += (ra[i] - ma) ** 2; sbb += (rb[i] - mb) ** 2; }
  return n < 2 || saa === 0 || sbb === 0 ? NaN : sab / Math.sqrt(saa * sbb);
}

// The wall-clock budget an analysis's solves share, and the time-left estimate its progress reports from the first
// iterations. The undamped I²F of an ImageNet-size model takes thousands of J Jᵀ v products of seconds each (ResNet-50:
// 2.2–3.3 s per product, bench/large.ts), so the user sees the cost as it unfolds and can cap it; a solve stopped by
// the budget is reported not converged with its residual (risk 'uncertain', risk.ts), never as a confident number.
// The clock is injected so the budget logic is tested with a deterministic one (test/unit/engine/budget.test.ts).

/** Milliseconds, monotonic (performance.now by default). */
export type Clock = () => number;

export const systemClock: Clock = () => performance.now();

/** A wall-clock allowance started when created; every solve of one analysis checks the same one between iterations. */
export class SolveBudget {
  private readonly start: number;

  constructor(readonly seconds: number, private readonly clock: Clock = systemClock) {
    if (!(seconds > 0) || !Number.isFinite(seconds)) throw new RangeError(`a solve budget must be a finite number of seconds > 0, got ${seconds}`);
    this.start = clock();
  }

  get elapsedSeconds(): number {
    return (this.clock() - this.start) / 1000;
  }

  get remainingSeconds(): number {
    return Math.max(0, this.seconds - this.elapsedSeconds);
  }

  get exhausted(): boolean {
    return this.elapsedSeconds >= this.seconds;
  }
}

export interface SolveProgress {
  iteration: number;
  /** The solver's recurrence residual, relative to ‖b‖. */
  relativeResidual: number;
  /** Mean wall seconds per iteration so far in this solve. */
  secondsPerIteration: number;
  /**
   * Iterations still needed to reach the tolerance, extrapolating the best residual's mean rate of decrease per
   * iteration so far (log-linear: CG's bound); undefined until the residual has fallen at all.
   */
  iterationsLeft?: number;
  secondsLeft?: number;
}

/**
 * The time-left estimate of one solve. Krylov residuals fall roughly geometrically at a rate set by κ (CG:
 * ‖r_k‖ ≲ 2((√κ−1)/(√κ+1))^k ‖b‖), so ln(best residual)/k extrapolates to the tolerance. On ill-conditioned systems
 * the rate slows as the small eigenvalues take over, so early estimates are optimistic; they are refreshed every
 * iteration and labelled '~'.
 */
export class SolveEstimator {
  private readonly start: number;
  private best = 1;

  constructor(private readonly tolerance: number, private readonly clock: Clock = systemClock) {
    this.start = clock();
  }

  observe(iteration: number, relativeResidual: number): SolveProgress {
    if (relativeResidual < this.best) this.best = relativeResidual;
    const secondsPerIteration = iteration > 0 ? (this.clock() - this.start) / 1000 / iteration : 0;
    const progress: SolveProgress = { iteration, relativeResidual, secondsPerIteration };
    const rate = Math.log(this.best) / Math.max(1, iteration); // < 0 once the residual has fallen
    if (iteration > 0 && rate < 0 && Number.isFinite(rate)) {
      const left = Math.max(0, Math.ceil((Math.log(this.tolerance) - Math.log(this.best)) / rate));
      progress.iterationsLeft = left;
      progress.secondsLeft = left * secondsPerIteration;
    }
    return progress;
  }
}

/** "iteration 120, residual 3.2e-3, ~41 min left" (the progress label the editor and CLI show). */
export function describeSolveProgress(p: SolveProgress, budget?: SolveBudget): string {
  let s = `iteration ${p.iteration}, residual ${p.relativeResidual.toExponential(1)}`;
  if (p.secondsLeft !== undefined) s += `, ~${formatDuration(p.secondsLeft)} left`;
  if (budget && p.secondsLeft !== undefined && p.secondsLeft > budget.remainingSeconds) s += ` (budget ends in ${formatDuration(budget.remainingSeconds)})`;
  return s;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '∞';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

// Several independent solves of the same J Jᵀ advancing together, the products each round asks for sent to the
// backend in one block call (operator.ts gramBlock): the main solve and the Hutchinson probes of an analysis.

import type { SymmetricProduct } from './solve';

/** outs[i] ← A vs[i] for every i in one call (the backend's block product, operator.ts gramBlock). */
export type BlockProduct = (vs: readonly Float64Array[], outs: readonly Float64Array[]) => Promise<void>;

/** How the rounds went: block calls made, products in them, and the widest call. */
export interface SharedProductStats {
  rounds: number;
  products: number;
  widest: number;
}

interface PendingProduct {
  v: Float64Array;
  out: Float64Array;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/**
 * The meeting point of k solves: each solve gets its own SymmetricProduct (`product(i)`); a request waits until every
 * solve still running has asked for its next product (or finished), and then all of them go out in one block call.
 *
 * Why several CGs sharing each call and not one block CG (O'Leary 1980): each solve keeps everything it is tested
 * on, its own stopping at its own true residual, residual replacement, stagnation rule, deflation, mixed-precision
 * reliable updates and report (cg.ts, refine.ts), and its result is bitwise the one-at-a-time solve's whenever the
 * block product returns what the single products would (sharedSolves.test.ts). A block CG shares one Krylov space
 * between the right-hand sides and can save iterations, but needs rank-revealing deflation of its block as
 * residuals converge at different times, and would replace the solvers the accuracy tests hold, not reuse them.
 *
 * A solve may await other things between products (the float64 products of its residual replacements, a deflation
 * space another solve is building): the round then simply waits for it. Those must not need the shared products
 * themselves, or the round would wait for itself: build anything shared with the direct product.
 */
export class SharedProducts {
  private active: number;
  private pending: PendingProduct[] = [];
  private flushing = false;
  readonly stats: SharedProductStats = { rounds: 0, products: 0, widest: 0 };

  constructor(private readonly block: BlockProduct, participants: number) {
    this.active = participants;
  }

  /** The product of one participant: resolves when its round's block call has filled `out`. */
  readonly product: SymmetricProduct = (v, out) => new Promise<void>((resolve, reject) => {
    this.pending.push({ v, out, resolve, reject });
    void this.flushIfComplete();
  });

  /** A participant has finished (or failed): the rounds stop waiting for it. */
  leave(): void {
    this.active--;
    void this.flushIfComplete();
  }

  private async flushIfComplete(): Promise<void> {
    if (this.flushing || this.pending.length === 0 || this.pending.length < this.active) return;
    const round = this.pending;
    this.pending = [];
    this.flushing = true;
    let failure: { error: unknown } | undefined;
    try {
      await this.block(round.map((p) => p.v), round.map((p) => p.out));
    } catch (error) {
      failure = { error };
    }
    this.flushing = false;
    this.stats.rounds++;
    this.stats.products += round.length;
    this.stats.widest = Math.max(this.stats.widest, round.length);
    for (const p of round) if (failure) p.reject(failure.error); else p.resolve();
  }
}

/**
 * Calls that run one at a time in call order: what solves running together need around every product they take from
 * one operator, shared rounds, float64 residual products and deflation builds alike. The backends reuse their input
 * buffers and sessions across calls (onnxOperator.ts: the float32 input is copied into one buffer, then session.run
 * is awaited), so overlapping calls would read each other's vectors: measured on dlg_lenet with the float64
 * residual products of five solves overlapping, one trace solve ended at a true residual of 1.0 after 20 000
 * iterations and two switched to float64 products at iteration ~1 240 (sharedSolves.test.ts holds it).
 */
export function oneAtATime(): <T>(call: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(call: () => Promise<T>): Promise<T> => {
    const result = tail.then(call);
    tail = result.catch(() => undefined);
    return result;
  };
}

/**
 * Runs every solve concurrently on shared product rounds; solve i is called with its own product and index.
 * Resolves with the results in order once all have finished; when any failed (an abort, a backend error), rejects
 * with the first failure in order, after the others have finished too (none is left running behind the caller).
 */
export async function runSharedSolves<T>(
  block: BlockProduct,
  solves: readonly ((product: SymmetricProduct, index: number) => Promise<T>)[],
): Promise<{ results: T[]; stats: SharedProductStats }> {
  const shared = new SharedProducts(block, solves.length);
  const settled = await Promise.allSettled(solves.map(async (solve, i) => {
    try {
      return await solve(shared.product, i);
    } finally {
      shared.leave();
    }
  }));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return { results: settled.map((s) => (s as PromiseFulfilledResult<T>).value), stats: shared.stats };
}

// The editor's σ searches, one per config at most: make_private_with_epsilon's σ (Opacus' get_noise_multiplier on our
// PRV accountant, up to a minute) is searched for while the config shows its clipping-only reading, and the config is
// read again when the answer is in the memo. A search is stopped (its worker terminated) when the budget it was asked
// for changes, the file closes, the user cancels it, or the server shuts down; an answer that arrives for a search no
// longer wanted only lands in the memo, and since every reading is made from the text as it is then, a stale σ can
// never overwrite a newer reading.

import type { OpacusNoiseQuery } from '../privacy/opacusNoise';
import { opacusNoiseInBackground, OpacusNoiseSearchCancelled } from '../privacy/opacusNoiseInBackground';

/** The progress item of one search (LSP work-done progress), when the client shows one. */
export interface NoiseSearchProgress {
  report(message: string): void;
  done(): void;
  /** The user pressed the item's cancel button. */
  onCancel(cancel: () => void): void;
}

export interface NoiseSearchHooks {
  begin(config: string, query: OpacusNoiseQuery): Promise<NoiseSearchProgress | undefined>;
  /** The answer (σ, or why there is none) is in the memo: read the config again. */
  answered(config: string): void;
  /** The user stopped the search: read the config again (it then says so). */
  cancelled(config: string): void;
  /** A search started or stopped (the status item counts them). */
  changed(): void;
}

interface Search {
  key: string;
  abort: AbortController;
  timer?: NodeJS.Timeout;
}

export function noiseQueryKey(query: OpacusNoiseQuery): string {
  return JSON.stringify([query.targetEpsilon, query.targetDelta, query.sampleRate, query.epochs, query.accountant, query.epsilonTolerance ?? 0.01]);
}

export class NoiseSearches {
  private readonly searches = new Map<string, Search>();
  /** The query the user cancelled, per config: not searched again until the budget changes or the file reopens. */
  private readonly declined = new Map<string, string>();

  constructor(private readonly hooks: NoiseSearchHooks) {}

  /**
   * The config's reading needs σ for `query`: its search is kept if it is for the same query, else the config's older
   * one is stopped and this one started (after `delayMs`: an edit's keystrokes do not each start a worker).
   */
  want(config: string, query: OpacusNoiseQuery, delayMs = 0): 'running' | 'cancelled' {
    const key = noiseQueryKey(query);
    if (this.declined.get(config) === key) {
      this.release(config);
      return 'cancelled';
    }
    this.declined.delete(config);
    const current = this.searches.get(config);
    if (current?.key === key) return 'running';
    this.release(config);
    const search: Search = { key, abort: new AbortController() };
    this.searches.set(config, search);
    const start = () => {
      search.timer = undefined;
      this.start(config, query, search);
    };
    if (delayMs > 0) search.timer = setTimeout(start, delayMs);
    else start();
    return 'running';
  }

  private start(config: string, query: OpacusNoiseQuery, search: Search): void {
    const progress = this.hooks.begin(config, query).catch(() => undefined);
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      void progress.then((p) => p?.done());
    };
    search.abort.signal.addEventListener('abort', finish, { once: true });
    void progress.then((p) => p?.onCancel(() => this.decline(config, search)));
    const onStep = (sigma: number, step: number) => void progress.then((p) => !finished && p?.report(`σ ${Number(sigma.toPrecision(4))} tried (${step})`));
    this.hooks.changed();
    opacusNoiseInBackground(query, { signal: search.abort.signal, onStep }).then(
      () => {
        finish();
        // Superseded meanwhile: the answer is only in the memo (a later reading of the same budget finds it there).
        if (this.searches.get(config) !== search) return;
        this.searches.delete(config);
        this.hooks.changed();
        this.hooks.answered(config);
      },
      (e: unknown) => {
        finish();
        if (e instanceof OpacusNoiseSearchCancelled || this.searches.get(config) !== search) return;
        // Not expected (the search falls back to this thread when its worker fails): read again, which searches anew.
        this.searches.delete(config);
        this.hooks.changed();
        this.hooks.answered(config);
      },
    );
  }

  /** The config no longer needs σ (its reading has it, or no longer asks, or the file is not open): stop its search. */
  release(config: string): void {
    const search = this.searches.get(config);
    if (!search) return;
    this.searches.delete(config);
    clearTimeout(search.timer);
    search.abort.abort();
    this.hooks.changed();
  }

  /** The file closed: its search stops and a cancel the user made is forgotten (reopening searches again). */
  forget(config: string): void {
    this.release(config);
    this.declined.delete(config);
  }

  /** "I²F: Cancel analyses": every search stops and stays stopped for its budget. Returns how many there were. */
  cancelAll(): number {
    const all = [...this.searches];
    for (const [config, search] of all) this.decline(config, search);
    return all.length;
  }

  private decline(config: string, search: Search): void {
    if (this.searches.get(config) !== search) return;
    this.declined.set(config, search.key);
    this.release(config);
    this.hooks.cancelled(config);
  }

  /** Whether the config's σ is being searched for. */
  running(config: string): boolean {
    return this.searches.has(config);
  }

  /** The configs whose σ is being searched for. */
  configs(): string[] {
    return [...this.searches.keys()];
  }
}

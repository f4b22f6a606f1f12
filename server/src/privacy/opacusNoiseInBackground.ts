// Opacus' σ search on a worker thread, its answer put in the same memo the synchronous reading consults
// (opacusNoise.ts): a script reader awaits it while the language server keeps answering. A search the editor no longer
// wants (an edit changed the budget, the file closed, the server shuts down) is stopped by terminating its worker, so
// it neither holds a core for a minute nor lands in the memo.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { cachedOpacusNoiseMultiplier, knownOpacusNoise, rememberOpacusNoise, type OpacusNoise, type OpacusNoiseQuery } from './opacusNoise';
import type { OpacusNoiseWorkerMessage } from './opacusNoiseWorker';

/** The bundled worker beside the bundle (dist/). Run from source (tests under tsx) the .ts cannot load in a worker: the search then runs inline. */
function workerFile(): string | undefined {
  const f = join(__dirname, 'opacusNoiseWorker.js');
  return existsSync(f) ? f : undefined;
}

/** The rejection of a search every asker abandoned: not an error, nothing to report. */
export class OpacusNoiseSearchCancelled extends Error {
  constructor() {
    super('the σ search was cancelled');
    this.name = 'OpacusNoiseSearchCancelled';
  }
}

/** What an asker hears while the search runs: each σ get_noise_multiplier tries, in its order. */
export type OpacusNoiseStep = (sigma: number, step: number) => void;

interface Search {
  key: string;
  query: OpacusNoiseQuery;
  promise: Promise<OpacusNoise>;
  resolve: (r: OpacusNoise) => void;
  reject: (e: Error) => void;
  /** Askers that may still abandon it; an asker without a signal holds it for good. */
  holders: number;
  listeners: Set<OpacusNoiseStep>;
  worker?: Worker;
  settled: boolean;
}

const searches = new Map<string, Search>();
/** One search at a time (each holds up to ~0.7 GB and a core): a workspace may hold many such scripts. */
const waiting: Search[] = [];
let current: Search | undefined;

/** Worker threads started and not yet exited (a stopped search's ends once terminate() has taken effect). */
const workers = new Set<Worker>();

/** Searches asked for and not yet answered (running or waiting their turn), and the worker threads still alive. */
export function opacusNoiseSearchesInFlight(): { searches: number; workers: number } {
  return { searches: searches.size, workers: workers.size };
}

/**
 * The search's answer, computed on a worker thread (one per search, ended after it, one search at a time) when one can
 * be started; on the calling thread otherwise. Concurrent requests for the same query share one search. With a
 * signal, the asker may abandon it: the search stops (its worker terminated, or it never starts) once every asker
 * has, and the promise rejects with OpacusNoiseSearchCancelled.
 */
export function opacusNoiseInBackground(query: OpacusNoiseQuery, options: { signal?: AbortSignal; onStep?: OpacusNoiseStep } = {}): Promise<OpacusNoise> {
  const known = knownOpacusNoise(query);
  if (known) return Promise.resolve(known);
  const { signal, onStep } = options;
  if (signal?.aborted) return Promise.reject(new OpacusNoiseSearchCancelled());
  const key = JSON.stringify(query);
  let search = searches.get(key);
  if (!search) {
    let resolve!: (r: OpacusNoise) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<OpacusNoise>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    search = { key, query, promise, resolve, reject, holders: 0, listeners: new Set(), settled: false };
    searches.set(key, search);
    waiting.push(search);
    setImmediate(next);
  }
  const s = search;
  s.holders++;
  if (onStep) s.listeners.add(onStep);
  if (!signal) return s.promise;
  return new Promise<OpacusNoise>((resolve, reject) => {
    const abandon = () => {
      if (onStep) s.listeners.delete(onStep);
      reject(new OpacusNoiseSearchCancelled());
      release(s);
    };
    signal.addEventListener('abort', abandon, { once: true });
    s.promise.then(
      (r) => {
        signal.removeEventListener('abort', abandon);
        resolve(r);
      },
      (e: Error) => {
        signal.removeEventListener('abort', abandon);
        reject(e);
      },
    );
  });
}

/** Stops every search (the language server's shutdown): their workers terminated, their askers told. */
export function cancelOpacusNoiseSearches(): void {
  for (const s of [...searches.values()]) stop(s);
}

function release(s: Search): void {
  if (--s.holders <= 0 && !s.settled) stop(s);
}

function stop(s: Search): void {
  if (s.settled) return;
  s.settled = true;
  searches.delete(s.key);
  const at = waiting.indexOf(s);
  if (at >= 0) waiting.splice(at, 1);
  if (s.worker) void s.worker.terminate();
  s.reject(new OpacusNoiseSearchCancelled());
  if (current === s) {
    current = undefined;
    setImmediate(next);
  }
}

function settle(s: Search, r: OpacusNoise): void {
  if (s.settled) return;
  s.settled = true;
  searches.delete(s.key);
  rememberOpacusNoise(s.query, r);
  s.resolve(r);
  if (s.worker) void s.worker.terminate();
  if (current === s) {
    current = undefined;
    setImmediate(next);
  }
}

/** Starts the next waiting search when none runs. */
function next(): void {
  if (current) return;
  const s = waiting.shift();
  if (!s) return;
  current = s;
  // Searched meanwhile (another process wrote the memo on disk): no worker.
  const known = knownOpacusNoise(s.query);
  if (known) return settle(s, known);
  const file = workerFile();
  const inline = () => settle(s, cachedOpacusNoiseMultiplier(s.query));
  if (!file) return inline();
  let worker: Worker;
  try {
    worker = s.worker = new Worker(file);
  } catch {
    return inline();
  }
  workers.add(worker);
  worker.once('exit', () => workers.delete(worker));
  s.worker.on('message', (m: OpacusNoiseWorkerMessage) => {
    if (m.kind === 'step') for (const l of s.listeners) l(m.sigma, m.step);
    else settle(s, m.answer);
  });
  // A worker that cannot load or dies before answering: the search on this thread (not after a cancel: stop() settled it).
  s.worker.once('error', () => !s.settled && inline());
  s.worker.once('exit', () => !s.settled && inline());
  s.worker.postMessage(s.query);
}

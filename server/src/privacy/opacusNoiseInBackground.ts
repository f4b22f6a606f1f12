// Opacus' σ search on a worker thread, its answer put in the same memo the synchronous reading consults
// (opacusNoise.ts): a script reader awaits it while the language server keeps answering.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { cachedOpacusNoiseMultiplier, knownOpacusNoise, rememberOpacusNoise, type OpacusNoise, type OpacusNoiseQuery } from './opacusNoise';

/** The bundled worker beside the bundle (dist/). Run from source (tests under tsx) the .ts cannot load in a worker: the search then runs inline. */
function workerFile(): string | undefined {
  const f = join(__dirname, 'opacusNoiseWorker.js');
  return existsSync(f) ? f : undefined;
}

const running = new Map<string, Promise<OpacusNoise>>();
let queue: Promise<unknown> = Promise.resolve();

/**
 * The search's answer, computed on a worker thread (one per search, ended after it, one search at a time) when one can
 * be started; on the calling thread otherwise. Concurrent requests for the same query share one search.
 */
export function opacusNoiseInBackground(query: OpacusNoiseQuery): Promise<OpacusNoise> {
  const known = knownOpacusNoise(query);
  if (known) return Promise.resolve(known);
  const key = JSON.stringify(query);
  const pending = running.get(key);
  if (pending) return pending;
  const file = workerFile();
  // One search at a time (each holds up to ~0.7 GB and a core): a workspace scan may meet many such scripts.
  const p = queue.then(() => knownOpacusNoise(query) ?? new Promise<OpacusNoise>((resolve) => {
    const inline = () => resolve(cachedOpacusNoiseMultiplier(query));
    if (!file) return inline();
    let worker: Worker;
    try {
      worker = new Worker(file);
    } catch {
      return inline();
    }
    // Whichever comes first settles it: the answer, or (a worker that cannot load or dies) the search on this thread.
    let settled = false;
    const fallBack = () => {
      if (settled) return;
      settled = true;
      inline();
    };
    worker.once('message', (r: OpacusNoise) => {
      if (settled) return;
      settled = true;
      rememberOpacusNoise(query, r);
      resolve(r);
      void worker.terminate();
    });
    worker.once('error', fallBack);
    worker.once('exit', fallBack);
    worker.postMessage(query);
  })).finally(() => running.delete(key));
  queue = p.catch(() => undefined);
  running.set(key, p);
  return p;
}

// Worker-thread entry (bundled as dist/opacusNoiseWorker.js): runs one of Opacus' σ searches off the language server's
// thread, which a PRV search would otherwise hold for tens of seconds. Each σ tried is reported (the editor's
// progress item), then the answer.

import { parentPort } from 'node:worker_threads';
import { opacusNoiseMultiplier, type OpacusNoise, type OpacusNoiseQuery } from './opacusNoise';

export type OpacusNoiseWorkerMessage = { kind: 'step'; sigma: number; step: number } | { kind: 'answer'; answer: OpacusNoise };

parentPort?.on('message', (query: OpacusNoiseQuery) => {
  const post = (m: OpacusNoiseWorkerMessage) => parentPort!.postMessage(m);
  post({ kind: 'answer', answer: opacusNoiseMultiplier(query, (sigma, step) => post({ kind: 'step', sigma, step })) });
});

// Worker-thread entry (bundled as dist/opacusNoiseWorker.js): runs one of Opacus' σ searches off the language server's
// thread, which a PRV search would otherwise hold for tens of seconds.

import { parentPort } from 'node:worker_threads';
import { opacusNoiseMultiplier, type OpacusNoiseQuery } from './opacusNoise';

parentPort?.on('message', (query: OpacusNoiseQuery) => {
  parentPort!.postMessage(opacusNoiseMultiplier(query));
});

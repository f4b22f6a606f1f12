// An analysis worker process: runs one config's I²F analysis at a time for the language server, off its thread and
// out of its process (a native crash in onnxruntime kills this process, not the server). Started with fork().

import { analyseConfig, ANALYSIS_FAILED_RULE } from './configFindings';
import { loadModelFile } from '../backends/modelFile';
import { opHistogram } from '../graph/support';
import type { CachedBatch } from './noiseRescale';
import type { FromWorker, ToWorker } from './jobs';
import { computeSpectrumState } from './spectrumData';
import { summariseModel } from './modelSummary';
import { attackModel } from './attack';
import { verifyEngines } from './verifyEngines';

const send = (m: FromWorker): void => {
  process.send?.(m);
};
const running = new Map<number, AbortController>();

/**
 * A test seam: I2F_TEST_CLOCK_TICK_MS > 0 replaces the solve budget's clock by one that advances that many ms each time
 * it is read, so a protocol test's budget stops a real solve after the same iterations on any machine (no wall clock).
 */
const tick = Number(process.env.I2F_TEST_CLOCK_TICK_MS);
const testClock = tick > 0 ? (() => { let t = 0; return () => (t += tick); })() : undefined;

function analyse(id: number, msg: Extract<ToWorker, { type: 'analyse' }>): Promise<void> {
  return serve(id, async (signal) => {
    const t0 = performance.now();
    const batches: CachedBatch[] = [];
    let lastProgress = 0;
    const { config, settings } = msg.job;
    const modelOps = opHistogram(await loadModelFile(config.model!)).map((h) => h.op);
    const analysis = await analyseConfig(config, {
      ...settings,
      signal,
      onProgress: (stage, fraction) => {
        const now = performance.now();
        if (now - lastProgress < 100 && fraction > 0 && fraction < 1) return; // at most ~10 messages a second
        lastProgress = now;
        send({ type: 'progress', id, stage, fraction });
      },
      // Few (iterations 1–5, then every 25% more): each one is sent, so the editor sees the band narrow.
      onBand: (band) => send({ type: 'band', id, band }),
      ...(testClock ? { clock: testClock } : {}),
      onInfluence: (k, r) => {
        batches[k] = { std: r.noise.std, noise: r.cache };
      },
    });
    if (signal.aborted) return { type: 'cancelled', id };
    const ms = performance.now() - t0;
    if (!analysis.report) {
      const failed = analysis.findings.find((f) => f.code === ANALYSIS_FAILED_RULE.code);
      return { type: 'failed', id, message: failed?.message.replace(/^The model could not be analysed: /, '') ?? 'nothing to analyse', userError: true, ms };
    }
    return { type: 'result', id, report: analysis.report, modelOps, batches, ms };
  });
}

/** Runs one request with cancellation; a thrown UserError is the user's problem (I2F002), anything else a bug of ours. */
async function serve(id: number, work: (signal: AbortSignal) => Promise<FromWorker>): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  const t0 = performance.now();
  try {
    send(await work(controller.signal));
  } catch (e) {
    if (controller.signal.aborted) {
      send({ type: 'cancelled', id });
      return;
    }
    const err = e as Error & { describe?: () => string };
    const userError = err?.name === 'UserError';
    send({ type: 'failed', id, message: userError && err.describe ? err.describe() : String(err?.stack ?? err), userError, ms: performance.now() - t0 });
  } finally {
    running.delete(id);
  }
}

process.on('message', (msg: ToWorker) => {
  const t0 = performance.now();
  if (msg.type === 'analyse') void analyse(msg.id, msg);
  else if (msg.type === 'spectrum') {
    void serve(msg.id, async (signal) => ({
      type: 'spectrum-result', id: msg.id, ms: performance.now() - t0,
      state: await computeSpectrumState(msg.request, { signal, onProgress: (stage, fraction) => send({ type: 'progress', id: msg.id, stage, fraction }) }),
    }));
  } else if (msg.type === 'attack') {
    void serve(msg.id, async (signal) => ({
      type: 'attack-result', id: msg.id, ms: performance.now() - t0,
      report: await attackModel(msg.request, { signal, onProgress: (stage, fraction) => send({ type: 'progress', id: msg.id, stage, fraction }) }),
    }));
  } else if (msg.type === 'verify') {
    void serve(msg.id, async (signal) => ({
      type: 'verify-result', id: msg.id,
      report: await verifyEngines(msg.request, { signal, onProgress: (stage, fraction) => send({ type: 'progress', id: msg.id, stage, fraction }) }),
      ms: performance.now() - t0,
    }));
  } else if (msg.type === 'summary') {
    void serve(msg.id, async () => ({ type: 'summary-result', id: msg.id, ms: performance.now() - t0, summary: await summariseModel(msg.file, { maxBytes: msg.maxBytes }) }));
  }
  else if (msg.type === 'cancel') running.get(msg.id)?.abort(new Error('cancelled'));
});
process.on('disconnect', () => process.exit(0)); // the server went away: nobody wants our results
send({ type: 'ready', pid: process.pid });

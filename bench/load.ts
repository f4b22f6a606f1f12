// Load benchmark of the language server (separate from bench/run.ts): a workspace of 200 training configs and 20
// models opened at once, and a burst of 100 edits per second for 10 seconds.
//   npm run -s build && node --import tsx bench/load.ts [--quick]
// Measures: time until every config has its I2F001; hover and code-action latency while the analyses run (p50,
// p95, max, the slowest probes with their time after the opening; the target is 200 ms); server and worker RSS
// and CPU (from /proc, sampled every 250 ms); the machine's load average before and after; during the burst, the
// queue length and the number of analyses queued per edited file (the target is one).
// Writes bench/out/load.json.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeModel } from '../server/src/backends/onnx/onnxProto';
import { tinyModel } from '../tools/fixtures/bad_fixtures';
import { startServer, stats, type Session } from '../test/protocol/lspClient';

const quick = process.argv.includes('--quick');
const CONFIGS = quick ? 40 : 200;
const MODELS = quick ? 4 : 20;
const BURST_SECONDS = quick ? 3 : 10;
const BURST_RATE = 100;
const BURST_FILES = 10;

const config = (i: number, clip: number, sigma = 1.0) =>
  `training:\n  batch_size: 2\nprivacy:\n  noise_multiplier: ${sigma}\n  max_grad_norm: ${clip.toFixed(2)}\ni2f:\n  model: ../models/m${String(i % MODELS).padStart(2, '0')}.onnx\n`;
const clipOf = (i: number) => 0.5 + Math.floor(i / MODELS) * 0.1;

function prepare(ws: string): void {
  mkdirSync(join(ws, 'load/models'), { recursive: true });
  mkdirSync(join(ws, 'load/configs'), { recursive: true });
  for (let m = 0; m < MODELS; m++) writeFileSync(join(ws, `load/models/m${String(m).padStart(2, '0')}.onnx`), encodeModel(tinyModel(100 + m)));
  for (let i = 0; i < CONFIGS; i++) writeFileSync(join(ws, `load/configs/c${String(i).padStart(3, '0')}.yaml`), config(i, clipOf(i)));
}

interface Sample { t: number; serverRss: number; workersRss: number; workers: number; cpuSeconds: number }

function procStat(pid: number): { rss: number; cpu: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return { rss, cpu: (Number(fields[11]) + Number(fields[12])) / 100 };
  } catch {
    return { rss: 0, cpu: 0 };
  }
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};

async function sampler(s: Session, out: Sample[], stop: () => boolean): Promise<void> {
  const t0 = performance.now();
  const workerCpu = new Map<number, number>();
  while (!stop()) {
    const st = await stats(s);
    const server = procStat(s.server.pid!);
    let workersRss = 0;
    for (const w of st.workers) {
      const p = procStat(w.pid);
      workersRss += p.rss;
      workerCpu.set(w.pid, p.cpu);
    }
    const cpu = server.cpu + [...workerCpu.values()].reduce((a, b) => a + b, 0);
    out.push({ t: (performance.now() - t0) / 1000, serverRss: server.rss, workersRss, workers: st.workers.length, cpuSeconds: cpu });
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(): Promise<void> {
  const s = await startServer({ prepare, settings: { maxSamples: 2, workerCount: 0, trace: { server: 'messages' } } });
  // The machine may be shared: its load before and after says how much of the latency is ours.
  const result: Record<string, unknown> = { configs: CONFIGS, models: MODELS, node: process.version, cpus: cpus().length, loadAverageBefore: loadavg().map((x) => +x.toFixed(2)) };
  try {
    // ── 200 configs opened at once ──
    const uris = Array.from({ length: CONFIGS }, (_, i) => s.open(`load/configs/c${String(i).padStart(3, '0')}.yaml`));
    const t0 = performance.now();
    let done = false;
    const samples: Sample[] = [];
    const sampling = sampler(s, samples, () => done);
    const hover: number[] = [];
    const actions: number[] = [];
    const slow: { at: number; hoverMs: number; codeActionMs: number }[] = [];
    let firstProbeAt = 0;
    const probing = (async () => {
      let k = 0;
      while (!done) {
        const uri = uris[(k++ * 37) % uris.length];
        let t = performance.now();
        if (!firstProbeAt) firstProbeAt = t - t0;
        await s.connection.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line: 3, character: 4 } });
        hover.push(performance.now() - t);
        t = performance.now();
        await s.connection.sendRequest('textDocument/codeAction', { textDocument: { uri }, range: { start: { line: 3, character: 0 }, end: { line: 3, character: 10 } }, context: { diagnostics: s.diagnostics.get(uri) ?? [] } });
        actions.push(performance.now() - t);
        slow.push({ at: +((t - t0) / 1000).toFixed(3), hoverMs: +hover.at(-1)!.toFixed(1), codeActionMs: +actions.at(-1)!.toFixed(1) });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await s.waitFor('every config analysed', () => uris.every((u) => s.diagnostics.get(u)?.some((d) => d.code === 'I2F001' || d.code === 'I2F002')), 600_000);
    const allMs = performance.now() - t0;
    done = true;
    await Promise.all([sampling, probing]);
    const st = await stats(s);
    const cpu = samples.at(-1)!.cpuSeconds - samples[0].cpuSeconds;
    result.open = {
      secondsUntilAllAnalysed: +(allMs / 1000).toFixed(2),
      jobsQueued: st.jobsQueued,
      jobsFailed: st.jobsFailed,
      workerRestarts: st.workerRestarts,
      hoverMs: { n: hover.length, p50: +pct(hover, 0.5).toFixed(1), p95: +pct(hover, 0.95).toFixed(1), max: +Math.max(...hover).toFixed(1) },
      codeActionMs: { n: actions.length, p50: +pct(actions, 0.5).toFixed(1), p95: +pct(actions, 0.95).toFixed(1), max: +Math.max(...actions).toFixed(1) },
      slowestProbes: slow.sort((a, b) => Math.max(b.hoverMs, b.codeActionMs) - Math.max(a.hoverMs, a.codeActionMs)).slice(0, 3),
      requestsUnder200Ms: Math.max(...hover, ...actions) < 200,
      maxWorkers: Math.max(...samples.map((x) => x.workers)),
      peakServerRssMB: +(Math.max(...samples.map((x) => x.serverRss)) / 2 ** 20).toFixed(1),
      peakWorkersRssMB: +(Math.max(...samples.map((x) => x.workersRss)) / 2 ** 20).toFixed(1),
      cpuCoresAverage: +(cpu / (allMs / 1000)).toFixed(2),
    };

    // ── a burst of edits ──
    const edited = uris.slice(0, BURST_FILES);
    const before = s.traces.length;
    const queuedDuring: number[] = [];
    const versions = edited.map(() => 1);
    const lastClip = edited.map(() => 0);
    const tb = performance.now();
    let sent = 0;
    while (performance.now() - tb < BURST_SECONDS * 1000) {
      const target = Math.floor(((performance.now() - tb) / 1000) * BURST_RATE);
      while (sent < target) {
        const f = sent % BURST_FILES;
        // Every edit changes the clip (structural: a new analysis key), so only debouncing keeps it to one job.
        lastClip[f] = 3 + f + (sent % 97) / 100;
        s.change(edited[f], ++versions[f], config(f, lastClip[f]));
        sent++;
      }
      if (sent % 50 === 0) queuedDuring.push(s.statuses.at(-1)?.queued ?? 0);
      await new Promise((r) => setTimeout(r, 5));
    }
    // Settled: every edited file shows the analysis of its last text (the status alone says idle between a
    // debounce timer and its job).
    const analysedClip = (u: string) => Number(/clip=([0-9.e+-]+)/.exec(s.diagnostics.get(u)?.find((x) => x.code === 'I2F001')?.message ?? '')?.[1]);
    const settledAt = await s.waitFor('the burst settled', () => (edited.every((u, f) => Math.abs(analysedClip(u) - lastClip[f]) <= 0.006 * lastClip[f]) ? performance.now() : undefined), 120_000);
    await new Promise((r) => setTimeout(r, 1_000)); // anything queued late would show now
    const queued = s.traces.slice(before).filter((t) => t.event === 'queued');
    const perFile = edited.map((u) => queued.filter((t) => t.config === fileURLToPath(u)).length);
    const finalAnalysed = edited.map((u, f) => {
      const clip = analysedClip(u);
      return Math.abs(clip - lastClip[f]) <= 0.006 * lastClip[f]; // the message rounds to 3 significant digits
    });
    result.burst = {
      edits: sent,
      seconds: BURST_SECONDS,
      files: BURST_FILES,
      analysesQueuedPerFile: perFile,
      finalTextAnalysedPerFile: finalAnalysed,
      maxQueueDuringBurst: Math.max(0, ...queuedDuring),
      secondsFromLastEditToAllFinal: +((settledAt - tb) / 1000 - BURST_SECONDS).toFixed(2),
    };
  } finally {
    await s.close();
  }
  result.loadAverageAfter = loadavg().map((x) => +x.toFixed(2));
  mkdirSync(join(__dirname, 'out'), { recursive: true });
  writeFileSync(join(__dirname, 'out/load.json'), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});

// Where the CG loop's own time goes (issue 18's bench miss; not part of `npm run bench`):
//   node --import tsx bench/loopProfile.ts [--model lenet] [--top 25] [--shared]
// Runs the bench's full analysis (bench/measure.ts: same batch, δ, spectrumK 20, productRoundoff 2⁻²⁴) with V8's
// sampling profiler on during the solves only, and prints self time by function: the ONNX session's native run
// (its own "(program)"/"(garbage collector)"/native frames) apart from the JS vector work (linalg.ts, deflation.ts,
// refine.ts), the Float64↔Float32 glue (onnxOperator.ts) and promise machinery. CPU totals from process.cpuUsage.

import { Session, type Profiler } from 'node:inspector';
import * as path from 'node:path';
import { analyzeInfluence } from '../server/src/engine/influence';
import { BENCH_MODELS } from './common';
import { benchOperator, deltaFor } from './measure';
import { cpuMs } from './timing';

function post<T>(s: Session, method: string, params: object = {}): Promise<T> {
  return new Promise((resolve, reject) => s.post(method, params, (e, r) => (e ? reject(e) : resolve(r as T))));
}

async function main() {
  const argv = process.argv.slice(2);
  const get = (k: string, d: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : d; };
  const spec = BENCH_MODELS.find((m) => m.name === get('--model', 'lenet'))!;
  const top = Number(get('--top', '25'));
  const { op } = await benchOperator(spec);
  const g = new Float64Array(op.parameterCount);
  await op.gradient(g);
  const delta = await deltaFor(spec, op.parameters, op.parameterCount, g);

  const session = new Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.setSamplingInterval', { interval: 200 });
  const cpu: Record<string, [number, number]> = {};
  let profiling = false;
  const r = await analyzeInfluence(op, {
    delta, spectrumK: 20, batchSize: 1, dataRange: 1, seed: 0, productRoundoff: 2 ** -24,
    ...(argv.includes('--shared') ? { sharedSolves: true } : {}),
    onProgress: (stage, fraction) => {
      if (fraction !== 0 && fraction !== 1) return; // stage ends only: a CPU-time read per iteration shows in the profile
      const c = cpuMs();
      (cpu[stage] ??= [c, c])[1] = c;
      if (stage === 'solve-deterministic' && !profiling) {
        profiling = true;
        void post(session, 'Profiler.start');
      }
    },
  });
  const { profile } = await post<{ profile: Profiler.Profile }>(session, 'Profiler.stop');
  session.disconnect();

  const s = r.solver.solves[0];
  console.log(`${spec.name}: deterministic solve ${s.iterations} iterations, ${s.products} products (${s.refinement?.lowProducts ?? '-'} float32, ${s.refinement?.highProducts ?? '-'} float64), ${s.seconds.toFixed(2)} s wall`);
  for (const [k, [a, b]] of Object.entries(cpu)) console.log(`  stage ${k}: ${((b - a) / 1000).toFixed(2)} s CPU`);

  // Self time per node from the samples (each sample's node gets the interval after it).
  const self = new Map<number, number>();
  const times = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (times[i + 1] ?? 0)));
  const byName = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const t = self.get(node.id) ?? 0;
    if (!t) continue;
    total += t;
    const f = node.callFrame;
    const where = f.url ? `${path.basename(f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    byName.set(key, (byName.get(key) ?? 0) + t);
  }
  console.log(`profile: ${(total / 1e6).toFixed(2)} s sampled (wall, solves only); self time:`);
  for (const [k, t] of [...byName].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${((100 * t) / total).toFixed(1).padStart(5)}%  ${(t / 1e3).toFixed(0).padStart(7)} ms  ${k}`);
  await op.dispose();
}

main().catch((e) => { console.error(e); process.exit(1); });

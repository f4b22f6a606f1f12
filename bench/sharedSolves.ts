// The analysis's solves one after another against advancing together on block products (issue 18; not part of
// `npm run bench`):   node --import tsx bench/sharedSolves.ts [--model lenet] [--repeat 1]
// Same batch, δ and options as the bench's full analysis (bench/measure.ts), with Gaussian noise (std 1e-3) so the
// noise solve and the Hutchinson trace probes run too (the bench's own analysis has only the deterministic solve).
// Prints per mode: wall and CPU of the whole analysis and of the solves, products per solve, and block calls.

import { parseDefences } from '../server/src/engine/defences';
import { analyzeInfluence } from '../server/src/engine/influence';
import { BENCH_MODELS } from './common';
import { benchOperator, deltaFor } from './measure';
import { cpuMs } from './timing';

async function main() {
  const argv = process.argv.slice(2);
  const get = (k: string, d: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : d; };
  const spec = BENCH_MODELS.find((m) => m.name === get('--model', 'lenet'))!;
  const repeat = Number(get('--repeat', '1'));
  const std = Number(get('--std', '1e-3'));
  const { op } = await benchOperator(spec);
  const g = new Float64Array(op.parameterCount);
  await op.gradient(g);
  const delta = await deltaFor(spec, op.parameters, op.parameterCount, g);
  console.log(`${spec.name}: d_x ${op.inputSize}, d_θ ${op.parameterCount}, maxBlock ${op.maxBlock ?? '-'}, gaussian std ${std}`);
  for (let rep = 0; rep < repeat; rep++) {
    for (const shared of argv.includes('--shared-only') ? [true] : [false, true]) {
      let solveCpu0 = NaN, solveWall0 = NaN;
      const c0 = cpuMs(), t0 = performance.now();
      // --single: the shared rounds on single products (gramBlock's fallback), to tell the rounds from the block kernels.
      const target = argv.includes('--single') ? new Proxy(op, { get: (o, k) => (k === 'gramVectors' ? undefined : Reflect.get(o, k, o)) }) : op;
      const r = await analyzeInfluence(target, {
        delta, defences: parseDefences([`gaussian:std=${std}`]), spectrumK: 20, batchSize: 1, dataRange: 1, seed: 0,
        productRoundoff: 2 ** -24, sharedSolves: shared,
        onProgress: (stage) => { if (stage.startsWith('solve') && Number.isNaN(solveCpu0)) { solveCpu0 = cpuMs(); solveWall0 = performance.now(); } },
      });
      const cpu = cpuMs() - c0, wall = performance.now() - t0;
      const solves = r.solver.solves.map((s) => `${s.purpose[0]} ${s.iterations}it/${s.products}p${s.refinement ? ` (${s.refinement.highProducts} f64${s.refinement.switchedToPreciseAt !== null ? `, f64 only from ${s.refinement.switchedToPreciseAt}` : ''})` : ''}${s.deflation ? (s.deflation.builtHere ? ' D*' : ' D') : ''} ${s.relativeResidual.toExponential(1)}`).join(', ');
      const sh = r.solver.shared;
      console.log(`${shared ? 'shared    ' : 'sequential'}: analysis ${(wall / 1000).toFixed(2)} s wall, ${(cpu / 1000).toFixed(2)} s CPU; solves ${((performance.now() - solveWall0) / 1000).toFixed(2)} s wall, ${((cpuMs() - solveCpu0) / 1000).toFixed(2)} s CPU; `
        + `I²F ${r.i2f.toPrecision(8)}, T ${r.noise.trace.toPrecision(6)}; ${solves}${sh ? `; ${sh.rounds} block calls, ${sh.products} products, widest ${sh.widest}` : ''}; load ${(await import('node:os')).loadavg()[0].toFixed(1)}`);
    }
  }
  await op.dispose();
}

main().catch((e) => { console.error(e); process.exit(1); });

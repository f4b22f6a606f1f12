// The large-model path (issue 10): λmax and I_lb of an ImageNet-size model (bench/out/resnet50.onnx from
// tools/fixtures/large_models.py; never committed) on CPU, with stage progress, the time per J Jᵀ v product (from
// which the undamped I²F's cost is estimated) and peak RSS.
//
//   node --import tsx bench/large.ts [bench/out/resnet50.onnx] [--threads N] [--spectrum K] [--products-only [g,JTv,JJTv]]
//
// --products-only: open, then g, Jᵀ v and J Jᵀ v: first call (session build included) and the best of 2 warm calls
// each (or only those listed: `--products-only JJTv` keeps θ-space outputs, d_θ float64s, out of a > 2 GB model's
// run); one session alive at a time above 1M parameters (onnxOperator.ts), so the peak is the largest product's.
// The last line is the JSON result (bench/run.ts reads it for the main table).
//
// Measured 2026-11-25 on the shared 2-core machine (load average 4–8), one intra-op thread, batch 1, 224×224×3:
//   ResNet-50 (25,557,032 θ, d_x 150,528): λmax + I_lb 78 s (g 2.0 s, 16 Lanczos steps 59 s, J δ 17 s incl. the J u
//     session build); warm J Jᵀ v 3.3 s → undamped I²F ≈ 55 min per 1,000 CG iterations; peak RSS 3.9 GB.
//     PyTorch (tools/fixtures/large_models.py --time, float32, 1 thread): g 2.2 s, Jᵀ v 14.8 s, J Jᵀ v 29.0 s
//     (no fused product), peak RSS 1.5 GB.
//   ResNet-18 at 224 (11,689,512 θ): λmax + I_lb 23 s (15 Lanczos steps 15.4 s), J Jᵀ v 1.5 s, peak RSS 2.1 GB.
//   analyzeInfluence with maxIterations 0 still spends a 'trace' stage (12 s on ResNet-50) on Hutchinson solves.
//
// --solve [--rank L] [--budget S] [--tolerance T] [--no-refine]: the undamped I²F itself, to a true relative residual
// of T (default 1e-6) or the float32 floor (said so): δ Gaussian (seed 4242, std 1e-3·‖g‖/√d_θ), one CG solve
// preconditioned from its first iteration by a Nyström sketch of at most L products (default the engine's 400;
// engine/nystrom.ts) and at most NYSTROM_BUDGET_SHARE of the budget at the product time it measures, mixed precision
// unless --no-refine, stopped by a wall-clock budget of S seconds (default 3600: reported not converged, with the
// residual reached). Reports time, iterations, products (sketch, λmax, J δ and residual checks included), peak RSS.

import { OnnxModel } from '../server/src/backends/onnx/onnxModel';
import { analyzeInfluence } from '../server/src/engine/influence';
import { DEFAULT_NYSTROM_RANK } from '../server/src/engine/nystrom';
import { Random } from '../server/src/engine/random';
import { norm } from '../server/src/engine/linalg';
import type { InversionOperator } from '../server/src/engine/operator';
import * as os from 'node:os';
import { numberOption, onnxArgument, seededPoint } from './common';

const rssMB = () => process.resourceUsage().maxRSS / 1024;
const nowMB = () => process.memoryUsage().rss / 2 ** 20;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const file = onnxArgument(args);
  const opt = (k: string) => numberOption(args, k);
  const threads = opt('--threads');
  const spectrumK = opt('--spectrum') ?? 0;
  const t0 = performance.now();
  const log = (msg: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1)}s rss ${nowMB().toFixed(0)} MB, peak ${rssMB().toFixed(0)} MB] ${msg}`);
  const productsOnly = args.includes('--products-only');
  const listed = args[args.indexOf('--products-only') + 1];
  const wanted = productsOnly && listed && !listed.startsWith('--') && !listed.endsWith('.onnx') ? listed.split(',') : ['g', 'JTv', 'JJTv'];
  const model = await OnnxModel.open(file);
  log(`opened ${file}: ${model.parameterCount.toLocaleString('en')} parameters, input [${model.sampleDims}]`);
  model.specialise(1);
  log('specialised for batch 1');
  // --prepack / --no-prepack: force onnxruntime's weight prepacking (default: off above 1M parameters).
  const prepacking = args.includes('--prepack') ? true : args.includes('--no-prepack') ? false : undefined;
  const session = threads || prepacking !== undefined ? { ...(threads ? { intraOpNumThreads: threads } : {}), ...(prepacking !== undefined ? { prepacking } : {}) } : undefined;
  const { x, labels, target, rand } = await seededPoint(model, 0, session);
  log(`forward done, label ${labels[0]}`);
  const op = model.operator({ batch: 1, input: x, target, loss: 'cross-entropy', session });
  let t = performance.now();
  if (productsOnly) {
    const v = new Float64Array(op.inputSize);
    rand.fillNormal(v);
    const outX = new Float64Array(op.inputSize);
    let outTheta: Float64Array | undefined;
    const theta = () => (outTheta ??= new Float64Array(op.parameterCount));
    const products: Record<string, { firstMs: number; ms: number }> = {};
    for (const [name, call] of [
      ['g', () => op.gradient(theta())],
      ['JTv', () => op.jacobianTransposeVector(v, theta())],
      ['JJTv', () => op.gramVector(v, outX)],
    ] as const) {
      if (!wanted.includes(name)) continue;
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const s = performance.now();
        await call();
        times.push(performance.now() - s);
      }
      products[name] = { firstMs: times[0], ms: Math.min(times[1], times[2]) };
      log(`${name}: first call ${times[0].toFixed(0)} ms (session build included), best warm ${products[name].ms.toFixed(0)} ms`);
    }
    await op.dispose();
    console.log(JSON.stringify({ file, mode: 'products-only', parameters: op.parameterCount, inputSize: op.inputSize, products, gramMs: products.JJTv?.ms, totalMs: performance.now() - t0, peakRssMB: rssMB(), threads: threads ?? null }));
    return;
  }
  const g = new Float64Array(op.parameterCount);
  await op.gradient(g);
  log(`g: ${(performance.now() - t).toFixed(0)} ms (first call, includes the session build)`);
  if (args.includes('--solve')) {
    await solve(op, g, { rank: opt('--rank') ?? DEFAULT_NYSTROM_RANK, budget: opt('--budget') ?? 3600, tolerance: opt('--tolerance') ?? 1e-6, refine: !args.includes('--no-refine'), log, file, threads, t0 });
    return;
  }
  let gn = 0;
  for (const v of g) gn += v * v;
  const std = (1e-3 * Math.sqrt(gn)) / Math.sqrt(op.parameterCount);
  let lastStage = '';
  let lastReport = 0;
  t = performance.now();
  const r = await analyzeInfluence(op, {
    defences: [{ kind: 'gaussian', std }],
    damping: 0, seed: 0, batchSize: 1, dataRange: 1, spectrumK, maxIterations: 0, productRoundoff: 2 ** -24,
    onProgress: (stage, f) => {
      const now = performance.now();
      if (stage !== lastStage || now - lastReport > 10_000) {
        log(`  ${stage} ${(f * 100).toFixed(0)}%`);
        lastStage = stage;
        lastReport = now;
      }
    },
  });
  const analysisMs = performance.now() - t;
  log(`λmax ${r.lambdaMax.value.toPrecision(6)} (${r.lambdaMax.steps} Lanczos steps, converged ${r.lambdaMax.converged}); I_lb ${r.lowerBound.toExponential(3)} for Gaussian std ${std.toExponential(3)}; analysis ${(analysisMs / 1000).toFixed(1)} s; timing ${JSON.stringify(r.timing)}`);
  // Cost of one more J Jᵀ v (sessions warm): the undamped I²F needs one per CG iteration.
  const times = await gramTimes(op, rand);
  const per = times[2];
  log(`J Jᵀ v: median ${per.toFixed(0)} ms over 3 warm calls → undamped I²F estimate: 1,000 CG iterations ${per.toFixed(0)} s, 10,000 ${(per * 10).toFixed(0)} s`);
  await op.dispose();
  console.log(JSON.stringify({
    file, mode: 'lambda', parameters: op.parameterCount, inputSize: op.inputSize, lambdaMax: r.lambdaMax.value, lambdaSteps: r.lambdaMax.steps, lowerBound: r.lowerBound, std,
    analysisMs, lambdaMaxAndLowerBoundMs: (r.timing['lambda-max'] ?? 0) + (r.timing.jacobian ?? 0) + (r.timing.gradient ?? 0), timing: r.timing,
    gramMs: per, gramFirstMs: times[0], totalMs: performance.now() - t0, peakRssMB: rssMB(), threads: threads ?? null,
  }));
}

/** The undamped I²F solve (--solve): see the header. The last stdout line is the JSON result (mode 'solve'). */
async function solve(
  op: InversionOperator,
  g: Float64Array,
  o: { rank: number; budget: number; tolerance: number; refine: boolean; log: (m: string) => void; file: string; threads?: number; t0: number },
): Promise<void> {
  const m = op.parameterCount;
  const std = (1e-3 * norm(g)) / Math.sqrt(m);
  const delta = new Random(4242).fillNormal(new Float64Array(m));
  for (let i = 0; i < m; i++) delta[i] *= std;
  let grams = 0, precise = 0;
  // The operator with its J Jᵀ v products counted (every call delegates to op itself).
  const p64 = op.precise;
  const counted: InversionOperator = {
    inputSize: op.inputSize, parameterCount: op.parameterCount, parameters: op.parameters,
    setInput: (x) => op.setInput(x),
    gradient: (out) => op.gradient(out),
    jacobianVector: (u, out) => op.jacobianVector(u, out),
    jacobianTransposeVector: (v, out) => op.jacobianTransposeVector(v, out),
    gramVector: (v, out) => { grams++; return op.gramVector(v, out); },
    ...(op.gramVectors ? { gramVectors: (vs: readonly Float64Array[], outs: readonly Float64Array[]) => { grams += vs.length; return op.gramVectors!(vs, outs); }, maxBlock: op.maxBlock } : {}),
    ...(p64 ? { precise: { roundoff: p64.roundoff, jacobianVector: (u: Float64Array, out: Float64Array) => p64.jacobianVector(u, out), gramVector: (v: Float64Array, out: Float64Array) => { precise++; return p64.gramVector(v, out); } } } : {}),
    exampleGradients: () => op.exampleGradients(),
    dispose: () => op.dispose(),
  };
  let lastStage = '', lastReport = 0;
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  const r = await analyzeInfluence(counted, {
    delta, damping: 0, seed: 0, batchSize: 1, dataRange: 1, productRoundoff: 2 ** -24, tolerance: o.tolerance,
    preconditioner: 'nystrom', nystromRank: o.rank, nystromAfter: 0, solveBudgetSeconds: o.budget, refine: o.refine,
    onProgress: (stage, f) => {
      const now = performance.now();
      if (stage !== lastStage || now - lastReport > 30_000) {
        o.log(`  ${stage} ${(f * 100).toFixed(0)}% (${grams} float32 + ${precise} float64 J Jᵀ v so far)`);
        lastStage = stage;
        lastReport = now;
      }
    },
  });
  const seconds = (performance.now() - t) / 1000;
  const c = process.cpuUsage(cpu0);
  const s = r.solver.solves[0];
  // Not converged, r.i2f is the band's conservative (lower) end, 0 when the preconditioned iterates bound nothing.
  const shown = s.converged ? r.i2f.toExponential(4) : `not converged${r.band ? ` (band ${r.band.i2f.map((x) => x.toExponential(2)).join('–')})` : ''}`;
  o.log(`undamped I²F ${shown}: ${s.stopReason}, true residual ${s.relativeResidual.toExponential(2)}${s.limitedByPrecision ? ' (float32 product floor)' : ''}, ${s.iterations} iterations, ${grams} float32 + ${precise} float64 J Jᵀ v in all, ${seconds.toFixed(0)} s`);
  console.log(JSON.stringify({
    file: o.file, mode: 'solve', parameters: m, inputSize: op.inputSize, i2f: r.i2f, lambdaMax: r.lambdaMax.value, lambdaSteps: r.lambdaMax.steps, lowerBound: r.lowerBound,
    solveSeconds: seconds, cpuSeconds: (c.user + c.system) / 1e6, tolerance: o.tolerance, budgetSeconds: o.budget, rank: o.rank, refine: o.refine,
    converged: s.converged, stopReason: s.stopReason, relativeResidual: s.relativeResidual, limitedByPrecision: s.limitedByPrecision,
    iterations: s.iterations, solveProducts: s.products, nystrom: s.nystrom ?? null, gramProducts: grams, preciseProducts: precise,
    timing: r.timing, totalMs: performance.now() - o.t0, peakRssMB: rssMB(), threads: o.threads ?? null, loadavg: os.loadavg(),
  }));
  await op.dispose();
}

/** [first call, then 3 warm calls sorted]: the first may build the session (large models keep one at a time). */
async function gramTimes(op: { inputSize: number; gramVector(v: Float64Array, o: Float64Array): Promise<void> }, rand: Random): Promise<number[]> {
  const v = new Float64Array(op.inputSize);
  rand.fillNormal(v);
  const out = new Float64Array(op.inputSize);
  const times: number[] = [];
  for (let i = 0; i < 4; i++) {
    const t = performance.now();
    await op.gramVector(v, out);
    times.push(performance.now() - t);
  }
  return [times[0], ...times.slice(1).sort((a, b) => a - b)];
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

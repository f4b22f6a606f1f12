// One model's undamped noise solve at a batch, per acceleration: iterations, the true residual, process CPU and the
// machine's load, so a solve that does not converge can be told apart (ill-conditioned, singular, or stalled at the
// float32 products' floor). The verdict sweep's LeNet batch-4 rows (bench/FINDINGS.md) rest on this solve.
//
//   node --import tsx bench/batchSolve.ts [--model examples/models/lenet.onnx] [--data examples/data/images] [--batch 4]
//        [--std 1e-4] [--preconditioner auto|deflation|nystrom|none] [--nystrom-rank L] [--max-iterations N]
//        [--spectrum K --spectrum-steps S] [--every 500] [--json]
// Reports the noise solve I(z) (Gaussian std --std; its δ is noise only, so it is the one solve such a row needs) and,
// with --spectrum, the Lanczos ends of J Jᵀ's spectrum.

import * as os from 'node:os';
import * as path from 'node:path';
import { openRun } from '../server/src/analysis/analyzeModel';
import { batchOperator } from '../server/src/analysis/batchOperator';
import { argmaxRows, oneHot } from '../server/src/analysis/inputs';
import { analyzeInfluence } from '../server/src/engine/influence';
import { cpuMs } from './timing';
import { ROOT } from './common';

async function main() {
  const argv = process.argv.slice(2);
  const get = (k: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  const model = path.resolve(ROOT, get('--model') ?? 'examples/models/lenet.onnx');
  const data = path.resolve(ROOT, get('--data') ?? 'examples/data/images');
  const batch = Number(get('--batch') ?? 4);
  const std = Number(get('--std') ?? 1e-4);
  const every = Number(get('--every') ?? 500);
  const run = await openRun({ model, data, batch, maxSamples: batch, seed: 0, defences: [] });
  const x = run.samples.data.subarray(0, batch * run.per);
  const predicted = await run.model.predict(x, batch);
  const labels = argmaxRows(predicted.logits, batch);
  const op = await batchOperator('onnx', model, run.model, { batch, input: x, target: oneHot(labels, predicted.logits.length / batch), loss: 'cross-entropy' });
  const c0 = cpuMs();
  const t0 = performance.now();
  const log: { stage: string; iteration: number; residual: number; cpuSeconds: number; wallSeconds: number; load: number }[] = [];
  let lastLogged = -Infinity;
  const r = await analyzeInfluence(op, {
    defences: [{ kind: 'gaussian', std }], damping: 0, seed: 0, batchSize: batch, dataRange: run.samples.range,
    productRoundoff: 2 ** -24, traceSamples: 1,
    ...(get('--preconditioner') ? { preconditioner: get('--preconditioner') as 'auto' | 'deflation' | 'nystrom' | 'none' } : {}),
    ...(get('--nystrom-rank') ? { nystromRank: Number(get('--nystrom-rank')) } : {}),
    ...(get('--max-iterations') ? { maxIterations: Number(get('--max-iterations')) } : {}),
    ...(get('--spectrum') ? { spectrumK: Number(get('--spectrum')), spectrumSteps: Number(get('--spectrum-steps') ?? 300) } : {}),
    onSolveProgress: (stage, p) => {
      if (p.iteration - lastLogged < every) return;
      lastLogged = p.iteration;
      const row = { stage, iteration: p.iteration, residual: p.relativeResidual, cpuSeconds: (cpuMs() - c0) / 1000, wallSeconds: (performance.now() - t0) / 1000, load: os.loadavg()[0] };
      log.push(row);
      if (!argv.includes('--json')) console.log(`  ${stage} it ${row.iteration} residual ${row.residual.toExponential(2)} cpu ${row.cpuSeconds.toFixed(1)} s wall ${row.wallSeconds.toFixed(1)} s load ${row.load.toFixed(1)}`);
    },
  });
  const out = {
    model: path.relative(ROOT, model), batch, std, n: op.inputSize, parameters: op.parameterCount,
    lambdaMax: r.lambdaMax.value, lambdaMaxConverged: r.lambdaMax.converged,
    cpuSeconds: (cpuMs() - c0) / 1000, wallSeconds: (performance.now() - t0) / 1000, load: os.loadavg(),
    spectrum: r.spectrum ? { steps: r.spectrum.steps, top: r.spectrum.top.slice(0, 3), bottom: r.spectrum.bottom.slice(0, 8), complete: r.spectrum.complete } : undefined,
    solves: r.solver.solves.map((s) => ({
      purpose: s.purpose, iterations: s.iterations, products: s.products, low: s.refinement?.lowProducts, high: s.refinement?.highProducts,
      residual: s.relativeResidual, converged: s.converged, stopReason: s.stopReason, limitedByPrecision: s.limitedByPrecision, seconds: s.seconds,
      ...(s.deflation ? { deflation: s.deflation } : {}), ...(s.nystrom ? { nystrom: s.nystrom } : {}),
    })),
    i2fExpected: r.i2fExpected, risk: r.risk, validity: { deltaRatio: r.validity.deltaRatio, gradedPsnr: r.validity.gradedPsnr, determined: r.validity.determined },
    log,
  };
  console.log(JSON.stringify(out, null, argv.includes('--json') ? 1 : undefined));
  await op.dispose?.();
}

main().catch((e) => { console.error(e); process.exit(1); });

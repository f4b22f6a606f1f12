// Where a full analysis's time goes, per stage and per solve, on a PyTorch fixture (its own x, labels and δ):
//   node --import tsx bench/solverProfile.ts [--model dlg_lenet | --onnx bench/out/resnet18.onnx] [--spectrum 20] [--noise 1e-3] [--trace-samples 4]
//        [--deflation N] [--deflation-steps S] [--preconditioner nystrom|deflation|none] [--nystrom-rank L]
//        [--nystrom-after N] [--damping E] [--tolerance T] [--no-refine] [--repeat R] [--json]
// --noise adds a Gaussian defence of that std (so the analysis also solves for I(z) and the Hutchinson trace
// samples of E‖I(z)‖²); --deflation 0 turns the Ritz-vector deflation of the solves off (the before numbers);
// --no-refine solves with the float32 products alone (the path of operators without float64 products).
// Prints the stage timings of InfluenceResult.timing and, per solve, iterations, products of each precision,
// the true residual and seconds, plus process CPU seconds (the machine is shared: CPU time is the robust number).

import * as os from 'node:os';
import * as path from 'node:path';
import { OnnxModel } from '../server/src/backends/onnx/onnxModel';
import { analyzeInfluence } from '../server/src/engine/influence';
import { norm } from '../server/src/engine/linalg';
import { Random } from '../server/src/engine/random';
import { readSafetensors } from '../server/src/formats/safetensors';
import { fixtureOperator, flattenTheta } from '../test/support/fixtures';
import { cpuMs } from './timing';
import { ROOT, seededPoint } from './common';

async function main() {
  const argv = process.argv.slice(2);
  const get = (k: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  const name = get('--model') ?? 'dlg_lenet';
  const repeat = Number(get('--repeat') ?? 1);
  const noise = get('--noise') !== undefined ? Number(get('--noise')) : 0;
  const onnx = get('--onnx');
  const { ref, op, delta } = onnx ? await onnxSetup(onnx) : await fixtureSetup(name);
  const runs = [];
  try {
    for (let rep = 0; rep < repeat; rep++) {
      const load = os.loadavg()[0];
      const c0 = cpuMs();
      const t0 = performance.now();
      const r = await analyzeInfluence(op, {
        delta, seed: 1, batchSize: ref.batch, productRoundoff: 2 ** -24, damping: 0, // --damping below overrides
        spectrumK: Number(get('--spectrum') ?? 20),
        ...(argv.includes('--no-refine') ? { refine: false } : {}),
        ...(get('--tolerance') !== undefined ? { tolerance: Number(get('--tolerance')) } : {}),
        ...(noise > 0 ? { defences: [{ kind: 'gaussian' as const, std: noise }] } : {}),
        ...(get('--trace-samples') !== undefined ? { traceSamples: Number(get('--trace-samples')) } : {}),
        ...(get('--deflation') !== undefined ? { deflation: Number(get('--deflation')) } : {}),
        ...(get('--deflation-steps') !== undefined ? { deflationSteps: Number(get('--deflation-steps')) } : {}),
        ...(get('--preconditioner') !== undefined ? { preconditioner: get('--preconditioner') as 'nystrom' | 'deflation' | 'none' } : {}),
        ...(get('--nystrom-rank') !== undefined ? { nystromRank: Number(get('--nystrom-rank')) } : {}),
        ...(get('--nystrom-after') !== undefined ? { nystromAfter: Number(get('--nystrom-after')) } : {}),
        ...(get('--damping') !== undefined ? { damping: Number(get('--damping')) } : {}),
      });
      const run = {
        load, wallSeconds: (performance.now() - t0) / 1000, cpuSeconds: (cpuMs() - c0) / 1000,
        i2f: r.i2f, reference: ref.delta.i2f, offBy: Math.abs(r.i2f - ref.delta.i2f) / ref.delta.i2f,
        lambdaMaxSteps: r.lambdaMax.steps, spectrumSteps: r.spectrum?.steps, trace: r.noise.trace, traceStdError: r.noise.traceStdError,
        timingSeconds: Object.fromEntries(Object.entries(r.timing).map(([k, v]) => [k, +((v ?? 0) / 1000).toFixed(3)])),
        solves: r.solver.solves.map((s) => ({
          purpose: s.purpose, iterations: s.iterations, products: s.products, low: s.refinement?.lowProducts, high: s.refinement?.highProducts,
          residual: s.relativeResidual, converged: s.converged, seconds: +s.seconds.toFixed(3),
          ...(s.deflation ? { deflation: s.deflation } : {}),
          ...(s.nystrom ? { nystrom: s.nystrom } : {}),
        })),
      };
      runs.push(run);
      if (!argv.includes('--json')) console.log(JSON.stringify(run));
    }
  } finally {
    await op.dispose();
  }
  if (argv.includes('--json')) console.log(JSON.stringify(runs, null, 1));
}

async function fixtureSetup(name: string) {
  const dir = path.join(ROOT, 'test/fixtures/models', name);
  const { ref, op } = await fixtureOperator(dir);
  const delta = flattenTheta((await readSafetensors(path.join(dir, ref.delta.file))).tensors as never, op.parameters, op.parameterCount);
  return { ref: { batch: ref.batch, delta: { i2f: ref.delta.i2f as number } }, op, delta };
}

/**
 * A model without a PyTorch reference (e.g. bench/out/resnet18.onnx): batch 1, the inputs bench/measure.ts uses for
 * it (x ~ U(0, 1) from seed 1234, the model's own prediction as label, δ Gaussian from seed 4242 with std
 * 1e-3·‖g‖/√d_θ); `reference` is NaN (compare runs with each other).
 */
async function onnxSetup(file: string) {
  const model = await OnnxModel.open(file);
  model.specialise(1);
  const { x, target } = await seededPoint(model, 1234);
  const op = model.operator({ batch: 1, input: x, target, loss: 'cross-entropy' });
  const g = new Float64Array(op.parameterCount);
  await op.gradient(g);
  const delta = new Random(4242).fillNormal(new Float64Array(op.parameterCount));
  const std = (1e-3 * norm(g)) / Math.sqrt(op.parameterCount);
  for (let i = 0; i < delta.length; i++) delta[i] *= std;
  return { ref: { batch: 1, delta: { i2f: NaN } }, op, delta };
}

main().catch((e) => { console.error(e); process.exit(1); });

// Single J Jᵀ v products (gramVector) on the plain graph (gramRoute 'single', tangent.ts) against the block graph at
// k = 1 (gramRoute 'block', gramWeights.ts's conv weight routes), both operators alive and timed in alternating
// rounds so that a loaded machine's drift hits both alike (issue 18; onnxOperator.ts GramRoute and
// BLOCK_SINGLE_MIN_WORK are set from these ratios, bench/FINDINGS.md "Single products through the block graph").
//
//   node --import tsx bench/singleRoute.ts MODEL.onnx [ROUNDS=10] [CALLS_PER_ROUND=50]
//
// Batch 1, x seeded uniform in [0, 1), label = the model's own prediction, v seeded normal. Prints the median over
// rounds of process CPU ms per product for each graph, their ratio, the 'auto' route's choice and the relative
// difference of the two products; the last stdout line is the JSON result.

import { OnnxModel } from '../server/src/backends/onnx/onnxModel';
import { relativeError } from '../test/support/fixtures';
import { cpuMs, median } from './timing';
import { seededPoint } from './common';

async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: bench/singleRoute.ts MODEL.onnx [ROUNDS] [CALLS_PER_ROUND]');
  const rounds = Number(process.argv[3] ?? 10);
  const per = Number(process.argv[4] ?? 50);
  const model = await OnnxModel.open(file);
  model.specialise(1);
  const { x, target, rand } = await seededPoint(model, 0);
  const make = (gramRoute: 'single' | 'block' | 'auto') => model.operator({ batch: 1, input: x, target, loss: 'cross-entropy', gramRoute });
  const ops = { single: make('single'), block: make('block') };
  const v = new Float64Array(model.sampleSize);
  rand.fillNormal(v);
  const outs = { single: new Float64Array(v.length), block: new Float64Array(v.length) };
  const cpu: Record<'single' | 'block', number[]> = { single: [], block: [] };
  // Warm-up: session builds and the first, slower runs.
  for (const k of ['single', 'block'] as const) for (let i = 0; i < 3; i++) await ops[k].gramVector(v, outs[k]);
  for (let r = 0; r < rounds; r++) {
    for (const k of ['single', 'block'] as const) {
      const c = cpuMs();
      for (let i = 0; i < per; i++) await ops[k].gramVector(v, outs[k]);
      cpu[k].push((cpuMs() - c) / per);
    }
  }
  const auto = make('auto');
  const routableWork = auto.routableWork;
  const result = {
    file, parameters: ops.single.parameterCount, routableWork,
    singleCpuMs: median(cpu.single), blockCpuMs: median(cpu.block), ratio: median(cpu.block) / median(cpu.single),
    relativeDifference: relativeError(outs.block, outs.single),
    loadavg: (await import('node:os')).loadavg(),
  };
  console.log(`${file}: d_θ ${result.parameters}, routable conv work ${(routableWork / 1e6).toFixed(2)}M multiply-adds; CPU ms per product: plain graph ${result.singleCpuMs.toFixed(3)}, block graph at k = 1 ${result.blockCpuMs.toFixed(3)}, ratio ${result.ratio.toFixed(3)}; products differ by ${result.relativeDifference.toExponential(1)}; load ${result.loadavg.map((l) => l.toFixed(1)).join(' / ')}`);
  console.log(JSON.stringify(result));
  await Promise.all([ops.single.dispose(), ops.block.dispose(), auto.dispose()]);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

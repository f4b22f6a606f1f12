// Where the time to the first band goes (issue 18, part 3): the editor's analysis of a DP-SGD config on one model,
// run in-process (analyzeModel with the request the language server builds), with every product session's build
// and every product call timed, the analysis stages and the first provisional bands stamped on one time line.
//
//   node --import tsx bench/firstBandProfile.ts [bench/out/resnet50.onnx] [--bands 2] [--noise 1.1] [--clip 1.0]
//
// ResNet-50 only under `flock /work/wt/resnet50.lock nice …`. Stops after --bands provisional answers (the process
// exits: the solve is not waited for). The last line is the JSON time line.

import { loadavg } from 'node:os';
import { analyzeModel, type AnalyzeRequest } from '../server/src/analysis/analyzeModel';
import { CONFIG_TRACE_SAMPLES } from '../server/src/analysis/configFindings';
import { OnnxInversionOperator } from '../server/src/backends/onnx/onnxOperator';
import { OnnxModel } from '../server/src/backends/onnx/onnxModel';
import { numberOption, onnxArgument } from './common';

interface Event { ms: number; what: string; durationMs?: number }

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (k: string) => numberOption(args, k);
  const model = onnxArgument(args);
  const bands = opt('--bands') ?? 2;
  const noise = opt('--noise') ?? 1.1, clip = opt('--clip') ?? 1.0;
  const t0 = performance.now();
  const events: Event[] = [];
  const log = (what: string, durationMs?: number) => {
    const e: Event = { ms: Math.round(performance.now() - t0), what, ...(durationMs !== undefined ? { durationMs: Math.round(durationMs) } : {}) };
    events.push(e);
    console.log(`${(e.ms / 1000).toFixed(1).padStart(7)} s  ${what}${durationMs !== undefined ? ` (${(durationMs / 1000).toFixed(2)} s)` : ''}`);
  };
  // Timing wrappers on the operator's private session build and product call (plain prototype methods in JS).
  const proto = OnnxInversionOperator.prototype as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const build = proto.buildProduct;
  proto.buildProduct = async function (this: unknown, ...a: unknown[]) {
    const s = performance.now();
    try { return await build.apply(this, a); } finally { log(`session built ${String(a[0])}`, performance.now() - s); }
  };
  const run = proto.run;
  proto.run = async function (this: unknown, ...a: unknown[]) {
    const s = performance.now();
    try { return await run.apply(this, a); } finally { log(`run ${String(a[0])} ${String(a[2] ?? 'float32')}${a[4] !== undefined ? ` x${String(a[4])}` : ''}`, performance.now() - s); }
  };
  const open = OnnxModel.open.bind(OnnxModel);
  OnnxModel.open = (async (...a: Parameters<typeof OnnxModel.open>) => {
    const s = performance.now();
    try { return await open(...a); } finally { log('model opened', performance.now() - s); }
  }) as typeof OnnxModel.open;
  const predict = OnnxModel.prototype.predict;
  OnnxModel.prototype.predict = async function (this: OnnxModel, ...a: Parameters<OnnxModel['predict']>) {
    const s = performance.now();
    try { return await predict.apply(this, a); } finally { log('forward (labels)', performance.now() - s); }
  };

  const request: AnalyzeRequest = {
    model, batch: 1, defences: [`dpsgd:clip=${clip},noise=${noise}`], damping: 0, spectrumK: 0, seed: 0, loss: 'cross-entropy',
    targetPsnr: 15, maxSamples: 1, syntheticSamples: 1, maxModelBytes: 4096 * 2 ** 20, traceSamples: CONFIG_TRACE_SAMPLES,
  };
  let stage = '';
  let seen = 0;
  const load0 = loadavg();
  await analyzeModel(request, {
    onProgress: (s, f) => {
      const name = s.split(':')[0];
      if (name !== stage) { stage = name; log(`stage ${name} (${f.toFixed(2)})`); }
    },
    onBand: (b) => {
      log(`band ${b.stage} iteration ${b.iteration}: I²F ${b.band.i2f.map((x) => x.toPrecision(3)).join('–')}, risk ${b.band.risk.join('–')}${b.band.settled ? ' settled' : ''}; λmax ${b.lambdaMax.toPrecision(4)}, I_lb ${b.lowerBound.toPrecision(4)}`);
      if (++seen >= bands) {
        console.log(JSON.stringify({ model, loadAverage: [load0, loadavg()], events }));
        process.exit(0);
      }
    },
  });
  console.log(JSON.stringify({ model, loadAverage: [load0, loadavg()], events }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// Profiling experiments on the product graphs (not part of `npm run bench`):
//   node --import tsx bench/profile.ts [--models lenet,resnet8] [--products JJTv,Ju] [--repeat N] [--json]
// For each model/product: graph node counts before and after onnxruntime's optimiser, a per-op breakdown from
// onnxruntime's profiler (enableProfiling JSON trace), and session.run medians under variants of the session
// options (graphOptimizationLevel, intraOpNumThreads, executionMode, memory arena/pattern, denormals as zero,
// pre-allocated outputs in run()'s fetches) and the operator's glue (Float64Array in/out) around the same run.

import { readFile, readdir, rm, mkdir } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { OnnxModel } from '../server/src/backends/onnx/onnxModel';
import { ort, sessionOptions } from '../server/src/backends/onnx/onnxOperator';
import { encodeModel } from '../server/src/backends/onnx/onnxProto';
import { loadOnnxFile } from '../server/src/backends/onnx/load';
import type { ProductKind } from '../server/src/backends/onnx/derivatives/productGraphs';
import { argmaxRows, oneHot } from '../server/src/analysis/inputs';
import { Random } from '../server/src/engine/random';
import { BENCH_MODELS, OUT, ROOT, type ProductName } from './common';
import { timeLoop } from './timing';

const KIND: Record<ProductName, ProductKind> = { g: 'gradient', Ju: 'jacobianVector', JTv: 'jacobianTransposeVector', JJTv: 'gram' };
const OUTNAME: Record<ProductName, string> = { g: 'g', Ju: 'Ju', JTv: 'JTv', JJTv: 'JJTv' };

type Opts = InferenceSession.SessionOptions;
const VARIANTS: { name: string; opts: Opts }[] = [
  { name: 'engine default (opt all, 1 thread, seq)', opts: {} },
  { name: 'graphOptimizationLevel disabled', opts: { graphOptimizationLevel: 'disabled' } },
  { name: 'graphOptimizationLevel basic', opts: { graphOptimizationLevel: 'basic' } },
  { name: 'graphOptimizationLevel extended', opts: { graphOptimizationLevel: 'extended' } },
  { name: 'intraOpNumThreads 2', opts: { intraOpNumThreads: 2 } },
  { name: 'executionMode parallel, interOp 2', opts: { executionMode: 'parallel', interOpNumThreads: 2 } },
  { name: 'no CPU mem arena, no mem pattern', opts: { enableCpuMemArena: false, enableMemPattern: false } },
  { name: 'denormals as zero', opts: { extra: { session: { set_denormal_as_zero: '1' } } } },
];

async function main() {
  const argv = process.argv.slice(2);
  const get = (k: string, d: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : d; };
  const models = get('--models', 'lenet,resnet8').split(',');
  const products = get('--products', 'JJTv,Ju,JTv,g').split(',') as ProductName[];
  const repeat = Number(get('--repeat', '31'));
  const budgetMs = Number(get('--budget', '4000'));
  const T = ort().Tensor;
  const report: Record<string, unknown> = { loadavgStart: os.loadavg(), cores: os.cpus().length };
  console.log(`profile: ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(2)).join(' / ')}`);
  const profDir = path.join(OUT, 'profile');
  await mkdir(profDir, { recursive: true });

  for (const name of models) {
    const spec = BENCH_MODELS.find((m) => m.name === name)!;
    const model = await OnnxModel.open(path.join(ROOT, spec.file));
    const per = model.sampleSize;
    const r = new Random(1234);
    const x = new Float32Array(per);
    for (let i = 0; i < per; i++) x[i] = r.uniform();
    const pred = await model.predict(x, 1);
    const target = oneHot(argmaxRows(pred.logits, 1), pred.logits.length);
    const op = model.operator({ batch: 1, input: x, target, loss: 'cross-entropy' });
    const n = op.inputSize, m = op.parameterCount;
    const u32 = Float32Array.from(new Random(5).fillNormal(new Float64Array(m)));
    const v32 = Float32Array.from(new Random(6).fillNormal(new Float64Array(n)));
    for (const p of products) {
      const { model: pm, layout } = op.productModel(KIND[p]);
      const bytes = encodeModel(pm);
      const feeds: Record<string, InstanceType<typeof T>> = {
        [layout.inputName]: new T('float32', x, layout.inputDims), i2f_target: new T('float32', target, layout.targetDims),
      };
      if (p === 'Ju') feeds.i2f_u = new T('float32', u32, [m]);
      if (p === 'JTv' || p === 'JJTv') feeds.i2f_v = new T('float32', v32, [n]);
      const key = `${name}/${p}`;
      const res: Record<string, unknown> = { nodes: pm.graph.nodes.length };

      // nodes after onnxruntime's optimiser
      const optFile = path.join(profDir, `${name}_${p}_optimized.onnx`);
      const s0 = await ort().InferenceSession.create(bytes, { ...sessionOptions(), optimizedModelFilePath: optFile });
      await s0.release();
      try {
        const om = await loadOnnxFile(optFile);
        const counts = new Map<string, number>();
        for (const nd of om.graph.nodes) counts.set(nd.opType, (counts.get(nd.opType) ?? 0) + 1);
        res.optimizedNodes = om.graph.nodes.length;
        res.optimizedOps = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, c]) => `${k}×${c}`).join(' ');
      } catch (e) {
        res.optimizedNodes = `unreadable: ${(e as Error).message.split('\n')[0]}`;
      }

      // variants
      const variants: Record<string, number> = {};
      for (const vnt of VARIANTS) {
        const s = await ort().InferenceSession.create(bytes, { ...sessionOptions(), ...vnt.opts });
        const t = await timeLoop(() => s.run(feeds), { repeat, budgetMs, warmup: 3 });
        variants[vnt.name] = t.median;
        if (vnt.name.startsWith('engine default')) {
          // pre-allocated output tensor in fetches
          const outName = OUTNAME[p];
          const size = p === 'Ju' || p === 'JJTv' ? n : m;
          const pre = new T('float32', new Float32Array(size), [size]);
          try {
            const fetches: InferenceSession.FetchesType = p === 'g' ? { g: pre, loss: null } : { [outName]: pre };
            const t2 = await timeLoop(() => s.run(feeds, fetches), { repeat, budgetMs, warmup: 3 });
            variants['pre-allocated output in fetches'] = t2.median;
          } catch (e) {
            variants['pre-allocated output in fetches'] = NaN;
            res.preallocError = (e as Error).message.split('\n')[0];
          }
          // the operator's glue around the same run: Float64Array in → Float32 tensor, output → Float64Array
          const in64 = p === 'Ju' ? new Random(5).fillNormal(new Float64Array(m)) : new Random(6).fillNormal(new Float64Array(n));
          const out64 = new Float64Array(size);
          const target32 = p === 'Ju' ? u32 : v32;
          const t3 = await timeLoop(async () => {
            if (p !== 'g') target32.set(in64);
            const rr = await s.run(feeds);
            out64.set(rr[outName].data as Float32Array);
          }, { repeat, budgetMs, warmup: 3 });
          variants['+ Float64 glue (as the operator)'] = t3.median;
        }
        await s.release();
      }
      res.variantsMedianMs = variants;

      // profiler trace: per-op-type share of kernel time
      const prefix = path.join(profDir, `${name}_${p}`);
      const sp = await ort().InferenceSession.create(bytes, { ...sessionOptions(), enableProfiling: true, profileFilePrefix: prefix });
      for (let i = 0; i < 15; i++) await sp.run(feeds);
      sp.endProfiling();
      await sp.release();
      const files = (await readdir(profDir)).filter((f) => f.startsWith(`${name}_${p}_`) && f.endsWith('.json'));
      const latest = files.sort().at(-1);
      if (latest) {
        const trace = JSON.parse(await readFile(path.join(profDir, latest), 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
        const byOp = new Map<string, number>();
        let kernel = 0, runs = 0, runTotal = 0;
        for (const ev of trace) {
          if (ev.cat === 'Node' && ev.name.endsWith('_kernel_time') && ev.args?.op_name) {
            byOp.set(ev.args.op_name, (byOp.get(ev.args.op_name) ?? 0) + ev.dur);
            kernel += ev.dur;
          }
          if (ev.cat === 'Session' && ev.name === 'model_run') { runs++; runTotal += ev.dur; }
        }
        res.profile = {
          runs, meanModelRunMs: runs ? runTotal / runs / 1000 : NaN, meanKernelMs: runs ? kernel / runs / 1000 : NaN,
          topOps: [...byOp.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, d]) => `${k} ${(100 * d / kernel).toFixed(1)}%`).join(', '),
        };
        for (const f of files) await rm(path.join(profDir, f));
      }
      report[key] = res;
      console.log(`${key}: ${JSON.stringify(res, null, 1)}`);
    }
    await op.dispose();
  }
  report.loadavgEnd = os.loadavg();
  if (argv.includes('--json')) console.log(JSON.stringify(report));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

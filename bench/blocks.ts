// Block products (issue 18): wall and CPU time per vector of J Jᵀ V for k vectors in one call (gramVectors) at
// k = 1, 2, 4, 8, and the ratio to k = 1, on one model in its own process (bench/run.ts runs one child per model).
//
//   node --import tsx bench/blocks.ts MODEL.onnx [--ks 1,2,4,8] [--repeat N] [--budget MS] [--profile DIR] [--arena]
//
// Batch 1, x seeded uniform in [0, 1), label = the model's own prediction (as bench/large.ts). k = 1 is the single
// product (gramVector); k > 1 the block graph. Each k: the first call (graph build + session + run) apart, then
// timed calls until `repeat` or the budget (at least 3). RSS after each k and the process peak (maxRSS: monotone,
// so a k's own peak shows as a rise). --profile DIR: onnxruntime's per-node profile of one k = 1 and one k = max
// call, summed by op type (which kernels batch), written beside the result.
// --arena: onnxruntime's CPU memory arena on for every session (the operator turns it off above 1M parameters).
// The last stdout line is the JSON result.

import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { OnnxModel } from '../server/src/backends/onnx/onnxModel';
import { LARGE_MODEL_PARAMETERS, ort, sessionOptions, type SessionSettings } from '../server/src/backends/onnx/onnxOperator';
import { encodeModel } from '../server/src/backends/onnx/onnxProto';
import { Random } from '../server/src/engine/random';
import { argmaxRows, oneHot } from '../server/src/analysis/inputs';
import { timeLoop } from './timing';

export interface BlockRow {
  k: number;
  firstCallMs: number;
  /** Median wall ms of one call (k vectors). */
  callMs: number;
  calls: number;
  /** Per vector: call median / k, and process CPU per call / k (all threads). */
  perVectorMs: number;
  perVectorCpuMs: number;
  /** RSS after this k's calls, and the process peak so far. */
  rssMB: number;
  peakRssMB: number;
}

export interface BlockProfile {
  k: number;
  /** Kernel microseconds per op type for one call, largest first. */
  byOp: { op: string; us: number; nodes: number }[];
  totalUs: number;
}

export interface BlockResult {
  file: string;
  parameters: number;
  inputSize: number;
  maxBlock: number;
  rows: BlockRow[];
  /** Per-vector wall of the largest k over k = 1 (the target: ≤ 0.5 at k = 8 on ResNet-18), and CPU. */
  ratio: number;
  cpuRatio: number;
  profiles?: BlockProfile[];
  loadavg: number[];
}

const rssMB = () => process.resourceUsage().maxRSS / 1024;
const nowMB = () => process.memoryUsage().rss / 2 ** 20;

export async function measureBlocks(file: string, o: { ks: number[]; repeat: number; budgetMs: number; profileDir?: string; session?: SessionSettings }, log: (s: string) => void = () => {}): Promise<BlockResult> {
  const model = await OnnxModel.open(file);
  model.specialise(1);
  const x = new Float32Array(model.sampleSize);
  const rand = new Random(0);
  for (let i = 0; i < x.length; i++) x[i] = rand.uniform();
  const pred = await model.predict(x, 1);
  const labels = argmaxRows(pred.logits, 1);
  const target = oneHot(labels, pred.logits.length);
  const op = model.operator({ batch: 1, input: x, target, loss: 'cross-entropy', session: o.session });
  const n = op.inputSize;
  const vs = Array.from({ length: Math.max(...o.ks) }, () => {
    const v = new Float64Array(n);
    rand.fillNormal(v);
    return v;
  });
  const outs = vs.map(() => new Float64Array(n));
  const rows: BlockRow[] = [];
  for (const k of o.ks) {
    const call = k === 1 ? () => op.gramVector(vs[0], outs[0]) : () => op.gramVectors(vs.slice(0, k), outs.slice(0, k));
    let t = performance.now();
    await call();
    const firstCallMs = performance.now() - t;
    const r = await timeLoop(call, { repeat: o.repeat, budgetMs: o.budgetMs, warmup: 0 });
    const row: BlockRow = { k, firstCallMs, callMs: r.median, calls: r.count, perVectorMs: r.median / k, perVectorCpuMs: r.cpuPerCall / k, rssMB: nowMB(), peakRssMB: rssMB() };
    rows.push(row);
    log(`k = ${k}: first call ${(firstCallMs / 1000).toFixed(2)} s, ${r.count} calls, ${row.callMs.toFixed(1)} ms per call, ${row.perVectorMs.toFixed(1)} ms wall and ${row.perVectorCpuMs.toFixed(1)} ms CPU per vector, RSS ${row.rssMB.toFixed(0)} MB (peak ${row.peakRssMB.toFixed(0)} MB)`);
  }
  let profiles: BlockProfile[] | undefined;
  if (o.profileDir) {
    await op.dispose();
    const kMax = Math.max(...o.ks);
    profiles = [];
    for (const k of [1, kMax]) {
      profiles.push(await profileGram(model, op.layout.inputName, x, target, vs.slice(0, k), o.profileDir));
      log(`profiled k = ${k}`);
    }
  }
  const first = rows[0];
  const last = rows[rows.length - 1];
  const result: BlockResult = {
    file, parameters: op.parameterCount, inputSize: n, maxBlock: op.maxBlock, rows,
    ratio: last.perVectorMs / first.perVectorMs, cpuRatio: last.perVectorCpuMs / first.perVectorCpuMs, profiles,
    loadavg: (await import('node:os')).loadavg(),
  };
  await op.dispose();
  return result;
}

/** One J Jᵀ V run (k = 1: the single graph) with onnxruntime's profiler on; kernel time summed by op type. */
async function profileGram(model: OnnxModel, inputName: string, x: Float32Array, target: Float32Array, vs: Float64Array[], dir: string): Promise<BlockProfile> {
  const k = vs.length;
  const op = model.operator({ batch: 1, input: x, target, loss: 'cross-entropy' });
  const { model: graph, layout } = op.productModel('gram', 1, 'float32', k === 1 ? undefined : k);
  await op.dispose();
  mkdirSync(dir, { recursive: true });
  const prefix = path.join(dir, `gram_k${k}`);
  const T = ort().Tensor;
  // The operator's session options (large models: memory pattern and prepacking off, the arena only for blocks).
  const large = layout.parameterCount >= LARGE_MODEL_PARAMETERS;
  const profiled = await ort().InferenceSession.create(encodeModel(graph), {
    ...sessionOptions({ memoryArena: !large || k > 1, memoryPattern: !large, prepacking: !large }), enableProfiling: true, profileFilePrefix: prefix,
  });
  const flat = new Float32Array(k * layout.inputSize);
  vs.forEach((v, i) => flat.set(v, i * layout.inputSize));
  const feeds = { [inputName]: new T('float32', x, layout.inputDims), i2f_target: new T('float32', target, layout.targetDims), [k === 1 ? 'i2f_v' : 'i2f_V']: new T('float32', flat, k === 1 ? [layout.inputSize] : [k, layout.inputSize]) };
  await profiled.run(feeds);
  await profiled.run(feeds);
  profiled.endProfiling();
  await profiled.release();
  const file = findProfile(dir, prefix);
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  // Two runs were profiled: the second (warm) is half of the node events; sum all and halve.
  const byOp = new Map<string, { us: number; nodes: number }>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const opType = e.args?.op_name ?? '?';
    const entry = byOp.get(opType) ?? { us: 0, nodes: 0 };
    entry.us += e.dur / 2;
    entry.nodes += 0.5;
    byOp.set(opType, entry);
  }
  if (!process.env.I2F_KEEP_PROFILE) rmSync(file, { force: true });
  const rows = [...byOp].map(([op, v]) => ({ op, us: v.us, nodes: v.nodes })).sort((a, b) => b.us - a.us);
  return { k, byOp: rows, totalUs: rows.reduce((s, r) => s + r.us, 0) };
}

function findProfile(dir: string, prefix: string): string {
  const base = path.basename(prefix);
  const hit = require('node:fs').readdirSync(dir).filter((f: string) => f.startsWith(base) && f.endsWith('.json')).sort().pop();
  if (!hit) throw new Error(`no onnxruntime profile under ${dir}`);
  return path.join(dir, hit);
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const file = args.find((a) => a.endsWith('.onnx'));
  if (!file) throw new Error('usage: bench/blocks.ts MODEL.onnx [--ks 1,2,4,8] [--repeat N] [--budget MS] [--profile DIR]');
  const opt = (key: string): string | undefined => {
    const i = args.indexOf(key);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const ks = (opt('--ks') ?? '1,2,4,8').split(',').map(Number);
  const t0 = performance.now();
  const log = (s: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(1)}s] ${s}`);
  const r = await measureBlocks(file, { ks, repeat: Number(opt('--repeat') ?? 9), budgetMs: Number(opt('--budget') ?? 8000), profileDir: opt('--profile'), session: args.includes('--arena') ? { memoryArena: true } : undefined }, log);
  console.log(JSON.stringify(r));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

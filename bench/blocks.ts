// Block products (issue 18): wall and CPU time per vector of J Jᵀ V for k vectors in one call (gramVectors) at
// k = 1, 2, 4, 8, and the ratio to k = 1, on one model in its own process (bench/run.ts runs one child per model).
//
//   node --import tsx bench/blocks.ts MODEL.onnx [--ks 1,2,4,8] [--repeat N] [--budget MS] [--profile DIR] [--arena]
//                                    [--modes off,gemm,cost] [--no-single]
//
// Batch 1, x seeded uniform in [0, 1), label = the model's own prediction (as bench/large.ts). k = 1 is the single
// product (gramVector: the block graph at k = 1 unless it falls back, onnxOperator.ts GramRoute); k > 1 the block
// graph. Each k: the first call (graph build + session + run) apart, then timed calls until `repeat` or the budget
// (at least 3). First (unless --no-single) the plain single-product graph (gramRoute 'single', tangent.ts) is timed
// the same way on its own operator, released before the rows, and its outputs are what every row is checked
// against. RSS after each k and the process peak (maxRSS: monotone, so a k's own peak shows as a rise; for one k's
// clean peak run `--ks K --no-single` alone). --profile DIR: onnxruntime's per-node profile of one single-graph, one
// block k = 1 and one k = max call, summed by op type (which kernels batch), written beside the result.
// --arena: onnxruntime's CPU memory arena on for every session (the operator turns it off above 1M parameters).
// --modes: for each k (k = 1 too) also the block graph built with each of these GramWeightsMode values (gramWeights.ts),
// timed on its own session, to compare the conv weight-tangent routes. Every block is checked against single
// products of the same vectors (the largest relative error is in each row).
// The last stdout line is the JSON result.

import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { OnnxModel } from '../server/src/backends/onnx/onnxModel';
import { LARGE_MODEL_PARAMETERS, ort, sessionOptions, type SessionSettings } from '../server/src/backends/onnx/onnxOperator';
import { encodeModel } from '../server/src/backends/onnx/onnxProto';
import type { GramWeightsMode } from '../server/src/backends/onnx/derivatives/gramWeights';
import { timeLoop } from './timing';
import { relativeError } from '../test/support/fixtures';
import { seededPoint } from './common';

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
  /** Largest relative error of the k outputs against the plain single graph's products of the same vectors (--no-single: the routed gramVector's). */
  maxRelativeError: number;
}

export interface BlockProfile {
  k: number;
  /** false: the single product's graph (k = 1). */
  block: boolean;
  /** Kernel microseconds per op type for one call, largest first, with the op's FLOPs (Conv, ConvTranspose, MatMul, Gemm). */
  byOp: { op: string; us: number; nodes: number; gflop: number }[];
  totalUs: number;
  /**
   * The same split by what a node depends on: 'primal' (x, θ and the target only: the forward and backward pass at
   * x0, shared by the k vectors), 'tangent' (reads i2f_v / i2f_V: per-vector work), 'fused' (nodes onnxruntime
   * made itself and named anew: the NCHWc reorders, Transpose + MatMul fused into FusedMatMul, which here are
   * almost all the conv weight tangents' GEMMs, gramWeights.ts).
   */
  byClass: { cls: string; us: number; nodes: number; gflop: number }[];
}

export interface BlockResult {
  file: string;
  parameters: number;
  inputSize: number;
  maxBlock: number;
  rows: BlockRow[];
  /** Per-vector wall of the largest k over k = 1 (the issue's target: ≤ 0.5 at k = 8 on ResNet-18), and CPU. */
  ratio: number;
  cpuRatio: number;
  /** The graph the single product (k = 1 row) ran on (onnxOperator.ts GramRoute). */
  singleRoute?: 'block' | 'single';
  /**
   * The plain single-product graph (gramRoute 'single': tangent.ts, no conv weight routes), timed through its own
   * operator: wall median and CPU per call, first call, and the largest k's per-vector CPU over it (against it the
   * ratio includes the block graph's own cheaper algebra, gramWeights.ts, not only sharing across vectors).
   */
  singleGraph?: { callMs: number; cpuMs: number; firstCallMs: number; cpuRatio: number; peakRssMB: number };
  /** --modes: per-vector times of the block graph built with each GramWeightsMode ('off': the tangent rules alone). */
  modes?: { k: number; mode: GramWeightsMode; perVectorMs: number; perVectorCpuMs: number; relativeError: number }[];
  profiles?: BlockProfile[];
  loadavg: number[];
}

const rssMB = () => process.resourceUsage().maxRSS / 1024;
const nowMB = () => process.memoryUsage().rss / 2 ** 20;

export async function measureBlocks(file: string, o: { ks: number[]; repeat: number; budgetMs: number; profileDir?: string; session?: SessionSettings; modes?: GramWeightsMode[]; single?: boolean }, log: (s: string) => void = () => {}): Promise<BlockResult> {
  const model = await OnnxModel.open(file);
  model.specialise(1);
  const { x, target, rand } = await seededPoint(model, 0);
  const n = model.sampleSize;
  const vs = Array.from({ length: Math.max(...o.ks) }, () => {
    const v = new Float64Array(n);
    rand.fillNormal(v);
    return v;
  });
  const outs = vs.map(() => new Float64Array(n));
  // The single products of the same vectors, to check each block's outputs against: the plain graph's (its own
  // operator, timed, released before the rows) unless --no-single.
  const singles = vs.map(() => new Float64Array(n));
  let singleGraph: Omit<NonNullable<BlockResult['singleGraph']>, 'cpuRatio'> | undefined;
  if (o.single !== false) {
    const plain = model.operator({ batch: 1, input: x, target, loss: 'cross-entropy', session: o.session, gramRoute: 'single' });
    const t = performance.now();
    await plain.gramVector(vs[0], singles[0]);
    const firstCallMs = performance.now() - t;
    for (let i = 1; i < vs.length; i++) await plain.gramVector(vs[i], singles[i]);
    const r = await timeLoop(() => plain.gramVector(vs[0], outs[0]), { repeat: o.repeat, budgetMs: o.budgetMs, warmup: 0 });
    singleGraph = { callMs: r.median, cpuMs: r.cpuPerCall, firstCallMs, peakRssMB: rssMB() };
    await plain.dispose();
    log(`single graph (gramRoute 'single'): first call ${(firstCallMs / 1000).toFixed(2)} s, ${r.count} calls, ${r.median.toFixed(1)} ms wall, ${r.cpuPerCall.toFixed(1)} ms CPU per call, peak RSS ${singleGraph.peakRssMB.toFixed(0)} MB`);
  }
  const op = model.operator({ batch: 1, input: x, target, loss: 'cross-entropy', session: o.session });
  if (o.single === false) for (let i = 0; i < vs.length; i++) await op.gramVector(vs[i], singles[i]);
  const rows: BlockRow[] = [];
  for (const k of o.ks) {
    const call = k === 1 ? () => op.gramVector(vs[0], outs[0]) : () => op.gramVectors(vs.slice(0, k), outs.slice(0, k));
    let t = performance.now();
    await call();
    const firstCallMs = performance.now() - t;
    const r = await timeLoop(call, { repeat: o.repeat, budgetMs: o.budgetMs, warmup: 0 });
    let maxRelativeError = 0;
    for (let i = 0; i < k; i++) maxRelativeError = Math.max(maxRelativeError, relativeError(outs[i], singles[i]));
    const row: BlockRow = { k, firstCallMs, callMs: r.median, calls: r.count, perVectorMs: r.median / k, perVectorCpuMs: r.cpuPerCall / k, rssMB: nowMB(), peakRssMB: rssMB(), maxRelativeError };
    rows.push(row);
    log(`k = ${k}: first call ${(firstCallMs / 1000).toFixed(2)} s, ${r.count} calls, ${row.callMs.toFixed(1)} ms per call, ${row.perVectorMs.toFixed(1)} ms wall and ${row.perVectorCpuMs.toFixed(1)} ms CPU per vector, RSS ${row.rssMB.toFixed(0)} MB (peak ${row.peakRssMB.toFixed(0)} MB), off single products by ${maxRelativeError.toExponential(1)}`);
  }
  let modes: BlockResult['modes'];
  if (o.modes) {
    // The same block graphs built each way (gramWeights.ts), one after another on their own sessions.
    modes = [];
    for (const k of o.ks) {
      for (const mode of o.modes) {
        const r = await timeBlockGraph(model, op.layout.inputName, x, target, vs.slice(0, k), singles, o, mode);
        modes.push({ k, mode, perVectorMs: r.callMs / k, perVectorCpuMs: r.cpuMs / k, relativeError: r.relativeError });
        log(`k = ${k}, gramWeights '${mode}': ${(r.callMs / k).toFixed(1)} ms wall and ${(r.cpuMs / k).toFixed(1)} ms CPU per vector, off single products by ${r.relativeError.toExponential(1)}`);
      }
    }
  }
  const singleRoute = op.gramVectorGraph;
  let profiles: BlockProfile[] | undefined;
  if (o.profileDir) {
    await op.dispose();
    const kMax = Math.max(...o.ks);
    profiles = [];
    const runs: [number, boolean][] = [[1, false], [1, true], ...(kMax > 1 ? [[kMax, true] as [number, boolean]] : [])];
    for (const [k, block] of runs) {
      profiles.push(await profileGram(model, op.layout.inputName, x, target, vs.slice(0, k), o.profileDir, block));
      const p = profiles[profiles.length - 1];
      const fmt = (r: { us: number; gflop: number }) => `${(r.us / 1000 / k).toFixed(1)} ms${r.gflop ? ` ${(r.gflop / k).toFixed(2)} GFLOP (${(r.gflop / (r.us / 1e6)).toFixed(1)} GFLOP/s)` : ''}`;
      log(`profiled k = ${k}${block ? ' (block graph)' : ' (single product)'}, per vector: ${p.byClass.map((r) => `${r.cls} ${fmt(r)}`).join('; ')}`);
      for (const r of p.byOp.slice(0, 8)) log(`  ${r.op}: ${fmt(r)} (${r.nodes} nodes)`);
    }
  }
  const first = rows[0];
  const last = rows[rows.length - 1];
  const result: BlockResult = {
    file, parameters: op.parameterCount, inputSize: n, maxBlock: op.maxBlock, rows,
    ratio: last.perVectorMs / first.perVectorMs, cpuRatio: last.perVectorCpuMs / first.perVectorCpuMs, profiles,
    singleRoute, singleGraph: singleGraph && { ...singleGraph, cpuRatio: last.perVectorCpuMs / singleGraph.cpuMs }, modes,
    loadavg: (await import('node:os')).loadavg(),
  };
  await op.dispose();
  return result;
}

/**
 * The block J Jᵀ V graph for vs.length vectors, built with one GramWeightsMode, on its own session: wall median and
 * CPU per call, and the largest relative error against the single products `singles` (--modes compares them).
 */
async function timeBlockGraph(model: OnnxModel, inputName: string, x: Float32Array, target: Float32Array, vs: Float64Array[], singles: Float64Array[], o: { repeat: number; budgetMs: number }, mode?: GramWeightsMode) {
  const k = vs.length;
  const op = model.operator({ batch: 1, input: x, target, loss: 'cross-entropy' });
  const { model: graph, layout } = op.productModel('gram', 1, 'float32', k, mode);
  await op.dispose();
  const T = ort().Tensor;
  const large = layout.parameterCount >= LARGE_MODEL_PARAMETERS;
  const session = await ort().InferenceSession.create(encodeModel(graph), sessionOptions({ memoryArena: true, memoryPattern: !large, prepacking: !large }));
  const flat = new Float32Array(k * layout.inputSize);
  vs.forEach((v, i) => flat.set(v, i * layout.inputSize));
  const feeds = { [inputName]: new T('float32', x, layout.inputDims), i2f_target: new T('float32', target, layout.targetDims), i2f_V: new T('float32', flat, [k, layout.inputSize]) };
  const first = (await session.run(feeds)).JJTV.data as Float32Array;
  let relativeErrorMax = 0;
  for (let i = 0; i < k; i++) relativeErrorMax = Math.max(relativeErrorMax, relativeError(Float64Array.from(first.subarray(i * layout.inputSize, (i + 1) * layout.inputSize)), singles[i]));
  const r = await timeLoop(() => session.run(feeds), { repeat: o.repeat, budgetMs: o.budgetMs, warmup: 0 });
  await session.release();
  return { callMs: r.median, cpuMs: r.cpuPerCall, relativeError: relativeErrorMax };
}

/** One J Jᵀ V run (k = 1: the single graph) with onnxruntime's profiler on; kernel time summed by op type. */
async function profileGram(model: OnnxModel, inputName: string, x: Float32Array, target: Float32Array, vs: Float64Array[], dir: string, block: boolean): Promise<BlockProfile> {
  const k = vs.length;
  const op = model.operator({ batch: 1, input: x, target, loss: 'cross-entropy' });
  const { model: graph, layout } = op.productModel('gram', 1, 'float32', block ? k : undefined);
  await op.dispose();
  mkdirSync(dir, { recursive: true });
  const prefix = path.join(dir, `gram_k${k}${block ? 'b' : ''}`);
  const T = ort().Tensor;
  // The operator's session options (large models: memory pattern and prepacking off, the arena only for blocks).
  const large = layout.parameterCount >= LARGE_MODEL_PARAMETERS;
  const profiled = await ort().InferenceSession.create(encodeModel(graph), {
    ...sessionOptions({ memoryArena: !large || block, memoryPattern: !large, prepacking: !large }), enableProfiling: true, profileFilePrefix: prefix,
  });
  const flat = new Float32Array(k * layout.inputSize);
  vs.forEach((v, i) => flat.set(v, i * layout.inputSize));
  const feeds = { [inputName]: new T('float32', x, layout.inputDims), i2f_target: new T('float32', target, layout.targetDims), [block ? 'i2f_V' : 'i2f_v']: new T('float32', flat, block ? [k, layout.inputSize] : [layout.inputSize]) };
  for (let i = 0; i < 3; i++) await profiled.run(feeds);
  profiled.endProfiling();
  await profiled.release();
  const file = findProfile(dir, prefix);
  const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
  if (!process.env.I2F_KEEP_PROFILE) rmSync(file, { force: true });
  // Three runs were profiled: keep each node's last (warm) one.
  const last = new Map<string, ProfileEvent>();
  for (const e of events) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) last.set(e.name, e);
  const tangent = tangentNodes(graph.graph.nodes, block ? 'i2f_V' : 'i2f_v');
  const known = new Set(graph.graph.nodes.map((n) => n.name));
  // onnxruntime's NCHWc rewrite names a node after its output value: `<value>_nchwc`.
  const producer = new Map<string, string>();
  for (const n of graph.graph.nodes) for (const o of n.outputs) if (o) producer.set(o, n.name);
  const byOp = new Map<string, { us: number; nodes: number; gflop: number }>();
  const byClass = new Map<string, { us: number; nodes: number; gflop: number }>();
  const add = (m: Map<string, { us: number; nodes: number; gflop: number }>, key: string, us: number, gflop: number) => {
    const entry = m.get(key) ?? { us: 0, nodes: 0, gflop: 0 };
    entry.us += us;
    entry.nodes += 1;
    entry.gflop += gflop;
    m.set(key, entry);
  };
  for (const [name, e] of last) {
    const opType = e.args?.op_name ?? '?';
    let node = name.slice(0, -'_kernel_time'.length);
    if (!known.has(node) && node.endsWith('_nchwc')) node = producer.get(node.slice(0, -'_nchwc'.length)) ?? node;
    const gflop = nodeFlops(opType, e) / 1e9;
    add(byOp, opType, e.dur, gflop);
    add(byClass, !known.has(node) ? 'fused' : tangent.has(node) ? 'tangent' : 'primal', e.dur, gflop);
  }
  const sorted = (m: Map<string, { us: number; nodes: number; gflop: number }>) => [...m].map(([key, v]) => ({ key, ...v })).sort((a, b) => b.us - a.us);
  const rows = sorted(byOp).map(({ key, ...v }) => ({ op: key, ...v }));
  return { k, block, byOp: rows, totalUs: rows.reduce((s, r) => s + r.us, 0), byClass: sorted(byClass).map(({ key, ...v }) => ({ cls: key, ...v })) };
}

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}

/** Names of the nodes that depend on the given graph input (transitively). */
function tangentNodes(nodes: readonly { name: string; inputs: string[]; outputs: string[] }[], input: string): Set<string> {
  const moving = new Set([input]);
  const out = new Set<string>();
  for (const n of nodes) {
    if (!n.inputs.some((v) => moving.has(v))) continue;
    out.add(n.name);
    for (const o of n.outputs) if (o) moving.add(o);
  }
  return out;
}

/** Multiply-adds × 2 of one profiled node from its shapes (the GEMM-like ops only; 0 for the rest). */
function nodeFlops(op: string, e: ProfileEvent): number {
  const shapes = (list?: Record<string, number[]>[]) => (list ?? []).map((t) => Object.values(t)[0] ?? []);
  const ins = shapes(e.args?.input_type_shape);
  const outs = shapes(e.args?.output_type_shape);
  const prod = (d: number[]) => d.reduce((p, x) => p * x, 1);
  if (!ins[0] || !outs[0]) return 0;
  switch (op) {
    case 'Conv':
    case 'FusedConv':
    case 'NhwcConv':
      // each output element: C/G · kernel multiply-adds (the weight's dims after the first)
      return 2 * prod(outs[0]) * prod(ins[1].slice(1));
    case 'ConvTranspose':
      // each input element scatters into O/G · kernel outputs
      return 2 * prod(ins[0]) * prod(ins[1].slice(1));
    case 'MatMul':
    case 'FusedMatMul': {
      // A is [.., M, K] or (FusedMatMul transA) [.., K, M]: K from its last two dims and the output's M.
      const a = ins[0];
      const m = outs[0][outs[0].length - 2] ?? 1;
      return 2 * prod(outs[0]) * (a.length >= 2 ? (a[a.length - 1] * a[a.length - 2]) / m : a[0]);
    }
    case 'Gemm':
      return 2 * prod(ins[0]) * (outs[0][1] ?? 1); // [M, K] (or Kᵀ) by K × N
    default:
      return 0;
  }
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
  const modes = opt('--modes')?.split(',') as GramWeightsMode[] | undefined;
  const r = await measureBlocks(file, { ks, repeat: Number(opt('--repeat') ?? 9), budgetMs: Number(opt('--budget') ?? 8000), profileDir: opt('--profile'), session: args.includes('--arena') ? { memoryArena: true } : undefined, modes, single: !args.includes('--no-single') }, log);
  console.log(JSON.stringify(r));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}

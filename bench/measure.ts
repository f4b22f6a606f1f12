// One model's measurements, run in its own child process by bench/run.ts so peak RSS does not mix between models:
// session build, per-product medians (through the engine's operator and as raw session.run), a full analysis with
// analyzeInfluence, CG-loop overhead and maxRSS. Also writes the batch, labels and δ it used to bench/out/inputs/
// so bench/pytorch_reference.py does exactly the same work.

import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { OnnxModel } from '../server/src/backends/onnx/onnxModel';
import { ort, sessionOptions } from '../server/src/backends/onnx/onnxOperator';
import { encodeModel } from '../server/src/backends/onnx/onnxProto';
import type { ProductKind } from '../server/src/backends/onnx/derivatives/productGraphs';
import { analyzeInfluence, DEFAULT_SOLVER } from '../server/src/engine/influence';
import { norm } from '../server/src/engine/linalg';
import { Random } from '../server/src/engine/random';
import { readNpy, writeNpy } from '../server/src/formats/npy';
import { readSafetensors, writeSafetensors } from '../server/src/formats/safetensors';
import { argmaxRows, oneHot } from '../server/src/analysis/inputs';
import type { Tensor } from '../server/src/graph/ir';
import { BENCH_MODELS, type BenchModel, ROOT, OUT, PRODUCTS, type ChildResult, type GraphStats, type ProductName, type ProductTiming, type TfjsTiming } from './common';
import { cpuMs, timeLoop } from './timing';
import { TfjsInversionOperator } from '../server/src/backends/tfjs/tfjsOperator';
import { relativeDisagreement } from '../server/src/backends/tfjs/crossCheck';
import type { InversionOperator } from '../server/src/engine/operator';

const KIND: Record<ProductName, ProductKind> = { g: 'gradient', Ju: 'jacobianVector', JTv: 'jacobianTransposeVector', JJTv: 'gram' };

export interface ChildOptions {
  repeat: number;
  budgetMs: number;
  /** Analysis mode: full (λmax + I_lb + undamped I²F + spectrum), lambda (λmax + I_lb only), none. */
  analysis: 'full' | 'lambda' | 'none';
  raw: boolean;
  /** Also time the tfjs engine's products (bench/run.ts: on for the models marked tfjs). */
  tfjs: boolean;
}

const rssMB = () => process.resourceUsage().maxRSS / 1024; // maxRSS is in kilobytes on Linux

export async function measureModel(name: string, opts: ChildOptions): Promise<ChildResult> {
  const spec = BENCH_MODELS.find((m) => m.name === name);
  if (!spec) throw new Error(`unknown model ${name}`);
  const file = path.join(ROOT, spec.file);
  const checkpoints: Record<string, number> = { start: rssMB() };

  let t = performance.now();
  const model = await OnnxModel.open(file);
  const openMs = performance.now() - t;
  t = performance.now();
  const B = 1;
  model.specialise(B);
  const specialiseMs = performance.now() - t;
  checkpoints.opened = rssMB();

  const { x, labels, xSource } = await batchFor(spec, model);
  const pred = await model.predict(x, B);
  const classes = pred.logits.length / B;
  const lab = labels ?? argmaxRows(pred.logits, B);
  const op = model.operator({ batch: B, input: x, target: oneHot(lab, classes), loss: 'cross-entropy' });
  const n = op.inputSize;
  const m = op.parameterCount;

  // --- δ: the fixture's when the model is a fixture with one, else seeded Gaussian, std 1e-3·‖g‖/√d_θ (the
  // fixtures' convention); written for the PyTorch side
  const g = new Float64Array(m);
  await op.gradient(g);
  const delta = await deltaFor(spec, op.parameters, m, g);
  await writeInputs(name, x, [B, ...model.sampleDims], lab, delta, op.parameters);

  // --- full analysis
  let analysis: ChildResult['analysis'];
  if (opts.analysis !== 'none') {
    const full = opts.analysis === 'full';
    const cpuStart: Record<string, number> = {}, cpuEnd: Record<string, number> = {};
    // A stage's CPU from its start (fraction 0) to its end (1): reading the process's CPU time on every iteration's
    // progress was itself ~1% of the LeNet solve's samples (bench/loopProfile.ts), counted as CG-loop overhead.
    const onProgress = (stage: string, fraction: number) => {
      if (fraction !== 0 && fraction !== 1) return;
      const c = cpuMs();
      cpuStart[stage] ??= c;
      cpuEnd[stage] = c;
    };
    t = performance.now();
    const r = await analyzeInfluence(op, {
      onProgress,
      delta, spectrumK: full ? 20 : 0, batchSize: B, dataRange: 1, seed: 0,
      productRoundoff: 2 ** -24, // what analyzeModel passes for the float32 ONNX backend
      ...(full ? {} : { maxIterations: 0 }),
    });
    const wallMs = performance.now() - t;
    const solve = r.solver.solves[0];
    const timing = Object.fromEntries(Object.entries(r.timing).map(([k, val]) => [k, val ?? 0]));
    analysis = {
      mode: opts.analysis, solver: r.solver.method, wallMs, timing,
      lambdaMax: r.lambdaMax.value, lambdaSteps: r.lambdaMax.steps, lambdaConverged: r.lambdaMax.converged,
      lowerBound: r.lowerBound, jDeltaNorm: r.jDeltaNorm, gradientNorm: r.gradientNorm,
      cpuTiming: Object.fromEntries(Object.keys(cpuStart).map((k) => [k, cpuEnd[k] - cpuStart[k]])),
      lambdaMaxAndLowerBoundMs: (timing.gradient ?? 0) + (timing['lambda-max'] ?? 0) + (timing.jacobian ?? 0),
      i2f: full ? r.i2f : undefined,
      iterations: full ? solve?.iterations : undefined,
      products: full ? solve?.products : undefined,
      refinement: full && solve?.refinement ? { lowProducts: solve.refinement.lowProducts, highProducts: solve.refinement.highProducts } : undefined,
      deflation: full && solve?.deflation ? {
        vectors: solve.deflation.vectors, lanczosSteps: solve.deflation.lanczosSteps, buildProducts: solve.deflation.buildProducts,
        builtHere: solve.deflation.builtHere, buildSeconds: solve.deflation.buildSeconds,
      } : undefined,
      precision: full ? solve?.precision : undefined,
      relativeResidual: full ? solve?.relativeResidual : undefined,
      converged: full ? solve?.converged : undefined,
      stopReason: full ? solve?.stopReason : undefined,
      limitedByPrecision: full ? solve?.limitedByPrecision : undefined,
      spectrumSteps: r.spectrum?.steps,
      spectrumTop: r.spectrum?.top.slice(0, 3),
      spectrumBottom: r.spectrum?.bottom.slice(0, 3),
    };
  }
  checkpoints.analysis = rssMB();

  // --- first call of each product: graph build + encode + session create + first run (the operator is lazy)
  const firstCallMs: Partial<Record<ProductName, number>> = {};
  const rnd = new Random(11);
  const u = rnd.fillNormal(new Float64Array(m));
  const v = rnd.fillNormal(new Float64Array(n));
  const gOut = new Float64Array(m), xOut = new Float64Array(n), tOut = new Float64Array(m);
  const call: Record<ProductName, () => Promise<unknown>> = {
    g: () => op.gradient(gOut),
    Ju: () => op.jacobianVector(u, xOut),
    JTv: () => op.jacobianTransposeVector(v, tOut),
    JJTv: () => op.gramVector(v, xOut),
  };
  for (const p of PRODUCTS) {
    t = performance.now();
    await call[p]();
    firstCallMs[p] = performance.now() - t;
  }

  // --- per-product medians through the operator (what the engine pays: Float64↔Float32 glue included)
  const products: Partial<Record<ProductName, ProductTiming>> = {};
  for (const p of PRODUCTS) {
    const r = await timeLoop(call[p], { repeat: opts.repeat, budgetMs: opts.budgetMs, warmup: 3 });
    products[p] = { medianMs: r.median, minMs: r.min, repeats: r.count, cpuMs: r.cpuPerCall, firstCallMs: firstCallMs[p]! };
  }

  checkpoints.products = rssMB();
  const tfjs = opts.tfjs ? await measureTfjs(model, { batch: B, input: x, target: oneHot(lab, classes) }, op, { u, v }, opts) : undefined;
  await op.dispose();

  // --- graph statistics and raw session.run on the same graphs: separates kernel time from the operator's glue
  const graphs: ChildResult['graphs'] = {};
  let graphs64: ChildResult['graphs64'];
  if (opts.raw) {
    const T = ort().Tensor;
    const x32 = Float32Array.from(x);
    const target = oneHot(lab, classes);
    // The float32 graphs of every product, then the float64 J Jᵀ v the mixed-precision solve runs for its residual
    // replacements and deflation purification (bench/overhead.ts counts each solve product at its own rate).
    const runs: { p: ProductName; floatType: 'float32' | 'float64' }[] = PRODUCTS.map((p) => ({ p, floatType: 'float32' as const }));
    const op64 = model.operator({ batch: B, input: x, target, loss: 'cross-entropy' });
    if (op64.precise) runs.push({ p: 'JJTv', floatType: 'float64' });
    await op64.dispose();
    for (const { p, floatType } of runs) {
      const op2 = model.operator({ batch: B, input: x, target, loss: 'cross-entropy' });
      t = performance.now();
      const { model: pm, layout } = op2.productModel(KIND[p], B, floatType);
      const buildMs = performance.now() - t;
      t = performance.now();
      const bytes = encodeModel(pm);
      const encodeMs = performance.now() - t;
      t = performance.now();
      const session = await ort().InferenceSession.create(bytes, sessionOptions());
      const sessionMs = performance.now() - t;
      const arr = (a: ArrayLike<number>) => (floatType === 'float64' ? Float64Array.from(a) : Float32Array.from(a));
      const feeds: Record<string, InstanceType<typeof T>> = {
        [layout.inputName]: new T(floatType, arr(x32), layout.inputDims),
        i2f_target: new T(floatType, arr(target), layout.targetDims),
      };
      if (p === 'Ju') feeds.i2f_u = new T(floatType, arr(u), [m]);
      if (p === 'JTv' || p === 'JJTv') feeds.i2f_v = new T(floatType, arr(v), [n]);
      const r = await timeLoop(() => session.run(feeds), { repeat: opts.repeat, budgetMs: opts.budgetMs, warmup: 3 });
      const ops = new Map<string, number>();
      for (const node of pm.graph.nodes) ops.set(node.opType, (ops.get(node.opType) ?? 0) + 1);
      const stats: GraphStats = {
        nodes: pm.graph.nodes.length, initializers: pm.graph.initializers.size, bytes: bytes.length,
        buildMs, encodeMs, sessionMs, rawRunMedianMs: r.median, rawRunMinMs: r.min, rawRunCpuMs: r.cpuPerCall,
        topOps: [...ops.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, c]) => `${k}×${c}`).join(' '),
      };
      if (floatType === 'float64') graphs64 = { [p]: stats };
      else graphs[p] = stats;
      await session.release();
    }
  }
  checkpoints.end = rssMB();

  return {
    name, file: spec.file, description: spec.description, xSource,
    inputSize: n, parameterCount: m, batch: B,
    openMs, specialiseMs, products: products as Record<ProductName, ProductTiming>, graphs, ...(graphs64 ? { graphs64 } : {}), analysis,
    rss: { peakMB: checkpoints.analysis, checkpointsMB: checkpoints },
    solverDefault: DEFAULT_SOLVER,
    ...(tfjs ? { tfjs } : {}),
  };
}

/**
 * The tfjs engine's g, J u, Jᵀ v and J Jᵀ v on the same batch and directions, timed like the ONNX operator's (after
 * the ONNX timing, so neither engine's warm-up overlaps the other's), and its disagreement with the ONNX products.
 */
async function measureTfjs(
  model: OnnxModel,
  batch: { batch: number; input: Float32Array; target: Float32Array },
  onnx: InversionOperator,
  dirs: { u: Float64Array; v: Float64Array },
  opts: ChildOptions,
): Promise<TfjsTiming> {
  const t0 = performance.now();
  const tj = await TfjsInversionOperator.create({ file: model.file, trainable: model.trainable, loss: 'cross-entropy', specialise: (b) => model.specialise(b), ...batch });
  const createMs = performance.now() - t0;
  const outputs = (op: InversionOperator) => ({ g: new Float64Array(op.parameterCount), Ju: new Float64Array(op.inputSize), JTv: new Float64Array(op.parameterCount), JJTv: new Float64Array(op.inputSize) });
  const calls = (op: InversionOperator, o: ReturnType<typeof outputs>): Record<ProductName, () => Promise<unknown>> => ({
    g: () => op.gradient(o.g),
    Ju: () => op.jacobianVector(dirs.u, o.Ju),
    JTv: () => op.jacobianTransposeVector(dirs.v, o.JTv),
    JJTv: () => op.gramVector(dirs.v, o.JJTv),
  });
  try {
    const ref = outputs(onnx);
    for (const p of PRODUCTS) await calls(onnx, ref)[p]();
    const out = outputs(tj);
    const call = calls(tj, out);
    const products: Partial<Record<ProductName, ProductTiming>> = {};
    for (const p of PRODUCTS) {
      const t = performance.now();
      await call[p]();
      const firstCallMs = performance.now() - t;
      // Fewer repeats than the ONNX engine's: a tfjs product is 50–500× slower (MEASURED.md); the median still needs 3.
      const r = await timeLoop(call[p], { repeat: Math.min(opts.repeat, 7), budgetMs: opts.budgetMs, warmup: 1 });
      products[p] = { medianMs: r.median, minMs: r.min, repeats: r.count, cpuMs: r.cpuPerCall, firstCallMs };
    }
    const disagreement = Object.fromEntries(PRODUCTS.map((p) => [p, relativeDisagreement(out[p], ref[p])])) as Record<ProductName, number>;
    return { backend: tj.backend, createMs, products: products as Record<ProductName, ProductTiming>, disagreement };
  } finally {
    await tj.dispose();
  }
}

/**
 * A bench model opened at batch 1 on its bench input (batchFor), labelled with its own prediction when the fixture has
 * no labels, and its operator: the setup the solver and product benches share.
 */
export async function benchOperator(spec: BenchModel): Promise<{ model: OnnxModel; x: Float32Array; target: Float32Array; op: ReturnType<OnnxModel['operator']> }> {
  const model = await OnnxModel.open(path.join(ROOT, spec.file));
  model.specialise(1);
  const { x, labels } = await batchFor(spec, model);
  const pred = await model.predict(x, 1);
  const target = oneHot(labels ?? argmaxRows(pred.logits, 1), pred.logits.length);
  return { model, x, target, op: model.operator({ batch: 1, input: x, target, loss: 'cross-entropy' }) };
}

export async function batchFor(spec: BenchModel, model: OnnxModel): Promise<{ x: Float32Array; labels?: number[]; xSource: string }> {
  const per = model.sampleSize;
  const dir = path.dirname(path.join(ROOT, spec.file));
  if (spec.fixture && existsSync(path.join(dir, 'x.npy'))) {
    const xs = await readNpy(path.join(dir, 'x.npy'));
    const ls = await readNpy(path.join(dir, 'labels.npy'));
    return { x: Float32Array.from(xs.data as Float32Array).subarray(0, per), labels: [Number((ls.data as BigInt64Array)[0])], xSource: 'fixture x.npy/labels.npy' };
  }
  if (spec.name === 'mlp') {
    const xs = await readNpy(path.join(ROOT, 'examples/data/digits.npy'));
    const ls = await readNpy(path.join(ROOT, 'examples/data/digits_labels.npy'));
    const l0 = ls.data[0];
    return { x: Float32Array.from((xs.data as Float32Array).subarray(0, per)), labels: [Number(l0)], xSource: 'examples/data/digits.npy[0]' };
  }
  const r = new Random(1234);
  const x = new Float32Array(per);
  for (let i = 0; i < per; i++) x[i] = r.uniform();
  return { x, xSource: 'seeded U(0,1), label = model prediction' };
}

export async function deltaFor(spec: BenchModel, params: readonly { name: string; offset: number; size: number }[], m: number, g: Float64Array): Promise<Float64Array> {
  const file = path.join(path.dirname(path.join(ROOT, spec.file)), 'delta.safetensors');
  const out = new Float64Array(m);
  if (spec.fixture && existsSync(file)) {
    const { tensors } = await readSafetensors(file);
    for (const p of params) {
      const tt = tensors.get(p.name);
      if (tt) out.set(Float64Array.from(tt.data as ArrayLike<number>), p.offset);
    }
    return out;
  }
  const std = (1e-3 * norm(g)) / Math.sqrt(m);
  new Random(4242).fillNormal(out);
  for (let i = 0; i < m; i++) out[i] *= std;
  return out;
}

async function writeInputs(name: string, x: Float32Array, dims: number[], labels: number[], delta: Float64Array,
  params: readonly { name: string; dims: number[]; offset: number; size: number }[]): Promise<void> {
  const dir = path.join(OUT, 'inputs', name);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'x.npy'), writeNpy({ dtype: 'float32', dims, data: x }));
  await writeFile(path.join(dir, 'labels.npy'), writeNpy({ dtype: 'int64', dims: [labels.length], data: BigInt64Array.from(labels.map(BigInt)) }));
  const tensors = new Map<string, Tensor>();
  for (const p of params) tensors.set(p.name, { dtype: 'float64', dims: p.dims, data: delta.slice(p.offset, p.offset + p.size) });
  await writeSafetensors(tensors, path.join(dir, 'delta.safetensors'));
}

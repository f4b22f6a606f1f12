// The Nyström build's own cost (engine/nystrom.ts: Ωᵀ Y, Cholesky, B = Y C⁻ᵀ, Bᵀ B, U = B T) at ResNet-50's input
// size, on an operator whose products are nearly free, and P⁻¹'s cost per CG iteration on the U it builds:
//   node --import tsx bench/nystromBuild.ts [--n 150528] [--rank 400] [--simd on|off] [--src DIR] [--applies 20] [--json]
// --simd off runs the build's JS loops (blockKernels.ts's fallback); --src DIR takes nystrom.ts from another checkout's
// server/src (e.g. /work/main/server/src before the SIMD kernels landed). Run one configuration per process: peak RSS
// is the process's.
//
// The operator: A = H D Hᵀ with one Householder reflection H = I − 2hhᵀ and D = diag(0.97^i + 1e-9), so its
// eigenvalues are known (the top ℓ of D) and a product costs ~5n flops (400 products: under a second at n = 150 528),
// leaving the build's O(n·ℓ²) algebra to be measured. Prints CPU and wall seconds of products and build, peak RSS,
// the load average, the sketch's top eigenvalues against D's, and P⁻¹ per application (SIMD block and JS loops).

import * as os from 'node:os';
import * as path from 'node:path';
import { Random } from '../server/src/engine/random';
import { vectorBlocks } from '../server/src/engine/vectorBlocks';
import { cpuMs } from './timing';

/** The JSON line of --json (read by bench/run.ts). */
export interface NystromBuildResult {
  n: number; rank: number; simd: boolean; products: number; kept: number; topEigenvalueError: number;
  buildWallSeconds: number; buildCpuSeconds: number; productCpuSeconds: number; algebraCpuSeconds: number; peakRssMB: number;
  applyMs: { engine: { cpuMs: number }; jsLoops: { cpuMs: number } }; loadavg: { before: number[]; after: number[] };
}

interface NystromModule {
  nystromPreconditioner(op: { gramVector(v: Float64Array, o: Float64Array): Promise<void> }, n: number, opts: Record<string, unknown>): Promise<{
    preconditioner: { rank: number; vectors: readonly Float64Array[]; apply(r: Float64Array, out: Float64Array): void };
    products: number; eigenvalues: Float64Array; algebraSeconds?: number;
  }>;
}

async function main() {
  const argv = process.argv.slice(2);
  const get = (k: string) => { const i = argv.indexOf(k); return i >= 0 ? argv[i + 1] : undefined; };
  const n = Number(get('--n') ?? 150_528), rank = Number(get('--rank') ?? 400), applies = Number(get('--applies') ?? 20);
  const simd = get('--simd') !== 'off';
  const src = path.resolve(get('--src') ?? path.join(__dirname, '../server/src'));
  const { nystromPreconditioner } = (await import(path.join(src, 'engine/nystrom.ts'))) as NystromModule;

  const d = Float64Array.from({ length: n }, (_, i) => 0.97 ** i + 1e-9);
  const h = new Random(11).fillNormal(new Float64Array(n));
  const hn = Math.sqrt(h.reduce((a, x) => a + x * x, 0));
  for (let i = 0; i < n; i++) h[i] /= hn;
  const reflect = (v: Float64Array, out: Float64Array) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += h[i] * v[i];
    for (let i = 0; i < n; i++) out[i] = v[i] - 2 * s * h[i];
  };
  const w = new Float64Array(n);
  let productMs = 0, productCpuMs = 0;
  const op = {
    async gramVector(v: Float64Array, out: Float64Array) {
      const t = performance.now(), c = cpuMs();
      reflect(v, w);
      for (let i = 0; i < n; i++) w[i] *= d[i];
      reflect(w, out);
      productMs += performance.now() - t;
      productCpuMs += cpuMs() - c;
    },
  };

  const load0 = os.loadavg();
  const t0 = performance.now(), c0 = cpuMs();
  const s = await nystromPreconditioner(op, n, { rank, seed: 3, simd });
  const wallSeconds = (performance.now() - t0) / 1000, cpuSeconds = (cpuMs() - c0) / 1000;
  const load1 = os.loadavg();
  const p = s.preconditioner;
  const topError = Math.max(...Array.from({ length: 10 }, (_, i) => Math.abs(s.eigenvalues[i] - d[i]) / d[i]));

  // P⁻¹ per application on the built U: as the engine runs it, and the JS loops over the same rows (no copy).
  const r = new Random(5).fillNormal(new Float64Array(n));
  const out = new Float64Array(n);
  const timeApply = (apply: () => void) => {
    apply();
    const t = performance.now(), c = cpuMs();
    for (let i = 0; i < applies; i++) apply();
    return { wallMs: (performance.now() - t) / applies, cpuMs: (cpuMs() - c) / applies };
  };
  const engineApply = timeApply(() => p.apply(r, out));
  const [jsBlock] = vectorBlocks([p.vectors as Float64Array[]], n, { simd: false });
  const c = new Float64Array(p.rank);
  const jsApply = timeApply(() => { jsBlock.dots(r, c); out.set(r); jsBlock.addCombination(c, out); });

  const result: NystromBuildResult & Record<string, unknown> = {
    n, rank, simd, src, products: s.products, kept: p.rank, topEigenvalueError: topError,
    eigenvalueSum: s.eigenvalues.reduce((a, x) => a + x, 0),
    buildWallSeconds: +wallSeconds.toFixed(2), buildCpuSeconds: +cpuSeconds.toFixed(2),
    productWallSeconds: +(productMs / 1000).toFixed(2), productCpuSeconds: +(productCpuMs / 1000).toFixed(2),
    algebraWallSeconds: +(wallSeconds - productMs / 1000).toFixed(2), algebraCpuSeconds: +(cpuSeconds - productCpuMs / 1000).toFixed(2),
    reportedAlgebraSeconds: s.algebraSeconds, peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    applyMs: { engine: engineApply, jsLoops: jsApply }, loadavg: { before: load0, after: load1 },
  };
  if (argv.includes('--json')) console.log(JSON.stringify(result));
  else console.log(result);
}

main().catch((e) => { console.error(e); process.exit(1); });

// CG-loop overhead of the deterministic solve: the part of its time that is not the products it ran, each counted
// at its own raw session.run rate. The mixed-precision solve (server/src/engine/refine.ts) runs float32 J Jᵀ v for
// its iterations and float64 J Jᵀ v for its residual replacements; a deflated one also builds its space
// (deflation.ts fromRitz: lanczosSteps + `vectors` float32 products, plus `vectors` purification products, float64
// when the solve is mixed). Counting all of them at the float32 rate made product time look like loop overhead
// (bench/FINDINGS.md: LeNet 38–42%, MLP up to 75%).

import type { ChildResult } from './common';

/** Products the deterministic solve ran, by precision; `deflation*` are the space's build (part of the solve). */
export interface SolveProductCounts {
  float32: number;
  float64: number;
  deflationFloat32: number;
  deflationFloat64: number;
}

export interface CgOverhead {
  counts?: SolveProductCounts;
  /** Old figure: every product in `products` at the raw float32 rate, the deflation build not subtracted. */
  cpuVsRawFloat32?: number;
  vsRawFloat32?: number;
  /** (solve − Σ count_k · raw_k) / solve over every product kind the solve ran, deflation build included. */
  cpuVsRaw?: number;
  vsRaw?: number;
  /** Share of the solve's CPU that the deflation build's products are at their raw rates, and its wall seconds. */
  deflationCpuShare?: number;
  deflationBuildSeconds?: number;
  vsOperator?: number;
  perProductMs?: number;
  cpuPerProductMs?: number;
}

/** The deterministic solve's products by kind, from the solve summary's refinement report and deflation field. */
export function solveProductCounts(a: NonNullable<ChildResult['analysis']>): SolveProductCounts | undefined {
  if (a.products === undefined) return undefined;
  const float64 = a.refinement?.highProducts ?? 0;
  const float32 = a.refinement ? a.refinement.lowProducts : a.products;
  const d = a.deflation?.builtHere ? a.deflation : undefined;
  const purify64 = d && a.precision === 'mixed' ? d.vectors : 0;
  return {
    float32, float64,
    deflationFloat32: d ? d.buildProducts - purify64 : 0,
    deflationFloat64: purify64,
  };
}

/** Σ count_k · raw_k in ms; undefined when a kind that ran has no raw time. */
function productTime(c: SolveProductCounts, raw32: number | undefined, raw64: number | undefined, deflation: boolean): number | undefined {
  const n32 = deflation ? c.deflationFloat32 : c.float32;
  const n64 = deflation ? c.deflationFloat64 : c.float64;
  if ((n32 > 0 && raw32 === undefined) || (n64 > 0 && raw64 === undefined)) return undefined;
  return n32 * (raw32 ?? 0) + n64 * (raw64 ?? 0);
}

export function cgOverhead(r: ChildResult): CgOverhead {
  const a = r.analysis;
  const solveMs = a?.timing['solve-deterministic'];
  if (!a || a.mode !== 'full' || !solveMs || !a.products) return {};
  const solveCpu = a.cpuTiming?.['solve-deterministic'];
  const raw32 = r.graphs.JJTv?.rawRunMedianMs, raw32Cpu = r.graphs.JJTv?.rawRunCpuMs;
  const raw64 = r.graphs64?.JJTv?.rawRunMedianMs, raw64Cpu = r.graphs64?.JJTv?.rawRunCpuMs;
  const counts = solveProductCounts(a)!;
  const share = (total: number | undefined, t32: number | undefined, t64: number | undefined) => {
    if (!total) return {};
    const loop = productTime(counts, t32, t64, false), build = productTime(counts, t32, t64, true);
    return { overhead: loop !== undefined && build !== undefined ? (total - loop - build) / total : undefined, build: build !== undefined ? build / total : undefined };
  };
  const cpu = share(solveCpu, raw32Cpu, raw64Cpu), wall = share(solveMs, raw32, raw64);
  return {
    counts,
    cpuVsRawFloat32: solveCpu && raw32Cpu !== undefined ? (solveCpu - a.products * raw32Cpu) / solveCpu : undefined,
    vsRawFloat32: raw32 !== undefined ? (solveMs - a.products * raw32) / solveMs : undefined,
    cpuVsRaw: cpu.overhead, vsRaw: wall.overhead,
    deflationCpuShare: counts.deflationFloat32 + counts.deflationFloat64 > 0 ? cpu.build : undefined,
    deflationBuildSeconds: a.deflation?.builtHere ? a.deflation.buildSeconds : undefined,
    vsOperator: (solveMs - a.products * r.products.JJTv.medianMs) / solveMs,
    perProductMs: solveMs / a.products,
    cpuPerProductMs: solveCpu ? solveCpu / a.products : undefined,
  };
}

import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { ChildResult, GraphStats } from '../../../bench/common';
import { cgOverhead, solveProductCounts } from '../../../bench/overhead';

const graph = (cpuMs: number, wallMs: number): GraphStats => ({
  nodes: 1, initializers: 0, bytes: 0, buildMs: 0, encodeMs: 0, sessionMs: 0, rawRunMedianMs: wallMs, rawRunMinMs: wallMs, rawRunCpuMs: cpuMs, topOps: '',
});

/** A hand-made LeNet-like run: 1,000 float32 + 10 float64 loop products, a 40-vector space built from the spectrum. */
function child(overrides: Partial<NonNullable<ChildResult['analysis']>> = {}, with64 = true): ChildResult {
  const timing = { 'solve-deterministic': 2000 };
  return {
    name: 'hand', file: '', description: '', xSource: '', inputSize: 4, parameterCount: 4, batch: 1, openMs: 0, specialiseMs: 0,
    products: { g: { medianMs: 1, minMs: 1, repeats: 1, cpuMs: 1, firstCallMs: 1 }, Ju: { medianMs: 1, minMs: 1, repeats: 1, cpuMs: 1, firstCallMs: 1 }, JTv: { medianMs: 1, minMs: 1, repeats: 1, cpuMs: 1, firstCallMs: 1 }, JJTv: { medianMs: 1.2, minMs: 1, repeats: 1, cpuMs: 1.1, firstCallMs: 1 } },
    graphs: { JJTv: graph(1, 1.1) },
    ...(with64 ? { graphs64: { JJTv: graph(3, 4) } } : {}),
    analysis: {
      mode: 'full', solver: 'cg', wallMs: 3000, timing, cpuTiming: { 'solve-deterministic': 1500 },
      lambdaMax: 1, lambdaSteps: 1, lambdaConverged: true, lowerBound: 0, jDeltaNorm: 0, gradientNorm: 0, lambdaMaxAndLowerBoundMs: 0,
      products: 1010, refinement: { lowProducts: 1000, highProducts: 10 }, precision: 'mixed',
      deflation: { vectors: 40, lanczosSteps: 0, buildProducts: 80, builtHere: true, buildSeconds: 0.2 },
      ...overrides,
    },
    rss: { peakMB: 0, checkpointsMB: {} }, solverDefault: 'cg',
  };
}

test('counts the solve products by precision, the deflation build apart (float64 purification when mixed)', () => {
  assert.deepEqual(solveProductCounts(child().analysis!), { float32: 1000, float64: 10, deflationFloat32: 40, deflationFloat64: 40 });
  // Fresh Lanczos for the space: its steps are float32 products too.
  assert.deepEqual(solveProductCounts(child({ deflation: { vectors: 40, lanczosSteps: 100, buildProducts: 180, builtHere: true, buildSeconds: 1 } }).analysis!),
    { float32: 1000, float64: 10, deflationFloat32: 140, deflationFloat64: 40 });
  // A reused space cost this solve nothing; float32-only solves purify with float32 products.
  assert.deepEqual(solveProductCounts(child({ deflation: { vectors: 40, lanczosSteps: 0, buildProducts: 80, builtHere: false, buildSeconds: 0 } }).analysis!),
    { float32: 1000, float64: 10, deflationFloat32: 0, deflationFloat64: 0 });
  assert.deepEqual(solveProductCounts(child({ refinement: undefined, precision: 'products' }).analysis!),
    { float32: 1010, float64: 0, deflationFloat32: 80, deflationFloat64: 0 });
});

test('overhead subtracts every product at its own raw rate; the float32-only figure stays as before', () => {
  const o = cgOverhead(child());
  // CPU: loop 1000·1 + 10·3 = 1030, build 40·1 + 40·3 = 160, solve 1500 → (1500 − 1190) / 1500
  assert.ok(Math.abs(o.cpuVsRaw! - 310 / 1500) < 1e-12);
  assert.ok(Math.abs(o.deflationCpuShare! - 160 / 1500) < 1e-12);
  // wall: 1000·1.1 + 10·4 + 40·1.1 + 40·4 = 1344 of 2000
  assert.ok(Math.abs(o.vsRaw! - 656 / 2000) < 1e-12);
  assert.ok(Math.abs(o.cpuVsRawFloat32! - (1500 - 1010) / 1500) < 1e-12);
  assert.equal(o.deflationBuildSeconds, 0.2);
});

test('no float64 raw time for a solve that ran float64 products: no overhead figure rather than a wrong one', () => {
  const o = cgOverhead(child({}, false));
  assert.equal(o.cpuVsRaw, undefined);
  assert.ok(o.cpuVsRawFloat32 !== undefined);
  // ... but a float32-only solve needs none
  const p = cgOverhead(child({ refinement: undefined, precision: 'products', deflation: undefined }, false));
  assert.ok(Math.abs(p.cpuVsRaw! - (1500 - 1010) / 1500) < 1e-12);
});

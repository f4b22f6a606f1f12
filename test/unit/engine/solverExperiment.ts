// The measurements behind the default solver choice (solve.ts): CG vs MINRES on dense J with chosen spectra.
// Run: node --import tsx test/unit/engine/solverExperiment.ts

import { conjugateGradient } from '../../../server/src/engine/cg';
import { minres } from '../../../server/src/engine/minres';
import { Random } from '../../../server/src/engine/random';
import { DenseInversionOperator, denseJacobian, exactInfluence, geometricSpectrum } from './denseOperator';

function relErr(a: Float64Array, b: Float64Array): number {
  let d = 0, s = 0;
  for (let i = 0; i < a.length; i++) { d += (a[i] - b[i]) ** 2; s += b[i] ** 2; }
  return Math.sqrt(d / s);
}

async function run(label: string, lambdas: number[], dtheta: number, float32: boolean, checkEvery = 0) {
  const dx = lambdas.length;
  const jac = denseJacobian(dx, dtheta, lambdas, 7);
  const op = new DenseInversionOperator(jac, { float32 });
  const delta = new Random(3).fillNormal(new Float64Array(dtheta));
  const b = new Float64Array(dx);
  await op.jacobianVector(delta, b);
  const truth = exactInfluence(jac, delta);
  const a = (v: Float64Array, o: Float64Array) => op.gramVector(v, o);
  for (const [name, solver] of [['cg', conjugateGradient], ['minres', minres]] as const) {
    const t0 = performance.now();
    const r = await solver(a, b, { maxIterations: 20000, productRoundoff: float32 ? 2 ** -24 : 0, operatorNorm: lambdas[0], ...(checkEvery ? { residualCheckEvery: checkEvery } : {}) });
    let zn = 0, bn = 0;
    for (const x of r.solution) zn += x * x;
    for (const x of b) bn += x * x;
    const unitFloor = (2 ** -24 * lambdas[0] * Math.sqrt(zn)) / Math.sqrt(bn);
    console.log(
      `${label.padEnd(34)} ${float32 ? 'f32' : 'f64'} chk=${checkEvery} ${name.padEnd(6)} it=${String(r.iterations).padStart(5)} prod=${String(r.products).padStart(5)} ` +
        `res=${r.relativeResidual.toExponential(2)} err=${relErr(r.solution, truth).toExponential(2)} ${r.stopReason} conv=${r.converged} res/(u‖A‖‖z‖/‖b‖)=${(r.relativeResidual / unitFloor).toFixed(2)} ${(performance.now() - t0).toFixed(0)}ms`,
    );
  }
}

async function main() {
  const dx = 300, dtheta = 600;
  const lenetLike = geometricSpectrum(dx, 16.3, 3.7e6);
  const k6 = geometricSpectrum(dx, 16, 1e6);
  const rank = 226;
  const singular = [...geometricSpectrum(rank, 16, 1.3e7), ...new Array(dx - rank).fill(0)];
  for (const f32 of [true, false]) {
    for (const chk of [0]) {
      await run('geometric κ=1e6', k6, dtheta, f32, chk);
      await run('geometric κ=3.7e6 (LeNet-like)', lenetLike, dtheta, f32, chk);
      await run('singular rank 226/300 κ=1.3e7', singular, dtheta, f32, chk);
    }
  }
}
main();

// MINRES (Paige & Saunders 1975) for (J Jᵀ + εI) z = b: monotone residual, for symmetric systems CG may not suit.

import { copy, dot, norm, zero } from './linalg';
import {
  checkAborted, dampedProduct, finishSolve, NormEstimate, resolveSolveOptions, ResidualMonitor, SolveOptions,
  SolveResult, SymmetricProduct, zeroRightHandSide,
} from './solve';

/**
 * Solves (A + εI) z = b from z = 0 for symmetric A, minimising ‖b − (A+εI)z‖ over the Krylov space at each step.
 *
 * For singular A with b = J δ in the range, the Krylov space stays in the range and MINRES from zero returns the
 * minimum-norm (pseudo-inverse) solution in exact arithmetic. Measured against CG (solverExperiment.ts): ~12% fewer
 * iterations to the same residual with float64 products, but a 5–10× larger solution error at that residual (it
 * minimises the residual, CG the energy norm of the error), and with float32 products on a singular system the
 * rounding's null-space part grows in z (error 0.8 where CG kept 2e-3). Hence CG is the default (solve.ts).
 *
 * When the recurrence reaches the tolerance but the recomputed true residual has not, MINRES restarts on the
 * correction equation (A + εI) d = r_true and accumulates z ← z + d (iterative refinement, float64 state).
 * Periodic checks only monitor (restarting every 100 iterations cost 7× more iterations, measured).
 */
export async function minres(a: SymmetricProduct, b: Float64Array, opts: SolveOptions = {}): Promise<SolveResult> {
  const { tolerance, maxIterations, damping, historyEvery, productRoundoff } = resolveSolveOptions(opts);
  const checkEvery = opts.residualCheckEvery ?? 50;
  const n = b.length;
  const bNorm = norm(b);
  if (bNorm === 0) return zeroRightHandSide('minres', n, damping);

  const z = new Float64Array(n);
  const rhs = new Float64Array(n); // right-hand side of the current cycle (b, then true residuals)
  let r1 = new Float64Array(n);
  let r2 = new Float64Array(n);
  let y = new Float64Array(n);
  const v = new Float64Array(n);
  let w = new Float64Array(n);
  let w1 = new Float64Array(n);
  let w2 = new Float64Array(n);
  copy(b, rhs);

  let iterations = 0;
  let products = 0;
  let stopReason: SolveResult['stopReason'] = 'max-iterations';
  let zTrue = NaN;
  const history: SolveResult['history'] = [{ iteration: 0, relativeResidual: 1 }];
  const monitor = new ResidualMonitor(a, damping, b, bNorm);
  const normA = new NormEstimate(opts.operatorNorm, damping);
  const eps = Number.EPSILON;

  cycles: while (iterations < maxIterations) {
    // One MINRES cycle on (A+εI) d = rhs, d accumulated straight into z.
    copy(rhs, r1);
    copy(rhs, r2);
    zero(w); zero(w1); zero(w2);
    const beta1 = norm(rhs);
    let oldb = 0, beta = beta1, dbar = 0, epsln = 0, phibar = beta1;
    let cs = -1, sn = 0;

    while (iterations < maxIterations) {
      checkAborted(opts.signal);
      if (opts.budget?.exhausted) { stopReason = 'budget'; break cycles; }
      const s = 1 / beta;
      for (let i = 0; i < n; i++) v[i] = s * r2[i];
      await dampedProduct(a, damping, v, y);
      products++;
      if (oldb !== 0) {
        const f = beta / oldb;
        for (let i = 0; i < n; i++) y[i] -= f * r1[i];
      }
      const alfa = dot(v, y);
      normA.observe(alfa, 1);
      const g = alfa / beta;
      for (let i = 0; i < n; i++) y[i] -= g * r2[i];
      // rotate r1 ← r2, r2 ← y; the old r1 storage becomes the next product's output
      const freed = r1; r1 = r2; r2 = y; y = freed;
      oldb = beta;
      beta = norm(r2);

      const oldeps = epsln;
      const delta = cs * dbar + sn * alfa;
      const gbar = sn * dbar - cs * alfa;
      epsln = sn * beta;
      dbar = -cs * beta;
      const gamma = Math.max(Math.hypot(gbar, beta), eps);
      cs = gbar / gamma;
      sn = beta / gamma;
      const phi = cs * phibar;
      phibar = sn * phibar;

      const denom = 1 / gamma;
      const freedW = w1; w1 = w2; w2 = w; w = freedW;
      for (let i = 0; i < n; i++) {
        const wi = (v[i] - oldeps * w1[i] - delta * w2[i]) * denom;
        w[i] = wi;
        z[i] += phi * wi;
      }
      iterations++;
      zTrue = NaN;

      const rel = phibar / bNorm; // recurrence estimate of ‖b − (A+εI)z‖ / ‖b‖
      if (iterations % historyEvery === 0) history.push({ iteration: iterations, relativeResidual: rel });
      opts.onProgress?.(iterations, rel);
      if (!Number.isFinite(rel) || !Number.isFinite(phi)) { stopReason = 'non-finite'; break cycles; }

      const exhausted = beta <= eps * normA.value; // invariant subspace: this cycle's answer is as good as it gets
      if (rel <= tolerance || exhausted) {
        zTrue = await monitor.check(z, iterations, rhs); // rhs ← b − (A+εI) z
        products++;
        if (zTrue <= tolerance) { stopReason = 'converged'; break cycles; }
        if (monitor.stagnated(iterations, monitor.atFloor(productRoundoff, normA.value))) { stopReason = 'stagnated'; break cycles; }
        continue cycles; // restart on the correction equation
      }
      if (checkEvery > 0 && iterations % checkEvery === 0) {
        zTrue = await monitor.check(z, iterations);
        products++;
        if (zTrue <= tolerance) { stopReason = 'converged'; break cycles; }
        if (monitor.stagnated(iterations, monitor.atFloor(productRoundoff, normA.value))) { stopReason = 'stagnated'; break cycles; }
      }
    }
  }

  return finishSolve('minres', {
    z, zTrue, iterations, products, stopReason, monitor, tolerance, productRoundoff, normA: normA.value, bNorm, damping, history,
  });
}

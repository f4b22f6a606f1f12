// Cross-checks two InversionOperators on the same model and batch (ONNX derivative graphs vs tfjs nested
// autodiff): the relative disagreement ‖a − b‖/‖b‖ of g, J u and Jᵀ v for seeded directions u, v. The adjoint
// identity holds even when both engines are wrong the same way; two independent engines agreeing does not.

import type { InversionOperator } from '../../engine/operator';
import { Random } from '../../engine/random';

export interface CrossCheckResult {
  /** Relative disagreements, ‖a − b‖ / ‖b‖ (b: the reference engine). */
  g: number;
  Ju: number;
  JTv: number;
  max: number;
  /** Milliseconds per product on each engine (after one warm-up call each). */
  timing: { engine: { g: number; Ju: number; JTv: number }; reference: { g: number; Ju: number; JTv: number } };
}

export function relativeDisagreement(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
}

async function products(op: InversionOperator, u: Float64Array, v: Float64Array, signal?: AbortSignal) {
  const g = new Float64Array(op.parameterCount);
  const Ju = new Float64Array(op.inputSize);
  const JTv = new Float64Array(op.parameterCount);
  await op.gradient(g);
  signal?.throwIfAborted();
  await op.jacobianVector(u, Ju);
  signal?.throwIfAborted();
  await op.jacobianTransposeVector(v, JTv);
  signal?.throwIfAborted();
  const time = async (f: () => Promise<unknown>) => {
    const t0 = performance.now();
    await f();
    return Math.round((performance.now() - t0) * 100) / 100;
  };
  const scratchTheta = new Float64Array(op.parameterCount);
  const scratchX = new Float64Array(op.inputSize);
  const timing = {
    g: await time(() => op.gradient(scratchTheta)),
    Ju: await time(() => op.jacobianVector(u, scratchX)),
    JTv: await time(() => op.jacobianTransposeVector(v, scratchTheta)),
  };
  return { g, Ju, JTv, timing };
}

/** Runs g, J u, Jᵀ v on both operators (same θ layout required) and reports how far `engine` is from `reference`. */
export async function crossCheck(engine: InversionOperator, reference: InversionOperator, seed = 0, signal?: AbortSignal): Promise<CrossCheckResult> {
  if (engine.parameterCount !== reference.parameterCount || engine.inputSize !== reference.inputSize) {
    throw new Error(`cross-check: the engines disagree on sizes (d_θ ${engine.parameterCount} vs ${reference.parameterCount}, d_x ${engine.inputSize} vs ${reference.inputSize})`);
  }
  engine.parameters.forEach((p, i) => {
    const q = reference.parameters[i];
    if (p.name !== q.name || p.offset !== q.offset) throw new Error(`cross-check: θ layouts differ at '${p.name}' / '${q.name}'`);
  });
  const rand = new Random(seed ^ 0x51f3);
  const u = new Float64Array(engine.parameterCount).map(() => rand.normal());
  const v = new Float64Array(engine.inputSize).map(() => rand.normal());
  const a = await products(engine, u, v, signal);
  const b = await products(reference, u, v, signal);
  const g = relativeDisagreement(a.g, b.g);
  const Ju = relativeDisagreement(a.Ju, b.Ju);
  const JTv = relativeDisagreement(a.JTv, b.JTv);
  return { g, Ju, JTv, max: Math.max(g, Ju, JTv), timing: { engine: a.timing, reference: b.timing } };
}

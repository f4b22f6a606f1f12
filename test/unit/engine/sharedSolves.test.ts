// Solves advancing together on shared block products (sharedSolves.ts) against the same solves one at a time and the
// dense truth: CG, the mixed-precision CG with deflation, and the whole analysis with its trace probes.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conjugateGradient } from '../../../server/src/engine/cg';
import { parseDefences } from '../../../server/src/engine/defences';
import { analyzeInfluence, type ProvisionalInfluence } from '../../../server/src/engine/influence';
import { deriveSeed, Random } from '../../../server/src/engine/random';
import { reliableUpdateCG } from '../../../server/src/engine/refine';
import { oneAtATime, runSharedSolves, type BlockProduct } from '../../../server/src/engine/sharedSolves';
import type { PreciseProducts } from '../../../server/src/engine/operator';
import type { SymmetricProduct } from '../../../server/src/engine/solve';
import { DenseInversionOperator, denseJacobian, exactInfluence, geometricSpectrum, type DenseOperatorOptions, type DenseJacobian } from './denseOperator';
import { assertClose, relativeError } from './helpers';

/**
 * The dense operator with a block product (each vector's J Jᵀ v, and a record of every block call's width) and,
 * like the ONNX backend (onnxOperator.ts), not reentrant: a product copies its vector into one input buffer and
 * reads it back only after yielding to the event loop (the backend's awaited session.run).
 */
class BlockDenseOperator extends DenseInversionOperator {
  readonly widths: number[] = [];
  override readonly precise?: PreciseProducts = undefined;
  private readonly input = new Float64Array(dx);
  constructor(jac: DenseJacobian, opts: DenseOperatorOptions = {}, readonly maxBlock?: number) {
    super(jac, opts);
    const exact = new DenseInversionOperator(jac, { precise: true }).precise!;
    if (opts.precise) {
      this.precise = {
        roundoff: exact.roundoff,
        jacobianVector: (u, out) => exact.jacobianVector(u, out),
        gramVector: async (v, out) => {
          this.input.set(v);
          await new Promise((resolve) => setImmediate(resolve));
          await exact.gramVector(this.input, out);
        },
      };
    }
  }
  override async gramVector(v: Float64Array, out: Float64Array): Promise<void> {
    const input = this.input;
    input.set(v);
    await new Promise((resolve) => setImmediate(resolve));
    await super.gramVector(Float64Array.from(input), out);
  }
  async gramVectors(vs: readonly Float64Array[], outs: readonly Float64Array[]): Promise<void> {
    this.widths.push(vs.length);
    for (let i = 0; i < vs.length; i++) await this.gramVector(vs[i], outs[i]);
  }
}

const dx = 60, dtheta = 120;
const jac = denseJacobian(dx, dtheta, geometricSpectrum(dx, 9, 1e5), 31);

/** k right-hand sides J δ_i, one of them an eigenvector of J Jᵀ (CG converges on it in one iteration). */
function rightHandSides(k: number): { deltas: Float64Array[]; bs: Float64Array[] } {
  const op = new DenseInversionOperator(jac);
  const deltas = Array.from({ length: k }, (_, i) => new Random(40 + i).fillNormal(new Float64Array(dtheta)));
  deltas[1] = Float64Array.from(jac.v[3]);
  const bs = deltas.map(() => new Float64Array(dx));
  deltas.forEach((d, i) => { void op.jacobianVector(d, bs[i]); });
  return { deltas, bs };
}

describe('solves sharing block products', () => {
  it('gives every CG exactly its one-at-a-time result, with one block call per round of all still running', async () => {
    const { deltas, bs } = rightHandSides(4);
    const alone = new DenseInversionOperator(jac);
    const single: SymmetricProduct = (v, o) => alone.gramVector(v, o);
    const expected = [];
    for (const b of bs) expected.push(await conjugateGradient(single, b, { tolerance: 1e-10 }));

    const op = new BlockDenseOperator(jac);
    const block: BlockProduct = (vs, outs) => op.gramVectors(vs, outs);
    const { results, stats } = await runSharedSolves(block, bs.map((b) => (product: SymmetricProduct) => conjugateGradient(product, b, { tolerance: 1e-10 })));
    for (let i = 0; i < bs.length; i++) {
      assert.deepEqual(results[i].solution, expected[i].solution, `solve ${i}: the same iterates`);
      assert.equal(results[i].iterations, expected[i].iterations);
      assert.equal(results[i].products, expected[i].products);
      assert.equal(results[i].stopReason, expected[i].stopReason);
      assert.deepEqual(results[i].history, expected[i].history);
      assert.ok(relativeError(results[i].solution, exactInfluence(jac, deltas[i])) < 1e-5, `solve ${i} against the dense pseudo-inverse`);
    }
    // The eigenvector's solve stops after a couple of products; the others go on, three to a call.
    assert.ok(expected[1].products <= 3 && expected[0].products > 50);
    const mostProducts = Math.max(...expected.map((e) => e.products));
    assert.equal(stats.rounds, mostProducts, 'a round per product of the longest solve');
    assert.equal(stats.products, expected.reduce((a, e) => a + e.products, 0));
    assert.equal(stats.widest, 4);
    assert.deepEqual(op.widths.slice(0, 2), [4, 4]);
    assert.ok(op.widths.slice(3).every((w) => w <= 3));
    assert.equal(op.widths.length, stats.rounds);
    assert.equal(op.counts.gramVector, stats.products);
  });

  it('keeps the mixed-precision CG with deflation exact to its one-at-a-time run (float32 products, float64 residuals)', async () => {
    const { bs } = rightHandSides(3);
    const opts = (): DenseOperatorOptions => ({ float32: true, precise: true });
    const alone = new DenseInversionOperator(jac, opts());
    const expected = [];
    for (const b of bs) {
      expected.push(await reliableUpdateCG((v, o) => alone.gramVector(v, o), (v, o) => alone.precise!.gramVector(v, o), b, { tolerance: 1e-9 }));
    }
    const op = new BlockDenseOperator(jac, opts());
    const exclusive = oneAtATime(); // the operator is not reentrant: rounds and float64 residual products in turn
    const { results } = await runSharedSolves((vs, outs) => exclusive(() => op.gramVectors(vs, outs)), bs.map((b) => (product: SymmetricProduct) =>
      reliableUpdateCG(product, (v, o) => exclusive(() => op.precise!.gramVector(v, o)), b, { tolerance: 1e-9 })));
    for (let i = 0; i < bs.length; i++) {
      assert.deepEqual(results[i].solution, expected[i].solution);
      assert.deepEqual(results[i].refinement, expected[i].refinement);
      assert.equal(results[i].converged, true);
    }
  });

  it('rejects every waiting solve with the block product\'s error, after all of them have stopped', async () => {
    const { bs } = rightHandSides(3);
    const op = new DenseInversionOperator(jac);
    let calls = 0;
    const failing: BlockProduct = async (vs, outs) => {
      if (++calls === 5) throw new Error('backend failed');
      for (let i = 0; i < vs.length; i++) await op.gramVector(vs[i], outs[i]);
    };
    const stopped: number[] = [];
    await assert.rejects(runSharedSolves(failing, bs.map((b, i) => async (product: SymmetricProduct) => {
      try { return await conjugateGradient(product, b, { tolerance: 1e-10 }); } finally { stopped.push(i); }
    })), /backend failed/);
    assert.deepEqual(stopped.sort(), [0, 1, 2]);
  });
});

describe('oneAtATime', () => {
  it('runs overlapping calls in call order, one after another, and a failure does not stop the next', async () => {
    const exclusive = oneAtATime();
    const log: string[] = [];
    const call = (name: string, fail = false) => exclusive(async () => {
      log.push(`${name} start`);
      await new Promise((resolve) => setImmediate(resolve));
      log.push(`${name} end`);
      if (fail) throw new Error(name);
      return name;
    });
    const results = await Promise.allSettled([call('a'), call('b', true), call('c')]);
    assert.deepEqual(log, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
  });
});

describe('analyzeInfluence with shared solves', () => {
  const gradient = new Random(8).fillNormal(new Float64Array(dtheta));
  const defences = parseDefences(['prune:ratio=0.5', 'gaussian:std=0.01']);

  it('gives the one-at-a-time I²F, expected I²F and trace, with the probes and the main solves in one call per round', async () => {
    // No deflation: one at a time, later solves use the space from their first iteration, shared ones after the trigger.
    const base = { defences, seed: 5, batchSize: 2, tolerance: 1e-9, traceSamples: 4, deflation: 0 };
    const one = await analyzeInfluence(new DenseInversionOperator(jac, { gradient }), base);
    const op = new BlockDenseOperator(jac, { gradient });
    const together = await analyzeInfluence(op, base); // default: shared, the operator has a block product
    assert.equal(one.solver.shared, undefined);
    // Five solves and λmax's Lanczos (lambdaMaxAlongside) in each early round.
    assert.deepEqual(together.solver.shared && { solves: together.solver.shared.solves, widest: together.solver.shared.widest }, { solves: 5, widest: 6 });
    assertClose(together.lambdaMax.value, one.lambdaMax.value, 1e-12, 'λmax from the shared rounds');
    assert.equal(together.lambdaMax.steps, one.lambdaMax.steps);
    assert.deepEqual(together.solver.solves.map((s) => s.purpose), ['deterministic', 'noise', 'trace', 'trace', 'trace']);
    // Exact products and the same options: every solve is the one-at-a-time solve, to the last bit.
    assert.deepEqual(together.solver.solves.map((s) => [s.iterations, s.relativeResidual]), one.solver.solves.map((s) => [s.iterations, s.relativeResidual]));
    assert.equal(together.i2f, one.i2f);
    assert.equal(together.noise.trace, one.noise.trace);
    assert.equal(together.noise.traceStdError, one.noise.traceStdError);
    assert.deepEqual(together.cache.influenceDeterministic, one.cache.influenceDeterministic);
    const z = new Random(deriveSeed(5, 1)).fillNormal(new Float64Array(dtheta));
    assert.ok(relativeError(together.cache.influenceNoise!, exactInfluence(jac, z)) < 1e-6);
    assert.ok(op.widths.length < op.counts.gramVector, 'products went out in blocks');
    assert.ok(op.widths.every((w) => w <= 6));
  });

  it('agrees to the tolerance with float32 products, mixed precision and a deflation space built once for all', async () => {
    const opts: DenseOperatorOptions = { gradient, float32: true, precise: true };
    const base = { defences, seed: 6, batchSize: 2, tolerance: 1e-7, productRoundoff: 2 ** -24, deflation: 8, deflationSteps: 20, traceSamples: 3 };
    const one = await analyzeInfluence(new DenseInversionOperator(jac, opts), base);
    const op = new BlockDenseOperator(jac, opts, 2);
    const together = await analyzeInfluence(op, { ...base, sharedSolves: true });
    assert.ok(together.solver.converged && one.solver.converged);
    assert.ok(op.widths.every((w) => w <= 2), 'maxBlock respected');
    const built = together.solver.solves.filter((s) => s.deflation?.builtHere);
    const deflated = together.solver.solves.filter((s) => s.deflation);
    assert.equal(built.length, 1, 'the space is built once');
    assert.ok(deflated.length >= 2, `${deflated.length} solves deflated`);
    for (const s of together.solver.solves) assert.ok(s.relativeResidual <= 1e-7, `${s.purpose}: ${s.relativeResidual}`);
    assertClose(together.i2f, one.i2f, 1e-5, 'I²F');
    assertClose(together.noise.trace, one.noise.trace, 1e-5, 'T');
    assertClose(together.i2fExpected, one.i2fExpected, 1e-5, 'expected I²F');
    assert.equal(together.risk, one.risk);
  });

  it('without Gaussian noise solves I(δ_det) first, with λmax\'s Lanczos only, and shares rounds only among the noise and trace solves', async () => {
    const base = { defences: parseDefences(['prune:ratio=0.5']), targetPsnr: 30, seed: 5, tolerance: 1e-9, deflation: 0 };
    const one = await analyzeInfluence(new DenseInversionOperator(jac, { gradient }), base);
    const op = new BlockDenseOperator(jac, { gradient });
    const blocksAtDeterministicEnd: number[] = [];
    const r = await analyzeInfluence(op, { ...base, onProgress: (stage, f) => { if (stage === 'solve-deterministic' && f === 1) blocksAtDeterministicEnd.push(op.widths.length); } });
    assert.ok(blocksAtDeterministicEnd.length > 0);
    const during = op.widths.slice(0, blocksAtDeterministicEnd[0]);
    assert.ok(during.length > 0 && during.every((w) => w <= 2) && during[0] === 2, `the deterministic solve's rounds, with λmax's Lanczos: ${during.join(' ')}`);
    assertClose(r.lambdaMax.value, one.lambdaMax.value, 1e-12, 'λmax');
    assert.equal(r.solver.shared?.solves, 4);
    assert.equal(r.solver.shared?.widest, 4);
    assert.deepEqual(r.solver.solves.map((x) => x.purpose), ['deterministic', 'noise', 'trace', 'trace', 'trace']);
    assert.deepEqual(r.solver.solves.map((x) => x.iterations), one.solver.solves.map((x) => x.iterations));
    assert.equal(r.i2f, one.i2f);
    assert.equal(r.noise.trace, one.noise.trace);
    assert.equal(r.noiseForTarget?.std, one.noiseForTarget?.std);
  });

  it('runs λmax\'s Lanczos alongside the solves: bands before it converged claim no I_lb and show a floor of λmax, and grade as with λmax first', async () => {
    const base = { defences, seed: 5, batchSize: 2, tolerance: 1e-9, traceSamples: 2, deflation: 0 };
    const record = (into: ProvisionalInfluence[]) => ({ onBand: (b: ProvisionalInfluence) => { into.push(b); } });
    const along: ProvisionalInfluence[] = [], first: ProvisionalInfluence[] = [];
    const r = await analyzeInfluence(new BlockDenseOperator(jac, { gradient }), { ...base, ...record(along) });
    const q = await analyzeInfluence(new BlockDenseOperator(jac, { gradient }), { ...base, lambdaMaxAlongside: false, ...record(first) });
    const lambda = r.lambdaMax.value;
    assertClose(lambda, q.lambdaMax.value, 1e-12, 'λmax');
    assert.ok(r.lambdaMax.converged);
    assert.deepEqual(r.solver.solves.map((x) => x.iterations), q.solver.solves.map((x) => x.iterations));
    assert.equal(r.i2fExpected, q.i2fExpected);
    // The first band came while λmax's Lanczos ran (the point: it does not wait for it), later ones after it converged.
    assert.ok(along[0].lambdaMaxRunning, 'the first band before λmax converged');
    assert.ok(along.some((b) => !b.lambdaMaxRunning), 'bands after λmax converged');
    assert.ok(first.every((b) => !b.lambdaMaxRunning));
    const running = along.filter((b) => b.lambdaMaxRunning);
    for (const b of running) {
      assert.equal(b.lowerBound, 0, 'no I_lb claimed from a λmax not yet known');
      assert.ok(b.lambdaMax > 0 && b.lambdaMax <= lambda * (1 + 1e-12), `λmax ≥ ${b.lambdaMax} shown; λmax ${lambda}`);
    }
    for (let i = 1; i < running.length; i++) assert.ok(running[i].lambdaMax >= running[i - 1].lambdaMax, 'the floor only rises');
    for (const b of along.filter((x) => !x.lambdaMaxRunning)) {
      assert.equal(b.lambdaMax, lambda);
      assertClose(b.lowerBound, b.evaluation.jDeltaNorm / lambda, 1e-12, 'I_lb');
    }
    // The grade does not rest on λmax: the same bands, at the same iterations, as with λmax first.
    const shown = (bs: ProvisionalInfluence[]) => bs.map((b) => [b.stage, b.iteration, b.evaluation.band.i2f, b.evaluation.band.risk, b.evaluation.band.psnr]);
    assert.deepEqual(shown(along), shown(first));
  });

  it('runs λmax first where the right-hand sides cannot rule out a gradient that determines nothing (the one-iteration cap needs it)', async () => {
    const flat = denseJacobian(dx, dtheta, geometricSpectrum(dx, 1e-30, 10), 32);
    const op = new BlockDenseOperator(flat, { gradient });
    const stages: string[] = [];
    const bands: ProvisionalInfluence[] = [];
    const r = await analyzeInfluence(op, { defences, seed: 5, tolerance: 1e-9, deflation: 0, onProgress: (st, f) => { if (f === 0) stages.push(st); }, onBand: (b) => { bands.push(b); } });
    assert.equal(r.validity.determined, 'none');
    assert.ok(r.solver.solves.every((x) => x.iterations <= 1), r.solver.solves.map((x) => x.iterations).join(' '));
    assert.ok(stages.indexOf('lambda-max') >= 0 && stages.indexOf('lambda-max') < stages.findIndex((x) => x.startsWith('solve')), stages.join(' '));
    assert.ok(bands.every((b) => !b.lambdaMaxRunning));
  });

  it('runs λmax first where a Nyström sketch comes before the first iteration (its products would hold λmax back)', async () => {
    const stages: string[] = [];
    const bands: ProvisionalInfluence[] = [];
    const r = await analyzeInfluence(new BlockDenseOperator(jac, { gradient }), {
      defences, seed: 5, tolerance: 1e-9, traceSamples: 2, preconditioner: 'nystrom', nystromAfter: 0, nystromRank: 10,
      onProgress: (st, f) => { if (f === 0) stages.push(st); }, onBand: (b) => { bands.push(b); },
    });
    assert.ok(r.solver.solves[0].nystrom, 'preconditioned');
    assert.ok(stages.indexOf('lambda-max') >= 0 && stages.indexOf('lambda-max') < stages.findIndex((x) => x.startsWith('solve')), stages.join(' '));
    assert.ok(bands.length > 0 && bands.every((b) => !b.lambdaMaxRunning));
  });

  it('solves one after another when asked to, even with a block product', async () => {
    const op = new BlockDenseOperator(jac, { gradient });
    const r = await analyzeInfluence(op, { defences, seed: 5, tolerance: 1e-9, sharedSolves: false });
    assert.equal(r.solver.shared, undefined);
    assert.equal(op.widths.length, 0);
  });

  it('stops every shared solve when the AbortSignal fires', async () => {
    const controller = new AbortController();
    const op = new BlockDenseOperator(jac, { gradient });
    const run = analyzeInfluence(op, {
      defences, seed: 5, tolerance: 1e-14, maxIterations: 100_000, signal: controller.signal,
      onProgress: (stage, f) => { if (stage === 'solve-deterministic' && f > 0.2) controller.abort(); },
    });
    await assert.rejects(run, (e: Error) => e.name === 'AbortError');
  });
});

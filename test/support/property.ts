// Every fast-check property of the suite runs from a fixed seed, so a failure on CI replays exactly here; fast-check's
// report prints the seed and the counterexample's path (`{ seed: …, path: "…" }`), and includeErrorInReport adds
// the assertion that failed. I2F_FC_SEED=N runs every property from seed N instead, to explore other inputs.
// test/unit/hygiene.test.ts checks that each fc.assert in test/ passes its parameters through here.
import type * as fc from 'fast-check';

/** The suite's default seed (a date, nothing more). */
export const FC_SEED = 20261207;

/** fast-check parameters with a seed: I2F_FC_SEED if set, else the property's own, else FC_SEED. */
export function seeded<T>(parameters: fc.Parameters<T> = {}): fc.Parameters<T> {
  const override = process.env.I2F_FC_SEED;
  const seed = override !== undefined && override !== '' ? Number(override) : (parameters.seed ?? FC_SEED);
  if (!Number.isSafeInteger(seed)) throw new Error(`I2F_FC_SEED must be an integer, got '${override}'`);
  return { includeErrorInReport: true, ...parameters, seed };
}

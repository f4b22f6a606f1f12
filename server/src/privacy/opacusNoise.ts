// The σ Opacus' make_private_with_epsilon trains with: opacus.accountants.utils.get_noise_multiplier, reproduced
// step for step (same doubling from 10, same bisection, same stopping rule), on our implementation of the same
// accountant, so the σ is the one the user's run will use, not a tighter or looser estimate of it.

import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { persistentCacheDir } from '../cacheRoot';
import { gdpEpsilon } from './gdpAccountant';
import { prvEpsilon } from './prvAccountant';
import { rdpEpsilon } from './rdpAccountant';

export type OpacusAccountant = 'prv' | 'rdp' | 'gdp';

/** Opacus' MAX_SIGMA: past it get_noise_multiplier gives up ("The privacy budget is too low."). */
export const OPACUS_MAX_SIGMA = 1e6;

export interface OpacusNoiseQuery {
  targetEpsilon: number;
  targetDelta: number;
  /** make_private_with_epsilon passes 1/len(data_loader). */
  sampleRate: number;
  /** Epochs, turned into steps as Opacus does: int(epochs / sample_rate). */
  epochs: number;
  accountant: OpacusAccountant;
  /** get_noise_multiplier's default 0.01. */
  epsilonTolerance?: number;
}

export type OpacusNoise =
  /** evaluations on Opacus' grid, and on the coarse one (PRV only). */
  | { kind: 'found'; noiseMultiplier: number; epsilon: number; steps: number; evaluations: number; coarseEvaluations: number }
  | { kind: 'failed'; reason: string; steps: number };

/** Opacus' step count: int(epochs / sample_rate), in the same double arithmetic (so 20 / (1/98) is what Python gets). */
export function opacusSteps(epochs: number, sampleRate: number): number {
  return Math.trunc(epochs / sampleRate);
}

/** ε of (σ, q) over `steps` at δ with the named accountant, as that Opacus accountant's get_epsilon returns it. */
export function opacusEpsilon(accountant: OpacusAccountant, noiseMultiplier: number, sampleRate: number, steps: number, delta: number): number {
  switch (accountant) {
    case 'prv':
      return prvEpsilon({ sampleRate, noiseMultiplier, steps }, delta).epsilon;
    case 'rdp':
      return rdpEpsilon({ sampleRate, noiseMultiplier, steps }, delta).epsilon;
    case 'gdp':
      return gdpEpsilon(sampleRate, noiseMultiplier, steps, delta);
  }
}

/** Opacus' ε at σ, or only an interval known to hold it when that settles the search's comparison. */
interface EpsilonBounds {
  low: number;
  high: number;
}

/**
 * The coarse PRV grid's ε error: 10× Opacus' 0.01, so a mesh 10× coarser and a tenth of the points. Its lower bound
 * (ε at δ + δ_err, minus 0.1) and upper bound (at δ − δ_err, plus 0.1) hold the true ε (Gopi et al. 2021, Theorem
 * 5.5), as Opacus' own grid's do, so Opacus' number (its upper bound) lies in [lower_c, upper_c + 0.02]; a further
 * COARSE_MARGIN guards against the bound being met only approximately (the safe domain is the authors' adaptation of
 * Remark 5.6, not the remark itself).
 */
const COARSE_EPS_ERROR = 0.1;
const COARSE_MARGIN = 0.05;

/**
 * get_noise_multiplier: σ_high doubles from 10 until ε(σ_high) ≤ target (so the first σ tried is 20), then
 * bisection on [0, σ_high] keeps the upper end whose ε is below target, until target − ε(σ_high) ≤ tolerance; the
 * answer is σ_high, whose ε is within the tolerance BELOW the target. An accountant that throws (a grid too fine
 * for δ, no root) fails the search as Opacus' would.
 *
 * The PRV accountant's ε costs a grid of up to millions of points, and most of the search's evaluations are far from
 * the target (the small σ of the first halvings have the largest grids). Each comparison is first tried on the
 * coarse grid: when its interval for Opacus' ε lies wholly on one side of what the comparison asks (ε > target, or
 * target − ε > tolerance), that decides it as Opacus' exact ε would; only the evaluations near the target pay for
 * Opacus' grid. The decisions, hence σ, are Opacus' own (the tests check σ against Opacus' get_noise_multiplier).
 */
export function opacusNoiseMultiplier(query: OpacusNoiseQuery, onStep?: (sigma: number, step: number) => void): OpacusNoise {
  const { targetEpsilon, targetDelta, sampleRate, epochs, accountant } = query;
  const tolerance = query.epsilonTolerance ?? 0.01;
  const steps = opacusSteps(epochs, sampleRate);
  if (!(sampleRate > 0 && sampleRate <= 1)) return { kind: 'failed', steps, reason: `the sample rate ${sampleRate} is not in (0, 1]` };
  if (!(steps >= 1)) return { kind: 'failed', steps, reason: `${epochs} epochs at sample rate ${sampleRate} make ${steps} steps` };
  let evaluations = 0;
  let coarseEvaluations = 0;
  const exact = (sigma: number): EpsilonBounds => {
    evaluations++;
    const e = opacusEpsilon(accountant, sigma, sampleRate, steps, targetDelta);
    return { low: e, high: e };
  };
  // Opacus' ε at σ, or bounds on it that settle every comparison the search makes with it.
  let tried = 0;
  const eps = (sigma: number): EpsilonBounds => {
    onStep?.(sigma, ++tried);
    if (accountant !== 'prv') return exact(sigma);
    coarseEvaluations++;
    let c: ReturnType<typeof prvEpsilon>;
    try {
      c = prvEpsilon({ sampleRate, noiseMultiplier: sigma, steps }, targetDelta, { epsError: COARSE_EPS_ERROR });
    } catch {
      return exact(sigma); // whatever the coarse grid cannot do, Opacus' grid decides (and fails as Opacus fails)
    }
    const low = c.lower - COARSE_MARGIN;
    const high = c.epsilon + 2 * 0.01 + COARSE_MARGIN;
    const aboveTarget = low > targetEpsilon;
    const wellBelow = high < targetEpsilon - tolerance;
    return aboveTarget || wellBelow ? { low, high } : exact(sigma);
  };
  try {
    let sigmaLow = 0;
    let sigmaHigh = 10;
    let epsHigh: EpsilonBounds = { low: Infinity, high: Infinity };
    while (epsHigh.low > targetEpsilon) {
      sigmaHigh = 2 * sigmaHigh;
      epsHigh = eps(sigmaHigh);
      if (sigmaHigh > OPACUS_MAX_SIGMA) return { kind: 'failed', steps, reason: 'the privacy budget is too low: no σ up to 10⁶ meets it' };
    }
    while (targetEpsilon - epsHigh.high > tolerance) {
      const sigma = (sigmaLow + sigmaHigh) / 2;
      const e = eps(sigma);
      if (e.high < targetEpsilon) {
        sigmaHigh = sigma;
        epsHigh = e;
      } else {
        sigmaLow = sigma;
      }
    }
    return { kind: 'found', noiseMultiplier: sigmaHigh, epsilon: epsHigh.high, steps, evaluations, coarseEvaluations };
  } catch (e) {
    return { kind: 'failed', steps, reason: (e as Error).message };
  }
}

// A script's refreshes (every edit re-reads it) ask the same question; the PRV search costs seconds to a minute.
const searches = new Map<string, OpacusNoise>();

function searchKey(query: OpacusNoiseQuery): string {
  return JSON.stringify([query.targetEpsilon, query.targetDelta, query.sampleRate, query.epochs, query.accountant, query.epsilonTolerance ?? 0.01]);
}

/**
 * Answers are also kept on disk (persistentCacheDir()/opacus-noise/: the run's cache folder), so a notebook reopened tomorrow, another `i2f audit`
 * run or another test process does not search again: the search is a pure function of the query. Bump
 * SEARCH_VERSION whenever the accountants or the search change what they return.
 */
const SEARCH_VERSION = 1;

function diskFile(key: string): string | undefined {
  const root = persistentCacheDir();
  if (!root) return undefined;
  const name = createHash('sha256').update(`${SEARCH_VERSION}:${key}`).digest('hex').slice(0, 32);
  return join(root, 'opacus-noise', `${name}.json`);
}

function fromDisk(key: string): OpacusNoise | undefined {
  const file = diskFile(key);
  if (!file) return undefined;
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { key: string; answer: OpacusNoise };
    return stored.key === key && (stored.answer.kind === 'found' || stored.answer.kind === 'failed') ? stored.answer : undefined;
  } catch {
    return undefined; // none yet, or unreadable: search
  }
}

function toDisk(key: string, r: OpacusNoise): void {
  const file = diskFile(key);
  if (!file) return;
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, JSON.stringify({ key, answer: r }));
    renameSync(tmp, file); // atomic: a reader never sees half a file
  } catch {
    // A cache that cannot be written only costs the next search.
  }
}

function memo(key: string, r: OpacusNoise): void {
  searches.delete(key);
  if (searches.size >= 32) searches.delete(searches.keys().next().value!);
  searches.set(key, r);
}

/** The remembered answer to this query, if it was searched (here, on a worker thread, or by an earlier process). */
export function knownOpacusNoise(query: OpacusNoiseQuery): OpacusNoise | undefined {
  const key = searchKey(query);
  const known = searches.get(key);
  if (known) return known;
  const stored = fromDisk(key);
  if (stored) memo(key, stored);
  return stored;
}

/** Remember an answer (the last 32 distinct queries in memory; all on disk). */
export function rememberOpacusNoise(query: OpacusNoiseQuery, r: OpacusNoise): void {
  const key = searchKey(query);
  memo(key, r);
  toDisk(key, r);
}

/** opacusNoiseMultiplier, remembered. */
export function cachedOpacusNoiseMultiplier(query: OpacusNoiseQuery): OpacusNoise {
  const known = knownOpacusNoise(query);
  if (known) return known;
  const r = opacusNoiseMultiplier(query);
  rememberOpacusNoise(query, r);
  return r;
}

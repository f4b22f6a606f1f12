// Defences on the shared gradient: parse CLI specs into DefenceModels and compute the perturbation δ they cause (I2F.md "Defences → δ").

import { UserError } from '../errors';
import { Random } from './random';

export type DefenceModel =
  | { kind: 'gaussian'; std: number }
  | { kind: 'dpsgd'; clip: number; noise: number }
  | { kind: 'prune'; ratio: number }
  | { kind: 'quantize'; bits: number }
  | { kind: 'topk'; ratio: number };

interface KeySpec {
  /** Human description of the allowed values, used in error messages. */
  allowed: string;
  valid: (x: number) => boolean;
}

const SPECS: Record<DefenceModel['kind'], { keys: Record<string, KeySpec>; example: string }> = {
  gaussian: { keys: { std: { allowed: 'a finite number ≥ 0', valid: (x) => x >= 0 } }, example: 'gaussian:std=0.01' },
  dpsgd: {
    keys: {
      clip: { allowed: 'a finite number > 0', valid: (x) => x > 0 },
      noise: { allowed: 'a finite number ≥ 0 (the noise multiplier σ)', valid: (x) => x >= 0 },
    },
    example: 'dpsgd:clip=1,noise=1.1',
  },
  prune: { keys: { ratio: { allowed: 'a number in [0, 1]', valid: (x) => x >= 0 && x <= 1 } }, example: 'prune:ratio=0.9' },
  quantize: {
    keys: { bits: { allowed: 'an integer from 2 to 32', valid: (x) => Number.isInteger(x) && x >= 2 && x <= 32 } },
    example: 'quantize:bits=8',
  },
  topk: { keys: { ratio: { allowed: 'a number in [0, 1]', valid: (x) => x >= 0 && x <= 1 } }, example: 'topk:ratio=0.1' },
};

function bad(spec: string, message: string): UserError {
  return new UserError('bad-defence', `Bad defence '${spec}': ${message}`);
}

/** Parses one spec such as 'dpsgd:clip=1,noise=1.1' (kinds: gaussian, dpsgd, prune, quantize, topk). */
export function parseDefence(spec: string): DefenceModel {
  const text = spec.trim();
  const colon = text.indexOf(':');
  const kindText = (colon < 0 ? text : text.slice(0, colon)).trim().toLowerCase();
  const kinds = Object.keys(SPECS);
  // Own keys only: 'constructor' or '__proto__' are in every object ('in' would find them and crash below).
  if (!Object.hasOwn(SPECS, kindText)) {
    throw bad(spec, `unknown defence '${kindText}'; allowed: ${kinds.map((k) => SPECS[k as DefenceModel['kind']].example).join(', ')}`);
  }
  const kind = kindText as DefenceModel['kind'];
  const { keys, example } = SPECS[kind];
  const allowedKeys = Object.keys(keys);
  const values: Record<string, number> = {};
  const body = colon < 0 ? '' : text.slice(colon + 1).trim();
  for (const part of body ? body.split(',') : []) {
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!Object.hasOwn(keys, key)) {
      throw bad(spec, `unknown key '${key}' for ${kind}; allowed: ${allowedKeys.join(', ')} (e.g. ${example})`);
    }
    if (Object.hasOwn(values, key)) throw bad(spec, `key '${key}' given twice`);
    const raw = eq < 0 ? '' : part.slice(eq + 1).trim();
    const x = raw === '' ? NaN : Number(raw);
    if (!Number.isFinite(x) || !keys[key].valid(x)) {
      throw bad(spec, `${key} must be ${keys[key].allowed}, got '${raw}' (e.g. ${example})`);
    }
    values[key] = x;
  }
  for (const key of allowedKeys) if (!Object.hasOwn(values, key)) throw bad(spec, `missing key '${key}' (${keys[key].allowed}; e.g. ${example})`);
  return { kind, ...values } as DefenceModel;
}

/** Parses several specs; they compose in the order given (see computeDefenceDelta). */
export function parseDefences(specs: readonly string[]): DefenceModel[] {
  return specs.map(parseDefence);
}

/** The canonical spec string of a defence (for reports and cache keys). */
export function describeDefence(d: DefenceModel): string {
  switch (d.kind) {
    case 'gaussian': return `gaussian:std=${d.std}`;
    case 'dpsgd': return `dpsgd:clip=${d.clip},noise=${d.noise}`;
    case 'prune': return `prune:ratio=${d.ratio}`;
    case 'quantize': return `quantize:bits=${d.bits}`;
    case 'topk': return `topk:ratio=${d.ratio}`;
  }
}

/**
 * δ split so consumers can rescale the noise without re-solving: δ = deterministic + gaussianStd · noise.
 * I(δ) is linear in δ (I2F.md), so I(δ) = I(deterministic) + gaussianStd · I(noise).
 */
export interface DefenceDelta {
  /** The deterministic part (clipping bias, compression error), or null when there is none. */
  deterministic: Float64Array | null;
  /** Total Gaussian standard deviation s: the root-sum-square of every Gaussian component. */
  gaussianStd: number;
  /** The seeded unit-normal draw z (length d_θ), or null when gaussianStd = 0. */
  noise: Float64Array | null;
  /** Batch size the DP-SGD noise was scaled with (number of per-example gradients), when one was needed. */
  batchSize?: number;
}

export interface DefenceContext {
  /** θ's tensors, for per-tensor quantisation (InversionOperator.parameters). */
  parameters: readonly { name?: string; offset: number; size: number }[];
  /** Per-example gradients g_i, needed only by DP-SGD's clipping. */
  exampleGradients?: () => Promise<Float64Array[]>;
  seed?: number;
}

/**
 * δ for a list of defences applied in order to the shared gradient g.
 * Composition: deterministic compressions (prune, quantize, topk) act on the deterministic part of the gradient
 * defended so far; DP-SGD's clipping bias adds to it (clipping acts on the raw per-example gradients, as on the
 * client); Gaussian components add, so their variances sum. A compression listed after a noise component therefore
 * does not act on the noise: a first-order simplification that keeps δ affine in the noise draw.
 */
export async function computeDefenceDelta(defences: readonly DefenceModel[], g: Float64Array, ctx: DefenceContext): Promise<DefenceDelta> {
  const n = g.length;
  let current: Float64Array | null = null; // the defended deterministic gradient, when any defence changed it
  let variance = 0;
  let batchSize: number | undefined;
  for (const d of defences) {
    switch (d.kind) {
      case 'gaussian':
        variance += d.std * d.std;
        break;
      case 'dpsgd': {
        const examples = ctx.exampleGradients ? await ctx.exampleGradients() : [];
        if (examples.length === 0) {
          throw new UserError('dpsgd-needs-example-gradients', `Defence '${describeDefence(d)}' needs per-example gradients, which this model's backend did not provide`);
        }
        batchSize = examples.length;
        const bias = clippingBias(examples, d.clip);
        current ??= Float64Array.from(g);
        for (let i = 0; i < n; i++) current[i] += bias[i];
        const std = (d.noise * d.clip) / examples.length; // N(0, (σC)²) on the sum, divided by B (I2F.md)
        variance += std * std;
        break;
      }
      case 'prune':
        current = prune(current ?? g, d.ratio);
        break;
      case 'quantize':
        current = quantize(current ?? g, d.bits, ctx.parameters);
        break;
      case 'topk':
        current = topK(current ?? g, d.ratio);
        break;
    }
  }
  let deterministic: Float64Array | null = null;
  if (current) {
    deterministic = new Float64Array(n);
    for (let i = 0; i < n; i++) deterministic[i] = current[i] - g[i];
  }
  const gaussianStd = Math.sqrt(variance);
  const noise = gaussianStd > 0 ? new Random(ctx.seed ?? 0).fillNormal(new Float64Array(n)) : null;
  return { deterministic, gaussianStd, noise, ...(batchSize !== undefined ? { batchSize } : {}) };
}

/** mean_i(clip_C(g_i)) − mean_i(g_i), clip_C(g) = g · min(1, C/‖g‖): DP-SGD's deterministic bias. */
export function clippingBias(examples: readonly Float64Array[], clip: number): Float64Array {
  const n = examples[0].length;
  const out = new Float64Array(n);
  for (const gi of examples) {
    let s = 0;
    for (let i = 0; i < n; i++) s += gi[i] * gi[i];
    const factor = Math.min(1, clip / Math.sqrt(s)) - 1; // clip(g) − g = (factor) · g
    if (factor !== 0) for (let i = 0; i < n; i++) out[i] += factor * gi[i];
  }
  for (let i = 0; i < n; i++) out[i] /= examples.length;
  return out;
}

/** numpy.quantile(values, p) with the default 'linear' method: sorted[h] interpolated at h = (n−1)·p. */
export function quantile(values: Float64Array, p: number): number {
  const sorted = Float64Array.from(values).sort();
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

/** Gradient pruning: zero every entry with |g| strictly below the p-quantile of |g| over the whole θ vector. */
export function prune(g: Float64Array, ratio: number): Float64Array {
  const abs = Float64Array.from(g, Math.abs);
  const threshold = quantile(abs, ratio);
  const out = Float64Array.from(g);
  for (let i = 0; i < out.length; i++) if (abs[i] < threshold) out[i] = 0;
  return out;
}

/** Rounds to the nearest integer, ties to even, keeping the sign of zero (numpy.round / IEEE roundTiesToEven). */
export function roundHalfToEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  const r = diff < 0.5 ? f : diff > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
  return r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r;
}

/** Symmetric per-tensor quantisation to `bits`: scale = max|g_t|/(2^(bits−1)−1), q = round_half_even(g/scale)·scale. */
export function quantize(g: Float64Array, bits: number, tensors: readonly { offset: number; size: number }[]): Float64Array {
  const out = Float64Array.from(g);
  const levels = 2 ** (bits - 1) - 1;
  for (const t of tensors) {
    let max = 0;
    for (let i = t.offset; i < t.offset + t.size; i++) max = Math.max(max, Math.abs(g[i]));
    if (max === 0) continue; // an all-zero tensor quantises to itself
    const s = max / levels;
    for (let i = t.offset; i < t.offset + t.size; i++) out[i] = roundHalfToEven(g[i] / s) * s;
  }
  return out;
}

/** Top-k sparsification: keep the ceil(P·d_θ) largest |g| (ties: lower index first), zero the rest. */
export function topK(g: Float64Array, ratio: number): Float64Array {
  const n = g.length;
  const k = Math.min(n, Math.ceil(ratio * n));
  const out = new Float64Array(n);
  if (k === 0) return out;
  const abs = Float64Array.from(g, Math.abs);
  const threshold = Float64Array.from(abs).sort()[n - k]; // the k-th largest |g|
  let strictlyAbove = 0;
  for (let i = 0; i < n; i++) if (abs[i] > threshold) strictlyAbove++;
  let tiesLeft = k - strictlyAbove;
  for (let i = 0; i < n; i++) {
    if (abs[i] > threshold) out[i] = g[i];
    else if (abs[i] === threshold && tiesLeft > 0) {
      out[i] = g[i];
      tiesLeft--;
    }
  }
  return out;
}

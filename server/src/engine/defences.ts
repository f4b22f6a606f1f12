// Defences on the shared gradient: parse CLI specs into DefenceModels and compute the perturbation δ they cause (I2F.md "Defences → δ").

import { UserError } from '../errors';
import { norm } from './linalg';
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
  /** The deterministic part (compression error), or null when there is none. */
  deterministic: Float64Array | null;
  /** Total Gaussian standard deviation s: the root-sum-square of every Gaussian component. */
  gaussianStd: number;
  /** The seeded unit-normal draw z (length d_θ, masked by noiseMask), or null when gaussianStd = 0. */
  noise: Float64Array | null;
  /** Batch size the DP-SGD noise was scaled with (number of per-example gradients), when one was needed. */
  batchSize?: number;
  /** DP-SGD's per-example clipping: what it did to the gradient (not part of δ, see ClippingEffect). */
  clipping?: ClippingEffect;
  /**
   * A compression (prune, top-k) listed after a noise component: 1 where the coordinate is shared, 0 where it is
   * dropped. The noise on dropped coordinates never reaches the attacker, so z is masked with it.
   */
  noiseMask?: Uint8Array;
  /** Fraction of θ's coordinates the mask keeps (E‖z‖² = keptFraction · d_θ). */
  keptFraction?: number;
}

/**
 * Per-example clipping g_i → c_i·g_i, c_i = min(1, C/‖g_i‖), is a rescaling, not a perturbation an attacker must
 * undo: Inverting Gradients' cosine objective ignores the scale, and an attacker who knows C clips its own candidate
 * gradients the same way. So the clipping residual mean(c_i g_i) − mean(g_i) is not put in δ (as a perturbation it
 * was 97% of g on the DLG LeNet at C = 1, far outside the first-order regime, and graded LOW where the cosine attack
 * reached 13–17 dB, MEASURED.md). What clipping does change is the scale the noise is compared with: the attacker
 * matches c·g(x) + N(0, (σC/B)²), i.e. g(x) + N(0, (σC/(B c))²), and for B = 1 its first-order error is exactly
 * (1/c)·(J P Jᵀ)⁺ J P n with P the projection off g, never smaller than (1/c)·(J Jᵀ)⁻¹ J n. With several examples
 * the largest factor c_max bounds every example's credit (I_i scales by 1/c_i ≥ 1/c_max), so the noise is analysed
 * at std σC/(B·c_max): the credit clipping deserves, and no more.
 */
export interface ClippingEffect {
  clip: number;
  /** c_i = min(1, C/‖g_i‖) for each example. */
  factors: number[];
  /** ‖mean(c_i g_i) − mean(g_i)‖: the rescaling (reported, not analysed as δ). */
  rescaleNorm: number;
  /** max_i c_i: the noise is analysed at σC/(B·c_max). */
  noiseScale: number;
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
 * defended so far; DP-SGD's clipping is a rescaling (ClippingEffect) that only scales its noise; Gaussian components
 * add, so their variances sum. A pruning or top-k listed after a noise component zeroes the noise on the coordinates
 * it drops (noiseMask; first order: the kept set is the one of the noise-free gradient). Quantisation after noise
 * rounds the noise too; that is left out (a first-order simplification that keeps δ affine in the noise draw).
 */
export async function computeDefenceDelta(defences: readonly DefenceModel[], g: Float64Array, ctx: DefenceContext): Promise<DefenceDelta> {
  const n = g.length;
  let current: Float64Array | null = null; // the defended deterministic gradient, when any defence changed it
  let variance = 0;
  let batchSize: number | undefined;
  let clipping: ClippingEffect | undefined;
  let mask: Uint8Array | undefined;
  const maskWith = (kept: Float64Array, before: Float64Array) => {
    if (variance === 0) return; // no noise yet: nothing to mask
    mask ??= new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) if (kept[i] === 0 && before[i] !== 0) mask[i] = 0;
  };
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
        const factors = examples.map((gi) => clipFactor(gi, d.clip));
        const noiseScale = Math.max(...factors);
        clipping = { clip: d.clip, factors, rescaleNorm: norm(clippingBias(examples, d.clip)), noiseScale };
        // N(0, (σC)²) on the sum of clipped gradients, divided by B (I2F.md), seen against the rescaled gradient.
        const std = (d.noise * d.clip) / (examples.length * (noiseScale > 0 ? noiseScale : 1));
        variance += std * std;
        break;
      }
      case 'prune': {
        const before = current ?? g;
        current = prune(before, d.ratio);
        maskWith(current, before);
        break;
      }
      case 'quantize':
        current = quantize(current ?? g, d.bits, ctx.parameters);
        break;
      case 'topk': {
        const before = current ?? g;
        current = topK(before, d.ratio);
        maskWith(current, before);
        break;
      }
    }
  }
  let deterministic: Float64Array | null = null;
  if (current) {
    deterministic = new Float64Array(n);
    for (let i = 0; i < n; i++) deterministic[i] = current[i] - g[i];
  }
  const gaussianStd = Math.sqrt(variance);
  const noise = gaussianStd > 0 ? new Random(ctx.seed ?? 0).fillNormal(new Float64Array(n)) : null;
  let keptFraction: number | undefined;
  if (mask && noise) {
    let kept = 0;
    for (let i = 0; i < n; i++) if (mask[i]) kept++; else noise[i] = 0;
    keptFraction = kept / n;
  }
  return {
    deterministic, gaussianStd, noise, ...(batchSize !== undefined ? { batchSize } : {}), ...(clipping ? { clipping } : {}),
    ...(mask && noise ? { noiseMask: mask, keptFraction } : {}),
  };
}

/**
 * The gradient the client really shares under these defences, for a unit-normal draw z: what an attack is run
 * against (computeDefenceDelta is the model the I²F analyses). Here clipping rescales (mean of clipped g_i), DP-SGD
 * adds N(0, (σC/B)²), and a compression acts on the noisy gradient it receives. The first noise component uses z;
 * later ones use seeded draws of their own.
 */
export async function sharedGradient(defences: readonly DefenceModel[], g: Float64Array, ctx: DefenceContext, z: Float64Array): Promise<Float64Array> {
  const n = g.length;
  const out = Float64Array.from(g);
  let draws = 0;
  const addNoise = (std: number) => {
    if (!(std > 0)) return;
    const w = draws === 0 ? z : new Random((ctx.seed ?? 0) + 7919 * draws).fillNormal(new Float64Array(n));
    draws++;
    for (let i = 0; i < n; i++) out[i] += std * w[i];
  };
  for (const d of defences) {
    switch (d.kind) {
      case 'gaussian':
        addNoise(d.std);
        break;
      case 'dpsgd': {
        const examples = ctx.exampleGradients ? await ctx.exampleGradients() : [];
        if (examples.length === 0) {
          throw new UserError('dpsgd-needs-example-gradients', `Defence '${describeDefence(d)}' needs per-example gradients, which this model's backend did not provide`);
        }
        const bias = clippingBias(examples, d.clip);
        for (let i = 0; i < n; i++) out[i] += bias[i];
        addNoise((d.noise * d.clip) / examples.length);
        break;
      }
      case 'prune':
        out.set(prune(out, d.ratio));
        break;
      case 'quantize':
        out.set(quantize(out, d.bits, ctx.parameters));
        break;
      case 'topk':
        out.set(topK(out, d.ratio));
        break;
    }
  }
  return out;
}

/** c = min(1, C/‖g‖): the factor per-example clipping multiplies g by. */
export function clipFactor(gi: Float64Array, clip: number): number {
  let s = 0;
  for (let i = 0; i < gi.length; i++) s += gi[i] * gi[i];
  return Math.min(1, clip / Math.sqrt(s));
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

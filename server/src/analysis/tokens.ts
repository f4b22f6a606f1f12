// Text models in `i2f analyze`: token-id samples (an int .npy, a text file tokenised with the plain vocab file
// shipped beside the model, or seeded random ids), the per-batch embedding-space model (embedding.ts), and the
// user-facing text metric: from the predicted reconstruction x0 + I(δ), the nearest embedding row at each
// position and the fraction of tokens an attacker recovers.

import { promises as fs, existsSync } from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../errors';
import { Random } from '../engine/random';
import { readNpy } from '../formats/npy';
import { OnnxModel } from '../backends/onnx/onnxModel';
import { embedTokens, embeddingMatrix, findTokenEmbedding, splitAtEmbedding, type TokenEmbedding } from '../backends/onnx/embedding';
import type { InfluenceResult } from '../engine/influence';
import { DEFAULT_RISK_THRESHOLDS, riskLevel, type RiskLevel, type RiskThresholds } from '../engine/risk';
import type { Samples } from './inputs';

/** Nearest-row metric used for token recovery (stated in every report). */
export const TOKEN_METRIC: 'L2' = 'L2';

export interface TokenModelInfo {
  kind: 'token-ids';
  /** Always 'embedding': x, J, the I²F, RMSE/PSNR and the spectrum are about the embedding lookup's output. */
  analysisSpace: 'embedding';
  note: string;
  tokenInput: string;
  embeddingMatrix: string;
  vocabSize: number;
  embeddingDim: number;
  sequenceLength: number;
  vocabFile?: string;
  recoveryMetric: string;
}

export interface TokenReport {
  metric: string;
  /** Fraction of all tokens of the batch whose nearest embedding row is the true token. */
  recovered: number;
  perPosition: number[];
  perSample: { sample: number; recovered: number }[];
  /** Which reconstruction was decoded: x0 + I(δ_det) + s·I(z) for the seeded draw z (or without either part). */
  reconstruction: string;
  /** Gaussian std s of the decoded reconstruction x0 + I(δ_det) + s·I(z). */
  std: number;
  ids: number[][];
  nearest: number[][];
  text?: string[];
  recoveredText?: string[];
  /**
   * Per token (batch-major, N·T entries): the nearest row of x0 + I(δ_det) + s·I(z) as s grows from 0 — row[k] from
   * std[k] on (std[0] = 0). A config edit that changes only the noise is decoded from this without E or a product.
   */
  alongNoise: NoisePath[];
  /**
   * Config analyses (noiseRescale.ts): the Gaussian std from which on every sample keeps fewer than `below` of its
   * tokens (the medium-risk threshold: below it the risk is low), and the DP-SGD noise multiplier giving that std.
   */
  noiseForTarget?: { below: number; std: number; noiseMultiplier?: number };
}

/** Nearest embedding row of one token along the noise scale: row[k] is nearest for s in [std[k], std[k+1]). */
export interface NoisePath {
  std: number[];
  row: number[];
  /** The rows' words (when a vocabulary is known). */
  word?: string[];
}

export interface TokenSession {
  info: TokenEmbedding;
  modelInfo: TokenModelInfo;
  /** Embedded samples (float [N, T, D]); range = max − min of E (the PSNR's peak in embedding space). */
  samples: Samples;
  /** E as float64 rows [V, D] (nearest-row decoding of any reconstruction). */
  E: Float64Array;
  /** min and max entry of E: the embedding-space box an attack searches. */
  lo: number;
  hi: number;
  /** One example's analysis-space shape [...T, D]. */
  sampleDims: number[];
  ids: number[];
  vocab?: string[];
  /** The embedding-space model for samples [first, first + size). */
  modelFor(first: number, size: number): OnnxModel;
  /** Token recovery of a batch from the engine's result. */
  recovery(first: number, size: number, x: Float32Array, r: InfluenceResult): TokenReport;
}

/** The vocab file beside a model: `<model>.vocab.txt`, else `vocab.txt` in the model's folder. */
export function vocabFileFor(modelFile: string): string | undefined {
  const base = modelFile.replace(/\.onnx$/i, '');
  for (const f of [`${base}.vocab.txt`, path.join(path.dirname(modelFile), 'vocab.txt')]) if (existsSync(f)) return f;
  return undefined;
}

/** Vocabularies and text samples are small; a larger file is not one of them. */
const MAX_TEXT_BYTES = 64 * 2 ** 20;

/** A text file the user named or shipped beside the model: a regular file (not /dev/zero, not a FIFO), not huge. */
async function readTextFile(file: string, what: string): Promise<string> {
  const st = await fs.stat(file).catch((e: Error) => {
    throw new UserError('data-not-found', `cannot read the ${what}: ${e.message}`, { file });
  });
  if (!st.isFile()) throw new UserError('data-not-found', `the ${what} is not a regular file (a device, pipe, socket or folder)`, { file });
  if (st.size > MAX_TEXT_BYTES) throw new UserError('data-shape', `the ${what} is ${st.size} bytes, over the ${MAX_TEXT_BYTES}-byte limit for text files`, { file });
  return fs.readFile(file, 'utf8');
}

export async function readVocab(file: string): Promise<string[]> {
  return (await readTextFile(file, 'vocabulary file')).split(/\r?\n/).map((l) => l.trim()).filter((l, i, all) => l.length > 0 || i < all.length - 1);
}

/** Whitespace tokeniser over a plain vocab (one token per line, id = line number): lower-cased words, unknown → <unk>/[UNK], padded with <pad>/[PAD] (else id 0), truncated to T. */
export function tokenize(line: string, vocab: string[], T: number): number[] {
  const index = new Map(vocab.map((w, i) => [w, i]));
  const find = (...names: string[]) => names.map((n) => index.get(n)).find((i) => i !== undefined);
  const unk = find('<unk>', '[UNK]', '<UNK>');
  const pad = find('<pad>', '[PAD]', '<PAD>') ?? 0;
  const ids = line.split(/\s+/).filter(Boolean).map((w) => {
    const id = index.get(w) ?? index.get(w.toLowerCase());
    if (id !== undefined) return id;
    if (unk === undefined) throw new UserError('data-shape', `word '${w}' is not in the vocabulary and the vocabulary has no <unk> token`);
    return unk;
  });
  return [...ids.slice(0, T), ...new Array(Math.max(0, T - ids.length)).fill(pad)];
}

/** A token session for a token-id model, or undefined for any other model. */
export async function openTokenSession(model: OnnxModel, dataPath: string | undefined, count: number, seed: number): Promise<TokenSession | undefined> {
  const info = findTokenEmbedding(model.model, model.file);
  if (!info) return undefined;
  const T = info.tokenDims.reduce((a, b) => a * b, 1);
  const vocabFile = vocabFileFor(model.file);
  const vocab = vocabFile ? await readVocab(vocabFile) : undefined;
  let ids: number[];
  let source: string;
  let texts: string[] | undefined;
  if (!dataPath) {
    const rand = new Random(seed);
    ids = Array.from({ length: count * T }, () => Math.min(info.vocabSize - 1, Math.floor(rand.uniform() * info.vocabSize)));
    source = `synthetic token ids U{0..${info.vocabSize - 1}}, seed ${seed}`;
  } else if (dataPath.endsWith('.npy')) {
    const t = await readNpy(dataPath);
    if (t.dtype !== 'int64' && t.dtype !== 'int32') throw new UserError('data-shape', `token samples must be an integer .npy of ids (got ${t.dtype})`, { file: dataPath });
    ids = Array.from(t.data as ArrayLike<number | bigint>, Number);
    if (ids.length % T !== 0) throw new UserError('data-shape', `${ids.length} token ids are not a whole number of sequences of ${T}`, { file: dataPath });
    source = dataPath;
  } else {
    if (!vocab) throw new UserError('data-shape', `text samples need a vocabulary beside the model (${path.basename(model.file).replace(/\.onnx$/i, '')}.vocab.txt or vocab.txt, one token per line)`, { file: dataPath });
    texts = (await readTextFile(dataPath, 'text samples file')).split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
    if (texts.length === 0) throw new UserError('data-shape', 'the text file has no non-empty line (one sample per line)', { file: dataPath });
    ids = texts.flatMap((l) => tokenize(l, vocab, T));
    source = `${dataPath} (whitespace tokens over ${vocabFile})`;
  }
  if (vocab && vocab.length !== info.vocabSize) throw new UserError('data-shape', `the vocabulary has ${vocab.length} tokens but the embedding matrix has ${info.vocabSize} rows`, { file: vocabFile });
  const data = embedTokens(model.model, info, ids);
  const E = embeddingMatrix(model.model, info);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of E) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const modelInfo: TokenModelInfo = {
    kind: 'token-ids',
    analysisSpace: 'embedding',
    note: `the input is token ids: x is the output of the embedding lookup ${info.matrix}[ids] (float [B, ${info.tokenDims}, ${info.dim}]), so J, the I²F, RMSE/PSNR and the spectrum are in embedding space; ${info.matrix} stays in θ`,
    tokenInput: info.inputName,
    embeddingMatrix: info.matrix,
    vocabSize: info.vocabSize,
    embeddingDim: info.dim,
    sequenceLength: T,
    ...(vocabFile ? { vocabFile } : {}),
    recoveryMetric: `nearest embedding row (${TOKEN_METRIC} distance) at each position of x0 + I(δ)`,
  };
  const word = (id: number) => (vocab ? vocab[id] : String(id));
  return {
    info,
    modelInfo,
    ids,
    vocab,
    samples: { data, count: ids.length / T, range: hi > lo ? hi - lo : 1, source },
    E,
    lo,
    hi,
    sampleDims: [...info.tokenDims, info.dim],
    modelFor: (first, size) => OnnxModel.fromModel(model.file, splitAtEmbedding(model.model, info, ids.slice(first * T, (first + size) * T), size)),
    recovery: (first, size, x, r) => {
      const det = r.cache.influenceDeterministic;
      const noise = r.cache.influenceNoise;
      const s = r.noise.std;
      const batchIds = ids.slice(first * T, (first + size) * T);
      // Each token's nearest row along x0 + I(δ_det) + s·I(z) (exact, tokens.ts noisePaths): the decode at the
      // configured s now, and at any other s later (a noise-only edit, the spectrum slider) without E.
      const paths = noisePaths(E, info.dim, Float64Array.from(x, (xi, i) => xi + (det ? det[i] : 0)), noise);
      const nearest = paths.map((p) => nearestAtStd(p, noise && s > 0 ? s : 0));
      const rows = <X>(a: X[]) => Array.from({ length: size }, (_, b) => a.slice(b * T, (b + 1) * T));
      return {
        metric: TOKEN_METRIC,
        ...tokenFractions(nearest, batchIds, T, first),
        reconstruction: reconstructionLabel(!!det, noise ? s : 0),
        std: s,
        alongNoise: paths.map((p) => (vocab ? { ...p, word: p.row.map(word) } : p)),
        ids: rows(batchIds),
        nearest: rows(nearest),
        ...(texts || vocab ? { text: rows(batchIds).map((r) => r.map(word).join(' ')), recoveredText: rows(nearest).map((r) => r.map(word).join(' ')) } : {}),
      };
    },
  };
}

/**
 * The nearest row (L2, TOKEN_METRIC) of a + s·b for every s ≥ 0, per token. ‖a + s b − E_r‖² = ‖a − E_r‖² − 2s b·E_r + (terms equal for
 * every row), so each row's score is a line in s and the nearest row follows the lower envelope of V lines: from
 * the nearest row at s = 0, the next is the row whose line crosses first among those with a smaller slope. Exact
 * (no sampling of s), at the cost of one nearest-row search per envelope segment. Ties go to the lowest row index,
 * as in recoverTokens. b = null (no Gaussian noise): one segment.
 */
export function noisePaths(E: Float64Array, dim: number, a: ArrayLike<number>, b: ArrayLike<number> | null): NoisePath[] {
  const V = E.length / dim;
  const tokens = a.length / dim;
  const out: NoisePath[] = [];
  const c = new Float64Array(V);
  const d = new Float64Array(V);
  for (let t = 0; t < tokens; t++) {
    for (let r = 0; r < V; r++) {
      let cr = 0;
      let dr = 0;
      for (let j = 0; j < dim; j++) {
        const e = E[r * dim + j];
        cr += (a[t * dim + j] - e) ** 2;
        if (b) dr -= 2 * b[t * dim + j] * e;
      }
      c[r] = cr;
      d[r] = dr;
    }
    let cur = 0;
    for (let r = 1; r < V; r++) if (c[r] < c[cur]) cur = r;
    const path: NoisePath = { std: [0], row: [cur] };
    let at = 0;
    for (;;) {
      let next = -1;
      let when = Infinity;
      for (let r = 0; r < V; r++) {
        if (!(d[r] < d[cur])) continue;
        const s = Math.max(at, (c[r] - c[cur]) / (d[cur] - d[r]));
        if (s < when || (s === when && d[r] < d[next])) {
          when = s;
          next = r;
        }
      }
      if (next < 0 || !Number.isFinite(when)) break;
      at = when;
      cur = next;
      path.std.push(when);
      path.row.push(cur);
    }
    out.push(path);
  }
  return out;
}

function reconstructionLabel(deterministic: boolean, std: number): string {
  return [deterministic ? 'x0 + I(δ_det)' : 'x0', std > 0 ? `+ ${std.toExponential(3)}·I(z) (one seeded Gaussian draw)` : ''].join(' ').trim();
}

/** The row a noise path gives at std s. */
export function nearestAtStd(p: NoisePath, s: number): number {
  return p.row[segmentAt(p, s)];
}

function segmentAt(p: NoisePath, s: number): number {
  let k = 0;
  while (k + 1 < p.std.length && p.std[k + 1] <= s) k++;
  return k;
}

/** A batch's token report at another Gaussian std (I(δ_det + s z) = I(δ_det) + s I(z)): decoded from its noise paths. */
export function tokensAtStd(t: TokenReport, std: number, first: number): TokenReport {
  if (std === t.std) return t;
  const T = t.perPosition.length;
  const ids = t.ids.flat();
  const k = (p: NoisePath) => segmentAt(p, std);
  const nearest = t.alongNoise.map((p) => p.row[k(p)]);
  const rows = <X>(v: X[]) => Array.from({ length: ids.length / T }, (_, b) => v.slice(b * T, (b + 1) * T));
  const words = t.alongNoise.every((p) => p.word) ? t.alongNoise.map((p) => p.word![k(p)]) : undefined;
  return {
    ...t,
    ...tokenFractions(nearest, ids, T, first),
    reconstruction: reconstructionLabel(t.reconstruction.startsWith('x0 + I(δ_det)'), std),
    std,
    nearest: rows(nearest),
    ...(t.recoveredText && words ? { recoveredText: rows(words).map((r) => r.join(' ')) } : {}),
  };
}

/**
 * The smallest Gaussian std s* such that for every s ≥ s* each sample keeps fewer than `below` of its tokens in place,
 * read exactly from the noise paths: the fractions only change at the paths' breakpoints, so the answer is the end
 * of the last interval between breakpoints where some sample still reaches `below` (0 if none does; ∞ if the last
 * one, out to s → ∞, does: along this draw no amount of noise pushes it below).
 */
export function noiseForTokens(t: TokenReport, below: number): number {
  const T = t.perPosition.length;
  const ids = t.ids.flat();
  const samples = ids.length / T;
  // Sweep the breakpoints in order, keeping each sample's hit count and how many samples reach `below` (O(E log E)).
  const hits = new Array(samples).fill(0);
  t.alongNoise.forEach((p, i) => { if (p.row[0] === ids[i]) hits[Math.floor(i / T)]++; });
  const reaching = (h: number) => h / T >= below;
  let count = hits.filter(reaching).length;
  const events = t.alongNoise.flatMap((p, i) => p.std.slice(1).map((s, k) => ({ s, i, row: p.row[k + 1], was: p.row[k] })));
  events.sort((a, b) => a.s - b.s);
  let answer = count > 0 ? Infinity : 0;
  for (let e = 0; e < events.length;) {
    const s = events[e].s;
    if (count > 0) answer = s; // some sample reached `below` on the interval that ends here
    for (; e < events.length && events[e].s === s; e++) {
      const { i, row, was } = events[e];
      const b = Math.floor(i / T);
      const before = reaching(hits[b]);
      hits[b] += (row === ids[i] ? 1 : 0) - (was === ids[i] ? 1 : 0);
      count += (reaching(hits[b]) ? 1 : 0) - (before ? 1 : 0);
    }
  }
  return count > 0 ? Infinity : answer === Infinity ? 0 : answer;
}

/**
 * Text models are graded on tokens (risk.ts): the level of the most exposed sample's recovered fraction; a result
 * that is uncertain (solve not converged, numbers not finite) stays uncertain.
 */
export function tokenRisk(psnrRisk: RiskLevel, t: TokenReport, thresholds: RiskThresholds = DEFAULT_RISK_THRESHOLDS): RiskLevel {
  if (psnrRisk === 'uncertain') return 'uncertain';
  return riskLevel({ psnr: Infinity, converged: true, tokensRecovered: mostExposedTokens(t).recovered }, thresholds);
}

/** The sample whose tokens come back best (ties: the first). */
export function mostExposedTokens(t: TokenReport): { sample: number; recovered: number } {
  return t.perSample.reduce((best, s) => (s.recovered > best.recovered ? s : best), t.perSample[0] ?? { sample: 0, recovered: t.recovered });
}

/**
 * The `samplesOf` hook of openRun (analyzeModel.ts) for token-id models: opens the token session and hands its
 * embedded samples to the run; `session()` is then the session, or undefined for any other model.
 */
export function tokenSamples(data: string | undefined, count: number | undefined, seed: number) {
  let session: TokenSession | undefined;
  return {
    samplesOf: async (model: OnnxModel, batch: number) => {
      session = await openTokenSession(model, data, count ?? batch, seed);
      return session ? { samples: session.samples, per: session.samples.data.length / session.samples.count } : undefined;
    },
    session: () => session,
  };
}

/** Token recovery of decoded rows against the true ids of a batch, per position and per sample. */
export function tokenFractions(nearest: readonly number[], ids: readonly number[], T: number, first: number) {
  const size = ids.length / T;
  const perPosition = Array.from({ length: T }, (_, j) => {
    let h = 0;
    for (let b = 0; b < size; b++) if (nearest[b * T + j] === ids[b * T + j]) h++;
    return size ? h / size : 0;
  });
  const perSample = Array.from({ length: size }, (_, b) => {
    let h = 0;
    for (let j = 0; j < T; j++) if (nearest[b * T + j] === ids[b * T + j]) h++;
    return { sample: first + b, recovered: h / T };
  });
  const recovered = ids.length ? perSample.reduce((a, s) => a + s.recovered, 0) / size : 0;
  return { recovered, perPosition, perSample };
}

/** Text-output lines for a token-id model (appended to formatAnalysisText's report by the CLI). */
export function formatTokenText(report: { model: { input?: TokenModelInfo }; results: { tokens?: TokenReport; rmse: number; samples: number[] }[] }): string {
  const info = report.model.input;
  if (!info) return '';
  const lines = [`Embedding space: ${info.note}.`];
  for (const r of report.results) {
    const t = r.tokens;
    if (!t) continue;
    const pos = t.perPosition.map((p) => `${Math.round(p * 100)}%`).join(' ');
    lines.push(`  samples ${r.samples.join(', ')}: an attacker recovers ${(t.recovered * 100).toFixed(1)}% of the tokens (${t.metric} nearest embedding row; per position ${pos}); embedding-space RMSE ${r.rmse.toPrecision(3)}`);
    if (t.text && t.recoveredText) t.text.forEach((s, i) => lines.push(`    "${s}" → "${t.recoveredText![i]}"`));
  }
  return lines.join('\n') + '\n';
}

// The verdict sweep (issue 15, "Done when"): on the DLG LeNet and the examples' MLP, the risk level the I²F finding
// gives against the level the project's own gradient-inversion attack reaches on the same setting (L2 and cosine
// objectives), for clip-only, Gaussian noise 1e-4…10 with and without per-example clipping, batch 1 and 4, and
// top-k after noise. A finding below the attack's level is wrong: the sweep counts those cases (must be zero), and
// findings that show a PSNR under the attacker's box floor without saying the prediction is out of range.
//
// The grading constants (engine/validity.ts) were set on the LeNet and the MLP; `--heldout` runs the same grid on
// models they were not set on (the fixtures' ResNet-8 on the examples' pictures, smooth_cnn and the ViT on their own
// inputs) to check them on held-out material.
//
//   node --import tsx bench/verdictSweep.ts [--quick] [--heldout] [--json] [--only=TEXT] [--from=INDEX] [--out=FILE]
//                                           [--attack-cache=FILE] [--fresh]   (npm run bench runs the full one)
// Rows that differ only in a Gaussian or DP-SGD noise scale are answered from one analysis per structure, as the
// product re-answers a noise-only edit (ResponseCache below); --fresh analyses every row on its own.
// --attack-cache keeps each attack's result by model, batch, defences, seed and settings, so that a change to the
// grading re-runs only the (cheap) findings; leave it out for a run whose attacks must all be fresh.
// test/unit/analysis/verdictSweep.test.ts runs the quick, seeded subset.

import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { analyzeModel } from '../server/src/analysis/analyzeModel';
import { attackModel, type AttackSettings } from '../server/src/analysis/attack';
import { riskLevel, type RiskLevel } from '../server/src/engine/risk';
import { evaluateNoiseScale, type NoiseResponse } from '../server/src/engine/influence';

const ROOT = path.join(__dirname, '..');
const EXAMPLES = path.join(ROOT, 'examples');
const FIXTURES = path.join(ROOT, 'test/fixtures/models');

export interface SweepModel { name: string; model: string; data: string; labels?: string }

export type SweepModelKey = 'lenet' | 'mlp' | 'resnet8' | 'smooth_cnn' | 'vit_tiny';

export const SWEEP_MODELS: Record<SweepModelKey, SweepModel> = {
  // The DLG LeNet (4 × conv 5×5, sigmoid, U(−0.5, 0.5)) on the examples' 32×32 pictures.
  lenet: { name: 'DLG LeNet', model: path.join(EXAMPLES, 'models/lenet.onnx'), data: path.join(EXAMPLES, 'data/images') },
  // The examples' MLP (784 → 256 sigmoid → 10) on its digits.
  mlp: { name: 'examples MLP', model: path.join(EXAMPLES, 'models/mlp.onnx'), data: path.join(EXAMPLES, 'data/digits.npy') },
  // Held out (the grading constants were not set on these): the fixtures' CIFAR ResNet-8 (BatchNorm, ReLU, residual)
  // on the examples' 32×32 pictures; smooth_cnn (tanh, dilated grouped conv, avg-pool) and the tiny ViT (attention,
  // GELU, LayerNorm) on their own fixture inputs and labels (test/fixtures/models/README.md).
  resnet8: { name: 'ResNet-8', model: path.join(FIXTURES, 'resnet8/model.onnx'), data: path.join(EXAMPLES, 'data/images') },
  smooth_cnn: { name: 'smooth_cnn', model: path.join(FIXTURES, 'smooth_cnn/model.onnx'), data: path.join(FIXTURES, 'smooth_cnn/x.npy'), labels: path.join(FIXTURES, 'smooth_cnn/labels.npy') },
  vit_tiny: { name: 'ViT-tiny', model: path.join(FIXTURES, 'vit_tiny/model.onnx'), data: path.join(FIXTURES, 'vit_tiny/x.npy'), labels: path.join(FIXTURES, 'vit_tiny/labels.npy') },
};

export interface SweepCase {
  model: SweepModelKey;
  batch: number;
  defences: string[];
  /**
   * false: analyse without the quick fix's target (no noise solve). Only for a noise-free row, whose verdict does not
   * depend on the noise solve (a stalled one leaves it as it is, engine/influence.ts deterministicConverged); the
   * LeNet's at batch 4 costs ~5 CPU-minutes, too much for the unit test.
   */
  advice?: false;
}

export interface SweepAttack { label: string; settings: AttackSettings }

/** The attacks a finding is held against: DLG's L2 matching and Inverting Gradients' cosine objective. */
export function sweepAttacks(quick: boolean): SweepAttack[] {
  return [
    { label: 'l2/lbfgs', settings: { optimizer: 'lbfgs', objective: 'l2', steps: quick ? 150 : 300, tv: 0, restarts: 1 } },
    { label: 'cosine/lbfgs', settings: { optimizer: 'lbfgs', objective: 'cosine', steps: quick ? 150 : 300, tv: 0, restarts: 1 } },
    ...(quick ? [] : [{ label: 'cosine/adam', settings: { optimizer: 'adam', objective: 'cosine', steps: 1000, tv: 0, restarts: 1, box: true } } as SweepAttack]),
  ];
}

const NOISE = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10];

/** The full grid: both models, batch 1 and 4, clip-only, noise with and without clipping, top-k after noise. */
export function sweepCases(quick: boolean): SweepCase[] {
  if (quick) {
    // The cases the old model got wrong or that exercise a new rule, on the cheap side (the MLP's solves are short;
    // the LeNet's clip-only cases need no solve for their verdict, δ = 0): clipping, noise in and out of the regime,
    // batch 1 and 4 on both models, top-k after noise.
    return [
      { model: 'lenet', batch: 1, defences: ['dpsgd:clip=1,noise=0'] },
      { model: 'lenet', batch: 4, defences: ['dpsgd:clip=1,noise=0'], advice: false },
      // The close call that set the 6.0 dB out-of-regime spread: L2 reached 17.3 dB where the prediction said 12.2.
      { model: 'lenet', batch: 1, defences: ['gaussian:std=0.001'] },
      { model: 'mlp', batch: 1, defences: ['dpsgd:clip=1,noise=0'] },
      { model: 'mlp', batch: 1, defences: ['gaussian:std=0.001'] },
      { model: 'mlp', batch: 4, defences: ['dpsgd:clip=1,noise=0.01'] },
      { model: 'mlp', batch: 1, defences: ['gaussian:std=0.0001', 'topk:ratio=0.1'] },
    ];
  }
  const out: SweepCase[] = [];
  for (const model of ['mlp', 'lenet'] as const) {
    for (const batch of [1, 4]) {
      out.push({ model, batch, defences: ['dpsgd:clip=1,noise=0'] });
      for (const s of NOISE) {
        out.push({ model, batch, defences: [`gaussian:std=${s}`] });
        out.push({ model, batch, defences: [`dpsgd:clip=1,noise=${s}`] });
      }
      for (const s of [1e-4, 1e-2]) out.push({ model, batch, defences: [`gaussian:std=${s}`, 'topk:ratio=0.1'] });
    }
  }
  return out;
}

/**
 * The held-out grid (the grading constants were set on the LeNet and the MLP): clip-only, noise 1e-4…1 with and
 * without clipping (10 is the box floor everywhere above), top-k after noise; batch 1, and the pictures' batch of 4 on
 * ResNet-8 and smooth_cnn's batch of 2.
 */
export function heldOutCases(): SweepCase[] {
  const out: SweepCase[] = [];
  for (const [model, batches] of [['smooth_cnn', [1, 2]], ['vit_tiny', [1]], ['resnet8', [1, 4]]] as const) {
    for (const batch of batches) {
      out.push({ model, batch, defences: ['dpsgd:clip=1,noise=0'] });
      for (const s of NOISE.slice(0, 5)) {
        out.push({ model, batch, defences: [`gaussian:std=${s}`] });
        out.push({ model, batch, defences: [`dpsgd:clip=1,noise=${s}`] });
      }
      out.push({ model, batch, defences: ['gaussian:std=0.0001', 'topk:ratio=0.1'] });
    }
  }
  return out;
}

/** Attack results kept by setting (--attack-cache): the key holds everything the attack's outcome depends on. */
export type AttackCache = Map<string, SweepRow['attacks'][number]>;

function attackKey(c: SweepCase, a: SweepAttack, seed: number): string {
  return JSON.stringify([c.model, c.batch, c.defences, seed, a.label, a.settings]);
}

export interface SweepRow {
  model: string;
  batch: number;
  defences: string[];
  finding: { risk: RiskLevel; psnr: number; mostExposedPsnr: number; gradedPsnr: number; deltaRatio: number; firstOrder: boolean; outOfRange: boolean; rawPsnr: number; boxFloorPsnr?: number };
  attacks: { label: string; risk: RiskLevel; bestSamplePsnr: number; psnr: number; ms: number }[];
  attackRisk: RiskLevel;
  /** The attack reaches a higher level than the finding: the finding is wrong. */
  wrong: boolean;
  /** The finding shows a PSNR below the box floor without saying it is out of range. */
  unflaggedBelowFloor: boolean;
}

const ORDER: Record<RiskLevel, number> = { uncertain: -1, low: 0, medium: 1, high: 2 };

/**
 * Noise responses kept by (model, batch, structure): a single Gaussian or DP-SGD defence differs between rows only in
 * its noise scale, which the product itself answers without products from one analysis (I(δ_det + s z) = I(δ_det) +
 * s I(z), engine/influence.ts evaluateNoiseScale; the audit's and the editor's noise-only re-answers). The same seeded
 * draw and trace samples as a fresh analysis at that scale; test/unit/analysis/verdictSweep.test.ts checks the two
 * agree. Rows with a compression after the noise (whose mask depends on the noise) are always analysed afresh.
 */
export type ResponseCache = Map<string, NoiseResponse>;

function rescalable(c: SweepCase): { key: string; structural: string; std: (noiseScale: number) => number } | undefined {
  if (c.defences.length !== 1) return undefined;
  const g = /^gaussian:std=([^,]+)$/.exec(c.defences[0]);
  if (g) return { key: `${c.model} B${c.batch} gaussian`, structural: 'gaussian:std=1e-4', std: () => Number(g[1]) };
  const d = /^dpsgd:clip=([^,]+),noise=([^,]+)$/.exec(c.defences[0]);
  // DP-SGD: std σ·C/B on the mean, seen against the clipped gradient (÷ c_max), as noiseRescale.ts configuredVariance.
  if (d) return { key: `${c.model} B${c.batch} dpsgd C=${d[1]}`, structural: `dpsgd:clip=${d[1]},noise=0`, std: (scale) => (Number(d[2]) * Number(d[1])) / (c.batch * scale) };
  return undefined;
}

export async function runSweepCase(c: SweepCase, attacks: SweepAttack[], seed = 0, cache?: AttackCache, responses?: ResponseCache): Promise<SweepRow> {
  const m = SWEEP_MODELS[c.model];
  const common = { model: m.model, data: m.data, ...(m.labels ? { labels: m.labels } : {}), batch: c.batch, defences: c.defences, seed, loss: 'cross-entropy' as const, maxSamples: c.batch };
  // The finding's numbers: the same request the audit sends (configFindings.analyzeRequestFor: 2 trace samples).
  const request = { ...common, damping: 0, spectrumK: 0, ...(c.advice === false ? {} : { targetPsnr: 15 }), traceSamples: 2 };
  const r = responses ? rescalable(c) : undefined;
  let finding: SweepRow['finding'];
  if (r) {
    let response = responses!.get(r.key);
    if (!response) {
      await analyzeModel({ ...request, defences: [r.structural] }, { onInfluence: (_, res) => (response = res.cache) });
      responses!.set(r.key, response!);
    }
    const e = evaluateNoiseScale(response!, r.std(response!.validity?.clipping?.noiseScale ?? 1));
    const v = e.validity;
    finding = {
      risk: e.risk, psnr: e.expectedPsnr, mostExposedPsnr: e.mostExposed?.psnr ?? e.expectedPsnr, gradedPsnr: v.gradedPsnr,
      deltaRatio: v.deltaRatio, firstOrder: v.firstOrder, outOfRange: v.outOfRange, rawPsnr: v.rawPsnr, boxFloorPsnr: v.boxFloorPsnr,
    };
  } else {
    const report = await analyzeModel(request);
    const b = report.results[0];
    const v = b.validity!;
    finding = {
      risk: b.risk, psnr: b.i2fExpected !== undefined ? b.expectedPsnr : b.psnr, mostExposedPsnr: b.mostExposed?.psnr ?? b.psnr, gradedPsnr: v.gradedPsnr,
      deltaRatio: v.deltaRatio, firstOrder: v.firstOrder, outOfRange: v.outOfRange, rawPsnr: v.rawPsnr, boxFloorPsnr: v.boxFloorPsnr,
    };
  }
  const floor = finding.boxFloorPsnr ?? 20 * Math.log10(2);
  const rows: SweepRow['attacks'] = [];
  for (const a of attacks) {
    const kept = cache?.get(attackKey(c, a, seed));
    if (kept) {
      rows.push(kept);
      continue;
    }
    const t0 = performance.now();
    const r = await attackModel({ ...common, attack: a.settings });
    const res = r.results[0];
    const best = Math.max(...res.perSample.map((p) => p.psnr));
    rows.push({ label: a.label, risk: riskLevel({ psnr: best, converged: true }), bestSamplePsnr: best, psnr: res.psnr, ms: Math.round(performance.now() - t0) });
    cache?.set(attackKey(c, a, seed), rows[rows.length - 1]);
  }
  const attackRisk = rows.reduce<RiskLevel>((w, r) => (ORDER[r.risk] > ORDER[w] ? r.risk : w), 'low');
  const shown = [finding.psnr, finding.mostExposedPsnr];
  return {
    model: m.name, batch: c.batch, defences: c.defences, finding, attacks: rows, attackRisk,
    wrong: finding.risk !== 'uncertain' && ORDER[attackRisk] > ORDER[finding.risk],
    unflaggedBelowFloor: shown.some((p) => p < floor - 1e-9) && !finding.outOfRange,
  };
}

export function formatSweep(rows: SweepRow[]): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : String(x));
  const lines = ['model         B  defences                                   ‖δ‖/‖g‖   finding (PSNR, raw, graded)                  attack best sample (L2 | cosine…)   verdict'];
  for (const r of rows) {
    lines.push(`${r.model.padEnd(13)} ${String(r.batch).padEnd(2)} ${r.defences.join(' then ').padEnd(42)} ${r.finding.deltaRatio.toExponential(1).padEnd(9)} ${`${r.finding.risk.toUpperCase()} ${f(r.finding.mostExposedPsnr)} dB (raw ${f(r.finding.rawPsnr)}, graded ${f(r.finding.gradedPsnr)})${r.finding.firstOrder ? '' : ' *'}`.padEnd(44)} ${r.attacks.map((a) => `${a.risk} ${f(a.bestSamplePsnr)}`).join(' | ').padEnd(35)} ${r.wrong ? 'WRONG' : 'ok'}${r.unflaggedBelowFloor ? ' BELOW-FLOOR' : ''}`);
  }
  const wrong = rows.filter((r) => r.wrong).length;
  lines.push(`${rows.length} settings: ${wrong} finding(s) below the attack's level, ${rows.filter((r) => r.unflaggedBelowFloor).length} unflagged below the box floor (* outside the first-order regime)`);
  return lines.join('\n');
}

async function main() {
  const quick = process.argv.includes('--quick');
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
  const attacks = sweepAttacks(quick);
  const from = Number(process.argv.find((a) => a.startsWith('--from='))?.slice(7) ?? 0);
  const cacheFile = process.argv.find((a) => a.startsWith('--attack-cache='))?.slice(15);
  const cache: AttackCache = new Map(cacheFile ? Object.entries(JSON.parse(await readFile(cacheFile, 'utf8').catch(() => '{}'))) : []);
  const cases = process.argv.includes('--heldout') ? heldOutCases() : sweepCases(quick);
  // --fresh: analyse every row afresh instead of re-answering noise scales from one analysis per structure.
  const responses: ResponseCache | undefined = process.argv.includes('--fresh') ? undefined : new Map();
  const rows: SweepRow[] = [];
  for (const c of cases.slice(from)) {
    if (only && !`${c.model} ${c.batch} ${c.defences.join(' ')}`.includes(only)) continue;
    const r = await runSweepCase(c, attacks, 0, cache, responses);
    if (cacheFile) await writeFile(cacheFile, JSON.stringify(Object.fromEntries(cache), null, 1) + '\n');
    rows.push(r);
    if (!process.argv.includes('--json')) console.log(formatSweep([r]).split('\n')[1]);
  }
  console.log(process.argv.includes('--json') ? JSON.stringify(rows, null, 1) : formatSweep(rows));
  const out = process.argv.find((a) => a.startsWith('--out='))?.slice(6);
  if (out) await writeFile(out, JSON.stringify(rows, null, 1) + '\n');
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });

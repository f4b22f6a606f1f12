// The cheap config rules (I2F.md "Cheap configuration rules"): instant findings that need no model and no I²F job.

import type { ConfigSyntaxError, Range } from './keyTree';
import { RULES, ruleByCode, ruleDocumentation, type RuleInfo, type RuleSeverity } from './ruleCatalog';
import { effectiveBatchSize, type ConfigField, type TrainingSetup } from './trainingSetup';

export interface RuleFinding {
  code: string;
  severity: RuleSeverity;
  message: string;
  file: string;
  range: Range;
  /** Repository-relative documentation link, e.g. 'docs/rules.md#i2f101-clipping-without-noise'. */
  documentation: string;
  /** The config key the finding is about, dotted. */
  key?: string;
  /**
   * In a Jupyter notebook (`range` is then the place in the .ipynb JSON): the cell, numbered as Jupyter and ruff do
   * (1-based over all cells), and the 0-based range in that cell. Set by the audit for its reports.
   */
  cell?: { cell: number; range: Range };
}

export interface RuleOptions {
  /**
   * The model's operator types (ONNX op_type names, e.g. 'Conv', 'BatchNormalization'), when the model has
   * been read. Only the BatchNorm rule needs it; without it that rule stays silent.
   */
  modelOps?: string[];
}

/** δ above this is flagged even when N is unknown (I2F118): 1/N for any real data set is far below it. */
export const DELTA_LIMIT = 1e-3;

/** Opacus FAQ: noise multipliers much below 0.1 give little privacy, much above 2 rarely train. */
export const NOISE_MULTIPLIER_RANGE = { low: 0.1, high: 2 } as const;

const BATCH_NORM_OPS = /^(BatchNormalization|BatchNorm(1d|2d|3d)?|SyncBatchNorm|FusedBatchNorm(V\d)?)$/i;

function finding(rule: RuleInfo, file: string, range: Range, message: string, key?: string): RuleFinding {
  return { code: rule.code, severity: rule.severity, message, file, range, documentation: ruleDocumentation(rule), ...(key ? { key } : {}) };
}

function show(x: number): string {
  return String(Number(x.toPrecision(6)));
}

/** A malformed config, as a finding on the place the parser stopped. */
export function syntaxFinding(error: ConfigSyntaxError): RuleFinding {
  // A Jupyter notebook that mentions a DP library but is broken JSON, no notebook or not Python (pysource/notebookReading.ts).
  const rule = error.error.code === 'notebook-not-read' ? RULES.notebookNotRead : RULES.syntax;
  return finding(rule, error.file, error.range, error.error.message);
}

export function checkTrainingSetup(setup: TrainingSetup, options: RuleOptions = {}): RuleFinding[] {
  const out: RuleFinding[] = [];
  const at = (rule: RuleInfo, f: ConfigField<unknown>, message: string, on: 'key' | 'value' = 'value'): void => {
    out.push(finding(rule, setup.file, on === 'key' ? f.keyRange : f.valueRange, message, f.key));
  };

  // Problems found while reading values (wrong type, unresolved reference, missing or PyTorch model file).
  for (const p of setup.problems) {
    const rule = ruleByCode(p.rule) ?? RULES.invalidValue;
    out.push(finding(rule, setup.file, p.range, p.message, p.key));
  }

  const dpOff = setup.dpEnabled?.value === false;
  const sigma = setup.noiseMultiplier;
  const clip = setup.clippingNorm;

  if (dpOff && (sigma || (clip && setup.clippingScope !== 'per-batch') || setup.targetEpsilon)) {
    at(
      RULES.dpDisabled,
      setup.dpEnabled!,
      `DP is switched off here, so the noise and clipping settings in this file are not applied: shared gradients are exact and invertible.`,
    );
  }

  // I2F101: per-example (or per-update) clipping with nothing that adds noise is not DP (I2F.md, Defences → δ).
  // In Python, a noise argument set at run time is reported as such (I2F141), not as missing.
  const noiseAtRunTime = setup.format === 'python' && setup.problems.some((p) => p.rule === RULES.codeValueAtRunTime.code && /noise|stddev/.test(p.key ?? ''));
  const noiseFromElsewhere = setup.noiseStd || setup.targetEpsilon || setup.relativeNoise || setup.noiseInCode || noiseAtRunTime;
  if (!dpOff && clip && clip.value > 0 && setup.clippingScope !== 'per-batch' && !sigma && !noiseFromElsewhere) {
    at(
      RULES.clippingWithoutNoise,
      clip,
      `'${lastKey(clip)}' = ${show(clip.value)} clips gradients but no noise multiplier is set: clipping alone is not differential privacy, and a clipped gradient can still be inverted. Add a noise multiplier (e.g. noise_multiplier: 1.0).`,
      'key',
    );
  }

  // I2F115: DP configured here, its noise set in the code that reads this file.
  if (!dpOff && setup.noiseInCode) {
    const f = setup.noiseInCode;
    at(
      RULES.noiseInCode,
      f,
      `Noise set in code: this file sets '${lastKey(f)}' but no noise multiplier; the app's code chooses the noise (a Flower app reads these values from its run config). Add it to the i2f: section to analyse it ([tool.i2f] noise-multiplier = …); until then the update is analysed without noise.`,
      'key',
    );
  }

  // I2F102: σ outside about 0.1–2 (Opacus FAQ). σ = 0 is the extreme case: no noise at all.
  for (const sigma of [setup.noiseMultiplier, setup.centralDp?.noiseMultiplier]) {
    if (dpOff || !sigma) continue;
    const s = sigma.value;
    if (s === 0) {
      at(RULES.noiseMultiplierRange, sigma, `Noise multiplier 0 adds no noise: the shared gradient is only clipped, not private.`);
    } else if (s < NOISE_MULTIPLIER_RANGE.low) {
      at(
        RULES.noiseMultiplierRange,
        sigma,
        `Noise multiplier ${show(s)} is below ${NOISE_MULTIPLIER_RANGE.low}: the noise (std σ·C) is small next to the clipped gradients and gives little protection against inversion.`,
      );
    } else if (s > NOISE_MULTIPLIER_RANGE.high) {
      at(
        RULES.noiseMultiplierRange,
        sigma,
        `Noise multiplier ${show(s)} is above ${NOISE_MULTIPLIER_RANGE.high}: models rarely train well with this much noise (Opacus FAQ); check it is σ and not a noise std.`,
      );
    }
  }

  // I2F103: δ ≥ 1/N allows releasing a whole example outright, so the (ε, δ) guarantee means nothing.
  const delta = setup.targetDelta;
  const n = setup.datasetSize;
  for (const d of [delta, setup.centralDp?.targetDelta]) {
    // I2F118: above 1e-3 whatever N is: no data set is so small that δ = 0.1 (FedML's examples) means privacy.
    if (d && d.value > DELTA_LIMIT && !(n && d.value >= 1 / n.value)) {
      at(
        RULES.deltaAboveLimit,
        d,
        `DP delta ${show(d.value)} is above ${DELTA_LIMIT}: the (ε, δ) guarantee allows a ${show(d.value)} chance of publishing examples outright. Use δ well below 1/N, the number of training examples (1e-5 for 100,000 examples).`,
      );
    }
  }
  if (delta && n && delta.value >= 1 / n.value) {
    at(
      RULES.deltaTooLarge,
      delta,
      `DP delta ${show(delta.value)} is not below 1/N = 1/${n.value} = ${show(1 / n.value)}: a mechanism that publishes one training example outright meets this δ. Use δ well below 1/N (e.g. ${show(Math.pow(10, Math.floor(Math.log10(1 / n.value)) - 1))}).`,
    );
  }

  // I2F104: TF Privacy reshapes the batch into microbatches; it fails unless they divide the batch.
  const micro = setup.microbatches;
  const batch = setup.batchSize;
  if (micro && batch && batch.value % micro.value !== 0) {
    at(
      RULES.microbatchesDivide,
      micro,
      `${micro.value} microbatches do not divide the batch size ${batch.value}: TF Privacy needs batch_size % num_microbatches == 0 (e.g. ${divisorsNear(batch.value, micro.value)}).`,
    );
  }

  // I2F105: one example per shared gradient is the easiest case for gradient inversion.
  const b = effectiveBatchSize(setup);
  if (batch && b === 1) {
    at(
      RULES.batchSizeOne,
      batch,
      `Batch size 1: every shared gradient comes from a single example, the case gradient inversion rebuilds best. Larger batches help against inversion (a separate effect from DP accounting, where they cost ε).`,
    );
  }

  // I2F106: BatchNorm mixes examples, so per-example gradients (and their clipping) are undefined.
  const perExampleDp = !dpOff && setup.clippingScope === 'per-example' && (clip || sigma);
  const dpField = clip ?? sigma;
  const bn = options.modelOps?.find((op) => BATCH_NORM_OPS.test(op));
  if (perExampleDp && dpField && bn) {
    at(
      RULES.batchNormWithDp,
      dpField,
      `The model has ${bn} layers, which mix examples within a batch, so per-example clipping is not defined (Opacus' validator rejects them). Replace them with GroupNorm (opacus.validators.ModuleValidator.fix does this).`,
      'key',
    );
  }

  // Server-side noise (Flower's DP wrappers, FedML central DP, FLSim's server privacy_setting) protects the
  // aggregate, not updates from the server: who sees what is threatModel.ts's business, said here once.
  const secagg = setup.secureAggregation
    ? ` Secure aggregation ('${lastKey(setup.secureAggregation)}') hides single updates, yet the server still sees their sum before its noise.`
    : ` Without secure aggregation the server sees each client's update as sent.`;
  const centralField = setup.dpSite === 'server' ? (setup.dpSolutionType ?? sigma ?? setup.noiseStd) : setup.centralDp?.noiseMultiplier;
  const centralSigma = setup.dpSite === 'server' ? sigma : setup.centralDp?.noiseMultiplier;
  if (!dpOff && centralField && centralSigma?.value !== 0) {
    const who = setup.flavour === 'flower' ? 'Flower adds this noise' : setup.flavour === 'fedml' ? `Central DP ('${setup.dpSolutionType?.value ?? 'cdp'}') adds the noise` : 'This noise is added';
    at(
      RULES.serverSideNoise,
      centralField,
      `${who} on the server, after it has received each client's update: it protects what observers of the aggregate see, not a client's update from the server.${secagg}${setup.flavour === 'fedml' ? " Use 'ldp' to protect updates from the server itself." : ' Add noise on the client (local DP) to protect updates from the server itself.'}`,
      centralField === setup.dpSolutionType ? 'value' : 'key',
    );
  }

  for (const u of setup.unmodelled) {
    const f = u.fields[0];
    if (f) at(RULES.defenceNotModelled, f, `${u.name} recognised, but ${u.reason}`, 'key');
  }

  return out.sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character);
}

function lastKey(f: ConfigField<unknown>): string {
  return f.path[f.path.length - 1];
}

/** Divisors of the batch nearest the requested microbatch count, as suggestions. */
function divisorsNear(batch: number, micro: number): string {
  const divisors: number[] = [];
  // Bounded: a config's batch_size: 1e300 once kept this loop (and the server's main thread) busy for ever.
  for (let d = 1; d * d <= batch && d <= 1_000_000; d++) if (batch % d === 0) divisors.push(d, batch / d);
  divisors.sort((x, y) => Math.abs(x - micro) - Math.abs(y - micro));
  return divisors.slice(0, 2).sort((x, y) => x - y).join(' or ');
}

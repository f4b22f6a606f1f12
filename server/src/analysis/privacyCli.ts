// `i2f privacy`: DP-SGD's (ε, δ) by the RDP accountant from the command line, or the noise for a target ε, or the steps a budget allows.

import { parseArgs } from 'node:util';
import { defaultDelta } from '../config/accountingInputs';
import { noiseForEpsilon, stepsForEpsilon } from '../privacy/inverse';
import { rdpEpsilon } from '../privacy/rdpAccountant';
import { formatDelta } from './privacyAccount';

export const PRIVACY_USAGE = `  i2f privacy --noise-multiplier S (--sample-rate Q | --batch B --dataset-size N)
                    (--steps T | --epochs E) [--delta D] [--json]
                    (ε at δ by the RDP accountant; δ defaults to 1/N rounded down to a power of ten)
  i2f privacy --target-epsilon E (--sample-rate Q | --batch B --dataset-size N) (--steps T | --epochs E)
                    [--delta D] [--json]          (the noise multiplier that meets ε)
  i2f privacy --target-epsilon E --noise-multiplier S (--sample-rate Q | --batch B --dataset-size N)
                    [--delta D] [--json]          (the steps and epochs ε allows)
`;

export class PrivacyUsageError extends Error {}

interface Io {
  out: NodeJS.WritableStream;
}

function positive(name: string, v: string | undefined, opts: { int?: boolean; max?: number; min0?: boolean } = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  const ok = Number.isFinite(n) && (opts.min0 ? n >= 0 : n > 0) && (!opts.int || Number.isInteger(n)) && (opts.max === undefined || n <= opts.max);
  if (!ok) {
    const what = opts.int ? 'a whole number' : 'a number';
    throw new PrivacyUsageError(`--${name} expects ${what} ${opts.min0 ? '≥ 0' : '> 0'}${opts.max !== undefined ? ` and ≤ ${opts.max}` : ''}, got '${v}'`);
  }
  return n;
}

export async function privacyCommand(args: string[], io: Io = { out: process.stdout }): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'noise-multiplier': { type: 'string' },
      'sample-rate': { type: 'string' },
      steps: { type: 'string' },
      delta: { type: 'string' },
      batch: { type: 'string' },
      'dataset-size': { type: 'string' },
      epochs: { type: 'string' },
      'target-epsilon': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length) throw new PrivacyUsageError(`unexpected argument '${positionals[0]}'\n\n${PRIVACY_USAGE}`);
  const sigma = positive('noise-multiplier', values['noise-multiplier'], { min0: true });
  const rate = positive('sample-rate', values['sample-rate'], { max: 1 });
  const givenSteps = positive('steps', values.steps, { int: true, min0: true });
  const batch = positive('batch', values.batch, { int: true });
  const n = positive('dataset-size', values['dataset-size'], { int: true });
  const epochs = positive('epochs', values.epochs);
  const target = positive('target-epsilon', values['target-epsilon']);
  const givenDelta = values.delta === undefined ? undefined : Number(values.delta);
  if (givenDelta !== undefined && !(givenDelta > 0 && givenDelta < 1)) throw new PrivacyUsageError(`--delta expects a number strictly between 0 and 1, got '${values.delta}'`);

  // q: given, or B/N (Poisson sampling's expected batch over the dataset).
  if (rate === undefined && (batch === undefined || n === undefined)) throw new PrivacyUsageError(`give --sample-rate Q, or --batch B and --dataset-size N\n\n${PRIVACY_USAGE}`);
  if (rate !== undefined && batch !== undefined && n !== undefined) throw new PrivacyUsageError('give --sample-rate or --batch with --dataset-size, not both');
  if (batch !== undefined && n !== undefined && batch > n) throw new PrivacyUsageError(`--batch ${batch} is larger than --dataset-size ${n}`);
  const q = rate ?? batch! / n!;
  const qHow = rate !== undefined ? `${rate} (--sample-rate)` : `${batch} / ${n} (--batch / --dataset-size)`;
  const perEpoch = batch !== undefined && n !== undefined ? Math.ceil(n / batch) : Math.ceil(1 / q);
  const perEpochHow = batch !== undefined && n !== undefined ? `⌈${n} / ${batch}⌉` : '⌈1 / q⌉';

  // δ: given, or 1/N rounded down to a power of ten (said so).
  if (givenDelta === undefined && n === undefined) throw new PrivacyUsageError('give --delta D (or --dataset-size N, for δ = 1/N rounded down to a power of ten)');
  const delta = givenDelta ?? defaultDelta(n!);
  const deltaHow = givenDelta !== undefined ? `${formatDelta(givenDelta)} (--delta)` : `${formatDelta(delta)}: no --delta, so 1/${n} rounded down to a power of ten`;

  const budgetMode = target !== undefined && sigma !== undefined;
  let steps: number | undefined;
  let stepsHow = '';
  if (!budgetMode) {
    if (givenSteps !== undefined && epochs !== undefined) throw new PrivacyUsageError('give --steps or --epochs, not both');
    if (givenSteps === undefined && epochs === undefined) throw new PrivacyUsageError(`give --steps T or --epochs E\n\n${PRIVACY_USAGE}`);
    steps = givenSteps ?? Math.ceil(epochs! * perEpoch);
    stepsHow = givenSteps !== undefined ? `${givenSteps} (--steps)` : `${epochs} epochs × ${perEpochHow} = ${steps}`;
  }
  const derivation = { sampleRate: qHow, steps: stepsHow, delta: deltaHow };
  const write = (json: unknown, text: string[]) => io.out.write(values.json ? `${JSON.stringify(json, null, 2)}\n` : `${text.join('\n')}\n`);

  if (budgetMode) {
    const budget = stepsForEpsilon(target!, delta, q, sigma!, perEpoch);
    const json = { accountant: 'rdp', targetEpsilon: target, delta, sampleRate: q, noiseMultiplier: sigma, steps: budget.steps, epochs: budget.epochs, stepsPerEpoch: perEpoch, derivation: { sampleRate: qHow, stepsPerEpoch: `${perEpochHow} = ${perEpoch}`, delta: deltaHow } };
    write(json, [
      `ε ≤ ${target} at δ = ${formatDelta(delta)} allows ${Number.isFinite(budget.steps) ? budget.steps : '∞'} steps = ${budget.epochs ?? '∞'} epochs of ${perEpoch} steps (RDP accountant, noise multiplier ${sigma}, q = ${q})`,
      `  q = ${qHow}`,
      `  steps per epoch = ${perEpochHow} = ${perEpoch}`,
      `  δ = ${deltaHow}`,
    ]);
    return 0;
  }
  if (target !== undefined) {
    const found = noiseForEpsilon(target, delta, q, steps!);
    if (found.kind === 'unreachable') {
      const json = { accountant: 'rdp', targetEpsilon: target, delta, sampleRate: q, steps, noiseMultiplier: null, reason: found.reason, derivation };
      write(json, [`No noise multiplier meets ε ${target} at δ = ${formatDelta(delta)}: ${found.reason}.`]);
      return 1;
    }
    const json = { accountant: 'rdp', epsilon: found.epsilon, delta, order: found.order, steps, sampleRate: q, noiseMultiplier: found.noiseMultiplier, targetEpsilon: target, derivation };
    write(json, [
      `noise multiplier ${found.noiseMultiplier.toPrecision(6)} meets ε ≤ ${target} at δ = ${formatDelta(delta)} (RDP accountant: ε = ${found.epsilon.toPrecision(6)}, order ${found.order}, ${steps} steps, q = ${q})`,
      `  q = ${qHow}`,
      `  steps = ${stepsHow}`,
      `  δ = ${deltaHow}`,
    ]);
    return 0;
  }
  if (sigma === undefined) throw new PrivacyUsageError(`give --noise-multiplier S (or --target-epsilon E for the noise that meets it)\n\n${PRIVACY_USAGE}`);
  const spent = rdpEpsilon({ sampleRate: q, noiseMultiplier: sigma, steps: steps! }, delta);
  write({ ...spent, derivation }, [
    `ε = ${spent.epsilon.toPrecision(6)} at δ = ${formatDelta(delta)} (RDP accountant, order ${spent.order}, ${steps} steps, q = ${q}, noise multiplier ${sigma})`,
    `  q = ${qHow}`,
    `  steps = ${stepsHow}`,
    `  δ = ${deltaHow}`,
  ]);
  return 0;
}

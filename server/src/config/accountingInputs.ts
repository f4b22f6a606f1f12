// What a recognised training setup gives a privacy accountant: q, steps and δ, how each was derived, or which key is missing.

import type { ConfigFormat } from './keyTree';
import type { ConfigField, TrainingSetup, UnreadInput } from './trainingSetup';

/**
 * The fields the accountant reads. Any source of a setup can feed it (a config file, DP calls read from Python):
 * it needs only these, each with its place in the file.
 */
export type AccountingSource = Pick<
  TrainingSetup,
  | 'flavour'
  | 'format'
  | 'noiseMultiplier'
  | 'batchSize'
  | 'microbatches'
  | 'gradientAccumulationSteps'
  | 'datasetSize'
  | 'epochs'
  | 'rounds'
  | 'numSampledClients'
  | 'totalClients'
  | 'sampleRate'
  | 'targetDelta'
  | 'targetEpsilon'
  | 'dpEnabled'
  | 'dpSolutionType'
  | 'dpSite'
  | 'centralDp'
  | 'clippingScope'
  | 'scriptAccounting'
  | 'accountingBatchSize'
  | 'noiseFromTarget'
>;

/**
 * Whose participation ε protects. Example-level (DP-SGD: Opacus, TF Privacy): one training example, sampled into
 * a batch with q = B/N. User-level (central DP in federated learning: Flower's server-side and client-side fixed
 * clipping wrappers, FLSim, FedML `cdp`): one client's whole update, sampled into a round with q = clients per
 * round / clients in total.
 */
export type PrivacyUnit = 'example' | 'user';

/** A key the accountant needs that the config lacks, and the `i2f:` key that supplies it. */
export interface MissingAccountingKey {
  /** What the number is, in words ('the training set size N'). */
  what: string;
  /** The key in an `i2f` section, as the user would write it in this format ('dataset-size'). */
  i2fKey: string;
  /** A line to paste, in the file's format (`dataset-size: 60000`, `dataset-size = 60000`, `"dataset-size": 60000`). */
  example: string;
  /** Where to add it: the section in this format (`i2f:`, `[tool.i2f]`, `"i2f": {…}`). */
  section: string;
  /** The tool's own keys that would also supply it. */
  toolKeys: string[];
  /**
   * A standalone script has no config to add the key to: why the script does not say it, and what in the script
   * would (the hint then says this instead of the section).
   */
  fromScript?: UnreadInput;
}

/** How a derived number came about, for the hover and the CLI ("q = 256 / 60000 (batch_size / dataset_size)"). */
export interface Derivation<T = number> {
  value: T;
  how: string;
  /** The fields it came from, so a finding can point at them. */
  fields: ConfigField<unknown>[];
}

export interface AccountingInputs {
  unit: PrivacyUnit;
  noiseMultiplier: ConfigField<number>;
  sampleRate: Derivation;
  steps: Derivation;
  delta: Derivation & { source: 'config' | 'default' };
  targetEpsilon?: ConfigField<number>;
  /** Steps per epoch (example-level) so a budget can be said in epochs; undefined for rounds. */
  stepsPerEpoch?: number;
}

export type AccountingSetup =
  | { kind: 'ready'; inputs: AccountingInputs }
  | { kind: 'missing'; unit: PrivacyUnit; noiseMultiplier: ConfigField<number>; missing: MissingAccountingKey[] }
  /** No accounting applies: no noise multiplier, DP off, or a mechanism this accountant does not model. */
  | { kind: 'none'; reason: string };

/** Which unit a config's noise protects, from the tool and its DP settings. */
export function privacyUnit(source: AccountingSource): PrivacyUnit {
  // Noise added by the server to the aggregate (recognise.ts sets dpSite): the sampled unit is the client.
  if (source.dpSite === 'server') return 'user';
  if (source.dpSolutionType && /^c/i.test(source.dpSolutionType.value)) return 'user';
  // Flower with Opacus inside each client (max-grad-norm beside the noise: per-example clipping) is DP-SGD.
  if (source.flavour === 'flower') return source.clippingScope === 'per-example' ? 'example' : 'user';
  // Clients per round and a client population, but no dataset size: the sampled unit is the client (FLSim).
  if (source.numSampledClients && source.totalClients && !source.datasetSize && !source.batchSize) return 'user';
  return 'example';
}

/**
 * δ when the config gives none: 1/N rounded down to a power of ten, strictly below 1/N (δ ≥ 1/N allows
 * releasing one record outright: I2F103). N = 60000 → 1e-5; N = 100 → 1e-3.
 */
export function defaultDelta(population: number): number {
  // Parsed from text so 1e-5 is the double 1e-5 (10 ** -5 is 9.999999999999999e-6).
  return Number(`1e-${Math.floor(Math.log10(population)) + 1}`);
}

function missingKey(format: ConfigFormat, what: string, i2fKey: string, example: number, toolKeys: string[]): MissingAccountingKey {
  switch (format) {
    case 'toml':
      return { what, i2fKey, example: `${i2fKey} = ${example}`, section: '[tool.i2f]', toolKeys };
    case 'json':
      return { what, i2fKey, example: `"${i2fKey}": ${example}`, section: '"i2f": { … }', toolKeys };
    default:
      return { what, i2fKey, example: `${i2fKey}: ${example}`, section: 'i2f:', toolKeys };
  }
}

/** The accountant's inputs from a recognised setup, derived as the issue's rules say, never invented. */
export function accountingInputs(source: AccountingSource): AccountingSetup {
  if (source.dpEnabled && !source.dpEnabled.value) return { kind: 'none', reason: `DP is disabled ('${source.dpEnabled.key}')` };
  // A server-scoped privacy setting beside a client-scoped one (FLSim): the user-level guarantee is the server's.
  const central = source.centralDp?.noiseMultiplier;
  if (central) return userLevel({ ...source, ...(source.centralDp?.targetDelta ? { targetDelta: source.centralDp.targetDelta } : {}) }, central);
  const sigma = source.noiseMultiplier;
  if (!sigma) return { kind: 'none', reason: 'no noise multiplier: nothing to account' };
  // Opacus' make_private_with_epsilon: σ was chosen (pysource/opacusEpsilonNoise.ts) so that Opacus' own accountant
  // gives the target ε; this RDP accountant, looser than Opacus' default PRV, would report it missed.
  if (source.noiseFromTarget?.note) return { kind: 'none', reason: 'the noise multiplier is Opacus\' choice for target_epsilon: ε is the target under Opacus\' accountant' };
  if (source.dpSolutionType && /^(l|nbafl)/i.test(source.dpSolutionType.value)) {
    return { kind: 'none', reason: 'local DP: each client noises its own update, which this sampled-Gaussian accountant does not model' };
  }
  if (source.sampleRate && !(source.sampleRate.value > 0)) return { kind: 'none', reason: `sampling rate ${source.sampleRate.value} ('${source.sampleRate.key}'): no step samples anyone` };
  const unit = privacyUnit(source);
  if (unit === 'example' && source.flavour === 'flsim') {
    // FLSim's client-side privacy_setting is DP-SGD on each user's data, composed over every round the user is
    // sampled in: a two-level sampling this accountant does not model (and one round alone would understate ε).
    return { kind: 'none', reason: 'FLSim sample-level DP composes over the rounds each user is sampled in, which this accountant does not model' };
  }
  return unit === 'user' ? userLevel(source, sigma) : exampleLevel(source, sigma);
}

function exampleLevel(source: AccountingSource, sigma: ConfigField<number>): AccountingSetup {
  const missing: MissingAccountingKey[] = [];
  const n = source.datasetSize;
  const b = source.accountingBatchSize ?? source.batchSize;
  const accumulation = source.gradientAccumulationSteps?.value ?? 1;
  const batch = b ? b.value * accumulation : undefined;
  const largest = source.accountingBatchSize ? ', the largest it may be' : '';
  const batchText = b ? (accumulation > 1 ? `${b.value} × ${accumulation} (${b.key}${largest} × ${source.gradientAccumulationSteps!.key})` : `${b.value} (${b.key}${largest})`) : '';
  if (!n) missing.push(missingKey(source.format, 'the training set size N (examples)', 'dataset-size', 60000, ['dataset_size', 'num_train_examples', 'train_size']));
  if (!source.sampleRate && !b) missing.push(missingKey(source.format, 'the batch size B', 'batch-size', 256, ['batch_size']));
  if (!source.epochs) missing.push(missingKey(source.format, 'the number of epochs', 'epochs', 10, ['epochs', 'num_epochs', 'num_train_epochs']));
  if (missing.length > 0 || !n || !source.epochs) return { kind: 'missing', unit: 'example', noiseMultiplier: sigma, missing: source.scriptAccounting ? missing.map((m) => ({ ...m, fromScript: scriptReason(source.scriptAccounting!, m.i2fKey) })) : missing };

  // q = B/N: the expected batch over the dataset, Poisson sampling's rate (Opacus takes 1/len(loader), which is
  // never larger); a rate written as such wins.
  const q: Derivation = source.sampleRate
    ? { value: source.sampleRate.value, how: `${source.sampleRate.value} (${source.sampleRate.key})`, fields: [source.sampleRate] }
    : { value: Math.min(1, batch! / n.value), how: `${batchText} / ${n.value} (${n.key})${microNote(source)}`, fields: [b!, n] };
  // Steps per epoch: ⌈N/B⌉ batches, or 1/q when only the rate is known.
  const perEpoch = batch ? Math.ceil(n.value / batch) : Math.ceil(1 / q.value);
  const steps = Math.ceil(source.epochs.value * perEpoch);
  const stepsHow = batch
    ? `${source.epochs.value} epochs (${source.epochs.key}) × ⌈${n.value} / ${batch}⌉ = ${steps}`
    : `${source.epochs.value} epochs (${source.epochs.key}) × ⌈1 / q⌉ = ${steps}`;
  return {
    kind: 'ready',
    inputs: {
      unit: 'example',
      noiseMultiplier: sigma,
      sampleRate: q,
      steps: { value: steps, how: stepsHow, fields: [source.epochs, n, ...(b ? [b] : [])] },
      delta: deltaOf(source, n.value, 'N'),
      ...(source.targetEpsilon ? { targetEpsilon: source.targetEpsilon } : {}),
      stepsPerEpoch: perEpoch,
    },
  };
}

/**
 * TF Privacy's num_microbatches: each microbatch's mean gradient is clipped to C and one example is in one microbatch,
 * so the noise σ·C still covers one example's change and each example still joins a step with probability B/N: q is
 * B/N whatever the microbatches (TF Privacy's own compute_dp_sgd_privacy takes no microbatches either).
 */
function microNote(source: AccountingSource): string {
  const m = source.microbatches;
  return m && m.value > 1 ? `; ${m.value} microbatches (${m.key}) split each batch for clipping, not for sampling` : '';
}

/** Why a standalone script does not give an input (pysource/pythonSetup.ts says, for N and the epochs). */
function scriptReason(unread: NonNullable<AccountingSource['scriptAccounting']>, key: string): UnreadInput {
  if (key === 'dataset-size' && unread.datasetSize) return unread.datasetSize;
  if (key === 'epochs' && unread.epochs) return unread.epochs;
  if (key === 'batch-size' && unread.batchSize) return unread.batchSize;
  if (key === 'batch-size') return { reason: 'the batch size was not read from the DataLoader the DP call trains on', fix: 'give the DataLoader `batch_size=` as a literal, a module constant or an argparse default' };
  return { reason: 'not read from the script', fix: 'write it in the script as a literal, a module constant or an argparse default' };
}

function userLevel(source: AccountingSource, sigma: ConfigField<number>): AccountingSetup {
  const missing: MissingAccountingKey[] = [];
  const k = source.numSampledClients;
  const total = source.totalClients;
  const rate = source.sampleRate;
  if (!rate && !k) missing.push(missingKey(source.format, 'the clients sampled per round', 'clients-per-round', 10, ['num-sampled-clients', 'client_num_per_round', 'users_per_round']));
  // The population sets q (with clients per round) and the default δ: needed unless a rate and a δ are both written.
  if (!total && (!rate || !source.targetDelta)) missing.push(missingKey(source.format, 'the total number of clients', 'total-clients', 100, ['options.num-supernodes', 'client_num_in_total', 'total_users']));
  if (!source.rounds) missing.push(missingKey(source.format, 'the number of rounds', 'rounds', 3, ['num-server-rounds', 'comm_round', 'num_rounds']));
  if (missing.length > 0 || !source.rounds) return { kind: 'missing', unit: 'user', noiseMultiplier: sigma, missing };

  const q: Derivation = k && total
    ? { value: Math.min(1, k.value / total.value), how: `${k.value} (${k.key}) / ${total.value} clients (${total.key})`, fields: [k, total] }
    : { value: rate!.value, how: `${rate!.value} (${rate!.key})`, fields: [rate!] };
  const population = total?.value ?? 0; // only read when the config gives no δ, and then total is required above
  return {
    kind: 'ready',
    inputs: {
      unit: 'user',
      noiseMultiplier: sigma,
      sampleRate: q,
      steps: { value: source.rounds.value, how: `${source.rounds.value} rounds (${source.rounds.key})`, fields: [source.rounds] },
      delta: deltaOf(source, population, 'the number of clients'),
      ...(source.targetEpsilon ? { targetEpsilon: source.targetEpsilon } : {}),
    },
  };
}

function deltaOf(source: AccountingSource, population: number, populationName: string): AccountingInputs['delta'] {
  if (source.targetDelta) {
    return { value: source.targetDelta.value, how: `${source.targetDelta.value} (${source.targetDelta.key})`, fields: [source.targetDelta], source: 'config' };
  }
  const value = defaultDelta(population);
  return { value, how: `${value.toExponential()}: none in the config, so 1/${population} (1/${populationName}) rounded down to a power of ten`, fields: [], source: 'default' };
}

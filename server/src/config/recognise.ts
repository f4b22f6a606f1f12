// Turns a parsed config's key tree into a TrainingSetup: which keys mean σ, C, B, pruning, the model, across tools and spellings.

import { existsSync } from 'node:fs';
import { dirname, extname, basename, isAbsolute, relative, resolve } from 'node:path';
import { normaliseKey, type ConfigEntry, type ConfigSyntaxError, type ConfigTree, type ParseOutcome } from './keyTree';
import { parseJsonConfig } from './jsonConfig';
import { parseTomlConfig } from './tomlConfig';
import { parseHoconConfig } from './hoconConfig';
import { parseYamlConfig } from './yamlConfig';
import { RULES } from './ruleCatalog';
import { recogniseModelReference } from './modelReference';
import { isPythonFactory, recognisePythonReference } from './pythonReference';
import { findArchitecture } from '../models/catalogue';
import { placeholderOf } from './placeholders';
import { CONFIG_LOSSES, type ConfigLoss } from './trainingSetup';
import type {
  CentralDp,
  ConfigField,
  ConfigFlavour,
  ConfigProblem,
  DefenceSite,
  PathField,
  TrainingSetup,
  UnmodelledDefence,
} from './trainingSetup';

export interface RecogniseOptions {
  /** Whether a resolved path exists; injectable so tests and untrusted workspaces need not touch the disk. */
  fileExists?: (absolutePath: string) => boolean;
}

/** The parser for a file name, or null when the extension is not a config format we read. */
export function parseConfigText(file: string, text: string): ParseOutcome | null {
  const ext = extname(file).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') return parseYamlConfig(file, text);
  if (ext === '.json' || ext === '.jsonc') return parseJsonConfig(file, text);
  if (ext === '.toml') return parseTomlConfig(file, text);
  // NVFLARE job templates (config_fed_client.conf) are HOCON.
  if (ext === '.conf' || ext === '.hocon') return parseHoconConfig(file, text);
  return null;
}

/**
 * The one entry point the server and the CLI need: text in, a TrainingSetup (or a located syntax error) out,
 * or null when the file is not a training config at all (then it gets no diagnostics). Never throws.
 */
export function readTrainingConfig(file: string, text: string, options: RecogniseOptions = {}): TrainingSetup | ConfigSyntaxError | null {
  try {
    const parsed = parseConfigText(file, text);
    if (!parsed) return null;
    if (parsed.kind === 'syntax-error') {
      // A broken file that mentions none of our keys is somebody else's file: stay quiet about it.
      return mentionsTrainingKeys(text) ? parsed : null;
    }
    return recogniseTrainingSetup(parsed.tree, options);
  } catch {
    return null;
  }
}

type FieldName =
  | 'noiseMultiplier'
  | 'clippingNorm'
  | 'noiseStd'
  | 'batchSize'
  | 'gradientAccumulationSteps'
  | 'microbatches'
  | 'pruneRatio'
  | 'topkRatio'
  | 'quantizeBits'
  | 'dpEnabled'
  | 'dpDisabled'
  | 'dpSolutionType'
  | 'dpMechanism'
  | 'dpSensitivity'
  | 'targetEpsilon'
  | 'targetDelta'
  | 'datasetSize'
  | 'numSampledClients'
  | 'epochs'
  | 'rounds'
  | 'totalClients'
  | 'sampleRate'
  | 'model'
  | 'weights'
  | 'samples'
  | 'outputDir'
  | 'targetPsnr'
  | 'attacker'
  | 'loss';

/** How a value must look: the check that turns "high" or -1 into a located finding instead of a wrong analysis. */
type ValueKind = 'nonNegative' | 'positive' | 'count' | 'bits' | 'fraction' | 'percent' | 'probability' | 'number' | 'bool' | 'text' | 'path';

interface KeyRule {
  field: FieldName;
  /** Normalised (snake_case) key names. */
  names: string[];
  kind: ValueKind;
  /**
   * Names too common to trust anywhere (`sigma`, `delta`, `epsilon`, `enabled`, `bits`): only under an ancestor
   * that says privacy / DP / noise (or quantisation for `bits`), or at the top level of the file.
   */
  context?: RegExp;
  /** Only inside the `i2f:` section (our own settings). */
  i2fOnly?: boolean;
  /**
   * Keys only the privacy accountant reads (`epochs`, `rounds`): on their own they do not make a file a training
   * config, nor license ambiguous names beside them.
   */
  accountingOnly?: boolean;
}

const DP_CONTEXT = /(^|_)(privacy|private|dp|dp_args|differential_privacy|noise|defen[cs]e|opacus|i2f)(_|$)/;
const QUANT_CONTEXT = /quant|compress/;
/** Gradient compression groups: `sparsity` or `top_k` elsewhere means weight pruning or text generation. */
const GRADIENT_CONTEXT = /grad|compress|comm|privacy|(^|_)dp(_|$)|defen[cs]e|i2f/;

const KEY_RULES: KeyRule[] = [
  { field: 'noiseMultiplier', names: ['noise_multiplier', 'noise_mult', 'dp_noise_multiplier', 'noise_multiplier_sigma'], kind: 'nonNegative' },
  { field: 'noiseMultiplier', names: ['sigma', 'noise_scale_sigma'], kind: 'nonNegative', context: DP_CONTEXT },
  {
    field: 'clippingNorm',
    names: ['max_grad_norm', 'max_per_sample_grad_norm', 'l2_norm_clip', 'clipping_norm', 'clip_norm', 'clipping_threshold', 'dp_clip_norm', 'l2_clip', 'clipping_value'],
    kind: 'positive',
  },
  { field: 'clippingNorm', names: ['clip', 'max_norm', 'clipping'], kind: 'positive', context: DP_CONTEXT },
  {
    field: 'noiseStd',
    names: ['noise_std', 'noise_stddev', 'noise_standard_deviation', 'gradient_noise_std', 'grad_noise_std', 'gaussian_noise_std', 'gaussian_std', 'gradient_noise'],
    kind: 'nonNegative',
  },
  {
    field: 'batchSize',
    names: ['batch_size', 'train_batch_size', 'per_device_train_batch_size', 'local_batch_size', 'batchsize', 'mini_batch_size', 'minibatch_size', 'expected_batch_size', 'logical_batch_size', 'client_batch_size'],
    kind: 'count',
  },
  { field: 'gradientAccumulationSteps', names: ['gradient_accumulation_steps', 'grad_accum_steps', 'accumulate_grad_batches', 'gradient_accumulation'], kind: 'count' },
  { field: 'microbatches', names: ['num_microbatches', 'microbatches', 'num_micro_batches'], kind: 'count' },
  {
    field: 'pruneRatio',
    names: ['prune_ratio', 'pruning_ratio', 'prune_rate', 'pruning_rate', 'gradient_pruning', 'gradient_pruning_ratio', 'gradient_sparsity'],
    kind: 'fraction',
  },
  { field: 'pruneRatio', names: ['pruning', 'prune', 'sparsity', 'sparsity_ratio'], kind: 'fraction', context: GRADIENT_CONTEXT },
  { field: 'topkRatio', names: ['topk_ratio', 'top_k_ratio', 'topk_fraction', 'gradient_topk'], kind: 'fraction' },
  { field: 'topkRatio', names: ['topk', 'top_k'], kind: 'fraction', context: GRADIENT_CONTEXT },
  { field: 'quantizeBits', names: ['quantization_bits', 'quantize_bits', 'quant_bits', 'quantisation_bits', 'gradient_bits'], kind: 'bits' },
  { field: 'quantizeBits', names: ['bits', 'num_bits', 'nbits'], kind: 'bits', context: QUANT_CONTEXT },
  { field: 'dpEnabled', names: ['enable_dp', 'use_dp', 'dp_enabled', 'dpsgd', 'use_dpsgd', 'differential_privacy', 'enable_privacy', 'use_differential_privacy'], kind: 'bool' },
  { field: 'dpEnabled', names: ['enabled', 'enable', 'dp'], kind: 'bool', context: DP_CONTEXT },
  { field: 'dpDisabled', names: ['disable_dp', 'no_dp'], kind: 'bool' },
  { field: 'dpSolutionType', names: ['dp_solution_type'], kind: 'text' },
  // FedML's own test script spells it `--dp_type`; its runtime reads only `dp_solution_type` (said as I2F119).
  { field: 'dpSolutionType', names: ['dp_type'], kind: 'text', context: DP_CONTEXT },
  { field: 'dpMechanism', names: ['mechanism_type', 'dp_mechanism'], kind: 'text', context: DP_CONTEXT },
  { field: 'dpSensitivity', names: ['sensitivity', 'l2_sensitivity'], kind: 'positive', context: DP_CONTEXT },
  { field: 'targetEpsilon', names: ['target_epsilon', 'dp_epsilon', 'privacy_budget'], kind: 'positive' },
  { field: 'targetEpsilon', names: ['epsilon', 'eps'], kind: 'positive', context: DP_CONTEXT },
  { field: 'targetDelta', names: ['target_delta', 'dp_delta'], kind: 'probability' },
  { field: 'targetDelta', names: ['delta'], kind: 'probability', context: DP_CONTEXT },
  { field: 'datasetSize', names: ['dataset_size', 'train_size', 'num_train_samples', 'num_train_examples', 'n_train', 'train_samples', 'num_examples', 'sample_size', 'examples_per_user'], kind: 'count' },
  { field: 'numSampledClients', names: ['num_sampled_clients', 'client_num_per_round', 'clients_per_round', 'num_clients_per_round', 'min_fit_clients', 'users_per_round'], kind: 'count' },
  { field: 'epochs', names: ['epochs', 'num_epochs', 'num_train_epochs', 'max_epochs', 'n_epochs', 'local_epochs', 'train_epochs'], kind: 'positive', accountingOnly: true },
  { field: 'rounds', names: ['num_server_rounds', 'num_rounds', 'rounds', 'comm_round', 'comm_rounds', 'communication_rounds', 'num_communication_rounds', 'global_rounds', 'total_rounds'], kind: 'count', accountingOnly: true },
  { field: 'totalClients', names: ['num_supernodes', 'num_clients', 'total_clients', 'client_num_in_total', 'num_users', 'total_users', 'n_clients'], kind: 'count', accountingOnly: true },
  { field: 'sampleRate', names: ['sample_rate', 'sampling_rate', 'sampling_probability', 'fraction_fit'], kind: 'fraction', accountingOnly: true },
  {
    field: 'model',
    names: ['model', 'model_path', 'model_file', 'model_filename', 'onnx', 'onnx_model', 'onnx_path', 'onnx_file', 'model_name_or_path', 'pretrained_model', 'checkpoint', 'checkpoint_path', 'ckpt', 'ckpt_path', 'init_checkpoint', 'resume_from_checkpoint', 'tfjs_model'],
    kind: 'path',
  },
  { field: 'weights', names: ['weights', 'weights_path', 'weights_file', 'state_dict', 'state_dict_path'], kind: 'path' },
  { field: 'samples', names: ['samples', 'samples_path', 'samples_dir', 'sample_dir', 'sample_path'], kind: 'path' },
  { field: 'targetPsnr', names: ['target_psnr'], kind: 'number' },
  { field: 'attacker', names: ['attacker', 'threat_model'], kind: 'text', i2fOnly: true },
  // The training loss the gradient is of (`i2f: loss: mse`): only in the i2f section, where it cannot be a logged metric.
  { field: 'loss', names: ['loss', 'training_loss'], kind: 'text', i2fOnly: true },
  // Where training writes its checkpoints (Hugging Face's output_dir, Lightning's dirpath/default_root_dir, …): watched.
  { field: 'outputDir', names: ['output_dir', 'out_dir', 'save_dir', 'checkpoint_dir', 'checkpoints_dir', 'ckpt_dir', 'dirpath', 'default_root_dir', 'save_folder'], kind: 'path' },
];

/**
 * Groups that say which side runs what they hold (FLSim's `client` / `server` / `reducer` privacy_setting,
 * `private_client_config` / `private_reducer_config`): DP keys are read by scope, not by name alone.
 */
const SERVER_SCOPE = /^(server|server_config|reducer|private_reducer_config|aggregator|central|central_dp|server_privacy)$/;
const CLIENT_SCOPE = /^(client|client_config|private_client_config|local_dp|client_privacy)$/;
/** The DP settings that belong to one side. */
const SCOPED_FIELDS = new Set<FieldName>(['noiseMultiplier', 'clippingNorm', 'noiseStd', 'targetDelta', 'targetEpsilon']);
/** Keys and values that say updates are securely aggregated (the server sees only their sum). */
const SECURE_AGGREGATION_KEYS = new Set(['num_shares', 'reconstruction_threshold', 'secure_aggregation', 'secagg', 'use_secagg', 'enable_secagg', 'secure_agg']);

/** Opacus's and TF Privacy's names for per-example clipping. */
const PER_EXAMPLE_CLIP_NAMES = new Set(['max_grad_norm', 'max_per_sample_grad_norm', 'l2_norm_clip']);

function siteOf(ancestors: string[]): DefenceSite | undefined {
  for (let i = ancestors.length - 1; i >= 0; i--) {
    if (SERVER_SCOPE.test(ancestors[i])) return 'server';
    if (CLIENT_SCOPE.test(ancestors[i])) return 'client';
  }
  return undefined;
}

const RULE_BY_NAME = new Map<string, KeyRule[]>();
for (const rule of KEY_RULES) for (const n of rule.names) RULE_BY_NAME.set(n, [...(RULE_BY_NAME.get(n) ?? []), rule]);

/** Cheap pre-check on raw text, for files the parser rejected: does it mention any key we would recognise? */
export function mentionsTrainingKeys(text: string): boolean {
  const words = text.match(/[A-Za-z_][A-Za-z0-9_-]*/g) ?? [];
  for (const w of words) {
    const n = normaliseKey(w);
    const rules = RULE_BY_NAME.get(n);
    if (rules && rules.some((r) => !r.context && !r.accountingOnly && r.field !== 'model' && r.field !== 'samples' && r.field !== 'weights' && r.field !== 'outputDir')) return true;
    if (n === 'i2f' || n === 'sigma0' || n === 'percentile_privacy' || /privacy$/.test(n)) return true;
  }
  return false;
}

const MODEL_EXTENSIONS = new Set(['.onnx', '.pt', '.pth', '.ckpt', '.h5', '.keras', '.pb', '.tflite']);
const WEIGHT_EXTENSIONS = new Set(['.safetensors', '.npz', '.bin', '.pt', '.pth', '.ckpt', '.h5']);
export const PYTORCH_EXTENSIONS = new Set(['.pt', '.pth', '.ckpt', '.bin']);
const CHECKPOINT_EXTENSIONS = new Set([...PYTORCH_EXTENSIONS, '.safetensors']);
/** A Trainer's per-step folder (`output/checkpoint-500`, with or without a trailing slash). */
const STEP_FOLDER = /(^|[\\/])checkpoint-\d+[\\/]?$/;

/** A value that names a checkpoint file or step folder rather than a model graph. */
export function isCheckpointPath(value: string): boolean {
  return CHECKPOINT_EXTENSIONS.has(extname(value).toLowerCase()) || STEP_FOLDER.test(value);
}
const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;
const EVAL_SEGMENT = /(^|_)(eval|evaluation|test|val|valid|validation|inference|predict)(_|$)/;

/** NVFLARE privacy filters' documented defaults, used when a filter is listed without those args. */
const NVFLARE_DEFAULTS = {
  GaussianPrivacy: { sigma0: 0.1, max_percentile: 95 },
  PercentilePrivacy: { percentile: 10, gamma: 0.01 },
} as const;

interface Candidate {
  entry: ConfigEntry;
  rule: KeyRule;
  /** Lower wins: the explicit i2f section, then ordinary keys, then keys under eval/test groups. */
  priority: number;
}

/**
 * A report this tool wrote (`i2f audit --format json` / `sarif`), or any SARIF log: it quotes noise multipliers,
 * batch sizes and model paths from the configs it audited, so without this a report saved in the workspace was
 * read as one more training config and analysed on the next audit.
 */
export function isReportFile(tree: ConfigTree): boolean {
  if (tree.format !== 'json') return false;
  const top = (key: string) => tree.entries.find((e) => e.path.length >= 1 && e.path[0] === key);
  const at = (...path: string[]) => tree.entries.find((e) => e.path.length === path.length && path.every((k, i) => e.path[i] === k));
  if (at('tool', 'name')?.value === 'i2f-privacy-lint' && at('failOn')) return true;
  const schema = at('$schema')?.value;
  return typeof schema === 'string' && /sarif/i.test(schema) && top('runs') !== undefined;
}

export function recogniseTrainingSetup(tree: ConfigTree, options: RecogniseOptions = {}): TrainingSetup | null {
  if (isReportFile(tree)) return null;
  const fileExists = options.fileExists ?? existsSync;
  const dir = dirname(tree.file);
  const problems: ConfigProblem[] = [];
  const unmodelled: UnmodelledDefence[] = [];
  const flavour = guessFlavour(tree);
  const setup: TrainingSetup = { file: tree.file, format: tree.format, flavour, unmodelled, problems };
  let recognised = 0;

  // Ambiguous names (`sigma`, `delta`) at the top level count only in a file that also has an unambiguous key.
  const hasStrongKey = tree.entries.some((e) =>
    (RULE_BY_NAME.get(normaliseKey(e.path[e.path.length - 1])) ?? []).some((r) => !r.context && !r.accountingOnly && r.kind !== 'path'),
  );

  // Flower's LocalDpMod(clipping_norm, sensitivity, epsilon, delta): when a Flower run config holds all of its
  // arguments, its `epsilon` and `delta` are that mechanism's (not an optimiser's), so they count there.
  const flowerTable = (e: ConfigEntry) => e.path.slice(0, -1).join('.') === 'tool.flwr.app.config';
  const flowerLocalDpKeys = flavour === 'flower' && ['sensitivity', 'epsilon', 'delta'].every((k) => tree.entries.some((e) => flowerTable(e) && normaliseKey(e.path.at(-1)!) === k));

  const field = <T>(entry: ConfigEntry, value: T): ConfigField<T> => ({
    value,
    key: entry.path.join('.'),
    path: entry.path,
    keyRange: entry.keyRange,
    valueRange: entry.valueRange,
    file: tree.file,
    ...(entry.interpolation?.resolved ? { interpolatedFrom: entry.interpolation.expression } : {}),
  });

  const problem = (entry: ConfigEntry, rule: { code: string }, message: string): void => {
    problems.push({ rule: rule.code, message, range: entry.valueRange, key: entry.path.join('.') });
  };

  // NVFLARE privacy filters are recognised by their class path, and their args mean what that class says.
  const filterArgs = new Set<ConfigEntry>();
  for (const filter of nvflareFilters(tree)) {
    recognised++;
    for (const a of filter.args.values()) filterArgs.add(a);
    // Only a client's task_result_filters act on the update before it leaves; the server's filters run after it
    // has received the update, and task_data_filters act on what the client receives.
    if (filter.notOnUpdate) {
      problems.push({ rule: RULES.filterNotOnUpdate.code, message: `${filter.className} ${filter.notOnUpdate}: it does not protect the client's update from the server, so it is not analysed as a defence.`, range: filter.pathEntry.valueRange, key: filter.pathEntry.path.join('.') });
      continue;
    }
    const arg = (name: string, kind: ValueKind, fallback: number): ConfigField<number> | undefined => {
      const e = filter.args.get(name);
      if (!e) return field({ ...filter.pathEntry }, fallback); // the default applies: point at the filter's path line
      if (e.interpolation && !e.interpolation.resolved) {
        problem(e, RULES.unresolvedReference, `${e.interpolation.expression} is not resolved here (${e.interpolation.reason}); the filter's noise is unknown.`);
        return undefined;
      }
      const v = checkValue(e, kind, problem);
      return v === undefined ? undefined : field(e, v as number);
    };
    if (filter.className === 'GaussianPrivacy') {
      const sigma0 = arg('sigma0', 'nonNegative', NVFLARE_DEFAULTS.GaussianPrivacy.sigma0);
      const maxPercentile = arg('max_percentile', 'percent', NVFLARE_DEFAULTS.GaussianPrivacy.max_percentile);
      if (sigma0) setup.relativeNoise = { sigma0, ...(maxPercentile ? { maxPercentile } : {}) };
      if (sigma0 && sigma0.value === 0) {
        const via = sigma0.interpolatedFrom ? ` (${sigma0.interpolatedFrom} is ${sigma0.value} in this file)` : '';
        problems.push({ rule: RULES.filterAddsNoNoise.code, message: `GaussianPrivacy's sigma0 is 0${via}: the filter adds no noise, and the update leaves the client exact.`, range: sigma0.valueRange, key: sigma0.key });
      }
    } else if (filter.className === 'PercentilePrivacy') {
      const percentile = arg('percentile', 'percent', NVFLARE_DEFAULTS.PercentilePrivacy.percentile);
      // Only updates above the percentile of |Δ| are shared: the rest are zeroed, i.e. pruning at that quantile.
      if (percentile) setup.pruneRatio ??= { ...percentile, value: percentile.value / 100 };
      const gamma = filter.args.get('gamma');
      unmodelled.push({
        name: 'PercentilePrivacy gamma',
        reason: 'PercentilePrivacy also clips each shared entry to ±gamma; that clipping is not modelled (the pruning is).',
        fields: [gamma ? field(gamma, gamma.value) : field(filter.pathEntry, NVFLARE_DEFAULTS.PercentilePrivacy.gamma)],
      });
    } else if (filter.className === 'SVTPrivacy') {
      unmodelled.push({
        name: 'SVTPrivacy',
        reason: 'the sparse vector technique (Laplace noise on a thresholded, sampled fraction of the update) is not modelled yet.',
        fields: [field(filter.pathEntry, filter.pathEntry.value), ...[...filter.args.values()].map((e) => field(e, e.value))],
      });
    }
  }

  // A key written twice: YAML and JSON loaders (PyYAML, json.load, OmegaConf) keep the LAST value, so must we,
  // and the earlier one is reported where it stands (reading the first would analyse a value training never uses).
  const lastOf = new Map<string, ConfigEntry>();
  for (const entry of tree.entries) lastOf.set(entry.path.join('\u0000'), entry);
  const candidates = new Map<FieldName, Candidate[]>();
  /** DP settings in a server scope (FLSim's server / reducer privacy_setting). */
  const serverCandidates = new Map<FieldName, Candidate[]>();
  for (const entry of tree.entries) {
    const leaf = normaliseKey(entry.path[entry.path.length - 1]);
    if (SECURE_AGGREGATION_KEYS.has(leaf) || (typeof entry.value === 'string' && /(^|_)secagg(_|$)/i.test(entry.value))) {
      if (entry.value !== false && entry.value !== 0 && !setup.secureAggregation) setup.secureAggregation = field(entry, entry.value);
    }
    if (filterArgs.has(entry)) continue;
    const later = lastOf.get(entry.path.join('\u0000'))!;
    if (later !== entry) {
      if (RULE_BY_NAME.has(normaliseKey(entry.path[entry.path.length - 1])))
        problem(entry, RULES.invalidValue, `'${entry.path.join('.')}' is set again on line ${later.keyRange.start.line + 1} (${JSON.stringify(later.value)}); config loaders keep the last value, so this one (${JSON.stringify(entry.value)}) is ignored. Remove one of them.`);
      continue;
    }
    const last = entry.path[entry.path.length - 1];
    if (/^[0-9]+$/.test(last)) continue; // sequence items have no key of their own
    const name = normaliseKey(last);
    const rules = RULE_BY_NAME.get(name);
    if (!rules) continue;
    const ancestors = entry.path.slice(0, -1).map(normaliseKey);
    const inI2f = ancestors.includes('i2f');
    const site = siteOf(ancestors);
    for (const rule of rules) {
      if (rule.i2fOnly && !inI2f) continue;
      const topLevelAllowed = entry.path.length === 1 && hasStrongKey;
      const localDpArgument = flowerLocalDpKeys && flowerTable(entry);
      if (rule.context && !inI2f && !topLevelAllowed && !localDpArgument && !ancestors.some((a) => rule.context!.test(a))) continue;
      const evalLike = ancestors.some((a) => EVAL_SEGMENT.test(a)) || EVAL_SEGMENT.test(name);
      const priority = inI2f ? 0 : evalLike ? 2 : 1;
      // An eval-only batch size says nothing about the gradients clients share.
      if (evalLike && rule.field === 'batchSize') continue;
      const pool = site === 'server' && !inI2f && SCOPED_FIELDS.has(rule.field) ? serverCandidates : candidates;
      const list = pool.get(rule.field) ?? [];
      list.push({ entry, rule, priority });
      pool.set(rule.field, list);
    }
  }

  // Path fields: outside the i2f section only values that look like files count (`model: resnet18` names an
  // architecture, `model_name_or_path: bert-base-uncased` a hub id); a .safetensors "checkpoint" is weights.
  const pathCandidates = (name: 'model' | 'weights' | 'samples'): Candidate[] =>
    (candidates.get(name) ?? []).filter((c) => {
      const v = c.entry.value;
      // `i2f: model: resnet18` names an architecture (modelReference.ts), not a file called resnet18.
      // `i2f: model: pkg.task:Net` names a model in the workspace's Python (pythonReference.ts).
      if (c.priority === 0) return !(name === 'model' && typeof v === 'string' && ((!/[\\/]|\.[a-z0-9]+$/i.test(v) && findArchitecture(v)) || isPythonFactory(v)));
      if (typeof v !== 'string') return false;
      if (c.entry.interpolation && !c.entry.interpolation.resolved) return /\.[a-z0-9]+$/i.test(c.entry.interpolation.expression);
      const ext = extname(v).toLowerCase();
      if (name === 'model') return MODEL_EXTENSIONS.has(ext) || basename(v).toLowerCase().endsWith('model.json');
      if (name === 'weights') return WEIGHT_EXTENSIONS.has(ext) || STEP_FOLDER.test(v);
      return v.length > 0;
    });
  // A checkpoint (state_dict `.pt`/`.pth`/`.ckpt`/`.bin`, `.safetensors`, a Trainer's `checkpoint-500/`) named where
  // a model could be is weights: it holds no graph, and checkpoints/ reads it as data (never unpickling code).
  const isCheckpoint = (c: Candidate) => typeof c.entry.value === 'string' && isCheckpointPath(c.entry.value);
  const checkpointWeights = (candidates.get('model') ?? []).filter(isCheckpoint);
  candidates.set('model', pathCandidates('model').filter((c) => !isCheckpoint(c)));
  candidates.set('weights', [...pathCandidates('weights'), ...checkpointWeights]);
  candidates.set('samples', pathCandidates('samples'));

  // By priority, then by how specific the key name is (`noise_multiplier` before `sigma`), then file order.
  const pick = (name: FieldName, pool = candidates): Candidate[] =>
    [...(pool.get(name) ?? [])].sort((a, b) => a.priority - b.priority || KEY_RULES.indexOf(a.rule) - KEY_RULES.indexOf(b.rule));

  /** The first usable candidate by priority; the ones before it that failed their check were already reported. */
  const take = <T>(name: FieldName, pool = candidates): ConfigField<T> | undefined => {
    for (const c of pick(name, pool)) {
      recognised++;
      const { entry, rule } = c;
      if (entry.interpolation && !entry.interpolation.resolved) {
        problem(entry, RULES.unresolvedReference, `${entry.interpolation.expression} is not resolved here (${entry.interpolation.reason}); set the value in this file to have it checked.`);
        continue;
      }
      // "auto", $ENV: the training tool fills these in; unknown here, never a type error.
      const placeholder = placeholderOf(entry.value);
      if (placeholder && rule.kind !== 'path' && rule.kind !== 'text') {
        problem(entry, RULES.runTimeValue, `'${entry.path[entry.path.length - 1]}' is not known from this file: ${placeholder.reason}. Set the number in an i2f: section to have it analysed.`);
        continue;
      }
      // A clipping norm of infinity (FLSim's "inf", FedML's float('inf')) switches clipping off: no clipping, no finding.
      if (name === 'clippingNorm' && /^\s*[+]?(inf|infinity|\.inf)\s*$/i.test(String(entry.value))) continue;
      const v = checkValue(entry, rule.kind, problem);
      if (v !== undefined) return field(entry, v as T);
    }
    return undefined;
  };

  const takePath = (name: 'model' | 'weights' | 'samples'): PathField | undefined => {
    const f = take<string>(name);
    if (!f) return undefined;
    if (URL_LIKE.test(f.value)) return { ...f, resolved: f.value };
    const expanded = f.value.replace(/^~(?=\/|$)/, process.env.HOME ?? '~');
    const resolved = isAbsolute(expanded) ? expanded : resolve(dir, expanded);
    const exists = fileExists(resolved);
    if (!exists) {
      const what = name === 'model' ? 'Model file' : name === 'weights' ? 'Weights file' : 'Samples path';
      problems.push({
        rule: RULES.missingModel.code,
        // Said relative to the config (an absolute path only when the config wrote one): a checkout's or a temporary
        // folder's absolute path means nothing to whoever reads the finding elsewhere.
        message: `${what} '${f.value}' not found (looked for ${isAbsolute(expanded) ? expanded : relative(dir, resolved) || '.'} from the config's folder); paths are relative to the config file's folder.`,
        range: f.valueRange,
        key: f.key,
      });
    }
    return { ...f, resolved, exists };
  };

  setup.noiseMultiplier = take<number>('noiseMultiplier');
  setup.clippingNorm = take<number>('clippingNorm');
  setup.noiseStd = take<number>('noiseStd');
  // Server-scoped DP: central DP beside the client's own, or the only DP in the file (then added by the server).
  const central: CentralDp = {
    noiseMultiplier: take<number>('noiseMultiplier', serverCandidates),
    clippingNorm: take<number>('clippingNorm', serverCandidates),
    targetDelta: take<number>('targetDelta', serverCandidates),
  };
  const noiseStdOnServer = take<number>('noiseStd', serverCandidates);
  take<number>('targetEpsilon', serverCandidates);
  const hasCentral = central.noiseMultiplier || central.clippingNorm || noiseStdOnServer;
  if (hasCentral && !setup.noiseMultiplier && !setup.clippingNorm && !setup.noiseStd) {
    setup.noiseMultiplier = central.noiseMultiplier;
    setup.clippingNorm = central.clippingNorm;
    setup.noiseStd = noiseStdOnServer;
    setup.dpSite = 'server';
    if (central.targetDelta) setup.targetDelta = central.targetDelta;
  } else if (hasCentral) {
    setup.centralDp = central;
  }
  // Flower's DP wrappers (…ClientSideFixedClipping / …ServerSideFixedClipping) add the noise on the server.
  // A Flower app that runs Opacus in its clients names the clipping as Opacus does (`max-grad-norm`, Flower's
  // `opacus` example): per-example DP-SGD on the client, not the wrappers' update clipping.
  const opacusInFlower = flavour === 'flower' && !!setup.clippingNorm && PER_EXAMPLE_CLIP_NAMES.has(normaliseKey(setup.clippingNorm.path.at(-1)!));
  if (flavour === 'flower' && setup.noiseMultiplier && !opacusInFlower) setup.dpSite = 'server';
  if (setup.clippingNorm) {
    setup.clippingScope =
      flavour === 'huggingface' ? 'per-batch' : opacusInFlower ? 'per-example' : flavour === 'flower' || flavour === 'fedml' || setup.dpSite === 'server' ? 'per-update' : 'per-example';
  }
  setup.batchSize = take<number>('batchSize');
  setup.gradientAccumulationSteps = take<number>('gradientAccumulationSteps');
  setup.microbatches = take<number>('microbatches');
  setup.pruneRatio ??= take<number>('pruneRatio');
  setup.topkRatio = take<number>('topkRatio');
  setup.quantizeBits = take<number>('quantizeBits');
  setup.dpEnabled = take<boolean>('dpEnabled');
  const disabled = take<boolean>('dpDisabled');
  if (!setup.dpEnabled && disabled) setup.dpEnabled = { ...disabled, value: !disabled.value };
  setup.dpSolutionType = take<string>('dpSolutionType');
  if (setup.dpSolutionType && normaliseKey(setup.dpSolutionType.path.at(-1)!) === 'dp_type' && flavour === 'fedml') {
    problems.push({
      rule: RULES.keyNotRead.code,
      message: `FedML's DP reads 'dp_solution_type', not 'dp_type' (only FedML's own test script takes --dp_type): with enable_dp true and no dp_solution_type, FedML cannot set up DP. Read here as dp_solution_type = ${setup.dpSolutionType.value}; rename the key.`,
      range: setup.dpSolutionType.keyRange,
      key: setup.dpSolutionType.key,
    });
  }
  const solution = setup.dpSolutionType?.value.toLowerCase();
  if (flavour === 'fedml' && (solution === 'cdp' || solution === 'dp_clip')) setup.dpSite = 'server';
  setup.dpMechanism = take<string>('dpMechanism');
  setup.dpSensitivity = take<number>('dpSensitivity');
  setup.targetEpsilon = take<number>('targetEpsilon');
  setup.targetDelta ??= take<number>('targetDelta');
  setup.datasetSize = take<number>('datasetSize');
  setup.numSampledClients = take<number>('numSampledClients');
  setup.targetPsnr = take<number>('targetPsnr');
  setup.attacker = take<string>('attacker');
  if (setup.attacker && !/^(server|aggregate|eavesdropper)$/.test(setup.attacker.value)) {
    problems.push({ rule: RULES.invalidValue.code, message: `'attacker' should be server, aggregate or eavesdropper, not '${setup.attacker.value}'.`, range: setup.attacker.valueRange, key: setup.attacker.key });
    delete setup.attacker;
  }
  setup.loss = take<ConfigLoss>('loss');
  if (setup.loss && !(CONFIG_LOSSES as readonly string[]).includes(setup.loss.value)) {
    problems.push({ rule: RULES.invalidValue.code, message: `'loss' should be ${CONFIG_LOSSES.join(', ')}, not '${setup.loss.value}'; the loss is chosen from the model's output instead.`, range: setup.loss.valueRange, key: setup.loss.key });
    delete setup.loss;
  }
  // A Flower app reads its pyproject's values in code; DP keys without a noise multiplier mean the code sets it.
  if (flavour === 'flower' && !setup.noiseMultiplier && !setup.noiseStd && !setup.targetEpsilon) {
    const dpKey = setup.clippingNorm ?? setup.targetDelta;
    if (dpKey) setup.noiseInCode = dpKey;
  }
  setup.model = takePath('model');
  setup.weights = takePath('weights');
  // A checkpoint named where the model goes, and no model named: the checkpoint holds weights, not the architecture.
  const checkpointAsModel = setup.weights && !setup.model && checkpointWeights.some((c) => c.entry.path.join('.') === setup.weights!.key);
  if (checkpointAsModel && setup.weights!.exists && PYTORCH_EXTENSIONS.has(extname(setup.weights!.resolved).toLowerCase())) {
    problems.push({
      rule: RULES.pytorchModel.code,
      message: `'${setup.weights!.value}' is a PyTorch checkpoint: it is read as data (its state_dict) and applied as the weights of the model this config uses, which must come from elsewhere: an architecture or model file in an i2f: section (\`model: resnet18\`, \`model: model.onnx\`), or the only .onnx beside this config.`,
      range: setup.weights!.valueRange,
      key: setup.weights!.key,
    });
  }
  setup.samples = takePath('samples');
  recognised += recogniseModelReference(tree, setup);
  recognised += recognisePythonReference(tree, setup);

  if (recognised === 0) return null;
  // Read after the check above: an output folder alone does not make a file a training config.
  const out = take<string>('outputDir');
  if (out && !URL_LIKE.test(out.value)) {
    const expanded = out.value.replace(/^~(?=\/|$)/, process.env.HOME ?? '~');
    const resolved = isAbsolute(expanded) ? expanded : resolve(dir, expanded);
    setup.outputDir = { ...out, resolved, exists: fileExists(resolved) };
  }
  // Read after the verdict above: `epochs` alone does not make a training config.
  setup.epochs = take<number>('epochs');
  setup.rounds = take<number>('rounds');
  setup.totalClients = take<number>('totalClients');
  setup.sampleRate = take<number>('sampleRate');
  for (const k of Object.keys(setup) as (keyof TrainingSetup)[]) if (setup[k] === undefined) delete setup[k];
  return setup;
}

/** Validates and converts one value; on failure records a located I2F108 finding and returns undefined. */
function checkValue(
  entry: ConfigEntry,
  kind: ValueKind,
  problem: (entry: ConfigEntry, rule: { code: string }, message: string) => void,
): number | boolean | string | undefined {
  const key = entry.path[entry.path.length - 1];
  const raw = entry.value;
  const bad = (why: string): undefined => {
    problem(entry, RULES.invalidValue, `'${key}' ${why}`);
    return undefined;
  };
  const shown = typeof raw === 'string' ? `'${raw}'` : String(raw);
  if (raw === null) return bad('has no value.');
  if (kind === 'bool') {
    if (typeof raw === 'boolean') return raw;
    if (typeof raw === 'number' && (raw === 0 || raw === 1)) return raw === 1;
    if (typeof raw === 'string' && /^(true|yes|on|false|no|off)$/i.test(raw.trim())) return /^(true|yes|on)$/i.test(raw.trim());
    return bad(`should be true or false, not ${shown}.`);
  }
  if (kind === 'text' || kind === 'path') {
    if (typeof raw === 'string' && raw.trim() !== '') return raw.trim();
    return bad(`should be ${kind === 'path' ? 'a file path' : 'text'}, not ${shown}.`);
  }
  let n: number;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(raw)) n = Number(raw);
  else if (typeof raw === 'string' && /^\s*[+-]?(nan|inf|infinity|\.nan|\.inf)\s*$/i.test(raw)) n = Number.NaN;
  else return bad(`should be a number, not ${shown}.`);
  if (!Number.isFinite(n)) return bad(`should be a finite number, not ${shown}.`);
  switch (kind) {
    case 'nonNegative':
      return n < 0 ? bad(`cannot be negative (${n}): a noise scale is a standard deviation.`) : n;
    case 'positive':
      return n <= 0 ? bad(`must be greater than 0, not ${n}.`) : n;
    case 'count':
      // Safe integers only: 1e300 passes Number.isInteger but is no count anyone meant (nor exact).
      return !Number.isSafeInteger(n) || n < 1 ? bad(`must be a whole number of at least 1, not ${n}.`) : n;
    case 'bits':
      // The engine's quantiser is symmetric with 2^(bits−1)−1 levels: 1 bit (sign compression) is a different defence.
      return !Number.isInteger(n) || n < 2 || n > 32 ? bad(`must be a whole number of bits from 2 to 32, not ${n}.`) : n;
    case 'fraction':
      return n < 0 || n > 1 ? bad(`must be a fraction from 0 to 1, not ${n}.`) : n;
    case 'percent':
      return n < 0 || n > 100 ? bad(`must be a percentile from 0 to 100, not ${n}.`) : n;
    case 'probability':
      return n <= 0 || n >= 1 ? bad(`must be strictly between 0 and 1, not ${n}.`) : n;
    default:
      return n;
  }
}

interface NvflareFilter {
  className: string;
  pathEntry: ConfigEntry;
  args: Map<string, ConfigEntry>;
  /** Set when the filter does not act on the client's outgoing update: why, said to the user. */
  notOnUpdate?: string;
}

/** `{ "path": "nvflare....GaussianPrivacy", "args": {…} }` objects anywhere in the file (also `"name"` in newer configs). */
function nvflareFilters(tree: ConfigTree): NvflareFilter[] {
  const filters: NvflareFilter[] = [];
  // config_fed_server.* (or a file with server workflows) is the server's: its filters run after receipt.
  const serverFile = /config_fed_server/i.test(basename(tree.file)) || tree.entries.some((e) => e.path.length >= 1 && e.path[0] === 'workflows');
  for (const e of tree.entries) {
    const last = e.path[e.path.length - 1];
    if ((last !== 'path' && last !== 'name') || typeof e.value !== 'string') continue;
    const className = e.value.split('.').pop() ?? '';
    if (!/^(GaussianPrivacy|PercentilePrivacy|SVTPrivacy)$/.test(className)) continue;
    const parent = e.path.slice(0, -1);
    const args = new Map<string, ConfigEntry>();
    for (const a of tree.entries) {
      if (a.path.length === parent.length + 2 && a.path[parent.length] === 'args' && parent.every((s, i) => a.path[i] === s)) {
        args.set(normaliseKey(a.path[parent.length + 1]), a);
      }
    }
    const group = normaliseKey(e.path[0] ?? '');
    // A Python job's filters (pysource/nvflareJob.ts) come as the config they export to: 'server' for the server's,
    // 'filters' for one given without a filter_type (NVFlare's job API refuses it).
    const notOnUpdate = tree.format === 'python' && e.path[0] === 'server'
      ? 'is given to the server (`job.to(…, "server")`), so it runs on the server after the client\'s update has arrived'
      : tree.format === 'python' && e.path[0] === 'filters'
      ? 'is given without a filter_type, which NVFlare\'s job API refuses (FilterType.TASK_RESULT filters the update a client sends)'
      : serverFile
      ? `is in the server's ${e.path[0]}, so it runs on the server after the client's update has arrived`
      : group === 'task_data_filters'
        ? 'is a task data filter, so it filters what the client receives, not the update it sends'
        : undefined;
    filters.push({ className, pathEntry: e, args, ...(notOnUpdate ? { notOnUpdate } : {}) });
  }
  return filters;
}

function guessFlavour(tree: ConfigTree): ConfigFlavour {
  const keys = new Set<string>();
  let interpolated = false;
  for (const e of tree.entries) {
    for (const s of e.path) keys.add(normaliseKey(s));
    if (e.interpolation) interpolated = true;
    if (typeof e.value === 'string' && e.value.startsWith('nvflare.')) keys.add('nvflare');
  }
  const first = tree.entries.map((e) => e.path.slice(0, 2).join('.'));
  if (first.some((p) => p === 'tool.flwr')) return 'flower';
  if (keys.has('nvflare') || keys.has('task_result_filters') || keys.has('task_data_filters')) return 'nvflare';
  if (keys.has('dp_args') || keys.has('train_args') || keys.has('common_args') || keys.has('fedml')) return 'fedml';
  if (keys.has('users_per_round') || keys.has('private_client_config') || tree.entries.some((e) => e.path.at(-1) === '_base_' && typeof e.value === 'string' && e.value.startsWith('base_'))) return 'flsim';
  if (keys.has('per_device_train_batch_size') || keys.has('gradient_accumulation_steps') || keys.has('per_device_eval_batch_size')) return 'huggingface';
  if (keys.has('l2_norm_clip') || keys.has('num_microbatches') || keys.has('microbatches')) return 'tf-privacy';
  if (keys.has('max_grad_norm') || keys.has('max_per_sample_grad_norm') || keys.has('target_epsilon')) return 'opacus';
  if (keys.has('defaults') || keys.has('hydra') || interpolated) return 'hydra';
  return 'generic';
}

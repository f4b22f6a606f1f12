// What a training config says about the shared gradient: defences, batch, DP budget, model, each with its place in the file.

import type { ConfigFormat, Range } from './keyTree';
import type { OpacusNoiseQuery } from '../privacy/opacusNoise';

/** One recognised setting: its value and where the key and value are written, so diagnostics land on that line. */
export interface ConfigField<T> {
  value: T;
  /** The key path as written, dotted (e.g. 'privacy.noise_multiplier', 'tool.flwr.app.config.noise-multiplier'). */
  key: string;
  path: string[];
  keyRange: Range;
  valueRange: Range;
  file: string;
  /** Set when the value came through a `${…}` reference: the text actually written on that line. */
  interpolatedFrom?: string;
  /** Set when the value is a Python call's argument read statically (pysource/): where it is written, and every value it may take. */
  fromCode?: CodeValue;
}

/** Where a value read from Python is written (a literal, a flag default, a Flower app's pyproject.toml), as a quick fix edits it. */
export interface CodeValueSource {
  file: string;
  range: Range;
  kind: 'literal' | 'computed' | 'flag-default' | 'run-config';
  /** Said to the user: "literal on line 83", "default of --noise-multiplier", "pyproject.toml max-grad-norm". */
  label: string;
  /** The run-config key or command-line option, when it came from one. */
  key?: string;
  /** Editable in place: a literal number written exactly there. */
  editable: boolean;
}

/** A Python argument's possible values: the one analysed (the weakest defence) and all of them, with how they were followed. */
export interface CodeValue {
  source: CodeValueSource;
  alternatives: { value: number | string | boolean | null; source: CodeValueSource }[];
  /** The names, calls and conditionals followed from the argument to the value, in words. */
  steps: string[];
  /** The argument as written at the call (`self.noise_multiplier`). */
  written: string;
}

/** Why an input was not read from a script, and what in the script would let it be read. */
export interface UnreadInput {
  reason: string;
  fix: string;
}

/** The accounting inputs a standalone script does not let us read (pysource/pythonSetup.ts). */
export interface ScriptAccounting {
  datasetSize?: UnreadInput;
  epochs?: UnreadInput;
  batchSize?: UnreadInput;
}

/** A path-valued setting, resolved against the config file's folder. */
export interface PathField extends ConfigField<string> {
  /** Absolute path on disk, or the value unchanged when it is a URL (s3://, hf://, https://). */
  resolved: string;
  /** false when it names a local file that is not there; undefined when not checkable (a URL). */
  exists?: boolean;
}

/**
 * Which family of tool the config belongs to, guessed from its keys. It decides semantics that differ between
 * tools: Hugging Face's `max_grad_norm` clips the batch gradient (not per example, not DP); Flower adds its
 * noise on the server to the average of `num-sampled-clients` clipped updates.
 */
export type ConfigFlavour = 'opacus' | 'tf-privacy' | 'flower' | 'nvflare' | 'fedml' | 'flsim' | 'huggingface' | 'hydra' | 'generic';

/**
 * Where DP noise is added: on the client before its update leaves (every attacker downstream sees it), or on
 * the server after it has received the updates (central DP: the server itself sees them without it).
 */
export type DefenceSite = 'client' | 'server';

/** Central DP set in a server scope of a file that also scopes the client (FLSim's `server` / `reducer` privacy_setting). */
export interface CentralDp {
  noiseMultiplier?: ConfigField<number>;
  clippingNorm?: ConfigField<number>;
  targetDelta?: ConfigField<number>;
}

/** Who the finding is about; `i2f: attacker:` picks one, otherwise the strongest the config allows (threatModel.ts). */
export type AttackerKind = 'server' | 'aggregate' | 'eavesdropper';

/**
 * The training losses the engine differentiates (analysis/lossChoice.ts), as the `i2f: loss:` key and the code reader
 * name them; 'auto' chooses from the model's output.
 */
export const CONFIG_LOSSES = ['auto', 'cross-entropy', 'binary-cross-entropy', 'mse'] as const;
export type ConfigLoss = (typeof CONFIG_LOSSES)[number];

/** The loss the training code computes (pysource/trainingLoss.ts): what is written, where, and the engine's loss for it. */
export interface LossInCode {
  /** As written, callee only: `nn.MSELoss`, `F.nll_loss`. */
  written: string;
  file: string;
  range: Range;
  /** Where, as said to the user: "line 82" (in a notebook, "cell 7, line 3": notebookReading.ts rewords it). */
  place: string;
  /** The engine's loss for it; undefined when it has none (nn.L1Loss) or the code computes several. */
  kind?: Exclude<ConfigLoss, 'auto'>;
  /** Why no kind, or how the written loss maps to the engine's (NLLLoss on log_softmax is cross-entropy). */
  note?: string;
}

/** Where a rule or recognition problem sits; `rule` is a code from ruleCatalog.ts. */
export interface ConfigProblem {
  rule: string;
  message: string;
  range: Range;
  /** The key path the problem is about, when it is about one key. */
  key?: string;
}

/** NVFLARE GaussianPrivacy: noise std = sigma0 × the max_percentile-th percentile of |update| (relative noise). */
export interface RelativeGaussianNoise {
  sigma0: ConfigField<number>;
  maxPercentile?: ConfigField<number>;
}

/** A recognised defence the engine has no model for yet; kept so the user is told it was seen but not analysed. */
export interface UnmodelledDefence {
  name: string;
  reason: string;
  fields: ConfigField<unknown>[];
}

/** A JSON value passed to a constructor: a scalar, or a list/tuple/dict display of them (`hidden_dims=[64, 32]`). */
export type PythonArgValue = number | string | boolean | null | PythonArgValue[] | { [key: string]: PythonArgValue };

/** Constructor (or builder) arguments as JSON values: positional in order, then by keyword. */
export interface PythonModelArgs {
  positional: PythonArgValue[];
  keyword: Record<string, PythonArgValue>;
}

export interface TrainingSetup {
  file: string;
  format: ConfigFormat;
  flavour: ConfigFlavour;

  /** σ of DP-SGD: the Gaussian noise on the summed clipped gradients has std σ·C. */
  noiseMultiplier?: ConfigField<number>;
  /** C: the clipping norm. Per example under DP-SGD, per client update in Flower, per batch in Hugging Face. */
  clippingNorm?: ConfigField<number>;
  /** What `clippingNorm` bounds; decides whether it is DP-SGD's per-example clipping. */
  clippingScope?: 'per-example' | 'per-update' | 'per-batch';
  /** Where the noise of `noiseMultiplier` / `noiseStd` is added (default: the client). */
  dpSite?: DefenceSite;
  /** Server-scoped DP beside client-scoped DP in the same file. */
  centralDp?: CentralDp;
  /**
   * DP is configured here (this field: a clipping norm or δ) but its noise is set in the training code, which
   * reads this file (Flower apps): the noise is unknown until the user states it in the `i2f:` section.
   */
  noiseInCode?: ConfigField<unknown>;
  /** Evidence of secure aggregation (Flower SecAgg+ `num-shares`, FLSim `base_sync_secagg_server`, `secure_aggregation: true`). */
  secureAggregation?: ConfigField<unknown>;
  /** The attacker named in the `i2f:` section. */
  attacker?: ConfigField<string>;
  /** The training loss named in the `i2f:` section (one of CONFIG_LOSSES); it overrides the one read in code. */
  loss?: ConfigField<ConfigLoss>;
  /** The loss the training code computes, read statically (pysource/trainingLoss.ts). */
  lossInCode?: LossInCode;
  /** Absolute std of Gaussian noise added to the shared gradient (no clipping involved). */
  noiseStd?: ConfigField<number>;
  relativeNoise?: RelativeGaussianNoise;

  /** The per-step batch as written (per device in Hugging Face). */
  batchSize?: ConfigField<number>;
  gradientAccumulationSteps?: ConfigField<number>;
  /** TF Privacy: the batch is split into this many microbatches, each clipped as one. */
  microbatches?: ConfigField<number>;

  /** Fraction of gradient entries zeroed (smallest magnitudes first), 0..1. */
  pruneRatio?: ConfigField<number>;
  /** Fraction of gradient entries kept (largest magnitudes), 0..1. */
  topkRatio?: ConfigField<number>;
  quantizeBits?: ConfigField<number>;

  dpEnabled?: ConfigField<boolean>;
  /** FedML: 'ldp' (noise on each client's update) or 'cdp' (noise added by the server). */
  dpSolutionType?: ConfigField<string>;
  /** FedML: 'gaussian' or 'laplace'. */
  dpMechanism?: ConfigField<string>;
  /** L2 sensitivity of a Gaussian/Laplace mechanism (FedML `sensitivity`). */
  dpSensitivity?: ConfigField<number>;
  targetEpsilon?: ConfigField<number>;
  targetDelta?: ConfigField<number>;
  /** N: training examples (the δ < 1/N rule needs it). */
  datasetSize?: ConfigField<number>;
  /** Clients whose updates are averaged per round (Flower's server-side noise is σ·C / this). */
  numSampledClients?: ConfigField<number>;
  /** Accounting inputs (privacy/accountingInputs.ts): passes over the data, federated rounds, the client population. */
  epochs?: ConfigField<number>;
  rounds?: ConfigField<number>;
  totalClients?: ConfigField<number>;
  /** A sampling rate written as such (Opacus `sample_rate`, Flower `fraction-fit`), 0..1. */
  sampleRate?: ConfigField<number>;
  /**
   * A standalone script (no config beside it can supply an accounting input): the inputs its code does not let us
   * read, each with why and what in the script would let it be read. Present (possibly empty) only for such scripts.
   */
  scriptAccounting?: ScriptAccounting;
  /**
   * Opacus' make_private_with_epsilon: how its run-time σ was reproduced (then noiseMultiplier holds it), why it
   * could not be (pysource/opacusEpsilonNoise.ts), or (the editor's first reading) that it is yet to be searched for:
   * the query, and the budget said as the derived σ's note says it ("ε 50, δ 1e-5, 20 epochs, …, PRV accountant").
   */
  noiseFromTarget?:
    | { note: string; unknown?: undefined; pending?: undefined }
    | { unknown: string; note?: undefined; pending?: undefined }
    | { pending: { query: OpacusNoiseQuery; budget: string }; note?: undefined; unknown?: undefined };
  /**
   * The batch the DP accountant uses when code gives several possible values: the largest (the larger ε), where
   * `batchSize` keeps the smallest (the weaker defence against inversion). Unset when there is one value.
   */
  accountingBatchSize?: ConfigField<number>;

  model?: PathField;
  /** A model named by architecture (`model: resnet18`, FedML's `model: cnn`), when no model file is named. */
  architecture?: ConfigField<string>;
  /** The dataset trained on (`dataset: cifar10`): an architecture's input shape and class count come from it. */
  dataset?: ConfigField<string>;
  /** Explicit sizes for an architecture (`i2f: input-shape: [3, 32, 32]`, `num_classes: 10`). */
  inputShape?: ConfigField<number[]>;
  classes?: ConfigField<number>;
  /**
   * The model's BatchNorms replaced by GroupNorm(gcd(32, C), C): Opacus' ModuleValidator.fix read in the code (the
   * catalogue writes the architecture so; the export bridge makes the same swap in a workspace class).
   */
  normalisation?: ConfigField<'groupnorm'>;
  weights?: PathField;
  samples?: PathField;
  /** Where training writes its checkpoints (watched: each new checkpoint is analysed). */
  outputDir?: PathField;
  targetPsnr?: ConfigField<number>;
  /** A model built by the workspace's Python, named outright: `i2f: model: "pkg.task:Net"` (pythonReference.ts). */
  pythonModel?: ConfigField<string>;
  /** A Flower app's `[tool.flwr.app.components] clientapp`: the client module whose model the export bridge finds. */
  flowerClientApp?: ConfigField<string>;
  /**
   * The model that client module builds and the arguments it passes, values from the run config included
   * (pysource/flowerAppModel.ts), or why none was found; read when the file is (workspace/readSetup.ts).
   */
  flowerModel?: { factory: string; root: string; args?: PythonModelArgs; how: string } | { problem: string };
  /**
   * The folder `pythonModel` is imported from when it is not the config's own folder: a DP call read in Python names
   * its model relative to the app's root (the folder of its pyproject.toml), not to the .py file's folder.
   */
  pythonModelRoot?: string;
  /**
   * The arguments the code passes when it builds `pythonModel` (`convnet(num_classes=10)`), read statically as
   * literals; the bridge passes them as JSON (never evaluated as code).
   */
  pythonModelArgs?: PythonModelArgs;
  /** How `pythonModel` was found when the code does not name it (the Flower app's model, for its DP call sites). */
  pythonModelFoundBy?: string;
  /**
   * `pythonModel` is defined in a standalone script whose top level must not run: the bridge builds it from a module
   * of the script's imports and the definitions it needs (pysource/scriptDefinitions.ts); `note` says so.
   */
  pythonModelFromDefinitions?: { note: string };
  /**
   * What a LightningModule trains, read from its training_step (pysource/lightningStep.ts): said with the model in the
   * leakage finding, whether it is the forward and loss analysed or not.
   */
  trainedFunctionNote?: string;
  /**
   * The per-example shape of what the code trains on (the torchvision dataset its DP DataLoader loads, at the size its
   * transforms end with): tried first by the export bridge when no input-shape is given, and where it comes from.
   */
  pythonInputHint?: { shape: number[]; from: string };
  /** A DP call in a standalone script (no Flower app around it): no config beside it can name the model. */
  standaloneScript?: boolean;
  /**
   * A standalone script loads weights into the model it trains that the analysis cannot use (not in the workspace,
   * a path set at run time, a flag with no default): said with the model in the leakage finding.
   */
  loadedWeightsNote?: string;
  /** Why the model a DP call trains in a standalone script is not built (and the fix), when it is not. */
  pythonModelProblem?: { reason: string; fix: string };

  unmodelled: UnmodelledDefence[];
  /** Values that could not be used (wrong type, out of range, unresolved reference, missing file). */
  problems: ConfigProblem[];
}

/**
 * Whether the noise of `noiseMultiplier` is added by the server: said by the reader (`dpSite`), or Flower's central
 * wrappers read from code (an update-clipping Flower setup with a noise multiplier, pysource/pythonSetup.ts).
 */
export function noiseAddedByServer(setup: TrainingSetup): boolean {
  return setup.dpSite === 'server' || (setup.flavour === 'flower' && setup.clippingScope === 'per-update' && !!setup.noiseMultiplier && setup.dpSite === undefined);
}

/** The batch an attacker inverts: one averaged gradient over per-step batch × accumulation steps. */
export function effectiveBatchSize(setup: TrainingSetup): number | undefined {
  if (!setup.batchSize) return undefined;
  return setup.batchSize.value * (setup.gradientAccumulationSteps?.value ?? 1);
}

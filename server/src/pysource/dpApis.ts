// The differential-privacy APIs recognised in Python: which call, of which library, and what each argument means
// for the shared gradient. Signatures as the libraries document them (positional order after `self`).

/** The TrainingSetup fields (and facts of our own) an argument can supply. */
export type ArgumentRole =
  | 'noiseMultiplier'
  | 'clippingNorm'
  | 'noiseStd'
  | 'sumNoiseStd'
  | 'batchSize'
  | 'microbatches'
  | 'targetEpsilon'
  | 'targetDelta'
  | 'datasetSize'
  | 'epochs'
  | 'numSampledClients'
  | 'sensitivity'
  | 'dpDisabled'
  | 'model'
  | 'dataLoader'
  | 'accountant'
  | 'poissonSampling';

export type DpLibrary = 'opacus' | 'tf-privacy' | 'flower' | 'optax' | 'dp-transformers';

/**
 * How the call adds its noise: DP-SGD (per-example clipping, noise on the summed batch gradient, σ·C), Flower's
 * central DP (each client's update clipped, noise added by the server or by the clients to the aggregate), local DP
 * (noise on each client's own update, calibrated from ε, δ and the sensitivity), or no noise of its own (accounting,
 * secure aggregation, clipping mods, the accountant choice).
 */
export type DpMechanism = 'dp-sgd' | 'flower-central' | 'local-dp' | 'accounting' | 'secure-aggregation' | 'clipping-mod' | 'engine';

export interface DpApi {
  /** Callee names as written (the last segment of `a.b.name(…)`). */
  names: string[];
  library: DpLibrary;
  /** Root packages whose import makes the name mean this API (a `make_private` in a file that imports no opacus is not). */
  packages: string[];
  mechanism: DpMechanism;
  /** Positional parameter order, as the library declares it (after `self`). */
  params: string[];
  /** Parameter name → what it means. */
  roles: Record<string, ArgumentRole>;
  /** Where the noise is added, for Flower's central DP wrappers. */
  site?: 'client' | 'server';
  /** A bare name used as a value (Flower's `fixedclipping_mod` in `mods=[…]`), not called. */
  referenceOnly?: boolean;
}

const OPACUS = ['opacus'];
const TFP = ['tensorflow_privacy', 'tensorflow'];
const FLOWER = ['flwr'];
const OPTAX = ['optax'];
const DPT = ['dp_transformers'];

const TFP_OPTIMIZER_PARAMS = ['l2_norm_clip', 'noise_multiplier', 'num_microbatches'];
const TFP_OPTIMIZER_ROLES: Record<string, ArgumentRole> = { l2_norm_clip: 'clippingNorm', noise_multiplier: 'noiseMultiplier', num_microbatches: 'microbatches' };

export const DP_APIS: DpApi[] = [
  // Opacus: PrivacyEngine.make_private (keyword-only), make_private_with_epsilon (σ chosen from ε), the engine itself.
  {
    names: ['make_private'],
    library: 'opacus',
    packages: OPACUS,
    mechanism: 'dp-sgd',
    params: [],
    roles: { module: 'model', data_loader: 'dataLoader', noise_multiplier: 'noiseMultiplier', max_grad_norm: 'clippingNorm', poisson_sampling: 'poissonSampling' },
  },
  {
    names: ['make_private_with_epsilon'],
    library: 'opacus',
    packages: OPACUS,
    mechanism: 'dp-sgd',
    params: [],
    roles: { module: 'model', data_loader: 'dataLoader', target_epsilon: 'targetEpsilon', target_delta: 'targetDelta', epochs: 'epochs', max_grad_norm: 'clippingNorm', poisson_sampling: 'poissonSampling' },
  },
  { names: ['PrivacyEngine'], library: 'opacus', packages: OPACUS, mechanism: 'engine', params: ['module', 'batch_size', 'sample_size'], roles: { accountant: 'accountant', batch_size: 'batchSize', sample_size: 'datasetSize', noise_multiplier: 'noiseMultiplier', max_grad_norm: 'clippingNorm' } },
  {
    names: ['DPOptimizer'],
    library: 'opacus',
    packages: OPACUS,
    mechanism: 'dp-sgd',
    params: ['optimizer', 'noise_multiplier', 'max_grad_norm', 'expected_batch_size'],
    roles: { noise_multiplier: 'noiseMultiplier', max_grad_norm: 'clippingNorm', expected_batch_size: 'batchSize' },
  },
  // TensorFlow Privacy: the DP Keras optimizers, the TF1 DP optimizers, the DP queries and the privacy statement.
  {
    names: [
      'DPKerasSGDOptimizer', 'DPKerasAdamOptimizer', 'DPKerasAdagradOptimizer', 'VectorizedDPKerasSGDOptimizer', 'VectorizedDPKerasAdamOptimizer',
      'VectorizedDPKerasAdagradOptimizer', 'DPGradientDescentGaussianOptimizer', 'DPAdamGaussianOptimizer', 'DPAdagradGaussianOptimizer',
      'VectorizedDPSGD', 'VectorizedDPAdam', 'VectorizedDPAdagrad', 'DPSequential', 'DPModel',
    ],
    library: 'tf-privacy',
    packages: TFP,
    mechanism: 'dp-sgd',
    params: TFP_OPTIMIZER_PARAMS,
    roles: TFP_OPTIMIZER_ROLES,
  },
  { names: ['GaussianSumQuery'], library: 'tf-privacy', packages: TFP, mechanism: 'dp-sgd', params: ['l2_norm_clip', 'stddev'], roles: { l2_norm_clip: 'clippingNorm', stddev: 'sumNoiseStd' } },
  { names: ['GaussianAverageQuery'], library: 'tf-privacy', packages: TFP, mechanism: 'dp-sgd', params: ['l2_norm_clip', 'sum_stddev', 'denominator'], roles: { l2_norm_clip: 'clippingNorm', sum_stddev: 'sumNoiseStd' } },
  {
    names: ['QuantileAdaptiveClipSumQuery', 'QuantileAdaptiveClipAverageQuery'],
    library: 'tf-privacy',
    packages: TFP,
    mechanism: 'dp-sgd',
    params: ['initial_l2_norm_clip', 'noise_multiplier', 'target_unclipped_quantile'],
    roles: { initial_l2_norm_clip: 'clippingNorm', noise_multiplier: 'noiseMultiplier' },
  },
  {
    names: ['compute_dp_sgd_privacy', 'compute_dp_sgd_privacy_lib'],
    library: 'tf-privacy',
    packages: TFP,
    mechanism: 'accounting',
    params: ['n', 'batch_size', 'noise_multiplier', 'epochs', 'delta'],
    roles: { n: 'datasetSize', batch_size: 'batchSize', noise_multiplier: 'noiseMultiplier', epochs: 'epochs', delta: 'targetDelta' },
  },
  {
    names: ['compute_dp_sgd_privacy_statement'],
    library: 'tf-privacy',
    packages: TFP,
    mechanism: 'accounting',
    params: ['number_of_examples', 'batch_size', 'num_epochs', 'noise_multiplier', 'delta'],
    roles: { number_of_examples: 'datasetSize', batch_size: 'batchSize', num_epochs: 'epochs', noise_multiplier: 'noiseMultiplier', delta: 'targetDelta' },
  },
  // Flower: the central-DP strategy wrappers, local DP, the client mods and secure aggregation.
  {
    names: ['DifferentialPrivacyClientSideFixedClipping', 'DifferentialPrivacyServerSideFixedClipping'],
    library: 'flower',
    packages: FLOWER,
    mechanism: 'flower-central',
    params: ['strategy', 'noise_multiplier', 'clipping_norm', 'num_sampled_clients'],
    roles: { noise_multiplier: 'noiseMultiplier', clipping_norm: 'clippingNorm', num_sampled_clients: 'numSampledClients' },
    site: 'server',
  },
  {
    names: ['DifferentialPrivacyClientSideAdaptiveClipping', 'DifferentialPrivacyServerSideAdaptiveClipping'],
    library: 'flower',
    packages: FLOWER,
    mechanism: 'flower-central',
    params: ['strategy', 'noise_multiplier', 'num_sampled_clients', 'initial_clipping_norm'],
    roles: { noise_multiplier: 'noiseMultiplier', num_sampled_clients: 'numSampledClients', initial_clipping_norm: 'clippingNorm' },
    site: 'server',
  },
  {
    names: ['LocalDpMod'],
    library: 'flower',
    packages: FLOWER,
    mechanism: 'local-dp',
    params: ['clipping_norm', 'sensitivity', 'epsilon', 'delta'],
    roles: { clipping_norm: 'clippingNorm', sensitivity: 'sensitivity', epsilon: 'targetEpsilon', delta: 'targetDelta' },
    site: 'client',
  },
  { names: ['SecAggPlusWorkflow', 'SecAggWorkflow'], library: 'flower', packages: FLOWER, mechanism: 'secure-aggregation', params: ['num_shares', 'reconstruction_threshold'], roles: {} },
  { names: ['secaggplus_mod', 'secagg_mod'], library: 'flower', packages: FLOWER, mechanism: 'secure-aggregation', params: [], roles: {}, referenceOnly: true },
  { names: ['fixedclipping_mod', 'adaptiveclipping_mod'], library: 'flower', packages: FLOWER, mechanism: 'clipping-mod', params: [], roles: {}, referenceOnly: true },
  // Optax (JAX): DP-SGD and its gradient transformation (optax.contrib since 0.1.8; optax.* before).
  {
    names: ['dpsgd'],
    library: 'optax',
    packages: OPTAX,
    mechanism: 'dp-sgd',
    params: ['learning_rate', 'l2_norm_clip', 'noise_multiplier', 'seed'],
    roles: { l2_norm_clip: 'clippingNorm', noise_multiplier: 'noiseMultiplier' },
  },
  {
    names: ['differentially_private_aggregate'],
    library: 'optax',
    packages: OPTAX,
    mechanism: 'dp-sgd',
    params: ['l2_norm_clip', 'noise_multiplier', 'seed'],
    roles: { l2_norm_clip: 'clippingNorm', noise_multiplier: 'noiseMultiplier' },
  },
  // dp-transformers: the privacy arguments its OpacusDPTrainer runs with (a dataclass, built by keyword).
  {
    names: ['PrivacyArguments'],
    library: 'dp-transformers',
    packages: DPT,
    mechanism: 'dp-sgd',
    params: [],
    roles: { per_sample_max_grad_norm: 'clippingNorm', noise_multiplier: 'noiseMultiplier', target_epsilon: 'targetEpsilon', target_delta: 'targetDelta', disable_dp: 'dpDisabled' },
  },
];

const BY_NAME = new Map<string, DpApi>();
for (const api of DP_APIS) for (const n of api.names) BY_NAME.set(n, api);

export function dpApiNamed(name: string): DpApi | undefined {
  return BY_NAME.get(name);
}

// TrainingSetup → the engine's defence specs ('dpsgd:clip=C,noise=σ', …) and the batch to analyse, each tied to the config lines it came from.

import type { ConfigField, TrainingSetup, UnmodelledDefence } from './trainingSetup';
import { effectiveBatchSize } from './trainingSetup';

export type DefenceKind = 'gaussian' | 'dpsgd' | 'prune' | 'quantize' | 'topk';

/** One defence in the CLI's `--defence` syntax, with the fields whose lines a diagnostic about it belongs on. */
export interface DefenceSpec {
  kind: DefenceKind;
  /** Exactly the CLI syntax: 'gaussian:std=S', 'dpsgd:clip=C,noise=SIGMA', 'prune:ratio=P', 'quantize:bits=K', 'topk:ratio=P'. */
  spec: string;
  fields: ConfigField<unknown>[];
  /** What the user should know about how the config's numbers became this spec. */
  note?: string;
}

/**
 * NVFLARE GaussianPrivacy: std = sigma0 × percentile(|update|, maxPercentile). The std depends on the update
 * itself, so the analysis computes it from g and then uses `gaussianSpec(std)`.
 */
export interface RelativeGaussianDefence {
  kind: 'gaussian-relative';
  sigma0: number;
  percentile: number;
  fields: ConfigField<unknown>[];
}

export interface AnalysisPlan {
  defences: DefenceSpec[];
  relative: RelativeGaussianDefence[];
  /** Recognised but not expressible as a spec; the features layer tells the user (I2F111). */
  unmodelled: UnmodelledDefence[];
  /** Examples per shared gradient (per-step batch × accumulation steps); undefined when the config does not say. */
  batchSize?: number;
  batchFields: ConfigField<number>[];
}

/** Numbers in specs: short and exact enough (12 significant digits), never '1.1000000000000001'. */
function num(x: number): string {
  return String(Number(x.toPrecision(12)));
}

export function gaussianSpec(std: number): string {
  return `gaussian:std=${num(std)}`;
}

/** σ = Δ·√(2 ln(1.25/δ)) / ε: the classic Gaussian mechanism, as FedML's `mechanism_type: gaussian` calibrates it. */
export function gaussianMechanismStd(epsilon: number, delta: number, sensitivity: number): number {
  return (sensitivity * Math.sqrt(2 * Math.log(1.25 / delta))) / epsilon;
}

export function analysisPlan(setup: TrainingSetup): AnalysisPlan {
  const defences: DefenceSpec[] = [];
  const relative: RelativeGaussianDefence[] = [];
  const unmodelled: UnmodelledDefence[] = [...setup.unmodelled];
  const dpOff = setup.dpEnabled?.value === false;
  const { noiseMultiplier: sigma, clippingNorm: clip } = setup;

  if (!dpOff) {
    if (setup.flavour === 'fedml' && setup.dpEnabled?.value === true) {
      fedmlDefences(setup, defences, unmodelled);
    } else if (sigma && clip && clip.value > 0 && setup.clippingScope === 'per-update') {
      // Flower's DP wrappers clip each client's whole update to C and the server adds N(0, (σC/n)²) to the
      // average of n sampled clients' updates.
      const n = setup.numSampledClients;
      const std = (sigma.value * clip.value) / (n?.value ?? 1);
      defences.push({
        kind: 'gaussian',
        spec: gaussianSpec(std),
        fields: [sigma, clip, ...(n ? [n] : [])],
        note: n
          ? `σ·C/num_sampled_clients = ${num(sigma.value)}·${num(clip.value)}/${n.value}, added by the server to the average update.`
          : `σ·C = ${num(sigma.value)}·${num(clip.value)} (no num-sampled-clients in the config, so one client assumed).`,
      });
    } else if (sigma && clip && setup.clippingScope === 'per-example') {
      defences.push({ kind: 'dpsgd', spec: `dpsgd:clip=${num(clip.value)},noise=${num(sigma.value)}`, fields: [clip, sigma] });
    } else if (clip && setup.clippingScope === 'per-example') {
      // Clipping alone still changes the shared gradient (deterministically); analyse exactly that.
      defences.push({
        kind: 'dpsgd',
        spec: `dpsgd:clip=${num(clip.value)},noise=0`,
        fields: [clip],
        note: setup.targetEpsilon
          ? 'The noise multiplier is chosen at run time from target_epsilon; only the clipping is analysed. Set noise_multiplier to analyse the noise too.'
          : 'Clipping without noise: no differential privacy.',
      });
    } else if (sigma) {
      unmodelled.push({
        name: 'noise multiplier without clipping norm',
        reason: 'the noise std is σ·C and the config sets no clipping norm C, so the noise level is unknown.',
        fields: [sigma],
      });
    }
  }

  if (setup.noiseStd) {
    defences.push({ kind: 'gaussian', spec: gaussianSpec(setup.noiseStd.value), fields: [setup.noiseStd] });
  }
  if (setup.relativeNoise) {
    const { sigma0, maxPercentile } = setup.relativeNoise;
    relative.push({
      kind: 'gaussian-relative',
      sigma0: sigma0.value,
      percentile: maxPercentile?.value ?? 95,
      fields: [sigma0, ...(maxPercentile ? [maxPercentile] : [])],
    });
  }
  if (setup.pruneRatio) {
    defences.push({ kind: 'prune', spec: `prune:ratio=${num(setup.pruneRatio.value)}`, fields: [setup.pruneRatio] });
  }
  if (setup.topkRatio) {
    defences.push({ kind: 'topk', spec: `topk:ratio=${num(setup.topkRatio.value)}`, fields: [setup.topkRatio] });
  }
  if (setup.quantizeBits) {
    defences.push({ kind: 'quantize', spec: `quantize:bits=${num(setup.quantizeBits.value)}`, fields: [setup.quantizeBits] });
  }

  const batchFields = [setup.batchSize, setup.gradientAccumulationSteps].filter((f): f is ConfigField<number> => !!f);
  const batchSize = effectiveBatchSize(setup);
  return { defences, relative, unmodelled, ...(batchSize !== undefined ? { batchSize } : {}), batchFields };
}

/** FedML `dp_args`: Gaussian mechanism calibrated from (ε, δ, sensitivity); Laplace is not modelled. */
function fedmlDefences(setup: TrainingSetup, defences: DefenceSpec[], unmodelled: UnmodelledDefence[]): void {
  const mechanism = setup.dpMechanism?.value.toLowerCase() ?? 'gaussian';
  const { targetEpsilon: eps, targetDelta: delta, dpSensitivity: sens, dpSolutionType: type } = setup;
  const fields = [setup.dpEnabled, setup.dpMechanism, eps, delta, sens].filter((f): f is ConfigField<any> => !!f);
  if (mechanism !== 'gaussian') {
    unmodelled.push({ name: `FedML ${mechanism} mechanism`, reason: `the ${mechanism} mechanism is not modelled yet (Gaussian is).`, fields });
    return;
  }
  if (!eps || !delta) {
    unmodelled.push({ name: 'FedML Gaussian mechanism', reason: 'epsilon and delta are both needed to calibrate its noise.', fields });
    return;
  }
  const sensitivity = sens?.value ?? 1;
  const std = gaussianMechanismStd(eps.value, delta.value, sensitivity);
  const central = type?.value.toLowerCase() === 'cdp';
  defences.push({
    kind: 'gaussian',
    spec: gaussianSpec(std),
    fields: [...fields, ...(type ? [type] : [])],
    note:
      `σ = Δ·√(2 ln(1.25/δ))/ε = ${num(sensitivity)}·√(2 ln(1.25/${num(delta.value)}))/${num(eps.value)}` +
      (central ? '; central DP: the server adds it to the aggregate, so the server itself sees updates without it.' : '.'),
  });
}

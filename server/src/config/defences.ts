// TrainingSetup → the engine's defence specs ('dpsgd:clip=C,noise=σ', …) and the batch to analyse, each tied to the config lines it came from.

import type { ConfigField, TrainingSetup, UnmodelledDefence } from './trainingSetup';
import { effectiveBatchSize, noiseAddedByServer } from './trainingSetup';
import { gaussianSpec, shownNumber, specNumber as num, type DefenceSpec } from './defenceSpec';
import { threatModel, type ThreatModel } from './threatModel';

export { gaussianSpec, shownSpec, type DefenceKind, type DefenceSpec } from './defenceSpec';

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
  /** The defences on what the chosen attacker inverts (threat.chosen.defences). */
  defences: DefenceSpec[];
  /** Who the finding is about and what the other attackers see. */
  threat: ThreatModel;
  relative: RelativeGaussianDefence[];
  /** Recognised but not expressible as a spec; the features layer tells the user (I2F111). */
  unmodelled: UnmodelledDefence[];
  /** Examples per shared gradient (per-step batch × accumulation steps); undefined when the config does not say. */
  batchSize?: number;
  batchFields: ConfigField<number>[];
}

/** σ = Δ·√(2 ln(1.25/δ)) / ε: the classic Gaussian mechanism, as FedML's `mechanism_type: gaussian` calibrates it. */
export function gaussianMechanismStd(epsilon: number, delta: number, sensitivity: number): number {
  return (sensitivity * Math.sqrt(2 * Math.log(1.25 / delta))) / epsilon;
}

export function analysisPlan(setup: TrainingSetup): AnalysisPlan {
  // Defences applied on the client, before its update leaves (every attacker sees them), and the server's noise.
  const defences: DefenceSpec[] = [];
  let central: DefenceSpec | undefined;
  const relative: RelativeGaussianDefence[] = [];
  const unmodelled: UnmodelledDefence[] = [...setup.unmodelled];
  const dpOff = setup.dpEnabled?.value === false;
  const { noiseMultiplier: sigma, clippingNorm: clip } = setup;
  const onServer = noiseAddedByServer(setup);

  if (!dpOff) {
    if (setup.flavour === 'fedml' && setup.dpEnabled?.value === true) {
      central = fedmlDefences(setup, defences, unmodelled);
    } else if (setup.flavour === 'flower' && !sigma && setup.dpSensitivity && setup.targetEpsilon && setup.targetDelta) {
      // LocalDpMod: each client clips its update to C and adds N(0, σ²), σ = Δ·√(2 ln(1.25/δ))/ε, before sending it.
      const { dpSensitivity: sens, targetEpsilon: eps, targetDelta: delta } = setup;
      const std = gaussianMechanismStd(eps.value, delta.value, sens.value);
      defences.push({
        kind: 'gaussian',
        spec: gaussianSpec(std),
        fields: [eps, delta, sens, ...(clip ? [clip] : [])],
        note: `Flower's LocalDpMod: σ = Δ·√(2 ln(1.25/δ))/ε = ${shownNumber(sens.value)}·√(2 ln(1.25/${shownNumber(delta.value)}))/${shownNumber(eps.value)} = ${shownNumber(std)}, added by each client before its update leaves (its clipping of the update to C is a rescaling, not modelled).`,
      });
    } else if (sigma && clip && clip.value > 0 && onServer) {
      central = centralNoise(setup, sigma, clip);
    } else if (sigma && clip && setup.clippingScope === 'per-example') {
      const chosen = setup.noiseFromTarget?.note;
      defences.push({ kind: 'dpsgd', spec: `dpsgd:clip=${num(clip.value)},noise=${num(sigma.value)}`, fields: [clip, sigma], ...(chosen ? { note: chosen } : {}) });
    } else if (clip && setup.clippingScope === 'per-example' && !(sigma && sigma.value === 0 && setup.centralDp)) {
      // Clipping alone still changes the shared gradient (deterministically); analyse exactly that.
      defences.push({
        kind: 'dpsgd',
        spec: `dpsgd:clip=${num(clip.value)},noise=0`,
        fields: [clip],
        note: setup.noiseInCode
          ? 'Noise set in code: only the clipping is analysed. Add the noise multiplier to the i2f: section ([tool.i2f] noise-multiplier = …) to analyse it.'
          : setup.noiseFromTarget?.pending
            ? `σ, as Opacus' make_private_with_epsilon chooses it for ${setup.noiseFromTarget.pending.budget}, is not yet derived: the noise is not counted, only the clipping is analysed.`
            : setup.noiseFromTarget?.unknown
              ? `The noise multiplier is chosen at run time from target_epsilon and is not reproduced here: ${setup.noiseFromTarget.unknown}. Only the clipping is analysed.`
              : setup.targetEpsilon
                ? 'The noise multiplier is chosen at run time from target_epsilon; only the clipping is analysed. Set noise_multiplier to analyse the noise too.'
                : 'Clipping without noise: no differential privacy.',
      });
    } else if (sigma && sigma.value > 0 && !clip) {
      unmodelled.push({
        name: 'noise multiplier without clipping norm',
        reason: 'the noise std is σ·C and the config sets no clipping norm C, so the noise level is unknown.',
        fields: [sigma],
      });
    }
    const c = setup.centralDp;
    if (c?.noiseMultiplier && c.clippingNorm && c.noiseMultiplier.value > 0) central = centralNoise(setup, c.noiseMultiplier, c.clippingNorm);
  }

  if (setup.noiseStd) {
    const spec: DefenceSpec = { kind: 'gaussian', spec: gaussianSpec(setup.noiseStd.value), fields: [setup.noiseStd] };
    if (onServer && !central) central = { ...spec, note: 'Added by the server to the aggregate.' };
    else defences.push(spec);
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

  const threat = threatModel(setup, defences, central);
  const batchFields = [setup.batchSize, setup.gradientAccumulationSteps].filter((f): f is ConfigField<number> => !!f);
  const batchSize = effectiveBatchSize(setup);
  return { defences: threat.chosen.defences, threat, relative, unmodelled, ...(batchSize !== undefined ? { batchSize } : {}), batchFields };
}

/**
 * Central DP with update clipping (Flower's DP wrappers, FLSim's server privacy_setting): the server adds
 * N(0, (σC/n)²) to the average of n clipped updates, i.e. N(0, (σC)²) on each client's share. Clipping the whole
 * update is a rescaling and is not modelled; for an update longer than C the true noise relative to it is larger
 * (σ·‖Δ‖), so σ·C is the cautious side.
 */
function centralNoise(setup: TrainingSetup, sigma: ConfigField<number>, clip: ConfigField<number>): DefenceSpec {
  const n = setup.numSampledClients;
  const std = sigma.value * clip.value;
  return {
    kind: 'gaussian',
    spec: gaussianSpec(std),
    fields: [sigma, clip, ...(n ? [n] : [])],
    note:
      `σ·C = ${shownNumber(sigma.value)}·${shownNumber(clip.value)} = ${shownNumber(std)} on one client's clipped update: the server adds noise of std σ·C/n to the average of ` +
      (n ? `n = ${n.value} sampled clients' updates` : 'the sampled clients\' updates') +
      `, which is σ·C on each client's share. Only observers of the aggregate see it; the server sees the updates before it.`,
  };
}

/**
 * FedML `dp_args`: the Gaussian mechanism calibrated from (ε, δ, sensitivity), added on the client ('ldp', and
 * NbAFL's local noise) or by the server to the averaged model ('cdp'); Laplace and 'dp_clip' are not modelled.
 * Returns the server's noise on one client's share, if any; client-side noise goes into `defences`.
 */
function fedmlDefences(setup: TrainingSetup, defences: DefenceSpec[], unmodelled: UnmodelledDefence[]): DefenceSpec | undefined {
  const mechanism = setup.dpMechanism?.value.toLowerCase() ?? 'gaussian';
  const { targetEpsilon: eps, targetDelta: delta, dpSensitivity: sens, dpSolutionType: type } = setup;
  const fields = [setup.dpEnabled, setup.dpMechanism, eps, delta, sens].filter((f): f is ConfigField<any> => !!f);
  const solution = type?.value.toLowerCase() ?? 'ldp';
  if (solution === 'dp_clip') {
    unmodelled.push({ name: "FedML 'dp_clip'", reason: 'its noise is scaled by the round\'s total data size, which the config does not state.', fields: [type!, ...fields] });
    return undefined;
  }
  if (mechanism !== 'gaussian') {
    unmodelled.push({ name: `FedML ${mechanism} mechanism`, reason: `the ${mechanism} mechanism is not modelled yet (Gaussian is).`, fields });
    return undefined;
  }
  if (!eps || !delta) {
    unmodelled.push({ name: 'FedML Gaussian mechanism', reason: 'epsilon and delta are both needed to calibrate its noise.', fields });
    return undefined;
  }
  const sensitivity = sens?.value ?? 1;
  const std = gaussianMechanismStd(eps.value, delta.value, sensitivity);
  const formula = `σ = Δ·√(2 ln(1.25/δ))/ε = ${shownNumber(sensitivity)}·√(2 ln(1.25/${shownNumber(delta.value)}))/${shownNumber(eps.value)} = ${shownNumber(std)}`;
  if (solution === 'cdp') {
    // FedML adds σ to the (sample-weighted) average of n clients' models: n·σ on one client's share, equal weights.
    const n = setup.numSampledClients;
    const perClient = std * (n?.value ?? 1);
    return {
      kind: 'gaussian',
      spec: gaussianSpec(perClient),
      fields: [...(type ? [type] : []), ...fields, ...(n ? [n] : [])],
      note: `${formula}, added by the server to the average of ${n ? `n = ${n.value}` : 'the'} clients' models: ${n ? `n·σ = ${shownNumber(perClient)}` : 'σ (client count unknown)'} on one client's share (equal weights). Only observers of the aggregate see it; the server sees the updates before it.`,
    };
  }
  defences.push({
    kind: 'gaussian',
    spec: gaussianSpec(std),
    fields: [...fields, ...(type ? [type] : [])],
    note: `${formula}, added by each client to its update${solution === 'nbafl' ? ' (NbAFL; its per-coordinate clipping to C is not modelled)' : ''}.`,
  });
  return undefined;
}

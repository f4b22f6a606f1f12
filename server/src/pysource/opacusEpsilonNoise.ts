// The σ an Opacus `make_private_with_epsilon(...)` call trains with: Opacus picks it at run time with
// get_noise_multiplier from target_epsilon, target_delta, epochs and sample_rate = 1/len(data_loader), using the
// PrivacyEngine's accountant ('prv' by default since Opacus 1.3). When the script gives all of those statically, the
// same σ (privacy/opacusNoise.ts) is the noise the analysis uses; otherwise what is missing is said and only the
// clipping is analysed, as before.

import type { ConfigField, TrainingSetup } from '../config/trainingSetup';
import { cachedOpacusNoiseMultiplier, knownOpacusNoise, opacusSteps, type OpacusAccountant, type OpacusNoiseQuery } from '../privacy/opacusNoise';
import type { DpCallSite } from './callSites';
import { callArguments, short, type ModuleIndex } from './moduleIndex';
import { resolveValue, type Scalar } from './staticValue';
import type { SyntaxNode } from './pythonParser';
import { nodeRange } from './pythonParser';

/** make_private_with_epsilon's own parameters (Opacus 1.5): any other keyword goes on to get_noise_multiplier. */
const OWN_PARAMETERS = new Set([
  'module', 'optimizer', 'criterion', 'data_loader', 'target_epsilon', 'target_delta', 'epochs', 'max_grad_norm', 'batch_first',
  'loss_reduction', 'poisson_sampling', 'clipping', 'noise_generator', 'grad_sample_mode',
]);

/** DataLoader's positional parameters up to drop_last (torch.utils.data.DataLoader). */
const DROP_LAST_POSITION = 8;
const SAMPLER_POSITION = 3;
const BATCH_SAMPLER_POSITION = 4;

export type EpsilonNoise =
  | { kind: 'derived'; field: ConfigField<number>; note: string }
  | { kind: 'unknown'; reason: string }
  /** Everything σ is chosen from is read, its search not yet run (the editor runs it off the thread, after this reading). */
  | { kind: 'pending'; query: OpacusNoiseQuery; budget: string };

function single(index: ModuleIndex, node: SyntaxNode): { value: Scalar } | { why: string } {
  const r = resolveValue({ module: index }, node);
  if (r.kind === 'runtime') return { why: `\`${short(node.text)}\` is set at run time (${r.reason})` };
  const values = [...new Set(r.values.map((v) => v.value))];
  return values.length === 1 ? { value: values[0] } : { why: `\`${short(node.text)}\` may be any of ${values.map(String).join(', ')}` };
}

/**
 * The accountant of the script's PrivacyEngine(…) calls: `accountant=` read statically, 'prv' (Opacus ≥ 1.3's
 * default) when absent. Opacus before 1.3 defaulted to 'rdp', which picks a LARGER σ, so 'prv' is the cautious
 * reading of an engine that names none.
 */
function engineAccountant(index: ModuleIndex, sites: DpCallSite[]): { accountant: OpacusAccountant; stated: boolean } | { why: string } {
  const engines = sites.filter((s) => s.api.library === 'opacus' && s.api.mechanism === 'engine');
  if (!engines.length) return { why: 'no `PrivacyEngine(…)` call in this script says which accountant picks σ' };
  const found = new Set<string>();
  let stated = false;
  for (const e of engines) {
    const args = callArguments(e.node);
    if (args.splat) return { why: '`PrivacyEngine(…)` is called with *args or **kwargs, which may name the accountant' };
    const kw = args.keyword.get('accountant');
    if (!kw) {
      found.add('prv');
      continue;
    }
    const v = single(index, kw.value);
    if ('why' in v) return { why: `the PrivacyEngine's accountant: ${v.why}` };
    found.add(String(v.value));
    stated = true;
  }
  if (found.size > 1) return { why: `the script's PrivacyEngine calls name different accountants (${[...found].join(', ')})` };
  const accountant = [...found][0];
  if (accountant !== 'prv' && accountant !== 'rdp' && accountant !== 'gdp') return { why: `the PrivacyEngine's accountant '${accountant}' is not one Opacus ships` };
  return { accountant, stated };
}

/** len(data_loader): ⌈N/B⌉, or ⌊N/B⌋ with drop_last=True; unknown with a sampler, which sets the length itself. */
function loaderLength(index: ModuleIndex, loader: SyntaxNode | undefined, setup: TrainingSetup): { length: number; how: string } | { why: string } {
  if (!loader) return { why: 'the `data_loader=` argument was not traced to a `DataLoader(…)` call in this script' };
  const args = callArguments(loader);
  if (args.splat) return { why: 'the DataLoader is built with *args or **kwargs' };
  for (const [name, position] of [['sampler', SAMPLER_POSITION], ['batch_sampler', BATCH_SAMPLER_POSITION]] as const) {
    if (args.keyword.has(name) || args.positional.length > position) return { why: `the DataLoader has a \`${name}\`, which sets len(data_loader)` };
  }
  const n = setup.datasetSize;
  const b = setup.batchSize;
  if (!n) return { why: 'the training set size N behind the DataLoader is not read' };
  if (!b) return { why: 'the DataLoader\'s batch size is not read' };
  if (b.fromCode && new Set(b.fromCode.alternatives.map((a) => a.value)).size > 1) return { why: `the DataLoader's batch size may be any of ${[...new Set(b.fromCode.alternatives.map((a) => a.value))].join(', ')}` };
  let dropLast = false;
  const kw = args.keyword.get('drop_last')?.value ?? args.positional[DROP_LAST_POSITION];
  if (kw) {
    const v = single(index, kw);
    if ('why' in v) return { why: `the DataLoader's drop_last: ${v.why}` };
    if (typeof v.value !== 'boolean') return { why: `the DataLoader's drop_last is ${String(v.value)}` };
    dropLast = v.value;
  }
  const length = dropLast ? Math.floor(n.value / b.value) : Math.ceil(n.value / b.value);
  if (!(length >= 1)) return { why: `len(data_loader) = ${dropLast ? '⌊' : '⌈'}${n.value}/${b.value}${dropLast ? '⌋' : '⌉'} is 0` };
  return { length, how: `${dropLast ? '⌊' : '⌈'}${n.value}/${b.value}${dropLast ? '⌋' : '⌉'}${dropLast ? ' (drop_last=True)' : ''}` };
}

/**
 * Reads the call and runs Opacus' search (memoised: a script's refreshes ask the same question). With `deferred`, a
 * search not yet remembered is not run here: its query is added there (the reader runs it off the thread, then reads
 * again, or leaves it to the editor) and the answer is 'pending', with the budget it is searched for.
 */
export function opacusEpsilonNoise(index: ModuleIndex, site: DpCallSite, sites: DpCallSite[], loader: SyntaxNode | undefined, setup: TrainingSetup, deferred?: OpacusNoiseQuery[]): EpsilonNoise {
  if (site.splat) return { kind: 'unknown', reason: 'the call passes *args or **kwargs, which may carry its budget or get_noise_multiplier\'s options' };
  const args = callArguments(site.node);
  const extra = [...args.keyword.keys()].filter((k) => !OWN_PARAMETERS.has(k));
  if (extra.length) return { kind: 'unknown', reason: `the call passes \`${extra.join('`, `')}\` on to get_noise_multiplier, whose effect is not reproduced` };
  const numberOf = (parameter: string): { value: number; node: SyntaxNode } | { why: string } => {
    const kw = args.keyword.get(parameter);
    if (!kw) return { why: `the call has no \`${parameter}=\`` };
    const v = single(index, kw.value);
    if ('why' in v) return { why: `\`${parameter}\`: ${v.why}` };
    return typeof v.value === 'number' && Number.isFinite(v.value) ? { value: v.value, node: kw.value } : { why: `\`${parameter}\` is ${String(v.value)}, not a number` };
  };
  const eps = numberOf('target_epsilon');
  const delta = numberOf('target_delta');
  const epochs = numberOf('epochs');
  const length = loaderLength(index, loader, setup);
  const engine = engineAccountant(index, sites);
  const missing = [eps, delta, epochs, length, engine].filter((x): x is { why: string } => 'why' in x).map((x) => x.why);
  if (missing.length || 'why' in eps || 'why' in delta || 'why' in epochs || 'why' in length || 'why' in engine) return { kind: 'unknown', reason: missing.join('; ') };
  if (!(eps.value > 0) || !(delta.value > 0 && delta.value < 1) || !(epochs.value > 0)) {
    return { kind: 'unknown', reason: `ε ${eps.value}, δ ${delta.value} and ${epochs.value} epochs are not a budget Opacus can meet` };
  }
  const sampleRate = 1 / length.length;
  const query: OpacusNoiseQuery = { targetEpsilon: eps.value, targetDelta: delta.value, sampleRate, epochs: epochs.value, accountant: engine.accountant };
  const name = { prv: 'PRV', rdp: 'RDP', gdp: 'GDP' }[engine.accountant];
  const budget = `ε ${eps.value}, δ ${delta.value <= 1e-3 ? delta.value.toExponential() : delta.value}, ${epochs.value} epochs, q = 1/len(data_loader) = 1/${length.length} (${length.how}), ${opacusSteps(epochs.value, sampleRate)} steps, ${name} accountant${engine.stated ? '' : ' (the PrivacyEngine\'s default since Opacus 1.3)'}`;
  if (deferred && !knownOpacusNoise(query)) {
    deferred.push(query);
    return { kind: 'pending', query, budget };
  }
  const result = cachedOpacusNoiseMultiplier(query);
  if (result.kind === 'failed') return { kind: 'unknown', reason: `Opacus' get_noise_multiplier finds no σ for ${budget}: ${result.reason}` };
  const sigma = result.noiseMultiplier;
  const how = `σ ${Number(sigma.toPrecision(4))}, as Opacus' make_private_with_epsilon chooses it for ${budget}`;
  const field: ConfigField<number> = {
    value: sigma,
    key: 'noise multiplier chosen from target_epsilon',
    path: [site.name, 'target_epsilon'],
    keyRange: nodeRange(args.keyword.get('target_epsilon')!.name),
    valueRange: nodeRange(eps.node),
    file: setup.file,
    fromCode: {
      source: { file: setup.file, range: nodeRange(eps.node), kind: 'computed', label: how, editable: false },
      alternatives: [],
      steps: [how, `its ε there: ${Number(result.epsilon.toPrecision(4))} (Opacus stops within 0.01 below the target)`],
      written: args.keyword.get('target_epsilon')!.value.text,
    },
  };
  return { kind: 'derived', field, note: `${how}; ε at that σ ${Number(result.epsilon.toPrecision(4))}.` };
}

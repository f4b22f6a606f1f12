// A Python file's DP call sites → the same TrainingSetup a config gives: every field located on the call's argument,
// carrying where its value is written (literal, flag default, the Flower app's pyproject.toml) and all the values it may
// take. Of several possible values the weakest defence is analysed (the least noise, the largest clipping norm).

import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import type { Range } from '../config/keyTree';
import { gaussianMechanismStd } from '../config/defences';
import { describeArgs } from '../config/pythonReference';
import { RULES } from '../config/ruleCatalog';
import type { CodeValue, CodeValueSource, ConfigField, ConfigFlavour, ConfigProblem, PathField, PythonModelArgs, ScriptAccounting, TrainingSetup } from '../config/trainingSetup';
import { findDpCallSites, type CallSiteArgument, type DpCallSite } from './callSites';
import type { ArgumentRole } from './dpApis';
import { flowerAppOf, type FlowerApp } from './flowerApp';
import { callArguments, enclosing, indexModule, lastName, short, type ModuleIndex } from './moduleIndex';
import { importHazard, importHazardMessage } from './importSafety';
import { definitionsNote, definitionsRefusal, scriptDefinitions } from './scriptDefinitions';
import { NOTEBOOK_EXTENSION } from './notebook';
import { notebookHazardFix, notebookHazardMessage, notebookModule } from './notebookModule';
import { importedRoots, nodeRange, parsePython, pythonParser, type SyntaxNode } from './pythonParser';
import { DP_APIS } from './dpApis';
import { resolveValue, type PossibleValue, type Scalar } from './staticValue';
import { libraryModelSetup, scriptInput, torchvisionModelOf, type LibraryModel } from './libraryModel';
import { datasetShape } from '../models/catalogue/datasets';
import { datasetSize, trainingSetSize } from './trainingData';
import { readKerasAccounting } from './kerasAccounting';
import { datasetSizeField, fieldOf } from './codeField';
import { epochLoops, type EpochReading } from './epochLoops';
import { assignedBefore, isBinding, modelInside, type GroupNormFix } from './bindings';
import { loadedWeightsSetup, readLoadedWeights, type LoadedWeights } from './loadedWeights';
import { opacusEpsilonNoise } from './opacusEpsilonNoise';
import { readFactoryArguments } from './factoryArguments';
import { dpGuardOff, pythonScalar, type DpGuardOff } from './dpGuard';
import { nvflareJobSetup } from './nvflareJobSetup';
import { flowerAppModel } from './flowerAppModel';
import { isLightningModule, lightningTrainingStep } from './lightningStep';
import { factoryFile, readTrainingLoss, readTrainingLossOfFile } from './trainingLoss';
import { opacusNoiseInBackground } from '../privacy/opacusNoiseInBackground';
import type { OpacusNoiseQuery } from '../privacy/opacusNoise';

/** The model a DP call trains, resolved statically to its class and the file that defines it. */
export interface ModelClass {
  name: string;
  /** The module it is imported from (`opacus_fl.task`), when imported. */
  module?: string;
  /** The file that defines it, when found in the workspace. */
  file?: string;
  /**
   * `module:Class` as the Python bridge imports it (models/modelRef.ts `{kind: 'python', factory}`); for a standalone
   * script whose name is not a Python identifier, `script-name.py:Class`, loaded by path.
   */
  factory?: string;
  /** A builder function (`convnet(num_classes=10)`) rather than a class. */
  builder?: boolean;
  /** The arguments the code builds it with, read as literals. */
  args?: PythonModelArgs;
  /** Why the bridge does not build it (an argument not readable statically, a script that trains when imported). */
  problem?: { reason: string; fix: string };
  /**
   * A script whose top level must not run: the bridge builds the model from a module of its imports and the
   * definitions it needs (scriptDefinitions.ts), and this says so for the report.
   */
  fromDefinitions?: { note: string };
  /** `ModuleValidator.fix(model)` between the class and the DP call: the bridge makes the same GroupNorm swap. */
  groupNorm?: GroupNormFix;
  /** Where the call names it (`module=model`). */
  range: Range;
}

export interface PythonReading {
  file: string;
  sites: DpCallSite[];
  /** null when the file has no DP call site (ordinary Python: no diagnostics at all). */
  setup: TrainingSetup | null;
  app?: FlowerApp;
  modelClass?: ModelClass;
  /** Set when the file was not parsed (too large, too slow to parse). */
  notRead?: string;
}

export interface ReadPythonOptions {
  /** The Flower app's pyproject.toml text (tests, open editor buffers); default: read from disk. */
  readText?: (path: string) => string | undefined;
  maxTextLength?: number;
  maxParseMs?: number;
  /** Parse even a file that names no DP library (tests and the bench measure the parser on every file). */
  parseAll?: boolean;
  /**
   * The text is a notebook's code cells joined (pysource/notebookReading.ts) and `file` the .ipynb: a model defined in
   * it is built from the notebook's definitions only (notebookModule.ts), never by importing the file.
   */
  notebook?: boolean;
  /**
   * make_private_with_epsilon's σ not yet remembered: 'wait' (the default, `i2f audit`) searches on a worker thread
   * and reads again; 'later' (the editor) returns at once with the clipping-only reading and the query in
   * setup.noiseFromTarget.pending, which the editor searches for (cancellably) before reading again.
   */
  noiseSearch?: 'wait' | 'later';
  /**
   * The command line the script is run with (an NVFlare job's `script_args` / `train_args`): the flags it sets are
   * read in place of their argparse defaults; `from` says where it is written (nvflareJobSetup.ts).
   */
  commandLine?: { words: string[]; from: string; file: string; range: Range; totalRounds?: { value: number; from: string; range: Range } };
}

const DP_PACKAGES = [...new Set(DP_APIS.flatMap((a) => a.packages))];

const MENTIONS_DP_PACKAGE = new RegExp(DP_PACKAGES.join('|'));

/**
 * Whether Python text names a library whose DP call sites are read (dpApis.ts: opacus, tensorflow_privacy, tensorflow,
 * flwr, optax, dp_transformers): text that does not is ordinary Python, not read.
 */
export function mentionsDpLibrary(text: string): boolean {
  return MENTIONS_DP_PACKAGE.test(text) || MENTIONS_NVFLARE.test(text);
}

/** NVFlare's job API: a job file names no DP library, yet its filters and training script are its defences. */
const MENTIONS_NVFLARE = /\bnvflare\b/;

/** workspace/discover.ts adopts a folder's only model file for every config and script in it without a model. */
const SAME_FOLDER = 'the only model file in a script\'s folder is analysed with it (no config beside a standalone script can name one)';

const LIBRARY_TITLE = { opacus: 'Opacus', 'tf-privacy': 'TensorFlow Privacy', flower: 'Flower', optax: 'Optax', 'dp-transformers': 'dp-transformers' } as const;


export async function readPythonFile(file: string, text: string, options: ReadPythonOptions = {}): Promise<PythonReading> {
  const parser = await pythonParser();
  // A file that mentions none of the libraries cannot have a recognised call site: skip the parse (ordinary Python).
  if (!options.parseAll && !mentionsDpLibrary(text)) return { file, sites: [], setup: null };
  const parsed = parsePython(parser, text, options);
  if (parsed.kind !== 'tree') {
    const setup = emptySetup(file, 'generic');
    setup.problems.push({ rule: RULES.pythonNotRead.code, message: parsed.message, range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } });
    return { file, sites: [], setup, notRead: parsed.message };
  }
  try {
    // No DP library imported: no call site can be recognised (dpApis.ts requires the import), so nothing else is read.
    const roots = importedRoots(parsed.tree);
    const dpImported = DP_PACKAGES.some((p) => roots.has(p));
    if (!dpImported && !roots.has('nvflare')) return { file, sites: [], setup: null };
    const index = indexModule(file, text, parsed.tree);
    if (options.commandLine) applyCommandLine(index, options.commandLine);
    // The file the bridge would import: this script (its tree is here), or the module beside it defining the model.
    const importCheck = (f: string, name: string) => {
      if (f !== file) {
        const refusal = hazardOf(parser, f, options.readText);
        // Said from a notebook, the line is the module's own and its remedy is the module's (notebookWording leaves
        // "x.py line N" and `x.py's top level` alone).
        return options.notebook && refusal ? refusal.replace(/\(line (\d+)/g, `(${basename(f)} line $1`).replace("put the script's top level", `put ${basename(f)}'s top level`) : refusal;
      }
      if (options.notebook) return notebookRefusal(parser, file, index, text, name);
      const hazard = importHazard(file, index.root);
      if (!hazard) return undefined;
      // The script must not be imported: its model is built from its definitions, unless those would run something too.
      const defs = scriptDefinitions(parser, index, name, hazard);
      if (defs.kind === 'module') return { definitions: definitionsNote(file, name, defs) };
      return `${importHazardMessage(file, hazard)}; ${definitionsRefusal(file, defs)}`;
    };
    if (!dpImported) {
      // A script a job runs is a client's training code, never read as a job itself (a job naming its own file, or
      // two naming each other, would otherwise be read without end).
      if (options.commandLine) return { file, sites: [], setup: null };
      // An NVFlare job file (the Job API or a recipe): its jobs' model, filters and training script (nvflareJobSetup.ts).
      const setup = await nvflareJobSetup(file, index, (node) => modelClassOf(index, pseudoArgument(node), undefined, importCheck), options, readPythonFile);
      return { file, sites: [], setup };
    }
    const found = index.importedPackages.has('flwr') || /run_config/.test(text) ? flowerAppOf(file, options.readText) : undefined;
    // The app's model as its pyproject.toml is analysed with: the DP and secure-aggregation call sites use it when the
    // call itself names no model the bridge can build (flowerAppModel.ts).
    const client = found?.setup?.flowerClientApp;
    const app = found && client ? { ...found, model: await flowerAppModel(found.root, client.value, found.runConfig, options.readText) } : found;
    const sites = findDpCallSites(index, app?.runConfig);
    if (!sites.length) return { file, sites, setup: null, ...(app ? { app } : {}) };
    // make_private_with_epsilon's σ search (up to a minute) runs on a worker thread, then the file is read again.
    const deferred: OpacusNoiseQuery[] = [];
    let { setup, modelClass } = setupOf(file, index, sites, app, importCheck, deferred);
    if (deferred.length && options.noiseSearch !== 'later') {
      await Promise.all(deferred.map((q) => opacusNoiseInBackground(q)));
      ({ setup, modelClass } = setupOf(file, index, sites, app, importCheck));
    }
    // The loss it trains with: in this file, else in the module defining the model (a Flower app's task.py).
    const modelFile = modelClass?.file ?? (app?.model && 'model' in app.model ? factoryFile(app.model.model.root, app.model.model.factory) : undefined);
    const lossInCode = readTrainingLoss(index) ?? (modelFile && modelFile !== file ? await readTrainingLossOfFile(modelFile, options.readText) : undefined);
    if (lossInCode) setup.lossInCode = lossInCode;
    // A loss in this file that the analysis cannot take (not modelled, several): said on its line (I2F160); a
    // LightningModule's step has its own warning (I2F163).
    if (lossInCode && !lossInCode.kind && lossInCode.file === file && !setup.loss && !setup.trainedFunctionNote) {
      setup.problems.push({ rule: RULES.lossNotModelled.code, range: lossInCode.range, message: `Training loss not analysed: ${lossInCode.note}. The leakage finding differentiates the loss chosen from the model's output (binary cross-entropy for one output or a final Sigmoid, softmax cross-entropy otherwise), not this one. If training computes cross-entropy, binary cross-entropy or MSE after all, name it: \`loss:\` in the i2f section of the app's config, or \`i2f analyze MODEL --loss …\`.` });
    }
    return { file, sites, setup, ...(app ? { app } : {}), ...(modelClass ? { modelClass } : {}) };
  } finally {
    parsed.tree.delete();
  }
}

/**
 * Whether the bridge may import the file defining `name`: undefined when it may; the refusal; or, for a standalone
 * script whose top level must not run, the note that the model is built from its definitions (scriptDefinitions.ts).
 */
type ImportCheck = (file: string, name: string) => string | { definitions: string } | undefined;

/** A model expression outside a DP call (an NVFlare job's `model=Net()`), read as a DP call's `module=` would be. */
function pseudoArgument(node: SyntaxNode): CallSiteArgument {
  const range = nodeRange(node);
  return { parameter: 'model', role: 'model', keyRange: range, valueRange: range, text: node.text, resolution: { kind: 'runtime', reason: 'a model', range }, node };
}

/** `--target_epsilon=50.0` / `--epochs 5` / `--dp` on a known command line: the value each flag of the script is given. */
function applyCommandLine(index: ModuleIndex, line: NonNullable<ReadPythonOptions['commandLine']>): void {
  const flags = [...index.flags.values()].filter((f) => f.library === 'argparse');
  const words = line.words;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (!w.startsWith('-')) continue;
    const eq = w.indexOf('=');
    const option = eq >= 0 ? w.slice(0, eq) : w;
    const flag = flags.find((f) => f.option === option || option.replace(/^-+/, '').replace(/-/g, '_') === f.name);
    if (!flag) continue;
    const next = words[i + 1];
    const raw = eq >= 0 ? w.slice(eq + 1) : next !== undefined && !/^--?[A-Za-z]/.test(next) ? words[++i] : undefined;
    // A flag alone is a store_true switch; a number is read as one (argparse's type=float/int parses it the same).
    const value = raw === undefined ? true : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    flag.commandLine = { value, from: line.from, file: line.file, range: line.range };
  }
  if (line.totalRounds) index.totalRounds = { ...line.totalRounds, file: line.file };
}

function emptySetup(file: string, flavour: ConfigFlavour): TrainingSetup {
  return { file, format: 'python', flavour, unmodelled: [], problems: [] };
}

function setupOf(
  file: string,
  index: ModuleIndex,
  sites: DpCallSite[],
  app: FlowerApp | undefined,
  importCheck: ImportCheck,
  deferred?: OpacusNoiseQuery[],
): { setup: TrainingSetup; modelClass?: ModelClass } {
  const adds = (s: DpCallSite) => s.api.mechanism === 'dp-sgd' || s.api.mechanism === 'flower-central' || s.api.mechanism === 'local-dp';
  // A DP call under `if target_epsilon:` with the default None does not run as the script is written (dpGuard.ts):
  // the script is analysed as training without DP, and the call's arguments are not checked.
  const off = new Map<DpCallSite, DpGuardOff>();
  for (const s of sites) {
    const guard = adds(s) ? dpGuardOff({ module: index, ...(app?.runConfig ? { runConfig: app.runConfig } : {}) }, s.node) : undefined;
    if (guard) off.set(s, guard);
  }
  const noisy = sites.find((s) => adds(s) && !off.has(s));
  const flavour: ConfigFlavour = !noisy
    ? 'generic'
    : noisy.api.mechanism === 'dp-sgd'
      ? noisy.api.library === 'tf-privacy' ? 'tf-privacy' : 'opacus'
      : 'flower';
  const setup = emptySetup(file, flavour);
  if (!app) setup.standaloneScript = true;
  const problems: ConfigProblem[] = setup.problems;
  let modelClass: ModelClass | undefined;
  let library: LibraryModel | undefined;
  let weights: { loaded: LoadedWeights; call: string } | undefined;
  // The torchvision dataset the DP call's DataLoader samples, when read (its input size answers for a library model).
  let trainedDataset: { name: string; range: Range } | undefined;
  const facts: string[] = [];
  const roleFields = new Map<ArgumentRole, ConfigField<number | boolean | string>>();
  // The DataLoader the DP call trains on (make_private_with_epsilon's σ depends on its length).
  let dpLoader: SyntaxNode | undefined;
  // Accounting inputs a standalone script does not let us read, and why (its hint cannot point at a config).
  const unread: ScriptAccounting = {};

  for (const site of sites) {
    const title = `${LIBRARY_TITLE[site.api.library]} ${site.name}`;
    if (site.api.mechanism === 'secure-aggregation' || site.api.mechanism === 'clipping-mod') {
      if (site.api.mechanism === 'secure-aggregation' && !setup.secureAggregation) {
        // The threat model (config/threatModel.ts) reads it: the server then sees the sum, an eavesdropper masked shares.
        setup.secureAggregation = { value: true, key: site.name, path: [site.name], keyRange: site.calleeRange, valueRange: site.calleeRange, file };
      }
      problems.push({
        rule: RULES.aggregationInCode.code,
        range: site.calleeRange,
        message: site.api.mechanism === 'secure-aggregation'
          ? `${title}: secure aggregation, so the server sees only the sum of the sampled clients' updates, never one client's update; other clients' updates in the sum are not counted as protection (the leakage finding's attacker says what it sees).`
          : `${title}: each client clips its own update before it is sent (Flower's client-side DP wrappers need this mod); the noise is added to the aggregate by the server.`,
      });
      continue;
    }
    const guard = off.get(site);
    if (guard) {
      const turnOn = guard.option ? `\`${guard.option} …\` on the command line turns it on` : `a \`${guard.subject}\` that is ${guard.value === null ? 'not None' : 'true'} turns it on`;
      problems.push({
        rule: RULES.dpOffByDefault.code,
        range: site.calleeRange,
        message: `${title} runs only \`${guard.condition}:\` (line ${guard.line}), which is false on the script's defaults (\`${guard.subject}\` = ${pythonScalar(guard.value)}, ${guard.from}): the call does not run, so as written the script trains without DP and is analysed with no defence; ${turnOn}.`,
      });
      setup.dpEnabled ??= { value: false, key: `if ${guard.subject}`, path: [site.name, 'if'], keyRange: guard.range, valueRange: guard.range, file };
    }
    if (site.splat && !guard) {
      problems.push({ rule: RULES.codeValueAtRunTime.code, range: site.calleeRange, message: `${title} is called with *args or **kwargs: the arguments they carry are set at run time and not read.` });
    }
    for (const arg of site.arguments) {
      // A call that does not run still names the model and the data it would train (what the script trains anyway).
      if (guard && arg.role !== 'model' && arg.role !== 'dataLoader') continue;
      if (arg.role === 'model') {
        modelClass ??= modelClassOf(index, arg, app, importCheck);
        if (!modelClass) library ??= torchvisionModelOf(index, arg.node);
        // What the model starts from: weights the script loads into it before this call (pysource/loadedWeights.ts).
        if (!app && !weights) {
          const loaded = readLoadedWeights(index, arg.node, site.node);
          if (loaded) weights = { loaded, call: site.name };
        }
        continue;
      }
      if (arg.role === 'dataLoader') {
        // `data_loader=train_loader` → `train_loader = DataLoader(ds, batch_size=…)`: the batch each step averages,
        // and the dataset it samples from (N: a torchvision dataset's training split).
        const loader = dataLoaderCall(index, arg);
        if (site === noisy) dpLoader = loader;
        if (!roleFields.has('datasetSize') && !unread.datasetSize) {
          const size = loader
            ? trainingSetSize(index, loader)
            : { kind: 'unread' as const, reason: `\`${arg.parameter}=${short(arg.text)}\` (line ${arg.valueRange.start.line + 1}) was not traced to a \`DataLoader(…)\` call in this script`, fix: 'build the DataLoader in the script and pass it by name' };
          if (size.kind === 'read') {
            roleFields.set('datasetSize', datasetSizeField(size, file));
            if (!size.origin) trainedDataset ??= { name: size.dataset, range: size.range };
          } else unread.datasetSize = { reason: size.reason, fix: size.fix };
        }
        const batch = dataLoaderBatch(index, loader, app);
        if (batch && !roleFields.has('batchSize')) {
          if (batch.resolution.kind === 'runtime') {
            problems.push({ rule: RULES.codeValueAtRunTime.code, range: batch.valueRange, key: 'batch_size', message: `${title}: the data loader's \`batch_size\` = \`${short(batch.text)}\` is set at run time (${batch.resolution.reason}), so it is not analysed.` });
            unread.batchSize ??= { reason: `the DataLoader's \`batch_size=${short(batch.text)}\` (line ${batch.valueRange.start.line + 1}) is set at run time (${batch.resolution.reason})`, fix: 'give the DataLoader `batch_size=` as a literal, a module constant or an argparse default' };
          } else {
            const field = fieldOf(batch, { ...site, name: 'DataLoader' }, batch.resolution.values, problems);
            if (field) roleFields.set('batchSize', field);
          }
        }
        continue;
      }
      const r = arg.resolution;
      if (r.kind === 'runtime') {
        problems.push({ rule: RULES.codeValueAtRunTime.code, range: arg.valueRange, key: arg.parameter, message: `${title}: \`${arg.parameter}\` = \`${short(arg.text)}\` is set at run time (${r.reason}), so it is not analysed.` });
        continue;
      }
      if (arg.role === 'accountant' || arg.role === 'poissonSampling') {
        const v = r.values[0].value;
        if (arg.role === 'accountant' && typeof v === 'string') facts.push(`accountant '${v}'`);
        if (arg.role === 'poissonSampling' && v === false) {
          facts.push('poisson_sampling=False: batches are not Poisson-sampled, so the accountant\'s ε (which assumes it) does not hold exactly');
        }
        continue;
      }
      const field = fieldOf(arg, site, r.values, problems);
      if (field && !roleFields.has(arg.role)) roleFields.set(arg.role, field);
    }
  }

  // TensorFlow Privacy's Keras fit or Estimator: N, B and the epochs (pysource/kerasAccounting.ts).
  if (!app && noisy?.api.library === 'tf-privacy' && noisy.api.mechanism === 'dp-sgd') readKerasAccounting({ index, file, noisy, roleFields, unread, problems });

  // The δ an Opacus script reports its ε at (`privacy_engine.accountant.get_epsilon(delta=args.delta)`), when no DP
  // call names one: the δ of its own guarantee. Of several, the largest (the weakest guarantee, as for target_delta).
  if (noisy?.api.library === 'opacus' && !roleFields.has('targetDelta')) {
    for (const arg of reportedDeltas(index, app)) {
      if (arg.resolution.kind !== 'known') continue;
      const field = fieldOf(arg, { ...noisy, name: 'get_epsilon' }, arg.resolution.values, []);
      const had = roleFields.get('targetDelta');
      if (field && typeof field.value === 'number' && (!had || field.value > (had.value as number))) roleFields.set('targetDelta', field);
    }
  }

  const num = (role: ArgumentRole) => {
    const f = roleFields.get(role);
    return f && typeof f.value === 'number' ? (f as ConfigField<number>) : undefined;
  };
  // Where the noise is added: Flower's central wrappers on the server (after it has each update), the rest on the client.
  if (noisy) setup.dpSite = noisy.api.site ?? 'client';
  const noise = num('noiseMultiplier');
  const clip = num('clippingNorm');
  if (noise) setup.noiseMultiplier = noise;
  if (clip) {
    setup.clippingNorm = clip;
    setup.clippingScope = flavour === 'flower' ? 'per-update' : 'per-example';
  }
  // TF Privacy's DP queries take the noise std on the clipped sum: σ = stddev / C.
  const sumStd = num('sumNoiseStd');
  if (sumStd && !noise && clip && clip.value > 0) {
    setup.noiseMultiplier = { ...sumStd, value: sumStd.value / clip.value, key: `${sumStd.key} / ${clip.key}`, fromCode: computed(sumStd, `${sumStd.key} / ${clip.key}`) };
  }
  // Flower's LocalDpMod: each client adds N(0, s²) with s = Δ·√(2 ln(1.25/δ))/ε to its own clipped update.
  const eps = num('targetEpsilon');
  const delta = num('targetDelta');
  const sens = num('sensitivity');
  if (noisy?.api.mechanism === 'local-dp' && eps && delta && sens && eps.value > 0 && delta.value > 0 && delta.value < 1) {
    const std = gaussianMechanismStd(eps.value, delta.value, sens.value);
    setup.noiseStd = { ...eps, value: std, key: 'LocalDpMod noise std', fromCode: computed(eps, `Δ·√(2 ln(1.25/δ))/ε = ${sens.value}·√(2 ln(1.25/${delta.value}))/${eps.value}`) };
  } else {
    if (eps) setup.targetEpsilon = eps;
  }
  if (delta) setup.targetDelta = delta;
  if (sens) setup.dpSensitivity = sens;
  const batch = num('batchSize');
  if (batch) setup.batchSize = batch;
  // One batch cannot be the conservative choice for both numbers: inversion is easiest at the smallest batch (kept in
  // batchSize), while at fixed epochs the largest gives the larger ε (T = E·⌈N/B⌉ steps at q = B/N, and the sampled
  // Gaussian's RDP ≈ T·q²·α/σ² ∝ E·B/N for small q: Mironov et al. 2019, Sec. 3.3), so the accountant gets that one.
  const batches = batch?.fromCode?.alternatives ?? [];
  if (batch && batches.length > 1) {
    const largest = batches.reduce((m, v) => ((v.value as number) > (m.value as number) ? v : m), batches[0]);
    if ((largest.value as number) > batch.value) setup.accountingBatchSize = { ...batch, value: largest.value as number, fromCode: { ...batch.fromCode!, source: largest.source } };
  }
  const micro = num('microbatches');
  if (micro) setup.microbatches = micro;
  const n = num('datasetSize');
  if (n) setup.datasetSize = n;
  const epochs = num('epochs');
  if (epochs) setup.epochs = epochs;
  if (!app && noisy) {
    // The epochs its loops run (pysource/epochLoops.ts); beside `epochs=` of make_private_with_epsilon, the larger.
    const loops = epochLoops(index);
    if (loops.kind === 'read') {
      if (!epochs || loops.value > epochs.value) setup.epochs = loopEpochsField(loops, file, epochs);
    } else if (!epochs) {
      // A TensorFlow Privacy script: neither its Keras fit nor an epoch loop (an Estimator's) gave them; both said.
      const fit = unread.epochs;
      unread.epochs = fit ? { reason: `${fit.reason}; ${loops.reason}`, fix: `${fit.fix}, or ${loops.fix}` } : { reason: loops.reason, fix: loops.fix };
    }
    if (setup.epochs) delete unread.epochs;
    if (!setup.datasetSize) unread.datasetSize ??= { reason: 'the DP call has no `data_loader=` to follow to the dataset it samples from', fix: 'pass the DP call the DataLoader it trains on (`data_loader=train_loader`), built in the script over a torchvision dataset\'s training split' };
    setup.scriptAccounting = unread;
  }
  // make_private_with_epsilon: the σ Opacus will choose, when the script gives everything it is chosen from.
  if (noisy?.api.library === 'opacus' && noisy.name === 'make_private_with_epsilon' && !setup.noiseMultiplier && setup.dpEnabled?.value !== false) {
    const chosen = opacusEpsilonNoise(index, noisy, sites, dpLoader, setup, deferred);
    if (chosen.kind === 'derived') {
      setup.noiseMultiplier = chosen.field;
      setup.noiseFromTarget = { note: chosen.note };
    } else if (chosen.kind === 'pending') {
      setup.noiseFromTarget = { pending: { query: chosen.query, budget: chosen.budget } };
    } else {
      setup.noiseFromTarget = { unknown: chosen.reason };
    }
  }
  const clients = num('numSampledClients');
  if (clients) setup.numSampledClients = clients;
  const disabled = roleFields.get('dpDisabled');
  if (disabled && typeof disabled.value === 'boolean') setup.dpEnabled = { ...disabled, value: !disabled.value } as ConfigField<boolean>;

  // The app's model, weights and samples (an i2f section or model-path in pyproject.toml) are the code's too; else
  // the model class the DP call trains, built by the export bridge from the app's root (models/modelRef.ts).
  const appSetup = app?.setup;
  for (const k of ['model', 'weights', 'samples'] as const) if (appSetup?.[k]) setup[k] = appSetup[k] as PathField;
  for (const k of ['architecture', 'dataset', 'inputShape', 'classes'] as const) if (appSetup?.[k]) (setup as unknown as Record<string, unknown>)[k] = appSetup[k];
  if (!setup.targetPsnr && appSetup?.targetPsnr) setup.targetPsnr = appSetup.targetPsnr;
  if (appSetup?.loss) setup.loss = appSetup.loss;
  if (!setup.model && !setup.architecture) {
    if (appSetup?.pythonModel && app) {
      setup.pythonModel = appSetup.pythonModel;
      setup.pythonModelRoot = app.root;
    } else if (modelClass?.problem) {
      setup.pythonModelProblem = modelClass.problem;
    } else if (modelClass?.factory && modelClass.file) {
      const moduleArg = sites.flatMap((s) => s.arguments).find((a) => a.role === 'model');
      setup.pythonModel = {
        value: modelClass.factory,
        key: moduleArg?.parameter ?? 'module',
        path: [noisy?.name ?? 'call', moduleArg?.parameter ?? 'module'],
        keyRange: moduleArg?.keyRange ?? modelClass.range,
        valueRange: moduleArg?.valueRange ?? modelClass.range,
        file,
      };
      setup.pythonModelRoot = app?.root ?? dirname(file);
      if (modelClass.args) setup.pythonModelArgs = modelClass.args;
      if (modelClass.fromDefinitions) setup.pythonModelFromDefinitions = modelClass.fromDefinitions;
      if (modelClass.groupNorm) setup.normalisation = { value: 'groupnorm', key: 'normalisation', path: ['normalisation'], keyRange: modelClass.groupNorm.range, valueRange: modelClass.groupNorm.range, file };
      const hint = trainedDataset && trainedInputShape(index, trainedDataset);
      if (hint) setup.pythonInputHint = hint;
    } else if (library) {
      // A torchvision builder (`models.resnet18(num_classes=10)`): the catalogue writes it, no Python runs.
      const read = libraryModelSetup(setup, library, index, file, trainedDataset);
      facts.push(...read.facts);
      if (read.problem) setup.pythonModelProblem = read.problem;
    } else if (app?.model && 'model' in app.model && app.setup?.flowerClientApp && !sites.some((s) => s.arguments.some((a) => a.role === 'model'))) {
      // The call names no model (secaggplus_mod, LocalDpMod, a strategy wrapper): the one the app's client module
      // builds, found and built as for its pyproject.toml; in this file, its findings sit on the call. A call that
      // names one the reader cannot follow (`module=build()`) keeps saying so: it may train another model.
      const site = noisy ?? sites[0];
      setup.pythonModel = { value: app.model.model.factory, key: 'model', path: [site.name, 'model'], keyRange: site.calleeRange, valueRange: site.calleeRange, file };
      setup.pythonModelRoot = app.model.model.root;
      if (app.model.model.args) setup.pythonModelArgs = app.model.model.args;
      setup.pythonModelFoundBy = app.model.model.how;
    }
    // Weights loaded before the DP call are the analysis' weights when the file is here, else said (a whole pickled
    // model is a problem of its own: it has no class to build).
    if (weights) problems.push(...loadedWeightsSetup(setup, weights.loaded, file, weights.call, setup.pythonModel?.value ?? modelClass?.factory ?? library?.architecture.name));
    if (!app && !setup.pythonModel && !setup.architecture && !setup.pythonModelProblem && noisy) {
      // A standalone script has no config to name its model in: say what was not traced, and the one way forward.
      const moduleArg = sites.flatMap((s) => s.arguments).find((a) => a.role === 'model');
      const traced = moduleArg ? `\`${moduleArg.parameter}=${short(moduleArg.text)}\` (line ${moduleArg.valueRange.start.line + 1})` : 'the model';
      // TensorFlow Privacy and Optax train TensorFlow and JAX models, which the bridge (PyTorch) cannot build at all.
      const framework = noisy.api.library === 'tf-privacy' ? 'TensorFlow' : noisy.api.library === 'optax' ? 'JAX' : undefined;
      setup.pythonModelProblem = framework
        ? {
          reason: `${LIBRARY_TITLE[noisy.api.library]} trains a ${framework} model, which the export bridge does not build (it builds PyTorch models)`,
          fix: `save the model into the script's folder as ${framework === 'TensorFlow' ? 'a TensorFlow.js model.json (tensorflowjs_converter) or ONNX (tf2onnx)' : 'ONNX'}: ${SAME_FOLDER}`,
        }
        : {
          reason: modelClass?.file
            ? `${traced} is ${modelClass.name} from ${relative(dirname(file), modelClass.file)}, which is not importable from the script's folder`
            : modelClass
            ? `${traced} is ${modelClass.name}, which is not defined in this script or a module beside it`
            : `${traced} was not traced to a class or builder function defined in this script or a module beside it`,
          fix: `build the model the DP call trains from a class or builder function defined in the script or a module beside it (\`model = Net(…)\`, then \`${moduleArg?.parameter ?? 'module'}=model\`), or export it with torch.onnx.export into the script's folder: ${SAME_FOLDER}`,
        };
    }
  }

  // A LightningModule built from this script: the gradient shared is its training_step's loss, read against forward.
  const lightning = !app && modelClass?.file === file && setup.pythonModel ? index.classes.get(modelClass.name) : undefined;
  if (lightning && isLightningModule(lightning)) {
    const step = lightningTrainingStep(index, lightning);
    if (step.kind === 'forward') {
      setup.trainedFunctionNote = `its training_step trains forward (\`${step.loss}\`, line ${step.line}), the function analysed`;
      facts.push(setup.trainedFunctionNote.replace(/^its/, `${modelClass!.name}'s`));
    } else {
      setup.trainedFunctionNote = `its forward, analysed here, is not the function whose gradient training shares: ${step.reason}`;
      problems.push({ rule: RULES.lightningStep.code, range: step.range, message: `${step.reason}. The leakage finding analyses ${modelClass!.name}'s forward, which is not the function whose gradient this training shares: read it as the leakage of another function.` });
    }
  }

  // The summary finding, on the noise argument (or the call when there is none): what was read and from where.
  if (noisy) {
    // A σ reproduced from target_epsilon is not written anywhere: the summary stays on what the call writes.
    const anchor = (setup.noiseFromTarget?.note ? setup.clippingNorm : undefined) ?? setup.noiseMultiplier ?? setup.noiseStd ?? setup.clippingNorm;
    const range = anchor?.keyRange ?? noisy.calleeRange;
    problems.push({ rule: RULES.dpInCode.code, range, ...(anchor ? { key: anchor.key } : {}), message: summary(noisy, setup, modelClass, facts, file, !!app) });
  }
  return { setup, ...(modelClass ? { modelClass } : {}) };
}

/**
 * The per-example shape of what the DP call trains on: the torchvision dataset its DataLoader loads, at the size the
 * transforms end with. The export bridge tries it before inferring one (Opacus' cifar10.py's convnet also runs on
 * MNIST's 28 × 28, which inference tries first, yet it trains on CIFAR10's 32 × 32).
 */
function trainedInputShape(index: ModuleIndex, trained: { name: string; range: Range }): { shape: number[]; from: string } | undefined {
  const input = scriptInput(index, trained);
  const native = input.dataset && !input.unread ? datasetShape(input.dataset.name)?.inputShape : undefined;
  if (!native || native.length !== 3) return undefined;
  const [h, w] = input.size?.value ?? [native[1], native[2]];
  const where = `line ${trained.range.start.line + 1}`;
  return { shape: [native[0], h, w], from: `${trained.name}'s${input.size ? `, at the size its transforms end with` : ''}, the dataset the DP call's DataLoader loads (${where})` };
}

function computed(from: ConfigField<unknown>, how: string): CodeValue {
  const source: CodeValueSource = { file: from.file, range: from.valueRange, kind: 'computed', label: how, editable: false };
  return { source, alternatives: [], steps: [...(from.fromCode?.steps ?? []), how], written: from.fromCode?.written ?? String(from.value) };
}

/**
 * `module=model` → `model = Net().to(device)` → class Net, imported from opacus_fl.task → opacus_fl/task.py. In a
 * standalone script (no Flower app) a builder function defined in it counts too (`model = convnet(num_classes=10)`),
 * the arguments are read as literals, and the file to import is checked for top-level code that would train.
 */
function modelClassOf(index: ModuleIndex, arg: CallSiteArgument, app: FlowerApp | undefined, importCheck: ImportCheck): ModelClass | undefined {
  let node: SyntaxNode | undefined = arg.node;
  let groupNorm: GroupNormFix | undefined;
  const withFix = (found: ModelClass | undefined): ModelClass | undefined => (found && groupNorm && !found.problem ? { ...found, groupNorm } : found);
  for (let hops = 0; node && hops < 12; hops++) {
    if (node.type === 'call') {
      const fn = node.childForFieldName('function');
      // `model.to(device)`, `DDP(model)`, `ModuleValidator.fix(model)`: the model inside (a fix noted: it changes it).
      const step = modelInside(index, node);
      if (step) {
        groupNorm ??= step.groupNorm;
        node = step.inner;
        continue;
      }
      // `Net().to(device)`, `Net().cuda()`: the model is the innermost constructor call.
      if (fn?.type === 'attribute' && fn.childForFieldName('object')?.type === 'call') {
        node = fn.childForFieldName('object')!;
        continue;
      }
      // `Lit.load_from_checkpoint(path)`: the class, built with its constructor's defaults (the checkpoint's weights
      // are applied by name afterwards: pysource/loadedWeights.ts).
      const loadedClass = fn?.type === 'attribute' && fn.childForFieldName('attribute')?.text === 'load_from_checkpoint' ? fn.childForFieldName('object') : null;
      if (!app && loadedClass?.type === 'identifier' && /^[A-Z]/.test(loadedClass.text)) {
        const found = classLocation(index, loadedClass.text, nodeRange(arg.node), app);
        return withFix(found.factory && found.file ? standaloneModel(found, index, undefined, importCheck) : found);
      }
      const name = fn?.type === 'identifier' ? fn.text : lastName(fn);
      if (!name) return undefined;
      const builder = !app && fn?.type === 'identifier' && isTopLevelFunction(index, name);
      if (!/^[A-Z]/.test(name) && !builder) return undefined;
      const found = classLocation(index, name, nodeRange(arg.node), app);
      if (app || !found.factory || !found.file) return withFix(found);
      return withFix(standaloneModel({ ...found, ...(builder ? { builder } : {}) }, index, node, importCheck));
    }
    // `module=self` inside a method (a LightningModule making itself private): the class being defined. In a
    // standalone script it is built with no arguments (its constructor's defaults).
    if (!app && node.type === 'identifier' && node.text === 'self') {
      const cls = enclosing(node, ['class_definition']);
      const name = cls?.childForFieldName('name')?.text;
      if (!cls || !name || cls.parent?.type !== 'module') return undefined;
      const found = classLocation(index, name, nodeRange(arg.node), app);
      return withFix(found.factory && found.file ? standaloneModel(found, index, undefined, importCheck) : found);
    }
    if (isBinding(node)) {
      node = assignedBefore(index, node);
      continue;
    }
    return undefined;
  }
  return undefined;
}

/**
 * The `delta` of each Opacus `get_epsilon(delta=…)` / `get_epsilon(δ)` call in the file (and the RDP accountant's older
 * `get_privacy_spent(delta=…)`), read like any argument.
 */
function reportedDeltas(index: ModuleIndex, app: FlowerApp | undefined): CallSiteArgument[] {
  const out: CallSiteArgument[] = [];
  for (const call of [...(index.calls.get('get_epsilon') ?? []), ...(index.calls.get('get_privacy_spent') ?? [])]) {
    const args = callArguments(call);
    const kw = args.keyword.get('delta');
    const value = kw?.value ?? args.positional[0];
    if (!value) continue;
    out.push({ parameter: 'delta', role: 'targetDelta', keyRange: nodeRange(kw?.name ?? value), valueRange: nodeRange(value), text: value.text, node: value, resolution: resolveValue({ module: index, ...(app ? { runConfig: app.runConfig } : {}) }, value) });
  }
  return out;
}

/** The `DataLoader(…)` call a DP call's `data_loader=` names (same file), followed through the names it is bound to. */
function dataLoaderCall(index: ModuleIndex, arg: CallSiteArgument): SyntaxNode | undefined {
  let node: SyntaxNode | undefined = arg.node;
  for (let hops = 0; node && hops < 8; hops++) {
    if (node.type === 'call') return lastName(node.childForFieldName('function')) === 'DataLoader' ? node : undefined;
    if (isBinding(node)) {
      node = assignedBefore(index, node);
      continue;
    }
    return undefined;
  }
  return undefined;
}

/** The `batch_size` argument of the DataLoader a DP call's `data_loader=` names (same file), read like any argument. */
function dataLoaderBatch(index: ModuleIndex, loader: SyntaxNode | undefined, app: FlowerApp | undefined): CallSiteArgument | undefined {
  if (!loader) return undefined;
  const args = callArguments(loader);
  const kw = args.keyword.get('batch_size');
  const value = kw?.value ?? args.positional[1];
  if (!value) return undefined;
  const key = kw?.name ?? value;
  // `batch_size=int(args.sample_rate * len(train_dataset))`: len() of a torchvision training split is its published size.
  const lengthOf = (n: SyntaxNode): PossibleValue | undefined => {
    const size = datasetSize(index, n);
    if (size.kind !== 'read') return undefined;
    return { value: size.value, source: { file: index.file, range: size.range, kind: 'computed', label: `len(${short(n.text)}) = ${size.value}, ${size.dataset}'s ${size.split} split`, editable: false } };
  };
  return { parameter: 'batch_size', role: 'batchSize', keyRange: nodeRange(key), valueRange: nodeRange(value), text: value.text, node: value, resolution: resolveValue({ module: index, ...(app ? { runConfig: app.runConfig } : {}), lengthOf }, value) };
}

/** The epochs read from the script's loops: the most iterations any loop may run (more steps, larger ε), with all of them. */
function loopEpochsField(loops: Extract<EpochReading, { kind: 'read' }>, file: string, fromCall: ConfigField<number> | undefined): ConfigField<number> {
  const { loop, value } = loops;
  const chosen = loop.counts.find((c) => c.value === value)!;
  const alternatives = [
    ...loops.loops.flatMap((l) => l.counts.map((c) => ({ value: c.value, source: { ...c.source, label: `\`${l.written}\` (line ${l.line}), ${c.source.label}` } }))),
    ...(fromCall?.fromCode ? [{ value: fromCall.value, source: fromCall.fromCode.source }] : []),
  ];
  const distinct = new Set(alternatives.map((a) => a.value)).size;
  const key = distinct > 1 ? `${loop.written.replace(/^for \S+ in /, '')}, the most of ${distinct} possible` : loop.written.replace(/^for \S+ in /, '');
  const source: CodeValueSource = { ...chosen.source, range: loop.range, label: `\`${loop.written}\` (line ${loop.line}) runs ${value} times, ${chosen.source.label}`, editable: false };
  return {
    value, key, path: ['for', 'range'], keyRange: loop.range, valueRange: loop.range, file,
    fromCode: { source, alternatives, steps: [`the epoch loop \`${loop.written}\` (line ${loop.line}) steps the optimizer ${value} times`], written: loop.written },
  };
}

function classLocation(index: ModuleIndex, name: string, range: Range, app: FlowerApp | undefined): ModelClass {
  if (index.classes.has(name) || (!app && isTopLevelFunction(index, name))) {
    // In a Flower app, the module path from the app's root; a standalone script is imported from its own folder.
    const module = app ? moduleOf(app.root, index.file) : scriptModule(index.file);
    return { name, file: index.file, ...(module ? { module, factory: `${module}:${name}` } : {}), range };
  }
  const imported = index.imports.get(name);
  if (!imported) return { name, range };
  const module = imported.module;
  const roots = [app?.root, dirname(index.file)].filter((r): r is string => !!r);
  for (const root of roots) {
    // `.m` is beside the file, `..m` one folder up (Python's relative imports: each dot past the first is a parent).
    const dots = /^\.*/.exec(module)![0].length;
    const base = dots ? join(dirname(index.file), ...Array<string>(dots - 1).fill('..'), ...module.slice(dots).split('.').filter(Boolean)) : join(root, ...module.split('.'));
    for (const candidate of [`${base}.py`, join(base, '__init__.py')]) {
      if (!existsSync(candidate)) continue;
      // A standalone script is imported from its own folder: `from .models import Net` is `models` there; a module
      // further up (`..models`) is not on that path, so it is not given to the bridge.
      const importable = app || !module.startsWith('.') ? module : /^\.[A-Za-z_]/.test(module) ? module.slice(1) : undefined;
      return { name: imported.name, module, file: candidate, ...(importable ? { factory: `${importable}:${imported.name}` } : {}), range };
    }
  }
  return { name: imported.name, module, factory: `${module}:${imported.name}`, range };
}

/** A standalone script as the bridge loads it: `mnist` for mnist.py; a name that is not an identifier, by path. */
function scriptModule(file: string): string | undefined {
  const name = basename(file);
  // A notebook by its file name: materialise.ts builds its definitions into a module (notebookModule.ts).
  if (extname(name).toLowerCase() === NOTEBOOK_EXTENSION) return name;
  if (!name.endsWith('.py')) return undefined;
  const stem = name.slice(0, -3);
  return /^[A-Za-z_]\w*$/.test(stem) ? stem : name;
}

function isTopLevelFunction(index: ModuleIndex, name: string): boolean {
  return (index.functions.get(name) ?? []).some((f) => f.parent?.type === 'module' || (f.parent?.type === 'decorated_definition' && f.parent.parent?.type === 'module'));
}

/**
 * A model a standalone script builds: its arguments read as literals (argparse defaults, names bound to literals),
 * and its file checked for top-level code that would train on import (importSafety.ts). Either failing is a problem
 * with its fix; the model is then not handed to the bridge.
 */
function standaloneModel(found: ModelClass, index: ModuleIndex, call: SyntaxNode | undefined, importCheck: ImportCheck): ModelClass {
  const checked = importCheck(found.file!, found.name);
  const refusal = typeof checked === 'string' ? checked : undefined;
  if (checked && typeof checked !== 'string') found = { ...found, fromDefinitions: { note: checked.definitions } };
  if (refusal && extname(found.file!).toLowerCase() === NOTEBOOK_EXTENSION) return { ...found, problem: { reason: refusal, fix: notebookHazardFix(found.file!, found.name) } };
  if (refusal) {
    return { ...found, problem: { reason: refusal, fix: `guard the top level of ${basename(found.file!)} with \`if __name__ == "__main__":\`, or define ${found.name} in a module of its own that the script imports` } };
  }
  if (!call) return found;
  const what = found.builder ? `${found.name}()` : `the ${found.name} constructor`;
  const read = readFactoryArguments(index, call, what);
  if (read.kind === 'unread') {
    const fix = read.parameter === '*args'
      ? `pass ${found.name}'s arguments by name with literal values or argparse defaults`
      : `pass ${found.name} a literal value (or an argparse default) for ${read.parameter}, or give that parameter a default in ${basename(found.file!)} and leave it out of the call`;
    return { ...found, problem: { reason: read.reason, fix } };
  }
  return read.args ? { ...found, args: read.args } : found;
}

/** Why the module made of a notebook's definitions for `name` (notebookModule.ts) could start training, if it could. */
function notebookRefusal(parser: Awaited<ReturnType<typeof pythonParser>>, file: string, index: ModuleIndex, text: string, name: string): string | undefined {
  const module = notebookModule(index.root, text, name);
  const parsed = parsePython(parser, module.text);
  if (parsed.kind !== 'tree') return `${basename(file)}'s definitions could not be read to check what building ${name} runs (${parsed.message})`;
  try {
    const hazard = importHazard(file, parsed.tree.rootNode);
    return hazard ? notebookHazardMessage(file, hazard, `line ${hazard.line + 1}`) : undefined;
  } finally {
    parsed.tree.delete();
  }
}

/** Why importing a standalone script (or the module beside it that defines the model) could start its training. */
function hazardOf(parser: Awaited<ReturnType<typeof pythonParser>>, file: string, readText: ((path: string) => string | undefined) | undefined): string | undefined {
  let text: string | undefined;
  try {
    text = readText?.(file) ?? readFileSync(file, 'utf8');
  } catch {
    return `${basename(file)} could not be read to check what importing it runs`;
  }
  const parsed = parsePython(parser, text);
  if (parsed.kind !== 'tree') return `${basename(file)} could not be read to check what importing it runs (${parsed.message})`;
  try {
    const hazard = importHazard(file, parsed.tree.rootNode);
    return hazard ? importHazardMessage(file, hazard) : undefined;
  } finally {
    parsed.tree.delete();
  }
}

function moduleOf(root: string, file: string): string | undefined {
  const rel = relative(root, file);
  if (rel.startsWith('..') || !rel.endsWith('.py')) return undefined;
  return rel.slice(0, -3).split(/[\\/]/).join('.');
}

function describeValue(f: ConfigField<unknown> | undefined, name: string, file: string): string | undefined {
  if (!f) return undefined;
  const code = f.fromCode;
  const all = code && code.alternatives.length > 1 ? ` (one of ${code.alternatives.map((a) => String(a.value)).join(', ')}: the weakest is analysed)` : '';
  const where = code ? (code.source.file !== file ? ` from ${code.source.label}` : code.source.kind === 'literal' ? '' : `, ${code.source.label}`) : '';
  return `${name} ${show(f.value)}${all}${where}`;
}

function summary(site: DpCallSite, setup: TrainingSetup, model: ModelClass | undefined, facts: string[], file: string, inApp: boolean): string {
  const title = `${LIBRARY_TITLE[site.api.library]} ${site.name}`;
  const kind = site.api.mechanism === 'dp-sgd' ? 'DP-SGD (per-example clipping, Gaussian noise on the summed gradients)'
    : site.api.mechanism === 'flower-central' ? 'central DP (each client update clipped, Gaussian noise added to the aggregate by the server)'
      : 'local DP (each client adds Gaussian noise to its own clipped update)';
  const parts = [
    describeValue(setup.noiseMultiplier, 'noise multiplier', file),
    describeValue(setup.noiseStd, 'noise std', file),
    describeValue(setup.clippingNorm, 'clipping norm', file),
    describeValue(setup.numSampledClients, 'sampled clients', file),
    describeValue(setup.targetEpsilon, 'target ε', file),
    describeValue(setup.targetDelta, 'δ', file),
    describeValue(setup.batchSize, 'batch size', file),
    describeValue(setup.datasetSize, 'training set N', file),
    describeValue(setup.epochs, 'epochs', file),
  ].filter((p): p is string => !!p);
  const lines = [`${title}: ${kind}; ${parts.length ? parts.join('; ') : 'no value could be read statically'}.`];
  if (facts.length) lines.push(`Also: ${facts.join('; ')}.`);
  // The editor's first reading (noiseSearch 'later'): I2F167/I2F168 say where σ's search stands.
  if (setup.noiseFromTarget?.pending) lines.push('Noise: the σ Opacus chooses from the target ε is not yet derived, so no noise is counted (clipping only).');
  if (setup.model) lines.push(`Model: ${setup.model.value} (from the app's config).`);
  else if (setup.pythonModel) lines.push(`Model: \`${setup.pythonModel.value}${setup.pythonModelArgs ? `(${describeArgs(setup.pythonModelArgs)})` : ''}\`${model?.file ? ` (${relative(dirname(file), model.file) || model.file})` : ''}, built by the workspace's Python through the export bridge and analysed under these values${setup.pythonModelFromDefinitions ? `; it is ${setup.pythonModelFromDefinitions.note}` : ''}.`);
  else if (model) {
    const where = model.file ? ` (${relative(dirname(file), model.file) || model.file})` : model.module ? ` from ${model.module}` : '';
    const what = `${model.builder ? 'function' : 'class'} ${model.name}${where}`;
    if (setup.pythonModelProblem) lines.push(`Model: ${what}, not built: ${setup.pythonModelProblem.reason}.`);
    else if (inApp) lines.push(`Model: ${what}, not found as a module:Class the export bridge can build; name the model in an i2f section of the app's config to analyse it.`);
    else lines.push(`Model: ${what}, not found in this script or a module beside it, so the export bridge cannot build it and it is not analysed.`);
  }
  return lines.join(' ');
}

function show(v: unknown): string {
  return typeof v === 'number' ? String(Number(v.toPrecision(6))) : String(v);
}

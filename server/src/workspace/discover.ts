// Finds training configs and models under a folder and links each config to the model, weights and samples it names.

import { closeSync, existsSync, openSync, promises as fs, readdirSync, readSync, type Dirent } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { ConfigSyntaxError } from '../config/keyTree';
import { PYTORCH_EXTENSIONS } from '../config/recognise';
import { NOTEBOOK_EXTENSION, PYTHON_EXTENSION, readTrainingSource } from './readSetup';
import type { TrainingSetup } from '../config/trainingSetup';
import type { ModelRef } from '../models/modelRef';
import { flowerClientModel } from '../python/flowerApp';

export type ModelFormat = 'onnx' | 'tfjs' | 'pytorch';

export interface DiscoveredModel {
  /** Absolute path. */
  path: string;
  format: ModelFormat;
  /** Configs (absolute paths) that use this model; empty for a model no config names. */
  configs: string[];
}

export interface DiscoveredConfig {
  path: string;
  setup: TrainingSetup;
  /**
   * Absolute paths; the model may be missing on disk (the config's I2F107 finding says so). For a model named by
   * architecture or in Python (`modelRef`), `model` is unset until materialiseModel has written it into the cache.
   */
  model?: string;
  /** How the config names its model: a file (then `model` is that path), an architecture, or a Python factory. */
  modelRef?: ModelRef;
  /** Why the config's way of naming its model led to none (a Flower app whose client module trains no torch model). */
  modelProblem?: string;
  /** For a materialised model: what it is, for reports ("resnet18 (torchvision.models.resnet18) for cifar10: …"). */
  modelDescription?: string;
  /** Said instead of "at initialisation" when no weights are applied (a model whose code loads pretrained weights). */
  modelInitialisation?: string;
  weights?: string;
  samples?: string;
  /**
   * Set when `weights` is the latest checkpoint training wrote (checkpoint watching) rather than the file the config
   * names: the finding names it.
   */
  checkpoint?: { name: string; step?: number };
  /** 'config': the config names it; 'same-folder': the config names none and its folder holds exactly one model. */
  modelSource: 'config' | 'same-folder' | 'none';
}

export interface WorkspaceScan {
  root: string;
  configs: DiscoveredConfig[];
  /** Files that look like training configs but do not parse; each carries its location. */
  syntaxErrors: ConfigSyntaxError[];
  models: DiscoveredModel[];
  /** Models no config names or adopts: analysed on their own, with default settings. */
  unclaimedModels: DiscoveredModel[];
  /** True when a bound stopped the walk early; the result is then partial. */
  truncated: boolean;
}

export interface DiscoverOptions {
  /** Directory entries looked at before giving up (a monorepo must not stall the server). */
  maxEntries?: number;
  /** Config candidates read and parsed. */
  maxConfigs?: number;
  /** Larger config candidates are skipped unread: training configs are small, generated JSON is not. */
  maxConfigBytes?: number;
  maxDepth?: number;
  /** Python files and notebooks read for DP call sites (only those that mention a DP library are parsed). */
  maxPythonFiles?: number;
  /** Larger notebooks are skipped unread (their outputs, images among them, are most of their size). */
  maxNotebookBytes?: number;
  /**
   * `i2f audit FILE`: only this config or script is read (the folder is still walked for its models); reading the
   * others would cost their own work (a make_private_with_epsilon script's σ search) for nothing.
   */
  onlyFile?: string;
  /** The language server's scan: make_private_with_epsilon's σ is searched for later, by the editor (readSetup.ts). */
  noiseSearch?: 'wait' | 'later';
}

const DEFAULTS: Required<Omit<DiscoverOptions, 'onlyFile' | 'noiseSearch'>> = { maxEntries: 50_000, maxConfigs: 2_000, maxConfigBytes: 1_000_000, maxDepth: 32, maxPythonFiles: 5_000, maxNotebookBytes: 20_000_000 };

/** Folders that hold dependencies, build output or tool state, never the user's training configs. */
const SKIPPED_DIRS = new Set(['node_modules', 'dist', 'out', 'build', '__pycache__', 'venv', 'site-packages', 'dist-packages', 'wandb', 'mlruns', 'outputs', 'multirun']);
/** JSON files that are never training configs; skipping them saves a read and a parse each. */
const SKIPPED_JSON = /^(package(-lock)?\.json|tsconfig.*\.json|jsconfig\.json|composer\.json|\.?eslintrc.*|launch\.json|settings\.json|tasks\.json|extensions\.json)$/i;
const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json', '.toml', '.conf', '.hocon']);

export async function discoverWorkspace(root: string, options: DiscoverOptions = {}): Promise<WorkspaceScan> {
  const limits = { ...DEFAULTS, ...options };
  const absRoot = resolve(root);
  const configFiles: string[] = [];
  const pythonFiles: string[] = [];
  const modelFiles = new Map<string, ModelFormat>();
  let truncated = false;
  let entriesSeen = 0;

  // Breadth-first, iterative: no recursion depth to exhaust; real paths of visited folders stop symlink loops.
  const visited = new Set<string>();
  const queue: { dir: string; depth: number }[] = [{ dir: absRoot, depth: 0 }];
  while (queue.length) {
    const { dir, depth } = queue.shift()!;
    let real: string;
    try {
      real = await fs.realpath(dir);
    } catch {
      continue;
    }
    if (visited.has(real)) continue;
    visited.add(real);
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      continue; // unreadable folder: not ours to report
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (++entriesSeen > limits.maxEntries) {
        truncated = true;
        queue.length = 0;
        break;
      }
      const path = join(dir, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        try {
          const st = await fs.stat(path);
          isDir = st.isDirectory();
          isFile = st.isFile();
        } catch {
          continue; // dangling link
        }
      }
      if (isDir) {
        if (entry.name.startsWith('.') || SKIPPED_DIRS.has(entry.name)) continue;
        if (depth + 1 > limits.maxDepth) {
          truncated = true;
          continue;
        }
        queue.push({ dir: path, depth: depth + 1 });
        continue;
      }
      if (!isFile) continue;
      const ext = extname(entry.name).toLowerCase();
      if (ext === '.onnx') modelFiles.set(path, 'onnx');
      else if (entry.name === 'model.json' && (await isTfjsModel(path))) modelFiles.set(path, 'tfjs');
      else if (CONFIG_EXTENSIONS.has(ext) && !(ext === '.json' && SKIPPED_JSON.test(entry.name))) configFiles.push(path);
      else if (ext === PYTHON_EXTENSION || ext === NOTEBOOK_EXTENSION) pythonFiles.push(path);
    }
  }

  const configs: DiscoveredConfig[] = [];
  const syntaxErrors: ConfigSyntaxError[] = [];
  if (configFiles.length > limits.maxConfigs || pythonFiles.length > limits.maxPythonFiles) truncated = true;
  for (const file of [...configFiles.slice(0, limits.maxConfigs), ...pythonFiles.slice(0, limits.maxPythonFiles)]) {
    if (options.onlyFile && file !== options.onlyFile) continue;
    let text: string;
    try {
      const st = await fs.stat(file);
      if (st.size > (extname(file).toLowerCase() === NOTEBOOK_EXTENSION ? limits.maxNotebookBytes : limits.maxConfigBytes)) continue;
      text = await fs.readFile(file, 'utf8');
    } catch {
      continue;
    }
    const result = await readTrainingSource(file, text, { fileExists: existsSync, ...(options.noiseSearch ? { noiseSearch: options.noiseSearch } : {}) });
    if (!result) continue;
    if ('kind' in result) syntaxErrors.push(result);
    else configs.push(linkConfig(file, result));
  }

  // A config that names no model adopts the only model in its own folder: the common "one experiment, one folder" layout.
  for (const c of configs) {
    if (c.model || c.modelRef) continue;
    const here = [...modelFiles.keys()].filter((m) => dirname(m) === dirname(c.path));
    if (here.length === 1) {
      c.model = here[0];
      c.modelSource = 'same-folder';
    }
  }

  const models = new Map<string, DiscoveredModel>();
  for (const [path, format] of modelFiles) models.set(path, { path, format, configs: [] });
  for (const c of configs) {
    if (!c.model) continue;
    let m = models.get(c.model);
    // A config may name a model outside the folder, or a PyTorch file we do not look for on our own.
    if (!m && c.setup.model?.exists) {
      m = { path: c.model, format: modelFormatOf(c.model), configs: [] };
      models.set(c.model, m);
    }
    m?.configs.push(c.path);
  }
  const all = [...models.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
  return { root: absRoot, configs, syntaxErrors, models: all, unclaimedModels: all.filter((m) => m.configs.length === 0), truncated };
}

/** A parsed config with its model, weights and samples paths (exported for the language server's open documents). */
export function linkConfig(path: string, setup: TrainingSetup): DiscoveredConfig {
  const local = (p?: { resolved: string }): string | undefined => (p && !/^[a-z][a-z0-9+.-]*:\/\//i.test(p.resolved) ? p.resolved : undefined);
  const model = local(setup.model);
  const weights = local(setup.weights);
  const samples = local(setup.samples);
  const { ref: modelRef, problem: modelProblem } = modelRefOf(path, setup, model);
  return {
    path,
    setup,
    ...(model ? { model } : {}),
    ...(modelRef ? { modelRef } : {}),
    ...(modelProblem ? { modelProblem } : {}),
    ...(weights ? { weights } : {}),
    ...(samples ? { samples } : {}),
    modelSource: modelRef ? 'config' : 'none',
  };
}

/**
 * A model file wins; then a Python factory the i2f: section names; then an architecture with the sizes the config
 * gives; then the model a Flower app's client module instantiates (read statically: python/flowerApp.ts).
 */
function modelRefOf(path: string, setup: TrainingSetup, model: string | undefined): { ref?: ModelRef; problem?: string } {
  if (model) return { ref: { kind: 'file', path: model } };
  const inputShape = setup.inputShape ? { inputShape: setup.inputShape.value } : {};
  if (setup.pythonModel) {
    const args = setup.pythonModelArgs ? { args: setup.pythonModelArgs } : {};
    const hint = setup.pythonInputHint ? { inputHint: setup.pythonInputHint } : {};
    const gn = setup.normalisation ? { normalisation: setup.normalisation.value } : {};
    const foundBy = setup.pythonModelFoundBy ? { foundBy: setup.pythonModelFoundBy } : {};
    const defs = setup.pythonModelFromDefinitions ? { definitionsOnly: true as const } : {};
    return { ref: { kind: 'python', factory: setup.pythonModel.value, root: setup.pythonModelRoot ?? dirname(path), ...inputShape, ...hint, ...gn, ...args, ...foundBy, ...defs } };
  }
  if (setup.architecture) {
    return {
      ref: {
        kind: 'catalogue',
        name: setup.architecture.value,
        ...(setup.dataset ? { dataset: setup.dataset.value } : {}),
        ...inputShape,
        ...(setup.classes ? { classes: setup.classes.value } : {}),
        ...(setup.normalisation ? { normalisation: setup.normalisation.value } : {}),
      },
    };
  }
  if (setup.flowerClientApp) {
    // Read with the client module's arguments when the file was read (readSetup.ts); else found by name only.
    const found = setup.flowerModel ?? lexicalFlowerModel(dirname(path), setup.flowerClientApp.value);
    if ('problem' in found) return { problem: `the Flower client app names no PyTorch model the bridge can find: ${found.problem}` };
    const { factory, root, args, how } = found;
    return { ref: { kind: 'python', factory, root, ...inputShape, ...(args ? { args } : {}), foundBy: how } };
  }
  return {};
}

function lexicalFlowerModel(appRoot: string, clientApp: string): NonNullable<TrainingSetup['flowerModel']> {
  const found = flowerClientModel(appRoot, clientApp);
  return 'problem' in found ? found : { factory: found.model.factory, root: found.model.root, how: `found from the Flower app (${found.model.how})` };
}

/** Whether the config names a model that must be materialised (an architecture, a Python factory) before analysis. */
export function needsMaterialising(config: DiscoveredConfig): boolean {
  return !!config.modelRef && config.modelRef.kind !== 'file' && !config.model;
}

export function modelFormatOf(path: string): ModelFormat {
  const ext = extname(path).toLowerCase();
  if (PYTORCH_EXTENSIONS.has(ext)) return 'pytorch';
  if (basename(path).toLowerCase().endsWith('.json')) return 'tfjs';
  return 'onnx';
}

/** TensorFlow.js layers/graph models: a model.json with a topology and a weights manifest (not any model.json). */
async function isTfjsModel(path: string): Promise<boolean> {
  try {
    const handle = await fs.open(path, 'r');
    try {
      const buf = Buffer.alloc(TFJS_SNIFF_BYTES);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      return looksLikeTfjsModel(buf.subarray(0, bytesRead));
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}

const TFJS_SNIFF_BYTES = 64 * 1024;

function looksLikeTfjsModel(head: Buffer): boolean {
  const text = head.toString('utf8');
  return text.includes('"modelTopology"') || text.includes('"weightsManifest"');
}

/**
 * The models a config that names none adopts from its own folder, as discoverWorkspace does (.onnx files and tfjs
 * model.json files): the language server links a config opened on its own the same way, so editor and audit agree.
 * Regular files only, so a FIFO named model.json is never opened (it would block the server's thread).
 */
export function modelsInFolderSync(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(dir, entry.name);
    if (extname(entry.name).toLowerCase() === '.onnx') found.push(path);
    else if (entry.name === 'model.json' && isTfjsModelSync(path)) found.push(path);
  }
  return found;
}

function isTfjsModelSync(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buf = Buffer.alloc(TFJS_SNIFF_BYTES);
    return looksLikeTfjsModel(buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)));
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

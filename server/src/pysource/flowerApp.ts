// A Flower app around a Python file: the pyproject.toml with [tool.flwr.app] above it, its run config (the values
// `context.run_config[…]` reads) and the modules its components name (`clientapp = "pkg.client_app:app"`).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { parseTomlConfig } from '../config/tomlConfig';
import { recogniseTrainingSetup } from '../config/recognise';
import type { TrainingSetup } from '../config/trainingSetup';
import type { RunConfig, RunConfigValue } from './staticValue';
import type { FlowerAppModelResolution } from './flowerAppModel';

export interface FlowerApp {
  /** Absolute path of the app's pyproject.toml. */
  pyproject: string;
  root: string;
  runConfig: RunConfig;
  /** Absolute paths of the component modules that exist (client app, server app). */
  components: string[];
  /** What the pyproject.toml says as a training config (its model path, an i2f section), when it is one. */
  setup?: TrainingSetup;
  /** The model its client module builds (pysource/flowerAppModel.ts), when it has been read. */
  model?: FlowerAppModelResolution;
}

const MAX_LEVELS = 4;
const MAX_PYPROJECT_BYTES = 1_000_000;
const RUN_CONFIG = ['tool', 'flwr', 'app', 'config'];

/** The Flower app a Python file belongs to: the nearest pyproject.toml above it (a few levels) declaring [tool.flwr.app]. */
export function flowerAppOf(pyFile: string, readText: (path: string) => string | undefined = readSmallFile): FlowerApp | undefined {
  let dir = dirname(resolve(pyFile));
  for (let level = 0; level < MAX_LEVELS; level++) {
    const app = readFlowerApp(join(dir, 'pyproject.toml'), readText);
    if (app) return app;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

export function readFlowerApp(pyproject: string, readText: (path: string) => string | undefined = readSmallFile): FlowerApp | undefined {
  // An open editor buffer first (its unsaved edits), else the file on disk.
  const text = readText(pyproject) ?? (readText === readSmallFile ? undefined : readSmallFile(pyproject));
  if (text === undefined || !text.includes('tool.flwr')) return undefined;
  const parsed = parseTomlConfig(pyproject, text);
  if (parsed.kind !== 'tree') return undefined;
  const values = new Map<string, RunConfigValue>();
  let isApp = false;
  const components: string[] = [];
  const root = dirname(pyproject);
  for (const e of parsed.tree.entries) {
    if (e.path.length >= 3 && e.path[0] === 'tool' && e.path[1] === 'flwr' && e.path[2] === 'app') isApp = true;
    if (e.path.length > RUN_CONFIG.length && RUN_CONFIG.every((s, i) => e.path[i] === s)) {
      // Flower flattens nested tables of the run config with dots: [tool.flwr.app.config] a.b = 1 is run_config["a.b"].
      const key = e.path.slice(RUN_CONFIG.length).join('.');
      values.set(key, { value: e.value, file: pyproject, key, keyRange: e.keyRange, valueRange: e.valueRange });
    }
    if (e.path.length === 5 && e.path.slice(0, 4).join('.') === 'tool.flwr.app.components' && typeof e.value === 'string') {
      const module = e.value.split(':')[0];
      const file = join(root, ...module.split('.')) + '.py';
      if (file.startsWith(root + sep) && existsSync(file)) components.push(file);
    }
  }
  if (!isApp) return undefined;
  const setup = recogniseTrainingSetup(parsed.tree) ?? undefined;
  return { pyproject, root, runConfig: { file: pyproject, get: (key) => values.get(key) }, components, ...(setup ? { setup } : {}) };
}

function readSmallFile(path: string): string | undefined {
  try {
    const st = statSync(path);
    if (!st.isFile() || st.size > MAX_PYPROJECT_BYTES) return undefined;
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

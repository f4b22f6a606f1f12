// Recognises a model defined in the workspace's Python: `i2f: model: "pkg.task:Net"` names it outright, and a Flower
// app's `[tool.flwr.app.components] clientapp = "pkg.client_app:app"` names the client module whose model the
// export bridge finds (python/flowerApp.ts). Both are kept with their places in the file, so a failed export is
// reported on the line that led to it.

import { normaliseKey, type ConfigEntry, type ConfigFormat, type ConfigTree } from './keyTree';
import type { ConfigField, PythonModelArgs, TrainingSetup } from './trainingSetup';

/** `package.module:Factory` (the factory may be dotted: `pkg.models:Zoo.small`). */
const PYTHON_FACTORY = /^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$/;

export function isPythonFactory(value: unknown): value is string {
  return typeof value === 'string' && PYTHON_FACTORY.test(value.trim());
}

const field = <T>(file: string, entry: ConfigEntry, value: T): ConfigField<T> => ({
  value,
  key: entry.path.join('.'),
  path: entry.path,
  keyRange: entry.keyRange,
  valueRange: entry.valueRange,
  file,
});

/** Fills setup.pythonModel and setup.flowerClientApp; returns how many keys it recognised. */
export function recognisePythonReference(tree: ConfigTree, setup: TrainingSetup): number {
  let recognised = 0;
  for (const e of tree.entries) {
    const keys = e.path.map(normaliseKey);
    const last = keys[keys.length - 1];
    if (!setup.pythonModel && last === 'model' && keys.slice(0, -1).includes('i2f') && isPythonFactory(e.value)) {
      setup.pythonModel = field(tree.file, e, (e.value as string).trim());
      recognised++;
    } else if (!setup.flowerClientApp && keys.join('.') === 'tool.flwr.app.components.clientapp' && typeof e.value === 'string' && e.value.trim()) {
      setup.flowerClientApp = field(tree.file, e, e.value.trim());
      recognised++;
    }
  }
  return recognised;
}

/** `10, num_classes=10`: literal arguments for a Python factory, as Python writes them. */
export function describeArgs(args: PythonModelArgs): string {
  const py = (v: unknown): string =>
    v === null ? 'None' : v === true ? 'True' : v === false ? 'False' : typeof v === 'string' ? JSON.stringify(v)
      : Array.isArray(v) ? `[${v.map(py).join(', ')}]`
        : typeof v === 'object' ? `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${JSON.stringify(k)}: ${py(x)}`).join(', ')}}` : String(v);
  return [...args.positional.map(py), ...Object.entries(args.keyword).map(([k, v]) => `${k}=${py(v)}`)].join(', ');
}

/** How to write `i2f: <key>: <value>` in a config of this format (the one-line fixes the audit and findings give). */
export function i2fSnippet(format: ConfigFormat, file: string, key: string, value: string | number[]): string {
  const shown = Array.isArray(value) ? `[${value.join(', ')}]` : JSON.stringify(value);
  if (format === 'toml') return `${/pyproject\.toml$/i.test(file) ? '[tool.i2f]' : '[i2f]'} ${key} = ${shown}`;
  if (format === 'json') return `"i2f": { "${key}": ${shown} }`;
  return `i2f: { ${key}: ${shown} }`;
}

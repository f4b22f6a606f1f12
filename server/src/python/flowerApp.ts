// A Flower app's model, found statically: `[tool.flwr.app.components] clientapp = "pkg.client_app:app"` names the
// client module; the torch.nn.Module class it instantiates (usually `Net` imported from `pkg/task.py`) is the model
// the clients train and whose gradients they share. Only the files are read; nothing of the app runs here.

import { isTorchModuleBase, moduleFile, readModule, type ModuleReading, type PythonClass } from './pythonModules';

export interface FlowerModel {
  /** `module:Class` as the export bridge imports it ('pytorchexample.task:Net'). */
  factory: string;
  /** The folder the module path is relative to (the app's folder, or its `src/`). */
  root: string;
  /** Where the class is defined, for messages. */
  file: string;
  line: number;
  /** One sentence on how it was found. */
  how: string;
}

export type FlowerResolution = { model: FlowerModel } | { problem: string };

const MAX_BASE_DEPTH = 4;
/** Function names that say "this builds the model" (get_model, load_model, build_net, create_model…). */
const MODEL_FUNCTION = /^((get|load|build|create|make|init|new)_?)?(model|net|network)$/i;
/** A builder function counts only in a module that imports PyTorch or a library of its ecosystem (not TensorFlow's). */
const TORCH_ECOSYSTEM = new Set(['torch', 'torchvision', 'transformers', 'timm', 'monai', 'pytorch_lightning', 'lightning', 'peft', 'opacus', 'lerobot']);

/** `clientApp` is the component string ('pkg.client_app:app'); `appRoot` the folder of the app's pyproject.toml. */
export function flowerClientModel(appRoot: string, clientApp: string): FlowerResolution {
  const [moduleName] = clientApp.split(':');
  if (!/^[A-Za-z_][\w.]*$/.test(moduleName ?? '')) return { problem: `the clientapp component '${clientApp}' is not of the form package.module:app` };
  const located = moduleFile(appRoot, moduleName);
  if (!located) return { problem: `the client app module ${moduleName} was not found under ${appRoot} (as ${moduleName.replace(/\./g, '/')}.py)` };
  const readings = new Map<string, ModuleReading | null>();
  const read = (name: string): ModuleReading | undefined => {
    if (!readings.has(name)) {
      const f = moduleFile(located.root, name);
      let r: ModuleReading | null = null;
      if (f) {
        try {
          r = readModule(f.file, name);
        } catch {
          r = null;
        }
      }
      readings.set(name, r);
    }
    return readings.get(name) ?? undefined;
  };
  const client = read(moduleName);
  if (!client) return { problem: `the client app module ${located.file} could not be read` };

  /** The workspace class a name refers to in `reading` ('Net', 'task.Net'), with the module it lives in. */
  const classOf = (reading: ModuleReading, moduleOf: string, name: string): { module: string; reading: ModuleReading; cls: PythonClass } | undefined => {
    const parts = name.split('.');
    if (parts.length === 1) {
      const local = reading.classes.find((c) => c.name === name);
      if (local) return { module: moduleOf, reading, cls: local };
      const bound = reading.imports.get(name);
      if (bound?.attr) {
        const target = read(bound.module);
        const cls = target?.classes.find((c) => c.name === bound.attr);
        if (target && cls) return { module: bound.module, reading: target, cls };
        // `from pkg import task` then `task.Net(`: handled below as a dotted name.
      }
      return undefined;
    }
    const bound = reading.imports.get(parts[0]);
    if (!bound || parts.length !== 2) return undefined;
    const mod = bound.attr ? `${bound.module}.${bound.attr}` : bound.module;
    const target = read(mod);
    const cls = target?.classes.find((c) => c.name === parts[1]);
    return target && cls ? { module: mod, reading: target, cls } : undefined;
  };

  /** The workspace function a called name refers to ('get_model', 'task.get_model'). */
  const functionOf = (reading: ModuleReading, moduleOf: string, name: string): { module: string; reading: ModuleReading; name: string; line: number } | undefined => {
    const parts = name.split('.');
    let mod = moduleOf;
    let attr = parts[0];
    if (parts.length === 1) {
      const line = reading.functions.get(attr);
      if (line !== undefined) return { module: moduleOf, reading, name: attr, line };
      const bound = reading.imports.get(attr);
      if (!bound?.attr) return undefined;
      mod = bound.module;
      attr = bound.attr;
    } else {
      const bound = reading.imports.get(parts[0]);
      if (!bound || parts.length !== 2) return undefined;
      mod = bound.attr ? `${bound.module}.${bound.attr}` : bound.module;
      attr = parts[1];
    }
    const target = read(mod);
    const line = target?.functions.get(attr);
    return target && line !== undefined ? { module: mod, reading: target, name: attr, line } : undefined;
  };

  const isTorchClass = (module: string, reading: ModuleReading, cls: PythonClass, depth = 0): boolean => {
    if (cls.bases.some((b) => isTorchModuleBase(b, reading.imports))) return true;
    if (depth >= MAX_BASE_DEPTH) return false;
    return cls.bases.some((b) => {
      const base = classOf(reading, module, b);
      return !!base && base.cls !== cls && isTorchClass(base.module, base.reading, base.cls, depth + 1);
    });
  };

  const found = (module: string, reading: ModuleReading, cls: PythonClass, how: string): FlowerResolution => ({
    model: { factory: `${module}:${cls.name}`, root: located.root, file: reading.file, line: cls.line, how },
  });

  // 1. A workspace torch.nn.Module class the client module instantiates (the first one called).
  const instantiated = client.calls
    .map((name) => classOf(client, moduleName, name))
    .filter((c): c is NonNullable<typeof c> => !!c && isTorchClass(c.module, c.reading, c.cls));
  if (instantiated.length) {
    const c = instantiated[0];
    const others = [...new Set(instantiated.slice(1).map((o) => `${o.module}:${o.cls.name}`))].filter((o) => o !== `${c.module}:${c.cls.name}`);
    return found(c.module, c.reading, c.cls, `${clientApp.split(':')[0]} instantiates ${c.cls.name}${others.length ? ` (also ${others.join(', ')}: name the one to analyse with i2f: model)` : ''}`);
  }

  // 2. A workspace function the client module calls whose name says it builds the model (get_model, load_model).
  for (const name of client.calls) {
    if (!MODEL_FUNCTION.test(name.split('.').pop()!)) continue;
    const fn = functionOf(client, moduleName, name);
    if (fn && [...fn.reading.imports.values()].some((b) => TORCH_ECOSYSTEM.has(b.module.split('.')[0])))
      return { model: { factory: `${fn.module}:${fn.name}`, root: located.root, file: fn.reading.file, line: fn.line, how: `${moduleName} builds its model with ${fn.name}()` } };
  }

  // 3. The only torch.nn.Module class among the workspace modules the client imports from.
  const imported = [...new Set([...client.imports.values()].map((b) => b.module))].filter((m) => read(m));
  const torchClasses = [moduleName, ...imported].flatMap((m) => {
    const r = read(m)!;
    return r.classes.filter((c) => isTorchClass(m, r, c)).map((cls) => ({ module: m, reading: r, cls }));
  });
  if (torchClasses.length === 1) {
    const c = torchClasses[0];
    return found(c.module, c.reading, c.cls, `the only torch.nn.Module class in the modules ${moduleName} imports`);
  }
  if (torchClasses.length > 1)
    return { problem: `${moduleName} instantiates none of the torch.nn.Module classes it can reach (${torchClasses.map((c) => `${c.module}:${c.cls.name}`).join(', ')}), so which one it trains is not clear` };
  return { problem: `no torch.nn.Module class is defined in ${moduleName} or in the workspace modules it imports` };
}

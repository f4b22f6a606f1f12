// A Flower app's model as its client module builds it: the class or builder python/flowerApp.ts finds, called with the
// arguments the module passes (`get_model(num_classes)` with `num_classes = context.run_config["num-classes"]` is
// get_model(102) when pyproject.toml's [tool.flwr.app.config] says `num-classes = 102`). One answer for the app's
// pyproject.toml and for the DP and secure-aggregation call sites in its .py files, so both analyse the same model.

import { readFileSync } from 'node:fs';
import type { PythonModelArgs } from '../config/trainingSetup';
import { flowerClientModel } from '../python/flowerApp';
import { moduleFile } from '../python/pythonModules';
import { readFactoryArguments } from './factoryArguments';
import { isLightningModule, lightningTrainingStep } from './lightningStep';
import { indexModule } from './moduleIndex';
import { parsePython, pythonParser } from './pythonParser';
import type { RunConfig } from './staticValue';

export interface FlowerAppModel {
  /** `module:factory` as the export bridge imports it. */
  factory: string;
  /** The folder the module path is relative to. */
  root: string;
  /** The arguments the client module builds it with, when it passes any and each has one value read statically. */
  args?: PythonModelArgs;
  /** One sentence on how it was found, with where each argument's value is written or why it was not read. */
  how: string;
}

export type FlowerAppModelResolution = { model: FlowerAppModel } | { problem: string };

/**
 * `appRoot` is the folder of the app's pyproject.toml, `clientApp` its `clientapp` component ('pkg.client_app:app'),
 * `runConfig` its [tool.flwr.app.config]. An argument not read statically leaves the factory called without
 * arguments (a required one then fails in Python, naming it) and the reason is kept in `how`.
 */
export async function flowerAppModel(appRoot: string, clientApp: string, runConfig: RunConfig | undefined, readText?: (path: string) => string | undefined): Promise<FlowerAppModelResolution> {
  const resolution = await clientModel(appRoot, clientApp, runConfig, readText);
  if ('problem' in resolution) return resolution;
  // A LightningModule: what its training_step trains, said with the model (pysource/lightningStep.ts).
  const trains = await lightningTrains(resolution.model, readText);
  return trains ? { model: { ...resolution.model, how: `${resolution.model.how}; ${trains}` } } : resolution;
}

/** The sentence on a LightningModule factory's training_step, or undefined for any other factory. */
async function lightningTrains(model: FlowerAppModel, readText?: (path: string) => string | undefined): Promise<string | undefined> {
  const [module, attr] = model.factory.split(':');
  const located = moduleFile(model.root, module);
  if (!located || attr.includes('.')) return undefined;
  let text: string;
  try {
    text = readText?.(located.file) ?? readFileSync(located.file, 'utf8');
  } catch {
    return undefined;
  }
  if (!/LightningModule/.test(text)) return undefined;
  const parsed = parsePython(await pythonParser(), text);
  if (parsed.kind !== 'tree') return undefined;
  try {
    const index = indexModule(located.file, text, parsed.tree);
    const cls = index.classes.get(attr);
    if (!cls || !isLightningModule(cls)) return undefined;
    const step = lightningTrainingStep(index, cls);
    return step.kind === 'forward'
      ? `its training_step trains forward (\`${step.loss}\`, line ${step.line}), the function analysed`
      : `its forward, analysed here, is not the function whose gradient training shares: ${step.reason}`;
  } finally {
    parsed.tree.delete();
  }
}

async function clientModel(appRoot: string, clientApp: string, runConfig: RunConfig | undefined, readText?: (path: string) => string | undefined): Promise<FlowerAppModelResolution> {
  const found = flowerClientModel(appRoot, clientApp);
  if ('problem' in found) return found;
  const { factory, root } = found.model;
  const how = `found from the Flower app (${found.model.how})`;
  const moduleName = clientApp.split(':')[0];
  const client = moduleFile(appRoot, moduleName);
  const name = factory.split(':')[1].split('.').pop()!;
  let text: string | undefined;
  try {
    text = client ? (readText?.(client.file) ?? readFileSync(client.file, 'utf8')) : undefined;
  } catch {
    text = undefined;
  }
  if (!client || text === undefined) return { model: { factory, root, how } };
  const parsed = parsePython(await pythonParser(), text);
  if (parsed.kind !== 'tree') return { model: { factory, root, how } };
  try {
    const index = indexModule(client.file, text, parsed.tree);
    // The client module's calls of the factory, by its own name or a module's attribute (`Net(…)`, `task.Net(…)`).
    const calls = index.calls.get(name) ?? [];
    if (!calls.length) return { model: { factory, root, how } };
    const what = /^[A-Z]/.test(name) ? `the ${name} constructor` : `${name}()`;
    const readings = calls.map((c) => readFactoryArguments(index, c, what, runConfig));
    const read = readings.find((r) => r.kind === 'read');
    if (!read || read.kind !== 'read') {
      const first = readings[0] as Extract<(typeof readings)[number], { kind: 'unread' }>;
      return { model: { factory, root, how: `${how}; built without arguments: ${first.reason}` } };
    }
    const line = calls[readings.indexOf(read)].startPosition.row + 1;
    if (!read.args) return { model: { factory, root, how } };
    return { model: { factory, root, args: read.args, how: `${how}, called on line ${line} with ${read.read.join(', ')}` } };
  } finally {
    parsed.tree.delete();
  }
}

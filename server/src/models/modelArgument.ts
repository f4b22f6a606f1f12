// The MODEL argument of `i2f analyze` / `i2f attack`: a model file, or a catalogue architecture shaped by
// --dataset or --input-shape/--classes (`i2f analyze resnet18 --dataset cifar10 --weights ckpt.safetensors`).

import { existsSync } from 'node:fs';
import { UserError } from '../errors';
import { catalogueNames, findArchitecture } from './catalogue';
import { AT_INITIALISATION, materialiseModel } from './materialise';
import { isPythonFactory } from '../config/pythonReference';

export interface ModelArgumentOptions {
  dataset?: string;
  /** '3,32,32' as typed. */
  inputShape?: string;
  classes?: string;
  /** Seed of a catalogue model's initial weights. */
  initSeed?: number;
  weights?: string;
  cacheDir: string;
  /** `--python PATH`: the interpreter that builds a `module:Factory` MODEL (else the search of python/interpreter.ts). */
  python?: string;
}

/** CLI options every command that takes MODEL accepts (node:util parseArgs shape). */
export const MODEL_ARGUMENT_OPTIONS = {
  dataset: { type: 'string' },
  'input-shape': { type: 'string' },
  classes: { type: 'string' },
  'init-seed': { type: 'string' },
  python: { type: 'string' },
} as const;

export const MODEL_ARGUMENT_USAGE = `MODEL is an .onnx file, a tfjs model.json, or an architecture from the catalogue (${catalogueNames().join(', ')})
  shaped by --dataset NAME (mnist, femnist, cifar10, cifar100, svhn, tiny-imagenet, imagenet, …) or
  --input-shape C,H,W --classes K; without --weights it is analysed ${AT_INITIALISATION}.
  MODEL may also be module:Factory, a torch.nn.Module in your Python (e.g. pkg.task:Net, imported from the current
  folder): built and exported to ONNX by --python PATH, else .venv/venv here, else the first python3 on PATH that
  imports torch; --input-shape C,H,W (any number of dims) or inferred. A class or builder defined in a Jupyter notebook
  is notebook.ipynb:Net: built from the notebook's imports and the definitions it needs, never its other cells.`;

/** The model file to analyse and, for an architecture, what it is. A path that exists always wins over a name. */
export async function resolveModelArgument(model: string, o: ModelArgumentOptions): Promise<{ path: string; description?: string }> {
  const shaped = o.dataset !== undefined || o.inputShape !== undefined || o.classes !== undefined;
  if (existsSync(model)) {
    if (shaped) throw new UserError('bad-option', `--dataset, --input-shape and --classes shape an architecture from the catalogue; ${model} is a model file, whose shapes are its own`);
    return { path: model };
  }
  if (isPythonFactory(model)) return pythonModelArgument(model, o);
  const arch = findArchitecture(model);
  if (!arch) return { path: model }; // the loader says the file is missing
  const inputShape = o.inputShape !== undefined ? parseShape(o.inputShape) : undefined;
  let classes: number | undefined;
  if (o.classes !== undefined) {
    classes = Number(o.classes);
    if (!Number.isSafeInteger(classes) || classes < 1) throw new UserError('bad-option', `--classes expects a whole number ≥ 1, got '${o.classes}'`);
  }
  const m = await materialiseModel({ kind: 'catalogue', name: arch.name, ...(o.dataset ? { dataset: o.dataset } : {}), ...(inputShape ? { inputShape } : {}), ...(classes ? { classes } : {}) }, { cacheDir: o.cacheDir, seed: o.initSeed });
  return { path: m.path, description: `${m.description}, ${o.weights ? `weights ${o.weights}` : AT_INITIALISATION}` };
}

/** `pkg.task:Net` imported from the current folder, built by the workspace's Python and exported to ONNX. */
async function pythonModelArgument(factory: string, o: ModelArgumentOptions): Promise<{ path: string; description?: string }> {
  if (o.dataset !== undefined || o.classes !== undefined) throw new UserError('bad-option', `--dataset and --classes shape an architecture from the catalogue; ${factory} builds its own model (give --input-shape if it cannot be inferred)`);
  const inputShape = o.inputShape !== undefined ? o.inputShape.replace(/[[\]\s]/g, '').split(/[,x×]/).map(Number) : undefined;
  if (inputShape && inputShape.some((d) => !Number.isSafeInteger(d) || d < 1)) throw new UserError('bad-option', `--input-shape expects whole numbers ≥ 1 separated by commas (e.g. 3,32,32), got '${o.inputShape}'`);
  const root = process.cwd();
  // A script whose top level would train (or exit, or download) is never imported: its definitions are (scriptModel.ts).
  const m = await materialiseModel({ kind: 'python', factory, root, definitionsOnly: true, ...(inputShape ? { inputShape } : {}) }, { cacheDir: o.cacheDir, python: { configured: o.python, venvRoots: [root] } });
  return { path: m.path, description: `${m.description}${o.weights ? ` Weights ${o.weights}.` : m.initialisation ? `; ${m.initialisation}` : ''}` };
}

function parseShape(text: string): number[] {
  const dims = text.replace(/[[\]\s]/g, '').split(/[,x×]/).map(Number);
  if (dims.length !== 3 || dims.some((d) => !Number.isSafeInteger(d) || d < 1)) throw new UserError('bad-option', `--input-shape expects channels,height,width (e.g. 3,32,32), got '${text}'`);
  return dims;
}

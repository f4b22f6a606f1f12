// Turns a config's model reference into the model file the analysis runs on. A file is itself; an architecture from
// the catalogue is written as ONNX by our own writer; a model in the workspace's Python goes through the export
// bridge. Written files live in the cache folder, named by what decides their bytes, and are written atomically, so
// the editor, the worker and the audit share one copy and the result cache's content hash stays stable.

import { existsSync, promises as fs } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { UserError } from '../errors';
import { encodeModel } from '../backends/onnx/onnxProto';
import { buildArchitecture, catalogueNames, findArchitecture, resolveShape } from './catalogue';
import { type ModelRef } from './modelRef';
import { materialisePythonModel } from '../python/pythonModel';

/** Set by the bundler (tools/build.mjs) from the numerical sources, this folder included. */
declare const I2F_ENGINE_BUILD: string | undefined;
const BUILD = typeof I2F_ENGINE_BUILD === 'string' ? I2F_ENGINE_BUILD : 'unbundled';
/** Bump when a catalogue graph changes in a way the build hash would not show. */
const CATALOGUE_FORMAT = 1;

/** Seed of a catalogue model's initial weights when nothing else is said. */
export const DEFAULT_INIT_SEED = 0;

export interface MaterialiseOptions {
  /** The cache folder (the server's storage path, the audit's --cache-dir); models go under `models/`. */
  cacheDir: string;
  /** Seed of the initial weights of a catalogue model. */
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (stage: string, fraction: number) => void;
  /** Where to look for the Python that builds a `python` model (python/interpreter.ts), and how long it may take. */
  python?: { configured?: string; extension?: string; venvRoots?: string[]; timeoutMs?: number };
}

export interface MaterialisedModel {
  /** The model file to analyse. */
  path: string;
  ref: ModelRef;
  /**
   * What the model is, for reports and findings: "resnet18 (torchvision.models.resnet18) for cifar10: input
   * [3, 32, 32], 10 classes". The caller adds whether weights were applied (see `initialisationNote`).
   */
  description: string;
  /** True when this call wrote the file (false: it was in the cache already). */
  written: boolean;
  /** Said instead of AT_INITIALISATION when no checkpoint is applied: the code's own pretrained weights (pythonModel.ts). */
  initialisation?: string;
}

/** Said wherever a catalogue model is analysed without a checkpoint. */
export const AT_INITIALISATION = 'at initialisation (the paper\'s setting, where leakage is largest)';

export async function materialiseModel(ref: ModelRef, options: MaterialiseOptions): Promise<MaterialisedModel> {
  switch (ref.kind) {
    case 'file':
      return { path: ref.path, ref, description: ref.path, written: false };
    case 'catalogue':
      return materialiseArchitecture(ref, options);
    case 'python':
      return materialisePython(ref, options);
  }
}

/** The export bridge: the workspace's Python builds the model and writes ONNX into the cache (python/exportModel.ts). */
async function materialisePython(ref: Extract<ModelRef, { kind: 'python' }>, options: MaterialiseOptions): Promise<MaterialisedModel> {
  options.onProgress?.(`building ${ref.factory} in Python`, 0);
  const m = await materialisePythonModel(ref, {
    ...options.python,
    venvRoots: options.python?.venvRoots ?? [ref.root],
    cacheDir: options.cacheDir,
    signal: options.signal,
  });
  options.onProgress?.(`building ${ref.factory} in Python`, 1);
  return { path: m.file, ref, description: [...m.notes, ref.foundBy].filter(Boolean).join('; '), written: !m.exported.cached, ...(m.initialisation ? { initialisation: m.initialisation } : {}) };
}

async function materialiseArchitecture(ref: Extract<ModelRef, { kind: 'catalogue' }>, options: MaterialiseOptions): Promise<MaterialisedModel> {
  const arch = findArchitecture(ref.name);
  if (!arch) throw new UserError('unknown-architecture', `'${ref.name}' is not an architecture in the catalogue (${catalogueNames().join(', ')}); export the model to ONNX and name the file instead`);
  const shape = resolveShape(arch, ref);
  const seed = options.seed ?? DEFAULT_INIT_SEED;
  const gn = ref.normalisation === 'groupnorm';
  const description = `${arch.name} (${arch.source}${gn ? ', each BatchNorm replaced by GroupNorm(gcd(32, C), C) as Opacus\' ModuleValidator.fix does' : ''}) for ${shape.from}: input [${shape.inputShape.join(', ')}], ${shape.classes} classes`;
  const key = createHash('sha256').update(JSON.stringify([CATALOGUE_FORMAT, BUILD, arch.name, shape.inputShape, shape.classes, seed, ...(gn ? ['groupnorm'] : [])])).digest('hex').slice(0, 16);
  const dir = join(options.cacheDir, 'models');
  const path = join(dir, `${arch.name}${gn ? '-gn' : ''}-${shape.inputShape.join('x')}-${shape.classes}-${key}.onnx`);
  if (existsSync(path)) return { path, ref, description, written: false };
  options.onProgress?.(`writing ${arch.name}`, 0);
  const model = buildArchitecture(arch, { ...shape, seed, dataset: ref.dataset, ...(gn ? { normalisation: 'groupnorm' as const } : {}) });
  const bytes = encodeModel(model);
  await fs.mkdir(dir, { recursive: true });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(tmp, bytes);
  await fs.rename(tmp, path);
  options.onProgress?.(`writing ${arch.name}`, 1);
  return { path, ref, description, written: true };
}

/** "…, at initialisation (…)" when no checkpoint was applied to a model the catalogue wrote. */
export function initialisationNote(ref: ModelRef | undefined, weights: string | undefined): string | undefined {
  return ref && ref.kind === 'catalogue' && !weights ? AT_INITIALISATION : undefined;
}

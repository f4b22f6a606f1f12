// A model defined in the workspace's Python, made into a model file the analysis opens: find the interpreter, run the
// export bridge (cached), check that the exported θ is PyTorch's named_parameters, and say in plain sentences what
// was done on the user's behalf (which Python, the input shape and where it came from, the modules stood in for).

import { basename } from 'node:path';
import { describeArgs } from '../config/pythonReference';
import type { PythonModelArgs } from '../config/trainingSetup';
import { UserError } from '../errors';
import { loadModelFile } from '../backends/modelFile';
import { frozenParameters, namedParameters } from '../graph/parameters';
import { untieExportedParameters } from '../graph/untie';
import { describePython, describeTried, findPython, type FoundPython, type PythonSearchOptions } from './interpreter';
import { exportPythonModel, PythonExportError, type PretrainedWeights, type PythonExport } from './exportModel';
import type { GeneratedFactory } from './generatedModule';
import { isNotebookFactory, notebookFactory } from './notebookModel';
import { scriptFactory } from './scriptModel';

/**
 * A model built by the workspace's own Python: `module:factory` imported from `root` (or `script-name.py:factory`, a
 * standalone script loaded by path), called with `args` when the code builds it with literal arguments.
 */
export interface PythonModelRef {
  factory: string;
  root: string;
  inputShape?: number[];
  /** The shape of what the code trains on, tried first when inputShape is absent, and where it comes from. */
  inputHint?: { shape: number[]; from: string };
  /** The code trains the model after Opacus' ModuleValidator.fix (BatchNorm → GroupNorm): the bridge makes the same swap. */
  normalisation?: 'groupnorm';
  args?: PythonModelArgs;
  /**
   * A standalone script whose top level must not run: built from a module of its imports and the definitions the
   * factory needs (scriptModel.ts), never by importing the script.
   */
  definitionsOnly?: true;
}

export interface PythonModelOptions extends Omit<PythonSearchOptions, 'signal'> {
  cacheDir: string;
  /** Wall-time limit of the export (default 180 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface MaterialisedPythonModel {
  /** The exported ONNX file (in the cache). */
  file: string;
  exported: PythonExport;
  python: FoundPython;
  /** Clauses for the report, the hover and the audit (joined with '; '): what the bridge did and assumed. */
  notes: string[];
  /**
   * Said in place of "at initialisation" when the code loads pretrained weights (python/exportModel.ts): whether they
   * came from the torch hub cache, or were not there and the layers they fill are at initialisation.
   */
  initialisation?: string;
}

export async function materialisePythonModel(ref: PythonModelRef, opts: PythonModelOptions): Promise<MaterialisedPythonModel> {
  const search = await findPython({ ...opts, signal: opts.signal, cacheDir: opts.cacheDir });
  if (!search.found) {
    if (opts.signal?.aborted) throw new UserError('cancelled', `the search for a Python to build ${ref.factory} was cancelled`);
    throw new UserError('python-not-found', `${ref.factory} is defined in Python, and ${describeTried(search.tried)}`);
  }
  const python = search.found;
  // A class or builder defined in a notebook, or in a script whose top level must not run: built from a module of the
  // file's imports and the definitions it needs.
  const notebook = isNotebookFactory(ref.factory) ? await notebookFactory(ref.factory, ref.root, opts.cacheDir) : undefined;
  const script = !notebook && ref.definitionsOnly ? await scriptFactory(ref.factory, ref.root, opts.cacheDir) : undefined;
  const generated: GeneratedFactory | undefined = notebook ?? script;
  const { inputHint, definitionsOnly: _, ...rest } = ref;
  const plain = { ...rest, ...(inputHint ? { inputHint: inputHint.shape } : {}) };
  const request = generated ? { ...plain, factory: generated.factory, generated: [generated.generated] } : plain;
  const exported = await exportPythonModel({ ...request, python, cacheDir: opts.cacheDir, timeoutMs: opts.timeoutMs, signal: opts.signal }).catch((e: unknown) => {
    throw generated && e instanceof PythonExportError ? inSourceTerms(e, ref.factory, generated) : e;
  });
  const notes = [`${ref.factory}${ref.args ? `(${describeArgs(ref.args)})` : ''} built by ${describePython(python)} with torch.manual_seed(0) and exported to ONNX`];
  if (notebook) notes.push(`from the notebook's imports and the definitions ${ref.factory.split(':')[1]} needs (${notebook.defines.join(', ')}) only: no other cell ran`);
  if (script) notes.push(script.note);
  if (exported.groupNormReplaced?.length)
    notes.push(`its ${exported.groupNormReplaced.length} BatchNorm layer(s) made GroupNorm(gcd(32, C), C) as Opacus' ModuleValidator.fix does before training`);
  else if (ref.normalisation === 'groupnorm') notes.push("ModuleValidator.fix found no BatchNorm with parameters to replace");
  const shape = `[${exported.inputShape.join(', ')}]`;
  if (exported.inputShapeSource === 'hint') {
    notes.push(`input shape ${shape}, ${inputHint?.from ?? 'what the code trains on'}`);
  } else if (exported.inputShapeSource === 'inferred') {
    const failed = exported.tried?.length ? `; ${exported.tried.map((t) => `[${t.shape.join(', ')}]`).join(', ')} did not run` : '';
    notes.push(`input shape ${shape} inferred (${exported.inferredFrom}${failed}; set input-shape in the i2f: section if it takes another)`);
  } else {
    notes.push(`input shape ${shape} from the config`);
  }
  if (exported.stubbed.length) notes.push(`not installed there, stood in for while the model was built: ${exported.stubbed.join(', ')}`);
  if (exported.lightning) notes.push(`${exported.lightning} stood in for by a torch.nn.Module (its save_hyperparameters kept, its logging a no-op): the model is the class's own layers, and its forward the function analysed`);
  notes.push(await thetaNote(exported));
  const initialisation = pretrainedNote(exported.pretrained);
  return { file: exported.onnx, exported, python, notes, ...(initialisation ? { initialisation } : {}) };
}

/**
 * The weights the analysis ran on when the code loads pretrained ones through torch.hub: the hub cache's file, or
 * initialisation (with the file that was missing and how to give it). The bridge downloads nothing, so a finding
 * never waits on the network nor fails for want of it.
 */
function pretrainedNote(pretrained: PretrainedWeights[]): string | undefined {
  if (!pretrained.length) return undefined;
  const name = (p: PretrainedWeights) => basename(p.file);
  const absent = pretrained.filter((p) => p.state !== 'cache');
  if (!absent.length)
    return `with the pretrained weights its code loads, read as data from the torch hub cache (${pretrained.map((p) => p.file).join(', ')}); a layer the code makes after loading them is at initialisation`;
  const why = absent.map((p) => (p.state === 'missing' ? `${name(p)} is not in the torch hub cache (${p.file})` : `${p.file} could not be read as plain tensors (${p.error ?? 'unreadable'})`));
  return (
    `at initialisation, not with the pretrained weights its code loads (${absent.map((p) => p.url).join(', ')}): ${why.join('; ')}, and the export bridge downloads nothing. ` +
    `The leakage of the weights it trains from may differ either way: put the file there (\`torch.hub.load_state_dict_from_url\` in the same Python downloads it) to analyse the model as trained`
  );
}

/** A failed export through a generated module, said in its source's terms: its factory, its cells or lines. */
function inSourceTerms(e: PythonExportError, factory: string, generated: GeneratedFactory): PythonExportError {
  const say = (text: string) =>
    text
      .split(generated.factory)
      .join(factory)
      .replace(new RegExp(`${escapeRegExp(generated.generated)}:(\\d+)`, 'g'), (m, n: string) => generated.place(Number(n) - 1) ?? m);
  return new PythonExportError(say(e.message), e.tracebackTail.map(say));
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * θ of the exported graph against named_parameters: the same names, or the differences said plainly; and, when the
 * code froze some (requires_grad False), that θ is the trainable ones only.
 */
async function thetaNote(exported: PythonExport): Promise<string> {
  const model = await loadModelFile(exported.onnx);
  untieExportedParameters(model);
  const graphNamed = new Set(namedParameters(model));
  const named = exported.parameters.map(([n]) => n);
  const missing = named.filter((n) => !graphNamed.has(n));
  const extra = [...graphNamed].filter((n) => !named.includes(n));
  const values = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const count = exported.parameters.reduce((s, [, shape]) => s + values(shape), 0);
  const frozen = frozenParameters(model);
  if (!missing.length && !extra.length && frozen.size) {
    const trainable = exported.parameters.filter(([n]) => !frozen.has(n));
    const n = trainable.reduce((s, [, shape]) => s + values(shape), 0);
    const shown = trainable.length <= 4 ? `: ${trainable.map(([t]) => t).join(', ')}` : '';
    return (
      `only ${n.toLocaleString('en-US')} of ${count.toLocaleString('en-US')} parameters trainable (${trainable.length} of ${named.length} tensors${shown}): ` +
      `the other ${frozen.size} have requires_grad False when the model is built, so training shares no gradient of theirs and θ is the trainable ones (a state_dict applies by name)`
    );
  }
  if (!missing.length && !extra.length) return `θ is the model's named_parameters (${named.length} tensors, ${count.toLocaleString('en-US')} values; a state_dict applies by name)`;
  const list = (xs: string[]) => xs.slice(0, 5).join(', ') + (xs.length > 5 ? `, … (${xs.length})` : '');
  return `θ differs from the model's named_parameters (${missing.length ? `not in the graph as named: ${list(missing)}` : ''}${missing.length && extra.length ? '; ' : ''}${extra.length ? `in the graph only: ${list(extra)}` : ''})`;
}

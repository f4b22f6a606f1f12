// One entry point for every source of a TrainingSetup: config files (YAML/JSON/TOML) and Python files with DP call
// sites. A Flower app's pyproject.toml whose values the app's code passes to its DP calls defers to that code, so the
// project gets one finding (on the noise argument in Python), not a second, contradicting one on the config.

import { extname, relative, dirname } from 'node:path';
import { promises as fs, readFileSync } from 'node:fs';
import type { ConfigSyntaxError } from '../config/keyTree';
import { readTrainingConfig, type RecogniseOptions } from '../config/recognise';
import { RULES } from '../config/ruleCatalog';
import type { ConfigField, TrainingSetup } from '../config/trainingSetup';
import { readFlowerApp } from '../pysource/flowerApp';
import { flowerAppModel } from '../pysource/flowerAppModel';
import { factoryFile, readTrainingLossOfFile } from '../pysource/trainingLoss';
import { readPythonFile, type PythonReading, type ReadPythonOptions } from '../pysource/pythonSetup';
import { NOTEBOOK_EXTENSION } from '../pysource/notebook';
import { readNotebookFile } from '../pysource/notebookReading';

export const PYTHON_EXTENSION = '.py';
export { NOTEBOOK_EXTENSION };

export interface ReadSourceOptions extends RecogniseOptions {
  /** Other files' text (open editor buffers); default: the file on disk. */
  readText?: (path: string) => string | undefined;
  /**
   * The text is Python whatever the file's name: an open notebook's code cells joined (pysource/notebook.ts) and read
   * as the Python of the .ipynb's path, so findings, models and accounting are the same as a .py file's.
   */
  python?: boolean;
  /** make_private_with_epsilon's σ search: awaited ('wait', the default) or left to the editor ('later', pythonSetup.ts). */
  noiseSearch?: 'wait' | 'later';
}

/** Text in, a TrainingSetup (or a located syntax error) out, or null when the file sets up no training we read. Never throws. */
export async function readTrainingSource(file: string, text: string, options: ReadSourceOptions = {}): Promise<TrainingSetup | ConfigSyntaxError | null> {
  try {
    if (options.python || extname(file).toLowerCase() === PYTHON_EXTENSION) {
      // An open notebook's joined cells: a model defined in them is built from its definitions (notebookModule.ts).
      const notebook = extname(file).toLowerCase() === NOTEBOOK_EXTENSION ? { notebook: true } : {};
      const reading = await readPythonFile(file, text, { ...pythonOptions(options), ...notebook });
      return reading.setup;
    }
    // A Jupyter notebook: its code cells read as one script, every place taken back into the .ipynb.
    if (extname(file).toLowerCase() === NOTEBOOK_EXTENSION) {
      const reading = await readNotebookFile(file, text, pythonOptions(options));
      return reading && 'kind' in reading ? reading : (reading?.setup ?? null);
    }
    const setup = readTrainingConfig(file, text, options);
    if (setup && !('kind' in setup) && setup.format === 'toml' && setup.flavour === 'flower') await deferToCode(setup, text, options);
    if (setup && !('kind' in setup) && setup.flowerClientApp) {
      const app = readFlowerApp(setup.file, (p) => (p === setup.file ? text : options.readText?.(p)) ?? readSync(p));
      const found = await flowerAppModel(dirname(setup.file), setup.flowerClientApp.value, app?.runConfig, options.readText);
      setup.flowerModel = 'model' in found ? found.model : found;
      // The loss the app trains with, read where its model is defined (task.py's train()).
      const loss = 'model' in found ? await readTrainingLossOfFile(factoryFile(found.model.root, found.model.factory), options.readText) : undefined;
      if (loss) setup.lossInCode = loss;
    }
    return setup;
  } catch {
    return null;
  }
}

function pythonOptions(options: ReadSourceOptions): ReadPythonOptions {
  return { ...(options.readText ? { readText: options.readText } : {}), ...(options.noiseSearch ? { noiseSearch: options.noiseSearch } : {}) };
}

/**
 * A Flower app's pyproject.toml: when the app's components pass its run-config values to a DP call, those keys are
 * the code's inputs. They are taken out of the config's own analysis (no "clipping without noise" on a clipping norm
 * whose noise is set in code, no second leakage finding) and each gets an I2F142 pointing at the call that reads it.
 */
async function deferToCode(setup: TrainingSetup, text: string, options: ReadSourceOptions): Promise<void> {
  const app = readFlowerApp(setup.file, (p) => (p === setup.file ? text : options.readText?.(p)) ?? readSync(p));
  if (!app) return;
  const readers: { reading: PythonReading; field: ConfigField<unknown> }[] = [];
  for (const component of app.components) {
    let source: string | undefined;
    try {
      source = options.readText?.(component) ?? (await fs.readFile(component, 'utf8'));
    } catch {
      continue;
    }
    const reading = await readPythonFile(component, source, { readText: (p) => (p === setup.file ? text : options.readText?.(p) ?? readSync(p)) });
    if (!reading.setup) continue;
    for (const f of codeFields(reading.setup)) {
      if (f.fromCode?.alternatives.some((a) => a.source.kind === 'run-config' && a.source.file === setup.file)) readers.push({ reading, field: f });
    }
  }
  if (!readers.length) return;
  const readKeys = new Set(readers.flatMap((r) => r.field.fromCode!.alternatives.filter((a) => a.source.kind === 'run-config').map((a) => a.source.key)));
  for (const r of readers) {
    const a = r.field.fromCode!.alternatives.find((x) => x.source.kind === 'run-config' && x.source.file === setup.file)!;
    setup.problems.push({
      rule: RULES.configReadByCode.code,
      range: a.source.range,
      key: a.source.key,
      message: `'${a.source.key}' is passed to ${r.field.path[0]}(${r.field.key}=…) in ${relative(dirname(setup.file), r.reading.file) || r.reading.file} (line ${r.field.keyRange.start.line + 1}); the DP findings for this app are there, with the noise the code sets (a model this file names is analysed there too).`,
    });
  }
  // The DP keys the code consumes, and any noise rule that would misread them alone, leave this file's analysis.
  const fields = ['noiseMultiplier', 'clippingNorm', 'numSampledClients', 'targetDelta', 'targetEpsilon', 'noiseStd'] as const;
  for (const k of fields) {
    const f = setup[k] as ConfigField<unknown> | undefined;
    const key = f?.path.slice(4).join('.');
    if (f && key && readKeys.has(key)) delete setup[k];
  }
  if (!setup.clippingNorm) delete setup.clippingScope;
  delete setup.noiseInCode;
  // The model the app names is analysed at the DP call in code, under the defence the code sets up.
  if (readers.some((r) => r.reading.setup?.noiseMultiplier || r.reading.setup?.noiseStd)) {
    for (const k of ['model', 'weights', 'samples', 'architecture', 'pythonModel', 'flowerClientApp'] as const) delete setup[k];
  }
}

function codeFields(setup: TrainingSetup): ConfigField<unknown>[] {
  return [setup.noiseMultiplier, setup.clippingNorm, setup.numSampledClients, setup.targetDelta, setup.targetEpsilon, setup.noiseStd, setup.batchSize].filter(
    (f): f is ConfigField<number> => !!f,
  );
}

function readSync(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

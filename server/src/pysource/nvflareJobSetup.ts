// An NVFlare job file (nvflareJob.ts) → the TrainingSetup it trains under. For each job object: the model it gives
// (built by the export bridge from the job's folder), its privacy filters read by the config reader's NVFlare filter
// semantics (config/recognise.ts: a client TASK_RESULT filter acts on the update sent; the server's after receipt), and
// the script its ScriptRunner (or recipe) runs, read with the job's command line over its argparse defaults. A file
// gets one analysis: of its least defended job (the verdict is never more comforting than the weakest job it holds);
// every job gets an I2F176 note on its constructor saying what was read and which job the leakage finding is.

import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { recogniseTrainingSetup } from '../config/recognise';
import { RULES } from '../config/ruleCatalog';
import type { ConfigField, TrainingSetup } from '../config/trainingSetup';
import { describeArgs } from '../config/pythonReference';
import { short, type ModuleIndex } from './moduleIndex';
import { nodeRange, type SyntaxNode } from './pythonParser';
import { findNvflareJobs, type NvflareJob, type NvflareScript } from './nvflareJob';
import type { ModelClass, PythonReading, ReadPythonOptions } from './pythonSetup';

type ReadPython = (file: string, text: string, options?: ReadPythonOptions) => Promise<PythonReading>;

/** The DP-SGD fields a training script's reading contributes to its job's. */
const SCRIPT_FIELDS = ['noiseMultiplier', 'clippingNorm', 'clippingScope', 'targetEpsilon', 'targetDelta', 'batchSize', 'accountingBatchSize', 'datasetSize', 'epochs', 'dpSite', 'noiseFromTarget', 'microbatches'] as const;

interface JobReading {
  job: NvflareJob;
  setup: TrainingSetup;
  /** Clauses of the job's summary. */
  said: string[];
  defended: boolean;
}

export async function nvflareJobSetup(file: string, index: ModuleIndex, modelOf: (node: SyntaxNode) => ModelClass | undefined, options: ReadPythonOptions, readPython: ReadPython): Promise<TrainingSetup | null> {
  const jobs = findNvflareJobs(index);
  if (!jobs.length) return null;
  const readings: JobReading[] = [];
  for (const job of jobs) readings.push(await readJob(file, index, job, modelOf, options, readPython));
  // The least defended job is the file's analysis; the first of equals.
  const chosen = readings.find((r) => !r.defended) ?? readings[0];
  const setup = chosen.setup;
  for (const r of readings) {
    const name = r.job.name ? ` '${r.job.name}'` : '';
    const which = readings.length === 1
      ? ''
      : r === chosen
        ? ` This job is the one the leakage finding analyses (the least defended of the ${readings.length} jobs in this file).`
        : ` The leakage finding is of job${chosen.job.name ? ` '${chosen.job.name}'` : ''} (line ${chosen.job.call.startPosition.row + 1}), the least defended in this file, not of this one.`;
    setup.problems.push({ rule: RULES.nvflareJob.code, range: nodeRange(r.job.call.childForFieldName('function') ?? r.job.call), message: `NVFlare ${r.job.className}${name}: ${r.said.join('; ')}.${which}` });
  }
  return setup;
}

async function readJob(file: string, index: ModuleIndex, job: NvflareJob, modelOf: (node: SyntaxNode) => ModelClass | undefined, options: ReadPythonOptions, readPython: ReadPython): Promise<JobReading> {
  // The filters as the config they export to, read by the config reader's NVFlare semantics.
  const fromFilters = job.filters.entries.length ? recogniseTrainingSetup(job.filters) : null;
  const setup: TrainingSetup = fromFilters ?? { file, format: 'python', flavour: 'nvflare', unmodelled: [], problems: [] };
  setup.file = file;
  setup.format = 'python';
  setup.flavour = 'nvflare';
  setup.standaloneScript = true;
  const said: string[] = [];

  // The model: the class the job gives, built by the bridge from the job's folder with the arguments read.
  if (job.model) {
    const model = modelOf(job.model);
    const range = nodeRange(job.model);
    if (model?.problem) {
      setup.pythonModelProblem = model.problem;
      said.push(`model \`${short(job.model.text)}\` not built (${model.problem.reason})`);
    } else if (model?.factory && model.file) {
      setup.pythonModel = { value: model.factory, key: 'model', path: [job.className, 'model'], keyRange: range, valueRange: range, file };
      setup.pythonModelRoot = dirname(file);
      if (model.args) setup.pythonModelArgs = model.args;
      said.push(`model ${model.name}${model.args ? `(${describeArgs(model.args)})` : '()'} from ${relative(dirname(file), model.file)}, built by the export bridge`);
    } else {
      setup.pythonModelProblem = { reason: `the job's model \`${short(job.model.text)}\` (line ${range.start.line + 1}) was not traced to a class defined in the job's folder`, fix: 'give the job a model built from a class defined in the job file or a module beside it (`model=Net()`)' };
      said.push(`model \`${short(job.model.text)}\` not traced to a class in the job's folder`);
    }
  } else {
    setup.pythonModelProblem = {
      reason: `the job gives no model (\`model=\` / \`initial_model=\`, \`job.to(PTModel(Net()), "server")\`, a persistor's \`model=\`) that was read`,
      fix: 'give the job its initial model (`FedAvgJob(…, initial_model=Net())`); the training script\'s own reading analyses the model it trains',
    };
    said.push('no model given to the job was read (the training script\'s own reading analyses its model)');
  }

  // Its privacy filters, as recognise.ts read them.
  said.push(job.read.length ? `filters ${job.read.join(', ')}` : 'no privacy filter');
  let defended = !!(setup.relativeNoise || setup.pruneRatio || setup.unmodelled.length);

  // The training script, with the job's command line over its argparse defaults.
  const script = job.scripts[0];
  if (script) {
    const read = await readScript(file, job, script, options, readPython);
    said.push(read.said);
    if (read.setup) {
      const from = read.setup as unknown as Record<string, unknown>;
      const to = setup as unknown as Record<string, unknown>;
      for (const k of SCRIPT_FIELDS) if (from[k] !== undefined && to[k] === undefined) to[k] = from[k];
      if (read.setup.flavour === 'opacus' || read.setup.flavour === 'tf-privacy') defended = defended || !!(read.setup.noiseMultiplier || read.setup.clippingNorm);
      if (read.setup.scriptAccounting) setup.scriptAccounting = read.setup.scriptAccounting;
    }
  } else {
    said.push('no ScriptRunner or train_script read');
  }
  if (job.numRounds !== undefined) said.push(`${job.numRounds} rounds`);
  return { job, setup, said, defended };
}

async function readScript(file: string, job: NvflareJob, script: NvflareScript, options: ReadPythonOptions, readPython: ReadPython): Promise<{ setup?: TrainingSetup; said: string }> {
  const where = `line ${script.range.start.line + 1}`;
  const base = basename(script.script);
  if (!script.script) return { said: `the training program (${where}) is not a string read statically` };
  // NVFlare resolves the script from the folder the job is run in: the job's own, as its examples run it.
  const path = join(dirname(file), script.script);
  let text: string | undefined;
  try {
    text = options.readText?.(path) ?? (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
  } catch {
    text = undefined;
  }
  if (text === undefined) return { said: `runs \`${script.script}\` (${where}) not found beside the job` };
  const args = script.args ?? [];
  const line = script.argsText ? ` with \`${script.argsText}\`` : ' with no arguments';
  if (script.argsUnread) return { said: `runs \`${script.script}\`${line}: its command line is not read (${script.argsUnread}), so ${base}'s own findings (on its defaults) are the only reading of it` };
  const reading = await readPython(path, text, {
    ...(options.readText ? { readText: options.readText } : {}),
    ...(options.noiseSearch ? { noiseSearch: options.noiseSearch } : {}),
    commandLine: {
      words: args,
      from: `the job's command line for ${script.script} (${relative(dirname(path), file) || file} ${where})`,
      file,
      range: script.range,
      ...(job.numRounds !== undefined && job.numRoundsRange ? { totalRounds: { value: job.numRounds, from: `the job's num_rounds (${relative(dirname(path), file) || file} line ${job.numRoundsRange.start.line + 1})`, range: job.numRoundsRange } } : {}),
    },
  });
  const s = reading.setup;
  // Said about another file: its lines and "the script" name it (a notebook's wording leaves `x.py line N` alone).
  const own = (text: string) => text.replace(/\bline (\d+)/g, `${base} line $1`).replace(/\bthe script's\b/g, `${base}'s`).replace(/\bthe script\b/g, base).replace(/\bscript's\b/g, `${base}'s`);
  if (!s) return { said: `runs \`${script.script}\`${line}: no DP call in it, so the update leaves the client as trained` };
  const off = s.problems.find((p) => p.rule === RULES.dpOffByDefault.code);
  if (off) return { said: `runs \`${script.script}\`${line}: its DP call does not run (${own(off.message.replace(/^.*?runs only /, 'it runs only ').replace(/\.$/, ''))})` };
  const num = (f: ConfigField<number> | undefined, what: string) => (f ? `${what} ${Number(f.value.toPrecision(4))}` : undefined);
  const parts = [
    s.flavour === 'opacus' ? 'Opacus DP-SGD' : s.flavour === 'tf-privacy' ? 'TensorFlow Privacy DP-SGD' : 'DP',
    num(s.targetEpsilon, 'target ε'),
    num(s.noiseMultiplier, 'σ'),
    num(s.clippingNorm, 'clipping norm'),
    num(s.batchSize, 'batch'),
    num(s.epochs, 'epochs'),
  ].filter(Boolean);
  const sigma = s.noiseFromTarget?.unknown ? `; σ not derived from ε: ${own(s.noiseFromTarget.unknown)}` : s.noiseFromTarget?.note ? `; ${own(s.noiseFromTarget.note).replace(/\.$/, '')}` : '';
  return { setup: s, said: `runs \`${script.script}\`${line}: ${parts.join(', ')}${sigma}` };
}

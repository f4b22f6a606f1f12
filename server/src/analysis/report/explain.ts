// Why the audit did not analyse a config, and the one-line fix (issue 14, item 7): what is missing, said in the
// config's own syntax, so a user who meets "not analysed" has a way forward. Also why a single file given to
// `i2f audit FILE` is not a training config at all.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, relative } from 'node:path';
import { i2fSnippet } from '../../config/pythonReference';
import { modelField } from '../configFindings';
import { PYTORCH_EXTENSIONS, parseConfigText } from '../../config/recognise';
import { catalogueNames } from '../../models/catalogue';
import { NOTEBOOK_EXTENSION, parseNotebook } from '../../pysource/notebook';
import type { DiscoveredConfig } from '../../workspace/discover';
import type { ConfigOutcome } from './model';

const EXAMPLE_FACTORY = 'pkg.module:Factory';

/** The one-line fix for a config the audit did not analyse (or whose model could not be built), if there is one. */
export function fixFor(outcome: Pick<ConfigOutcome, 'status' | 'reason'> & { config?: DiscoveredConfig }): string | undefined {
  const config = outcome.config;
  if (!config) return undefined;
  const { format } = config.setup;
  // DP code in a Flower app is configured from the app's pyproject.toml ([tool.i2f]), not from the .py file.
  const snippet = (key: string, value: string | number[]) =>
    format === 'python' ? `\`${i2fSnippet('toml', 'pyproject.toml', key, value)}\` in the app's pyproject.toml` : `\`${i2fSnippet(format, config.path, key, value)}\``;
  const rel = (p: string) => relative(dirname(config.path), p) || p;
  const line = (f?: { valueRange: { start: { line: number } } }) => (f ? ` (line ${f.valueRange.start.line + 1})` : '');
  if (outcome.status === 'not-analysed') {
    const model = config.model;
    if (!model) {
      // A standalone script: the fix is in the script (there is no config beside it to name the model in).
      if (config.setup.pythonModelProblem && !config.modelProblem) return config.setup.pythonModelProblem.fix;
      const some = catalogueNames().slice(0, 3).join(', ');
      if (config.weights && !config.modelProblem)
        return `${rel(config.weights)} holds weights, not the network: name the model they belong to, ${snippet('model', EXAMPLE_FACTORY)} (a torch.nn.Module in your Python) or an architecture (${some}, …), or put its .onnx beside the config`;
      return config.modelProblem
        ? `name the model the clients train: ${snippet('model', EXAMPLE_FACTORY)} (a torch.nn.Module class or a function that builds one)`
        : `name the model: ${snippet('model', EXAMPLE_FACTORY)} (a torch.nn.Module in your Python), an architecture (${some}, … with its dataset), or a model file (.onnx, tfjs model.json)`;
    }
    if (!existsSync(model)) return `correct the model path${line(config.setup.model)}: ${rel(model)} does not exist (paths are relative to the config's folder)`;
    if (PYTORCH_EXTENSIONS.has(extname(model).toLowerCase()))
      return `a checkpoint holds weights, not the network: name the model that loads it, ${snippet('model', EXAMPLE_FACTORY)}, and give the checkpoint as ${snippet('weights', rel(model))}`;
    return `point the model${line(config.setup.model)} at an .onnx file or a TensorFlow.js model.json`;
  }
  if (outcome.status === 'failed' && config.weights && /the checkpoint.* does not fit /.test(outcome.reason ?? '')) {
    return `${rel(config.weights)} holds another model's parameters: name the checkpoint this model saved (torch.save(model.state_dict(), …)), or build the model it was saved from`;
  }
  if (outcome.status === 'failed' && config.modelRef?.kind === 'python') {
    if (/no Python with torch/.test(outcome.reason ?? '')) return 'set i2f.python (or pass --python PATH) to an interpreter that imports torch';
    // The bridge stood in for a missing package or part of one, and the model needs it (export_model.py says which).
    const missing = /: install (.+?) in the Python that builds the model/.exec(outcome.reason ?? '') ?? /which this Python lacks \(([\w.]+) was stood in for\)/.exec(outcome.reason ?? '');
    if (missing) return `install ${missing[1]} in the Python that builds the model, or name one that has it with i2f.python (or --python)`;
    // A standalone script: no config beside it can name another factory or an input shape.
    if (config.setup.standaloneScript) {
      return /could not infer the input shape/.test(outcome.reason ?? '')
        ? 'export the model with torch.onnx.export (at the input size it trains on) into the script\'s folder: the only model file in a script\'s folder is analysed with it (no config beside a standalone script can give the input shape)'
        : `fix the Python error above in the script (the model is built as ${config.modelRef.factory} from its folder)`;
    }
    if (/could not infer the input shape/.test(outcome.reason ?? '')) return `give the input shape: ${snippet('input-shape', [3, 32, 32])}`;
    const where = modelField(config.setup);
    return `fix the Python error above, or name the factory to build${where ? ` (line ${where.keyRange.start.line + 1} leads to ${config.modelRef.factory})` : ''}: ${snippet('model', EXAMPLE_FACTORY)}`;
  }
  return undefined;
}

/** Why `i2f audit NOTEBOOK.ipynb` found no DP training in it. */
function whyNotANotebookSetup(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return 'it cannot be read';
  }
  const nb = parseNotebook(file, text);
  if (nb.kind !== 'notebook') return nb.message.replace(/\.$/, '');
  // Opacus' ddp_tutorial: the DP code is in `%%writefile script.py` cells, which write a script rather than run it.
  const written = new Set(nb.codeCells.flatMap((c) => (/opacus|tensorflow_privacy|flwr|make_private/.test(c.text) ? [/^\s*%%writefile\s+(?:-a\s+)?(\S+)/.exec(c.text)?.[1]] : [])).filter((x): x is string => !!x));
  if (written.size) return `its DP code is in \`%%writefile\` cells, which write ${[...written].join(', ')} rather than run it in the notebook: audit ${written.size > 1 ? 'those scripts' : 'that script'} once the notebook has written ${written.size > 1 ? 'them' : 'it'}`;
  return `its ${nb.codeCells.length} code cell(s) call no DP API the audit recognises (Opacus' make_private, TensorFlow Privacy's DP optimizers, Flower's DP wrappers, Optax's dpsgd, dp-transformers: docs/rules.md#i2f140-dp-set-up-in-python)`;
}

/** Why `i2f audit FILE` found no training config in FILE. */
export function whyNotATrainingConfig(file: string, opts: { isSettingsFile: boolean; maxBytes?: number }): string {
  if (opts.isSettingsFile) return "it is the audit's own settings file (i2f.config.json), not a training config";
  const ext = extname(file).toLowerCase();
  if (ext === NOTEBOOK_EXTENSION) return whyNotANotebookSetup(file);
  if (!['.yaml', '.yml', '.json', '.toml', '.conf', '.hocon', '.jsonc'].includes(ext))
    return `${ext ? `a ${ext} file` : 'a file without an extension'} is not a config format the audit reads (YAML, JSON, TOML, HOCON); for a model defined in Python, audit the config that trains it (a Flower app's pyproject.toml) or name it with ${'`i2f: { model: "pkg.module:Factory" }`'}`;
  let size = 0;
  try {
    size = statSync(file).size;
  } catch {
    return 'it cannot be read';
  }
  if (size > (opts.maxBytes ?? 1_000_000)) return `it is ${(size / 1e6).toFixed(1)} MB; training configs are small, so files above 1 MB are not read`;
  if (/^(package(-lock)?\.json|tsconfig.*\.json|jsconfig\.json|composer\.json|launch\.json|settings\.json|tasks\.json|extensions\.json)$/i.test(basename(file)))
    return `${basename(file)} is a tool's file, never a training config`;
  let parsed;
  try {
    parsed = parseConfigText(file, readFileSync(file, 'utf8'));
  } catch {
    parsed = null;
  }
  if (parsed?.kind === 'syntax-error') return `it does not parse (${parsed.error.message}) and mentions none of the keys the audit recognises`;
  return 'none of its keys says how training shares gradients: no noise multiplier, clipping norm, batch size, gradient compression, DP settings or model (docs/rules.md#recognised-keys lists the keys read; an i2f: section names them explicitly)';
}

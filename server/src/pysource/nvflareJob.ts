// NVFlare jobs written in Python (the Job API and recipes, NVFlare ≥ 2.5): `job = FedAvgJob(…, initial_model=Net())`,
// `job.to(PercentilePrivacy(…), "site-1", filter_type=FilterType.TASK_RESULT)`, `ScriptRunner(script=…,
// script_args=…)`, `FedAvgRecipe(model=…, train_script=…, train_args=…)`. Each job object is read statically: its
// model (the call building it), its privacy filters as the NVFlare config they export to (a ConfigTree the config
// reader's filter semantics read, config/recognise.ts), and the training script with its command line. Nothing is run.

import type { ConfigEntry, ConfigTree, Range } from '../config/keyTree';
import { callArguments, lastName, short, walk, type ModuleIndex } from './moduleIndex';
import { nodeRange, type SyntaxNode } from './pythonParser';
import { resolveValue, type ResolveContext } from './staticValue';
import { assignedBefore, isBinding } from './bindings';

/** Job classes and recipes whose constructor takes the initial model (`model=` / `initial_model=`). */
const JOB_CLASSES = new Set(['FedJob', 'BaseFedJob', 'FedAvgJob', 'CCWFJob', 'FedAvgRecipe', 'FedOptRecipe', 'FedProxRecipe', 'CyclicRecipe', 'ScaffoldRecipe']);
/** NVFlare's privacy filters, as config/recognise.ts knows them, with their constructors' positional parameters. */
const FILTER_PARAMS: Record<string, string[]> = {
  GaussianPrivacy: ['sigma0', 'max_percentile'],
  PercentilePrivacy: ['percentile', 'gamma'],
  SVTPrivacy: ['fraction', 'epsilon', 'noise_var', 'gamma', 'tau', 'data_kinds', 'replace'],
};

export interface NvflareScript {
  /** The script as written (`src/cifar10_fl.py`) and where. */
  script: string;
  range: Range;
  /** Its command line (`script_args` / `train_args`), split as a shell would (quotes kept simple); undefined: none. */
  args?: string[];
  /** Why the command line was not read (an f-string with a value not read statically). */
  argsUnread?: string;
  argsText?: string;
}

export interface NvflareJob {
  /** `FedAvgJob`, `BaseFedJob`, `FedAvgRecipe` … */
  className: string;
  /** The constructor call, where its findings are located. */
  call: SyntaxNode;
  name?: string;
  /** The expression given as the model (`Net()`), when given. */
  model?: SyntaxNode;
  /** The filters given to it, as the exported NVFlare config would list them. */
  filters: ConfigTree;
  /** One line per filter or component read, for the job's summary. */
  read: string[];
  scripts: NvflareScript[];
  /** FedAvg's `num_rounds`, when read, and where. */
  numRounds?: number;
  numRoundsRange?: Range;
}

/** Whether a name is imported from NVFlare (guards against unrelated classes of the same name). */
function fromNvflare(index: ModuleIndex, name: string): boolean {
  return index.imports.get(name)?.module.split('.')[0] === 'nvflare';
}

export function findNvflareJobs(index: ModuleIndex): NvflareJob[] {
  const ctx: ResolveContext = { module: index };
  const jobs: (NvflareJob & { variable?: string; start: number })[] = [];
  for (const [name, calls] of index.calls) {
    if (!JOB_CLASSES.has(name) || !fromNvflare(index, name)) continue;
    for (const call of calls) {
      const args = callArguments(call);
      const assignment = call.parent?.type === 'assignment' ? call.parent : undefined;
      const left = assignment?.childForFieldName('left');
      const jobName = stringOf(ctx, args.keyword.get('name')?.value);
      const model = args.keyword.get('model')?.value ?? args.keyword.get('initial_model')?.value;
      const job: NvflareJob & { variable?: string; start: number } = {
        className: name, call, filters: { file: index.file, format: 'python', entries: [] }, read: [], scripts: [], start: call.startIndex,
        ...(jobName ? { name: jobName } : {}), ...(model ? { model } : {}), ...(left?.type === 'identifier' ? { variable: left.text } : {}),
      };
      const rounds = args.keyword.get('num_rounds')?.value;
      const r = rounds ? resolveValue(ctx, rounds) : undefined;
      if (rounds && r?.kind === 'known' && r.values.length === 1 && typeof r.values[0].value === 'number') {
        job.numRounds = r.values[0].value;
        job.numRoundsRange = nodeRange(rounds);
      }
      // A recipe names its training script itself.
      const trainScript = args.keyword.get('train_script')?.value;
      if (trainScript) job.scripts.push(scriptOf(ctx, trainScript, args.keyword.get('train_args')?.value));
      jobs.push(job);
    }
  }
  jobs.sort((a, b) => a.start - b.start);
  // `job.to(obj, target, …)`: the job object is the latest one bound to that name before the call (a notebook
  // rebinds `job` for each of its jobs).
  const ownerOf = (variable: string, at: number) => [...jobs].reverse().find((j) => j.variable === variable && j.start < at);
  const filterIndex = new Map<NvflareJob, number>();
  // A Client-Controlled Workflow's `job.add_cyclic(…, client_config=CyclicClientConfig(executor=ScriptRunner(…),
  // persistor=PTFileModelPersistor(model=Net())))`: its script and model are inside the call.
  for (const method of ['add_cyclic', 'add_swarm']) {
    for (const call of index.calls.get(method) ?? []) {
      const fn = call.childForFieldName('function');
      const object = fn?.type === 'attribute' ? fn.childForFieldName('object') : null;
      const job = object?.type === 'identifier' ? ownerOf(object.text, call.startIndex) : undefined;
      if (!job) continue;
      for (const inner of walk(call)) {
        if (inner.type !== 'call') continue;
        const name = lastName(inner.childForFieldName('function'));
        const kw = callArguments(inner).keyword;
        if (name === 'ScriptRunner') {
          const script = kw.get('script')?.value ?? callArguments(inner).positional[0];
          if (script) job.scripts.push(scriptOf(ctx, script, kw.get('script_args')?.value));
        } else if (name && /ModelPersistor$/.test(name) && !job.model) {
          const model = kw.get('model')?.value;
          if (model) job.model = model;
        }
      }
    }
  }
  for (const method of ['to', 'to_server', 'to_clients']) {
    for (const call of index.calls.get(method) ?? []) {
      const fn = call.childForFieldName('function');
      const object = fn?.type === 'attribute' ? fn.childForFieldName('object') : null;
      if (object?.type !== 'identifier') continue;
      const job = ownerOf(object.text, call.startIndex);
      if (!job) continue;
      const args = callArguments(call);
      const obj = args.positional[0] ?? args.keyword.get('obj')?.value;
      if (!obj) continue;
      const built = constructed(index, obj);
      const className = built ? lastName(built.childForFieldName('function')) : undefined;
      if (!built || !className) continue;
      if (className === 'ScriptRunner' || className === 'FedAvgScriptRunner') {
        const kw = callArguments(built).keyword;
        const script = kw.get('script')?.value ?? callArguments(built).positional[0];
        if (script && !job.scripts.some((s) => s.range.start.line === nodeRange(script).start.line)) job.scripts.push(scriptOf(ctx, script, kw.get('script_args')?.value));
        continue;
      }
      // `job.to(PTModel(Net()), "server")`, `job.to_server(PTFileModelPersistor(model=Net()))`: a FedJob's initial model.
      if (/^(PTModel|TFModel)$|ModelPersistor$/.test(className) && !job.model) {
        // PTModel(model) takes it first; a persistor's first parameter is another (exclude_vars): by keyword only.
        const model = callArguments(built).keyword.get('model')?.value ?? (/Model$/.test(className) ? callArguments(built).positional[0] : undefined);
        if (model) job.model = model;
        continue;
      }
      if (className === 'FedAvg' && job.numRounds === undefined) {
        const rounds = callArguments(built).keyword.get('num_rounds')?.value;
        const r = rounds ? resolveValue(ctx, rounds) : undefined;
        if (rounds && r?.kind === 'known' && r.values.length === 1 && typeof r.values[0].value === 'number') {
          job.numRounds = r.values[0].value;
          job.numRoundsRange = nodeRange(rounds);
        }
        continue;
      }
      if (!FILTER_PARAMS[className]) continue;
      const target = method === 'to_server' ? 'server' : method === 'to_clients' ? 'clients' : targetOf(ctx, args.positional[1] ?? args.keyword.get('target')?.value);
      const typeNode = args.keyword.get('filter_type')?.value;
      const type = /TASK_RESULT$|task_result/.test(typeNode?.text ?? '') ? 'task_result_filters' : /TASK_DATA$|task_data/.test(typeNode?.text ?? '') ? 'task_data_filters' : undefined;
      const i = filterIndex.get(job) ?? 0;
      filterIndex.set(job, i + 1);
      // The server's filters run after it has the update (recognise.ts: group 'server'); a client's on what it sends.
      const group = target === 'server' ? 'server' : type ?? 'filters';
      const base = [group, String(i), 'filters', '0'];
      const qualified = `${index.imports.get(className)?.module ?? 'nvflare'}.${className}`;
      job.filters.entries.push({ path: [...base, 'path'], value: qualified, keyRange: nodeRange(built), valueRange: nodeRange(built) });
      job.filters.entries.push(...filterArgs(ctx, built, className, base));
      const where = target === 'server' ? 'the server' : `client ${target}`;
      job.read.push(`${short(built.text)} on ${where}${type ? ` as a ${type === 'task_result_filters' ? 'TASK_RESULT' : 'TASK_DATA'} filter` : ' with no filter_type (NVFlare refuses a filter without one)'} (line ${call.startPosition.row + 1})`);
    }
  }
  return jobs.map(({ variable: _v, start: _s, ...job }) => job);
}

/** The constructor call an expression is: itself, or the call a name was last bound to before it. */
function constructed(index: ModuleIndex, node: SyntaxNode): SyntaxNode | undefined {
  let n: SyntaxNode | undefined = node;
  for (let hops = 0; n && hops < 8; hops++) {
    if (n.type === 'call') return n;
    if (!isBinding(n)) return undefined;
    n = assignedBefore(index, n);
  }
  return undefined;
}

function stringOf(ctx: ResolveContext, node: SyntaxNode | undefined): string | undefined {
  if (!node) return undefined;
  const r = resolveValue(ctx, node);
  return r.kind === 'known' && r.values.length === 1 && typeof r.values[0].value === 'string' ? r.values[0].value : undefined;
}

/** 'server', or the client site's name as read (`site-1`), or the expression (`f"site-{i + 1}"`: a client site). */
function targetOf(ctx: ResolveContext, node: SyntaxNode | undefined): string {
  if (!node) return 'sites';
  const s = stringOf(ctx, node);
  if (s !== undefined) return s;
  return `\`${short(node.text)}\``;
}

function filterArgs(ctx: ResolveContext, call: SyntaxNode, className: string, base: string[]): ConfigEntry[] {
  const out: ConfigEntry[] = [];
  const args = callArguments(call);
  const named: [string, SyntaxNode, SyntaxNode][] = [];
  args.positional.forEach((p, i) => {
    const name = FILTER_PARAMS[className][i];
    if (name) named.push([name, p, p]);
  });
  for (const [k, a] of args.keyword) named.push([k, a.name, a.value]);
  for (const [name, keyNode, valueNode] of named) {
    const r = resolveValue(ctx, valueNode);
    const distinct = r.kind === 'known' ? [...new Set(r.values.map((v) => v.value))] : [];
    const entry: ConfigEntry = { path: [...base, 'args', name], value: distinct.length === 1 ? distinct[0] : null, keyRange: nodeRange(keyNode), valueRange: nodeRange(valueNode) };
    if (distinct.length !== 1) {
      entry.interpolation = { expression: `\`${short(valueNode.text)}\``, resolved: false, reason: r.kind === 'runtime' ? r.reason : `it may be any of ${distinct.join(', ')}` };
    }
    out.push(entry);
  }
  return out;
}

function scriptOf(ctx: ResolveContext, script: SyntaxNode, argsNode: SyntaxNode | undefined): NvflareScript {
  const path = stringOf(ctx, script) ?? '';
  const out: NvflareScript = { script: path, range: nodeRange(script) };
  if (!argsNode) return out;
  out.argsText = short(argsNode.text);
  const line = commandLine(ctx, argsNode);
  if (typeof line === 'string') out.argsUnread = line;
  else out.args = line;
  return out;
}

/**
 * The words of a command line given as a string or an f-string whose parts are read statically
 * (`f"--epochs {epochs} --target_epsilon {args.target_epsilon}"`); a string saying why when it is not read.
 */
function commandLine(ctx: ResolveContext, node: SyntaxNode): string[] | string {
  let text = '';
  if (node.type === 'string') {
    for (const part of node.namedChildren) {
      if (!part) continue;
      if (part.type === 'string_content' || part.type === 'escape_sequence') text += part.text;
      else if (part.type === 'interpolation') {
        const expr = part.namedChildren.find((c) => c && c.type !== 'comment' && c.type !== 'format_specifier' && c.type !== 'type_conversion');
        if (!expr) return `\`${short(part.text)}\` is not read`;
        const r = resolveValue(ctx, expr);
        if (r.kind !== 'known') return `\`${short(expr.text)}\` is set at run time (${r.reason})`;
        const distinct = [...new Set(r.values.map((v) => v.value))];
        if (distinct.length !== 1) return `\`${short(expr.text)}\` may be any of ${distinct.join(', ')}`;
        const v = distinct[0];
        // The script's argparse parses the word again (`type=float`): str() of the value is enough.
        text += v === null ? 'None' : v === true ? 'True' : v === false ? 'False' : String(v);
      }
    }
  } else {
    const s = stringOf(ctx, node);
    if (s === undefined) return `\`${short(node.text)}\` is not a string read statically`;
    text = s;
  }
  return text.split(/\s+/).filter(Boolean).map((w) => w.replace(/^(["'])(.*)\1$/, '$2'));
}

// Puts a checkpoint's tensors into a graph's initialisers, by name. The graph's θ (named_parameters, kept by an
// export with training=PRESERVE and no constant folding) and its BatchNorm statistics (running mean and variance:
// not θ, but the forward pass reads them) must all be found; checkpoint keys may carry the prefixes wrappers add
// (`module.` of DataParallel/DDP, `_orig_mod.` of torch.compile, `model.` of Lightning modules). Every missing,
// unexpected and mis-shaped key is reported together in one error, as load_state_dict(strict=True) does.

import { UserError } from '../errors';
import type { Model, Tensor } from '../graph/ir';
import { sizeOf } from '../graph/ir';
import { halfToNumber } from '../graph/tensorBytes';
import type { CheckpointTensor } from './checkpointTensor';
import type { Checkpoint, StateDict } from './readCheckpoint';

/** Prefixes wrappers put in front of every key; stripped (repeatedly, in any order) when exact names do not match. */
const WRAPPER_PREFIXES = ['module.', '_orig_mod.', 'model.'];
/** Buffers a state_dict carries that no exported graph reads. */
const IGNORED_KEY = /(^|\.)num_batches_tracked$/;
const LISTED = 8;

export interface AppliedCheckpoint {
  /** The dict used, e.g. 'state_dict' (Lightning) or '' for the top level. */
  stateDict: string;
  parameters: number;
  statistics: number;
}

function canonical(name: string): string {
  for (let changed = true; changed; ) {
    changed = false;
    for (const p of WRAPPER_PREFIXES) {
      if (name.startsWith(p) && name.length > p.length) {
        name = name.slice(p.length);
        changed = true;
      }
    }
  }
  return name;
}

/** BatchNormalization's running mean and variance (inputs 3 and 4) that are initialisers. */
export function batchNormStatistics(model: Model): string[] {
  const out: string[] = [];
  for (const n of model.graph.nodes) {
    if (n.opType !== 'BatchNormalization') continue;
    for (const i of [3, 4]) if (n.inputs[i] && model.graph.initializers.has(n.inputs[i]) && !out.includes(n.inputs[i])) out.push(n.inputs[i]);
  }
  return out;
}

interface Match {
  dict: StateDict;
  /** graph initialiser → checkpoint key */
  found: Map<string, string>;
  unexpected: string[];
  score: number;
}

function match(dict: StateDict, model: Model, targets: Set<string>): Match {
  const inits = model.graph.initializers;
  // Canonical graph names; a collision (two graph names with one canonical form) only matches exactly.
  const byCanonical = new Map<string, string | null>();
  for (const name of inits.keys()) {
    const c = canonical(name);
    byCanonical.set(c, byCanonical.has(c) ? null : name);
  }
  const found = new Map<string, string>();
  const unexpected: string[] = [];
  for (const key of dict.tensors.keys()) {
    const target = inits.has(key) ? key : byCanonical.get(canonical(key)) ?? undefined;
    if (target && !found.has(target)) found.set(target, key);
    else if (!IGNORED_KEY.test(key)) unexpected.push(key);
  }
  let score = 0;
  for (const t of found.keys()) if (targets.has(t)) score++;
  return { dict, found, unexpected, score };
}

function list(names: string[]): string {
  return names.slice(0, LISTED).join(', ') + (names.length > LISTED ? `, and ${names.length - LISTED} more` : '');
}

function sameShape(a: number[], b: number[]): boolean {
  const strip = (d: number[]) => d.filter((x) => x !== 1);
  const sa = strip(a);
  const sb = strip(b);
  return sa.length === sb.length && sa.every((d, i) => d === sb[i]);
}

/**
 * Replaces `model`'s θ (`theta`, the trainable initialisers) and BatchNorm statistics with the checkpoint's
 * tensors (and any other initialiser a key names exactly, e.g. a buffer). Throws one UserError listing every missing
 * parameter and every unexpected and mis-shaped key.
 */
export function applyCheckpoint(model: Model, checkpoint: Checkpoint, theta: readonly string[], modelFile: string): AppliedCheckpoint {
  const statistics = batchNormStatistics(model);
  const targets = new Set([...theta, ...statistics]);
  const candidates = checkpoint.stateDicts.map((d) => match(d, model, targets));
  // The dict that names the most of the graph's parameters (a Lightning file's 'state_dict', not its optimizer's).
  const best = candidates.reduce((a, b) => (b.score > a.score ? b : a));
  const where = best.dict.path.length ? ` (its '${best.dict.path.join('.')}' entry)` : '';

  // Statistics may be absent (a file of θ alone, ARCHITECTURE.md): the exported values then stay.
  const missing = theta.filter((t) => !best.found.has(t));
  const misShaped: string[] = [];
  const loaded = new Map<string, Tensor>();
  const inits = model.graph.initializers;
  for (const [target, key] of best.found) {
    const current = inits.get(target)!;
    const t: CheckpointTensor = best.dict.tensors.get(key)!;
    if (!sameShape(t.dims, current.dims)) {
      misShaped.push(`${key} [${t.dims.join(', ')}] where the model has [${current.dims.join(', ')}]`);
      continue;
    }
    loaded.set(target, convert(t.load(), current, key, checkpoint.source));
  }
  if (missing.length || best.unexpected.length || misShaped.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`${missing.length} missing (${list(missing)})`);
    if (best.unexpected.length) parts.push(`${best.unexpected.length} unexpected (${list(best.unexpected)})`);
    if (misShaped.length) parts.push(`${misShaped.length} mis-shaped (${list(misShaped)})`);
    const exporterNamed = missing.filter((m) => m.startsWith('onnx::')).length;
    const hint = exporterNamed > missing.length / 2 && exporterNamed > 0
      ? ` The model's parameters have exporter names (onnx::…): it was exported with BatchNorm folded or constants folded, so its θ is not the trained parameters; re-export with torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False).`
      : best.found.size === 0 ? ` No key matches the model's parameter names (the model has ${list([...targets])}).` : '';
    // A model the export bridge built lives in the result cache (python/exportModel.ts: python-models/<key>/model.onnx),
    // a path that means nothing to the user: the model is named as what it is.
    const shown = /[\\/]python-models[\\/][0-9a-f]+[\\/]model\.onnx$/.test(modelFile) ? 'the model the export bridge built' : modelFile;
    throw new UserError('weights-mismatch', `the checkpoint${where} does not fit ${shown}: ${parts.join('; ')}.${hint}`, { file: checkpoint.source });
  }
  for (const [name, t] of loaded) inits.set(name, t);
  return {
    stateDict: best.dict.path.join('.'),
    parameters: theta.filter((t) => loaded.has(t)).length,
    statistics: statistics.filter((s) => loaded.has(s)).length,
  };
}

/** The checkpoint's values in the model's element type and exact dims (float widths convert; others must agree). */
function convert(t: Tensor, like: Tensor, key: string, file: string): Tensor {
  const dims = [...like.dims];
  if (t.dtype === like.dtype) return { ...t, dims };
  const float = (d: string) => d === 'float32' || d === 'float64' || d === 'float16';
  if ((like.dtype === 'float32' || like.dtype === 'float64') && float(t.dtype)) {
    const n = sizeOf(t.dims);
    const out = like.dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
    if (t.dtype === 'float16') for (let i = 0; i < n; i++) out[i] = halfToNumber((t.data as Uint16Array)[i]);
    else out.set(t.data as Float32Array | Float64Array);
    return { dtype: like.dtype, dims, data: out };
  }
  throw new UserError('weights-mismatch', `checkpoint tensor '${key}' is ${t.dtype} but the model's is ${like.dtype}`, { file });
}


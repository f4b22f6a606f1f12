// What the model report shows for a checkpoint, read from disk by the server: inputs, outputs, parameter counts,
// the op histogram and whether the analysis supports every op. ONNX through the IR loader; a tfjs model.json as its
// own layers or ops, judged by the tfjs loader's mapping onto the IR.

import { promises as fs } from 'node:fs';
import { basename } from 'node:path';
import { UserError } from '../errors';
import { loadOnnxFile } from '../backends/onnx/load';
import { defaultOpset, sizeOf } from '../graph/ir';
import { trainableParameters } from '../graph/parameters';
import { MAX_OPSET, MIN_OPSET, opHistogram, SUPPORTED_OPS, unsupportedOps, type UnsupportedOp } from '../graph/support';
import { loadTfjsModel } from '../backends/tfjs/loadTfjs';
import type { ModelSummary, TensorInfo } from '../webviewProtocol';

export interface SummaryOptions {
  /** The user's size limit (bytes): a larger ONNX file is refused before it is read (load.ts). */
  maxBytes?: number;
}

/** Summarises an .onnx file or a TensorFlow.js model.json; UserError for a file it cannot read. */
export async function summariseModel(file: string, opts: SummaryOptions = {}): Promise<ModelSummary> {
  return basename(file).toLowerCase().endsWith('.json') ? summariseTfjs(file, opts) : summariseOnnx(file, opts);
}

async function summariseOnnx(file: string, opts: SummaryOptions): Promise<ModelSummary> {
  const model = await loadOnnxFile(file, { maxBytes: opts.maxBytes });
  const bytes = (await fs.stat(file)).size;
  const g = model.graph;
  const theta = trainableParameters(model).map((name) => ({ name, dims: g.initializers.get(name)!.dims }));
  const weights = [...g.initializers.values()].reduce((a, t) => a + sizeOf(t.dims), 0);
  const unsupported = unsupportedOps(model);
  const opset = defaultOpset(model);
  const notes: string[] = [];
  if (opset < MIN_OPSET || opset > MAX_OPSET) notes.push(`opset ${opset || '(none)'} is outside the supported ${MIN_OPSET}–${MAX_OPSET}: re-export with e.g. opset_version=17`);
  if (unsupported.length) notes.push(`${unsupported.length} node(s) use ops the analysis cannot differentiate: ${[...new Set(unsupported.map((u) => u.op))].join(', ')}`);
  if (g.inputs.length !== 1) notes.push(`the model has ${g.inputs.length} inputs; the analysis needs exactly one, the batch x`);
  const dynamic = g.inputs[0]?.dims.slice(1).some((d) => typeof d !== 'number' || d <= 0);
  if (dynamic) notes.push('an input dimension other than the batch axis is not static: export with a fixed input size');
  const io = (v: { name: string; dims: (number | string)[]; dtype: string }): TensorInfo => ({ name: v.name, dims: v.dims, dtype: v.dtype });
  return {
    file, format: 'onnx', bytes, opset, producer: [model.producerName, model.producerVersion].filter(Boolean).join(' ') || undefined,
    inputs: g.inputs.map(io), outputs: g.outputs.map(io),
    parameters: theta.reduce((a, t) => a + sizeOf(t.dims), 0), weights, theta,
    ops: opHistogram(model).map((h) => ({ ...h, supported: h.domain === '' && SUPPORTED_OPS.has(h.op) })),
    unsupported, analysable: notes.length === 0, notes,
  };
}

interface TfjsModelJson {
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  modelTopology?: unknown;
  weightsManifest?: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
}

/**
 * A tfjs model.json: layers models list Keras layers (class_name), graph models list TF ops (node[].op). The weights
 * manifest gives every weight's shape; θ and the verdict come from the loader's mapping onto the IR.
 */
async function summariseTfjs(file: string, opts: SummaryOptions): Promise<ModelSummary> {
  let text: string;
  try {
    // A model.json linked to /dev/zero or a FIFO would be read for ever: a regular file within the size limit only.
    const st = await fs.stat(file);
    if (!st.isFile()) throw new Error('not a regular file (a device, pipe, socket or folder)');
    if (opts.maxBytes !== undefined && st.size > opts.maxBytes) throw new Error(`it is ${st.size} bytes, over the size limit of ${opts.maxBytes} bytes`);
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new UserError('model-unreadable', `cannot read the model file: ${(e as Error).message}`, { file });
  }
  let json: TfjsModelJson;
  try {
    json = JSON.parse(text) as TfjsModelJson;
  } catch (e) {
    throw new UserError('corrupt-model', `model.json is not valid JSON: ${(e as Error).message}`, { file });
  }
  if (!json.modelTopology && !json.weightsManifest) throw new UserError('corrupt-model', 'not a TensorFlow.js model: no modelTopology or weightsManifest', { file });
  const weightsList = (json.weightsManifest ?? []).flatMap((g) => g.weights);
  const weights = weightsList.reduce((a, w) => a + sizeOf(w.shape), 0);
  const counts = new Map<string, number>();
  const inputs: TensorInfo[] = [];
  const outputs: TensorInfo[] = [];
  const topo = json.modelTopology as Record<string, any> | undefined;
  const graphModel = json.format === 'graph-model' || Array.isArray(topo?.node);
  if (graphModel) {
    for (const n of (topo?.node ?? []) as { op: string; name: string; attr?: Record<string, any> }[]) {
      counts.set(n.op, (counts.get(n.op) ?? 0) + 1);
      if (n.op === 'Placeholder') inputs.push({ name: n.name, dims: (n.attr?.shape?.shape?.dim ?? []).map((d: { size?: string }) => Number(d.size ?? -1)), dtype: String(n.attr?.dtype?.type ?? '') });
    }
  } else {
    const config = topo?.model_config?.config ?? topo?.config;
    const layers = (config?.layers ?? []) as { class_name: string; config?: { name?: string; batch_input_shape?: (number | null)[]; dtype?: string } }[];
    for (const l of layers) {
      counts.set(l.class_name, (counts.get(l.class_name) ?? 0) + 1);
      if (l.config?.batch_input_shape) inputs.push({ name: l.config.name ?? l.class_name, dims: l.config.batch_input_shape.map((d) => d ?? 'batch'), dtype: l.config.dtype ?? 'float32' });
    }
    if (layers.length) outputs.push({ name: layers[layers.length - 1].config?.name ?? 'output', dims: [], dtype: 'float32' });
  }
  // The analysis opens the model through the tfjs loader (layers and ops mapped onto the ONNX IR, NCHW/OIHW):
  // the report says what it made of it, or names the layer or op it could not map.
  const domain = graphModel ? 'tf' : 'keras';
  let mapped: { theta: { name: string; dims: number[] }[]; unsupported: UnsupportedOp[]; notes: string[] } | undefined;
  let failure: UserError | undefined;
  try {
    const model = await loadTfjsModel(file, { maxBytes: opts.maxBytes });
    const theta = trainableParameters(model).map((name) => ({ name, dims: model.graph.initializers.get(name)!.dims }));
    const notes = [`Analysed as ${model.graph.nodes.length} ONNX-IR nodes (NHWC → NCHW, HWIO → OIHW; a final softmax dropped): θ below is in that layout.`];
    const unsupported = unsupportedOps(model);
    if (unsupported.length) notes.push(`${unsupported.length} mapped node(s) use ops the analysis cannot differentiate: ${[...new Set(unsupported.map((u) => u.op))].join(', ')}`);
    mapped = { theta, unsupported, notes };
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    failure = e;
  }
  const trainable = weightsList.filter((w) => !/moving_(mean|variance)/.test(w.name));
  const ops = [...counts.entries()].map(([op, count]) => ({ op, domain, count, supported: mapped !== undefined || (failure?.location.op !== undefined && failure.location.op !== op) }))
    .sort((a, b) => b.count - a.count || a.op.localeCompare(b.op));
  const theta = mapped?.theta ?? trainable.map((w) => ({ name: w.name, dims: w.shape }));
  return {
    file, format: 'tfjs', bytes: Buffer.byteLength(text), producer: json.convertedBy ?? json.generatedBy,
    inputs, outputs, parameters: theta.reduce((a, w) => a + sizeOf(w.dims), 0), weights,
    theta,
    ops,
    unsupported: mapped?.unsupported ?? (failure?.location.op ? [{ op: failure.location.op, node: failure.location.node ?? '?', domain }] : []),
    analysable: mapped !== undefined && mapped.unsupported.length === 0,
    notes: mapped?.notes ?? [`The tfjs loader cannot map this model: ${failure!.message}`],
  };
}

// Recognises a model named by architecture rather than by file (`model: resnet18`, FedML's `model: cnn` with
// `dataset: mnist`, `arch`, `network`, `model.name`…) and the sizes that shape it (dataset, class count, input
// shape, from anywhere in the file or the i2f: section).

import { normaliseKey, type ConfigEntry, type ConfigTree } from './keyTree';
import type { ConfigField, TrainingSetup } from './trainingSetup';
import { RULES } from './ruleCatalog';
import { findArchitecture } from '../models/catalogue';

/** Keys whose value names an architecture (normalised). `name` counts under a `model`/`network` group only. */
const ARCHITECTURE_KEYS = new Set(['model', 'model_name', 'model_type', 'model_arch', 'arch', 'architecture', 'network', 'net', 'net_name', 'backbone', 'model_architecture']);
const ARCHITECTURE_GROUPS = new Set(['model', 'network', 'net', 'arch', 'architecture', 'model_args']);
const DATASET_KEYS = new Set(['dataset', 'dataset_name', 'data_set', 'dataset_type', 'data_name']);
const CLASS_KEYS = new Set(['num_classes', 'n_classes', 'class_num', 'nb_classes', 'number_of_classes', 'num_labels']);
const SHAPE_KEYS = new Set(['input_shape', 'image_shape', 'input_dims']);

const field = <T>(file: string, entry: ConfigEntry, value: T, path = entry.path): ConfigField<T> => ({
  value,
  key: path.join('.'),
  path,
  keyRange: entry.keyRange,
  valueRange: entry.valueRange,
  file,
});

/**
 * Fills setup.architecture, dataset, classes and inputShape; the i2f: section wins over the rest, then file order.
 * Returns how many keys it recognised (a file naming a known architecture and a dataset is a training config).
 */
export function recogniseModelReference(tree: ConfigTree, setup: TrainingSetup): number {
  let recognised = 0;
  const ranked = (e: ConfigEntry) => (e.path.slice(0, -1).some((p) => normaliseKey(p) === 'i2f') ? 0 : 1);
  const entries = [...tree.entries].sort((a, b) => ranked(a) - ranked(b));
  const shapeItems = new Map<string, { entries: ConfigEntry[]; rank: number }>();

  for (const e of entries) {
    const keys = e.path.map((p) => (/^[0-9]+$/.test(p) ? p : normaliseKey(p)));
    const last = keys[keys.length - 1];
    const parent = keys[keys.length - 2];
    const inI2f = keys.slice(0, -1).includes('i2f');
    if (/^[0-9]+$/.test(last) && parent && (SHAPE_KEYS.has(parent) || (inI2f && parent === 'input_size'))) {
      const k = e.path.slice(0, -1).join('\u0000');
      const list = shapeItems.get(k) ?? { entries: [], rank: ranked(e) };
      list.entries.push(e);
      shapeItems.set(k, list);
      continue;
    }
    if (typeof e.value === 'string') {
      const v = e.value.trim();
      const namesArch = ARCHITECTURE_KEYS.has(last) || ((last === 'name' || last === 'type') && parent !== undefined && ARCHITECTURE_GROUPS.has(parent));
      if (!setup.architecture && namesArch && findArchitecture(v)) {
        setup.architecture = field(tree.file, e, v);
        recognised++;
      } else if (!setup.dataset && (DATASET_KEYS.has(last) || (last === 'name' && (parent === 'dataset' || parent === 'data'))) && /^[A-Za-z][\w.-]*$/.test(v)) {
        setup.dataset = field(tree.file, e, v);
      } else if (!setup.inputShape && (SHAPE_KEYS.has(last) || (inI2f && last === 'input_size')) && /^\[?\s*\d+(\s*[,x×]\s*\d+)*\s*\]?$/.test(v)) {
        setup.inputShape = field(tree.file, e, v.replace(/[[\]\s]/g, '').split(/[,x×]/).map(Number));
      }
    }
    if (!setup.classes && (CLASS_KEYS.has(last) || (inI2f && last === 'classes'))) {
      const n = typeof e.value === 'number' ? e.value : typeof e.value === 'string' && /^\s*\d+\s*$/.test(e.value) ? Number(e.value) : NaN;
      if (Number.isSafeInteger(n) && n >= 1) setup.classes = field(tree.file, e, n);
      else setup.problems.push({ rule: RULES.invalidValue.code, message: `'${e.path[e.path.length - 1]}' must be a whole number of classes of at least 1, not ${JSON.stringify(e.value)}.`, range: e.valueRange, key: e.path.join('.') });
    }
  }
  if (!setup.inputShape) {
    const best = [...shapeItems.values()].sort((a, b) => a.rank - b.rank)[0];
    if (best) {
      const dims = best.entries.map((e) => (typeof e.value === 'number' ? e.value : Number(e.value)));
      const first = best.entries[0];
      const lastItem = best.entries[best.entries.length - 1];
      const f = field(tree.file, first, dims, first.path.slice(0, -1));
      f.valueRange = { start: first.valueRange.start, end: lastItem.valueRange.end };
      if (dims.every((d) => Number.isSafeInteger(d) && d >= 1)) setup.inputShape = f;
      else setup.problems.push({ rule: RULES.invalidValue.code, message: `'${f.key}' must list whole numbers ≥ 1 ([channels, height, width]), not [${best.entries.map((e) => JSON.stringify(e.value)).join(', ')}].`, range: f.valueRange, key: f.key });
    }
  }
  // An architecture makes a training config only with what shapes it, or in the i2f: section.
  if (setup.architecture && !setup.dataset && !setup.inputShape && !setup.architecture.path.some((p) => normaliseKey(p) === 'i2f')) recognised = 0;
  return recognised;
}

// Opens a model file of either supported format into the IR: ONNX (.onnx) or a TensorFlow.js model.json, which
// loadTfjs.ts re-lays out to ONNX semantics (NCHW, OIHW, Gemm) so the ONNX derivative-graph engine, the shape rules
// and every report treat both alike (issue 6: "so the ONNX derivative-graph engine analyses them at native speed").

import type { Model } from '../graph/ir';
import { loadOnnxFile, type LoadOptions } from './onnx/load';
import { loadTfjsModel } from './tfjs/loadTfjs';

export type ModelFileFormat = 'onnx' | 'tfjs';

/** A TensorFlow.js model is a .json file (model.json by convention); everything else is read as ONNX. */
export function modelFileFormat(file: string): ModelFileFormat {
  return file.toLowerCase().endsWith('.json') ? 'tfjs' : 'onnx';
}

/** True for the files the analysis opens (.onnx, tfjs .json); other checkpoints (.pt, .h5…) need exporting first. */
export function isAnalysableModelFile(file: string): boolean {
  const lower = file.toLowerCase();
  return lower.endsWith('.onnx') || lower.endsWith('.json');
}

/** Loads `file` into the IR; every failure is a UserError located in the file (or the shard that is at fault). */
export function loadModelFile(file: string, opts: LoadOptions = {}): Promise<Model> {
  return modelFileFormat(file) === 'tfjs' ? loadTfjsModel(file, opts) : loadOnnxFile(file, opts);
}

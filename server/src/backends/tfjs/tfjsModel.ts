// A TensorFlow.js layers model ready for analysis on either engine: loaded into the IR (loadTfjs.ts), θ
// identified, specialised per batch size like OnnxModel, with operators for the ONNX derivative graphs and tfjs.

import type { Model } from '../../graph/ir';
import { defaultOpset, sizeOf } from '../../graph/ir';
import { inferShapes } from '../../graph/shapes';
import { simplifyForAnalysis } from '../../graph/fold';
import { trainableParameters } from '../../graph/parameters';
import { checkSupport } from '../../graph/support';
import { OnnxInversionOperator, type ForwardGraph, type SessionSettings } from '../onnx/onnxOperator';
import { loadTfjsModel } from './loadTfjs';
import { TfjsInversionOperator, type TfjsLossKind } from './tfjsOperator';
import type { TfjsBackendChoice } from './backend';

export class TfjsModel {
  private readonly specialised = new Map<number, ForwardGraph>();

  private constructor(readonly file: string, readonly model: Model, readonly trainable: string[], readonly sampleDims: number[]) {}

  static async open(file: string): Promise<TfjsModel> {
    const model = await loadTfjsModel(file);
    checkSupport(model, file);
    const sampleDims = model.graph.inputs[0].dims.slice(1) as number[];
    return new TfjsModel(file, model, trainableParameters(model), sampleDims);
  }

  get sampleSize(): number {
    return sizeOf(this.sampleDims);
  }

  get parameterCount(): number {
    return this.trainable.reduce((n, name) => n + sizeOf(this.model.graph.initializers.get(name)!.dims), 0);
  }

  specialise(batch: number): ForwardGraph {
    let spec = this.specialised.get(batch);
    if (!spec) {
      const dims = new Map([[this.model.graph.inputs[0].name, [batch, ...this.sampleDims]]]);
      const folded = simplifyForAnalysis(this.model, new Set(this.trainable), { batch, file: this.file });
      const types = inferShapes(folded.graph, dims, { file: this.file });
      spec = { graph: folded.graph, types, opset: defaultOpset(this.model) };
      this.specialised.set(batch, spec);
    }
    return spec;
  }

  /** The ONNX derivative-graph engine on this model. */
  onnxOperator(opts: { batch: number; input: Float32Array; target: Float32Array; loss: TfjsLossKind; session?: SessionSettings }): OnnxInversionOperator {
    return OnnxInversionOperator.create({ file: this.file, trainable: this.trainable, specialise: (b) => this.specialise(b), ...opts });
  }

  /** The tfjs nested-autodiff engine on this model. */
  tfjsOperator(opts: { batch: number; input: Float32Array; target: Float32Array; loss: TfjsLossKind; backend?: TfjsBackendChoice }): Promise<TfjsInversionOperator> {
    return TfjsInversionOperator.create({ file: this.file, trainable: this.trainable, specialise: (b) => this.specialise(b), ...opts });
  }
}

// Which training loss a batch's gradient is taken of, and its targets. The default ('auto') follows the model's
// output: one output per example, or a final Sigmoid, is a binary (or multi-label) classifier trained with binary
// cross-entropy (Flower's fl-tabular: Linear(64, 1) → Sigmoid with nn.BCELoss); several outputs are class scores
// trained with cross-entropy. A softmax over ONE output is the constant 1, so cross-entropy there is constant and
// its gradient identically zero: analysing it would grade a leaky model LOW (issue 15's spirit, no false comfort).

import { UserError } from '../errors';
import type { TrainingSetup } from '../config/trainingSetup';
import type { LossKind } from '../backends/onnx/derivatives/productGraphs';
import type { OnnxModel } from '../backends/onnx/onnxModel';
import { finalSigmoidInput } from '../graph/outputActivation';
import { argmaxRows, oneHot } from './inputs';

/** A request's loss: one of the engine's, or 'auto' (chosen from the model's output, chooseLoss). */
export type LossSetting = LossKind | 'auto';

export const LOSS_SETTINGS: readonly LossSetting[] = ['auto', 'cross-entropy', 'binary-cross-entropy', 'mse'];

/** `--loss VALUE` checked (absent: 'auto'). */
export function parseLossSetting(value: string | undefined): LossSetting {
  if (value === undefined) return 'auto';
  if (!(LOSS_SETTINGS as readonly string[]).includes(value)) throw new UserError('bad-option', `--loss must be ${LOSS_SETTINGS.join(', ')}; got '${value}'`);
  return value as LossSetting;
}

/** The loss a config's analysis differentiates: `i2f: loss`, else the code's (pysource/trainingLoss.ts), else 'auto'. */
export function configuredLoss(setup: Pick<TrainingSetup, 'loss' | 'lossInCode'>): LossSetting {
  return setup.loss?.value ?? setup.lossInCode?.kind ?? 'auto';
}

/** The loss a setting means for a model with `outputs` values per example (`sigmoid`: it ends in a Sigmoid). */
export function chooseLoss(setting: LossSetting, outputs: number, sigmoid: boolean): LossKind {
  if (setting !== 'auto') return setting;
  return outputs === 1 || sigmoid ? 'binary-cross-entropy' : 'cross-entropy';
}

/**
 * The loss to name when `loss` on `outputs` values per example gives no gradient (I2F159's fix), or undefined when no
 * loss would: softmax cross-entropy over one output is a constant, binary cross-entropy is that model's loss.
 */
export function lossThatGivesGradient(loss: string, outputs: number | undefined): LossKind | undefined {
  return loss === 'cross-entropy' && outputs === 1 ? 'binary-cross-entropy' : undefined;
}

export interface BatchTargets {
  loss: LossKind;
  /** Per example: the class (cross-entropy, MSE's report), the {0,1} label (one output), the top output (multi-label). */
  labels: number[];
  /** What the loss compares the output with, flattened: one-hot rows, {0,1} per output, or the outputs less one (MSE). */
  target: Float32Array;
  /** Values of the model's output per example. */
  outputs: number;
  sigmoid: boolean;
}

/**
 * The loss and targets of one batch. Without given labels the model's own prediction is the label, as the
 * cross-entropy path takes its argmax: a binary model's output above 1/2 (after its Sigmoid) or above 0 (a logit)
 * is class 1. Given labels of a multi-label model name the one positive output of each example.
 */
export function batchTargets(setting: LossSetting, model: OnnxModel, predicted: Float32Array, size: number, labelsGiven?: number[]): BatchTargets {
  const outputs = predicted.length / size;
  const sigmoid = finalSigmoidInput(model.specialise(size).graph) !== undefined;
  const loss = chooseLoss(setting, outputs, sigmoid);
  if (loss === 'cross-entropy') {
    const labels = labelsGiven ?? argmaxRows(predicted, size);
    return { loss, labels, target: oneHot(labels, outputs), outputs, sigmoid };
  }
  if (loss === 'mse') {
    // A regressor's targets are data we do not have. Its own outputs as targets would zero the residual, so g ≡ 0 and
    // only the curvature term of J is left, a comfort no real batch gives (fl-tabular's IncomeClassifier under MSE at
    // batch 1, `i2f analyze income.onnx --loss mse`: λmax 6.0e-4 there, 0.211 here). Targets one unit below each
    // output give a residual of the size standardised targets have at initialisation, as cross-entropy's ≈ 1 − 1/K
    // at its argmax label.
    return { loss, labels: labelsGiven ?? argmaxRows(predicted, size), target: Float32Array.from(predicted, (p) => p - 1), outputs, sigmoid };
  }
  const threshold = sigmoid ? 0.5 : 0;
  if (outputs === 1) {
    const labels = labelsGiven ?? Array.from(predicted, (p) => (p > threshold ? 1 : 0));
    const bad = labels.find((y) => y !== 0 && y !== 1);
    if (bad !== undefined) throw new UserError('bad-labels', `label ${bad} is not 0 or 1, the targets of binary cross-entropy on a model with one output`);
    return { loss, labels, target: Float32Array.from(labels), outputs, sigmoid };
  }
  if (labelsGiven) return { loss, labels: labelsGiven, target: oneHot(labelsGiven, outputs), outputs, sigmoid };
  return { loss, labels: argmaxRows(predicted, size), target: Float32Array.from(predicted, (p) => (p > threshold ? 1 : 0)), outputs, sigmoid };
}

/** "binary cross-entropy (torch BCELoss on the model's final Sigmoid), 1 output per example" for messages and reports. */
export function describeLoss(t: Pick<BatchTargets, 'loss' | 'outputs' | 'sigmoid'>): string {
  const per = `${t.outputs} output${t.outputs === 1 ? '' : 's'} per example`;
  if (t.loss === 'binary-cross-entropy') {
    const on = t.sigmoid ? "torch BCELoss on the model's final Sigmoid" : 'torch BCEWithLogitsLoss on the outputs';
    return `binary cross-entropy (${on}${t.outputs > 1 ? ', one {0,1} target per output' : ''}), ${per}`;
  }
  if (t.loss === 'cross-entropy') return `cross-entropy (softmax over the outputs), ${per}`;
  return `mean squared error (torch MSELoss, targets one unit below the model's outputs), ${per}`;
}

// TensorFlow Privacy's training, for the accountant: N, B and the epochs of a script that trains with Keras or an
// Estimator, read statically (pysource/kerasFit.ts finds the fit; trainingData.ts traces its data to a dataset loaded
// by name). What cannot be read goes into `unread` with its reason and fix, as for PyTorch scripts.

import type { ConfigField, ConfigProblem, ScriptAccounting } from '../config/trainingSetup';
import type { CallSiteArgument, DpCallSite } from './callSites';
import type { ArgumentRole } from './dpApis';
import { datasetSizeField, fieldOf } from './codeField';
import { estimatorInput, fitArgument, kerasFit } from './kerasFit';
import { enclosing, lastName, short, type ModuleIndex } from './moduleIndex';
import { nodeRange, type SyntaxNode } from './pythonParser';
import { resolveValue } from './staticValue';
import { fitDataSize } from './trainingData';

export interface KerasAccountingContext {
  index: ModuleIndex;
  file: string;
  /** The DP optimizer's call site (a TensorFlow Privacy DP-SGD optimizer or DPSequential). */
  noisy: DpCallSite;
  /** The fields read so far, by role: filled here where still empty. */
  roleFields: Map<ArgumentRole, ConfigField<number | boolean | string>>;
  unread: ScriptAccounting;
  problems: ConfigProblem[];
}

/**
 * N, B and the epochs of the `fit` call on the DP model (kerasFit.ts), its data traced to a dataset loaded by name
 * (trainingData.fitDataSize); or, with an Estimator, N and B of the `numpy_input_fn` its `train(input_fn=…)` reads
 * (the epochs from its loop: epochLoops.ts). Values written beside an accounting call (compute_dp_sgd_privacy) are
 * kept; of several, the most epochs (the larger ε) and, in `batchSize`, the smallest batch (the easier inversion; the
 * accountant's largest is pythonSetup.ts's `accountingBatchSize`).
 */
export function readKerasAccounting(ctx: KerasAccountingContext): void {
  const { index, file, noisy, roleFields, unread, problems } = ctx;
  const arg = (name: 'epochs' | 'batch_size', role: ArgumentRole, node: SyntaxNode, key: SyntaxNode): CallSiteArgument => ({
    parameter: name, role, keyRange: nodeRange(key), valueRange: nodeRange(node), text: node.text, node, resolution: resolveValue({ module: index }, node),
  });
  const readN = (data: ReturnType<typeof fitDataSize> | undefined, what: string) => {
    if (roleFields.has('datasetSize')) return;
    if (data?.kind === 'read') roleFields.set('datasetSize', datasetSizeField(data, file));
    else unread.datasetSize ??= data ? { reason: data.reason, fix: data.fix } : { reason: `${what} is given no data \`x\``, fix: `pass ${what} its training data` };
  };
  const readBatch = (node: SyntaxNode | undefined, key: SyntaxNode | undefined, what: string, fix: string) => {
    if (roleFields.has('batchSize')) return;
    if (!node) {
      unread.batchSize ??= { reason: `${what} has no \`batch_size=\``, fix };
      return;
    }
    const a = arg('batch_size', 'batchSize', node, key ?? node);
    if (a.resolution.kind === 'runtime') {
      unread.batchSize ??= { reason: `the batch size \`${short(a.text)}\` (line ${node.startPosition.row + 1}) is set at run time (${a.resolution.reason})`, fix };
      return;
    }
    // Of several values fieldOf keeps the smallest (the weaker defence against inversion); the accountant takes the
    // largest (accountingBatchSize, set in pythonSetup.ts).
    const f = fieldOf(a, { ...noisy, name: key ? lastName(enclosingCall(node)?.childForFieldName('function')) ?? 'fit' : 'batch' }, a.resolution.values, problems) as ConfigField<number> | undefined;
    if (f) roleFields.set('batchSize', f);
  };
  const fit = kerasFit(index, noisy);
  const input = fit.kind === 'unread' ? estimatorInput(index) : undefined;
  if (fit.kind === 'unread' && input) {
    const what = `the Estimator's input_fn \`${short(input.call.text)}\` (line ${input.call.startPosition.row + 1})`;
    readN(input.x ? fitDataSize(index, input.x) : undefined, what);
    readBatch(input.batch?.node, input.batch?.key, what, 'give numpy_input_fn batch_size= as a literal, a module constant or an absl/argparse default');
    unread.epochs ??= { reason: fit.reason, fix: fit.fix };
  } else if (fit.kind === 'unread') {
    if (!roleFields.has('datasetSize')) unread.datasetSize ??= { reason: fit.reason, fix: fit.fix };
    if (!roleFields.has('batchSize')) unread.batchSize ??= { reason: fit.reason, fix: fit.fix };
    unread.epochs ??= { reason: fit.reason, fix: fit.fix };
  } else {
    let fitEpochs: ConfigField<number> | undefined;
    for (const call of fit.calls) {
      const line = `line ${call.startPosition.row + 1}`;
      const x = fitArgument(call, 'x');
      const data = x ? fitDataSize(index, x.node) : undefined;
      readN(data, `the fit call (${line})`);
      const steps = fitArgument(call, 'steps_per_epoch');
      const e = fitArgument(call, 'epochs');
      if (steps) unread.epochs ??= { reason: `the fit call (${line}) sets \`steps_per_epoch=${short(steps.node.text)}\`, so its epochs are not passes over N`, fix: 'leave steps_per_epoch out of `fit`, so each epoch is one pass over the training data' };
      else if (!e) {
        // Keras' fit runs one epoch when it is given no epochs=.
        const field: ConfigField<number> = { value: 1, key: 'fit epochs (Keras default)', path: ['fit', 'epochs'], keyRange: nodeRange(call), valueRange: nodeRange(call), file,
          fromCode: { source: { file, range: nodeRange(call), kind: 'computed', label: `Keras' default for fit (${line})`, editable: false }, alternatives: [], steps: ['fit is given no epochs=: Keras runs 1'], written: 'fit(…)' } };
        if (!fitEpochs || fitEpochs.value < 1) fitEpochs = field;
      } else {
        const a = arg('epochs', 'epochs', e.node, e.key);
        if (a.resolution.kind === 'runtime') {
          unread.epochs ??= { reason: `fit's \`epochs=${short(a.text)}\` (${line}) is set at run time (${a.resolution.reason})`, fix: 'give `fit` epochs= as a literal, a module constant or an absl/argparse default' };
        } else {
          const f = fieldOf(a, { ...noisy, name: 'fit' }, a.resolution.values, problems) as ConfigField<number> | undefined;
          if (f && (!fitEpochs || f.value > fitEpochs.value)) fitEpochs = f;
        }
      }
      const b = fitArgument(call, 'batch_size');
      const fromData = data?.kind === 'read' ? data.batch : undefined;
      readBatch(b?.node ?? fromData, b?.key, `the fit call (${line})${data?.kind === 'read' ? ' (and its data no `.batch(B)`)' : ''}`, 'give `fit` batch_size= as a literal, a module constant or an absl/argparse default');
    }
    if (fitEpochs) {
      const receiver = fit.calls[0].childForFieldName('function')?.childForFieldName('object')?.text ?? 'model';
      fitEpochs = { ...fitEpochs, key: `${receiver}.fit epochs`, fromCode: { ...fitEpochs.fromCode!, steps: [...fitEpochs.fromCode!.steps, `the fit on ${fit.how}`] } };
      // The epochs the fit runs, beside an accounting call's epochs= (compute_dp_sgd_privacy): the larger.
      const stated = roleFields.get('epochs');
      if (!stated || (typeof stated.value === 'number' && fitEpochs.value > stated.value)) roleFields.set('epochs', fitEpochs);
    }
  }
}

/** The call whose argument list a node sits in (`fit(…, batch_size=B)` for B). */
function enclosingCall(node: SyntaxNode): SyntaxNode | undefined {
  return enclosing(node, ['call']);
}

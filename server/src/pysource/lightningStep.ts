// What a LightningModule trains, read from its `training_step`: the gradient Lightning shares (and Opacus clips and
// noises) is that of the loss training_step returns, not of forward. The analysis differentiates a loss of forward's
// output (the one the code names, pysource/trainingLoss.ts, else analysis/lossChoice.ts), so forward is the function
// whose gradient is shared only when training_step returns one of PyTorch's losses the engine differentiates taken on
// `self(x)` / `self.forward(x)`. Anything else (an MSE of a decoder's output, a loss of a sub-module called directly, a
// loss the engine does not differentiate, a step not read) is said, so the leakage finding is not taken for that
// model's.

import type { Range } from '../config/keyTree';
import { assignedBefore } from './bindings';
import { lastName, ownNodes, short, stringLiteral, type ModuleIndex } from './moduleIndex';
import { nodeRange, type SyntaxNode } from './pythonParser';

export type TrainingStep =
  /** training_step returns a loss the engine differentiates, of forward's output: the function analysed. */
  | { kind: 'forward'; loss: string; line: number }
  /** It trains something the analysis does not differentiate, or was not read: why, and where. */
  | { kind: 'differs'; reason: string; range: Range };

/**
 * PyTorch's losses the engine differentiates, the function or the module called (`nn.CrossEntropyLoss()`): softmax and
 * binary cross-entropy, NLL (on log-probabilities), MSE (pysource/trainingLoss.ts names the same).
 */
const MODELLED_LOSS = /^(cross_entropy|CrossEntropyLoss|nll_loss|NLLLoss|binary_cross_entropy|binary_cross_entropy_with_logits|BCELoss|BCEWithLogitsLoss|mse_loss|MSELoss)$/;
const HOPS = 8;

/** Whether a class derives from Lightning's LightningModule (`pl.LightningModule`, `L.LightningModule`, imported bare). */
export function isLightningModule(cls: SyntaxNode): boolean {
  const bases = cls.childForFieldName('superclasses');
  return !!bases && bases.namedChildren.some((b) => !!b && /(^|\.)LightningModule$/.test(b.text));
}

/** What `cls` (a LightningModule subclass) trains, read from its training_step. */
export function lightningTrainingStep(index: ModuleIndex, cls: SyntaxNode): TrainingStep {
  const name = cls.childForFieldName('name')?.text ?? 'the class';
  const step = methodOf(cls, 'training_step');
  if (!step) return { kind: 'differs', reason: `${name} defines no training_step (the step Lightning differentiates), so what it trains is not read`, range: nodeRange(cls.childForFieldName('name') ?? cls) };
  const at = (n: SyntaxNode) => `\`${short(n.text)}\` (line ${n.startPosition.row + 1})`;
  const returned = [...ownNodes(step)].filter((n) => n.type === 'return_statement').map((r) => r.namedChild(0)).filter((e): e is SyntaxNode => !!e);
  if (returned.length !== 1) return { kind: 'differs', reason: `${name}.training_step has ${returned.length ? 'several returns' : 'no return of a loss'}, so the loss it trains is not read`, range: nodeRange(step.childForFieldName('name') ?? step) };
  // `return loss`, `return {"loss": loss, …}`: the loss expression.
  let loss: SyntaxNode | undefined = lossOf(returned[0]);
  for (let hops = 0; loss?.type === 'identifier' && hops < HOPS; hops++) loss = assignedBefore(index, loss);
  if (!loss || loss.type !== 'call') return { kind: 'differs', reason: `the loss ${name}.training_step returns, ${at(returned[0])}, was not traced to a loss call in it`, range: nodeRange(returned[0]) };
  const fn = loss.childForFieldName('function');
  if (!isModelledLoss(index, fn)) {
    return { kind: 'differs', reason: `${name}.training_step trains ${at(loss)}, not one of PyTorch's losses the analysis differentiates (cross-entropy, NLL, binary cross-entropy, MSE) on forward's output`, range: nodeRange(loss) };
  }
  // The logits: the first argument, followed to `self(x)` / `self.forward(x)`.
  const args = loss.childForFieldName('arguments')?.namedChildren.filter((a): a is SyntaxNode => !!a && a.type !== 'comment') ?? [];
  let logits: SyntaxNode | undefined = args.find((a) => a.type !== 'keyword_argument') ?? args.find((a) => a.childForFieldName('name')?.text === 'input')?.childForFieldName('value') ?? undefined;
  for (let hops = 0; logits?.type === 'identifier' && hops < HOPS; hops++) logits = assignedBefore(index, logits);
  const callee = logits?.type === 'call' ? logits.childForFieldName('function') : undefined;
  if (callee && (callee.text === 'self' || callee.text === 'self.forward')) return { kind: 'forward', loss: short(loss.text), line: loss.startPosition.row + 1 };
  return {
    kind: 'differs',
    reason: `${name}.training_step's loss is computed from ${logits ? at(logits) : 'an argument not read'}, not from forward (\`self(x)\`), so the forward analysed is not the function whose gradient is shared`,
    range: nodeRange(logits ?? loss),
  };
}

function methodOf(cls: SyntaxNode, method: string): SyntaxNode | undefined {
  for (const s of cls.childForFieldName('body')?.namedChildren ?? []) {
    const def = s?.type === 'decorated_definition' ? s.childForFieldName('definition') : s;
    if (def?.type === 'function_definition' && def.childForFieldName('name')?.text === method) return def;
  }
  return undefined;
}

/** `{"loss": x, …}` → x; anything else is the loss itself. */
function lossOf(returned: SyntaxNode): SyntaxNode | undefined {
  if (returned.type !== 'dictionary') return returned;
  for (const pair of returned.namedChildren) {
    if (pair?.type === 'pair' && stringLiteral(pair.childForFieldName('key')) === 'loss') return pair.childForFieldName('value') ?? undefined;
  }
  return undefined;
}

/** `F.cross_entropy(…)`, `nn.CrossEntropyLoss()(…)`, or `self.criterion(…)` / `criterion(…)` bound to `nn.MSELoss()`… */
function isModelledLoss(index: ModuleIndex, fn: SyntaxNode | null): boolean {
  let f: SyntaxNode | undefined = fn ?? undefined;
  for (let hops = 0; f && hops < HOPS; hops++) {
    if (f.type === 'call') f = f.childForFieldName('function') ?? undefined;
    if (f && MODELLED_LOSS.test(lastName(f) ?? '')) return true;
    if (f && (f.type === 'identifier' || (f.type === 'attribute' && f.childForFieldName('object')?.text === 'self'))) f = assignedBefore(index, f);
    else return false;
  }
  return false;
}

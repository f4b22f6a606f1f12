// The loss the training code computes, read statically: PyTorch's loss modules (`criterion = nn.MSELoss()`) and
// functions (`F.cross_entropy(out, y)`) called in the module, named by what they resolve to through the module's
// imports (torch.nn.…, torch.nn.functional.…), so a user's own `cross_entropy` is not taken for PyTorch's. The
// analysis differentiates that loss instead of guessing one from the model's output (analysis/lossChoice.ts).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConfigLoss, LossInCode } from '../config/trainingSetup';
import { enclosing, indexModule, qualifiedName, walk, type ModuleIndex } from './moduleIndex';
import { nodeRange, parsePython, pythonParser, type SyntaxNode } from './pythonParser';
import { isLightningModule, lightningTrainingStep } from './lightningStep';

type EngineLoss = Exclude<ConfigLoss, 'auto'>;

/**
 * PyTorch's losses by name (module and function), and the engine's loss for each. NLLLoss is taken on the model's
 * log_softmax output: softmax(log_softmax(z)) = softmax(z) (a shift by logsumexp), so the engine's cross-entropy of the
 * output is NLLLoss's value and gradient exactly. BCEWithLogitsLoss is binary cross-entropy on the raw output, which the
 * engine takes for a model without a final Sigmoid (lossChoice.ts batchTargets).
 */
const MODELLED: Record<string, EngineLoss> = {
  CrossEntropyLoss: 'cross-entropy',
  cross_entropy: 'cross-entropy',
  NLLLoss: 'cross-entropy',
  nll_loss: 'cross-entropy',
  BCELoss: 'binary-cross-entropy',
  binary_cross_entropy: 'binary-cross-entropy',
  BCEWithLogitsLoss: 'binary-cross-entropy',
  binary_cross_entropy_with_logits: 'binary-cross-entropy',
  MSELoss: 'mse',
  mse_loss: 'mse',
};
/** PyTorch losses the engine does not differentiate: recognised so the user is told which is used instead. */
const UNMODELLED = /^(L1Loss|l1_loss|SmoothL1Loss|smooth_l1_loss|HuberLoss|huber_loss|KLDivLoss|kl_div|CTCLoss|ctc_loss|PoissonNLLLoss|poisson_nll_loss|GaussianNLLLoss|gaussian_nll_loss|MultiLabelSoftMarginLoss|multilabel_soft_margin_loss|MultiMarginLoss|multi_margin_loss|MultiLabelMarginLoss|multilabel_margin_loss|SoftMarginLoss|soft_margin_loss|HingeEmbeddingLoss|hinge_embedding_loss|CosineEmbeddingLoss|cosine_embedding_loss|MarginRankingLoss|margin_ranking_loss|TripletMarginLoss|triplet_margin_loss)$/;

interface LossCall {
  name: string;
  written: string;
  node: SyntaxNode;
  kind?: EngineLoss;
  /** Inside a function that calls `.backward()` (a training step, not an evaluation). */
  trains: boolean;
  /** A LightningModule's step that is not a loss of forward's output: why (lightningStep.ts). */
  differs?: string;
}

function lossCalls(index: ModuleIndex): LossCall[] {
  const found: LossCall[] = [];
  for (const name of [...Object.keys(MODELLED), ...[...index.calls.keys()].filter((k) => UNMODELLED.test(k))]) {
    for (const call of index.calls.get(name) ?? []) {
      const fn = call.childForFieldName('function');
      const q = qualifiedName(index, fn);
      if (!q || !q.startsWith('torch.nn.') || q.split('.').at(-1) !== name) continue;
      const scope = enclosing(call, ['function_definition']);
      const trains = scope ? [...walk(scope)].some((n) => n.type === 'call' && /\.backward$/.test(n.childForFieldName('function')?.text ?? '')) : false;
      // In a LightningModule the loss is the engine's only when training_step returns it of forward's own output
      // (lightningStep.ts): an autoencoder's MSE of its decoder against x is not an MSE of what forward returns.
      const cls = enclosing(call, ['class_definition']);
      const step = cls && isLightningModule(cls) ? lightningTrainingStep(index, cls) : undefined;
      if (step?.kind === 'differs') {
        found.push({ name, written: fn!.text, node: call, trains, differs: step.reason });
        continue;
      }
      found.push({ name, written: fn!.text, node: call, ...(MODELLED[name] ? { kind: MODELLED[name] } : {}), trains });
    }
  }
  return found.sort((a, b) => a.node.startIndex - b.node.startIndex);
}

/**
 * The loss a module's training computes, or undefined when it calls none of PyTorch's. Several different losses: those
 * in a function that calls `.backward()` decide; still several, none is chosen (said, with each one's line).
 */
export function readTrainingLoss(index: ModuleIndex): LossInCode | undefined {
  const calls = lossCalls(index);
  if (!calls.length) return undefined;
  const trained = calls.some((c) => c.trains) ? calls.filter((c) => c.trains) : calls;
  const names = [...new Set(trained.map((c) => c.name))];
  const first = trained[0];
  const at = { written: first.written, file: index.file, range: nodeRange(first.node), place: `line ${first.node.startPosition.row + 1}` };
  const kinds = new Set(trained.map((c) => c.kind ?? c.name));
  if (kinds.size > 1) {
    const list = names.map((n) => { const c = trained.find((t) => t.name === n)!; return `${c.written} (line ${c.node.startPosition.row + 1})`; }).join(', ');
    return { ...at, note: `the training code computes several losses (${list}), so none of them is analysed` };
  }
  if (first.differs) return { ...at, note: first.differs };
  if (!first.kind) return { ...at, note: `${first.written} is not a loss the analysis differentiates (it has cross-entropy, binary cross-entropy and mean squared error)` };
  const note = first.name === 'NLLLoss' || first.name === 'nll_loss' ? "negative log-likelihood of the model's log_softmax output, which is its cross-entropy" : undefined;
  return { ...at, kind: first.kind, ...(note ? { note } : {}) };
}

/** The loss read in another module (a Flower app's task.py, where the model and its train() are), parsed here. */
export async function readTrainingLossOfFile(file: string, readText?: (path: string) => string | undefined): Promise<LossInCode | undefined> {
  const text = readText?.(file) ?? readOrUndefined(file);
  if (text === undefined) return undefined;
  const parsed = parsePython(await pythonParser(), text);
  if (parsed.kind !== 'tree') return undefined;
  try {
    return readTrainingLoss(indexModule(file, text, parsed.tree));
  } finally {
    parsed.tree.delete();
  }
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** The file of a `pkg.task:Net` factory under an app root (pkg/task.py), as the bridge imports it. */
export function factoryFile(root: string, factory: string): string {
  const module = factory.split(':')[0];
  return join(root, ...module.split('.')) + '.py';
}

/** "nn.MSELoss (task.py line 40)" for messages. */
export function lossInCodeLabel(loss: LossInCode, relativeTo: string): string {
  const rel = loss.file.startsWith(relativeTo) ? loss.file.slice(relativeTo.length).replace(/^[\\/]/, '') : loss.file;
  return `${loss.written} (${rel || loss.file} ${loss.place})`;
}

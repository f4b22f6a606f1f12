// Names followed to what is bound to them, read statically: the expression last assigned to a name before its use, in
// its function (else at module level), or to a `self.` attribute in its class. Shared by the readers that trace a DP call's
// arguments back to where they are made (the model class, the DataLoader, the weights loaded into the model).

import type { Range } from '../config/keyTree';
import { callArguments, dottedName, enclosing, lastName, qualifiedName, short, walk, type ModuleIndex } from './moduleIndex';
import { nodeRange, type SyntaxNode } from './pythonParser';

/** A name or a `self.` attribute: something whose value is the expression last assigned to it. */
export function isBinding(node: SyntaxNode): boolean {
  return node.type === 'identifier' || (node.type === 'attribute' && node.childForFieldName('object')?.text === 'self');
}

/**
 * One hop from a binding to the expression assigned to it: the right-hand side of the last assignment to the name (or
 * `self.attr`) before `use` — in its function, else at module level (any module-level one when `use` is in a function,
 * which runs after the module); `self.attr` in its class before `use` (`__init__` runs first and comes first). By
 * position, so `model = Net(); model = ModuleValidator.fix(model); model = model.to(d)` is read from the last line up.
 */
export function assignedBefore(index: ModuleIndex, use: SyntaxNode): SyntaxNode | undefined {
  const self = use.type === 'attribute';
  const fn = enclosing(use, ['function_definition']);
  const scopes = self ? [enclosing(use, ['class_definition'])] : fn ? [fn, index.root] : [index.root];
  for (const scope of scopes) {
    if (!scope) continue;
    let found: SyntaxNode | undefined;
    for (const n of walk(scope)) {
      if (n.type !== 'assignment' || n.childForFieldName('left')?.text !== use.text) continue;
      // This scope's own statements: a nested function's `model = …` binds another name; at module level only
      // module-level statements count, and all of them (a function runs after the module has been executed).
      // (Nodes are compared by position: tree-sitter hands out a new object for each visit of a node.)
      const owner = enclosing(n, ['function_definition']);
      if (!self && (scope === index.root ? owner !== undefined : !owner || owner.startIndex !== scope.startIndex)) continue;
      if ((self || scope !== index.root || !fn) && n.endIndex > use.startIndex) continue; // `model = model.to(d)`: the use inside its own right side reads the assignment before
      if (!found || n.startIndex > found.startIndex) found = n.childForFieldName('right') ?? undefined;
    }
    if (found) return found;
  }
  return undefined;
}

/** Methods that return the module they are called on (`model.to(device)`, `.cuda()`, `.train()`). */
const SAME_MODULE = /^(to|cuda|cpu|float|double|half|train|eval|requires_grad_)$/;
/**
 * Calls that take the model and return it, or a wrapper whose parameters are the model's (DDP's state_dict prefixes
 * them with `module.`): its first argument (or `module=` / `model=`) is the model.
 */
const WRAPPERS = /^(DataParallel|DistributedDataParallel|DDP|DPDDP|FullyShardedDataParallel|FSDP|FSDP2Wrapper|compile|GradSampleModule)$/;
/**
 * Opacus' fixers, which return a copy with every BatchNorm (that has parameters) replaced by
 * nn.GroupNorm(gcd(32, C), C) (opacus/validators/batch_norm.py since Opacus 1.1; `convert_batchnorm_modules` of
 * Opacus < 1.0 used min(32, C), the same for C a multiple or a divisor of 32, as in torchvision's ResNets).
 */
const GROUP_NORM_FIXERS = /^(fix|fix_and_validate|convert_batchnorm_modules)$/;

/** `ModuleValidator.fix(model)` as the script writes it, where it is. */
export interface GroupNormFix {
  range: Range;
  written: string;
}

/**
 * One step inward from a call that hands the model on: `model.to(device)` → `model`, `DDP(model)` → `model`,
 * `ModuleValidator.fix(model)` → `model` with the fix noted (the model trained is then not the class as written).
 * Undefined for any other call.
 */
export function modelInside(index: ModuleIndex, call: SyntaxNode): { inner: SyntaxNode; groupNorm?: GroupNormFix } | undefined {
  const fn = call.childForFieldName('function');
  const name = lastName(fn) ?? '';
  const object = fn?.type === 'attribute' ? fn.childForFieldName('object') : null;
  if (object && SAME_MODULE.test(name)) return { inner: object };
  const args = callArguments(call);
  const argument = args.keyword.get('module')?.value ?? args.keyword.get('model')?.value ?? args.positional[0];
  if (!argument) return undefined;
  // Opacus' own (`from opacus.validators import ModuleValidator`), or spelled as Opacus names it when the import is elsewhere.
  const opacus = qualifiedName(index, fn)?.startsWith('opacus.') || /(^|\.)ModuleValidator\.fix(_and_validate)?$/.test(dottedName(fn) ?? '');
  if (GROUP_NORM_FIXERS.test(name) && opacus) return { inner: argument, groupNorm: { range: nodeRange(call), written: short(call.text) } };
  if (WRAPPERS.test(name)) return { inner: argument };
  return undefined;
}

// Names followed to what is bound to them, read statically: the expression last assigned to a name in its function
// (else at module level), or to a `self.` attribute in its class. Shared by the readers that trace a DP call's
// arguments back to where they are made (the model class, the DataLoader, the weights loaded into the model).

import { enclosing, type ModuleIndex } from './moduleIndex';
import type { SyntaxNode } from './pythonParser';

/** A name or a `self.` attribute: something whose value is the expression last assigned to it. */
export function isBinding(node: SyntaxNode): boolean {
  return node.type === 'identifier' || (node.type === 'attribute' && node.childForFieldName('object')?.text === 'self');
}

/** One hop from a binding to the expression assigned to it (the enclosing function's, else the module's; a class's `self.` attribute). */
export function followBinding(index: ModuleIndex, node: SyntaxNode): SyntaxNode | undefined {
  if (node.type === 'identifier') {
    const scope: SyntaxNode = enclosing(node, ['function_definition']) ?? index.root;
    return lastAssignment(scope, node.text) ?? lastAssignment(index.root, node.text);
  }
  const cls = enclosing(node, ['class_definition']);
  const attr = node.childForFieldName('attribute')?.text;
  return cls && attr ? selfAssignment(cls, attr) : undefined;
}

function lastAssignment(scope: SyntaxNode, name: string): SyntaxNode | undefined {
  let found: SyntaxNode | undefined;
  const body = scope.type === 'module' ? scope : scope.childForFieldName('body');
  const stack = body ? [body] : [];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.type === 'assignment' && n.childForFieldName('left')?.text === name) found = n.childForFieldName('right') ?? found;
    if (n !== body && (n.type === 'function_definition' || n.type === 'class_definition')) continue;
    for (const c of n.namedChildren) if (c) stack.push(c);
  }
  return found;
}

function selfAssignment(cls: SyntaxNode, attr: string): SyntaxNode | undefined {
  const stack = [cls];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.type === 'assignment') {
      const left = n.childForFieldName('left');
      if (left?.type === 'attribute' && left.childForFieldName('object')?.text === 'self' && left.childForFieldName('attribute')?.text === attr) return n.childForFieldName('right') ?? undefined;
    }
    for (const c of n.namedChildren) if (c) stack.push(c);
  }
  return undefined;
}

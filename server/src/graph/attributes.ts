// Typed reads of ONNX node attributes with defaults (one place for every layer that reads attributes).

import type { Node } from './ir';

export function attrInt(node: Node, name: string, fallback: number): number {
  const a = node.attributes[name];
  return a && a.type === 'int' ? a.value : fallback;
}

/** A float attribute; exporters sometimes write a whole number as an int (alpha=1), which reads the same. */
export function attrFloat(node: Node, name: string, fallback: number): number {
  const a = node.attributes[name];
  if (!a) return fallback;
  if (a.type === 'float' || a.type === 'int') return a.value;
  return fallback;
}

/** A copy: callers may edit it without touching the graph's node. */
export function attrInts(node: Node, name: string): number[] | undefined {
  const a = node.attributes[name];
  return a && a.type === 'ints' ? [...a.value] : undefined;
}

export function attrString(node: Node, name: string, fallback: string): string {
  const a = node.attributes[name];
  return a && a.type === 'string' ? a.value : fallback;
}

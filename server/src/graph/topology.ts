// Orders a graph's nodes so every value is produced before it is used, and names a node of any cycle.

import { UserError } from '../errors';
import type { Graph, Node } from './ir';

/**
 * Nodes in a topological order that keeps the file's order wherever the file was already sorted (exporters write
 * sorted graphs; keeping their order keeps reports and "first use" orders stable). Values that no node produces
 * (graph inputs, initialisers, names a broken file never defines) count as available: shape inference reports
 * the undefined ones with their node.
 */
export function topologicalOrder(graph: Graph): Node[] {
  const producer = new Map<string, number>();
  graph.nodes.forEach((n, i) => {
    for (const o of n.outputs) if (o !== '') producer.set(o, i);
  });
  const waiting = graph.nodes.map(() => 0);
  const consumers: number[][] = graph.nodes.map(() => []);
  graph.nodes.forEach((n, i) => {
    const deps = new Set<number>();
    for (const name of n.inputs) {
      const p = name === '' ? undefined : producer.get(name);
      if (p !== undefined) deps.add(p);
    }
    waiting[i] = deps.size;
    for (const p of deps) consumers[p].push(i);
  });

  // A min-heap on the file index would be exact; a sorted ready list is enough for graphs of a few thousand nodes.
  const ready: number[] = [];
  waiting.forEach((w, i) => {
    if (w === 0) ready.push(i);
  });
  const order: Node[] = [];
  const done = new Array<boolean>(graph.nodes.length).fill(false);
  while (ready.length) {
    let best = 0;
    for (let k = 1; k < ready.length; k++) if (ready[k] < ready[best]) best = k;
    const i = ready[best];
    ready[best] = ready[ready.length - 1];
    ready.pop();
    done[i] = true;
    order.push(graph.nodes[i]);
    for (const c of consumers[i]) if (--waiting[c] === 0) ready.push(c);
  }
  if (order.length < graph.nodes.length) {
    const stuck = findCycle(graph, producer, done);
    const n = graph.nodes[stuck[0]];
    const names = stuck.map((i) => `'${graph.nodes[i].name}'`).join(' → ');
    throw new UserError('graph-cycle', `the graph has a cycle (${names}); ONNX graphs must be acyclic`, {
      node: n.name,
      op: n.opType,
    });
  }
  return order;
}

/** Walks producer links backwards from an unsorted node until a node repeats: that loop is a cycle. */
function findCycle(graph: Graph, producer: Map<string, number>, done: boolean[]): number[] {
  let i = done.indexOf(false);
  const seenAt = new Map<number, number>();
  const path: number[] = [];
  while (!seenAt.has(i)) {
    seenAt.set(i, path.length);
    path.push(i);
    const next = graph.nodes[i].inputs
      .map((name) => (name === '' ? undefined : producer.get(name)))
      .find((p) => p !== undefined && !done[p]);
    if (next === undefined) break; // cannot happen for a stuck node, but never loop forever
    i = next;
  }
  const from = seenAt.get(i) ?? 0;
  return path.slice(from).reverse();
}

/** Names of values the graph consumes somewhere (node inputs and graph outputs). */
export function consumedValues(graph: Graph): Set<string> {
  const used = new Set<string>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i !== '') used.add(i);
  for (const o of graph.outputs) used.add(o.name);
  return used;
}

// Hand-built IR graphs for the graph tests: terse constructors for nodes, attributes, tensors and models.

import type { AttributeValue, DType, Graph, Model, Node, Tensor } from '../../../server/src/graph/ir';
import { sizeOf } from '../../../server/src/graph/ir';

export const attr = {
  int: (value: number): AttributeValue => ({ type: 'int', value }),
  ints: (value: number[]): AttributeValue => ({ type: 'ints', value }),
  float: (value: number): AttributeValue => ({ type: 'float', value }),
  string: (value: string): AttributeValue => ({ type: 'string', value }),
  tensor: (value: Tensor): AttributeValue => ({ type: 'tensor', value }),
};

let counter = 0;
export function node(opType: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeValue> = {}, name?: string): Node {
  return { name: name ?? `${opType}_${counter++}`, opType, domain: '', inputs, outputs, attributes };
}

export function i64(dims: number[], values: number[]): Tensor {
  // ±2^63 (how INT64_MAX/MIN look as numbers) saturate, as they would in a file.
  const big = (v: number) => (v >= 2 ** 63 ? 2n ** 63n - 1n : v <= -(2 ** 63) ? -(2n ** 63n) : BigInt(v));
  return { dtype: 'int64', dims, data: BigInt64Array.from(values, big) };
}

export function f32(dims: number[], values?: number[]): Tensor {
  const n = sizeOf(dims);
  return { dtype: 'float32', dims, data: Float32Array.from(values ?? Array.from({ length: n }, (_, i) => (i % 7) * 0.1)) };
}

export interface GraphSpec {
  nodes: Node[];
  inputs?: [string, (number | string)[], DType?][];
  initializers?: Record<string, Tensor>;
  outputs?: string[];
}

export function graph(spec: GraphSpec): Graph {
  return {
    name: 'test',
    nodes: spec.nodes,
    initializers: new Map(Object.entries(spec.initializers ?? {})),
    inputs: (spec.inputs ?? []).map(([name, dims, dtype]) => ({ name, dims, dtype: dtype ?? 'float32' })),
    outputs: (spec.outputs ?? [spec.nodes[spec.nodes.length - 1].outputs[0]]).map((name) => ({ name, dtype: 'float32', dims: [] })),
  };
}

export function model(spec: GraphSpec, opset = 13): Model {
  return { graph: graph(spec), opsets: [{ domain: '', version: opset }], producerName: 'test', producerVersion: '0', irVersion: 8 };
}

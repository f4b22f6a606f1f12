// The engine's model IR: one small ONNX-shaped graph (nodes, initialisers, static shapes) that every front end
// (ONNX protobuf, TensorFlow.js model.json) produces and every derivative-graph builder consumes.

/** Element types we read and write. ONNX TensorProto.DataType codes are in `onnxDataType`. */
export type DType = 'float32' | 'float64' | 'float16' | 'int8' | 'uint8' | 'int32' | 'int64' | 'bool';

export type TypedArray = Float32Array | Float64Array | Int8Array | Uint8Array | Int32Array | BigInt64Array | Uint16Array;

/** A dense tensor in row-major order. float16 data is kept as raw Uint16Array bits; bool as Uint8Array. */
export interface Tensor {
  dtype: DType;
  dims: number[];
  data: TypedArray;
}

/** Attribute values as ONNX stores them; ONNX ints are int64 but every value we meet fits in a JS number. */
export type AttributeValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'graph'; value: Graph };

export interface Node {
  /** Node name from the file (may be empty there: front ends assign `op_<index>` so messages can name it). */
  name: string;
  opType: string;
  /** '' or 'ai.onnx' for the default domain. */
  domain: string;
  /** Input value names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Record<string, AttributeValue>;
}

/** A graph input or output. dims: numbers for static sizes, strings for symbolic ones (e.g. 'batch'), -1 unknown. */
export interface ValueInfo {
  name: string;
  dtype: DType;
  dims: (number | string)[];
}

export interface Graph {
  name: string;
  nodes: Node[];
  initializers: Map<string, Tensor>;
  /** Real inputs only: initialisers that a file also lists as graph inputs are removed by the front end. */
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface Model {
  graph: Graph;
  opsets: OpsetImport[];
  producerName: string;
  producerVersion: string;
  irVersion: number;
  /** ModelProto.metadata_props: free key/value strings (the export bridge records frozen parameters there: parameters.ts). */
  metadataProps?: Record<string, string>;
}

/** Number of elements of a static shape. */
export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** The default-domain opset version a model imports (ONNX's '' and 'ai.onnx' are the same domain). */
export function defaultOpset(model: Model): number {
  const op = model.opsets.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return op ? op.version : 0;
}

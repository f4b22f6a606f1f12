// ONNX ModelProto ⇄ the engine's IR: decode any exporter's file, encode graphs that onnxruntime-node loads.

import type { AttributeValue, DType, Graph, Model, Node, OpsetImport, Tensor, TypedArray, ValueInfo } from '../../graph/ir';
import { UserError } from '../../errors';
import { allocTyped, bytesPerElement, typedFromBytes } from '../../graph/tensorBytes';
import { HOST_LITTLE_ENDIAN, ProtoReader, ProtoWriter, WIRE_FIXED32, WIRE_LEN, WIRE_VARINT } from './protobuf';

// Field numbers from onnx/onnx.proto (IR version 8). Named once here so decoder and encoder cannot disagree.
const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, graph: 7, opsetImport: 8, metadataProps: 14 } as const;
const OPSET = { domain: 1, version: 2 } as const;
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12, sparseInitializer: 15 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 } as const;
const ATTR = {
  name: 1, f: 2, i: 3, s: 4, t: 5, g: 6, floats: 7, ints: 8, strings: 9, tensors: 10, graphs: 11,
  tp: 14, typeProtos: 15, type: 20, sparseTensor: 22, sparseTensors: 23,
} as const;
const TENSOR = {
  dims: 1, dataType: 2, segment: 3, floatData: 4, int32Data: 5, stringData: 6, int64Data: 7, name: 8,
  rawData: 9, doubleData: 10, uint64Data: 11, externalData: 13, dataLocation: 14,
} as const;
const ENTRY = { key: 1, value: 2 } as const;
const VALUE_INFO = { name: 1, type: 2 } as const;
const TYPE = { tensorType: 1, sequenceType: 4, mapType: 5, sparseTensorType: 8, optionalType: 9 } as const;
const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
const SHAPE = { dim: 1 } as const;
const DIM = { value: 1, param: 2 } as const;

/** AttributeProto.AttributeType codes. */
const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, graph: 5, floats: 6, ints: 7, strings: 8 } as const;
const ATTR_TYPE_NAMES: Record<number, string> = {
  9: 'TENSORS', 10: 'GRAPHS', 11: 'SPARSE_TENSOR', 12: 'SPARSE_TENSORS', 13: 'TYPE_PROTO', 14: 'TYPE_PROTOS',
};

// Element bytes ⇄ typed arrays live below every file format (graph/tensorBytes.ts); re-exported for the ONNX code.
export { allocTyped, bytesPerElement, typedFromBytes };

/** TensorProto.DataType codes of the element types the IR carries. */
export const onnxDataType: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11,
};
const DTYPE_OF_CODE: Record<number, DType> = Object.fromEntries(
  Object.entries(onnxDataType).map(([k, v]) => [v, k as DType]),
);
const ONNX_TYPE_NAMES: Record<number, string> = {
  0: 'UNDEFINED', 4: 'UINT16', 5: 'INT16', 8: 'STRING', 12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64',
  15: 'COMPLEX128', 16: 'BFLOAT16', 17: 'FLOAT8E4M3FN', 18: 'FLOAT8E4M3FNUZ', 19: 'FLOAT8E5M2',
  20: 'FLOAT8E5M2FNUZ', 21: 'UINT4', 22: 'INT4',
};

/** Where a tensor's bytes live when the file stores them outside (TensorProto.data_location = EXTERNAL). */
export interface ExternalDataRef {
  /** Path relative to the model file's folder, exactly as the file says (not yet checked). */
  location: string;
  offset: number;
  /** Byte count; undefined means "to the end of the file". */
  length?: number;
}

/**
 * A tensor as the decoder returns it. When `external` is set, `data` is an empty array of the right type and the
 * bytes must be read by the loader (load.ts), which then deletes the marker.
 */
export interface DecodedTensor extends Tensor {
  external?: ExternalDataRef;
}

export interface DecodeOptions {
  /** The file the bytes came from, for error locations. */
  file: string;
  /**
   * Leave tensors with external data as `DecodedTensor.external` markers for the caller to resolve. Without this a
   * model with external data fails clearly, so no caller computes with empty weights by accident.
   */
  allowExternal?: boolean;
}

// Subgraphs (If/Loop/Scan bodies) nest; a hostile file could nest them until the stack overflows.
const MAX_GRAPH_DEPTH = 64;
const MAX_ELEMENTS = 2 ** 40;

class Decoder {
  constructor(private readonly opts: DecodeOptions) {}

  private err(code: string, message: string, node?: Node | { name: string; opType: string }): UserError {
    return new UserError(code, message, { file: this.opts.file, ...(node ? { node: node.name, op: node.opType } : {}) });
  }

  model(r: ProtoReader): Model {
    let graph: Graph | undefined;
    const opsets: OpsetImport[] = [];
    let producerName = '';
    let producerVersion = '';
    let irVersion = 0;
    const metadataProps: Record<string, string> = Object.create(null);
    while (r.next()) {
      switch (r.field) {
        case MODEL.metadataProps: {
          r.expect(WIRE_LEN, 'ModelProto.metadata_props');
          const [key, value] = this.entry(r.sub());
          // Own keys only: a file's key named '__proto__' is its word, not a member of the record.
          if (key && key !== '__proto__') metadataProps[key] = value;
          break;
        }
        case MODEL.irVersion: r.expect(WIRE_VARINT, 'ModelProto.ir_version'); irVersion = r.int64(); break;
        case MODEL.producerName: r.expect(WIRE_LEN, 'ModelProto.producer_name'); producerName = r.string(); break;
        case MODEL.producerVersion: r.expect(WIRE_LEN, 'ModelProto.producer_version'); producerVersion = r.string(); break;
        case MODEL.graph: r.expect(WIRE_LEN, 'ModelProto.graph'); graph = this.graph(r.sub(), 0); break;
        case MODEL.opsetImport: r.expect(WIRE_LEN, 'ModelProto.opset_import'); opsets.push(this.opset(r.sub())); break;
        default: r.skip();
      }
    }
    if (!graph) throw this.err('corrupt-model', 'not an ONNX model: the file has no graph');
    return { graph, opsets, producerName, producerVersion, irVersion, ...(Object.keys(metadataProps).length ? { metadataProps } : {}) };
  }

  private opset(r: ProtoReader): OpsetImport {
    let domain = '';
    let version = 0;
    while (r.next()) {
      if (r.field === OPSET.domain) { r.expect(WIRE_LEN, 'OperatorSetIdProto.domain'); domain = r.string(); }
      else if (r.field === OPSET.version) { r.expect(WIRE_VARINT, 'OperatorSetIdProto.version'); version = r.int64(); }
      else r.skip();
    }
    return { domain, version };
  }

  private graph(r: ProtoReader, depth: number): Graph {
    if (depth > MAX_GRAPH_DEPTH) throw r.corrupt(`subgraphs nested more than ${MAX_GRAPH_DEPTH} deep`);
    const nodes: Node[] = [];
    const initializers = new Map<string, Tensor>();
    const declaredInputs: ValueInfo[] = [];
    const outputs: ValueInfo[] = [];
    let name = '';
    while (r.next()) {
      switch (r.field) {
        case GRAPH.node: r.expect(WIRE_LEN, 'GraphProto.node'); nodes.push(this.node(r.sub(), nodes.length, depth)); break;
        case GRAPH.name: r.expect(WIRE_LEN, 'GraphProto.name'); name = r.string(); break;
        case GRAPH.initializer: {
          r.expect(WIRE_LEN, 'GraphProto.initializer');
          const t = this.tensor(r.sub(), 'initializer');
          if (initializers.has(t.name)) throw this.err('corrupt-model', `initializer '${t.name}' appears twice`);
          initializers.set(t.name, t.tensor);
          break;
        }
        case GRAPH.input: r.expect(WIRE_LEN, 'GraphProto.input'); declaredInputs.push(this.valueInfo(r.sub(), 'input')); break;
        case GRAPH.output: r.expect(WIRE_LEN, 'GraphProto.output'); outputs.push(this.valueInfo(r.sub(), 'output')); break;
        case GRAPH.sparseInitializer:
          throw this.err('unsupported-model', 'the model has sparse initializers, which are not supported; export dense weights');
        default: r.skip();
      }
    }
    // Before IR version 4 every initializer had to be listed as an input too; those are weights, not real inputs.
    const inputs = declaredInputs.filter((v) => !initializers.has(v.name));
    return { name, nodes, initializers, inputs, outputs };
  }

  private node(r: ProtoReader, index: number, depth: number): Node {
    const node: Node = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: {} };
    // Attributes are decoded after the name and op type are known, so their errors can name the node; protobuf
    // fields may come in any order, so remember where they are first.
    const attributeReaders: ProtoReader[] = [];
    while (r.next()) {
      switch (r.field) {
        case NODE.input: r.expect(WIRE_LEN, 'NodeProto.input'); node.inputs.push(r.string()); break;
        case NODE.output: r.expect(WIRE_LEN, 'NodeProto.output'); node.outputs.push(r.string()); break;
        case NODE.name: r.expect(WIRE_LEN, 'NodeProto.name'); node.name = r.string(); break;
        case NODE.opType: r.expect(WIRE_LEN, 'NodeProto.op_type'); node.opType = r.string(); break;
        case NODE.domain: r.expect(WIRE_LEN, 'NodeProto.domain'); node.domain = r.string(); break;
        case NODE.attribute: r.expect(WIRE_LEN, 'NodeProto.attribute'); attributeReaders.push(r.sub()); break;
        default: r.skip();
      }
    }
    if (node.name === '') node.name = `op_${index}`;
    for (const ar of attributeReaders) {
      const [name, value] = this.attribute(ar, node, depth);
      node.attributes[name] = value;
    }
    return node;
  }

  private attribute(r: ProtoReader, node: Node, depth: number): [string, AttributeValue] {
    let name = '';
    let type = 0;
    let f: number | undefined;
    let i: number | undefined;
    let s: string | undefined;
    let t: Tensor | undefined;
    let g: Graph | undefined;
    const floats: number[] = [];
    const ints: number[] = [];
    const strings: string[] = [];
    let unsupported = 0; // the type code of a field the IR cannot hold, when present
    while (r.next()) {
      switch (r.field) {
        case ATTR.name: r.expect(WIRE_LEN, 'AttributeProto.name'); name = r.string(); break;
        case ATTR.type: r.expect(WIRE_VARINT, 'AttributeProto.type'); type = r.int32(); break;
        case ATTR.f: r.expect(WIRE_FIXED32, 'AttributeProto.f'); f = r.float(); break;
        case ATTR.i: r.expect(WIRE_VARINT, 'AttributeProto.i'); i = r.int64(); break;
        case ATTR.s: r.expect(WIRE_LEN, 'AttributeProto.s'); s = r.string(); break;
        case ATTR.t: r.expect(WIRE_LEN, 'AttributeProto.t'); t = this.tensor(r.sub(), `attribute of node '${node.name}'`).tensor; break;
        case ATTR.g: r.expect(WIRE_LEN, 'AttributeProto.g'); g = this.graph(r.sub(), depth + 1); break;
        case ATTR.floats: r.repeatedFloat(floats); break;
        case ATTR.ints: r.repeatedInt64(ints); break;
        case ATTR.strings: r.expect(WIRE_LEN, 'AttributeProto.strings'); strings.push(r.string()); break;
        case ATTR.tensors: unsupported = 9; r.skip(); break;
        case ATTR.graphs: unsupported = 10; r.skip(); break;
        case ATTR.sparseTensor: unsupported = 11; r.skip(); break;
        case ATTR.sparseTensors: unsupported = 12; r.skip(); break;
        case ATTR.tp: unsupported = 13; r.skip(); break;
        case ATTR.typeProtos: unsupported = 14; r.skip(); break;
        default: r.skip();
      }
    }
    // Files from before IR version 2 may omit `type`: infer it from the one value field that is present.
    if (type === 0) {
      if (f !== undefined) type = ATTR_TYPE.float;
      else if (i !== undefined) type = ATTR_TYPE.int;
      else if (s !== undefined) type = ATTR_TYPE.string;
      else if (t) type = ATTR_TYPE.tensor;
      else if (g) type = ATTR_TYPE.graph;
      else if (floats.length) type = ATTR_TYPE.floats;
      else if (ints.length) type = ATTR_TYPE.ints;
      else if (strings.length) type = ATTR_TYPE.strings;
      else if (unsupported) type = unsupported;
    }
    const where = `attribute '${name}'`;
    switch (type) {
      case ATTR_TYPE.float: return [name, { type: 'float', value: f ?? 0 }];
      case ATTR_TYPE.int: return [name, { type: 'int', value: i ?? 0 }];
      case ATTR_TYPE.string: return [name, { type: 'string', value: s ?? '' }];
      case ATTR_TYPE.tensor:
        if (!t) throw this.err('corrupt-model', `${where} is of type TENSOR but holds no tensor`, node);
        return [name, { type: 'tensor', value: t }];
      case ATTR_TYPE.graph:
        if (!g) throw this.err('corrupt-model', `${where} is of type GRAPH but holds no graph`, node);
        return [name, { type: 'graph', value: g }];
      case ATTR_TYPE.floats: return [name, { type: 'floats', value: floats }];
      case ATTR_TYPE.ints: return [name, { type: 'ints', value: ints }];
      case ATTR_TYPE.strings: return [name, { type: 'strings', value: strings }];
      default: {
        const typeName = ATTR_TYPE_NAMES[type];
        if (typeName) throw this.err('unsupported-attribute', `${where} has type ${typeName}, which is not supported`, node);
        throw this.err('corrupt-model', `${where} has unknown type code ${type}`, node);
      }
    }
  }

  private dtype(code: number, what: string): DType {
    const dtype = DTYPE_OF_CODE[code];
    if (dtype) return dtype;
    const known = ONNX_TYPE_NAMES[code];
    throw this.err(
      'unsupported-dtype',
      `${what} has element type ${known ?? `code ${code}`}; supported: float32, float64, float16, int8, uint8, int32, int64, bool`,
    );
  }

  /** Decodes a TensorProto; `role` says where it sits, for messages. */
  private tensor(r: ProtoReader, role: string): { name: string; tensor: DecodedTensor } {
    const dims: number[] = [];
    let dataType = 0;
    let name = '';
    let raw: Uint8Array | undefined;
    let floatData: number[] | undefined;
    let doubleData: number[] | undefined;
    let int32Data: number[] | undefined;
    let int64Data: bigint[] | undefined;
    let uint64Seen = false;
    let stringSeen = false;
    let external = false;
    const externalEntries: [string, string][] = [];
    while (r.next()) {
      switch (r.field) {
        case TENSOR.dims: r.repeatedInt64(dims); break;
        case TENSOR.dataType: r.expect(WIRE_VARINT, 'TensorProto.data_type'); dataType = r.int32(); break;
        case TENSOR.name: r.expect(WIRE_LEN, 'TensorProto.name'); name = r.string(); break;
        case TENSOR.rawData: r.expect(WIRE_LEN, 'TensorProto.raw_data'); raw = r.bytes(); break;
        case TENSOR.floatData: r.repeatedFloat((floatData ??= [])); break;
        case TENSOR.doubleData: r.repeatedDouble((doubleData ??= [])); break;
        case TENSOR.int32Data: r.repeatedInt64((int32Data ??= [])); break;
        case TENSOR.int64Data: r.repeatedInt64Big((int64Data ??= [])); break;
        case TENSOR.uint64Data: uint64Seen = true; r.skip(); break;
        case TENSOR.stringData: stringSeen = true; r.skip(); break;
        case TENSOR.dataLocation: r.expect(WIRE_VARINT, 'TensorProto.data_location'); external = r.int32() === 1; break;
        case TENSOR.externalData: r.expect(WIRE_LEN, 'TensorProto.external_data'); externalEntries.push(this.entry(r.sub())); break;
        default: r.skip();
      }
    }
    const what = `tensor '${name}' (${role})`;
    if (stringSeen && dataType === 8) throw this.err('unsupported-dtype', `${what} holds strings, which are not supported`);
    const dtype = this.dtype(dataType, what);
    let count = 1;
    for (const d of dims) {
      if (!Number.isSafeInteger(d) || d < 0) throw this.err('corrupt-model', `${what} has invalid dimension ${d}`);
      count *= d;
    }
    if (count > MAX_ELEMENTS) throw this.err('corrupt-model', `${what} declares ${count} elements, more than any real model`);
    const width = bytesPerElement(dtype);

    if (external) {
      if (!this.opts.allowExternal)
        throw this.err('external-data', `${what} keeps its data in an external file; load the model from its file so the data can be found`);
      const ref: ExternalDataRef = { location: '', offset: 0 };
      for (const [key, value] of externalEntries) {
        if (key === 'location') ref.location = value;
        else if (key === 'offset' || key === 'length') {
          if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
            throw this.err('corrupt-model', `${what} has external-data ${key} '${value}', which is not a byte count`);
          ref[key] = Number(value);
        }
      }
      if (!ref.location) throw this.err('corrupt-model', `${what} is marked external but names no location`);
      if (ref.length !== undefined && ref.length !== count * width)
        throw this.err('corrupt-model', `${what} has shape [${dims.join(', ')}] (${count * width} bytes of ${dtype}) but its external data length is ${ref.length}`);
      return { name, tensor: { dtype, dims, data: allocTyped(dtype, 0), external: ref } };
    }

    // Every allocation below is sized by data actually present in the file, after it matched the declared shape.
    const mismatch = (have: number, unit: string) =>
      this.err('corrupt-model', `${what} has shape [${dims.join(', ')}] (${count} elements) but holds ${have} ${unit}`);
    let data: TypedArray;
    if (raw) {
      if (raw.length !== count * width) throw mismatch(raw.length, `bytes of raw data (${dtype} needs ${count * width})`);
      data = typedFromBytes(dtype, raw);
    } else if (dtype === 'float32' && floatData) {
      if (floatData.length !== count) throw mismatch(floatData.length, 'float_data values');
      data = Float32Array.from(floatData);
    } else if (dtype === 'float64' && doubleData) {
      if (doubleData.length !== count) throw mismatch(doubleData.length, 'double_data values');
      data = Float64Array.from(doubleData);
    } else if (dtype === 'int64' && int64Data) {
      if (int64Data.length !== count) throw mismatch(int64Data.length, 'int64_data values');
      data = BigInt64Array.from(int64Data);
    } else if (int32Data && dtype !== 'float32' && dtype !== 'float64' && dtype !== 'int64') {
      // int32_data carries int32, int8, uint8, bool and float16 (as its 16 bits), one element per value.
      if (int32Data.length !== count) throw mismatch(int32Data.length, 'int32_data values');
      data = allocTyped(dtype, count);
      for (let k = 0; k < count; k++) data[k] = int32Data[k];
    } else if (count === 0) {
      data = allocTyped(dtype, 0);
    } else if (uint64Seen) {
      throw this.err('corrupt-model', `${what} stores ${dtype} values in uint64_data, which only UINT32/UINT64 tensors use`);
    } else {
      throw mismatch(0, 'values');
    }
    return { name, tensor: { dtype, dims, data } };
  }

  private entry(r: ProtoReader): [string, string] {
    let key = '';
    let value = '';
    while (r.next()) {
      if (r.field === ENTRY.key) { r.expect(WIRE_LEN, 'StringStringEntryProto.key'); key = r.string(); }
      else if (r.field === ENTRY.value) { r.expect(WIRE_LEN, 'StringStringEntryProto.value'); value = r.string(); }
      else r.skip();
    }
    return [key, value];
  }

  private valueInfo(r: ProtoReader, role: 'input' | 'output'): ValueInfo {
    let name = '';
    let typeReader: ProtoReader | undefined;
    while (r.next()) {
      if (r.field === VALUE_INFO.name) { r.expect(WIRE_LEN, 'ValueInfoProto.name'); name = r.string(); }
      else if (r.field === VALUE_INFO.type) { r.expect(WIRE_LEN, 'ValueInfoProto.type'); typeReader = r.sub(); }
      else r.skip();
    }
    const what = `graph ${role} '${name}'`;
    if (!typeReader) throw this.err('corrupt-model', `${what} has no type`);
    let tensorType: ProtoReader | undefined;
    let otherKind = '';
    while (typeReader.next()) {
      switch (typeReader.field) {
        case TYPE.tensorType: typeReader.expect(WIRE_LEN, 'TypeProto.tensor_type'); tensorType = typeReader.sub(); break;
        case TYPE.sequenceType: otherKind = 'a sequence'; typeReader.skip(); break;
        case TYPE.mapType: otherKind = 'a map'; typeReader.skip(); break;
        case TYPE.sparseTensorType: otherKind = 'a sparse tensor'; typeReader.skip(); break;
        case TYPE.optionalType: otherKind = 'an optional'; typeReader.skip(); break;
        default: typeReader.skip();
      }
    }
    if (!tensorType) throw this.err('unsupported-model', `${what} is ${otherKind || 'not a tensor'}; only tensor inputs and outputs are supported`);
    let elemType = 0;
    const dims: (number | string)[] = [];
    while (tensorType.next()) {
      if (tensorType.field === TENSOR_TYPE.elemType) { tensorType.expect(WIRE_VARINT, 'TypeProto.Tensor.elem_type'); elemType = tensorType.int32(); }
      else if (tensorType.field === TENSOR_TYPE.shape) {
        // A missing shape (unknown rank) reads as [], like a scalar: the IR has no separate "unknown rank".
        tensorType.expect(WIRE_LEN, 'TypeProto.Tensor.shape');
        const shape = tensorType.sub();
        while (shape.next()) {
          if (shape.field !== SHAPE.dim) { shape.skip(); continue; }
          shape.expect(WIRE_LEN, 'TensorShapeProto.dim');
          const dim = shape.sub();
          let d: number | string = -1;
          while (dim.next()) {
            if (dim.field === DIM.value) { dim.expect(WIRE_VARINT, 'Dimension.dim_value'); d = dim.int64(); }
            else if (dim.field === DIM.param) { dim.expect(WIRE_LEN, 'Dimension.dim_param'); d = dim.string(); }
            else dim.skip();
          }
          dims.push(d);
        }
      } else tensorType.skip();
    }
    return { name, dtype: this.dtype(elemType, what), dims };
  }
}

/** Decodes an ONNX ModelProto. Every failure is a UserError located in `opts.file` (and the node, when known). */
export function decodeModel(bytes: Uint8Array, opts: DecodeOptions): Model {
  return new Decoder(opts).model(new ProtoReader(bytes, opts.file));
}

// ---- encoding ----

/** The IR version written: 8 is what onnxruntime-node 1.30 and every current tool read; newer models keep theirs. */
export const WRITTEN_IR_VERSION = 8;

function writeTensor(w: ProtoWriter, name: string, t: Tensor, place?: ExternalPlacement): void {
  if ((t as DecodedTensor).external)
    throw new Error(`tensor '${name}' still refers to external data; resolve it (load.ts) before encoding`);
  for (const d of t.dims) w.int64(TENSOR.dims, d); // dims is not packed in onnx.proto (proto2): one tag each, as protoc writes
  w.int64(TENSOR.dataType, onnxDataType[t.dtype]);
  if (name) w.string(TENSOR.name, name);
  const ref = name ? place?.(name, t) : undefined;
  if (!ref) {
    w.typedArrayBytes(TENSOR.rawData, t.data);
    return;
  }
  const entry = (key: string, value: string) => w.message(TENSOR.externalData, () => { w.string(ENTRY.key, key); w.string(ENTRY.value, value); });
  entry('location', ref.location);
  entry('offset', String(ref.offset));
  entry('length', String(ref.length ?? t.data.byteLength));
  w.int64(TENSOR.dataLocation, 1);
}

/**
 * Where an initialiser's bytes live when they are not written into the ModelProto (externalData.ts decides, writes
 * them, and answers with the reference); undefined keeps them inline as raw_data.
 */
export type ExternalPlacement = (name: string, t: Tensor) => ExternalDataRef | undefined;

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(VALUE_INFO.name, v.name);
  w.message(VALUE_INFO.type, () =>
    w.message(TYPE.tensorType, () => {
      w.int64(TENSOR_TYPE.elemType, onnxDataType[v.dtype]);
      w.message(TENSOR_TYPE.shape, () => {
        for (const d of v.dims)
          w.message(SHAPE.dim, () => {
            if (typeof d === 'string') w.string(DIM.param, d);
            else if (d >= 0) w.int64(DIM.value, d);
            // -1: an unknown dimension is a Dimension with neither field.
          });
      });
    }),
  );
}

function writeAttribute(w: ProtoWriter, name: string, a: AttributeValue): void {
  w.string(ATTR.name, name);
  switch (a.type) {
    case 'float': w.int64(ATTR.type, ATTR_TYPE.float); w.float(ATTR.f, a.value); break;
    case 'int': w.int64(ATTR.type, ATTR_TYPE.int); w.int64(ATTR.i, a.value); break;
    case 'string': w.int64(ATTR.type, ATTR_TYPE.string); w.string(ATTR.s, a.value); break;
    case 'tensor': w.int64(ATTR.type, ATTR_TYPE.tensor); w.message(ATTR.t, () => writeTensor(w, '', a.value)); break;
    case 'graph': w.int64(ATTR.type, ATTR_TYPE.graph); w.message(ATTR.g, () => writeGraph(w, a.value)); break;
    // floats and ints are unpacked in onnx.proto (proto2), so write one tag per value as protoc does.
    case 'floats': w.int64(ATTR.type, ATTR_TYPE.floats); for (const v of a.value) w.float(ATTR.floats, v); break;
    case 'ints': w.int64(ATTR.type, ATTR_TYPE.ints); for (const v of a.value) w.int64(ATTR.ints, v); break;
    case 'strings': w.int64(ATTR.type, ATTR_TYPE.strings); for (const v of a.value) w.string(ATTR.strings, v); break;
  }
}

function writeNode(w: ProtoWriter, n: Node): void {
  for (const i of n.inputs) w.string(NODE.input, i);
  for (const o of n.outputs) w.string(NODE.output, o);
  if (n.name) w.string(NODE.name, n.name);
  w.string(NODE.opType, n.opType);
  if (n.domain) w.string(NODE.domain, n.domain);
  for (const [name, a] of Object.entries(n.attributes)) w.message(NODE.attribute, () => writeAttribute(w, name, a));
}

function writeGraph(w: ProtoWriter, g: Graph, place?: ExternalPlacement): void {
  for (const n of g.nodes) w.message(GRAPH.node, () => writeNode(w, n));
  w.string(GRAPH.name, g.name || 'graph');
  for (const [name, t] of g.initializers) w.message(GRAPH.initializer, () => writeTensor(w, name, t, place), place ? 0 : t.data.byteLength);
  for (const v of g.inputs) w.message(GRAPH.input, () => writeValueInfo(w, v));
  for (const v of g.outputs) w.message(GRAPH.output, () => writeValueInfo(w, v));
}

/**
 * Encodes a Model as an ONNX ModelProto, tensors as raw_data; the result loads in onnxruntime-node. With `place`,
 * the initialisers it answers for are written as external-data references instead (a model over protobuf's 2 GiB).
 */
export function encodeModel(model: Model, place?: ExternalPlacement): Uint8Array {
  let tensorBytes = 0;
  if (!place) for (const t of model.graph.initializers.values()) tensorBytes += t.data.byteLength;
  const w = new ProtoWriter(Math.max(1 << 16, tensorBytes + (tensorBytes >> 4) + 4096));
  w.int64(MODEL.irVersion, Math.max(WRITTEN_IR_VERSION, model.irVersion || 0));
  w.string(MODEL.producerName, model.producerName || 'i2f-privacy-lint');
  if (model.producerVersion) w.string(MODEL.producerVersion, model.producerVersion);
  w.message(MODEL.graph, () => writeGraph(w, model.graph, place), tensorBytes);
  for (const o of model.opsets)
    w.message(MODEL.opsetImport, () => {
      if (o.domain) w.string(OPSET.domain, o.domain);
      w.int64(OPSET.version, o.version);
    });
  writeMetadataProps(w, model.metadataProps);
  return w.finish();
}

function writeMetadataProps(w: ProtoWriter, props: Record<string, string> | undefined): void {
  for (const [key, value] of Object.entries(props ?? {}))
    w.message(MODEL.metadataProps, () => {
      w.string(ENTRY.key, key);
      w.string(ENTRY.value, value);
    });
}

/**
 * ModelProto.metadata_props entries as bytes that may be appended to an encoded ModelProto: protobuf merges a
 * repeated field written after the others, so a file gains them without being decoded (a 300 MB export stays as it is).
 */
export function encodeMetadataProps(props: Record<string, string>): Uint8Array {
  const w = new ProtoWriter(1024);
  writeMetadataProps(w, props);
  return w.finish();
}

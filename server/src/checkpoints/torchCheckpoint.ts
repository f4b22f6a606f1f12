// PyTorch checkpoints (`torch.save`) read as data: the zip format (PyTorch ≥ 1.6: `<name>/data.pkl`, one entry
// `<name>/data/<key>` per storage, `<name>/byteorder`) and the legacy one (`_use_new_zipfile_serialization=False`:
// a magic number, protocol and sys-info pickles, the object pickle, the storage keys, then each storage as an
// int64 element count and its bytes). The object pickle goes through pickleMachine.ts with only the globals a
// state_dict needs; tensors are views (storage, offset, size, stride) decoded to contiguous arrays on use.

import { UserError } from '../errors';
import type { DType, Tensor } from '../graph/ir';
import { typedFromBytes } from '../graph/tensorBytes';
import { IR_DTYPE_OF, type CheckpointTensor } from './checkpointTensor';
import { describe, PyDict, PySet, PyTuple, unpickle, type PyGlobal, type PyOpaque, type PyValue, type UnpicklePolicy } from './pickleMachine';
import { looksLikeZip, ZipArchive } from './zipArchive';

/** torch.<X>Storage → element type and width in bytes. */
const STORAGE_TYPES: Record<string, { dtype: string; width: number }> = {
  FloatStorage: { dtype: 'float32', width: 4 },
  DoubleStorage: { dtype: 'float64', width: 8 },
  HalfStorage: { dtype: 'float16', width: 2 },
  BFloat16Storage: { dtype: 'bfloat16', width: 2 },
  LongStorage: { dtype: 'int64', width: 8 },
  IntStorage: { dtype: 'int32', width: 4 },
  ShortStorage: { dtype: 'int16', width: 2 },
  CharStorage: { dtype: 'int8', width: 1 },
  ByteStorage: { dtype: 'uint8', width: 1 },
  BoolStorage: { dtype: 'bool', width: 1 },
  ComplexFloatStorage: { dtype: 'complex64', width: 8 },
  ComplexDoubleStorage: { dtype: 'complex128', width: 16 },
  UntypedStorage: { dtype: 'uint8', width: 1 },
};

/** An expanded view (stride 0) is decoded up to this many elements; a larger one is refused as hostile. */
const MAX_EXPANDED_ELEMENTS = 2 ** 24;

/** The legacy format's first pickle: torch/serialization.py's MAGIC_NUMBER. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

interface StorageType extends PyGlobal {
  dtype: string;
  width: number;
}

class TorchStorage implements PyOpaque {
  readonly kind = 'opaque';
  readonly type = 'storage';
  private data?: Uint8Array;
  constructor(
    readonly dtype: string,
    readonly width: number,
    readonly key: string,
    /** Elements, as the persistent id says. */
    readonly numel: number,
    private readonly readBytes: () => Uint8Array,
    readonly littleEndian: () => boolean,
  ) {}

  bytes(): Uint8Array {
    this.data ??= this.readBytes();
    return this.data;
  }
}

/** A strided view of a storage, as `torch._utils._rebuild_tensor_v2` describes it. */
export class TorchTensor implements PyOpaque, CheckpointTensor {
  readonly kind = 'opaque';
  readonly type = 'tensor';
  constructor(
    private readonly storage: TorchStorage,
    private readonly offset: number,
    readonly dims: number[],
    private readonly stride: number[],
    private readonly file: string,
  ) {}

  get sourceDtype(): string {
    return this.storage.dtype;
  }

  load(): Tensor {
    const { dtype: source, width } = this.storage;
    const target = IR_DTYPE_OF[source];
    if (!target) throw new UserError('unsupported-dtype', `storage ${this.storage.key} holds ${source} elements, which the analysis cannot use`, { file: this.file });
    const bytes = this.storage.bytes();
    const count = this.dims.reduce((a, d) => a * d, 1);
    if (bytes.length < this.storage.numel * width) {
      throw new UserError('corrupt-weights', `storage ${this.storage.key} should hold ${this.storage.numel} ${source} elements (${this.storage.numel * width} bytes) but has ${bytes.length} bytes (truncated?)`, { file: this.file });
    }
    // The last element the view reads must lie inside the storage (a hostile stride could point anywhere).
    if (count > 0) {
      let last = this.offset;
      for (let i = 0; i < this.dims.length; i++) last += (this.dims[i] - 1) * this.stride[i];
      if (this.offset < 0 || last >= this.storage.numel || this.stride.some((s) => s < 0)) {
        throw new UserError('corrupt-weights', `a tensor of shape [${this.dims}] with offset ${this.offset} and stride [${this.stride}] reads past storage ${this.storage.key} (${this.storage.numel} elements)`, { file: this.file });
      }
    }
    // A view may repeat elements (stride 0, torch's expand), but not into a tensor far larger than any storage.
    if (count > this.storage.numel && count > MAX_EXPANDED_ELEMENTS) {
      throw new UserError('corrupt-weights', `a tensor of shape [${this.dims}] is a view of storage ${this.storage.key} with only ${this.storage.numel} elements`, { file: this.file });
    }
    const packed = gatherStrided(bytes, width, this.offset, this.dims, this.stride, count);
    const little = this.storage.littleEndian();
    if (source === 'bfloat16') return { dtype: 'float32', dims: [...this.dims], data: widenBfloat16(packed, little) };
    if (source === 'int16') return { dtype: 'int32', dims: [...this.dims], data: widenInt16(packed, little) };
    return { dtype: target, dims: [...this.dims], data: typedFromBytes(target as DType, packed, little) };
  }
}

/** The view's elements in row-major order (a plain copy when the view is already contiguous). */
function gatherStrided(bytes: Uint8Array, width: number, offset: number, dims: number[], stride: number[], count: number): Uint8Array {
  let contiguous = true;
  for (let i = dims.length - 1, expect = 1; i >= 0; i--) {
    if (dims[i] !== 1 && stride[i] !== expect) contiguous = false;
    expect *= dims[i];
  }
  if (contiguous) return bytes.slice(offset * width, (offset + count) * width);
  const out = new Uint8Array(count * width);
  const index = new Array<number>(dims.length).fill(0);
  let src = offset;
  for (let n = 0; n < count; n++) {
    out.set(bytes.subarray(src * width, src * width + width), n * width);
    // Odometer over the view's index: bump the last axis, carry into earlier ones.
    for (let a = dims.length - 1; a >= 0; a--) {
      index[a]++;
      src += stride[a];
      if (index[a] < dims[a]) break;
      src -= stride[a] * dims[a];
      index[a] = 0;
    }
  }
  return out;
}

function widenBfloat16(packed: Uint8Array, little: boolean): Float32Array {
  const out = new Float32Array(packed.length / 2);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) {
    const hi = little ? packed[2 * i + 1] : packed[2 * i];
    const lo = little ? packed[2 * i] : packed[2 * i + 1];
    bits[i] = ((hi << 8) | lo) << 16;
  }
  return out;
}

function widenInt16(packed: Uint8Array, little: boolean): Int32Array {
  const out = new Int32Array(packed.length / 2);
  const v = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = v.getInt16(2 * i, little);
  return out;
}

function intList(v: PyValue, what: string, fail: (m: string) => UserError): number[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined;
  if (!items || !items.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) throw fail(`${what} is ${describe(v)}, not a tuple of sizes`);
  return items as number[];
}

/** The allow-list: what a state_dict (and a Lightning checkpoint's bookkeeping) pickles, nothing that runs code. */
function torchPolicy(file: string, source: string, resolveStorage: (pid: PyTuple, type: StorageType, at: number) => TorchStorage): UnpicklePolicy {
  const fail = (at: number) => (m: string) => new UserError('corrupt-weights', `${source}, byte ${at}: ${m}`, { file });
  const rebuildTensor = (args: PyValue[], at: number): TorchTensor => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof TorchStorage)) throw fail(at)(`a tensor is rebuilt from ${describe(storage)}, not a storage`);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) throw fail(at)(`a tensor's storage offset is ${describe(offset)}`);
    const dims = intList(size, 'a tensor size', fail(at));
    const strides = intList(stride, 'a tensor stride', fail(at));
    if (strides.length !== dims.length) throw fail(at)(`a tensor has ${dims.length} sizes but ${strides.length} strides`);
    return new TorchTensor(storage, offset, dims, strides, file);
  };
  const fn = (module: string, name: string, call: PyGlobal['call']): PyGlobal => ({ kind: 'global', module, name, call });
  const firstTensor = (args: PyValue[], at: number) => {
    if (!(args[0] instanceof TorchTensor)) throw fail(at)(`a parameter wraps ${describe(args[0])}, not a tensor`);
    return args[0];
  };
  const allowed: Record<string, () => PyGlobal> = {
    'collections.OrderedDict': () => fn('collections', 'OrderedDict', (args, at) => {
      const d = new PyDict('OrderedDict');
      if (args.length && Array.isArray(args[0])) {
        for (const pair of args[0]) {
          if (!(pair instanceof PyTuple || Array.isArray(pair))) throw fail(at)('OrderedDict built from something that is not (key, value) pairs');
          const kv = pair instanceof PyTuple ? pair.items : pair;
          d.map.set(kv[0], kv[1]);
        }
      }
      return d;
    }),
    'builtins.dict': () => fn('builtins', 'dict', () => new PyDict()),
    'builtins.set': () => fn('builtins', 'set', (args) => new PySet(Array.isArray(args[0]) ? [...args[0]] : [])),
    'builtins.frozenset': () => fn('builtins', 'frozenset', (args) => new PySet(Array.isArray(args[0]) ? [...args[0]] : [], true)),
    // Protocol 2 pickles Python 3 bytes as _codecs.encode(text, 'latin1'): pure data.
    '_codecs.encode': () => fn('_codecs', 'encode', (args, at) => {
      if (typeof args[0] !== 'string' || (args[1] !== 'latin1' && args[1] !== 'latin-1')) throw fail(at)('_codecs.encode with anything but (text, "latin1")');
      return Uint8Array.from(args[0], (c) => c.charCodeAt(0) & 0xff);
    }),
    'torch._utils._rebuild_tensor_v2': () => fn('torch._utils', '_rebuild_tensor_v2', rebuildTensor),
    'torch._utils._rebuild_tensor': () => fn('torch._utils', '_rebuild_tensor', rebuildTensor),
    'torch._utils._rebuild_parameter': () => fn('torch._utils', '_rebuild_parameter', firstTensor),
    'torch._utils._rebuild_parameter_with_state': () => fn('torch._utils', '_rebuild_parameter_with_state', firstTensor),
    // Tensor subclasses (Parameter in recent PyTorch): the rebuild function must itself be one of ours.
    'torch._tensor._rebuild_from_type_v2': () => fn('torch._tensor', '_rebuild_from_type_v2', (args, at) => {
      const [func, , inner] = args;
      if (typeof func !== 'object' || func === null || !('kind' in func) || func.kind !== 'global' || !func.call || !(inner instanceof PyTuple)) throw fail(at)('_rebuild_from_type_v2 with an unexpected rebuild function');
      return func.call(inner.items, at);
    }),
    'torch.Tensor': () => fn('torch', 'Tensor', undefined),
    'torch.nn.parameter.Parameter': () => fn('torch.nn.parameter', 'Parameter', undefined),
    'torch.device': () => fn('torch', 'device', (args) => (typeof args[0] === 'string' ? args[0] : 'cpu')),
    'torch.Size': () => fn('torch', 'Size', (args) => new PyTuple(Array.isArray(args[0]) ? [...args[0]] : args[0] instanceof PyTuple ? [...args[0].items] : [])),
  };
  for (const [name, t] of Object.entries(STORAGE_TYPES)) {
    allowed[`torch.${name}`] = () => ({ kind: 'global', module: 'torch', name, ...t }) as StorageType;
  }
  return {
    source,
    file,
    findGlobal: (module, name) => (Object.hasOwn(allowed, `${module}.${name}`) ? allowed[`${module}.${name}`]() : undefined),
    persistentLoad: (pid, at) => {
      if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage') throw new UserError('unsafe-checkpoint', `${source}, byte ${at}: a persistent id that is not a storage (${describe(pid)})`, { file });
      const type = pid.items[1];
      if (typeof type !== 'object' || type === null || !('kind' in type) || type.kind !== 'global' || !('dtype' in type)) throw fail(at)(`a storage of type ${describe(type)}`);
      return resolveStorage(pid, type as StorageType, at);
    },
  };
}

export interface TorchCheckpoint {
  /** The unpickled object: a dict of tensors, or a dict holding one (Lightning, `{'model': sd}`). */
  root: PyValue;
  format: 'zip' | 'legacy';
}

/** True when the bytes are a torch.save file of either format (a zip with a data.pkl, or the legacy magic pickle). */
export function looksLikeTorchSave(bytes: Uint8Array): boolean {
  return looksLikeZip(bytes) || (bytes.length > 2 && bytes[0] === 0x80 && bytes[1] <= 5);
}

export function decodeTorchCheckpoint(bytes: Uint8Array, file: string): TorchCheckpoint {
  if (looksLikeZip(bytes)) return decodeZip(bytes, file);
  if (bytes.length > 2 && bytes[0] === 0x80) return decodeLegacy(bytes, file);
  throw new UserError('corrupt-weights', 'not a PyTorch checkpoint: neither a zip archive (torch.save since 1.6) nor a pickle (the legacy format)', { file });
}

function decodeZip(bytes: Uint8Array, file: string): TorchCheckpoint {
  const zip = new ZipArchive(bytes, file);
  const pkl = [...zip.entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (pkl.length !== 1) {
    throw new UserError('corrupt-weights', pkl.length ? `the archive has ${pkl.length} data.pkl entries` : `the zip archive has no data.pkl: not a torch.save file (entries: ${[...zip.entries.keys()].slice(0, 5).join(', ')})`, { file });
  }
  const prefix = pkl[0].slice(0, -'data.pkl'.length);
  const orderEntry = `${prefix}byteorder`;
  // Files written before PyTorch recorded the byte order are little-endian (every platform that wrote them).
  const little = !zip.entries.has(orderEntry) || new TextDecoder().decode(zip.read(orderEntry)).trim() !== 'big';
  const storages = new Map<string, TorchStorage>();
  const policy = torchPolicy(file, `${pkl[0]}`, (pid, type, at) => {
    const [, , key, , numel] = pid.items;
    if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
      throw new UserError('corrupt-weights', `${pkl[0]}, byte ${at}: a storage id is (${pid.items.map((i) => describe(i)).join(', ')})`, { file });
    }
    let s = storages.get(key);
    if (!s) {
      const entry = `${prefix}data/${key}`;
      if (!zip.entries.has(entry)) throw new UserError('corrupt-weights', `storage '${key}' has no entry ${entry} in the archive`, { file });
      s = new TorchStorage(type.dtype, type.width, key, numel, () => zip.read(entry), () => little);
      storages.set(key, s);
    }
    return s;
  });
  return { root: unpickle(zip.read(pkl[0]), policy).value, format: 'zip' };
}

function decodeLegacy(bytes: Uint8Array, file: string): TorchCheckpoint {
  // The three header pickles hold only plain data: no global is allowed in them at all.
  const plain: UnpicklePolicy = { source: 'the legacy header', file, findGlobal: () => undefined };
  const magic = unpickle(bytes, plain);
  if (magic.value !== LEGACY_MAGIC) {
    throw new UserError('corrupt-weights', 'a pickle, but not a torch.save file (no PyTorch magic number): a checkpoint is read only in the formats torch.save writes', { file });
  }
  const protocol = unpickle(bytes, plain, magic.end);
  if (protocol.value !== 1001) throw new UserError('corrupt-weights', `legacy torch.save protocol ${describe(protocol.value)}; only 1001 is read`, { file });
  const sysInfo = unpickle(bytes, plain, protocol.end);
  const info = sysInfo.value instanceof PyDict ? sysInfo.value.map : new Map();
  const little = info.get('little_endian') !== false;

  const storages = new Map<string, TorchStorage>();
  const data = new Map<string, Uint8Array>();
  const policy = torchPolicy(file, 'the legacy object pickle', (pid, type, at) => {
    // ('storage', type, root_key, location, numel, view_metadata): views of a larger storage were written by
    // PyTorch < 1.0 only; refuse them rather than guess.
    const [, , key, , numel, view] = pid.items;
    if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
      throw new UserError('corrupt-weights', `legacy pickle, byte ${at}: a storage id is (${pid.items.map((i) => describe(i)).join(', ')})`, { file });
    }
    if (view !== null && view !== undefined) throw new UserError('unsupported-checkpoint', 'storage views from PyTorch < 1.0 are not read; re-save the state_dict with a current PyTorch', { file });
    let s = storages.get(key);
    if (!s) {
      s = new TorchStorage(type.dtype, type.width, key, numel, () => {
        const d = data.get(key);
        if (!d) throw new UserError('corrupt-weights', `storage '${key}' is named but its bytes are not in the file`, { file });
        return d;
      }, () => little);
      storages.set(key, s);
    }
    return s;
  });
  const main = unpickle(bytes, policy, sysInfo.end);
  const keys = unpickle(bytes, plain, main.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) throw new UserError('corrupt-weights', 'the legacy storage key list is not a list of strings', { file });
  // Each storage: its element count (int64, the writer's byte order) then the elements.
  let at = keys.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys.value as string[]) {
    const s = storages.get(key);
    if (!s) throw new UserError('corrupt-weights', `the legacy key list names storage '${key}', which no tensor uses`, { file });
    if (at + 8 > bytes.length) throw new UserError('corrupt-weights', `storage '${key}' starts past the end of the file (truncated?)`, { file });
    const n = Number(view.getBigInt64(at, little));
    const length = n * s.width;
    if (n < 0 || at + 8 + length > bytes.length) throw new UserError('corrupt-weights', `storage '${key}' claims ${n} elements, past the end of the file (truncated?)`, { file });
    data.set(key, bytes.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  return { root: main.value, format: 'legacy' };
}

// Reads and writes NumPy .npy arrays (format versions 1–3, little-endian, C order) without evaluating the header.

import { promises as fs } from 'node:fs';
import type { DType, Tensor } from '../graph/ir';
import { UserError } from '../errors';
import { bytesPerElement, typedFromBytes } from '../graph/tensorBytes';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

// Single-byte types carry '|' (no byte order) in files numpy writes; '<' is accepted for them too.
const DTYPE_OF_DESCR: Record<string, DType> = {
  '<f4': 'float32', '<f8': 'float64', '<f2': 'float16', '<i8': 'int64', '<i4': 'int32',
  '|u1': 'uint8', '<u1': 'uint8', '|i1': 'int8', '<i1': 'int8', '|b1': 'bool', '<b1': 'bool',
};
const DESCR_OF_DTYPE: Record<DType, string> = {
  float32: '<f4', float64: '<f8', float16: '<f2', int64: '<i8', int32: '<i4', uint8: '|u1', int8: '|i1', bool: '|b1',
};

function corrupt(file: string | undefined, message: string): UserError {
  return new UserError('corrupt-data', message, { file });
}

type PyValue = string | number | boolean | PyValue[] | { [k: string]: PyValue };

/**
 * Parses the header's Python literal (a dict of str, bool, int and tuples). numpy itself uses ast.literal_eval;
 * this is the same small subset, with no evaluation of anything else.
 */
function parseHeader(text: string, file: string | undefined): Record<string, PyValue> {
  let i = 0;
  const fail = (what: string) => corrupt(file, `cannot parse the .npy header (${what} at character ${i}): ${text.trim()}`);
  const ws = () => { while (i < text.length && /\s/.test(text[i])) i++; };
  const value = (depth: number): PyValue => {
    if (depth > 8) throw fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw fail('unterminated string');
      const s = text.slice(i + 1, end);
      i = end + 1;
      return s;
    }
    if (c === '{' || c === '(' || c === '[') {
      const close = c === '{' ? '}' : c === '(' ? ')' : ']';
      i++;
      const items: PyValue[] = [];
      const dict: Record<string, PyValue> = {};
      for (;;) {
        ws();
        if (text[i] === close) { i++; break; }
        const item = value(depth + 1);
        if (c === '{') {
          ws();
          if (text[i] !== ':' || typeof item !== 'string') throw fail("expected ':' after a string key");
          i++;
          dict[item] = value(depth + 1);
        } else items.push(item);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== close) throw fail(`expected ',' or '${close}'`);
      }
      return c === '{' ? dict : items;
    }
    const m = /^(True|False|-?\d+)L?/.exec(text.slice(i, i + 32));
    if (!m) throw fail('unexpected token');
    i += m[0].length;
    return m[1] === 'True' ? true : m[1] === 'False' ? false : Number(m[1]);
  };
  const v = value(0);
  if (typeof v !== 'object' || Array.isArray(v)) throw fail('not a dict');
  return v;
}

/** Decodes a .npy file held in memory into a tensor (a copy, aligned). */
export function decodeNpy(bytes: Uint8Array, file?: string): Tensor {
  if (bytes.length < 10 || MAGIC.some((b, k) => bytes[k] !== b)) throw corrupt(file, 'not a .npy file (no \\x93NUMPY signature)');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw corrupt(file, 'the .npy header is cut off');
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else {
    throw new UserError('unsupported-data', `.npy format version ${major}.${bytes[7]} is not supported (versions 1, 2 and 3 are)`, { file });
  }
  if (headerStart + headerLength > bytes.length) throw corrupt(file, `the header declares ${headerLength} bytes but the file is only ${bytes.length} bytes`);
  const headerBytes = bytes.subarray(headerStart, headerStart + headerLength);
  // Versions 1 and 2 use latin-1 headers, version 3 UTF-8; the keys and values we read are ASCII either way.
  const header = parseHeader(new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(headerBytes), file);

  const descr = header.descr;
  if (typeof descr !== 'string')
    throw new UserError('unsupported-dtype', 'the array has a structured dtype (a record of fields); save a plain numeric array', { file });
  // Own keys only: a descr of 'constructor' would find Object.prototype's member.
  const dtype = Object.hasOwn(DTYPE_OF_DESCR, descr) ? DTYPE_OF_DESCR[descr] : undefined;
  if (!dtype) {
    const hint = descr.startsWith('>') ? ' (big-endian: save arr.astype(arr.dtype.newbyteorder("<")))' : '';
    throw new UserError('unsupported-dtype', `the array's dtype '${descr}' is not supported${hint}; supported: float32, float64, float16, int64, int32, int8, uint8, bool`, { file });
  }
  if (header.fortran_order !== false) {
    if (header.fortran_order === true)
      throw new UserError('unsupported-data', 'the array is stored in Fortran (column-major) order; save np.ascontiguousarray(arr) instead', { file });
    throw corrupt(file, 'the header has no fortran_order');
  }
  const shape = header.shape;
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0))
    throw corrupt(file, `the header's shape ${JSON.stringify(shape)} is not a tuple of non-negative integers`);
  const dims = shape as number[];
  let count = 1;
  for (const d of dims) count *= d;
  const need = count * bytesPerElement(dtype);
  const dataStart = headerStart + headerLength;
  // Checked before allocating: the shape is only a claim until the bytes are there.
  if (need > bytes.length - dataStart)
    throw corrupt(file, `shape (${dims.join(', ')}) of ${descr} needs ${need} bytes of data, but the file has ${bytes.length - dataStart} (truncated?)`);
  return { dtype, dims, data: typedFromBytes(dtype, bytes.subarray(dataStart, dataStart + need)) };
}

/** Reads a .npy file (or decodes bytes already in memory). */
export async function readNpy(source: string | Uint8Array): Promise<Tensor> {
  if (typeof source !== 'string') return decodeNpy(source);
  let bytes: Buffer;
  try {
    // A device or FIFO would be read forever: regular files only.
    if (!(await fs.stat(source)).isFile()) throw new Error('not a regular file (a device, pipe or socket)');
    bytes = await fs.readFile(source);
  } catch (e) {
    throw new UserError('data-not-found', `cannot read the data file: ${(e as Error).message}`, { file: source });
  }
  return decodeNpy(bytes, source);
}

/** Encodes a tensor as a .npy file numpy loads (version 1 header, or 2 past 64 KiB), C order, little-endian. */
export function writeNpy(tensor: Tensor): Uint8Array {
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  const dict = `{'descr': '${DESCR_OF_DTYPE[tensor.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // numpy pads the header with spaces and a final newline so the data starts at a multiple of 64 bytes.
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLength = total - prefix;
  const out = new Uint8Array(total + tensor.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = prefix === 10 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (prefix === 10) view.setUint16(8, headerLength, true);
  else view.setUint32(8, headerLength, true);
  for (let k = 0; k < dict.length; k++) out[prefix + k] = dict.charCodeAt(k);
  out.fill(0x20, prefix + dict.length, total - 1);
  out[total - 1] = 0x0a;
  out.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength), total);
  return out;
}

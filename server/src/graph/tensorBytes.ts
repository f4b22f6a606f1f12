// Tensor element bytes ⇄ the IR's typed arrays: shared by every reader of raw tensor data (ONNX raw_data, .npy,
// safetensors, PyTorch storages), so each file format only says where the bytes are and in which order.

import type { DType, TypedArray } from './ir';

/** Every Node platform is little-endian today; the check keeps big-endian hosts correct rather than assumed. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE 754 half-precision bits → number (float16 tensors are kept as their raw bits, Uint16Array). */
export function halfToNumber(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'float64': case 'int64': return 8;
    case 'float32': case 'int32': return 4;
    case 'float16': return 2;
    default: return 1;
  }
}

/** A zero-filled typed array of the IR's representation of `dtype`. */
export function allocTyped(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(n);
    case 'float64': return new Float64Array(n);
    case 'float16': return new Uint16Array(n);
    case 'int8': return new Int8Array(n);
    case 'uint8': case 'bool': return new Uint8Array(n);
    case 'int32': return new Int32Array(n);
    case 'int64': return new BigInt64Array(n);
  }
}

/**
 * Copies element bytes (little-endian unless `littleEndian` is false) into a fresh, aligned typed array: raw data
 * inside a container sits at an arbitrary offset, so a view would be misaligned, and it would pin the whole file's
 * buffer in memory.
 */
export function typedFromBytes(dtype: DType, bytes: Uint8Array, littleEndian = true): TypedArray {
  const width = bytesPerElement(dtype);
  const out = allocTyped(dtype, bytes.length / width);
  const dst = new Uint8Array(out.buffer);
  if (HOST_LITTLE_ENDIAN === littleEndian || width === 1) dst.set(bytes);
  else for (let i = 0; i < bytes.length; i += width) for (let k = 0; k < width; k++) dst[i + k] = bytes[i + width - 1 - k];
  return out;
}

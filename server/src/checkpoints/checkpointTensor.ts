// A tensor of a checkpoint, decoded only when used: a Lightning `.ckpt` or a Trainer folder carries optimizer
// state two or three times the size of the weights, and none of it needs converting.

import type { DType, Tensor } from '../graph/ir';

export interface CheckpointTensor {
  dims: number[];
  /** The element type as the file names it (`float32`, `bfloat16`, `complex64`…). */
  sourceDtype: string;
  /** The tensor in the IR's representation, contiguous (row-major). Throws a UserError for types the IR lacks. */
  load(): Tensor;
}

/** A tensor already decoded (safetensors, tests). */
export function decodedTensor(t: Tensor): CheckpointTensor {
  return { dims: t.dims, sourceDtype: t.dtype, load: () => t };
}

/** The element types a checkpoint may hold and how the IR carries each (bfloat16 widens exactly to float32). */
export const IR_DTYPE_OF: Record<string, DType | undefined> = {
  float32: 'float32', float64: 'float64', float16: 'float16', bfloat16: 'float32',
  int64: 'int64', int32: 'int32', int16: 'int32', int8: 'int8', uint8: 'uint8', bool: 'bool',
};

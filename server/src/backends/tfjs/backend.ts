// Chooses and starts the tfjs backend: tfjs-node when installed (an optionalDependency whose install downloads
// libtensorflow, so usually absent), else WASM (SIMD, one thread: MEASURED.md), or the plain-JS CPU backend for
// tiny models, where WASM's per-kernel call overhead dominates.

import * as tf from '@tensorflow/tfjs-core';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { installPatchedGradients } from './gradients';
import { UserError } from '../../errors';

export type TfjsBackendChoice = 'auto' | 'cpu' | 'wasm' | 'tensorflow';

let cpuLoaded = false;
let wasmLoaded = false;
let nodeTried: boolean | undefined;

/** True when @tensorflow/tfjs-node resolves and loads (then its 'tensorflow' backend is registered). */
export function tfjsNodeAvailable(): boolean {
  if (nodeTried === undefined) {
    try {
      require.resolve('@tensorflow/tfjs-node');
      require('@tensorflow/tfjs-node');
      nodeTried = true;
    } catch {
      nodeTried = false;
    }
  }
  return nodeTried;
}

/** Folder holding tfjs-backend-wasm's .wasm binaries (node_modules at run time; next to the bundle if copied). */
export function wasmBinaryFolder(): string {
  const candidates: string[] = [];
  try {
    candidates.push(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist'));
  } catch {
    // not resolvable from here (a bundle shipped without node_modules)
  }
  candidates.push(join(__dirname, 'wasm'), join(__dirname, '..', 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist'));
  const found = candidates.find((c) => existsSync(join(c, 'tfjs-backend-wasm-simd.wasm')));
  // An incomplete installation, not a bug: said as such (the CLI prints a UserError without 'internal error').
  if (!found) throw new UserError('tfjs-unavailable', `tfjs-backend-wasm binaries not found (looked in ${candidates.join(', ')}): the installation is incomplete; reinstall, or use the ONNX engine (--backend onnx)`);
  return found;
}

/** Makes `choice` the active tfjs backend (loading it on first use) and installs the patched gradients. */
export async function activateBackend(choice: Exclude<TfjsBackendChoice, 'auto'>): Promise<string> {
  installPatchedGradients();
  if (choice === 'tensorflow') {
    if (!tfjsNodeAvailable()) throw new Error('@tensorflow/tfjs-node is not installed');
  } else if (choice === 'cpu' && !cpuLoaded) {
    require('@tensorflow/tfjs-backend-cpu');
    cpuLoaded = true;
  } else if (choice === 'wasm' && !wasmLoaded) {
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(wasmBinaryFolder() + '/');
    wasmLoaded = true;
  }
  if (tf.getBackend() !== choice) {
    const ok = await tf.setBackend(choice);
    if (!ok) throw new Error(`tfjs backend '${choice}' failed to initialise`);
  }
  await tf.ready();
  return choice;
}

/** 'auto': tfjs-node if present; the CPU backend below ~20k parameters without convolutions; WASM otherwise. */
export function resolveBackend(choice: TfjsBackendChoice, size: { parameters: number; hasConv: boolean }): Exclude<TfjsBackendChoice, 'auto'> {
  if (choice !== 'auto') return choice;
  if (tfjsNodeAvailable()) return 'tensorflow';
  return size.parameters < 20_000 && !size.hasConv ? 'cpu' : 'wasm';
}

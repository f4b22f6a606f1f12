// Where results that outlive a process are kept: $I2F_CACHE_DIR, else $XDG_CACHE_HOME/i2f-privacy-lint, else
// ~/.cache/i2f-privacy-lint. At the bottom of the layers: the analysis cache and the privacy memo both use it.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function defaultCacheDir(): string {
  if (process.env.I2F_CACHE_DIR) return resolve(process.env.I2F_CACHE_DIR);
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'i2f-privacy-lint');
}

// The run's own choice: the CLI's --cache-dir (or --no-cache), the editor's extension storage. Unset: the default.
let chosen: string | null | undefined;

/** Sets where this process keeps what outlives it; null keeps nothing on disk (`i2f audit --no-cache`), undefined the default. */
export function useCacheDir(dir: string | null | undefined): void {
  chosen = dir;
}

/** The folder for results that outlive the process (the σ memo), or undefined when the run asked for none. */
export function persistentCacheDir(): string | undefined {
  return chosen === null ? undefined : (chosen ?? defaultCacheDir());
}

// Where results that outlive a process are kept: $I2F_CACHE_DIR, else $XDG_CACHE_HOME/i2f-privacy-lint, else
// ~/.cache/i2f-privacy-lint. At the bottom of the layers: the analysis cache and the privacy memo both use it.

import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export function defaultCacheDir(): string {
  if (process.env.I2F_CACHE_DIR) return resolve(process.env.I2F_CACHE_DIR);
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'i2f-privacy-lint');
}

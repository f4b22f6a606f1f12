// A module the TypeScript side writes for the export bridge to load by path, in place of a file it must not run (a
// notebook's definitions: notebookModel.ts; a script's whose top level trains: scriptModel.ts). Written once into the
// cache, in a folder named by its contents (the bridge's own cache then keys on that path), atomically.

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';

/** How the bridge loads a generated module, and how its lines are said in the source's terms. */
export interface GeneratedFactory {
  /** `<generated>:Name`, for the bridge. */
  factory: string;
  /** The module file written (the bridge's `generated`). */
  generated: string;
  /** "line N of the module" (0-based) → "x.ipynb cell C, line L" / "x.py line L". */
  place: (moduleLine: number) => string | undefined;
}

/** Writes `text` as `<cacheDir>/<folder>/<hash>/<fileName>` unless it is there already; returns its path. */
export async function writeGeneratedModule(cacheDir: string, folder: string, fileName: string, text: string): Promise<string> {
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const dir = join(cacheDir, folder, hash);
  const generated = join(dir, fileName);
  if (!existsSync(generated)) {
    await fs.mkdir(dir, { recursive: true });
    const tmp = `${generated}.${randomBytes(6).toString('hex')}.tmp`;
    await fs.writeFile(tmp, `${text}\n`);
    await fs.rename(tmp, generated);
  }
  return generated;
}

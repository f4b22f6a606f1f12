// A model class defined in a standalone script whose top level must not run, made importable for the export bridge:
// the script's imports, the definitions the class needs and the constants they read (pysource/scriptDefinitions.ts)
// are written as a module into the cache, and the bridge loads that file by path with the script's folder as its root
// (modules beside the script import as they do when it runs). The module keeps the script's line numbers, so a
// traceback through it is said as the script's lines. The script is read again here: it may have changed since the
// reading that chose this way, and nothing runs before what is kept has been checked again.

import { existsSync, promises as fs } from 'node:fs';
import { basename, join } from 'node:path';
import { UserError } from '../errors';
import { importHazard, importHazardMessage } from '../pysource/importSafety';
import { indexModule } from '../pysource/moduleIndex';
import { parsePython, pythonParser } from '../pysource/pythonParser';
import { definitionsNote, definitionsRefusal, scriptDefinitions } from '../pysource/scriptDefinitions';
import { writeGeneratedModule, type GeneratedFactory } from './generatedModule';

export interface ScriptFactory extends GeneratedFactory {
  /** For the report: built from the definitions, which, the constants read, what did not run. */
  note: string;
}

/**
 * The module for `script:Name` (`dcgan:Discriminator`, or `dp-train.py:Net` by path, relative to root); undefined when
 * the script's top level is safe to import, or the module is not a .py file under root (an installed package, a
 * package's `__init__.py`): the bridge then imports it itself.
 */
export async function scriptFactory(factory: string, root: string, cacheDir: string): Promise<ScriptFactory | undefined> {
  const [module, name] = factory.split(':');
  const file = module.endsWith('.py') ? join(root, module) : `${join(root, ...module.split('.'))}.py`;
  if (!existsSync(file)) return undefined;
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new UserError('script-not-read', `${basename(file)} could not be read to build ${name}: ${(e as Error).message}`);
  }
  const parser = await pythonParser();
  const parsed = parsePython(parser, text);
  if (parsed.kind !== 'tree') throw new UserError('script-not-read', `${basename(file)} could not be read to build ${name}: ${parsed.message}`);
  try {
    const index = indexModule(file, text, parsed.tree);
    const hazard = importHazard(file, index.root);
    if (!hazard) return undefined;
    const defs = scriptDefinitions(parser, index, name, hazard);
    if (defs.kind === 'refused') throw new UserError('script-import-hazard', `${importHazardMessage(file, hazard)}; ${definitionsRefusal(file, defs)}`);
    if (!defs.module.defines.includes(name)) throw new UserError('script-not-read', `${name} is not defined at the top level of ${basename(file)}`);
    const generated = await writeGeneratedModule(cacheDir, 'script-modules', basename(file), defs.module.text);
    return {
      factory: `${generated}:${name}`,
      generated,
      place: (line) => `${basename(file)} line ${line + 1}`,
      note: definitionsNote(file, name, defs),
    };
  } finally {
    parsed.tree.delete();
  }
}

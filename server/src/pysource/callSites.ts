// The DP call sites of one Python module: each recognised call, its arguments' roles and their statically read values.

import type { Range } from '../config/keyTree';
import { nodeRange, type SyntaxNode } from './pythonParser';
import { callArguments, lastName, walk, type ModuleIndex } from './moduleIndex';
import { dpApiNamed, type ArgumentRole, type DpApi } from './dpApis';
import { resolveValue, type Resolution, type RunConfig } from './staticValue';

export interface CallSiteArgument {
  /** The library's parameter name. */
  parameter: string;
  role: ArgumentRole;
  /** The keyword (`noise_multiplier=`) or, for a positional argument, the value itself. */
  keyRange: Range;
  valueRange: Range;
  /** The argument as written. */
  text: string;
  resolution: Resolution;
  node: SyntaxNode;
}

export interface DpCallSite {
  api: DpApi;
  /** The name as written at the call (`make_private`, `DPKerasSGDOptimizer`). */
  name: string;
  file: string;
  /** The callee's range (`privacy_engine.make_private`), where facts about the call are located. */
  calleeRange: Range;
  range: Range;
  arguments: CallSiteArgument[];
  /** `**kwargs` or `*args` at the call: arguments we cannot see. */
  splat: boolean;
  node: SyntaxNode;
}

/** Whether the module imports one of the API's packages (the guard against unrelated functions of the same name). */
function imports(index: ModuleIndex, api: DpApi): boolean {
  return api.packages.some((p) => index.importedPackages.has(p));
}

export function findDpCallSites(index: ModuleIndex, runConfig?: RunConfig): DpCallSite[] {
  const sites: DpCallSite[] = [];
  const ctx = { module: index, ...(runConfig ? { runConfig } : {}) };
  for (const [name, calls] of index.calls) {
    const api = dpApiNamed(name);
    if (!api || api.referenceOnly || !imports(index, api)) continue;
    for (const call of calls) {
      const fn = call.childForFieldName('function')!;
      const args = callArguments(call);
      const found: CallSiteArgument[] = [];
      const seen = new Set<string>();
      const add = (parameter: string, keyNode: SyntaxNode, valueNode: SyntaxNode) => {
        const role = api.roles[parameter];
        if (!role || seen.has(parameter)) return;
        seen.add(parameter);
        found.push({ parameter, role, keyRange: nodeRange(keyNode), valueRange: nodeRange(valueNode), text: valueNode.text, resolution: resolveValue(ctx, valueNode), node: valueNode });
      };
      for (const [kw, a] of args.keyword) add(kw, a.name, a.value);
      args.positional.forEach((p, i) => {
        const parameter = api.params[i];
        if (parameter) add(parameter, p, p);
      });
      sites.push({ api, name, file: index.file, calleeRange: nodeRange(fn), range: nodeRange(call), arguments: found, splat: args.splat, node: call });
    }
  }
  // Flower's client mods and SecAgg+ are passed by name (`mods=[secaggplus_mod, fixedclipping_mod]`), not called.
  for (const n of walk(index.root)) {
    if (n.type !== 'identifier') continue;
    const api = dpApiNamed(n.text);
    if (!api?.referenceOnly || !imports(index, api)) continue;
    const parent = n.parent;
    if (parent?.type === 'import_from_statement' || parent?.type === 'dotted_name' || parent?.type === 'aliased_import') continue;
    if (parent?.type === 'attribute' && lastName(parent) !== n.text) continue;
    sites.push({ api, name: n.text, file: index.file, calleeRange: nodeRange(n), range: nodeRange(n), arguments: [], splat: false, node: n });
  }
  return sites.sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character);
}

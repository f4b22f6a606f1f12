// Values that stand for other values: NVFlare's `{VAR}` (filled from the same file's top-level variables),
// Hugging Face / DeepSpeed's "auto", environment variables. A value the tool fills in at run time is unknown
// here, never a type error: training accepts it.

import type { ConfigEntry, ScalarValue } from './keyTree';

/** NVFlare job configs: `"sigma0": "{SIGMA0}"` with `"SIGMA0": 0` at the top of the same file. */
const WHOLE_VARIABLE = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const ANY_VARIABLE = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Replaces NVFlare's `{NAME}` references by the top-level scalar NAME of the same file, as NVFlare's config
 * loader does (a whole-value reference takes the variable's type: `"{SIGMA0}"` with `SIGMA0: 0` is the number 0).
 * A whole-value reference to a name the file does not define stays unresolved, with the reason; embedded ones
 * (`"custom/{app_script}"`) are replaced only when every name is defined, and otherwise left as text.
 */
export function resolveFileVariables(entries: ConfigEntry[]): void {
  const variables = new Map<string, ScalarValue>();
  for (const e of entries) {
    if (e.path.length === 1 && !(typeof e.value === 'string' && WHOLE_VARIABLE.test(e.value))) variables.set(e.path[0], e.value);
  }
  for (const e of entries) {
    if (typeof e.value !== 'string' || e.interpolation || !e.value.includes('{')) continue;
    const expression = e.value;
    const whole = WHOLE_VARIABLE.exec(expression);
    if (whole) {
      if (variables.has(whole[1])) {
        e.value = variables.get(whole[1])!;
        e.interpolation = { expression, resolved: true };
      } else {
        e.interpolation = { expression, resolved: false, reason: `this file defines no top-level '${whole[1]}' (NVFlare fills {${whole[1]}} from the job's variables)` };
      }
      continue;
    }
    const names = [...expression.matchAll(ANY_VARIABLE)].map((m) => m[1]);
    if (names.length && names.every((n) => variables.has(n))) {
      e.value = expression.replace(ANY_VARIABLE, (_m, n: string) => String(variables.get(n) ?? ''));
      e.interpolation = { expression, resolved: true };
    }
  }
}

export interface Placeholder {
  /** Why the value is not known here, said to the user. */
  reason: string;
}

const ENVIRONMENT = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/;

/** A value training fills in at run time ("auto", `$NOISE`), or undefined for an ordinary value. */
export function placeholderOf(value: ScalarValue): Placeholder | undefined {
  if (typeof value !== 'string') return undefined;
  const v = value.trim();
  if (/^auto$/i.test(v)) return { reason: `'auto' is filled in at run time (Hugging Face's Trainer takes it from its training arguments)` };
  const env = ENVIRONMENT.exec(v);
  if (env) return { reason: `it is read from the environment variable ${env[1]} at run time` };
  return undefined;
}

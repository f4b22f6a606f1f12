// The audit's `i2f.*` settings, read from the audited folder as VS Code would see them: `.vscode/settings.json`
// (JSONC, flat `"i2f.maxSamples": 1` keys or nested `"i2f": {…}` objects), then `i2f.config.json` at the root (same
// keys, with or without the `i2f.` prefix), then an explicit --settings FILE. Later sources win key by key; the
// result goes through the language server's own normaliseSettings (same validation, same defaults).

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';
import { normaliseSettings, type I2fSettings } from '../settings';

export const SETTINGS_FILE = 'i2f.config.json';

export class SettingsFileError extends Error {}

export interface LoadedSettings {
  settings: I2fSettings;
  /** Absolute paths of the files read, lowest precedence first. */
  sources: string[];
}

/** `{"i2f.thresholds.high": 20, "i2f": {"maxSamples": 1}}` → `{thresholds: {high: 20}, maxSamples: 1}`. */
export function i2fSection(raw: unknown, prefixOptional: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return out;
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    let path: string[];
    if (key === 'i2f') {
      if (value && typeof value === 'object' && !Array.isArray(value)) deepMerge(out, i2fSection(value, true));
      continue;
    } else if (key.startsWith('i2f.')) path = key.slice(4).split('.');
    else if (prefixOptional) path = key.split('.');
    else continue;
    let node = out;
    for (const p of path.slice(0, -1)) {
      if (!node[p] || typeof node[p] !== 'object') node[p] = {};
      node = node[p] as Record<string, unknown>;
    }
    const last = path[path.length - 1];
    if (value && typeof value === 'object' && !Array.isArray(value) && node[last] && typeof node[last] === 'object') deepMerge(node[last] as Record<string, unknown>, value as Record<string, unknown>);
    else node[last] = value;
  }
  return out;
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(from)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && into[k] && typeof into[k] === 'object') deepMerge(into[k] as Record<string, unknown>, v as Record<string, unknown>);
    else into[k] = v;
  }
  return into;
}

function readJsonc(file: string): unknown {
  const errors: ParseError[] = [];
  const value = parse(readFileSync(file, 'utf8'), errors, { allowTrailingComma: true, disallowComments: false });
  if (errors.length) {
    const e = errors[0];
    throw new SettingsFileError(`${file}: ${printParseErrorCode(e.error)} at offset ${e.offset}`);
  }
  return value;
}

export function loadAuditSettings(root: string, explicitFile?: string): LoadedSettings {
  const merged: Record<string, unknown> = {};
  const sources: string[] = [];
  const candidates: [string, boolean][] = [
    [join(root, '.vscode', 'settings.json'), false],
    [join(root, SETTINGS_FILE), true],
  ];
  for (const [file, prefixOptional] of candidates) {
    if (!existsSync(file)) continue;
    deepMerge(merged, i2fSection(readJsonc(file), prefixOptional));
    sources.push(file);
  }
  if (explicitFile) {
    if (!existsSync(explicitFile)) throw new SettingsFileError(`--settings ${explicitFile}: no such file`);
    deepMerge(merged, i2fSection(readJsonc(explicitFile), true));
    sources.push(explicitFile);
  }
  return { settings: normaliseSettings(merged), sources };
}

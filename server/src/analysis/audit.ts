// `i2f audit [PATH…]`: discover training configs and models as the language server does, run the cheap rules and
// the I²F analysis of each config's model, and print the findings grouped by file (or as JSON).

import { relative } from 'node:path';
import type { Writable } from 'node:stream';
import { discoverWorkspace } from '../workspace/discover';
import { syntaxFinding } from '../config/rules';
import { analyseConfig, DEFAULT_CONFIG_ANALYSIS, type Finding } from './configFindings';

export interface AuditOptions {
  json: boolean;
  out: Writable;
  err: Writable;
}

export interface AuditResult {
  root: string;
  configs: number;
  findings: Finding[];
}

export async function audit(paths: string[], err?: Writable): Promise<AuditResult[]> {
  const results: AuditResult[] = [];
  for (const root of paths) {
    const scan = await discoverWorkspace(root);
    const findings: Finding[] = scan.syntaxErrors.map(syntaxFinding);
    for (const [i, config] of scan.configs.entries()) {
      const label = relative(process.cwd(), config.path);
      const progress = err && (err as NodeJS.WriteStream).isTTY
        ? (stage: string, f: number) => err.write(`\r[${i + 1}/${scan.configs.length}] ${label}: ${stage} ${(f * 100).toFixed(0)}%`.padEnd(100))
        : undefined;
      if (err && !progress) err.write(`[${i + 1}/${scan.configs.length}] ${label}\n`);
      const analysis = await analyseConfig(config, { ...DEFAULT_CONFIG_ANALYSIS, onProgress: progress });
      if (progress) err!.write('\r'.padEnd(101) + '\r');
      findings.push(...analysis.findings);
    }
    results.push({ root, configs: scan.configs.length, findings });
  }
  return results;
}

const ORDER = { error: 0, warning: 1, information: 2, hint: 3 } as const;

export async function runAudit(paths: string[], opts: AuditOptions): Promise<number> {
  const results = await audit(paths, opts.err);
  if (opts.json) {
    opts.out.write(JSON.stringify({ version: 1, results }, null, 2) + '\n');
    return 0;
  }
  for (const r of results) {
    const byFile = new Map<string, Finding[]>();
    for (const f of r.findings) byFile.set(f.file, [...(byFile.get(f.file) ?? []), f]);
    for (const [file, findings] of [...byFile].sort(([a], [b]) => a.localeCompare(b))) {
      opts.out.write(`\n${relative(process.cwd(), file)}\n`);
      findings.sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || a.range.start.line - b.range.start.line);
      for (const f of findings) {
        opts.out.write(`  ${f.range.start.line + 1}:${f.range.start.character + 1}  ${f.severity.padEnd(11)} ${f.code}  ${f.message}\n`);
      }
    }
    const count = (s: Finding['severity']) => r.findings.filter((f) => f.severity === s).length;
    opts.out.write(`\n${r.root}: ${r.configs} training config(s), ${r.findings.length} finding(s): ${count('error')} error(s), ${count('warning')} warning(s), ${count('information')} information\n`);
  }
  return 0;
}

// Findings → LSP diagnostics: code, severity, a codeDescription link to the rule's section of docs/rules.md.

import { DiagnosticSeverity, type Diagnostic } from 'vscode-languageserver';
import type { Finding } from '../analysis/configFindings';
import type { LeakageData } from '../protocol';

const SEVERITY = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, information: DiagnosticSeverity.Information, hint: DiagnosticSeverity.Hint } as const;

export const DIAGNOSTIC_SOURCE = 'I²F';

/** 'https://github.com/o/r/blob/main/' + 'docs/rules.md#i2f101-…'; a file URI base works the same way. */
export function documentationHref(docsBase: string, documentation: string): string {
  return docsBase.endsWith('/') ? docsBase + documentation : `${docsBase}/${documentation}`;
}

export function toDiagnostic(f: Finding, docsBase: string, data?: LeakageData): Diagnostic {
  return {
    range: f.range,
    severity: SEVERITY[f.severity],
    code: f.code,
    codeDescription: { href: documentationHref(docsBase, f.documentation) },
    source: DIAGNOSTIC_SOURCE,
    message: f.message,
    ...(data ? { data } : {}),
  };
}

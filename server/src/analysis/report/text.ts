// The terminal report: findings grouped by file (path:line:col, clickable in most terminals), one leakage line per
// analysed config, and a summary line. ANSI colours only when asked (a TTY without NO_COLOR, or FORCE_COLOR).

import { relative } from 'node:path';
import type { RuleSeverity } from '../../config/ruleCatalog';
import { fmt } from '../formatText';
import { expectedPsnr, worstBatch } from '../../features/configView';
import { percent } from '../configFindings';
import { mostExposedTokens } from '../tokens';
import { failsAt, findingPlace, sortFindings, summaryLine, type AuditRun } from './model';

const SGR = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', red: '\x1b[31m', yellow: '\x1b[33m', blue: '\x1b[34m', cyan: '\x1b[36m', green: '\x1b[32m', magenta: '\x1b[35m' };

export function formatText(run: AuditRun, opts: { color: boolean; cwd: string }): string {
  const c = (code: keyof typeof SGR, s: string) => (opts.color ? `${SGR[code]}${s}${SGR.reset}` : s);
  const sevColour: Record<RuleSeverity, keyof typeof SGR> = { error: 'red', warning: 'yellow', information: 'blue', hint: 'dim' };
  const sevLabel: Record<RuleSeverity, string> = { error: 'error', warning: 'warning', information: 'note', hint: 'hint' };
  const riskColour = { high: 'red', medium: 'yellow', low: 'green', uncertain: 'magenta' } as const;
  const out: string[] = [];
  for (const root of run.roots) {
    for (const cfg of root.configs) {
      const file = relative(opts.cwd, cfg.file) || cfg.file;
      const b = cfg.report ? worstBatch(cfg.report) : undefined;
      const status = cfg.status === 'cached' ? ' (from cache)' : cfg.status === 'not-analysed' ? ` (not analysed: ${cfg.reason})` : '';
      // Every recognised config is listed, analysed or not: a config the audit skipped says why and how to fix it.
      out.push('');
      out.push(`${c('bold', file)}${c('dim', status)}`);
      if (cfg.fix) out.push(`  ${c('cyan', 'fix:')} ${cfg.fix}`);
      if (b) {
        const psnr = expectedPsnr(b);
        const numbers = b.validity?.noGradient
          ? `not analysed: the loss analysed (${cfg.report!.settings.loss}) gives no gradient (g and λmax exactly 0)`
          : b.risk === 'uncertain'
          ? `the solve did not converge (residual ${fmt(b.solver.relativeResidual, 2)} after ${b.solver.iterations} iterations): no confident number; lower bound ${fmt(b.lowerBound)}, λmax ${fmt(b.lambdaMax)}`
          : b.tokens
            ? `${percent(mostExposedTokens(b.tokens).recovered)} of the tokens of sample ${mostExposedTokens(b.tokens).sample} recovered (per position ${b.tokens.perPosition.map(percent).join(' ')}); in embedding space: PSNR ${fmt(psnr)} dB, I²F ${fmt(b.i2fExpected ?? b.i2f)}, lower bound ${fmt(b.lowerBound)}, λmax ${fmt(b.lambdaMax)}`
            : `predicted attacker PSNR ${fmt(psnr)} dB, I²F ${fmt(b.i2fExpected ?? b.i2f)}, lower bound ${fmt(b.lowerBound)}, λmax ${fmt(b.lambdaMax)}`;
        out.push(`  ${c(riskColour[b.risk], `leakage ${b.risk.toUpperCase()}`)}  ${numbers}`);
      }
      for (const f of sortFindings(cfg.findings)) {
        const pos = findingPlace(f);
        const mark = failsAt(f, run.failOn) ? c('bold', '✖') : ' ';
        out.push(`  ${mark} ${c('dim', `${file}:${pos}`)}  ${c(sevColour[f.severity], sevLabel[f.severity].padEnd(7))} ${c('cyan', f.code)}  ${f.message}`);
      }
    }
    if (root.notAConfig) out.push('', `${c('bold', relative(opts.cwd, root.notAConfig.file) || root.notAConfig.file)}${c('dim', ` is not a training config: ${root.notAConfig.reason}`)}`);
    if (root.truncated) out.push('', c('yellow', `${root.root}: the folder is large; discovery stopped early and the audit is partial`));
  }
  out.push('', c('bold', summaryLine(run)));
  return out.join('\n') + '\n';
}

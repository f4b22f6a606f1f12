// The privacy account's findings on a config: ε above the user's threshold, a target ε the noise misses or no noise can meet, a missing input.

import { RULES, ruleDocumentation, type RuleInfo } from '../config/ruleCatalog';
import type { Range } from '../config/keyTree';
import type { RuleFinding } from '../config/rules';
import { formatDelta, formatEpsilon, scriptMissingText, type PrivacyAccount } from './privacyAccount';

function finding(rule: RuleInfo, file: string, range: Range, message: string, key: string): RuleFinding {
  return { code: rule.code, severity: rule.severity, message, file, range, documentation: ruleDocumentation(rule), key };
}

/** Findings of one config's account; `epsilonThreshold` is `i2f.thresholds.epsilon`. */
export function privacyFindings(account: PrivacyAccount | undefined, file: string, epsilonThreshold: number): RuleFinding[] {
  if (!account) return [];
  const r = account.report;
  const out: RuleFinding[] = [];
  if (r.status === 'missing') {
    const script = scriptMissingText(r.missing);
    if (script) {
      out.push(finding(RULES.accountingInputMissing, file, account.noiseRange,
        `ε of this DP run is not computed, as the script does not give ${script.unread}. To see it: ${script.fix}.`, account.noiseKey));
      return out;
    }
    const keys = r.missing.map((m) => `\`${m.example}\``).join(', ');
    out.push(finding(RULES.accountingInputMissing, file, account.noiseRange,
      `ε of this DP run is not computed: the config lacks ${r.missing.map((m) => m.what).join(', ')}. Add ${keys} to an ${r.missing[0].section} section (or the tool's own key) to see it.`, account.noiseKey));
    return out;
  }
  const at = `at δ = ${formatDelta(r.delta)}${r.deltaSource === 'default' ? ' (default 1/N rounded down)' : ''}, ${r.unit}-level, ${r.steps} ${r.unit === 'user' ? 'rounds' : 'steps'}, q = ${Number(r.sampleRate.toPrecision(4))}`;
  if (r.epsilon > epsilonThreshold) {
    out.push(finding(RULES.epsilonAboveThreshold, file, account.noiseRange,
      `DP guarantee ε = ${formatEpsilon(r.epsilon)} ${at} (RDP accountant, order ${r.order}) is above the threshold ε ${epsilonThreshold} (i2f.thresholds.epsilon): at that ε the formal guarantee says little.`, account.noiseKey));
  }
  if (r.targetEpsilon !== undefined && r.epsilon > r.targetEpsilon && account.targetRange) {
    if (r.noiseForTarget !== undefined) {
      out.push(finding(RULES.targetEpsilonMissed, file, account.noiseRange,
        `Noise multiplier ${r.noiseMultiplier} gives ε = ${formatEpsilon(r.epsilon)} ${at}, above target_epsilon ${r.targetEpsilon}; noise multiplier ${r.noiseForTarget.toPrecision(4)} meets it.`, account.noiseKey));
    } else {
      out.push(finding(RULES.targetEpsilonUnreachable, file, account.targetRange,
        `target_epsilon ${r.targetEpsilon} cannot be met ${at}: ${r.targetUnreachable}. Raise the target, lower the steps or the sampling rate, or raise δ.`, account.noiseKey));
    }
  }
  return out;
}

// The editor's first reading of a make_private_with_epsilon call whose σ is not yet known (pythonSetup.ts 'later'):
// what the findings beside it count, and where the σ search stands. The leakage finding meanwhile is the
// clipping-only one (config/defences.ts: noise 0, the least comforting reading), never a guess at σ.

import { ruleDocumentation, RULES } from '../config/ruleCatalog';
import type { TrainingSetup } from '../config/trainingSetup';
import type { Finding } from './configFindings';

/** Where the σ search of a config stands in the editor. */
export type NoiseSearchState =
  /** Running (or waiting its turn) on a worker thread; its answer replaces the findings. */
  | 'running'
  /** Stopped by the user ("I²F: Cancel analyses", the progress item's cancel): not restarted until the budget changes. */
  | 'cancelled'
  /** The file is neither open nor audited: searched when it is. */
  | 'not-open';

/** I2F167 while σ is searched for; I2F168 when it is not being searched for. Undefined when σ is not pending. */
export function noiseSearchFinding(setup: TrainingSetup, state: NoiseSearchState): Finding | undefined {
  const pending = setup.noiseFromTarget?.pending;
  if (!pending) return undefined;
  const anchor = setup.targetEpsilon ?? setup.clippingNorm;
  const range = anchor?.keyRange ?? { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
  const rule = state === 'running' ? RULES.noiseBeingDerived : RULES.noiseNotDerived;
  const clipping = 'only the clipping is analysed (the leakage finding is graded without noise)';
  const chosen = `as Opacus' make_private_with_epsilon chooses it for ${pending.budget}`;
  const message = state === 'running'
    ? `σ being derived ${chosen}: the noise is not yet counted; ${clipping} until σ arrives, then these findings are replaced by the reading at that σ.`
    : state === 'cancelled'
      ? `σ not derived (its search was cancelled) ${chosen}: the noise is not counted; ${clipping}. Edit the budget, reopen the file or run "I²F: Audit workspace" to search again.`
      : `σ not yet derived ${chosen}: the noise is not counted; ${clipping}. Its search (up to a minute) runs while the file is open in the editor or audited ("I²F: Audit workspace", \`i2f audit\`).`;
  return {
    code: rule.code,
    severity: rule.severity,
    message,
    file: setup.file,
    range,
    documentation: ruleDocumentation(rule),
    ...(anchor ? { key: anchor.key } : {}),
  };
}

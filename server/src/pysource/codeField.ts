// A DP call's argument as a TrainingSetup field: of the values the code may give it, the weakest defence (the least
// noise, the largest clipping norm, the smallest batch), located on the argument and carrying where each value is
// written. Also N read from a script's data as a field located on the dataset's constructor.

import { RULES } from '../config/ruleCatalog';
import type { CodeValue, CodeValueSource, ConfigField, ConfigProblem } from '../config/trainingSetup';
import type { CallSiteArgument, DpCallSite } from './callSites';
import type { ArgumentRole } from './dpApis';
import type { PossibleValue } from './staticValue';
import type { TrainingSetSize } from './trainingData';

/** Which possible value is the weakest defence, per role (the one analysed, so the verdict is never too comforting). */
export const WEAKEST: Partial<Record<ArgumentRole, 'min' | 'max'>> = {
  noiseMultiplier: 'min',
  noiseStd: 'min',
  sumNoiseStd: 'min',
  clippingNorm: 'max',
  targetEpsilon: 'max',
  targetDelta: 'max',
  batchSize: 'min',
  numSampledClients: 'max',
  sensitivity: 'min',
  epochs: 'max',
};

export function fieldOf(arg: CallSiteArgument, site: DpCallSite, values: PossibleValue[], problems: ConfigProblem[]): ConfigField<number | boolean | string> | undefined {
  const numeric = arg.role !== 'dpDisabled';
  const usable = values.filter((v) => (numeric ? typeof v.value === 'number' && Number.isFinite(v.value) : typeof v.value === 'boolean'));
  if (usable.length !== values.length || !usable.length) {
    const bad = values.find((v) => !usable.includes(v));
    problems.push({
      rule: RULES.invalidValue.code,
      range: arg.valueRange,
      key: arg.parameter,
      message: `\`${arg.parameter}\` should be ${numeric ? 'a number' : 'True or False'}, not ${JSON.stringify(bad?.value ?? null)} (${bad?.source.label ?? 'here'}).`,
    });
    return undefined;
  }
  const negative = usable.find((v) => typeof v.value === 'number' && v.value < 0);
  if (negative) {
    problems.push({ rule: RULES.invalidValue.code, range: arg.valueRange, key: arg.parameter, message: `\`${arg.parameter}\` cannot be negative (${negative.value}, ${negative.source.label}).` });
    return undefined;
  }
  const how = WEAKEST[arg.role];
  let chosen = usable[0];
  if (how) for (const v of usable) if (how === 'min' ? (v.value as number) < (chosen.value as number) : (v.value as number) > (chosen.value as number)) chosen = v;
  const fromCode: CodeValue = {
    source: chosen.source as CodeValueSource,
    alternatives: usable.map((v) => ({ value: v.value, source: v.source as CodeValueSource })),
    steps: arg.resolution.kind === 'known' ? arg.resolution.steps : [],
    written: arg.text,
  };
  return { value: chosen.value as number | boolean, key: arg.parameter, path: [site.name, arg.parameter], keyRange: arg.keyRange, valueRange: arg.valueRange, file: site.file, fromCode };
}

/** N from the DataLoader's dataset (pysource/trainingData.ts), as a field located on the dataset's constructor. */
export function datasetSizeField(size: Extract<TrainingSetSize, { kind: 'read' }>, file: string): ConfigField<number> {
  const label = `${size.dataset}'s ${size.split} split (${size.how})`;
  const key = `${size.dataset} ${size.split} split`;
  const source: CodeValueSource = { file, range: size.range, kind: 'computed', label, editable: false };
  return {
    value: size.value, key, path: [key], keyRange: size.range, valueRange: size.range, file,
    fromCode: { source, alternatives: [], steps: [`${size.origin ? `the data is ${size.origin}'s` : `the DataLoader's dataset is torchvision's ${size.dataset},`} ${size.how}: ${size.value} examples`], written: key },
  };
}

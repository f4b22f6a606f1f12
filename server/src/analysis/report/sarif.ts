// `i2f audit --format sarif`: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers. One run; every rule the
// tool has is in tool.driver.rules (id = the stable code); each finding is a result located in its config file,
// relative to the audited root (uriBaseId SRCROOT; ROOT1, ROOT2, … for further roots, each in originalUriBaseIds).
// helpUri needs an absolute URI (the schema's format "uri"): it is given when a docs base is known (the
// i2f.docsBaseUrl setting or the tool's package.json "repository"); otherwise help.markdown carries the
// repository-relative docs/rules.md link and properties.documentation keeps it for tools.

import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { RULES, ruleDocumentation, type RuleSeverity } from '../../config/ruleCatalog';
import { ANALYSIS_FAILED_RULE, LEAKAGE_RULE, type Finding } from '../configFindings';
import { expectedPsnr, expectedRmse, worstBatch } from '../../features/configView';
import { mostExposedTokens } from '../tokens';
import { cellJson, privacyJson, validityJson } from './json';
import { findingLevel, relativePosix, sortFindings, type AuditRun, type ConfigOutcome } from './model';

export const SARIF_SCHEMA = 'https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json';

interface RuleMeta {
  code: string;
  title: string;
  severity: RuleSeverity;
  documentation: string;
}

export function allRules(): RuleMeta[] {
  const rules: RuleMeta[] = [
    { ...LEAKAGE_RULE, severity: 'error' },
    { ...ANALYSIS_FAILED_RULE, severity: 'error' },
    ...Object.values(RULES).map((r) => ({ code: r.code, title: r.title, severity: r.severity as RuleSeverity, documentation: ruleDocumentation(r) })),
  ];
  return rules.sort((a, b) => a.code.localeCompare(b.code));
}

export function sarifLevel(s: RuleSeverity): 'error' | 'warning' | 'note' {
  return s === 'error' ? 'error' : s === 'warning' ? 'warning' : 'note';
}

/** 'I2F101' + 'Clipping without noise' → 'ClippingWithoutNoise' (SARIF's rule `name`: an identifier-like string). */
function pascal(title: string): string {
  return title
    .replace(/[^A-Za-z0-9 ]/g, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .map((w) => w[0].toUpperCase() + w.slice(1))
    .join('');
}

function joinUrl(base: string, rel: string): string {
  return base.endsWith('/') ? base + rel : `${base}/${rel}`;
}

function finite(x: number | undefined): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

/** GitHub's code-scanning security severity (0–10) for a leakage risk. */
const SECURITY_SEVERITY = { high: '8.0', medium: '5.0', low: '2.0', uncertain: '5.0' } as const;

function notifications(run: AuditRun, baseIds: string[]): Record<string, unknown>[] {
  const where = (root: string, file: string, ri: number) => [{ physicalLocation: { artifactLocation: { uri: relativePosix(root, file), uriBaseId: baseIds[ri] } } }];
  return run.roots.flatMap((root, ri) => [
    ...root.configs
      .filter((c) => c.status === 'not-analysed' || c.status === 'failed')
      .map((c) => ({
        level: c.status === 'failed' ? 'warning' : 'note',
        message: { text: `${c.status === 'failed' ? 'Analysis failed' : 'Not analysed'}: ${c.reason ?? 'no reason given'}${c.fix ? `. Fix: ${c.fix}` : ''}` },
        locations: where(root.root, c.file, ri),
        ...(c.fix ? { properties: { fix: c.fix } } : {}),
      })),
    ...(root.notAConfig ? [{ level: 'note', message: { text: `Not a training config: ${root.notAConfig.reason}` }, locations: where(root.root, root.notAConfig.file, ri) }] : []),
  ]);
}

function leakageProperties(cfg: ConfigOutcome): Record<string, unknown> | undefined {
  const b = cfg.report ? worstBatch(cfg.report) : undefined;
  if (!b || !cfg.report) return undefined;
  const nft = b.noiseForTarget;
  const props: Record<string, unknown> = {
    risk: b.risk,
    predictedPsnr: finite(expectedPsnr(b)),
    predictedRmse: finite(expectedRmse(b)),
    i2f: finite(b.i2fExpected ?? b.i2f),
    lowerBound: finite(b.lowerBound),
    lambdaMax: finite(b.lambdaMax),
    mostExposedSample: b.tokens ? mostExposedTokens(b.tokens).sample : b.mostExposed?.sample ?? b.samples[0],
    // Text models: graded on tokens; every number above is in embedding space.
    ...(b.tokens ? {
      analysisSpace: 'embedding', tokensRecovered: mostExposedTokens(b.tokens).recovered, tokensRecoveredBatch: b.tokens.recovered,
      tokensRecoveredPerPosition: b.tokens.perPosition, tokenMetric: b.tokens.metric,
    } : {}),
    batchSize: cfg.report.settings.batch,
    // The loss the gradient is of (lossChoice.ts; i2f: loss, or the training code's).
    loss: cfg.report.settings.loss,
    parameters: cfg.report.model.parameters,
    damping: cfg.report.settings.damping,
    solverConverged: b.solver.converged,
    solverRelativeResidual: finite(b.solver.relativeResidual),
    ...(nft && finite(nft.std) !== undefined ? { noiseStdForTarget: nft.std, targetPsnr: nft.targetPsnr } : {}),
    ...(nft?.noiseMultiplier !== undefined && finite(nft.noiseMultiplier) !== undefined ? { noiseMultiplierForTarget: nft.noiseMultiplier } : {}),
    fromCache: cfg.status === 'cached',
    // How far the numbers above hold: regime, ‖δ‖/‖g‖, share determined, box cap, raw I²F, graded PSNR (the JSON's).
    ...(b.validity ? { validity: validityJson(b.validity, b.i2fExpected ?? b.i2f) } : {}),
  };
  for (const k of Object.keys(props)) if (props[k] === undefined) delete props[k];
  return props;
}

export function toSarif(run: AuditRun, opts: { docsBaseUrl?: string } = {}): Record<string, unknown> {
  const rules = allRules();
  const index = new Map(rules.map((r, i) => [r.code, i]));
  const baseIds = run.roots.map((_, i) => (i === 0 ? 'SRCROOT' : `ROOT${i}`));
  const originalUriBaseIds: Record<string, unknown> = {};
  run.roots.forEach((r, i) => {
    originalUriBaseIds[baseIds[i]] = { uri: pathToFileURL(r.root).href.replace(/\/?$/, '/'), description: { text: 'The audited folder.' } };
  });

  const results: Record<string, unknown>[] = [];
  run.roots.forEach((root, ri) => {
    for (const cfg of root.configs) {
      for (const f of sortFindings(cfg.findings)) results.push(result(f, root.root, baseIds[ri], cfg));
    }
  });

  function result(f: Finding, rootPath: string, uriBaseId: string, cfg: ConfigOutcome): Record<string, unknown> {
    const { start, end } = f.range;
    const uri = relativePosix(rootPath, f.file);
    const region: Record<string, number> = { startLine: start.line + 1, startColumn: start.character + 1 };
    if (end.line > start.line || end.character > start.character) {
      region.endLine = end.line + 1;
      region.endColumn = end.character + 1;
    }
    // I2F159 stands in for I2F001 (the loss analysed gives no gradient): the same properties, risk uncertain.
    const i2f = f.code === LEAKAGE_RULE.code || f.code === RULES.lossGivesNoGradient.code ? leakageProperties(cfg) : undefined;
    // The config's DP account beside the leakage and on its own findings (I2F132–I2F135).
    const privacy = cfg.privacy && (f.code === LEAKAGE_RULE.code || /^I2F13[2-5]$/.test(f.code)) ? privacyJson(cfg.privacy) : undefined;
    // In a notebook, the place in its cell: the .ipynb's own lines move whenever a cell's outputs change.
    const place = f.cell ? `cell ${f.cell.cell}:${f.cell.range.start.line}:${f.cell.range.start.character}` : `${start.line}:${start.character}`;
    const fingerprint = createHash('sha256').update(`${f.code}\0${uri}\0${f.key ?? place}`).digest('hex').slice(0, 32);
    return {
      ruleId: f.code,
      ruleIndex: index.get(f.code) ?? -1,
      level: sarifLevel(f.severity),
      message: { text: f.message },
      locations: [{ physicalLocation: { artifactLocation: { uri, uriBaseId }, region } }],
      partialFingerprints: { 'i2fFinding/v1': fingerprint },
      properties: {
        failOnLevel: findingLevel(f),
        ...(f.key ? { key: f.key } : {}),
        // A notebook's region is the place in the .ipynb JSON (what a SARIF viewer opens); the cell, as people find it.
        ...(f.cell ? { notebookCell: cellJson(f.cell) } : {}),
        ...(f.risk ? { 'security-severity': SECURITY_SEVERITY[f.risk] } : {}),
        ...(i2f ? { i2f } : {}),
        ...(privacy ? { privacy } : {}),
      },
    };
  }

  return {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'I2F Privacy Lint',
            fullName: 'I²F Privacy Lint (Inversion Influence Function gradient-leakage audit)',
            semanticVersion: run.tool.version,
            version: run.tool.version,
            ...(opts.docsBaseUrl ? { informationUri: joinUrl(opts.docsBaseUrl, 'README.md') } : {}),
            rules: rules.map((r) => ({
              id: r.code,
              name: pascal(r.title),
              shortDescription: { text: r.title },
              fullDescription: { text: `${r.code}: ${r.title}. See ${r.documentation}.` },
              ...(opts.docsBaseUrl ? { helpUri: joinUrl(opts.docsBaseUrl, r.documentation) } : {}),
              help: { text: `Documentation: ${r.documentation}`, markdown: `[${r.code}: ${r.title}](${opts.docsBaseUrl ? joinUrl(opts.docsBaseUrl, r.documentation) : r.documentation})` },
              defaultConfiguration: { level: sarifLevel(r.severity) },
              properties: {
                documentation: r.documentation,
                tags: r.code === LEAKAGE_RULE.code ? ['privacy', 'security', 'gradient-leakage'] : ['privacy', 'configuration'],
                precision: r.code === LEAKAGE_RULE.code ? 'medium' : 'high',
                ...(r.code === LEAKAGE_RULE.code ? { 'security-severity': SECURITY_SEVERITY.high } : {}),
              },
            })),
          },
        },
        automationDetails: { id: 'i2f-audit/' },
        // Every config the audit did not analyse, with why and the one-line fix, and a single file that is not a
        // training config: tool execution notifications (what the run could not do), not findings.
        invocations: [{ executionSuccessful: true, toolExecutionNotifications: notifications(run, baseIds) }],
        originalUriBaseIds,
        columnKind: 'utf16CodeUnits',
        results,
        properties: {
          failOn: run.failOn,
          createdAt: run.createdAt,
          // One DP account per config that has a noise multiplier (the JSON report's configs[].privacy).
          privacy: run.roots.flatMap((r, ri) => r.configs.filter((c) => c.privacy).map((c) => ({ file: relativePosix(r.root, c.file), uriBaseId: baseIds[ri], ...privacyJson(c.privacy!) }))),
        },
      },
    ],
  };
}

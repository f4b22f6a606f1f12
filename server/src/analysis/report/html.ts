// `i2f audit --format html`: one self-contained page (inline CSS, a few lines of inline JS, inline SVG plots; a
// Content-Security-Policy that forbids every remote load), readable offline, light or dark with the system.

import { formatDelta, formatEpsilon, scriptMissingText, type PrivacyReport } from '../privacyAccount';
import type { RuleSeverity } from '../../config/ruleCatalog';
import { fmt } from '../formatText';
import { expectedPsnr, expectedRmse, worstBatch } from '../../features/configView';
import { embeddingSpaceNote, percent } from '../configFindings';
import { mostExposedTokens } from '../tokens';
import { failsAt, findingPlace, relativePosix, sortFindings, summarise, summaryLine, type AuditRun, type ConfigOutcome, type RootOutcome } from './model';
import { ruleTitle } from './json';
import { esc, historySvg, spectrumSvg, spreadSvg } from './svg';
import { shownSpec } from '../../config/defenceSpec';

const CSS = `
:root { color-scheme: light dark;
  --bg: #ffffff; --fg: #1f2328; --muted: #59636e; --card: #f6f8fa; --border: #d1d9e0; --grid: #e3e8ee; --axis: #818b98;
  --high: #cf222e; --medium: #bf8700; --low: #1a7f37; --uncertain: #8250df; --note: #0969da; --series: #0969da; --series2: #bc4c00;
  --band-high: rgba(207,34,46,.08); --band-medium: rgba(191,135,0,.08); --band-low: rgba(26,127,55,.06); }
@media (prefers-color-scheme: dark) { :root {
  --bg: #0d1117; --fg: #e6edf3; --muted: #9198a1; --card: #151b23; --border: #3d444d; --grid: #262c36; --axis: #656c76;
  --high: #f85149; --medium: #d29922; --low: #3fb950; --uncertain: #ab7df8; --note: #4493f8; --series: #4493f8; --series2: #f0883e;
  --band-high: rgba(248,81,73,.12); --band-medium: rgba(210,153,34,.12); --band-low: rgba(63,185,80,.08); } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 0; } h3 { font-size: 14px; margin: 16px 0 8px; color: var(--muted); font-weight: 600; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
a { color: var(--note); }
.muted { color: var(--muted); }
.verdict { display: inline-block; padding: 4px 10px; border-radius: 6px; font-weight: 600; margin: 8px 0; border: 1px solid var(--border); }
.verdict.failed { color: #fff; background: var(--high); border-color: var(--high); }
.verdict.passed { color: #fff; background: var(--low); border-color: var(--low); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; margin: 16px 0 24px; }
.card { background: var(--card); border: 1px solid var(--border); border-radius: 8px; padding: 10px 12px; }
.card .n { font-size: 22px; font-weight: 650; } .card .l { color: var(--muted); font-size: 12px; }
section.config { border: 1px solid var(--border); border-radius: 10px; padding: 16px; margin: 16px 0; background: var(--bg); }
.head { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 650; border: 1px solid currentColor; }
.badge.high, .sev.error { color: var(--high); } .badge.medium, .sev.warning { color: var(--medium); } .badge.low { color: var(--low); }
.badge.uncertain { color: var(--uncertain); } .sev.information, .sev.hint { color: var(--note); } .badge.status { color: var(--muted); }
dl.nums { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 6px 16px; margin: 12px 0; }
dl.nums div { border-left: 3px solid var(--border); padding-left: 8px; } dt { color: var(--muted); font-size: 12px; } dd { margin: 0; font-weight: 600; }
table.findings { width: 100%; border-collapse: collapse; margin-top: 8px; }
table.findings td { border-top: 1px solid var(--border); padding: 6px 8px; vertical-align: top; }
table.findings td.where { white-space: nowrap; } tr.failing td:first-child { box-shadow: inset 3px 0 0 var(--high); }
.plots { display: flex; flex-wrap: wrap; gap: 16px; margin-top: 8px; }
.plots figure { margin: 0; background: var(--card); border: 1px solid var(--border); border-radius: 8px; padding: 8px; max-width: 100%; }
.plots figcaption { color: var(--muted); font-size: 12px; max-width: 470px; padding: 2px 4px 0; }
svg.plot { max-width: 100%; height: auto; display: block; font-family: inherit; }
svg .plot-title { fill: var(--fg); font-size: 13px; font-weight: 600; }
svg .tick, svg .value { fill: var(--muted); font-size: 11px; } svg .axis-label { fill: var(--muted); font-size: 11.5px; }
svg .grid { stroke: var(--grid); stroke-width: 1; } svg .axis { stroke: var(--axis); stroke-width: 1; }
svg .series { fill: none; stroke-width: 1.6; } svg .series.top { stroke: var(--series); } svg .series.bottom { stroke: var(--series2); }
svg .point.top { fill: var(--series); } svg .point.bottom { fill: var(--series2); } svg .point.clipped { fill: var(--bg); stroke: var(--series2); }
svg .break { stroke: var(--axis); stroke-dasharray: 2 4; } svg .damping { stroke: var(--uncertain); stroke-dasharray: 6 3; }
svg .threshold { stroke: var(--axis); stroke-dasharray: 4 3; }
svg .series.ceiling { stroke-dasharray: 6 4; }
svg .band.high { fill: var(--band-high); } svg .band.medium { fill: var(--band-medium); } svg .band.low { fill: var(--band-low); }
svg .bar.risk-high { fill: var(--high); } svg .bar.risk-medium { fill: var(--medium); } svg .bar.risk-low { fill: var(--low); }
.filters { margin: 8px 0 0; color: var(--muted); } .filters label { margin-right: 12px; }
body.hide-note tr.sev-information, body.hide-note tr.sev-hint { display: none; }
footer { margin: 32px 0 8px; color: var(--muted); font-size: 12px; }
`;

const JS = `document.getElementById('show-notes').addEventListener('change', function (e) { document.body.classList.toggle('hide-note', !e.target.checked); });`;

const SEV_LABEL: Record<RuleSeverity, string> = { error: 'error', warning: 'warning', information: 'note', hint: 'hint' };

function findingsTable(root: RootOutcome, cfg: ConfigOutcome, run: AuditRun): string {
  if (!cfg.findings.length) return '<p class="muted">No findings.</p>';
  const rows = sortFindings(cfg.findings).map((f) => {
    const where = `${relativePosix(root.root, f.file)}:${findingPlace(f)}`;
    return `<tr class="finding sev-${f.severity}${failsAt(f, run.failOn) ? ' failing' : ''}" data-code="${esc(f.code)}"><td class="where mono">${esc(where)}</td><td><span class="sev ${f.severity}">${SEV_LABEL[f.severity]}</span></td><td class="mono" title="${esc(ruleTitle(f.code))}">${esc(f.code)}</td><td>${esc(f.message)} <span class="muted">(<span class="mono">${esc(f.documentation)}</span>)</span></td></tr>`;
  });
  return `<table class="findings"><tbody>${rows.join('')}</tbody></table>`;
}

function numbers(cfg: ConfigOutcome): string {
  const report = cfg.report!;
  const b = worstBatch(report)!;
  const nft = b.noiseForTarget;
  const t = b.tokens;
  const space = t ? ' (embedding space)' : '';
  const top = t ? mostExposedTokens(t) : undefined;
  const items: [string, string][] = [
    ...(t && top ? [
      ['tokens an attacker would recover', `${percent(top.recovered)} of sample ${top.sample}${t.perSample.length > 1 ? ` (${percent(t.recovered)} of the batch)` : ''}${b.risk === 'uncertain' ? ' (not converged: not a confident number)' : ''}`],
      ['per position', t.perPosition.map(percent).join(' ')],
      ...(t.text ?? []).map((s, i): [string, string] => [`sample ${t.perSample[i]?.sample ?? i} → attacker`, `“${s}” → “${t.recoveredText?.[i] ?? ''}”`]),
    ] as [string, string][] : []),
    [`predicted attacker PSNR${space}`, b.validity?.noGradient ? 'not analysed: the loss analysed gives no gradient (g and λmax exactly 0)'
      : b.risk === 'uncertain' ? `${fmt(expectedPsnr(b))} dB (not converged: not a confident number)` : `${fmt(expectedPsnr(b))} dB`],
    [`predicted RMSE${space}`, fmt(expectedRmse(b))],
    ['I²F (converged, undamped)', fmt(b.i2fExpected ?? b.i2f)],
    ['lower bound ‖Jδ‖/λmax', fmt(b.lowerBound)],
    ['λmax(J Jᵀ)', fmt(b.lambdaMax)],
    ['most exposed sample', String(top?.sample ?? b.mostExposed?.sample ?? b.samples[0] ?? '–')],
    ['batch analysed', String(report.settings.batch)],
    ['loss analysed', report.settings.lossDescription ?? report.settings.loss],
    ['trainable parameters', report.model.parameters.toLocaleString('en')],
    ['defences', b.defense.map(shownSpec).join(' then ') || 'none'],
    ['solver', `${b.solver.method}, ${b.solver.iterations} it., residual ${fmt(b.solver.relativeResidual, 2)}${b.solver.converged ? '' : ' (not converged)'}`],
  ];
  if (nft && nft.std > 0) items.push([`noise for ${nft.targetPsnr} dB`, `std ${fmt(nft.std)}${nft.noiseMultiplier !== undefined ? ` (σ ${fmt(nft.noiseMultiplier)})` : ''}`]);
  const note = report.model.input ? `<p class="muted">${esc(embeddingSpaceNote(report.model.input))} The risk is graded on the recovered tokens (${esc(t?.metric ?? 'L2')} nearest embedding row of ${esc(t?.reconstruction ?? 'x0 + I(δ)')}).</p>` : '';
  return `${note}<dl class="nums">${items.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('')}</dl>`;
}

function plots(root: RootOutcome, cfg: ConfigOutcome): string {
  const report = cfg.report!;
  const dimension = report.model.inputShape.reduce((a, b) => a * b, 1);
  const figures: string[] = [];
  report.results.forEach((b, k) => {
    const label = report.results.length > 1 ? ` (batch ${k + 1})` : '';
    if (b.spectrum && (b.spectrum.top.length || b.spectrum.bottom.length)) {
      const top = b.spectrum.top, bottom = b.spectrum.bottom;
      const lmin = bottom.length ? bottom[0] : undefined;
      figures.push(
        `<figure>${spectrumSvg({ top, bottom, complete: b.spectrum.complete, dimension: b.samples.length ? (dimension / report.settings.batch) * b.samples.length : dimension, damping: report.settings.damping, title: `Spectrum of J Jᵀ${report.model.input ? ' (embedding space)' : ''}${label}` })}` +
          `<figcaption>Top ${top.length} (blue) and bottom ${bottom.length} (orange) eigenvalues of J Jᵀ, log scale. λmax ${esc(fmt(top[0] ?? b.lambdaMax))}${lmin !== undefined ? `, λmin ${esc(fmt(lmin))}${lmin > 0 ? `, κ ${esc(fmt((top[0] ?? b.lambdaMax) / lmin))}` : ''}` : ''}. Small eigenvalues are the directions an attacker recovers worst; δ along them inflates the I²F.</figcaption></figure>`,
      );
    }
    const samples = b.perSample.map((s) => ({ sample: s.sample, psnr: s.psnr }));
    if (b.tokens) {
      // Text models are graded on tokens: the spread is of recovered tokens against the token thresholds.
      const th = root.settings.thresholds;
      figures.push(
        `<figure>${spreadSvg({
          samples: b.tokens.perSample.map((p) => ({ sample: p.sample, psnr: Math.round(p.recovered * 1000) / 10 })),
          thresholds: { high: th.tokensHigh * 100, medium: th.tokensMedium * 100 },
          title: `Per-sample tokens recovered${label}`,
          measure: { name: 'tokens recovered', unit: '%', axisLabel: 'tokens recovered in place (%)', max: 100 },
        })}` +
          `<figcaption>Per-sample fraction of tokens the attacker's predicted reconstruction recovers at their position (nearest embedding row) for ${b.tokens.perSample.length} sample(s); dashed lines: the medium and high risk thresholds. Per position: ${esc(b.tokens.perPosition.map(percent).join(' '))}.</figcaption></figure>`,
      );
    } else if (samples.length) {
      figures.push(
        `<figure>${spreadSvg({ samples, thresholds: root.settings.thresholds, title: `Per-sample predicted PSNR${label}` })}` +
          `<figcaption>Per-sample spread of the attacker's predicted reconstruction quality (PSNR of the I²F-predicted error) for ${samples.length} sample(s); dashed lines: the medium and high risk thresholds.</figcaption></figure>`,
      );
    }
  });
  const history = cfg.checkpointHistory ?? [];
  if (history.length) {
    const last = history[history.length - 1];
    figures.push(
      `<figure class="checkpoint-history">${historySvg({
        points: history.map((e) => ({ label: e.step !== undefined ? String(e.step) : e.checkpoint.split(/[\\/]/).pop()!, psnr: e.psnr, ceiling: e.lowerBoundPsnr, title: e.checkpoint })),
        thresholds: root.settings.thresholds,
        title: 'Predicted attacker PSNR per checkpoint',
      })}` +
        `<figcaption>Leakage as training goes on: the predicted attacker PSNR at each of ${history.length} checkpoint(s) (solid) and the ceiling its lower bound ‖Jδ‖/λmax sets (dashed); bands: the risk thresholds. Latest: ${esc(last.checkpoint)}, ${esc(last.psnr === null ? 'not finite' : `${fmt(last.psnr)} dB`)} (${esc(last.risk)}).</figcaption></figure>`,
    );
  }
  return figures.length ? `<h3>Plots</h3><div class="plots">${figures.join('')}</div>` : '';
}

/** The config's DP account beside its leakage: ε at δ with how q, steps and δ came about, or the keys it lacks. */
function privacyParagraph(r: PrivacyReport): string {
  if (r.status === 'missing') {
    const script = scriptMissingText(r.missing);
    if (script) return `<p class="privacy" data-status="missing">DP ε not computed (${r.unit}-level): the script does not give ${esc(script.unread)}. To see it: ${esc(script.fix)}.</p>`;
    return `<p class="privacy" data-status="missing">DP ε not computed (${r.unit}-level): the config lacks ${esc(r.missing.map((m) => m.what).join(', '))}; add ${r.missing.map((m) => `<span class="mono">${esc(m.example)}</span>`).join(', ')} to an <span class="mono">${esc(r.missing[0].section)}</span> section.</p>`;
  }
  return `<p class="privacy" data-status="computed">DP guarantee <b>ε = ${esc(formatEpsilon(r.epsilon))}</b> at δ = ${formatDelta(r.delta)} (${r.unit}-level; RDP accountant, order ${r.order}, ${r.steps} steps, q = ${Number(r.sampleRate.toPrecision(4))}, noise multiplier ${r.noiseMultiplier}). <span class="muted">q = ${esc(r.derivation.sampleRate)}; steps = ${esc(r.derivation.steps)}; δ = ${esc(r.derivation.delta)}.</span></p>`;
}

function configSection(root: RootOutcome, cfg: ConfigOutcome, run: AuditRun, id: string): string {
  const b = cfg.report ? worstBatch(cfg.report) : undefined;
  const status = cfg.status === 'cached' ? 'from cache' : cfg.status === 'not-analysed' ? `not analysed: ${cfg.reason}` : cfg.status === 'failed' ? 'analysis failed' : cfg.status;
  const fix = cfg.fix ? `<p class="fix"><b>Fix:</b> ${esc(cfg.fix)}</p>` : '';
  const model = cfg.config?.model ? `<span class="muted">model <span class="mono">${esc(relativePosix(root.root, cfg.config.model))}</span></span>` : '';
  return [
    `<section class="config" id="${id}" data-status="${cfg.status}">`,
    `<div class="head"><h2 class="mono">${esc(relativePosix(root.root, cfg.file))}</h2>${b ? `<span class="badge ${b.risk}">leakage ${b.risk}</span>` : ''}<span class="badge status">${esc(status)}</span>${model}</div>`,
    fix,
    cfg.report ? numbers(cfg) : '',
    cfg.privacy ? privacyParagraph(cfg.privacy) : '',
    `<h3>Findings</h3>`,
    findingsTable(root, cfg, run),
    cfg.report ? plots(root, cfg) : '',
    `</section>`,
  ].join('\n');
}

export function toHtml(run: AuditRun): string {
  const s = summarise(run);
  const verdict = run.failOn === 'never' ? '<span class="verdict">--fail-on never: report only</span>' : s.failing ? `<span class="verdict failed">FAILED: ${s.failing} finding(s) at or above ${run.failOn}</span>` : `<span class="verdict passed">Passed --fail-on ${run.failOn}</span>`;
  const card = (n: number, l: string) => `<div class="card"><div class="n">${n}</div><div class="l">${esc(l)}</div></div>`;
  const sections: string[] = [];
  run.roots.forEach((root, ri) => {
    sections.push(`<p class="muted">Audited folder <span class="mono">${esc(root.root)}</span>; settings from ${root.settingsSources.length ? root.settingsSources.map((p) => `<span class="mono">${esc(p)}</span>`).join(', ') : 'defaults'} (thresholds: high ≥ ${root.settings.thresholds.high} dB, medium ≥ ${root.settings.thresholds.medium} dB; text models: high ≥ ${percent(root.settings.thresholds.tokensHigh)}, medium ≥ ${percent(root.settings.thresholds.tokensMedium)} of tokens recovered; ${root.settings.maxSamples} sample(s) per config).${root.truncated ? ' The folder is large: discovery stopped early and this audit is partial.' : ''}</p>`);
    if (root.notAConfig) sections.push(`<p class="not-a-config"><span class="mono">${esc(relativePosix(root.root, root.notAConfig.file))}</span> is not a training config: ${esc(root.notAConfig.reason)}</p>`);
    root.configs.forEach((cfg, ci) => sections.push(configSection(root, cfg, run, `r${ri}c${ci}`)));
  });
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<meta name="generator" content="${esc(run.tool.name)} ${esc(run.tool.version)}">
<title>I²F privacy audit</title>
<style>${CSS}</style>
</head>
<body>
<main>
<h1>I²F privacy audit</h1>
<div class="muted">Predicted gradient-inversion leakage (Inversion Influence Function) of each training config, ${esc(run.createdAt)}, ${esc(run.tool.name)} ${esc(run.tool.version)}.</div>
${verdict}
<div class="cards">${card(s.configs, 'training configs')}${card(s.analysed + s.fromCache, `analysed (${s.fromCache} from cache)`)}${card(s.risk.high, 'high leakage risk')}${card(s.risk.medium, 'medium leakage risk')}${card(s.risk.low, 'low leakage risk')}${card(s.severity.error, 'errors')}${card(s.severity.warning, 'warnings')}${card(s.severity.information + s.severity.hint, 'notes')}</div>
<div class="filters"><label><input type="checkbox" id="show-notes" checked> show notes</label></div>
${sections.join('\n')}
<footer>${esc(summaryLine(run))}</footer>
</main>
<script>${JS}</script>
</body>
</html>
`;
}

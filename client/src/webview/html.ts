// The webview pages' HTML shells: a strict CSP (default-src 'none', the bundle by nonce, styles and images from the
// extension's media/ only, data: images for chart export), the bundled script and stylesheet, the static layout.
// No vscode import: the page tests build the very same HTML in a browser harness.

import { randomBytes } from 'node:crypto';

export type PageKind = 'spectrum' | 'report';

export interface PageResources {
  /** webview.cspSource: the origin media/ is served from. */
  cspSource: string;
  /** URIs of media/dist/<page>.js and media/dist/styles.css as the webview sees them. */
  scriptUri: string;
  styleUri: string;
  nonce?: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

const escapeAttr = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

export function pageHtml(kind: PageKind, r: PageResources): string {
  const nonce = r.nonce ?? makeNonce();
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(r.cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeAttr(r.styleUri)}">
<title>${kind === 'spectrum' ? 'I²F eigen-spectrum' : 'I²F model report'}</title>
</head>
<body class="empty page-${kind}">
${kind === 'spectrum' ? SPECTRUM_BODY : REPORT_BODY}
<script nonce="${nonce}" src="${escapeAttr(r.scriptUri)}"></script>
</body>
</html>`;
}

const exportButtons = (chart: string) =>
  `<span class="export"><button class="secondary small" data-export="svg" data-chart="${chart}" title="Save this chart as SVG">SVG</button>` +
  `<button class="secondary small" data-export="png" data-chart="${chart}" title="Save this chart as PNG">PNG</button></span>`;

const SPECTRUM_BODY = `
<header>
  <div class="titles"><h1 id="title">Eigen-spectrum of J Jᵀ</h1><div id="subtitle" class="subtle">Waiting for the analysis…</div></div>
  <span id="risk" class="badge">risk: …</span>
</header>
<div id="status" class="status busy" role="status" aria-live="polite">Waiting for the analysis…</div>
<section class="controls" aria-label="Analysis controls">
  <label>Sample <select id="sample"></select></label>
  <label class="noise">Noise std
    <input id="std-slider" type="range" min="0" max="1000" step="1" value="0" aria-label="Gaussian noise std (log scale)">
    <output id="std-value">0</output>
    <input id="std" type="number" min="0" step="any" aria-label="Gaussian noise std">
    <button id="std-reset" class="secondary small" title="Back to the configured noise">configured</button>
  </label>
  <label>k <input id="k" type="number" min="1" max="64" step="1"></label>
  <label>damping ε <input id="damping" type="number" min="0" step="any"></label>
  <button id="refresh" class="secondary">Re-analyse</button>
  <button id="copy-csv">Copy as CSV</button>
</section>
<section class="summary"><div id="headline" class="facts"></div></section>
<section class="panel">
  <div class="panel-head"><h2>Spectrum</h2>${exportButtons('eigenvalues')}</div>
  <div id="eigen-chart" class="chart-box"></div>
  <div id="eigen-facts" class="facts"></div>
  <p id="eigen-note" class="note"></p>
</section>
<div class="two">
  <section class="panel">
    <div class="panel-head"><h2>Energy per direction</h2>${exportButtons('energy')}</div>
    <div id="energy-chart" class="chart-box"></div>
    <p id="energy-note" class="note"></p>
  </section>
  <section class="panel">
    <div class="panel-head"><h2>Cost per direction</h2>${exportButtons('cost')}</div>
    <div id="cost-chart" class="chart-box"></div>
    <p class="note">Noise along vᵢ moves the attacker's reconstruction by 1/σᵢ per unit (I2F.md): large-λ directions protect least.</p>
  </section>
</div>
<div class="two">
  <section class="panel">
    <div class="panel-head"><h2>Per sample</h2>${exportButtons('samples')}</div>
    <div id="sample-chart" class="chart-box"></div>
    <p id="exposed" class="callout"></p>
  </section>
  <section class="panel">
    <div class="panel-head"><h2>Per class</h2>${exportButtons('classes')}</div>
    <div id="class-chart" class="chart-box"></div>
  </section>
</div>
<section id="frontier" class="panel" hidden>
  <h2>Privacy and reconstruction against the noise multiplier</h2>
  <div id="frontier-chart" class="chart-box"></div>
  <div id="frontier-facts" class="facts"></div>
  <p id="frontier-note" class="note"></p>
</section>
<section id="history" class="panel" hidden>
  <div class="panel-head"><h2>Leakage per checkpoint</h2>${exportButtons('history')}</div>
  <div id="history-chart" class="chart-box"></div>
  <p id="history-note" class="note"></p>
</section>
<section id="images" class="panel" hidden>
  <div class="panel-head"><h2>What the attacker sees</h2></div>
  <div class="pair">
    <figure><canvas id="img-original"></canvas><figcaption>original x0</figcaption></figure>
    <figure><canvas id="img-reconstruction"></canvas><figcaption id="cap-reconstruction">x0 + I(δ)</figcaption></figure>
  </div>
  <h3 id="directions-caption">Leading eigen-directions uᵢ</h3>
  <div id="direction-images" class="thumbs"></div>
</section>
<section id="attack" class="panel" aria-label="Confirm with a real attack">
  <div class="panel-head"><h2>Confirm with a real attack</h2>
    <span><button id="run-attack" title="Run the gradient-inversion attack I²F predicts on this config's first batch">Run attack</button>
    <button id="cancel-attack" class="secondary" hidden>Cancel</button></span></div>
  <p id="attack-intro" class="note">Runs the attack itself (gradient matching on the defended gradient, known labels) and shows what it rebuilt beside the original and the I²F prediction x0 + I(δ). It takes hundreds of analyses' worth of products.</p>
  <div id="attack-status" class="status" role="status" aria-live="polite"></div>
  <progress id="attack-progress" max="1" value="0" hidden></progress>
  <div id="attack-result"></div>
</section>`;

const REPORT_BODY = `
<header>
  <div class="titles"><h1 id="title">Model report</h1><div id="subtitle" class="subtle">Reading the model…</div></div>
  <span id="verdict" class="badge">…</span>
  <button id="open-spectrum">Open eigen-spectrum</button>
</header>
<div id="status" class="status busy" role="status" aria-live="polite">Reading the model…</div>
<ul id="notes" class="notes"></ul>
<div class="two">
  <section class="panel"><h2>Inputs</h2><table id="inputs" class="grid-table"></table></section>
  <section class="panel"><h2>Outputs</h2><table id="outputs" class="grid-table"></table></section>
</div>
<section class="panel"><h2>Parameters</h2><div id="params" class="facts"></div>
  <details><summary>Trainable tensors (θ)</summary><table id="theta" class="grid-table"></table></details></section>
<div class="two">
  <section class="panel"><div class="panel-head"><h2>Operators</h2></div><div id="ops-chart" class="chart-box"></div></section>
  <section class="panel"><h2>Support</h2><p id="support-summary"></p><table id="unsupported" class="grid-table"></table></section>
</div>
<section class="panel"><h2>Latest leakage results</h2><table id="results" class="grid-table"></table><p id="results-empty" class="note"></p></section>`;

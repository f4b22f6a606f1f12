// Stands in for VS Code's webview host in headless Chromium: serves media/ over loopback, builds the page with the
// real pageHtml (identical CSP), injects acquireVsCodeApi (recording posted messages, keeping setState) and the
// --vscode-* theme variables the way VS Code does (from outside the page's CSP), and reports CSP violations and
// console errors. Each posted message is handed to a Node-side stand-in for the extension, which may reply.

import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { chromium as debianChromium } from '../support/requirements';
import { pageHtml, type PageKind } from '../../client/src/webview/html';
import { checkReportPageMessage, checkSpectrumPageMessage } from '../../client/src/webview/pageMessages';

export const ROOT = join(__dirname, '..', '..');
export const SHOTS = join(ROOT, 'test-results', 'webview');

/** Subsets of VS Code's Light+, Dark+ and High Contrast themes: the variables our stylesheet reads. */
export const THEMES: Record<'light' | 'dark' | 'hc', { bodyClass: string; vars: Record<string, string> }> = {
  light: {
    bodyClass: 'vscode-light',
    vars: {
      '--vscode-font-family': 'system-ui, "Ubuntu", "Droid Sans", sans-serif', '--vscode-font-size': '13px',
      '--vscode-editor-background': '#ffffff', '--vscode-editor-foreground': '#3b3b3b',
      '--vscode-descriptionForeground': '#717171', '--vscode-panel-border': '#e5e5e5',
      '--vscode-charts-blue': '#1a85ff', '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#388a34',
      '--vscode-charts-red': '#e51400', '--vscode-charts-purple': '#652d90', '--vscode-charts-yellow': '#bf8803',
      '--vscode-charts-lines': 'rgba(59, 59, 59, 0.5)',
      '--vscode-button-background': '#005fb8', '--vscode-button-foreground': '#ffffff', '--vscode-button-hoverBackground': '#0258a8',
      '--vscode-button-secondaryBackground': '#e5e5e5', '--vscode-button-secondaryForeground': '#3b3b3b', '--vscode-button-secondaryHoverBackground': '#cccccc',
      '--vscode-input-background': '#ffffff', '--vscode-input-foreground': '#3b3b3b', '--vscode-input-border': '#cecece',
      '--vscode-focusBorder': '#005fb8', '--vscode-errorForeground': '#f85149', '--vscode-badge-background': '#cccccc', '--vscode-badge-foreground': '#3b3b3b',
      '--vscode-inputValidation-errorBackground': '#f2dede', '--vscode-inputValidation-errorForeground': '#3b3b3b', '--vscode-inputValidation-errorBorder': '#be1100',
      '--vscode-inputValidation-warningBackground': '#f6f5d2', '--vscode-inputValidation-warningForeground': '#3b3b3b', '--vscode-inputValidation-warningBorder': '#bf8803',
      '--vscode-testing-iconPassed': '#388a34', '--vscode-editor-selectionBackground': '#add6ff', '--vscode-textLink-foreground': '#005fb8',
      '--vscode-editorWarning-foreground': '#bf8803',
    },
  },
  dark: {
    bodyClass: 'vscode-dark',
    vars: {
      '--vscode-font-family': 'system-ui, "Ubuntu", "Droid Sans", sans-serif', '--vscode-font-size': '13px',
      '--vscode-editor-background': '#1f1f1f', '--vscode-editor-foreground': '#cccccc',
      '--vscode-descriptionForeground': '#9d9d9d', '--vscode-panel-border': '#2b2b2b',
      '--vscode-charts-blue': '#3794ff', '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#89d185',
      '--vscode-charts-red': '#f14c4c', '--vscode-charts-purple': '#b180d7', '--vscode-charts-yellow': '#cca700',
      '--vscode-charts-lines': 'rgba(204, 204, 204, 0.5)',
      '--vscode-button-background': '#0078d4', '--vscode-button-foreground': '#ffffff', '--vscode-button-hoverBackground': '#026ec1',
      '--vscode-button-secondaryBackground': '#313131', '--vscode-button-secondaryForeground': '#cccccc', '--vscode-button-secondaryHoverBackground': '#3c3c3c',
      '--vscode-input-background': '#313131', '--vscode-input-foreground': '#cccccc', '--vscode-input-border': '#3c3c3c',
      '--vscode-focusBorder': '#0078d4', '--vscode-errorForeground': '#f85149', '--vscode-badge-background': '#616161', '--vscode-badge-foreground': '#f8f8f8',
      '--vscode-inputValidation-errorBackground': '#5a1d1d', '--vscode-inputValidation-errorForeground': '#cccccc', '--vscode-inputValidation-errorBorder': '#be1100',
      '--vscode-inputValidation-warningBackground': '#352a05', '--vscode-inputValidation-warningForeground': '#cccccc', '--vscode-inputValidation-warningBorder': '#b89500',
      '--vscode-testing-iconPassed': '#73c991', '--vscode-editor-selectionBackground': '#264f78', '--vscode-textLink-foreground': '#4daafc',
      '--vscode-editorWarning-foreground': '#cca700',
    },
  },
  hc: {
    bodyClass: 'vscode-high-contrast',
    vars: {
      '--vscode-font-family': 'system-ui, "Ubuntu", "Droid Sans", sans-serif', '--vscode-font-size': '13px',
      '--vscode-editor-background': '#000000', '--vscode-editor-foreground': '#ffffff',
      '--vscode-descriptionForeground': '#ffffff', '--vscode-panel-border': '#6fc3df', '--vscode-contrastBorder': '#6fc3df',
      '--vscode-charts-blue': '#3794ff', '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#89d185',
      '--vscode-charts-red': '#f14c4c', '--vscode-charts-purple': '#b180d7', '--vscode-charts-yellow': '#cca700',
      '--vscode-charts-lines': 'rgba(255, 255, 255, 0.5)',
      '--vscode-button-background': '#000000', '--vscode-button-foreground': '#ffffff', '--vscode-button-border': '#6fc3df',
      '--vscode-button-secondaryBackground': '#000000', '--vscode-button-secondaryForeground': '#ffffff',
      '--vscode-input-background': '#000000', '--vscode-input-foreground': '#ffffff', '--vscode-input-border': '#6fc3df',
      '--vscode-focusBorder': '#f38518', '--vscode-errorForeground': '#f48771', '--vscode-badge-background': '#000000', '--vscode-badge-foreground': '#ffffff',
      '--vscode-inputValidation-errorBackground': '#000000', '--vscode-inputValidation-errorForeground': '#ffffff', '--vscode-inputValidation-errorBorder': '#be1100',
      '--vscode-inputValidation-warningBackground': '#000000', '--vscode-inputValidation-warningForeground': '#ffffff', '--vscode-inputValidation-warningBorder': '#b89500',
      '--vscode-testing-iconPassed': '#73c991', '--vscode-editor-selectionBackground': '#f38518', '--vscode-textLink-foreground': '#21a6ff',
      '--vscode-editorWarning-foreground': '#ffd370',
    },
  },
};
export type ThemeName = keyof typeof THEMES;

/** VS Code's host side inside the page: acquireVsCodeApi (once), state, theme variables, CSP violation reports. */
const HOST_SHIM = `function ({ vars, bodyClass, saved }) {
  let state = saved === null ? undefined : saved;
  const applyTheme = () => {
    const root = document.documentElement;
    if (!root || root.dataset.themed) return;
    root.dataset.themed = '1';
    for (const [k, v] of Object.entries(vars)) root.style.setProperty(k, v);
    if (document.body) document.body.classList.add(bodyClass);
  };
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__i2fViolation(e.violatedDirective + ' blocked ' + (e.blockedURI || '(inline)') + ' ' + (e.sourceFile || '') + ':' + (e.lineNumber || ''));
  });
  let acquired = false;
  window.acquireVsCodeApi = () => {
    if (acquired) throw new Error('An instance of the VS Code API has already been acquired');
    acquired = true;
    applyTheme();
    return {
      postMessage: (m) => void window.__i2fPosted(JSON.parse(JSON.stringify(m))),
      getState: () => state,
      setState: (s) => { state = s; window.__i2fState = s; },
    };
  };
  document.addEventListener('DOMContentLoaded', applyTheme);
}`;


/** Debian's chromium, or '' (a suite that needs it: `needing(chromium)` from test/support/requirements.ts). */
export const chromiumPath = (): string => debianChromium.path;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html; charset=utf-8' };

/** Serves media/ (as the webview's resource root) and the harness pages, on a loopback port. */
export async function startServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const page = /^\/page\/(spectrum|report)$/.exec(url.pathname);
    if (page) {
      const origin = `http://${req.headers.host}`;
      const html = pageHtml(page[1] as PageKind, { cspSource: origin, scriptUri: `${origin}/media/dist/${page[1]}.js`, styleUri: `${origin}/media/dist/styles.css` });
      res.writeHead(200, { 'content-type': TYPES['.html'] }).end(html);
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end(); // VS Code's webviews ask for none; Chromium asks by itself
      return;
    }
    const file = normalize(join(ROOT, decodeURIComponent(url.pathname)));
    if (!file.startsWith(join(ROOT, 'media') + '/') || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export interface Opened {
  page: Page;
  posted: { type: string; [k: string]: unknown }[];
  problems: string[];
  /** Sends a host → page message (a MessageEvent on window, as VS Code delivers them). */
  send(message: unknown): Promise<void>;
  waitForPosted(type: string, count?: number): Promise<{ type: string; [k: string]: unknown }>;
  close(): Promise<void>;
}

export type Extension = (message: { type: string; [k: string]: unknown }, opened: Opened) => unknown | Promise<unknown>;

/** Opens a page in a fresh persistent context (the flags TESTING.md lists), with a theme and saved state. */
export async function openPage(origin: string, kind: PageKind, theme: ThemeName, extension: Extension, state?: unknown): Promise<Opened> {
  const profile = mkdtempSync(join(tmpdir(), 'i2f-webview-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: debianChromium.path,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 900 },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const posted: Opened['posted'] = [];
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) problems.push(`outside request: ${r.url()}`);
  });
  /** The configs the report page was shown: the extension lets it open the spectrum for these only. */
  const shown = new Set<string>();
  const opened: Opened = {
    page, posted, problems,
    send: async (message) => {
      const results = (message as { type?: string; results?: { config?: unknown }[] } | null)?.results;
      if ((message as { type?: string } | null)?.type === 'summary' && Array.isArray(results)) for (const r of results) if (typeof r?.config === 'string') shown.add(r.config);
      await page.evaluate(`window.postMessage(${JSON.stringify(message)}, '*')`);
    },
    waitForPosted: async (type, count = 1) => {
      const t0 = Date.now();
      for (;;) {
        const hits = posted.filter((m) => m.type === type);
        if (hits.length >= count) return hits[count - 1];
        if (Date.now() - t0 > 10_000) throw new Error(`the page did not post '${type}' (${count}) within 10 s; posted: ${posted.map((m) => m.type).join(', ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
  await page.exposeFunction('__i2fPosted', async (m: { type: string }) => {
    posted.push(m);
    // Whatever the real page sends must pass the extension's own check (client/src/webview/pageMessages.ts) unchanged.
    const checked = kind === 'spectrum' ? checkSpectrumPageMessage(m) : checkReportPageMessage(m, shown);
    if (!checked.ok) problems.push(`the extension would drop ${JSON.stringify(m).slice(0, 120)}: ${checked.reason}`);
    else if (!isDeepStrictEqual(checked.message, m)) problems.push(`the extension would change ${JSON.stringify(m).slice(0, 120)}`);
    const reply = await extension(m, opened);
    if (reply !== undefined) await opened.send(reply);
  });
  await page.exposeFunction('__i2fViolation', (v: string) => problems.push(`CSP violation: ${v}`));
  const t = THEMES[theme];
  // Runs before the page's own scripts and outside its CSP, as VS Code's host script does.
  // A string, not a function: tsx's transpiled functions reference helpers (__name) the page does not have.
  await page.addInitScript(`(${HOST_SHIM})(${JSON.stringify({ vars: t.vars, bodyClass: t.bodyClass, saved: state ?? null })})`);
  await page.goto(`${origin}/page/${kind}`);
  return opened;
}

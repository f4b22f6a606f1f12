// What a person sees in a real VS Code (code-server + headless Chromium) with the packaged .vsix installed and a copy
// of examples/ open: the I2F001 squiggle and its Problems entry on the Flower config's noise line (numbers equal to
// the CLI's), the hover, the inlay hint, the quick fix that raises the noise and the diagnostic improving after it,
// the palette audit with its progress notification, and the language status item. One session, screenshots in
// test-results/e2e/.

import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Frame, Locator, Page } from 'playwright-core';
import { REPO, startCodeServer } from './support/codeServer';
import { openBrowser } from './support/browser';
import { all, chromium, codeServer } from '../support/requirements';

const { skip } = all(codeServer, chromium);
const NOISE_LINE = 22; // 1-based, as the editor and the Problems panel show it
// The finding's numbers; the attacker it names may stand between the PSNR and the I²F.
const NUMBERS = /PSNR (-?[\d.]+) dB \(RMSE ([\d.]+)\)\..*?\bI²F ([\d.e+-]+), lower bound ([\d.e+-]+)/s;

/** The CLI's I2F001 message for the Flower config (same engine, same settings: one sample). */
function cliFinding(): string {
  const dir = mkdtempSync(join(tmpdir(), 'i2f-e2e-cli-'));
  try {
    for (const d of ['flower', 'models', 'data']) cpSync(join(REPO, 'examples', d), join(dir, d), { recursive: true });
    const out = execFileSync(process.execPath, [join(REPO, 'dist/cli.js'), 'audit', join(dir, 'flower/pyproject.toml')], { encoding: 'utf8' });
    const line = out.split('\n').find((l) => l.includes('I2F001'));
    assert.ok(line, `the CLI reports I2F001:\n${out}`);
    return line.slice(line.indexOf('I2F001') + 'I2F001'.length).trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const VIEW_LINES_WITH_GENERATED_CONTENT = `[...document.querySelectorAll('.editor-instance .view-line')].map((line) => {
  const content = (el, pseudo) => {
    const c = getComputedStyle(el, pseudo).content;
    return c && c !== 'none' && c !== 'normal' ? c.replace(/^"|"$/g, '') : '';
  };
  return [...line.querySelectorAll('span > span')].map((el) => content(el, '::before') + el.textContent + content(el, '::after')).join('');
})`;

/** The webview page (the inner of two nested iframes, TESTING.md) that has `selector`; several may be open. */
async function webviewWith(page: Page, selector: string, timeout = 60_000): Promise<Frame> {
  const deadline = Date.now() + timeout;
  for (;;) {
    for (const frame of page.frames()) {
      if (frame !== page.mainFrame() && (await frame.locator(selector).count().catch(() => 0)) > 0) return frame;
    }
    if (Date.now() > deadline) throw new Error(`no webview with ${selector} within ${timeout} ms`);
    await page.waitForTimeout(250);
  }
}

async function openFile(page: Page, relative: string): Promise<void> {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(relative);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: relative.split('/').pop()! }).first();
  await row.waitFor();
  await row.click();
  await page.locator(`.tab[aria-label*="${relative.split('/').pop()!}"]`).first().waitFor();
}

async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`>${title}`);
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor();
  await row.click();
}

/** The Problems panel's rows (opens the panel). */
async function problems(page: Page): Promise<Locator> {
  const rows = page.locator('.markers-panel .monaco-list-row');
  if (!(await page.locator('.markers-panel').isVisible())) await page.keyboard.press('Control+Shift+M');
  await page.locator('.markers-panel').waitFor();
  return rows;
}

async function problemText(page: Page, match: RegExp, timeout = 60_000): Promise<string> {
  const rows = await problems(page);
  const row = rows.filter({ hasText: match }).first();
  await row.waitFor({ timeout });
  // The row's accessible label has the message, severity and position; its text has the rule code.
  return `${(await row.getAttribute('aria-label')) ?? ''} ${await row.innerText()}`.replace(/\u00a0/g, ' ');
}

async function gotoLine(page: Page, line: number): Promise<void> {
  await page.locator('.editor-instance .view-lines').first().click();
  await page.keyboard.press('Control+G');
  await page.locator('.quick-input-widget input').fill(`:${line}`);
  await page.keyboard.press('Enter');
}

test('a person opening examples/ in VS Code sees the Flower config\'s leakage, its explanation and its fix', { skip, timeout: 240_000 }, async (root) => {
  const expected = cliFinding().match(NUMBERS);
  assert.ok(expected, 'the CLI message has PSNR, RMSE, I²F and lower bound');
  const cs = await startCodeServer();
  const browser = await openBrowser();
  const { page } = browser;
  // Each step a subtest; a failed step leaves a screenshot named after it.
  let step = 0;
  const t = {
    diagnostic: (m: string) => root.diagnostic(m),
    test: (name: string, fn: (t: { diagnostic: (m: string) => void }) => Promise<void>) => root.test(name, async (st) => {
      const n = ++step;
      try {
        await fn(st);
      } catch (e) {
        await browser.screenshot(`failed-step-${n}`).catch(() => undefined);
        throw e;
      }
    }),
  };
  try {
    await page.goto(cs.folderUrl);
    await page.locator('.explorer-folders-view .monaco-list-row').first().waitFor({ timeout: 60_000 });
    await openFile(page, 'flower/pyproject.toml');
    const editor = page.locator('.editor-instance').first();

    await t.test('the squiggle and the Problems entry sit on the noise line with the CLI\'s numbers', async () => {
      await editor.locator('.squiggly-info').first().waitFor({ timeout: 90_000 });
      const text = await problemText(page, /Leakage risk LOW/);
      const got = text.match(NUMBERS);
      assert.ok(got, `Problems entry has the numbers: ${text}`);
      assert.deepEqual(got.slice(1), expected.slice(1), 'same PSNR, RMSE, I²F and lower bound as `i2f audit`');
      assert.match(text, /I2F001/);
      assert.match(text, new RegExp(`\\b${NOISE_LINE}\\b`), `on line ${NOISE_LINE}: ${text}`);
      await browser.screenshot('1-squiggle-problems');
    });

    await t.test('the inlay hint follows the noise value', async (t) => {
      // Inlay hints are drawn as CSS generated content (::before/::after of injected spans), not as text nodes.
      // A string, not a function: tsx's helpers (__name) do not exist in the page.
      const lineText = async () => ((await page.evaluate(VIEW_LINES_WITH_GENERATED_CONTENT)) as string[])
        .map((x) => x.replace(/\u00a0/g, ' ')).find((x) => x.startsWith('noise-multiplier = 0.3')) ?? '';
      const waitForHint = async (ms: number) => {
        const deadline = Date.now() + ms;
        while (!/dB · low risk/.test(await lineText()) && Date.now() < deadline) await page.waitForTimeout(250);
        return /dB · low risk/.test(await lineText());
      };
      if (!(await waitForHint(5_000))) {
        // The server sends no workspace/inlayHint/refresh when an analysis lands (server/src/server.ts): if VS Code
        // asked before the analysis finished, the hint shows only once the editor asks again, e.g. on a scroll.
        // Remove this nudge once the server refreshes.
        t.diagnostic('inlay hint missing after the analysis: no inlayHint refresh from the server; scrolling to re-request');
        await editor.locator('.view-lines').first().hover();
        await page.mouse.wheel(0, 200);
        await page.waitForTimeout(300);
        await page.mouse.wheel(0, -400);
        await waitForHint(10_000);
      }
      // The DP account follows the PSNR on the noise line (user-level ε of the Flower example's 3 rounds).
      const hint = (await lineText()).match(/^noise-multiplier = 0\.3\s*PSNR (-?[\d.]+) dB · low risk · ε [\d.e]+$/);
      assert.ok(hint, `inlay hint after the value: '${await lineText()}'`);
      assert.ok(Math.abs(Number(hint[1]) - Number(expected[1])) < 0.01, `hint PSNR ${hint[1]} = the finding's ${expected[1]}`);
    });

    await t.test('the hover explains the prediction', async () => {
      const squiggle = editor.locator('.squiggly-info').first();
      const box = (await squiggle.boundingBox())!;
      const hover = page.locator('.monaco-hover:visible', { hasText: 'Predicted PSNR' });
      for (let i = 0; i < 5 && !(await hover.isVisible()); i++) {
        await page.mouse.move(box.x + 5 + i * 3, box.y + box.height / 2);
        await page.mouse.move(box.x + 10 + i * 3, box.y + box.height / 2, { steps: 3 });
        await hover.waitFor({ timeout: 3_000 }).catch(() => undefined);
      }
      const text = await hover.innerText();
      for (const part of ['noise-multiplier', 'Predicted PSNR', 'Predicted RMSE', 'Lower bound', 'Most exposed sample']) assert.ok(text.includes(part), `hover has '${part}': ${text}`);
      await browser.screenshot('2-hover');
      await page.mouse.move(5, 400);
      await page.keyboard.press('Escape');
    });

    await t.test('weak noise is an error, and the quick fix raises the noise to the target', async () => {
      await gotoLine(page, NOISE_LINE);
      await page.keyboard.press('End');
      await page.keyboard.press('Shift+Home');
      await page.keyboard.type('noise-multiplier = 0.0001');
      await editor.locator('.squiggly-error').first().waitFor({ timeout: 30_000 });
      await problemText(page, /Leakage risk HIGH/, 30_000);
      await browser.screenshot('3-weak-noise');
      await gotoLine(page, NOISE_LINE);
      await page.keyboard.press('Control+.');
      const fix = page.locator('.action-widget .monaco-list-row', { hasText: /Set noise-multiplier to [\d.]+ \(predicted PSNR 15 dB\)/ }).first();
      await fix.waitFor({ timeout: 15_000 });
      await browser.screenshot('4-quick-fix');
      const title = (await fix.innerText()).trim();
      const value = title.match(/Set noise-multiplier to ([\d.]+)/)![1];
      await fix.click();
      await editor.locator('.view-line', { hasText: `noise-multiplier = ${value}` }).waitFor();
      // The finding improves: no longer high; the graded PSNR is the 15 dB target (medium between 12 and 20 dB).
      await editor.locator('.squiggly-error').waitFor({ state: 'detached', timeout: 30_000 });
      // The example's attacker observes the aggregate: std σ·C on one client's share (C = 10).
      const std = String(Number((Number(value) * 10).toPrecision(4)));
      const text = await problemText(page, new RegExp(`std=${std.replace('.', '\\.')}\\b`), 30_000);
      assert.match(text, /Leakage risk (MEDIUM|LOW)/);
      // The graded PSNR (the prediction + the attack spread: 1.9 dB in the first-order regime, 6.0 dB outside it) is at
      // the target, so the predicted PSNR sits that far below it.
      const psnr = Number(text.match(/PSNR (-?[\d.]+) dB/)![1]);
      assert.ok(psnr <= 15 - 1.9 + 0.01 && psnr > 15 - 6.0 - 0.5, `predicted PSNR below the target by the attack spread after the fix: ${psnr}`);
      await browser.screenshot('5-fixed');
    });

    await t.test('the spectrum panel plots the eigenvalues inside its webview', async () => {
      // The commands' palette entries are limited to YAML/JSON/TOML editors, and VS Code has no TOML language of its
      // own: the code lens is how a person opens it from the Flower config.
      await page.keyboard.press('Escape');
      await editor.locator('.codelens-decoration a', { hasText: 'Show eigen-spectrum' }).first().click();
      const view = await webviewWith(page, '#eigen-chart svg');
      await view.locator('#title', { hasText: 'mlp.onnx' }).waitFor({ timeout: 60_000 });
      assert.match(await view.locator('#title').innerText(), /Eigen-spectrum of J Jᵀ — mlp\.onnx/);
      assert.ok((await view.locator('#eigen-chart svg circle, #eigen-chart svg path, #eigen-chart svg rect').count()) > 0, 'the plot has marks');
      await browser.screenshot('6-spectrum');
    });

    await t.test('the spectrum panel runs the real attack and shows original, predicted and recovered', async () => {
      const view = await webviewWith(page, '#run-attack');
      await view.locator('#run-attack').click();
      // The Flower config's MLP attack runs in the server's worker: progress in the page, then the pictures.
      await view.locator('#attack-result .attack-row').first().waitFor({ timeout: 120_000 });
      const kinds = await view.locator('#attack-result .attack-row').first().locator('figure').evaluateAll((fs) => fs.map((f) => f.getAttribute('data-kind')));
      assert.deepEqual(kinds, ['original', 'predicted', 'recovered']);
      const rmse = Number(await view.locator('[data-fact="rmse"]').first().getAttribute('data-value'));
      const ratio = Number(await view.locator('[data-fact="ratio"]').first().getAttribute('data-value'));
      assert.ok(rmse > 0 && Number.isFinite(ratio) && ratio > 0, `attack RMSE ${rmse}, attack / prediction ${ratio}`);
      await browser.screenshot('6b-attack');
    });

    await t.test('opening an .onnx file shows the model report', async () => {
      await openFile(page, 'models/mlp.onnx');
      const view = await webviewWith(page, '#verdict');
      await view.locator('#title', { hasText: 'Model report — mlp.onnx' }).waitFor({ timeout: 60_000 });
      await view.locator('#verdict', { hasText: /analysable/ }).waitFor({ timeout: 60_000 });
      assert.match(await view.locator('#subtitle').innerText(), /ONNX, opset 13/);
      await browser.screenshot('7-model-report');
    });
    await t.test('the language status item shows the server\'s state and opens the log', async () => {
      await openFile(page, 'flower/pyproject.toml'); // the item belongs to config editors, not the model report
      const status = page.locator('[id="status.languageStatus"]');
      await status.waitFor();
      assert.match((await status.getAttribute('aria-label')) ?? '', /I²F/);
      await status.click();
      const item = page.locator('.monaco-hover:visible', { hasText: 'I²F' }).first();
      await item.waitFor({ timeout: 10_000 });
      assert.match(await item.innerText(), /I²F/);
      await browser.screenshot('8-status');
      // Its command opens the log.
      await item.getByText('Show log').click();
      await page.locator('.output-view, [id="workbench.panel.output"]').first().waitFor({ timeout: 10_000 });
    });
    await t.test('the palette audit shows its progress and cancels; the Audit code lens reports the config', async () => {
      // The workspace audit waits for every config's analysis, the LeNet ones included (about a minute each):
      // check its progress notification, then cancel it from there.
      await runCommand(page, 'I²F: Audit workspace');
      const toasts = page.locator('.notifications-toasts');
      const progress = toasts.locator('.notification-list-item', { hasText: 'I²F: auditing the workspace' }).first();
      await progress.waitFor({ timeout: 15_000 });
      await browser.screenshot('9-audit-progress');
      await progress.hover();
      await progress.getByRole('button', { name: 'Cancel' }).click();
      await progress.waitFor({ state: 'detached', timeout: 15_000 });
      // The Audit code lens on the Flower config's model-path line audits that config to the end.
      await openFile(page, 'flower/pyproject.toml');
      await editor.locator('.codelens-decoration a', { hasText: 'Audit' }).first().click();
      const done = toasts.locator('.notification-list-item', { hasText: /I²F: 1 training config\(s\), \d+ finding\(s\)/ }).first();
      await done.waitFor({ timeout: 60_000 });
      await browser.screenshot('10-audit-done');
      await runCommand(page, 'I²F: Cancel analyses');
    });

  } catch (e) {
    await browser.screenshot('failure').catch(() => undefined);
    throw e;
  } finally {
    await browser.close();
    await cs.stop();
  }
});

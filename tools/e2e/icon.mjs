// Draws media/icon.png (128×128, the marketplace icon) from the inline SVG below with Debian's headless Chromium:
// a shield (privacy) carrying the I²F mark. `node tools/e2e/icon.mjs`.
import { chromium } from 'playwright-core';
import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#1f3a5f"/><stop offset="1" stop-color="#0f1f33"/></linearGradient>
    <linearGradient id="shield" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#4fc3f7"/><stop offset="1" stop-color="#1976d2"/></linearGradient>
  </defs>
  <rect x="0" y="0" width="128" height="128" rx="24" fill="url(#bg)"/>
  <path d="M64 14 L100 27 V60 C100 84 84 101 64 112 C44 101 28 84 28 60 V27 Z" fill="url(#shield)" stroke="#e3f2fd" stroke-width="4" stroke-linejoin="round"/>
  <text x="64" y="75" text-anchor="middle" font-family="DejaVu Sans, Arial, sans-serif" font-weight="bold" font-size="30" fill="#ffffff">I²F</text>
</svg>`;

const profile = mkdtempSync(join(tmpdir(), 'i2f-icon-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: execSync('command -v chromium', { encoding: 'utf8' }).trim(),
  args: ['--headless', '--no-sandbox', '--disable-gpu'],
  viewport: { width: 128, height: 128 },
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.setContent(`<html><body style="margin:0;background:transparent">${svg}</body></html>`);
  await page.locator('svg').screenshot({ path: 'media/icon.png', omitBackground: true });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log('media/icon.png');

// Debian's headless Chromium driven by playwright-core, on a fresh profile per session (TESTING.md's flags).

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO } from './codeServer';
import { chromium as debianChromium } from '../../support/requirements';

export const SCREENSHOTS = join(REPO, 'test-results/e2e');


export interface Browser {
  context: BrowserContext;
  page: Page;
  screenshot: (name: string) => Promise<string>;
  close: () => Promise<void>;
}

export async function openBrowser(): Promise<Browser> {
  if (!debianChromium.available) throw new Error(String(debianChromium.skip));
  const executablePath = debianChromium.path;
  const profile = mkdtempSync(join(tmpdir(), 'i2f-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1400, height: 900 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    context,
    page,
    screenshot: async (name) => {
      const path = join(SCREENSHOTS, `${name}.png`);
      await page.screenshot({ path });
      return path;
    },
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true, maxRetries: 3 });
    },
  };
}

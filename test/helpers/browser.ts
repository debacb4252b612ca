import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Browser tests run when Debian's Chromium is installed; CI sets REQUIRE_CHROMIUM so that a
 * missing browser fails the run instead of skipping it.
 */
export const chromiumAvailable = existsSync(CHROMIUM_PATH);
if (!chromiumAvailable && process.env.REQUIRE_CHROMIUM) {
  throw new Error(`Chromium is required (REQUIRE_CHROMIUM is set) but ${CHROMIUM_PATH} does not exist`);
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

const violations = new WeakMap<BrowserContext, string[]>();

/** Content-Security-Policy violations Chromium reported in the context's pages so far. */
export function cspViolations(context: BrowserContext): string[] {
  return violations.get(context) ?? [];
}

/**
 * A fresh context; `cookie` (name=value) signs it in to the admin at `baseUrl`. Pages run under
 * the server's real Content-Security-Policy; what it blocks is collected for `cspViolations`.
 */
export async function newContext(
  browser: Browser,
  options: { baseUrl: string; cookie?: string; locale?: string },
): Promise<BrowserContext> {
  const context = await browser.newContext({
    baseURL: options.baseUrl,
    locale: options.locale ?? 'en-US',
  });
  const found: string[] = [];
  violations.set(context, found);
  context.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) found.push(message.text());
  });
  if (options.cookie) {
    const [name, ...rest] = options.cookie.split('=');
    await context.addCookies([{ name: name!, value: rest.join('='), url: options.baseUrl }]);
  }
  return context;
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** Runs axe-core (WCAG 2.0/2.1 A and AA rules) on the page and returns the violations, readable. */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run: (opts: unknown) => Promise<unknown> } }).axe;
    return axe.run({
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    });
  });
  const violations = (
    results as {
      violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[];
    }
  ).violations;
  return violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => n.target.join(' ')),
  }));
}

/**
 * Waits until an element of `role` shows `text`: a click that submits a form or follows a link does
 * not wait for the next page, so reading at once may still read the page before it.
 */
export async function waitForText(
  page: Page,
  role: Parameters<Page['getByRole']>[0],
  text: string,
  options: { level?: number } = {},
): Promise<void> {
  await page.getByRole(role, options).filter({ hasText: text }).first().waitFor();
}

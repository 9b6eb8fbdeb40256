/**
 * Headless Chromium with one page that serves a test's HTML at `/` and a renderer bundle from
 * dist/renderers/ at `/<name>.js`, waits until the page says `window.fernbReady`, and collects the
 * page's errors (a test asserts there are none). Shared by the renderer DOM tests.
 */
import { existsSync, readFileSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = process.env.FERNB_CHROMIUM || "/usr/bin/chromium";
export const ORIGIN = "http://fernb.test";

export interface RendererPage {
  browser: Browser;
  page: Page;
  pageErrors: string[];
}

/** Opens `html` at ORIGIN/ with `bundle` (e.g. "dist/renderers/review.js") served at ORIGIN/<file name>. */
export async function openRendererPage(html: string, bundle: string, viewport: { width: number; height: number }): Promise<RendererPage> {
  if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run \`npm run build\` first`);
  const script = "/" + bundle.split("/").pop();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"] });
  const page = await browser.newPage({ viewport });
  const pageErrors: string[] = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.route(`${ORIGIN}/**`, (route) => {
    const path = new URL(route.request().url()).pathname;
    if (path === "/") return route.fulfill({ contentType: "text/html", body: html });
    if (path === script) return route.fulfill({ contentType: "text/javascript", body: readFileSync(bundle) });
    return route.fulfill({ status: 404, body: "not found" });
  });
  await page.goto(`${ORIGIN}/`);
  await page.waitForFunction(() => (window as any).fernbReady === true, undefined, { timeout: 10_000 });
  return { browser, page, pageErrors };
}

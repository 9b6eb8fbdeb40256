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

/**
 * A page that activates a messaging renderer with a fake RendererContext, as VS Code would:
 * `window.posted` records what the renderer posts, `window.deliver(m)` hands it a reply,
 * `window.fernbRender(text)` renders one output item of `mime` (returning its selector) and records
 * how long that took in `window.renderMs`.
 */
export function messagingRendererHtml(o: { script: string; mime: string; rootStyle: string; bodyStyle: string }): string {
  return `<!doctype html>
<html style="${o.rootStyle}"><head><meta charset="utf-8">
<style>body { ${o.bodyStyle} }</style>
<script>window.__name = (f) => f;</script>
</head><body><script type="module">
  import { activate } from "/${o.script}";
  const listeners = [];
  window.posted = [];
  const ctx = { setState() {}, getState() { return undefined; }, getRenderer: async () => undefined, workspace: { isTrusted: true },
    postMessage: (m) => window.posted.push(JSON.parse(JSON.stringify(m))),
    onDidReceiveMessage: (l) => { listeners.push(l); return { dispose() {} }; } };
  const renderer = await activate(ctx);
  window.deliver = (m) => listeners.forEach((l) => l(m));
  let n = 0;
  window.fernbRender = async (text) => {
    const el = document.createElement("div");
    el.id = "out" + ++n;
    document.body.append(el);
    const item = { id: el.id, mime: "${o.mime}", metadata: {}, text: () => text, json: () => JSON.parse(text),
      data: () => new TextEncoder().encode(text), blob: () => new Blob([text]) };
    const t = performance.now();
    await renderer.renderOutputItem(item, el, new AbortController().signal);
    window.renderMs = performance.now() - t;
    return "#" + el.id;
  };
  window.fernbReady = true;
</script></body></html>`;
}

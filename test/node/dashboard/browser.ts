// Debian's Chromium driven by playwright-core: never a downloaded browser. Playwright gives
// each launch a fresh temporary --user-data-dir of its own.
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** axe-core's serious and critical violations on the page as it stands, one line each. */
export async function axeViolations(page: import("playwright-core").Page): Promise<string[]> {
  const { createRequire } = await import("node:module");
  // Injected once per document: views reached by the SPA's own navigation reuse it.
  if (!(await page.evaluate("typeof axe !== 'undefined'"))) {
    await page.addScriptTag({ path: createRequire(import.meta.url).resolve("axe-core/axe.min.js") });
  }
  // A string, not a function: the test side has no DOM types.
  const found = await page.evaluate<{ id: string; impact: string; targets: string[] }[]>(
    `axe.run(document, { resultTypes: ["violations"] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) })))`,
  );
  return found.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.impact} ${v.id}: ${v.targets.join(", ")}`);
}

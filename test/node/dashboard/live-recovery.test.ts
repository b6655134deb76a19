// A lost live connection is shown and recovered: the region goes away and comes back (same
// port, same state), the page says so, reconnects on its own, and shows what changed meanwhile.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { launchChromium } from "./browser";
import { startTestRegion, type TestRegion } from "./region";

const WAIT = { timeout: 30_000 };
let region: TestRegion;
let browser: Browser;

beforeAll(async () => {
  region = await startTestRegion({ machines: 20, sites: 2 });
  browser = await launchChromium();
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await region?.stop();
});

it("shows the drop, reconnects, and catches up with changes made while it was away", async () => {
  const page = await (await browser.newContext()).newPage();
  await page.goto(region.url);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(region.admin.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  const m = (await region.api("GET", "/machines?status=ready&limit=1")).json.items[0];
  await page.goto(`${region.url}/machines/${m.system_id}`);
  await page.locator('[data-testid="status"]', { hasText: "Ready" }).waitFor(WAIT);
  const live = page.locator('[data-testid="live"]');
  await live.filter({ hasText: "Live" }).waitFor(WAIT);

  await region.restart(async () => {
    await live.filter({ hasText: "Reconnecting…" }).waitFor(WAIT);
  });
  // Changed right after the region came back, possibly before the page reconnected: either the
  // event or the catch-up reload after reconnecting must bring it to the page.
  expect((await region.api("POST", `/machines/${m.system_id}/mark_broken`, { comment: "while you were away" })).status).toBe(200);
  await live.filter({ hasText: "Live" }).waitFor(WAIT);
  await page.locator('[data-testid="status"]', { hasText: "Broken" }).waitFor(WAIT);
});

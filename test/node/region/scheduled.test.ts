// The local region fires its Cron Trigger the way `npm start` does (wrangler dev
// --test-scheduled, /__scheduled routed to the Worker ahead of the dashboard's assets): the
// scheduled handler runs (deadline sweep, power polling) instead of answering "exception".
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Region, region, stopRegion } from "../tunnel/rig";

let r: Region;
beforeAll(async () => {
  r = await region();
}, 120_000);
afterAll(async () => {
  if (r) await stopRegion(r.child);
});

it("runs the scheduled handler on /__scheduled, and the dashboard does not swallow it", async () => {
  const res = await fetch(`${r.url}/__scheduled?cron=${encodeURIComponent("* * * * *")}`);
  expect(res.status).toBe(200);
  expect(await res.text()).toBe("Ran scheduled event");
  // The SPA still answers everything else that is not the API.
  const page = await fetch(`${r.url}/machines`);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain("<title>Plinth</title>");
});

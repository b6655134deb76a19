import { SELF } from "cloudflare:test";
import { expect, it } from "vitest";

it("answers health", async () => {
  const r = await SELF.fetch("http://region/api/v1/health");
  expect(r.status).toBe(200);
  expect(await r.json()).toEqual({ ok: true });
});

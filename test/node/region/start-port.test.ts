// `npm start` on a port something already holds: one plain sentence and a non-zero exit, before
// wrangler is started (it would print its banner, then die with a workerd stack trace).
import { spawnSync } from "node:child_process";
import { createServer, type Server } from "node:net";
import { resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../../..");
let holder: Server;
let port = 0;

beforeAll(async () => {
  holder = createServer();
  await new Promise<void>((ok) => holder.listen(0, "127.0.0.1", ok));
  port = (holder.address() as { port: number }).port;
});
afterAll(() => new Promise<void>((ok) => holder.close(() => ok())));

it("says the port is taken and exits 1", () => {
  const r = spawnSync(process.execPath, ["scripts/start.mjs"], {
    cwd: ROOT,
    env: { ...process.env, PLINTH_PORT: String(port) },
    encoding: "utf8",
    timeout: 30_000,
  });
  expect(r.status).toBe(1);
  expect(r.stderr).toContain(`port ${port} on 127.0.0.1 is in use`);
  expect(r.stdout).not.toContain("Plinth region:");
});

it("refuses a PLINTH_PORT that is not a port, exit 2", () => {
  const r = spawnSync(process.execPath, ["scripts/start.mjs"], {
    cwd: ROOT,
    env: { ...process.env, PLINTH_PORT: "524000" },
    encoding: "utf8",
    timeout: 30_000,
  });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain("PLINTH_PORT must be a TCP port");
});

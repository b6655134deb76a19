// A throwaway local region for browser and CLI tests: its own state directory and a free
// loopback port, seeded before wrangler starts (the seed writes the same local D1 files).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyMigrations, bootstrapAdmin, ensureDevVars, startRegion, stopRegion } from "../../../scripts/region-local.mjs";
import { seed } from "../../../scripts/seed-data";
import { quietWranglerEnv } from "../../../scripts/wrangler-env.mjs";

const ROOT = join(import.meta.dirname, "../../..");

export interface TestRegion {
  url: string;
  stateDir: string;
  admin: { username: string; password: string; api_key: string };
  /** A bearer-key JSON call, for arranging and for changing state behind the page's back. */
  api: (method: string, path: string, body?: unknown) => Promise<{ status: number; json: any }>;
  /**
   * Runs SQL on the region's local D1 while it serves (`wrangler d1 execute --local` on the same
   * persisted state), for what no API changes: time passing, as a session's expiry.
   */
  d1: (sql: string) => Record<string, unknown>[];
  /** Stops wrangler and starts it again on the same port and state: a region outage. */
  restart: (downMs?: () => Promise<void>) => Promise<void>;
  stop: () => Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

export async function startTestRegion(o: { machines: number; sites: number }): Promise<TestRegion> {
  const stateDir = mkdtempSync(join(tmpdir(), "plinth-ui-"));
  const { vars } = ensureDevVars(stateDir);
  applyMigrations(stateDir);
  if (o.machines > 0) await seed({ machines: o.machines, sites: o.sites, stateDir, secretKey: vars.PLINTH_SECRET_KEY });
  const port = await freePort();
  let { child, url } = await startRegion({ stateDir, port, stdio: "ignore" });
  const admin = await bootstrapAdmin(url, stateDir);
  if (!admin) throw new Error("bootstrap refused on a fresh region");
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${admin.api_key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null };
  };
  const d1 = (sql: string) => {
    const run = () =>
      spawnSync(
        join(ROOT, "node_modules/.bin/wrangler"),
        ["d1", "execute", "DB", "--local", "--persist-to", join(stateDir, "wrangler"), "--json", "--command", sql],
        {
          cwd: ROOT,
          encoding: "utf8",
          env: { ...process.env, ...quietWranglerEnv, CI: "true" },
          timeout: 120_000,
        },
      );
    let r = run();
    // The serving region holds the same SQLite file: on a busy machine this second writer can
    // find it locked for a moment (SQLITE_BUSY); the statement is then simply run again.
    for (let i = 0; i < 5 && r.status !== 0 && /SQLITE_BUSY|database is locked/.test(`${r.stdout}${r.stderr}`); i++) {
      spawnSync("sleep", ["0.5"]);
      r = run();
    }
    if (r.status !== 0) throw new Error(`d1 execute failed:\n${r.stdout}\n${r.stderr}`);
    return (JSON.parse(r.stdout) as { results: Record<string, unknown>[] }[])[0]?.results ?? [];
  };
  return {
    url,
    stateDir,
    admin,
    api,
    d1,
    restart: async (whileDown) => {
      await stopRegion(child);
      await whileDown?.();
      ({ child, url } = await startRegion({ stateDir, port, stdio: "ignore" }));
    },
    stop: async () => {
      await stopRegion(child);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

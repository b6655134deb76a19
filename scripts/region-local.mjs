// The local region: wrangler dev in workerd with a local SQLite-backed D1, state under
// .plinth/ (or another directory, for benchmarks). Shared by `npm start`, the seed script
// and the benchmarks so they all run the region the same way.
import { spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureDashboard } from "./dashboard-build.mjs";
import { quietWranglerEnv } from "./wrangler-env.mjs";

const WRANGLER = "node_modules/.bin/wrangler";
const ROOT = join(import.meta.dirname, "..");

/** Development secrets, generated once per state directory and never committed. */
export function ensureDevVars(stateDir) {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, "dev.vars");
  if (!existsSync(file)) {
    const vars = [`PLINTH_SECRET_KEY=${randomBytes(32).toString("base64")}`, `PLINTH_BOOTSTRAP_TOKEN=${randomBytes(24).toString("hex")}`].join("\n");
    writeFileSync(file, `${vars}\n`, { mode: 0o600 });
  }
  return {
    file,
    vars: Object.fromEntries(
      readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .map((l) => l.split(/=(.*)/s).slice(0, 2)),
    ),
  };
}

/** What a migrated D1 depends on: the migration files, the database's binding and wrangler's version. */
function migrationsKey() {
  const h = createHash("sha256");
  for (const f of readdirSync(join(ROOT, "migrations"))
    .filter((f) => f.endsWith(".sql"))
    .sort())
    h.update(f).update(readFileSync(join(ROOT, "migrations", f)));
  h.update(readFileSync(join(ROOT, "wrangler.toml")));
  h.update(readFileSync(join(ROOT, "node_modules/wrangler/package.json")));
  return h.digest("hex").slice(0, 16);
}

function wranglerApply(persistTo) {
  const r = spawnSync(WRANGLER, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...quietWranglerEnv, CI: "true" },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`applying migrations failed:\n${r.stdout}\n${r.stderr}`);
}

/**
 * A freshly migrated local D1, made once per set of migrations under .plinth/cache/ and copied:
 * wrangler takes some 20 s to apply every migration to an empty database, and the node tests
 * start a dozen fresh regions. Built aside and renamed into place, so concurrent callers never
 * copy a half-made one.
 */
function migratedTemplate(key) {
  const cache = join(ROOT, ".plinth", "cache");
  const tpl = join(cache, `d1-${key}`);
  if (existsSync(tpl)) return tpl;
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(join(cache, "d1-making-"));
  try {
    wranglerApply(work);
    try {
      renameSync(join(work, "v3", "d1"), tpl);
    } catch (e) {
      if (!existsSync(tpl)) throw e;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return tpl;
}

/**
 * Brings the state's D1 up to the checkout's migrations. A state directory that has no D1 yet
 * gets a copy of the migrated template; one that has gets wrangler's own apply, unless the marker
 * says it is already at these migrations (a wrangler run costs seconds even with nothing to do).
 */
export function applyMigrations(stateDir) {
  const key = migrationsKey();
  const marker = join(stateDir, "migrated");
  if (existsSync(marker) && readFileSync(marker, "utf8") === key) return;
  const persist = join(stateDir, "wrangler");
  const d1 = join(persist, "v3", "d1");
  if (existsSync(d1)) wranglerApply(persist);
  else cpSync(migratedTemplate(key), d1, { recursive: true });
  writeFileSync(marker, key);
}

/** Starts `wrangler dev` and resolves once /api/v1/health answers. */
export async function startRegion({ stateDir, port = 5240, ip = "127.0.0.1", stdio = "inherit" }) {
  const { file } = ensureDevVars(stateDir);
  applyMigrations(stateDir);
  // wrangler serves the dashboard's dist/ ([assets]) and will not start without it.
  ensureDashboard({ quiet: stdio !== "inherit" });
  const child = spawn(
    WRANGLER,
    [
      "dev",
      "--local",
      "--port",
      String(port),
      "--ip",
      ip,
      "--persist-to",
      join(stateDir, "wrangler"),
      "--env-file",
      file,
      "--show-interactive-dev-session=false",
      "--inspector-port",
      "0",
      "--test-scheduled",
    ],
    { stdio: ["ignore", stdio, stdio], env: { ...process.env, ...quietWranglerEnv } },
  );
  const url = `http://${ip}:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${url}/api/v1/health`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      throw new Error("the region did not answer /api/v1/health within 60 s");
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { child, url };
}

/** Creates the first admin if this state has none yet; returns the credentials (or null). */
export async function bootstrapAdmin(url, stateDir) {
  const { vars } = ensureDevVars(stateDir);
  const password = randomBytes(12).toString("base64url");
  const r = await fetch(`${url}/api/v1/bootstrap`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-plinth-bootstrap-token": vars.PLINTH_BOOTSTRAP_TOKEN },
    body: JSON.stringify({ username: "admin", password }),
  });
  if (r.status === 409) return null;
  if (!r.ok) throw new Error(`bootstrap failed: ${r.status} ${await r.text()}`);
  const body = await r.json();
  return { username: body.username, password, api_key: body.api_key, maas_api_key: body.maas_api_key };
}

/** Stops wrangler by its PID and waits for it (its workerd children go with it). */
export function stopRegion(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

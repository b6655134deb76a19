// The local region: wrangler dev in workerd with a local SQLite-backed D1, state under
// .plinth/ (or another directory, for benchmarks). Shared by `npm start`, the seed script
// and the benchmarks so they all run the region the same way.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureDashboard } from "./dashboard-build.mjs";
import { quietWranglerEnv } from "./wrangler-env.mjs";

const WRANGLER = "node_modules/.bin/wrangler";

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

export function applyMigrations(stateDir) {
  const r = spawnSync(WRANGLER, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", join(stateDir, "wrangler")], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...quietWranglerEnv, CI: "true" },
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`applying migrations failed:\n${r.stdout}\n${r.stderr}`);
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

// Builds the dashboard (cloud/dashboard → cloud/dashboard/dist) when dist is missing or older
// than its sources, so a clean clone's `npm start` and `npm test` serve a current dashboard.
// wrangler refuses to start when the [assets] directory does not exist: this makes it exist.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..");
const DIR = join(ROOT, "cloud/dashboard");
const DIST = join(DIR, "dist");
// The dashboard also imports these from outside its folder.
const EXTRA = ["shared/lifecycle.ts", "cloud/auth/roles.ts", "package-lock.json"].map((f) => join(ROOT, f));

function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const name of readdirSync(path)) {
    if (name === "dist" || name === "node_modules") continue;
    t = Math.max(t, newest(join(path, name)));
  }
  return t;
}

export function dashboardIsStale() {
  const index = join(DIST, "index.html");
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  return Math.max(newest(DIR), ...EXTRA.filter(existsSync).map(newest)) > built;
}

export function ensureDashboard({ force = false, quiet = false } = {}) {
  if (!force && !dashboardIsStale()) return false;
  if (!quiet) console.log("Building the dashboard (cloud/dashboard → dist)…");
  const r = spawnSync(join(ROOT, "node_modules/.bin/vite"), ["build", "--config", join(DIR, "vite.config.ts"), "--logLevel", quiet ? "error" : "warn"], {
    cwd: ROOT,
    stdio: "inherit",
  });
  if (r.status !== 0) throw new Error("building the dashboard failed (see above)");
  return true;
}

// Profiles: named regions with their API keys, in $XDG_CONFIG_HOME/plinth/config.json
// (~/.config/plinth/config.json), written 0600 because it holds secrets.
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { z } from "zod";
import { CliError, EXIT, type Profile } from "./client";

const ConfigFile = z.object({
  current: z.string().nullable().default(null),
  profiles: z.record(z.string(), z.object({ url: z.string(), apiKey: z.string() })).default({}),
});
export type Config = z.infer<typeof ConfigFile>;

export function configPath(): string {
  const base = process.env["PLINTH_CONFIG_DIR"] ?? join(process.env["XDG_CONFIG_HOME"] || join(homedir(), ".config"), "plinth");
  return join(base, "config.json");
}

export function loadConfig(): Config {
  const p = configPath();
  if (!existsSync(p)) return { current: null, profiles: {} };
  const r = ConfigFile.safeParse(JSON.parse(readFileSync(p, "utf8")));
  if (!r.success) throw new CliError(`${p} is not a valid plinth config: fix or delete it`, EXIT.usage);
  return r.data;
}

export function saveConfig(c: Config): void {
  const p = configPath();
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  // Write then rename, so a crash never leaves a half-written file; 0600 from the start.
  const tmp = `${p}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, p);
}

/** The profile to use: --profile, then $PLINTH_PROFILE, then the current one; $PLINTH_URL + $PLINTH_API_KEY override all. */
export function resolveProfile(name: string | undefined): Profile & { name: string } {
  const envUrl = process.env["PLINTH_URL"];
  const envKey = process.env["PLINTH_API_KEY"];
  if (envUrl && envKey && !name) return { name: "(environment)", url: envUrl, apiKey: envKey };
  const c = loadConfig();
  const want = name ?? process.env["PLINTH_PROFILE"] ?? c.current;
  if (!want) throw new CliError("not logged in: run `plinth login <region-url> <api-key>`", EXIT.auth);
  const p = c.profiles[want];
  if (!p) throw new CliError(`no profile named "${want}" (have: ${Object.keys(c.profiles).join(", ") || "none"})`, EXIT.usage);
  return { name: want, ...p };
}

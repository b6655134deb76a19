// Loads DMTF's public-rackmount1 mockup: each <dir>/index.json is the resource at
// /redfish/v1/<dir>. Every emulator gets its own deep copy, so tests cannot leak state.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export type Json = Record<string, unknown>;

/** The mockup ships beside the repository, at ../shared/redfish-mockup. */
export const DEFAULT_MOCKUP_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/redfish-mockup/public-rackmount1");

let cache: { dir: string; resources: Map<string, string> } | undefined;

function loadRaw(dir: string): Map<string, string> {
  if (cache?.dir === dir) return cache.resources;
  if (!existsSync(join(dir, "index.json"))) {
    throw new Error(`Redfish mockup not found at ${dir} (expected DMTF public-rackmount1 with index.json)`);
  }
  const resources = new Map<string, string>();
  const walk = (d: string, depth: number) => {
    if (depth > 16) throw new Error(`mockup tree too deep at ${d}`);
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p, depth + 1);
      else if (name === "index.json" || name === "index.xml") {
        const rel = relative(dir, d).split("\\").join("/");
        resources.set(canonical(`/redfish/v1/${rel}`), readFileSync(p, "utf8"));
      }
    }
  };
  walk(dir, 0);
  cache = { dir, resources };
  return resources;
}

export interface Mockup {
  json: Map<string, Json>;
  /** Non-JSON documents ($metadata). */
  xml: Map<string, string>;
}

export function loadMockup(dir = DEFAULT_MOCKUP_DIR): Mockup {
  const json = new Map<string, Json>();
  const xml = new Map<string, string>();
  for (const [path, text] of loadRaw(dir)) {
    if (text.trimStart().startsWith("<")) xml.set(path, text);
    else json.set(path, JSON.parse(text) as Json);
  }
  return { json, xml };
}

/** Redfish treats /redfish/v1 and /redfish/v1/ as the same resource. */
export function canonical(path: string): string {
  const p = path.replace(/\/{2,}/g, "/").replace(/\/+$/, "");
  return p === "" ? "/" : p;
}

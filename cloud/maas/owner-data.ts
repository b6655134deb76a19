// set_owner_data / set_workload_annotations, for machines and devices alike: every form field
// but op is a key, an empty value deletes it, as MAAS does; bounded so one call cannot bloat a row.
import { AGENT_KEY } from "./shape";
import { fieldError, MaasError, type Params } from "./wire";

/** The annotations after applying the request's fields to `current` (JSON), and the keys it named. */
export function applyOwnerData(p: Params, current: string): { data: Record<string, string>; keys: string[] } {
  const keys = p.keys().filter((k) => k !== "op" && !k.startsWith("oauth_"));
  if (keys.length > 100) throw new MaasError(400, "Too many owner data keys.");
  const data = JSON.parse(current) as Record<string, string>;
  for (const k of keys) {
    const v = p.get(k)!;
    if (k === AGENT_KEY || k.length > 255) throw fieldError(k, "This key cannot be set.");
    if (v.length > 4096) throw fieldError(k, "The value is over 4096 characters.");
    if (v === "") delete data[k];
    else data[k] = v;
  }
  return { data, keys };
}

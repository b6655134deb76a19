// The deployments this rack served, kept on disk: token → machine, the full deploy spec, and
// whether the node reported its system installed. Written durably before the node is answered,
// so that
// - a node that reboots while the region is away (or after a crash of ours) boots its disk
//   instead of deploying again, and its phone-home still finds its machine;
// - the deployed system's cloud-init reads the MAAS metadata API after the region has dropped
//   the spec from the snapshot (it then names only the token: node-keys.ts).
// One entry per machine: a redeploy's new token replaces the old one, which the snapshot no
// longer names either, so the file is bounded by the site's machines, not its history.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { DeploySpecSchema, type DeploySpec } from "../../shared/tunnel/config";
import { writeFileDurably } from "../journal/durable-log";

const EntrySchema = z.strictObject({
  systemId: z.string().max(32),
  at: z.number().int(),
  /** The node said its system is on disk (its next PXE boot goes to the disk). */
  installed: z.boolean().default(true),
  spec: DeploySpecSchema.optional(),
});
const FileSchema = z.record(z.string().regex(/^[A-Za-z0-9]{16,64}$/), EntrySchema);
type Entries = z.infer<typeof FileSchema>;

/** Entries older than this are dropped: a deployment that lives this long has its spec back from nobody. */
const KEEP_MS = 365 * 24 * 3600_000;
const MAX_ENTRIES = 20_000;

export class InstalledDeployments {
  private entries: Entries;
  /** Bumped on every change: readers that index the entries know when to rebuild. */
  version = 0;

  constructor(private readonly path: string) {
    let raw: unknown = {};
    try {
      raw = JSON.parse(readFileSync(path, "utf8"));
    } catch {
      raw = {};
    }
    const r = FileSchema.safeParse(raw);
    this.entries = r.success ? r.data : {};
  }

  /** The node reported this deployment installed. */
  has(token: string): boolean {
    return Object.hasOwn(this.entries, token) && this.entries[token]!.installed;
  }

  systemIdOf(token: string): string | null {
    return Object.hasOwn(this.entries, token) ? this.entries[token]!.systemId : null;
  }

  /** The spec this rack served for the token, with the machine it was for. */
  specOf(token: string): { systemId: string; spec: DeploySpec } | null {
    const e = Object.hasOwn(this.entries, token) ? this.entries[token]! : null;
    return e?.spec ? { systemId: e.systemId, spec: e.spec } : null;
  }

  /** The node reported its system installed. Durable before it returns. */
  add(token: string, systemId: string, now = Date.now(), spec?: DeploySpec): void {
    const e = Object.hasOwn(this.entries, token) ? this.entries[token]! : null;
    if (e?.systemId === systemId && e.installed && (e.spec || !spec)) return;
    this.put(token, { systemId, at: now, installed: true, ...((spec ?? e?.spec) ? { spec: (spec ?? e?.spec)! } : {}) }, now);
  }

  /** The node fetched its instructions: keep the spec (not yet installed). Durable before it returns. */
  served(token: string, systemId: string, spec: DeploySpec, now = Date.now()): void {
    const e = Object.hasOwn(this.entries, token) ? this.entries[token]! : null;
    if (e?.systemId === systemId && e.spec && JSON.stringify(e.spec) === JSON.stringify(spec)) return;
    this.put(token, { systemId, at: now, installed: e?.systemId === systemId ? e.installed : false, spec }, now);
  }

  private put(token: string, entry: Entries[string], now: number): void {
    const kept = Object.entries(this.entries)
      .filter(([t, e]) => t !== token && e.systemId !== entry.systemId && now - e.at < KEEP_MS)
      .sort((a, b) => b[1].at - a[1].at)
      .slice(0, MAX_ENTRIES - 1);
    this.entries = Object.fromEntries([[token, entry], ...kept]);
    this.version++;
    writeFileDurably(this.path, `${JSON.stringify(this.entries)}\n`, 0o600);
  }
}

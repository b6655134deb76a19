// Deployments whose image is on disk, as this rack heard it from the node: token → machine.
// Kept on disk before the node is answered, so a node that reboots while the region is away
// (or after a crash of ours) boots its disk instead of deploying again, and its phone-home can
// still be matched to the machine after the region has dropped the deploy spec.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { writeFileDurably } from "../journal/durable-log";

const FileSchema = z.record(z.string().regex(/^[A-Za-z0-9]{16,64}$/), z.strictObject({ systemId: z.string().max(32), at: z.number().int() }));
type Entries = z.infer<typeof FileSchema>;

/** Entries older than this are dropped: a deployment phones home within hours, not weeks. */
const KEEP_MS = 14 * 24 * 3600_000;
const MAX_ENTRIES = 10_000;

export class InstalledDeployments {
  private entries: Entries;

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

  has(token: string): boolean {
    return Object.hasOwn(this.entries, token);
  }

  systemIdOf(token: string): string | null {
    return Object.hasOwn(this.entries, token) ? this.entries[token]!.systemId : null;
  }

  /** Durable before it returns. */
  add(token: string, systemId: string, now = Date.now()): void {
    if (this.entries[token]?.systemId === systemId) return;
    const kept = Object.entries(this.entries)
      .filter(([, e]) => now - e.at < KEEP_MS)
      .sort((a, b) => b[1].at - a[1].at)
      .slice(0, MAX_ENTRIES - 1);
    this.entries = Object.fromEntries([[token, { systemId, at: now }], ...kept]);
    writeFileDurably(this.path, `${JSON.stringify(this.entries)}\n`, 0o600);
  }
}

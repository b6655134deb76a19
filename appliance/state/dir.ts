// The appliance's state directory: its credential (0600), the last config snapshot (served
// from while the region is away), the journals, and status.json for `plinth-appliance status`.
import { chmodSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { type ConfigSnapshot, ConfigSnapshotSchema } from "../../shared/tunnel/config";
import { writeFileDurably } from "../journal/durable-log";

export const CredentialFileSchema = z.strictObject({
  region: z.string().url(),
  rackId: z.string().regex(/^[a-z0-9]{12}$/),
  credential: z.string().min(20).max(256),
  site: z.string().max(64),
  hostname: z.string().max(255),
  enrolledAt: z.number().int(),
});
export type CredentialFile = z.infer<typeof CredentialFileSchema>;

export class StateDir {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  readCredential(): CredentialFile | null {
    return readJson(this.path("credential.json"), CredentialFileSchema);
  }

  writeCredential(c: CredentialFile): void {
    writeFileDurably(this.path("credential.json"), `${JSON.stringify(c, null, 2)}\n`, 0o600);
    chmodSync(this.path("credential.json"), 0o600);
  }

  readConfig(): ConfigSnapshot | null {
    return readJson(this.path("config.json"), ConfigSnapshotSchema);
  }

  writeConfig(s: ConfigSnapshot): void {
    writeFileDurably(this.path("config.json"), JSON.stringify(s), 0o600);
  }

  writeStatus(s: unknown): void {
    writeFileDurably(this.path("status.json"), `${JSON.stringify(s, null, 2)}\n`, 0o644);
  }

  readStatus(): unknown {
    try {
      return JSON.parse(readFileSync(this.path("status.json"), "utf8"));
    } catch {
      return null;
    }
  }
}

function readJson<T>(file: string, schema: z.ZodType<T>): T | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return null;
  }
  try {
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

// Which deployment an OAuth token key belongs to, from the snapshot's deploy intents. The key is
// derived from the deploy token (shared/node-credentials.ts), so the index is rebuilt when the
// snapshot changes; derivations are kept per token across rebuilds, since most intents survive
// from one snapshot to the next.
import { type NodeCredentials, nodeCredentials } from "../../shared/node-credentials";
import type { ConfigSnapshot, DeploySpec } from "../../shared/tunnel/config";

export interface NodeDeployment {
  systemId: string;
  deploy: DeploySpec;
  credentials: NodeCredentials;
}

export class NodeKeys {
  private seen: ConfigSnapshot | null | undefined;
  private index: Promise<Map<string, NodeDeployment>> = Promise.resolve(new Map());
  private derived = new Map<string, Promise<NodeCredentials>>();

  constructor(private readonly snapshot: () => ConfigSnapshot | null) {}

  async find(tokenKey: string): Promise<NodeDeployment | null> {
    const s = this.snapshot();
    // Snapshots are replaced, never edited in place: identity says whether it changed.
    if (s !== this.seen) {
      this.seen = s;
      this.index = this.build(s);
    }
    return (await this.index).get(tokenKey) ?? null;
  }

  private async build(s: ConfigSnapshot | null): Promise<Map<string, NodeDeployment>> {
    const kept = new Map<string, Promise<NodeCredentials>>();
    const pending: Promise<NodeDeployment | null>[] = [];
    for (const b of s?.bootIntents ?? []) {
      // Any intent with a spec: once the image is on disk the node boots "local", and its
      // deployed system's cloud-init still reads this API for as long as the spec is there.
      if (!b.deploy) continue;
      const deploy = b.deploy;
      const creds = this.derived.get(deploy.token) ?? nodeCredentials(deploy.token);
      kept.set(deploy.token, creds);
      // One bad token (the schema rules it out) must not take every other node's answers away.
      pending.push(creds.then((credentials) => ({ systemId: b.systemId, deploy, credentials })).catch(() => null));
    }
    // Tokens gone from the snapshot (released, redeployed) are forgotten with it.
    this.derived = kept;
    const out = new Map<string, NodeDeployment>();
    for (const d of await Promise.all(pending)) if (d) out.set(d.credentials.tokenKey, d);
    return out;
  }
}

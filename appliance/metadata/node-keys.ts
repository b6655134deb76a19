// Which deployment an OAuth token key belongs to. The key is derived from the deploy token
// (shared/node-credentials.ts); the snapshot decides which tokens are live: a deploying node's
// spec carries its token, a deployed (local-intent) machine's intent carries only its
// `deployToken`, and the rest of that deployment's spec comes from what this rack kept on disk
// when it served it (installed.ts). A token the snapshot no longer names for that machine
// (released, redeployed) answers nothing, even though the rack still has it on disk; while the
// region is away the last snapshot keeps deployed nodes working.
// The index is rebuilt when the snapshot or the kept specs change; derivations are kept per
// token across rebuilds, since most tokens survive from one snapshot to the next.
import { type NodeCredentials, nodeCredentials } from "../../shared/node-credentials";
import type { ConfigSnapshot, DeploySpec } from "../../shared/tunnel/config";

export interface NodeDeployment {
  systemId: string;
  deploy: DeploySpec;
  credentials: NodeCredentials;
}

/** The rack's kept specs (InstalledDeployments satisfies it). */
export interface KeptSpecs {
  readonly version: number;
  specOf(token: string): { systemId: string; spec: DeploySpec } | null;
}

export class NodeKeys {
  private seen: ConfigSnapshot | null | undefined;
  private seenKept = -1;
  private index: Promise<Map<string, NodeDeployment>> = Promise.resolve(new Map());
  private derived = new Map<string, Promise<NodeCredentials>>();

  constructor(
    private readonly snapshot: () => ConfigSnapshot | null,
    private readonly kept?: KeptSpecs,
  ) {}

  async find(tokenKey: string): Promise<NodeDeployment | null> {
    const s = this.snapshot();
    const k = this.kept?.version ?? 0;
    // Snapshots are replaced, never edited in place: identity says whether it changed.
    if (s !== this.seen || k !== this.seenKept) {
      this.seen = s;
      this.seenKept = k;
      this.index = this.build(s);
    }
    return (await this.index).get(tokenKey) ?? null;
  }

  private async build(s: ConfigSnapshot | null): Promise<Map<string, NodeDeployment>> {
    const kept = new Map<string, Promise<NodeCredentials>>();
    const pending: Promise<NodeDeployment | null>[] = [];
    for (const b of s?.bootIntents ?? []) {
      let deploy: DeploySpec | undefined = b.deploy;
      if (!deploy && b.deployToken) {
        // Only the spec this rack served for this very machine and token.
        const k = this.kept?.specOf(b.deployToken);
        if (k && k.systemId === b.systemId && k.spec.token === b.deployToken) deploy = k.spec;
      }
      if (!deploy) continue;
      const d = deploy;
      const creds = this.derived.get(d.token) ?? nodeCredentials(d.token);
      kept.set(d.token, creds);
      // One bad token (the schema rules it out) must not take every other node's answers away.
      pending.push(creds.then((credentials) => ({ systemId: b.systemId, deploy: d, credentials })).catch(() => null));
    }
    // Tokens gone from the snapshot (released, redeployed) are forgotten with it.
    this.derived = kept;
    const out = new Map<string, NodeDeployment>();
    for (const d of await Promise.all(pending)) if (d) out.set(d.credentials.tokenKey, d);
    return out;
  }

  /** The credentials of a live token (the deploy document's cloud-init configuration). */
  credentialsOf(token: string): Promise<NodeCredentials> {
    return this.derived.get(token) ?? nodeCredentials(token);
  }
}

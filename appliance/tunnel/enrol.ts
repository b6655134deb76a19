// `plinth-appliance enrol`: trade an enrolment token for this rack's own credential. Running it
// again on an enrolled appliance does nothing (zero-touch images may run it on every boot).
import { hostname as osHostname, networkInterfaces } from "node:os";
import { z } from "zod";
import { type CredentialFile, StateDir } from "../state/dir";

const EnrolResponse = z.object({ rack_id: z.string().regex(/^[a-z0-9]{12}$/), credential: z.string().min(20).max(256), site: z.string() });

export function localInterfaces(): { name: string; mac?: string; addresses: string[] }[] {
  return Object.entries(networkInterfaces())
    .filter(([name]) => name !== "lo")
    .map(([name, addrs]) => ({
      name: name.slice(0, 64),
      ...(addrs?.[0]?.mac && addrs[0].mac !== "00:00:00:00:00:00" ? { mac: addrs[0].mac } : {}),
      addresses: (addrs ?? []).map((a) => `${a.address}/${a.cidr?.split("/")[1] ?? ""}`).slice(0, 64),
    }))
    .slice(0, 256);
}

export interface EnrolOptions {
  region: string;
  token: string;
  stateDir: string;
  hostname?: string;
  version: string;
  force?: boolean;
}

export async function enrol(o: EnrolOptions): Promise<{ cred: CredentialFile; already: boolean }> {
  const state = new StateDir(o.stateDir);
  const region = o.region.replace(/\/+$/, "");
  const existing = state.readCredential();
  if (existing && existing.region === region && !o.force) return { cred: existing, already: true };
  const hostname = (o.hostname ?? osHostname()).split(".")[0]!.slice(0, 63);
  const r = await fetch(`${region}/api/v1/racks/enrol`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: o.token, hostname, version: o.version, interfaces: localInterfaces() }),
    signal: AbortSignal.timeout(30_000),
  });
  const body: unknown = await r.json().catch(() => null);
  if (!r.ok) {
    const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new Error(`enrolment refused (${r.status} ${err?.code ?? ""}): ${err?.message ?? "no details"}`);
  }
  const parsed = EnrolResponse.safeParse(body);
  if (!parsed.success) throw new Error("the region answered enrolment with an unexpected body");
  const cred: CredentialFile = {
    region,
    rackId: parsed.data.rack_id,
    credential: parsed.data.credential,
    site: parsed.data.site,
    hostname,
    enrolledAt: Date.now(),
  };
  state.writeCredential(cred);
  return { cred, already: false };
}

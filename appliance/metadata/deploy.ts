// The deploy instructions a node fetches with GET {plinth.url}/deploy (docs/boot-environment.md),
// built on the rack from the snapshot's deploy spec: a deployment never waits on the WAN.
// Pure: the same spec and address always give the same document.
import type { DeploySpec } from "../../shared/tunnel/config";

export interface DeployDocument {
  image: { url: string; sha256: string; format: string };
  hostname: string;
  instance_id: string;
  ssh_keys: string[];
  user_data: string;
  vendor_data: string;
}

export type DeployDocResult = { ok: true; doc: DeployDocument } | { ok: false; status: number; error: string };

/**
 * `base` is how the node reached this rack (e.g. "http://10.0.0.2:5248"). The phone-home URL
 * rides in vendor-data, which cloud-init merges under the user's user-data, so the user's own
 * cloud-config is passed through untouched.
 */
export function deployDocument(spec: DeploySpec, systemId: string, base: string): DeployDocResult {
  if (!spec.image)
    return {
      ok: false,
      status: 409,
      error: "the region has no image for this machine's OS and series: upload one (POST /api/v1/boot-images) and deploy again",
    };
  let userData = "#cloud-config\n";
  if (spec.userData) {
    try {
      userData = Buffer.from(spec.userData, "base64").toString("utf8");
    } catch {
      return { ok: false, status: 422, error: "the machine's user_data is not base64" };
    }
  }
  const phoneHome = `${base}/metadata/phone-home/${spec.token}`;
  return {
    ok: true,
    doc: {
      image: { url: `/images/${spec.image.sha256}`, sha256: spec.image.sha256, format: spec.image.format },
      hostname: spec.hostname,
      instance_id: systemId,
      ssh_keys: spec.sshKeys,
      user_data: userData,
      vendor_data: ["#cloud-config", "phone_home:", `  url: ${phoneHome}`, "  post: [instance_id, hostname, fqdn]", "  tries: 10", ""].join("\n"),
    },
  };
}

/** cloud-init's phone_home posts a form; keep the fields it sends, bounded. */
export function phoneHomeFields(body: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const form = new URLSearchParams(Buffer.from(body).toString("utf8").slice(0, 65536));
  for (const k of ["instance_id", "hostname", "fqdn"]) {
    const v = form.get(k);
    if (v !== null) out[k] = v.slice(0, 255);
  }
  return out;
}

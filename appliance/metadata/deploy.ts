// The deploy instructions a node fetches with GET {plinth.url}/deploy (docs/deploy.md), built
// on the rack from the snapshot's deploy spec: a deployment never waits on the WAN.
// Pure: the same spec, address and credentials always give the same document.
import type { NodeCredentials } from "../../shared/node-credentials";
import type { Plan } from "../../shared/storage/plan";
import type { DeploySpec } from "../../shared/tunnel/config";
import { MAAS_METADATA_PREFIX } from "../http/metadata";

/** Document v2 (docs/deploy.md, "Deploy document"). */
export interface DeployDocument {
  image: { url: string; sha256: string; format: string; size: number };
  hostname: string;
  instance_id: string;
  ssh_keys: string[];
  /** For the NoCloud seed fallback only (a raw image with no /etc/cloud of its own to configure). */
  user_data: string;
  vendor_data: string;
  /** The layout's name, the boot disk and the design's plan (shared/storage/plan.ts), which the installer builds step by step. */
  storage: { layout: DeploySpec["storage"]["layout"]; disk: string; plan: Plan };
  kernel_opts: string;
  /** Written verbatim to <target>/etc/cloud/cloud.cfg.d/90_plinth.cfg by the installer. */
  cloud_init: string;
  /**
   * The machine's network as the region rendered it (cloud-init v2 under `network:`), written
   * verbatim to <target>/etc/cloud/cloud.cfg.d/50_plinth_network.cfg; "" = none, cloud-init's
   * fallback (DHCP on the first NIC) applies.
   */
  network_config: string;
}

export type DeployDocResult = { ok: true; doc: DeployDocument } | { ok: false; status: number; error: string };

/**
 * `base` is how the node reached this rack (e.g. "http://10.0.0.2:5248"). The phone-home URL
 * rides in vendor-data, which cloud-init merges under the user's user-data, so the user's own
 * cloud-config is passed through untouched.
 */
export function deployDocument(spec: DeploySpec, systemId: string, base: string, creds: NodeCredentials): DeployDocResult {
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
      image: { url: `/images/${spec.image.sha256}`, sha256: spec.image.sha256, format: spec.image.format, size: spec.image.size },
      hostname: spec.hostname,
      instance_id: systemId,
      ssh_keys: spec.sshKeys,
      user_data: userData,
      vendor_data: ["#cloud-config", "phone_home:", `  url: ${phoneHome}`, "  post: [instance_id, hostname, fqdn]", "  tries: 10", ""].join("\n"),
      storage: { layout: spec.storage.layout, disk: spec.storage.disk, plan: spec.storage.plan },
      kernel_opts: spec.kernelOpts,
      cloud_init: cloudInitConfig(base, systemId, creds),
      network_config: spec.networkConfig,
    },
  };
}

/**
 * The deployed system's cloud-init configuration, as MAAS's preseed gives it: the MAAS
 * datasource reading this rack's metadata API with the node's OAuth credentials, and the MAAS
 * webhook reporter posting each stage's events to /MAAS/metadata/status/<system_id> with the
 * same credentials (its modules-final finish is what makes the machine Deployed). Strings are
 * JSON-quoted, which YAML reads as double-quoted scalars: nothing in a value can break the
 * document. Pure and deterministic.
 */
export function cloudInitConfig(base: string, systemId: string, creds: NodeCredentials): string {
  const q = (s: string) => JSON.stringify(s);
  const metadata = `${base}${MAAS_METADATA_PREFIX}`;
  const oauth = (indent: string) => [
    `${indent}consumer_key: ${q(creds.consumerKey)}`,
    `${indent}token_key: ${q(creds.tokenKey)}`,
    `${indent}token_secret: ${q(creds.tokenSecret)}`,
  ];
  return [
    "#cloud-config",
    "# Written by Plinth's installer: the MAAS metadata API of the rack that deployed this machine.",
    "datasource_list: [MAAS]",
    "datasource:",
    "  MAAS:",
    `    metadata_url: ${q(`${metadata}/`)}`,
    ...oauth("    "),
    "reporting:",
    "  maas:",
    "    type: webhook",
    `    endpoint: ${q(`${metadata}/status/${systemId}`)}`,
    ...oauth("    "),
    "",
  ].join("\n");
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

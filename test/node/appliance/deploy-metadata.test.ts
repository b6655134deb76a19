// The rack's side of a deployment, without the network: the deploy document built from the
// snapshot, the "installed" memory that survives a restart, the boot intent that follows it,
// and the phone-home matched to its machine by the deployment's secret.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { ConfigSnapshot, DeploySpec } from "../../../shared/tunnel/config";
import { cloudInitConfig, deployDocument, phoneHomeFields } from "../../../appliance/metadata/deploy";
import { InstalledDeployments } from "../../../appliance/metadata/installed";
import { httpIntent, parseMetadata } from "../../../appliance/services";

const dir = mkdtempSync(join(tmpdir(), "plinth-deploy-md-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TOKEN = "T0ken0123456789abcdefABCDEF01234";
const SHA = "c".repeat(64);
const spec: DeploySpec = {
  token: TOKEN,
  image: { sha256: SHA, format: "raw.zst", size: 25 << 20 },
  hostname: "node-7",
  userData: Buffer.from("#cloud-config\nruncmd: [touch /x]\n").toString("base64"),
  sshKeys: ["ssh-ed25519 AAAA k@h"],
  storage: {
    layout: "lvm",
    disk: "serial:QM00001",
    plan: [
      { type: "disk", id: "d1", match: "serial:QM00001", ptable: "gpt", grub: true },
      { type: "partition", id: "p1000000001", device: "d1", number: 1, start_mib: 4, size_mib: 0, kind: "linux" },
      { type: "format", device: "p1000000001", fstype: "ext4", label: "root", uuid: "" },
      { type: "mount", device: "p1000000001", path: "/", options: "" },
    ],
  },
  kernelOpts: "console=ttyS0 nomodeset",
  networkConfig:
    "network:\n  version: 2\n  ethernets:\n    eth0:\n      match:\n        macaddress: 52:54:00:00:00:01\n      set-name: eth0\n      dhcp4: true\n",
};
const CREDS = { consumerKey: "ck".repeat(9), tokenKey: "tk".repeat(9), tokenSecret: "ts".repeat(16) };
const snap: ConfigSnapshot = {
  version: "v1",
  site: "s",
  subnets: [],
  reservations: [],
  bootIntents: [
    { mac: "52:54:00:00:00:01", systemId: "abc123", intent: "deploy", deploy: spec },
    { mac: "52:54:00:00:00:02", systemId: "def456", intent: "release", erase: "quick" },
    { mac: "52:54:00:00:00:03", systemId: "ghi789", intent: "release" },
  ],
  images: [],
  dns: { zones: [], upstream: [] },
};
const q = { platform: null, arch: null, remote: "" } as const;

describe("deploy document", () => {
  it("points at the image by sha256 on this rack, passes user-data through and puts the phone-home secret in vendor-data", () => {
    const d = deployDocument(spec, "abc123", "http://10.9.0.1:5248", CREDS);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.doc).toMatchObject({
      image: { url: `/images/${SHA}`, sha256: SHA, format: "raw.zst", size: 25 << 20 },
      hostname: "node-7",
      instance_id: "abc123",
      ssh_keys: ["ssh-ed25519 AAAA k@h"],
    });
    expect(d.doc.user_data).toBe("#cloud-config\nruncmd: [touch /x]\n");
    expect(d.doc.vendor_data).toContain(`url: http://10.9.0.1:5248/metadata/phone-home/${TOKEN}`);
    expect(d.doc.user_data).not.toContain(TOKEN);
    // The region's rendering, passed through byte for byte for the installer to write.
    expect(d.doc.network_config).toBe(spec.networkConfig);
  });

  it("without an image in the region, says what to do", () => {
    const d = deployDocument({ ...spec, image: null }, "abc123", "http://x", CREDS);
    expect(d).toMatchObject({ ok: false, status: 409 });
    expect(d.ok ? "" : d.error).toMatch(/upload one/);
  });

  it("v2: the disk and layout, the tags' kernel options and the deployed system's cloud-init configuration", () => {
    const d = deployDocument(spec, "abc123", "http://10.9.0.1:5248", CREDS);
    if (!d.ok) throw new Error(d.error);
    // The design's plan passes through as the region rendered it.
    expect(d.doc.storage).toEqual(spec.storage);
    expect(d.doc.storage.plan.map((s) => s.type)).toEqual(["disk", "partition", "format", "mount"]);
    expect(d.doc.kernel_opts).toBe("console=ttyS0 nomodeset");
    // The MAAS datasource and the MAAS webhook reporter, both with the node's own credentials.
    expect(d.doc.cloud_init).toBe(
      [
        "#cloud-config",
        "# Written by Plinth's installer: the MAAS metadata API of the rack that deployed this machine.",
        "datasource_list: [MAAS]",
        "datasource:",
        "  MAAS:",
        '    metadata_url: "http://10.9.0.1:5248/MAAS/metadata/"',
        `    consumer_key: "${CREDS.consumerKey}"`,
        `    token_key: "${CREDS.tokenKey}"`,
        `    token_secret: "${CREDS.tokenSecret}"`,
        "reporting:",
        "  maas:",
        "    type: webhook",
        '    endpoint: "http://10.9.0.1:5248/MAAS/metadata/status/abc123"',
        `    consumer_key: "${CREDS.consumerKey}"`,
        `    token_key: "${CREDS.tokenKey}"`,
        `    token_secret: "${CREDS.tokenSecret}"`,
        "",
      ].join("\n"),
    );
    // Deterministic: the same inputs, the same bytes; the deploy token itself is not in it.
    expect(cloudInitConfig("http://10.9.0.1:5248", "abc123", CREDS)).toBe(d.doc.cloud_init);
    expect(d.doc.cloud_init).not.toContain(TOKEN);
  });

  it("keeps only cloud-init's phone-home fields, bounded", () => {
    expect(phoneHomeFields(Buffer.from(`instance_id=abc123&hostname=node-7&fqdn=node-7.maas&evil=${"x".repeat(10)}`))).toEqual({
      instance_id: "abc123",
      hostname: "node-7",
      fqdn: "node-7.maas",
    });
    expect(phoneHomeFields(Buffer.from(`hostname=${"h".repeat(1000)}`)).hostname).toHaveLength(255);
  });
});

describe("boot intent on the rack", () => {
  it("deploys until this rack saw the image installed, then boots the disk even if the region has not heard", () => {
    const installed = new InstalledDeployments(join(dir, "installed-a.json"));
    expect(httpIntent(snap, { ...q, mac: "52:54:00:00:00:01" }, installed)).toMatchObject({
      kind: "deploy",
      cmdline: expect.stringContaining("plinth.mode=deploy"),
    });
    installed.add(TOKEN, "abc123");
    expect(httpIntent(snap, { ...q, mac: "52:54:00:00:00:01" }, installed)).toEqual({ kind: "local" });
  });

  it("remembers installed deployments across a restart, in a 0600 file", () => {
    const path = join(dir, "installed-b.json");
    new InstalledDeployments(path).add(TOKEN, "abc123");
    expect((statSync(path).mode & 0o777).toString(8)).toBe("600");
    const again = new InstalledDeployments(path);
    expect(again.has(TOKEN)).toBe(true);
    expect(again.systemIdOf(TOKEN)).toBe("abc123");
    expect(again.systemIdOf("x".repeat(32))).toBeNull();
  });

  it("keeps the spec it served before the node is installed, and one entry per machine", () => {
    const path = join(dir, "installed-d.json");
    const a = new InstalledDeployments(path);
    a.served(TOKEN, "abc123", spec);
    // Served is not installed: the next PXE boot still deploys.
    expect(a.has(TOKEN)).toBe(false);
    expect(new InstalledDeployments(path).specOf(TOKEN)).toEqual({ systemId: "abc123", spec });
    a.add(TOKEN, "abc123");
    const b = new InstalledDeployments(path);
    expect(b.has(TOKEN)).toBe(true);
    expect(b.specOf(TOKEN)?.spec.hostname).toBe("node-7");
    // A redeploy's token replaces the machine's old one.
    const next = "N3wT0ken0123456789abcdefABCDEF01";
    b.served(next, "abc123", { ...spec, token: next });
    expect(b.specOf(TOKEN)).toBeNull();
    expect(new InstalledDeployments(path).specOf(next)?.systemId).toBe("abc123");
  });

  it("a corrupt file is an empty memory, not a crash", async () => {
    const path = join(dir, "installed-c.json");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(path, "{not json");
    expect(new InstalledDeployments(path).has(TOKEN)).toBe(false);
  });

  it("release carries the erase mode to the environment", () => {
    expect(httpIntent(snap, { ...q, mac: "52:54:00:00:00:02" })).toMatchObject({ cmdline: "console=ttyS0 plinth.mode=release plinth.erase=quick" });
    expect(httpIntent(snap, { ...q, mac: "52:54:00:00:00:03" })).toMatchObject({ cmdline: "console=ttyS0 plinth.mode=release" });
  });
});

describe("phone-home", () => {
  const req = (path: string, body: string) => ({ method: "POST", path, query: "", headers: {}, body: Buffer.from(body), remote: "10.99.0.5" });
  const nobody = () => null;
  const deployOf = (t: string) => (t === TOKEN ? "abc123" : null);

  it("is matched to its machine by the secret, whatever address the OS has", () => {
    const r = parseMetadata(req(`/phone-home/${TOKEN}`, "instance_id=abc123&hostname=node-7&fqdn=node-7"), nobody, deployOf);
    expect(r).toMatchObject({ systemId: "abc123", name: "phone_home", status: "passed" });
    expect(JSON.parse(r!.output!)).toEqual({ token: TOKEN, instance_id: "abc123", hostname: "node-7", fqdn: "node-7" });
  });

  it("an unknown or malformed secret is not relayed", () => {
    expect(parseMetadata(req(`/phone-home/${"z".repeat(32)}`, ""), nobody, deployOf)).toBeNull();
    expect(parseMetadata(req("/phone-home/../../x", ""), nobody, deployOf)).toBeNull();
    expect(parseMetadata(req("/phone-home/", ""), nobody, deployOf)).toBeNull();
  });
});

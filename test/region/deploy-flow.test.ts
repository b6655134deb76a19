// Deploy and release as the rack sees them: the snapshot carries the deploy spec (image by
// sha256, seed, phone-home secret) and the erase mode; the node's "installed" turns its boot
// intent to local; only the deployed OS phoning home with this deployment's secret ends in
// DEPLOYED. Real D1, the real snapshot builder and the real event applier.
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { NODE_STATUS as S } from "../../shared/lifecycle";
import type { RackEvent } from "../../shared/tunnel/events";
import { buildSnapshot } from "../../cloud/tunnel/config";
import { applyRackEvents } from "../../cloud/domain/racks/rack-events";
import { call, makeMachine, makeUser, statusOf } from "./helpers";
import { enrolRack } from "./tunnel-helpers";

let admin = "";
let rackId = "";
const SITE = "deploy-site";
const SHA = "b".repeat(64);
let seq = 0;
const result = (systemId: string, name: string, status: "passed" | "failed" | "running", output: unknown): RackEvent => ({
  seq: ++seq,
  at: Date.now(),
  type: "metadata.result",
  data: { systemId, name, status, output: JSON.stringify(output) },
});

async function intentOf(mac: string) {
  const snap = await buildSnapshot(env.DB, rackId);
  return snap!.bootIntents.find((b) => b.mac === mac)!;
}

beforeAll(async () => {
  admin = await makeUser("deploy-admin", [["admin", null]]);
  await env.DB.prepare("UPDATE users SET ssh_keys = ? WHERE username = 'deploy-admin'")
    .bind(JSON.stringify(["ssh-ed25519 AAAAC3Nz test@plinth"]))
    .run();
  ({ rackId } = await enrolRack(admin, SITE, "deploy-rack"));
  await env.DB.prepare(
    "INSERT INTO boot_images (osystem, series, architecture, kind, format, sha256, size) VALUES ('custom', 'testdisk', 'amd64/generic', 'uploaded', 'raw.zst', ?, 1234)",
  )
    .bind(SHA)
    .run();
});

describe("deploy as the rack sees it", () => {
  const mac = "52:54:00:de:00:01";
  let id = "";
  let token = "";

  it("puts the image, the seed and a fresh phone-home secret into the deploying machine's intent", async () => {
    id = await makeMachine({ site: SITE, mac, status: S.READY });
    const userData = btoa("#cloud-config\nruncmd: [echo hi]\n");
    expect((await call(admin, "POST", `/machines/${id}/allocate`, {})).status).toBe(200);
    const r = await call(admin, "POST", `/machines/${id}/deploy`, { osystem: "custom", distro_series: "testdisk", user_data: userData });
    expect(r.status, r.text).toBe(200);
    const b = await intentOf(mac);
    expect(b.intent).toBe("deploy");
    expect(b.deploy).toMatchObject({
      image: { sha256: SHA, format: "raw.zst", size: 1234 },
      userData,
      sshKeys: ["ssh-ed25519 AAAAC3Nz test@plinth"],
      // No disks in this machine's inventory: the installer takes the first it finds.
      storage: { layout: "flat", disk: "" },
      kernelOpts: "",
    });
    token = b.deploy!.token;
    expect(token).toMatch(/^[A-Za-z0-9]{32}$/);
    // The secret never shows in the API.
    expect((await call(admin, "GET", `/machines/${id}`)).text).not.toContain(token);
  });

  it("boots the disk once the node reports the image installed, still DEPLOYING", async () => {
    const out = await applyRackEvents(env.DB, rackId, [
      result(id, "status", "running", { mode: "deploy", status: "writing" }),
      result(id, "status", "passed", { mode: "deploy", status: "installed", sha256: SHA }),
    ]);
    expect(out.configChanged).toBe(true);
    expect(await statusOf(id)).toBe(S.DEPLOYING);
    const b = await intentOf(mac);
    expect(b.intent).toBe("local");
    // Only the token: the rack kept the spec it served; the metadata API keeps answering.
    expect(b.deploy).toBeUndefined();
    expect(b.deployToken).toBe(token);
  });

  it("ignores a phone-home with the wrong secret, and goes DEPLOYED with the right one", async () => {
    await applyRackEvents(env.DB, rackId, [result(id, "phone_home", "passed", { token: "x".repeat(32), instance_id: id })]);
    expect(await statusOf(id)).toBe(S.DEPLOYING);
    const out = await applyRackEvents(env.DB, rackId, [result(id, "phone_home", "passed", { token, instance_id: id })]);
    expect(out.configChanged).toBe(true);
    expect(await statusOf(id)).toBe(S.DEPLOYED);
    expect((await intentOf(mac)).intent).toBe("local");
    const ev = await call(admin, "GET", `/events?machine=${id}&type=machine.deployed`);
    expect(ev.json.items).toHaveLength(1);
    // The token lives as long as the deployment: the deployed system's cloud-init uses it.
    expect((await intentOf(mac)).deployToken).toBe(token);
    // Replaying the phone-home changes nothing.
    expect((await applyRackEvents(env.DB, rackId, [result(id, "phone_home", "passed", { token, instance_id: id })])).configChanged).toBe(false);
  });

  it("release clears the token: the snapshot names it no more", async () => {
    expect((await call(admin, "POST", `/machines/${id}/release`, {})).status).toBe(200);
    const row = await env.DB.prepare("SELECT deploy_token FROM machines WHERE system_id = ?").bind(id).first<{ deploy_token: string | null }>();
    expect(row!.deploy_token).toBeNull();
    const snap = JSON.stringify(await buildSnapshot(env.DB, rackId));
    expect(snap).not.toContain(token);
  });

  it("a redeploy gets a new secret: the old one no longer finishes anything", async () => {
    const other = await makeMachine({ site: SITE, mac: "52:54:00:de:00:02", status: S.ALLOCATED, ownerId: null });
    await call(admin, "POST", `/machines/${other}/deploy`, { osystem: "custom", distro_series: "testdisk" });
    const first = (await intentOf("52:54:00:de:00:02")).deploy!.token;
    await call(admin, "POST", `/machines/${other}/release`, {});
    await call(admin, "POST", `/machines/${other}/allocate`, {});
    await call(admin, "POST", `/machines/${other}/deploy`, { osystem: "custom", distro_series: "testdisk" });
    const second = (await intentOf("52:54:00:de:00:02")).deploy!.token;
    expect(second).not.toBe(first);
    await applyRackEvents(env.DB, rackId, [result(other, "phone_home", "passed", { token: first })]);
    expect(await statusOf(other)).toBe(S.DEPLOYING);
  });

  it("a failure reported by the node ends the deployment", async () => {
    const m = await makeMachine({ site: SITE, mac: "52:54:00:de:00:03", status: S.ALLOCATED });
    await call(admin, "POST", `/machines/${m}/deploy`, { osystem: "custom", distro_series: "testdisk" });
    await applyRackEvents(env.DB, rackId, [result(m, "status", "failed", { mode: "deploy", status: "failed", error: "sha256 mismatch" })]);
    expect(await statusOf(m)).toBe(S.FAILED_DEPLOYMENT);
    const row = await env.DB.prepare("SELECT status_message FROM machines WHERE system_id = ?").bind(m).first<{ status_message: string }>();
    // The installer's words, verbatim.
    expect(row!.status_message).toBe("sha256 mismatch");
  });

  it("refuses to deploy a series with no image, or whose image has no content yet: 400, the machine stays Allocated", async () => {
    const m = await makeMachine({ site: SITE, mac: "52:54:00:de:00:04", status: S.ALLOCATED });
    const unknown = await call(admin, "POST", `/machines/${m}/deploy`, { osystem: "ubuntu", distro_series: "nosuch" });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatchObject({ code: "no_image", message: expect.stringContaining("no image with content for ubuntu/nosuch amd64") });
    // Declared, never uploaded.
    await env.DB.prepare(
      "INSERT INTO boot_images (osystem, series, architecture, kind, format) VALUES ('debian', 'bookworm', 'amd64/generic', 'uploaded', 'tgz')",
    ).run();
    const empty = await call(admin, "POST", `/machines/${m}/deploy`, { osystem: "debian", distro_series: "bookworm" });
    expect(empty.status).toBe(400);
    expect(empty.json.error.message).toContain("no image with content for debian/bookworm amd64");
    expect(await statusOf(m)).toBe(S.ALLOCATED);
    expect((await intentOf("52:54:00:de:00:04")).deploy).toBeUndefined();
  });
});

describe("release with erase as the rack sees it", () => {
  it("quick erase: DISK_ERASING with erase quick in the intent, READY when the node is done", async () => {
    const mac = "52:54:00:de:00:10";
    const id = await makeMachine({ site: SITE, mac, status: S.DEPLOYED });
    const r = await call(admin, "POST", `/machines/${id}/release`, { erase: true, quick_erase: true });
    expect(r.status, r.text).toBe(200);
    expect(await statusOf(id)).toBe(S.DISK_ERASING);
    expect(await intentOf(mac)).toMatchObject({ intent: "release", erase: "quick" });
    await applyRackEvents(env.DB, rackId, [result(id, "status", "passed", { mode: "release", status: "done", erase: "quick", disks: ["vda"] })]);
    expect(await statusOf(id)).toBe(S.READY);
  });

  it("erase without quick_erase zeroes whole disks", async () => {
    const mac = "52:54:00:de:00:11";
    const id = await makeMachine({ site: SITE, mac, status: S.DEPLOYED });
    await call(admin, "POST", `/machines/${id}/release`, { erase: true });
    expect(await intentOf(mac)).toMatchObject({ intent: "release", erase: "full" });
  });
});

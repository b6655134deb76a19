// The ephemeral boot environment and the test disk, booted for real in QEMU (software
// emulation) on a private L2 inside a network namespace: commission reports the inventory
// QEMU was given, deploy writes and verifies the test image and its cloud-init seed, the
// deployed disk boots and phones home, release erases the disks.
import { execFileSync } from "node:child_process";
import { copyFileSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applianceAddr, buildImages, imagesDir, metadataPort, type Request, Rig, requireTool, sha256File, blank, readBytes } from "./rig";

const MiB = 1024 * 1024;
// A frozen guest is killed and retried once; generous, because CI machines get busy.
const bootTimeout = 300_000;
const base = `http://${applianceAddr}:${metadataPort}`;

function ephemeral(mode: string, node: string, token: string, mac: string, extra = ""): string[] {
  const bootif = `01-${mac.replaceAll(":", "-")}`;
  return [
    "-kernel",
    join(imagesDir, "vmlinuz"),
    "-initrd",
    join(imagesDir, "initrd.img"),
    "-append",
    `console=ttyS0 quiet panic=5 plinth.mode=${mode} plinth.url=${base}/metadata/${node} plinth.token=${token} BOOTIF=${bootif} ${extra}`,
  ];
}

/** UEFI: Debian's OVMF with a fresh copy of its variable store. */
function ovmf(name: string): string[] {
  const vars = join(rig.dir, `${name}.OVMF_VARS.fd`);
  copyFileSync("/usr/share/OVMF/OVMF_VARS_4M.fd", vars);
  return ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd", "-drive", `if=pflash,format=raw,unit=1,file=${vars}`];
}

function nic(mac: string): string[] {
  return ["-device", `virtio-net-pci,netdev=n0,mac=${mac}`];
}

function virtioDisk(id: string, file: string, serial: string, extra = ""): string[] {
  return ["-drive", `file=${file},if=none,id=${id},format=raw`, "-device", `virtio-blk-pci,drive=${id},serial=${serial}${extra}`];
}

function statusOf(r: Request): string {
  return (JSON.parse(r.body) as { status: string }).status;
}

function finalStatus(node: string, ...statuses: string[]) {
  return (fresh: Request[]) => fresh.some((r) => r.method === "POST" && r.path === `/metadata/${node}/status` && statuses.includes(statusOf(r)));
}

const rig = new Rig();
const timings: Record<string, number> = {};

beforeAll(async () => {
  requireTool("mtype", "mtools");
  buildImages();
  await rig.start();
}, 900_000);

afterAll(async () => {
  console.log(`boot times (s): ${JSON.stringify(timings)}`);
  await rig.destroy();
});

describe("ephemeral environment", () => {
  it("commissions: posts the CPU, memory, disks, NICs, DMI and firmware QEMU was given", async () => {
    const mac = "52:54:00:a1:b2:c3";
    const uuid = "5a1e2b3c-4d5e-4f60-8172-8394a5b6c7d8";
    rig.setToken("node-1", "tok-1");
    const args = [
      "-smp",
      "2",
      "-m",
      "512",
      ...nic(mac),
      ...virtioDisk("d0", blank(join(rig.dir, "c-vda.img"), 64 * MiB), "PLX-VIRTIO-0"),
      "-drive",
      `file=${blank(join(rig.dir, "c-sda.img"), 32 * MiB)},if=none,id=d1,format=raw`,
      "-device",
      "ide-hd,drive=d1,bus=ide.0,serial=PLX-SATA-1,model=PlinthDisk",
      "-uuid",
      uuid,
      "-smbios",
      "type=1,manufacturer=Plinth Labs,product=PX-100,version=1.0,serial=SN-0042",
      ...ephemeral("commission", "node-1", "tok-1", mac),
    ];
    const boot = await rig.boot("commission", args, bootTimeout, finalStatus("node-1", "done", "failed"));
    timings["commission"] = boot.seconds;
    const posts = boot.requests.filter((r) => r.method === "POST");
    for (const p of posts) {
      expect(p.auth).toBe("Bearer tok-1");
      expect(p.contentType).toBe("application/json");
    }
    expect(posts.filter((p) => p.path.endsWith("/status")).map(statusOf)).toEqual(["running", "done"]);
    const result = (name: string) => {
      const r = posts.find((p) => p.path === `/metadata/node-1/commissioning/${name}`);
      expect(r, `${name} was posted`).toBeDefined();
      return JSON.parse(r!.body);
    };
    const cpu = result("cpu");
    expect(cpu.count).toBe(2);
    expect(cpu.architecture).toBe("x86_64");
    expect(cpu.model).toMatch(/\S/);
    expect(cpu.flags).toContain("sse2");

    const memory = result("memory");
    expect(memory.physical_bytes).toBe(512 * MiB);
    expect(memory.total_bytes).toBeGreaterThan(400 * MiB);
    expect(memory.total_bytes).toBeLessThanOrEqual(512 * MiB);

    const disks = result("disks").disks as Record<string, unknown>[];
    expect(disks.find((d) => d.name === "vda")).toMatchObject({
      path: "/dev/vda",
      size_bytes: 64 * MiB,
      serial: "PLX-VIRTIO-0",
      driver: "virtio_blk",
    });
    // SATA: the serial comes from VPD page 0x80.
    expect(disks.find((d) => d.name === "sda")).toMatchObject({
      size_bytes: 32 * MiB,
      serial: "PLX-SATA-1",
      model: "PlinthDisk",
      rotational: true,
      driver: "ahci",
    });

    const nics = result("nics").nics as Record<string, unknown>[];
    expect(nics).toHaveLength(1);
    expect(nics[0]).toMatchObject({ mac, driver: "virtio_net", link: true, boot: true });
    expect(nics[0]!.ipv4).toMatch(/^10\.99\.0\.\d+$/);

    expect(result("dmi")).toMatchObject({
      sys_vendor: "Plinth Labs",
      product_name: "PX-100",
      product_version: "1.0",
      product_serial: "SN-0042",
      product_uuid: uuid,
    });
    expect(result("firmware")).toEqual({ type: "bios", secure_boot: false });
  }, 700_000);

  it("commissions under UEFI firmware (OVMF) and says so", async () => {
    const mac = "52:54:00:a1:b2:c6";
    rig.setToken("node-4", "tok-4");
    const args = ["-smp", "2", "-m", "512", ...ovmf("uefi"), ...nic(mac), ...ephemeral("commission", "node-4", "tok-4", mac)];
    const boot = await rig.boot("commission-uefi", args, bootTimeout, finalStatus("node-4", "done", "failed"));
    timings["commission-uefi"] = boot.seconds;
    const statuses = boot.requests.filter((r) => r.path === "/metadata/node-4/status").map(statusOf);
    expect(statuses).toEqual(["running", "done"]);
    const firmware = boot.requests.find((r) => r.path === "/metadata/node-4/commissioning/firmware")!;
    expect(JSON.parse(firmware.body)).toMatchObject({ type: "uefi" });
    const memory = boot.requests.find((r) => r.path === "/metadata/node-4/commissioning/memory")!;
    expect(JSON.parse(memory.body).physical_bytes).toBe(512 * MiB);
  }, 700_000);

  const deployed = join(rig.dir, "target.img");
  // A function, not a value: describe bodies run before beforeAll has built the images.
  const deployedSha = () => sha256File(join(imagesDir, "testdisk.raw.zst"));

  it("deploys raw.zst: streams the test image to the chosen disk, verifies it, writes the NoCloud seed, reboots", async () => {
    const mac = "52:54:00:a1:b2:c4";
    rig.setToken("node-2", "tok-2");
    rig.setDeploy("node-2", {
      image: { url: `${base}/images/testdisk.raw.zst`, sha256: sha256File(join(imagesDir, "testdisk.raw.zst")), format: "raw.zst" },
      storage: { layout: "flat", disk: "serial:PLX-TARGET" },
      hostname: "plinth-test-1",
      instance_id: "i-node-2",
      ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlinthTestKey test@plinth"],
      user_data: `#cloud-config\nphone_home:\n  url: ${base}/phone-home/$INSTANCE_ID\n  post: all\n`,
      network_config: "version: 2\nethernets:\n  id0:\n    match:\n      macaddress: '52:54:00:a1:b2:c4'\n    dhcp4: true\n",
    });
    const args = [
      "-smp",
      "2",
      "-m",
      "512",
      ...nic(mac),
      ...virtioDisk("d0", blank(join(rig.dir, "d-vda.img"), 16 * MiB), "PLX-OS-0"),
      ...virtioDisk("d1", blank(deployed, 64 * MiB), "PLX-TARGET"),
      ...ephemeral("deploy", "node-2", "tok-2", mac),
    ];
    // Deploy reboots when done; with -no-reboot QEMU exits.
    const boot = await rig.boot("deploy", args, bootTimeout);
    timings["deploy"] = boot.seconds;
    const statuses = boot.requests.filter((r) => r.path === "/metadata/node-2/status").map((r) => JSON.parse(r.body));
    expect(statuses[0].status).toBe("running");
    expect(statuses.filter((s) => s.status === "progress").map((s) => s.step)).toEqual(["writing", "cloud-init"]);
    // No root with /etc/cloud in the test disk: the NoCloud seed path, as before the installer.
    expect(statuses.at(-1)).toMatchObject({ mode: "deploy", status: "installed", disk: "/dev/vdb", sha256: deployedSha(), seed: "/dev/vdb2", layout: "image" });
    expect(boot.console).toMatch(/plinth: \[[\d.]+\] rebooting/);
    expect(boot.requests.some((r) => r.method === "GET" && r.path === "/metadata/node-2/deploy" && r.status === 200)).toBe(true);

    // The disk holds the image byte for byte, except the MBR slot the seed partition took.
    const raw = readFileSync(join(imagesDir, "testdisk.raw"));
    const disk = readBytes(deployed, 0, raw.length);
    expect(disk.subarray(0, 462).equals(raw.subarray(0, 462))).toBe(true);
    expect(disk.subarray(478).equals(raw.subarray(478))).toBe(true);
    expect(readBytes(join(rig.dir, "d-vda.img"), 0, MiB).every((b) => b === 0)).toBe(true);

    // The seed: an MBR partition at the end of the disk, vfat labelled CIDATA.
    const entry = disk.subarray(462, 478);
    expect(entry[4]).toBe(0x0e);
    const start = entry.readUInt32LE(8);
    const sectors = entry.readUInt32LE(12);
    expect((start + sectors) * 512).toBeLessThanOrEqual(statSync(deployed).size - MiB);
    const mtools = (cmd: string, ...args: string[]) => execFileSync(cmd, ["-i", `${deployed}@@${start * 512}`, ...args], { encoding: "utf8" });
    const mtype = (f: string) => mtools("mtype", `::${f}`);
    expect(mtools("mlabel", "-s", "::")).toContain("CIDATA");
    expect(mtype("meta-data")).toBe(
      "instance-id: 'i-node-2'\nlocal-hostname: 'plinth-test-1'\npublic-keys:\n  - 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlinthTestKey test@plinth'\n",
    );
    expect(mtype("user-data")).toBe(`#cloud-config\nphone_home:\n  url: ${base}/phone-home/$INSTANCE_ID\n  post: all\n`);
    expect(mtype("network-config")).toContain("macaddress: '52:54:00:a1:b2:c4'");
  }, 700_000);

  it("boots the deployed disk, which phones home from its seed", async () => {
    const args = ["-smp", "2", "-m", "256", ...nic("52:54:00:a1:b2:c4"), ...virtioDisk("d0", deployed, "PLX-TARGET", ",bootindex=1")];
    const boot = await rig.boot("firstboot", args, bootTimeout, (fresh) => fresh.some((r) => r.path.startsWith("/phone-home/")));
    timings["firstboot"] = boot.seconds;
    const home = boot.requests.find((r) => r.path.startsWith("/phone-home/"))!;
    expect(home.path).toBe("/phone-home/i-node-2");
    expect(home.contentType).toBe("application/x-www-form-urlencoded");
    expect(new URLSearchParams(home.body).get("instance_id")).toBe("i-node-2");
    expect(new URLSearchParams(home.body).get("hostname")).toBe("plinth-test-1");
  }, 700_000);

  it("boots the deployed disk under UEFI too (systemd-boot on the same FAT partition)", async () => {
    const args = [
      "-smp",
      "2",
      "-m",
      "256",
      ...ovmf("firstboot-uefi"),
      ...nic("52:54:00:a1:b2:c4"),
      ...virtioDisk("d0", deployed, "PLX-TARGET", ",bootindex=1"),
    ];
    const boot = await rig.boot("firstboot-uefi", args, bootTimeout, (fresh) => fresh.some((r) => r.path.startsWith("/phone-home/")));
    timings["firstboot-uefi"] = boot.seconds;
    expect(boot.requests.find((r) => r.path.startsWith("/phone-home/"))!.path).toBe("/phone-home/i-node-2");
  }, 700_000);

  it("releases with quick erase: wipes the start and end of the disk and of each partition", async () => {
    const mac = "52:54:00:a1:b2:c5";
    rig.setToken("node-3", "tok-3");
    const before = readBytes(deployed, MiB, 512);
    expect(before.readUInt16LE(510)).toBe(0xaa55);
    const args = [
      "-smp",
      "2",
      "-m",
      "512",
      ...nic(mac),
      ...virtioDisk("d0", deployed, "PLX-TARGET"),
      ...ephemeral("release", "node-3", "tok-3", mac, "plinth.erase=quick"),
    ];
    const boot = await rig.boot("release", args, bootTimeout, finalStatus("node-3", "done", "failed"));
    timings["release"] = boot.seconds;
    const done = boot.requests.filter((r) => r.path === "/metadata/node-3/status").map((r) => JSON.parse(r.body));
    expect(done.at(-1)).toEqual({ mode: "release", status: "done", erase: "quick", disks: ["vda"] });
    const size = statSync(deployed).size;
    const zero = (off: number, len: number) => readBytes(deployed, off, len).every((b) => b === 0);
    expect(zero(0, MiB)).toBe(true);
    expect(zero(size - MiB, MiB)).toBe(true);
    // The boot partition's FAT (at 1 MiB) is gone; the kernel inside it beyond 2 MiB is not touched.
    expect(zero(MiB, MiB)).toBe(true);
  }, 700_000);

  it("fails a deploy whose image does not match its sha256 (raw.gz): reports failed, leaves nothing bootable", async () => {
    const mac = "52:54:00:a1:b2:c7";
    rig.setToken("node-5", "tok-5");
    rig.setDeploy("node-5", {
      image: { url: "/images/testdisk.raw.gz", sha256: "0".repeat(64) },
      hostname: "plinth-bad",
    });
    const disk = blank(join(rig.dir, "bad.img"), 64 * MiB);
    const args = ["-smp", "2", "-m", "512", ...nic(mac), ...virtioDisk("d0", disk, "PLX-BAD"), ...ephemeral("deploy", "node-5", "tok-5", mac)];
    const boot = await rig.boot("deploy-bad", args, bootTimeout, finalStatus("node-5", "installed", "failed"));
    timings["deploy-bad"] = boot.seconds;
    const statuses = boot.requests.filter((r) => r.path === "/metadata/node-5/status").map((r) => JSON.parse(r.body));
    expect(statuses.map((s) => s.status)).toEqual(["running", "progress", "failed"]);
    expect(statuses[2].error).toMatch(new RegExp(`^writing: sha256 mismatch: expected 0{64}, got ${sha256File(join(imagesDir, "testdisk.raw.gz"))} `));
    // The image was streamed (format from the URL, path relative to the relay) but its MBR is gone.
    expect(boot.requests.some((r) => r.method === "GET" && r.path === "/images/testdisk.raw.gz" && r.status === 200)).toBe(true);
    expect(readBytes(disk, 0, MiB).every((b) => b === 0)).toBe(true);
    expect(readBytes(disk, MiB, 512).readUInt16LE(510)).toBe(0xaa55);
  }, 700_000);
});

// The installer in the ephemeral environment, for real in QEMU (TCG): a GPT disk image written
// to a bigger disk and grown, the failures that must leave nothing bootable, and a storage plan
// (shared/storage/plan.ts) built over four disks. Root tarballs (flat and lvm, BIOS and UEFI) are installed and booted to SSH by the end-to-end test
// (test/node/e2e/lifecycle.test.ts), through the real region and rack: one boot serves both.
// The deployment documents are the contract's v2 documents.
import { execFileSync } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, mkdirSync, openSync, readdirSync, statSync, symlinkSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Plan, PlanSchema } from "../../../shared/storage/plan";
import { applianceAddr, buildImages, imagesDir, metadataPort, type Request, Rig, requireTool, sha256File, blank, readBytes } from "./rig";

const MiB = 1024 * 1024;
const base = `http://${applianceAddr}:${metadataPort}`;
// A frozen guest is retried once by the rig.
const installTimeout = 1_200_000;
// The deployed system shows systemd on the serial console: what the tags' kernel_opts would say.
const kernelOpts = "console=ttyS0,115200 systemd.show_status=true";

const zero = (path: string, offset: number, length: number) => readBytes(path, offset, length).every((b) => b === 0);

function ephemeral(node: string, token: string, mac: string): string[] {
  return [
    "-kernel",
    join(imagesDir, "vmlinuz"),
    "-initrd",
    join(imagesDir, "initrd.img"),
    "-append",
    `console=ttyS0 quiet panic=5 plinth.mode=deploy plinth.url=${base}/metadata/${node} plinth.token=${token} BOOTIF=01-${mac.replaceAll(":", "-")}`,
  ];
}

function machine(mac: string | null, disk: string, serial: string, extra = ""): string[] {
  return [
    "-smp",
    "1",
    "-m",
    "768",
    ...(mac ? ["-device", `virtio-net-pci,netdev=n0,mac=${mac}`] : []),
    "-drive",
    `file=${disk},if=none,id=d0,format=raw,cache=unsafe`,
    "-device",
    `virtio-blk-pci,drive=d0,serial=${serial}${extra}`,
  ];
}

interface Status {
  mode: string;
  status: string;
  step?: string;
  message?: string;
  error?: string;
  [k: string]: unknown;
}

function statuses(requests: Request[], node: string): Status[] {
  return requests.filter((r) => r.method === "POST" && r.path === `/metadata/${node}/status`).map((r) => JSON.parse(r.body) as Status);
}

/** The steps in the order they started (repeated progress of one step counted once). */
function steps(list: Status[]): string[] {
  const out: string[] = [];
  for (const s of list) if (s.status === "progress" && s.step !== out.at(-1)) out.push(s.step!);
  return out;
}

const ended = (node: string) => (fresh: Request[]) => statuses(fresh, node).some((s) => s.status === "installed" || s.status === "failed");

// What the region renders for a bonded machine (cloud/domain/machines/netplan.ts), verbatim.
const NETWORK = [
  "network:",
  "  version: 2",
  "  ethernets:",
  "    eth0:",
  "      match:",
  '        macaddress: "52:54:00:1e:00:03"',
  "      set-name: eth0",
  "  bonds:",
  "    bond0:",
  "      interfaces:",
  "        - eth0",
  '      macaddress: "52:54:00:1e:00:03"',
  "      addresses:",
  "        - 10.0.0.5/24",
  "",
].join("\n");

function deployDoc(image: { url: string; sha256: string; format: string; size: number }, layout: string, disk: string, extra: Record<string, unknown> = {}) {
  return {
    image,
    hostname: "inst-node",
    instance_id: "i-inst",
    ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlinthTestKey test@plinth"],
    user_data: "",
    vendor_data: "",
    storage: { layout, disk },
    kernel_opts: kernelOpts,
    cloud_init: `#cloud-config\ndatasource_list: [MAAS]\ndatasource: {MAAS: {metadata_url: "${base}/MAAS/metadata/"}}\n`,
    ...extra,
  };
}

function gptOf(disk: string): { partitions: { node: string; start: number; size: number; type: string }[]; lastlba: number } {
  return (JSON.parse(execFileSync("sfdisk", ["--json", disk], { encoding: "utf8" })) as { partitiontable: never }).partitiontable;
}

const rig = new Rig();
const times: Record<string, number> = {};

beforeAll(async () => {
  requireTool("sfdisk", "fdisk");
  requireTool("mke2fs", "e2fsprogs");
  requireTool("mdadm", "mdadm");
  requireTool("bcache-super-show", "bcache-tools");
  buildImages();
  await rig.start();
}, 3_700_000);

afterAll(async () => {
  console.log(`installer times (s): ${JSON.stringify(times)}`);
  await rig.destroy();
});

describe("installer: disk image and failures", () => {
  // A small GPT disk image like a cloud image: bios_grub, ESP, and a last ext4 root holding
  // /etc/os-release, /etc/cloud and a grub.cfg (no update-grub: the kernel options go into it).
  const gptImage = () => {
    const dir = join(rig.dir, "gpt-root");
    mkdirSync(join(dir, "etc/cloud/cloud.cfg.d"), { recursive: true });
    mkdirSync(join(dir, "boot/grub"), { recursive: true });
    writeFileSync(join(dir, "etc/os-release"), 'PRETTY_NAME="Test GPT image"\nID=debian\n');
    writeFileSync(join(dir, "etc/fstab"), "LABEL=root / ext4 defaults 0 1\n");
    writeFileSync(join(dir, "boot/grub/grub.cfg"), "menuentry 'Test' {\n\tlinux /vmlinuz root=LABEL=root ro quiet\n}\n");
    const raw = blank(join(rig.dir, "gpt.raw"), 64 * MiB);
    execFileSync("sfdisk", ["-q", raw], {
      input:
        "label: gpt\nsize=1MiB, type=21686148-6449-6E6F-744E-656564454649\nsize=8MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\ntype=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n",
    });
    const root = gptOf(raw).partitions[2]!;
    execFileSync("mke2fs", ["-q", "-F", "-t", "ext4", "-L", "root", "-d", dir, "-E", `offset=${root.start * 512}`, raw, `${(root.size * 512) / 1024}k`]);
    execFileSync("zstd", ["-q", "-f", raw, "-o", `${raw}.zst`]);
    return `${raw}.zst`;
  };

  it("writes a GPT disk image (ddzst) to a bigger disk: backup GPT at the end, last partition and ext4 grown, cloud-init config and kernel options in its root", async () => {
    const node = "inst-gpt";
    const mac = "52:54:00:1e:00:03";
    const zst = gptImage();
    rig.serveImage("gpt.raw.zst", zst);
    const disk = blank(join(rig.dir, "gpt-disk.img"), 512 * MiB);
    rig.setToken(node, "tok-gpt");
    const image = { url: "/images/gpt.raw.zst", sha256: sha256File(zst), format: "ddzst", size: statSync(zst).size };
    rig.setDeploy(node, deployDoc(image, "flat", "", { kernel_opts: "console=ttyS0 plinth.test=1", network_config: NETWORK }));
    const install = await rig.boot("gpt-install", machine(mac, disk, "PLX-GPT").concat(ephemeral(node, "tok-gpt", mac)), installTimeout, ended(node));
    times["gpt-install"] = install.seconds;
    const list = statuses(install.requests, node);
    expect(list.at(-1), list.at(-1)?.error).toMatchObject({ status: "installed", layout: "image", sha256: image.sha256 });
    expect(steps(list)).toEqual(["writing", "partitioning", "bootloader", "cloud-init"]);
    const parts = (list.at(-1)!.partitions as { name: string; size_bytes: number; fstype: string; mount: string }[]).map((p) => [p.name, p.fstype, p.mount]);
    expect(parts).toEqual([
      ["vda1", "", ""],
      ["vda2", "", ""],
      ["vda3", "ext4", "/"],
    ]);
    const gpt = gptOf(disk);
    // The backup header is the disk's last sector; the root ends at the last usable one.
    expect(gpt.lastlba).toBe(512 * 2048 - 34);
    const root = gpt.partitions[2]!;
    expect(root.start + root.size - 1).toBe(gpt.lastlba);
    // The grown root partition copied out (sparse): no loop device needed to read it.
    const part = join(rig.dir, "gpt-root.ext4");
    execFileSync(
      "dd",
      [`if=${disk}`, `of=${part}`, "bs=1M", `skip=${root.start * 512}`, `count=${root.size * 512}`, "iflag=skip_bytes,count_bytes", "conv=sparse"],
      {
        stdio: "ignore",
      },
    );
    const blocks = /Block count:\s+(\d+)/.exec(execFileSync("dumpe2fs", ["-h", part], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }))![1];
    expect(Number(blocks) * 4096).toBeGreaterThan(400 * MiB);
    const cat = (f: string) => execFileSync("debugfs", ["-R", `cat ${f}`, part], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    expect(cat("/etc/cloud/cloud.cfg.d/90_plinth.cfg")).toBe(deployDoc(image, "flat", "").cloud_init);
    expect(cat("/etc/cloud/cloud.cfg.d/50_plinth_network.cfg")).toBe(NETWORK);
    expect(cat("/boot/grub/grub.cfg")).toContain("linux /vmlinuz root=LABEL=root ro quiet console=ttyS0 plinth.test=1\n");
  }, 1_300_000);

  // A small tarball for the failures: they must be quick.
  const smallTarball = () => {
    const dir = join(rig.dir, "small-root");
    mkdirSync(join(dir, "etc"), { recursive: true });
    writeFileSync(join(dir, "etc/os-release"), "ID=debian\n");
    execFileSync("dd", ["if=/dev/urandom", `of=${join(dir, "blob")}`, "bs=1M", "count=6"], { stdio: "ignore" });
    const tgz = join(rig.dir, "small.tgz");
    execFileSync("tar", ["-czf", tgz, "-C", dir, "."]);
    return tgz;
  };

  async function failing(node: string, mac: string, doc: unknown, disk: string, name: string) {
    rig.setToken(node, `tok-${node}`);
    rig.setDeploy(node, doc);
    const boot = await rig.boot(name, machine(mac, disk, "PLX-FAIL").concat(ephemeral(node, `tok-${node}`, mac)), 600_000, ended(node));
    times[name] = boot.seconds;
    return statuses(boot.requests, node);
  }

  const unbootable = (disk: string) => {
    const size = statSync(disk).size;
    expect(zero(disk, 0, MiB), "first MiB zeroed").toBe(true);
    expect(zero(disk, size - MiB, MiB), "last MiB (backup GPT) zeroed").toBe(true);
    expect(() => execFileSync("sfdisk", ["-d", disk], { stdio: "ignore" })).toThrow();
  };

  it("fails a tarball whose sha256 does not match: unpacking: sha256 mismatch, the disk left with no partition table", async () => {
    const tgz = smallTarball();
    rig.serveImage("small.tgz", tgz);
    const disk = blank(join(rig.dir, "fail-sha.img"), 256 * MiB);
    const doc = deployDoc({ url: "/images/small.tgz", sha256: "0".repeat(64), format: "tgz", size: statSync(tgz).size }, "flat", "");
    const list = await failing("inst-sha", "52:54:00:1e:00:04", doc, disk, "fail-sha");
    expect(steps(list)).toEqual(["partitioning", "unpacking"]);
    expect(list.at(-1)).toMatchObject({ status: "failed" });
    expect(list.at(-1)!.error).toBe(
      `unpacking: sha256 mismatch: expected ${"0".repeat(64)}, got ${sha256File(tgz)} (the image on the server is not the one the deployment names)`,
    );
    unbootable(disk);
  }, 700_000);

  it("fails a tarball cut short (its sha256 matching what is served): unpacking: the gzip and tar errors, the disk wiped", async () => {
    const tgz = smallTarball();
    const cut = join(rig.dir, "cut.tgz");
    copyFileSync(tgz, cut);
    truncateSync(cut, Math.floor(statSync(tgz).size / 2));
    rig.serveImage("cut.tgz", cut);
    const disk = blank(join(rig.dir, "fail-cut.img"), 256 * MiB);
    const doc = deployDoc({ url: "/images/cut.tgz", sha256: sha256File(cut), format: "tgz", size: statSync(cut).size }, "lvm", "");
    const list = await failing("inst-cut", "52:54:00:1e:00:05", doc, disk, "fail-cut");
    expect(list.at(-1)).toMatchObject({ status: "failed" });
    expect(list.at(-1)!.error).toMatch(/^unpacking: the image is cut short or corrupt: .*(unexpected end of file|Unexpected EOF)/i);
    unbootable(disk);
  }, 700_000);

  it("fails a disk image bigger than the disk before writing anything", async () => {
    const zst = gptImage();
    rig.serveImage("gpt.raw.zst", zst);
    const disk = blank(join(rig.dir, "fail-small.img"), 32 * MiB);
    // A marker where the image's protective MBR would go: it must still be there.
    const fd = openSync(disk, "r+");
    writeSync(fd, Buffer.from("plinth-marker"), 0, 13, 0);
    closeSync(fd);
    const doc = deployDoc({ url: "/images/gpt.raw.zst", sha256: sha256File(zst), format: "ddzst", size: statSync(zst).size }, "flat", "");
    const list = await failing("inst-small", "52:54:00:1e:00:06", doc, disk, "fail-small");
    expect(steps(list)).toEqual([]);
    expect(list.at(-1)).toMatchObject({ status: "failed", error: "writing: the image needs 64 MiB, /dev/vda has 32 MiB" });
    expect(readBytes(disk, 0, 13).toString()).toBe("plinth-marker");
  }, 700_000);
});

// A storage plan over four disks, installed for real in QEMU: GPTs written by sfdisk, md RAID 1
// (with a spare) and RAID 0 made by mdadm, LVM on the RAID 0, a bcache (cache set on a partition,
// the whole of a disk as backing device), ext4, xfs, vfat and swap, the mounts, the tarball
// unpacked onto them, fstab and mdadm.conf. The root tarball is tiny: busybox and stand-ins for
// the image's own grub-install, update-grub and update-initramfs that record how they were
// called and what they saw (mdadm.conf, /proc/mdstat); mdadm, lvm and bcache's udev rule are
// empty stand-ins that only satisfy the installer's checks that the image could assemble its
// storage. Real GRUB and a real initramfs booting a root on RAID are the end-to-end test's
// (a Debian image: test/node/e2e). Everything is then read from the host, from the disk files.
describe("installer: storage plan", () => {
  const rootUuid = "2f1c4a53-8d0e-4b6a-9b59-0b3c5e1d7a01";
  const swapUuid = "7c0a9e4e-5a37-4f5e-bb1d-55d7c3a2e902";
  const xfsUuid = "0d6f3c1b-2e44-4f3a-a0a5-9e8d7c6b5a03";
  const plan: Plan = PlanSchema.parse([
    { type: "disk", id: "d1", match: "serial:PLX-A", ptable: "gpt", grub: true },
    { type: "disk", id: "d2", match: "serial:PLX-B", ptable: "gpt", grub: true },
    { type: "disk", id: "d3", match: "serial:PLX-C", ptable: "gpt", grub: false },
    { type: "disk", id: "d4", match: "serial:PLX-D", ptable: "none", grub: false },
    { type: "partition", id: "p11", device: "d1", number: 1, start_mib: 1, size_mib: 1, kind: "bios_grub" },
    { type: "partition", id: "p12", device: "d1", number: 2, start_mib: 2, size_mib: 400, kind: "raid" },
    { type: "partition", id: "p13", device: "d1", number: 3, start_mib: 402, size_mib: 64, kind: "swap" },
    { type: "partition", id: "p14", device: "d1", number: 4, start_mib: 466, size_mib: 320, kind: "raid" },
    { type: "partition", id: "p21", device: "d2", number: 1, start_mib: 1, size_mib: 1, kind: "bios_grub" },
    { type: "partition", id: "p22", device: "d2", number: 2, start_mib: 2, size_mib: 400, kind: "raid" },
    { type: "partition", id: "p23", device: "d2", number: 3, start_mib: 402, size_mib: 0, kind: "raid" },
    { type: "partition", id: "p31", device: "d3", number: 1, start_mib: 1, size_mib: 400, kind: "raid" },
    { type: "partition", id: "p32", device: "d3", number: 2, start_mib: 401, size_mib: 320, kind: "bcache" },
    { type: "partition", id: "p33", device: "d3", number: 3, start_mib: 721, size_mib: 64, kind: "esp" },
    { type: "raid", id: "md1", name: "root", level: 1, devices: ["p12", "p22"], spares: ["p31"] },
    { type: "raid", id: "md2", name: "data", level: 0, devices: ["p14", "p23"], spares: [] },
    { type: "vg", id: "vg1", name: "vgdata", devices: ["md2"] },
    { type: "lv", id: "lv1", vg: "vg1", name: "home", size_mib: 64 },
    { type: "lv", id: "lv2", vg: "vg1", name: "srv-data", size_mib: 0 },
    { type: "cache_set", id: "cs1", device: "p32" },
    { type: "bcache", id: "bc1", name: "bcache0", backing: "d4", cache_set: "cs1", cache_mode: "writeback" },
    { type: "format", device: "md1", fstype: "ext4", label: "root", uuid: rootUuid },
    { type: "format", device: "p13", fstype: "swap", label: "swap", uuid: swapUuid },
    { type: "format", device: "p33", fstype: "vfat", label: "EFI", uuid: "1234-ABCD" },
    { type: "format", device: "lv1", fstype: "ext4", label: "home", uuid: "" },
    { type: "format", device: "lv2", fstype: "xfs", label: "data", uuid: xfsUuid },
    { type: "format", device: "bc1", fstype: "ext4", label: "cached", uuid: "" },
    { type: "mount", device: "md1", path: "/", options: "" },
    { type: "mount", device: "p13", path: "none", options: "" },
    { type: "mount", device: "p33", path: "/boot/efi", options: "" },
    { type: "mount", device: "lv1", path: "/home", options: "noatime" },
    { type: "mount", device: "bc1", path: "/srv", options: "" },
    { type: "mount", device: "lv2", path: "/srv/data", options: "" },
  ]);

  // busybox (from the deploy environment's build cache) and the stand-ins described above.
  const planTarball = () => {
    const dir = join(rig.dir, "plan-root");
    const cacheRoot = join(imagesDir, "cache/root");
    const bbDir = readdirSync(cacheRoot).find((d) => d.startsWith("busybox-static_"));
    if (!bbDir) throw new Error(`no busybox-static in ${cacheRoot}`);
    for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "usr/lib/grub/i386-pc", "lib/udev/rules.d", "etc", "var/log/plinth-test", "srv", "home"]) {
      mkdirSync(join(dir, d), { recursive: true });
    }
    copyFileSync(join(cacheRoot, bbDir, "bin/busybox"), join(dir, "bin/busybox"));
    chmodSync(join(dir, "bin/busybox"), 0o755);
    for (const a of ["sh", "cat", "cp", "mkdir"]) symlinkSync("busybox", join(dir, "bin", a));
    symlinkSync("../../bin/busybox", join(dir, "usr/bin/env"));
    const script = (path: string, body: string) => writeFileSync(join(dir, path), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    script("usr/sbin/grub-install", 'echo "$*" >>/var/log/plinth-test/grub-install');
    script("usr/sbin/update-grub", "echo update-grub >>/var/log/plinth-test/update-grub\nmkdir -p /boot/grub\necho '# stand-in' >/boot/grub/grub.cfg");
    script(
      "usr/sbin/update-initramfs",
      'echo "$*" >>/var/log/plinth-test/update-initramfs\ncp /etc/mdadm/mdadm.conf /var/log/plinth-test/initramfs-mdadm.conf\ncat /proc/mdstat >/var/log/plinth-test/mdstat',
    );
    script("sbin/mdadm", "exit 0");
    script("sbin/lvm", "exit 0");
    writeFileSync(join(dir, "lib/udev/rules.d/69-bcache.rules"), "# stand-in\n");
    writeFileSync(join(dir, "usr/lib/grub/i386-pc/modinfo.sh"), "# stand-in\n");
    writeFileSync(join(dir, "etc/os-release"), "ID=debian\n");
    writeFileSync(join(dir, "srv/hello.txt"), "on the bcache\n");
    const tgz = join(rig.dir, "plan.tgz");
    execFileSync("tar", ["-czf", tgz, "--numeric-owner", "-C", dir, "."]);
    return tgz;
  };

  /** A partition of a disk file copied out (sparse). */
  const extract = (disk: string, offset: number, length: number, out: string) => {
    execFileSync("dd", [`if=${disk}`, `of=${out}`, "bs=1M", `skip=${offset}`, `count=${length}`, "iflag=skip_bytes,count_bytes", "conv=sparse"], {
      stdio: "ignore",
    });
    return out;
  };
  const text = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const examine = (file: string) => {
    const out = text("mdadm", ["--examine", file]);
    const field = (k: string) => new RegExp(`^\\s*${k} : (.*)$`, "m").exec(out)?.[1]?.trim();
    return { out, field };
  };
  const blkidAt = (disk: string, offset: number) => {
    const out = text("blkid", ["-p", "-O", String(offset), "-o", "export", disk]);
    return Object.fromEntries(
      out
        .trim()
        .split("\n")
        .map((l) => l.split("=", 2) as [string, string]),
    );
  };

  it("builds the plan: GPTs, RAID 1 with a spare and RAID 0, LVM on the RAID 0, bcache over a whole disk, ext4/xfs/vfat/swap, fstab, mdadm.conf, initramfs and GRUB on both boot disks", async () => {
    const node = "inst-plan";
    const mac = "52:54:00:1e:00:07";
    const tgz = planTarball();
    rig.serveImage("plan.tgz", tgz);
    const disks = { A: 1024, B: 1024, C: 1024, D: 512 } as const;
    const files = Object.fromEntries(Object.entries(disks).map(([k, mib]) => [k, blank(join(rig.dir, `plan-${k}.img`), mib * MiB)])) as Record<
      keyof typeof disks,
      string
    >;
    rig.setToken(node, "tok-plan");
    const image = { url: "/images/plan.tgz", sha256: sha256File(tgz), format: "tgz", size: statSync(tgz).size };
    const doc = deployDoc(image, "custom", "serial:PLX-A");
    rig.setDeploy(node, { ...doc, storage: { ...doc.storage, plan } });
    const drives = Object.entries(files).flatMap(([k, file], i) => [
      "-drive",
      `file=${file},if=none,id=d${i},format=raw,cache=unsafe`,
      "-device",
      `virtio-blk-pci,drive=d${i},serial=PLX-${k}`,
    ]);
    const args = ["-smp", "1", "-m", "768", "-device", `virtio-net-pci,netdev=n0,mac=${mac}`, ...drives, ...ephemeral(node, "tok-plan", mac)];
    const install = await rig.boot("plan-install", args, installTimeout, ended(node));
    times["plan-install"] = install.seconds;
    const list = statuses(install.requests, node);
    expect(list.at(-1), list.at(-1)?.error).toMatchObject({ status: "installed", layout: "custom", sha256: image.sha256, firmware: "bios" });
    expect(steps(list)).toEqual(["partitioning", "storage", "filesystems", "unpacking", "initramfs", "bootloader", "cloud-init"]);
    const report = list.at(-1)!.partitions as { name: string; size_bytes: number; fstype: string; mount: string; uuid: string }[];
    expect(report.map((p) => [p.name, p.fstype, p.mount])).toEqual([
      ["vda1", "", ""],
      ["vda2", "linux_raid_member", ""],
      ["vda3", "swap", "none"],
      ["vda4", "linux_raid_member", ""],
      ["vdb1", "", ""],
      ["vdb2", "linux_raid_member", ""],
      ["vdb3", "linux_raid_member", ""],
      ["vdc1", "linux_raid_member", ""],
      ["vdc2", "bcache", ""],
      ["vdc3", "vfat", "/boot/efi"],
      ["vdd", "bcache", ""],
      ["root", "ext4", "/"],
      ["data", "LVM2_member", ""],
      ["vgdata-home", "ext4", "/home"],
      ["vgdata-srv--data", "xfs", "/srv/data"],
      ["bcache0", "ext4", "/srv"],
    ]);
    const byName = Object.fromEntries(report.map((p) => [p.name, p]));
    expect(byName.vda2!.size_bytes).toBe(400 * MiB);
    expect(byName["vgdata-home"]!.size_bytes).toBe(64 * MiB);
    expect(byName.root!.uuid).toBe(rootUuid);
    expect(byName.vda3!.uuid).toBe(swapUuid);
    expect(byName["vgdata-srv--data"]!.uuid).toBe(xfsUuid);
    expect(byName.vdc3!.uuid).toBe("1234-ABCD");

    // The partition tables, as sfdisk wrote them: types and starts from the plan; size 0 runs to the end.
    const T = {
      bios: "21686148-6449-6E6F-744E-656564454649",
      raid: "A19D880F-05FC-4D3B-A006-743F0F84911E",
      swap: "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
      linux: "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
      esp: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
    };
    const table = (disk: string) => gptOf(disk).partitions.map((p) => [p.start / 2048, p.size / 2048, p.type]);
    expect(table(files.A)).toEqual([
      [1, 1, T.bios],
      [2, 400, T.raid],
      [402, 64, T.swap],
      [466, 320, T.raid],
    ]);
    const gptB = gptOf(files.B);
    expect(table(files.B).slice(0, 2)).toEqual([
      [1, 1, T.bios],
      [2, 400, T.raid],
    ]);
    const b3 = gptB.partitions[2]!;
    // sfdisk ends "the rest" on the last whole MiB of the usable space.
    expect([b3.start, b3.type, b3.start + b3.size]).toEqual([402 * 2048, T.raid, Math.floor((gptB.lastlba + 1) / 2048) * 2048]);
    expect(table(files.C)).toEqual([
      [1, 400, T.raid],
      [401, 320, T.linux],
      [721, 64, T.esp],
    ]);
    // The whole-disk backing device: no partition table, a bcache superblock.
    expect(() => execFileSync("sfdisk", ["-d", files.D], { stdio: "ignore" })).toThrow();

    // The md superblocks (1.2, 4 KiB into each member), read by mdadm from copies of the members.
    const member = (disk: string, startMib: number, sizeMib: number, name: string) =>
      extract(disk, startMib * MiB, sizeMib * MiB, join(rig.dir, `${name}.member`));
    const a2 = examine(member(files.A, 2, 400, "a2"));
    const b2 = examine(member(files.B, 2, 400, "b2"));
    const c1 = examine(member(files.C, 1, 400, "c1"));
    const a4 = examine(member(files.A, 466, 320, "a4"));
    expect([a2.field("Version"), a2.field("Raid Level"), a2.field("Raid Devices"), a2.field("Name")]).toEqual(["1.2", "raid1", "2", "any:root"]);
    expect(b2.field("Array UUID")).toBe(a2.field("Array UUID"));
    expect(c1.field("Array UUID")).toBe(a2.field("Array UUID"));
    expect(c1.field("Device Role")).toBe("spare");
    expect([a4.field("Raid Level"), a4.field("Raid Devices"), a4.field("Name")]).toEqual(["raid0", "2", "any:data"]);

    // The root file system, on the first RAID 1 member from its data offset.
    const dataOffset = (e: ReturnType<typeof examine>) => Number(/^(\d+) sectors/.exec(e.field("Data Offset") ?? "")![1]) * 512;
    const rootFs = extract(files.A, 2 * MiB + dataOffset(a2), 400 * MiB - dataOffset(a2), join(rig.dir, "plan-root.ext4"));
    const cat = (fs: string, f: string) => text("debugfs", ["-R", `cat ${f}`, fs]);
    const uuidOf = (name: string) => byName[name]!.uuid;
    expect(cat(rootFs, "/etc/fstab")).toBe(
      [
        "# Written by the Plinth installer: the file systems of the storage plan, by UUID.",
        `UUID=${rootUuid} / ext4 errors=remount-ro 0 1`,
        `UUID=${swapUuid} none swap sw 0 0`,
        "UUID=1234-ABCD /boot/efi vfat umask=0077 0 2",
        `UUID=${uuidOf("vgdata-home")} /home ext4 noatime 0 2`,
        `UUID=${uuidOf("bcache0")} /srv ext4 defaults 0 2`,
        `UUID=${xfsUuid} /srv/data xfs defaults 0 2`,
        "",
      ].join("\n"),
    );
    const mdadmConf = cat(rootFs, "/etc/mdadm/mdadm.conf");
    const uuidColons = (e: ReturnType<typeof examine>) => e.field("Array UUID");
    expect(mdadmConf).toContain("HOMEHOST <system>\n");
    expect(mdadmConf).toMatch(new RegExp(`^ARRAY /dev/md/root metadata=1\\.2 spares=1 name=any:root UUID=${uuidColons(a2)}$`, "m"));
    expect(mdadmConf).toMatch(new RegExp(`^ARRAY /dev/md/data metadata=1\\.2 name=any:data UUID=${uuidColons(a4)}$`, "m"));
    // update-initramfs ran in the chroot after mdadm.conf was written, with the arrays up.
    expect(cat(rootFs, "/var/log/plinth-test/update-initramfs")).toBe("-u -k all\n");
    expect(cat(rootFs, "/var/log/plinth-test/initramfs-mdadm.conf")).toBe(mdadmConf);
    expect(cat(rootFs, "/var/log/plinth-test/mdstat")).toMatch(/raid1[\s\S]*raid0|raid0[\s\S]*raid1/);
    // GRUB for BIOS on both disks marked grub (either RAID 1 member boots), update-grub once.
    expect(cat(rootFs, "/var/log/plinth-test/grub-install")).toBe("--target=i386-pc --recheck /dev/vda\n--target=i386-pc --recheck /dev/vdb\n");
    expect(cat(rootFs, "/var/log/plinth-test/update-grub")).toBe("update-grub\n");
    expect(cat(rootFs, "/etc/cloud/cloud.cfg.d/90_plinth.cfg")).toBe(doc.cloud_init);
    // The tarball's /srv landed on the bcache's file system, not on the root.
    expect(cat(rootFs, "/srv/hello.txt")).toBe("");

    // LVM on the RAID 0: the PV label and the volume group's metadata at the start of the array,
    // in its first chunk (on the first member, from its data offset).
    const pv = readBytes(join(rig.dir, "a4.member"), dataOffset(a4), MiB);
    expect(pv.subarray(512, 520).toString()).toBe("LABELONE");
    const meta = pv.toString("latin1");
    expect(meta).toMatch(/vgdata \{[\s\S]*home \{[\s\S]*srv-data \{/);

    // bcache: the backing superblock names the cache set and the plan's mode; nothing left dirty,
    // so the file system on the backing device (8 KiB in) is whole and holds the tarball's /srv.
    const backing = text("bcache-super-show", [files.D]);
    const cache = text("bcache-super-show", [extract(files.C, 401 * MiB, 320 * MiB, join(rig.dir, "c2.member"))]);
    const sb = (out: string, k: string) => new RegExp(`^${k.replaceAll(".", "\\.")}\\s+(.*)$`, "m").exec(out)?.[1]?.trim();
    expect(sb(backing, "cset.uuid")).toBe(sb(cache, "cset.uuid"));
    expect(sb(backing, "dev.data.cache_mode")).toMatch(/writeback/);
    expect(sb(backing, "dev.data.cache_state")).toMatch(/clean/);
    const cachedFs = extract(files.D, 8192, 512 * MiB - 8192, join(rig.dir, "plan-bcache.ext4"));
    expect(cat(cachedFs, "/hello.txt")).toBe("on the bcache\n");
    expect(blkidAt(files.A, 402 * MiB)).toMatchObject({ TYPE: "swap", LABEL: "swap", UUID: swapUuid });
    expect(blkidAt(files.C, 721 * MiB)).toMatchObject({ TYPE: "vfat", LABEL: "EFI", UUID: "1234-ABCD" });
  }, 1_300_000);
});

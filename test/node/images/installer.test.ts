// The installer in the ephemeral environment, for real in QEMU (TCG): a GPT disk image written
// to a bigger disk and grown, and the failures that must leave nothing bootable. Root tarballs
// (flat and lvm, BIOS and UEFI) are installed and booted to SSH by the end-to-end test
// (test/node/e2e/lifecycle.test.ts), through the real region and rack: one boot serves both.
// The deployment documents are the contract's v2 documents.
import { execFileSync } from "node:child_process";
import { closeSync, copyFileSync, mkdirSync, openSync, statSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

// The Debian bookworm image built by `npm run images -- os debian/bookworm` (through its cache,
// so cheap once built): the root tarball is a stock cloud image, the GPT disk image has the
// layout, ESP and fstab the installer relies on, and it really boots under QEMU (software
// emulation, no network) with SeaBIOS, from the boot code the builder placed without a loop
// device. Its OVMF boot is the end-to-end test's (test/node/e2e), which deploys this image to
// the UEFI VM and logs in: one boot serves both.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repo, requireTool } from "./rig";

const out = join(process.env.PLINTH_IMAGES_OUT ?? join(repo, "images/build"), "os/debian-bookworm");
const tgz = join(out, "root.tgz");
const disk = join(out, "disk.ddraw");
const SECTOR = 512;
// TCG on a busy CI machine: the kernel is usually up within a minute, systemd soon after.
const bootTimeout = 600_000;

interface Partition {
  node: string;
  start: number;
  size: number;
  type: string;
  uuid: string;
  name?: string;
}

interface Manifest {
  stamp: string;
  kernel_version: string;
  package_count: number;
  packages: Record<string, string>;
  disk: { root_uuid: string; esp_uuid: string };
  files: Record<string, { size: number; allocated: number; sha256: string }>;
  build_seconds: Record<string, number>;
}

const tmp = mkdtempSync(join(tmpdir(), "plinth-os-image-"));
const children: ChildProcess[] = [];
const timings: Record<string, number> = {};
let names: Set<string>;
let partitions: Partition[];
let manifest: Manifest;

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
}

function part(type: string): Partition {
  const p = partitions.find((x) => x.type === type);
  if (!p) throw new Error(`no partition of type ${type}`);
  return p;
}

const BIOS_GRUB = "21686148-6449-6E6F-744E-656564454649";
const ESP = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

beforeAll(() => {
  for (const [cmd, pkg] of [
    ["mmdebstrap", "mmdebstrap"],
    ["sfdisk", "fdisk"],
    ["debugfs", "e2fsprogs"],
    ["mcopy", "mtools"],
    ["zstd", "zstd"],
    ["qemu-system-x86_64", "qemu-system-x86"],
  ])
    requireTool(cmd!, pkg!);
  const t = Date.now();
  execFileSync("bash", [join(repo, "images/build.sh"), "os", "debian/bookworm"], { stdio: ["ignore", "inherit", "inherit"], timeout: 3_600_000 });
  timings.build_or_cache = Math.round((Date.now() - t) / 1000);
  names = new Set(
    run("tar", ["-tzf", tgz])
      .split("\n")
      .filter(Boolean)
      .map((n) => n.replace(/^\.\//, "").replace(/\/$/, "")),
  );
  partitions = (JSON.parse(run("sfdisk", ["-J", disk])) as { partitiontable: { partitions: Partition[] } }).partitiontable.partitions;
  manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8")) as Manifest;
}, 3_700_000);

function kill(c: ChildProcess): void {
  // It may have exited a moment ago, before Node saw its exit status.
  if (c.pid && c.exitCode === null && c.signalCode === null) {
    try {
      process.kill(c.pid, "SIGKILL");
    } catch {}
  }
}

afterAll(() => {
  for (const c of children) kill(c);
  rmSync(tmp, { recursive: true, force: true });
  console.log(`os image timings (s): ${JSON.stringify(timings)}`);
});

describe("debian/bookworm build", () => {
  it("is cached: a second run with the same inputs does nothing", () => {
    const log = run("bash", [join(repo, "images/build.sh"), "os", "debian/bookworm"]);
    expect(log).toContain("up to date");
  });

  it("lists every output with its sha256 in SHA256SUMS and the manifest", () => {
    const sums = readFileSync(join(out, "SHA256SUMS"), "utf8");
    for (const f of ["root.tgz", "disk.ddraw", "disk.ddzst"]) {
      const sha = run("sha256sum", [join(out, f)]).split(" ")[0]!;
      expect(sums).toContain(`${sha}  ${f}`);
      expect(manifest.files[f]?.sha256).toBe(sha);
    }
    expect(manifest.packages["cloud-init"]).toMatch(/^22\.4/);
    expect(manifest.packages["linux-image-amd64"]).toBeTruthy();
    expect(manifest.stamp).toBe(readFileSync(join(out, ".stamp"), "utf8").trim());
  });

  it("disk.ddzst decompresses to disk.ddraw", () => {
    const sha = execFileSync("sh", ["-c", `zstd -dc '${join(out, "disk.ddzst")}' | sha256sum`], { encoding: "utf8" }).split(" ")[0];
    expect(sha).toBe(manifest.files["disk.ddraw"]!.sha256);
  });
});

describe("root tarball", () => {
  it("holds the kernel, initrd, cloud-init, sshd, GRUB for both firmwares and LVM", () => {
    const list = [...names];
    expect(list.some((n) => /^boot\/vmlinuz-\d/.test(n))).toBe(true);
    expect(list.some((n) => /^boot\/initrd\.img-\d/.test(n))).toBe(true);
    for (const n of [
      "usr/bin/cloud-init",
      "usr/sbin/sshd",
      "usr/lib/grub/i386-pc/boot.img",
      "usr/lib/grub/x86_64-efi/linux.mod",
      "usr/sbin/lvm",
      "sbin",
      "usr/bin/growpart",
    ])
      expect(names.has(n), n).toBe(true);
    expect(names.has("usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")).toBe(true);
    expect(names.has("usr/lib/shim/shimx64.efi.signed")).toBe(true);
  });

  it("is a stock cloud image: no host keys, empty machine-id, no hostname, no root password, empty fstab", () => {
    expect([...names].filter((n) => n.startsWith("etc/ssh/ssh_host_"))).toEqual([]);
    expect(names.has("etc/hostname")).toBe(false);
    // One pass over the tarball for the files looked at.
    const wanted = [
      "etc/machine-id",
      "etc/shadow",
      "etc/fstab",
      "etc/default/grub",
      "etc/systemd/system/ssh.service.d/10-host-keys.conf",
      "etc/default/locale",
      "etc/cloud/cloud.cfg.d/01_plinth_image.cfg",
    ];
    const dir = join(tmp, "etc-files");
    mkdirSync(dir, { recursive: true });
    run("tar", ["-xzf", tgz, "-C", dir, ...wanted.map((n) => `./${n}`)]);
    const file = (n: string) => readFileSync(join(dir, n), "utf8");
    expect(file("etc/machine-id")).toBe("");
    expect(file("etc/shadow")).toMatch(/^root:\*:/m);
    expect(file("etc/fstab")).not.toMatch(/UUID=/);
    const grub = file("etc/default/grub");
    expect(grub).toContain('GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"');
    expect(grub).toContain("GRUB_DISABLE_OS_PROBER=true");
    expect(grub).not.toContain("GRUB_DISABLE_LINUX_UUID");
    expect(file("etc/systemd/system/ssh.service.d/10-host-keys.conf")).toContain("ssh-keygen -A");
    // The installer writes datasource_list in 90_plinth.cfg; the image itself adds none.
    expect(names.has("etc/cloud/cloud.cfg.d/90_plinth.cfg")).toBe(false);
    // The image's own cloud-init defaults: a locale that needs no generating, /etc/hosts managed.
    expect(file("etc/default/locale")).toBe("LANG=C.UTF-8\n");
    expect(file("etc/cloud/cloud.cfg.d/01_plinth_image.cfg")).toMatch(/^locale: C\.UTF-8\nmanage_etc_hosts: true\n$/m);
  });

  it("keeps numeric owners and the initramfs can activate LVM", () => {
    const v = run("tar", ["-tvzf", tgz, "--numeric-owner", "./etc/shadow"]);
    expect(v).toMatch(/ 0\/42 /);
    const initrd = join(tmp, "initrd.img");
    execFileSync("sh", ["-c", `tar -xzOf '${tgz}' './boot/initrd.img-${manifest.kernel_version}' > '${initrd}'`]);
    // mkinitramfs compresses with zstd when the image has it, gzip otherwise.
    const magic = readFileSync(initrd).subarray(0, 4).toString("hex");
    const unpack = magic.startsWith("1f8b") ? "gzip" : magic === "28b52ffd" ? "zstd" : "";
    expect(unpack, `initrd magic ${magic}`).not.toBe("");
    const inside = run("sh", ["-c", `${unpack} -dc '${initrd}' | cpio -it --quiet`]).split("\n");
    // bookworm's lvm2 activates volume groups from udev rules inside the initramfs.
    expect(inside).toContain("usr/sbin/lvm");
    expect(inside).toContain("usr/lib/udev/rules.d/69-lvm.rules");
    expect(inside).toContain("usr/lib/udev/rules.d/55-dm.rules");
  });
});

describe("GPT disk image", () => {
  it("has a bios_grub partition, an ESP and the root partition last", () => {
    expect(partitions.map((p) => p.type)).toEqual([BIOS_GRUB, ESP, LINUX]);
    expect(part(BIOS_GRUB).size).toBe(2048);
    expect(part(ESP).size).toBe(128 * 2048);
    const root = part(LINUX);
    const bytes = Number(run("stat", ["-c", "%s", disk]).trim());
    // Only the backup GPT (1 MiB) follows the root partition, so the installer can grow it.
    expect(bytes / SECTOR - (root.start + root.size)).toBeLessThanOrEqual(2048);
    // Sparse: far less allocated than its size.
    expect(manifest.files["disk.ddraw"]!.allocated).toBeLessThan(bytes);
  });

  it("has BOOTX64.EFI and debian/grubx64.efi on the ESP", () => {
    const img = `${disk}@@${part(ESP).start * SECTOR}`;
    const dir = run("mdir", ["-i", img, "-b", "::EFI/BOOT"]);
    expect(dir).toContain("BOOTX64.EFI");
    const efi = execFileSync("mcopy", ["-i", img, "::EFI/debian/grubx64.efi", "-"]);
    expect(efi.subarray(0, 2).toString()).toBe("MZ");
    expect(execFileSync("mcopy", ["-i", img, "::EFI/BOOT/BOOTX64.EFI", "-"]).equals(efi)).toBe(true);
  });

  it("mounts by UUID: fstab and grub.cfg name the filesystems' own UUIDs", () => {
    const rootOff = part(LINUX).start * SECTOR;
    const espOff = part(ESP).start * SECTOR;
    const blkid = (off: number) => run("blkid", ["-p", "-O", String(off), "-o", "export", disk]);
    expect(blkid(rootOff)).toContain(`UUID=${manifest.disk.root_uuid}`);
    expect(blkid(rootOff)).toContain("TYPE=ext4");
    expect(blkid(espOff)).toContain(`UUID=${manifest.disk.esp_uuid}`);
    const debugfs = (cmd: string) => run("debugfs", ["-R", cmd, `${disk}?offset=${rootOff}`]);
    const fstab = debugfs("cat /etc/fstab");
    expect(fstab).toMatch(new RegExp(`^UUID=${manifest.disk.root_uuid}\\s+/\\s+ext4`, "m"));
    expect(fstab).toMatch(new RegExp(`^UUID=${manifest.disk.esp_uuid}\\s+/boot/efi\\s+vfat`, "m"));
    const cfg = debugfs("cat /boot/grub/grub.cfg");
    expect(cfg).toContain(`root=UUID=${manifest.disk.root_uuid} ro console=tty0 console=ttyS0,115200n8`);
    expect(cfg).toContain(`/boot/vmlinuz-${manifest.kernel_version}`);
    expect(debugfs("ls /boot/grub/i386-pc")).toContain("normal.mod");
    expect(debugfs("ls /etc/ssh")).not.toContain("ssh_host_");
  });

  it("has GRUB's boot code in the MBR pointing at core.img in the bios_grub partition", () => {
    const head = readFileSync(disk).subarray(0, (part(BIOS_GRUB).start + 1) * SECTOR);
    expect(head.readUInt16LE(510)).toBe(0xaa55);
    // The protective MBR's one partition (type 0xee) is still there.
    expect(head[446 + 4]).toBe(0xee);
    expect(head.readBigUInt64LE(0x5c)).toBe(BigInt(part(BIOS_GRUB).start));
    const core = head.subarray(part(BIOS_GRUB).start * SECTOR);
    expect(core.readBigUInt64LE(500)).toBe(BigInt(part(BIOS_GRUB).start + 1));
  });

  async function boot(name: string, firmware: string[]): Promise<void> {
    const serial = join(tmp, `${name}.serial`);
    const qemu = spawn(
      "qemu-system-x86_64",
      [
        "-machine",
        "q35",
        "-accel",
        "tcg,thread=multi",
        "-cpu",
        "max",
        "-m",
        "1024",
        "-display",
        "none",
        "-vga",
        "none",
        "-monitor",
        "none",
        "-nic",
        "none",
        "-serial",
        `file:${serial}`,
        "-snapshot",
        "-drive",
        `file=${disk},format=raw,if=virtio`,
        ...firmware,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    children.push(qemu);
    let stderr = "";
    qemu.stderr!.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    const t0 = Date.now();
    try {
      const seen: Record<string, number> = {};
      while (Date.now() - t0 < bootTimeout) {
        await new Promise((r) => setTimeout(r, 1000));
        if (qemu.exitCode !== null) throw new Error(`QEMU exited ${qemu.exitCode}: ${stderr}`);
        const text = existsSync(serial) ? readFileSync(serial, "latin1") : "";
        if (!seen.grub && text.includes("Loading Linux")) seen.grub = Date.now();
        if (!seen.kernel && text.includes("Linux version")) seen.kernel = Date.now();
        if (!seen.systemd && /Welcome to .*Debian|systemd\[1\]/.test(text)) seen.systemd = Date.now();
        if (seen.kernel && seen.systemd) {
          timings[`${name}_grub`] = Math.round(((seen.grub ?? Number.NaN) - t0) / 1000);
          timings[`${name}_kernel`] = Math.round((seen.kernel - t0) / 1000);
          timings[`${name}_systemd`] = Math.round((seen.systemd - t0) / 1000);
          expect(text).toContain("root=UUID=");
          return;
        }
      }
      const text = existsSync(serial) ? readFileSync(serial, "latin1") : "";
      throw new Error(`${name}: no kernel and systemd on the serial console within ${bootTimeout / 1000}s; it shows:\n${text.slice(-3000)}`);
    } finally {
      kill(qemu);
    }
  }

  it(
    "boots with SeaBIOS (GRUB i386-pc from the MBR and bios_grub partition)",
    async () => {
      await boot("bios", []);
    },
    bootTimeout + 30_000,
  );
});

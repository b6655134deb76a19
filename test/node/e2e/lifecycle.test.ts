// The whole lifecycle on two real VMs at once, one BIOS and one UEFI (OVMF), each with an IPMI
// BMC (ipmi_sim driving its QEMU process), driven only by API calls (test/node/e2e/lab.ts):
// power on unknown VMs → NEW with inventory; commission over IPMI → READY, powered off;
// allocate with constraints and deploy Debian bookworm (built from Debian's packages by
// `npm run images -- os debian/bookworm`) while the WAN is cut: the BIOS VM from the root
// tarball onto the storage its operator designed over four disks (root on RAID 1, swap, a
// RAID 0 under LVM with two volumes), the UEFI VM from the GPT disk image; each boots its own
// disk under stock cloud-init, which reads the rack's MAAS metadata API and reports through its
// webhook; DEPLOYED when the tunnel is back; the owner logs in over SSH and checks hostname,
// user_data, cloud-init, the storage and the network; the BIOS VM loses its first disk and
// still boots from the other RAID 1 member. Release with quick erase → READY; deploy again,
// the tarball with the bcache layout on UEFI (a small second disk caching the root) and testdisk
// as a custom raw image on BIOS; rescue mode and back → DEPLOYED, booted from its disk.
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Region, region, stopRegion, api, until } from "../tunnel/rig";
import { buildImages, readBytes } from "../images/rig";
import { buildOsImage, imagesDir, type Lab, type LabVm, startLab } from "./lab";

const MiB = 1 << 20;
const GiB = 1 << 30;
/** Two VMs under TCG on two cores: a Debian boot takes minutes; each step waits for one or two. */
const STEP_MS = 1_200_000;
const SLOW = { tries: 4800, every: 250 } as const;
/** cloud-init's last stage prints the user_data's final_message on the console (userData below). */
const CLOUD_INIT_DONE = /plinth e2e (bios|uefi): cloud-init \S+ finished/;
const BIN = join(import.meta.dirname, "../../../cli/bin/plinth.mjs");

let r: Region;
let lab: Lab;
let bios: LabVm;
let uefi: LabVm;
let identity = "";
const ids = new Map<LabVm, string>();

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** The operator's tool: `plinth images upload` with the admin's key. */
function upload(file: string, os: string, series: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, "images", "upload", file, "--os", os, "--series", series, "--json"],
      {
        env: { ...process.env, PLINTH_URL: r.url, PLINTH_API_KEY: r.admin, PLINTH_CONFIG_DIR: mkdtempSync(join(tmpdir(), "plinth-e2e-cli-")) },
        timeout: 900_000,
      },
      (err, _out, stderr) => (err ? reject(new Error(`plinth images upload ${file}: ${stderr || String(err)}`)) : resolve()),
    );
  });
}

const userData = (vm: LabVm) =>
  Buffer.from(
    [
      "#cloud-config",
      "runcmd:",
      `  - [sh, -c, 'echo "runcmd ran on $(hostname)" > /var/lib/plinth-e2e-marker']`,
      `final_message: "plinth e2e ${vm.name}: cloud-init $version finished at $timestamp"`,
      "",
    ].join("\n"),
  ).toString("base64");

beforeAll(async () => {
  // Built (or found current) before the region starts: minutes of building would leave the
  // test's idle keep-alive connection to the region stale (EPIPE on the next call).
  buildImages();
  const os = buildOsImage("debian/bookworm");
  r = await region();
  lab = await startLab({
    region: r,
    keep: process.env.PLINTH_KEEP_RIG === "1",
    vms: [
      {
        name: "bios",
        firmware: "bios",
        mac: "52:54:00:1a:b0:01",
        mac2: "52:54:00:1a:b1:01",
        cpus: 2,
        memMiB: 512,
        diskBytes: 4 * GiB,
        extraDisks: [4 * GiB, 1 * GiB, 1 * GiB],
      },
      { name: "uefi", firmware: "uefi", mac: "52:54:00:1a:b0:02", cpus: 1, memMiB: 640, diskBytes: 4 * GiB, extraDisks: [512 * MiB] },
    ],
  });
  [bios, uefi] = lab.vms as [LabVm, LabVm];
  // The images go to the region's store now; the rack pre-syncs them into its cache.
  await upload(join(os, "root.tgz"), "debian", "bookworm");
  await upload(join(os, "disk.ddzst"), "custom", "debian-bookworm-gpt");
  await upload(join(imagesDir, "testdisk.raw.zst"), "custom", "testdisk");
  // The owner's SSH key: the deployed systems' default user gets it from meta-data.
  const dir = mkdtempSync(join(tmpdir(), "plinth-e2e-ssh-"));
  identity = join(dir, "id_ed25519");
  const kg = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "owner@lab", "-f", identity], { encoding: "utf8" });
  if (kg.status !== 0) throw new Error(`ssh-keygen: ${kg.stderr} (apt-get install openssh-client)`);
  const me = (await api(r, "GET", "/me")).json.username as string;
  const k = await api(r, "POST", `/users/${me}/ssh-keys`, { key: readFileSync(`${identity}.pub`, "utf8") });
  expect(k.status, JSON.stringify(k.json)).toBe(201);
}, 3_600_000);

afterAll(async () => {
  await lab?.stop();
  if (r) await stopRegion(r.child);
});

/** The address the region gave one of the machine's links on `net` (a /24 prefix such as 10.1.2). */
async function linkAddress(vm: LabVm, net: string): Promise<string> {
  const m = (await api(r, "GET", `/machines/${ids.get(vm)}`)).json as { interfaces: { links?: { ip: string | null }[] }[] };
  const ip = m.interfaces.flatMap((i) => i.links ?? []).find((l) => l.ip?.startsWith(`${net}.`))?.ip;
  if (!ip) throw new Error(`${vm.name} has no address on ${net}.0/24: ${JSON.stringify(m.interfaces)}`);
  return ip;
}

/**
 * An SSH session into the deployed VM from the site network, as the owner; each call one
 * command. To the AUTO address the region allocated on the site subnet unless told another:
 * the deployed system configures it from the rendered network configuration.
 */
async function login(vm: LabVm, address?: string): Promise<(cmd: string) => string> {
  const addr = address ?? (await linkAddress(vm, lab.net));
  await until(`${vm.name} to accept SSH`, async () => lab.ssh(addr, identity, "true").code === 0, 120, 1000).catch((e: unknown) => {
    throw new Error(`${String(e)}: ${lab.ssh(addr, identity, "true").out}\n${vm.console().slice(-3000)}`);
  });
  return (cmd: string) => {
    const x = lab.ssh(addr, identity, cmd);
    if (x.code !== 0) throw new Error(`ssh ${vm.name} ${cmd}: exit ${x.code}: ${x.out}`);
    return x.out;
  };
}

interface Blk {
  name: string;
  size: string | number;
  fstype?: string | null;
  mountpoint?: string | null;
}

/** lsblk's tree flattened, disks and their partitions in order (the vda disk only). */
function lsblk(sh: (cmd: string) => string): Blk[] {
  const out = JSON.parse(sh("lsblk -J -b -o NAME,SIZE,FSTYPE,MOUNTPOINT /dev/vda")) as { blockdevices: (Blk & { children?: Blk[] })[] };
  return out.blockdevices.flatMap((d) => [d, ...(d.children ?? [])]).map(({ name, size, fstype, mountpoint }) => ({ name, size, fstype, mountpoint }));
}

const machine = async (vm: LabVm) => (await api(r, "GET", `/machines/${ids.get(vm)}`)).json;
const waitStatus = (vm: LabVm, name: string) =>
  until(
    `${vm.name} ${name}`,
    async () => {
      const m = await machine(vm);
      if (/^Failed/.test(m.status_name)) throw new Error(`${vm.name} is ${m.status_name}: ${m.status_message}\n${vm.console().slice(-3000)}`);
      return m.status_name === name ? m : null;
    },
    SLOW.tries,
    SLOW.every,
  ).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}\n${vm.name}'s console:\n${vm.console().slice(-3000)}`);
  });
/**
 * The network the operator designs for the BIOS VM before deploying it: bond0 (active-backup,
 * miimon 100) over its two NICs; VLAN 100 on the bond with an AUTO address; br0 on the bond with
 * the site subnet's AUTO address and the default route, as a KVM host has it. The site subnet
 * goes onto fabric-0's untagged VLAN first: a VLAN interface finds its fabric through its parent.
 */
async function designBondedNetwork(vm: LabVm): Promise<{ nics: [string, string]; vlanIface: string }> {
  const id = ids.get(vm)!;
  const ok = async (method: string, path: string, body?: unknown, status = 200) => {
    const x = await api(r, method, path, body);
    expect(x.status, `${method} ${path}: ${JSON.stringify(x.json)}`).toBe(status);
    return x.json;
  };
  const vlans = (await ok("GET", "/vlans")).items as { id: number; vid: number; fabric: string }[];
  const untagged = vlans.find((v) => v.fabric === "fabric-0" && v.vid === 0) ?? (await ok("POST", "/vlans", { vid: 0 }, 201));
  const tagged = await ok("POST", "/vlans", { vid: lab.vlan.vid, name: "storage" }, 201);
  const site = ((await ok("GET", "/subnets")).items as { id: number; cidr: string }[]).find((x) => x.cidr === `${lab.net}.0/24`)!;
  await ok("PATCH", `/subnets/${site.id}`, { vlan_id: untagged.id });
  // The namespace's br0.100 is the VLAN's router: the allocator keeps .1 for it.
  const vsub = await ok("POST", "/subnets", { cidr: `${lab.vlan.net}.0/24`, vlan_id: tagged.id, gateway_ip: `${lab.vlan.net}.1`, managed: false }, 201);
  const ifaces = (await ok("GET", `/machines/${id}/interfaces`)).items as { name: string; mac: string; type: string }[];
  // Commissioning found the second NIC.
  const nic = (mac: string) => ifaces.find((i) => i.mac === mac && i.type === "physical")?.name ?? "";
  const nics: [string, string] = [nic(vm.mac), nic(vm.mac2!)];
  expect(nics.every(Boolean), JSON.stringify(ifaces)).toBe(true);
  for (const n of nics) await ok("PATCH", `/machines/${id}/interfaces/${n}`, { vlan_id: untagged.id });
  // The boot NIC's AUTO link from enlistment moves to the bridge: a bond member takes none.
  for (const l of (await ok("GET", `/machines/${id}/interfaces/${nics[0]}/links`)).items as { id: number }[])
    await ok("DELETE", `/machines/${id}/interfaces/${nics[0]}/links/${l.id}`, undefined, 204);
  await ok("POST", `/machines/${id}/interfaces`, { type: "bond", name: "bond0", parents: nics, params: { bond_mode: "active-backup", bond_miimon: 100 } }, 201);
  const vlanIface = (await ok("POST", `/machines/${id}/interfaces`, { type: "vlan", parent: "bond0", vlan_id: tagged.id }, 201)).name as string;
  await ok("POST", `/machines/${id}/interfaces`, { type: "bridge", name: "br0", parent: "bond0", params: { bridge_stp: false, bridge_fd: 0 } }, 201);
  await ok("POST", `/machines/${id}/interfaces/br0/links`, { mode: "auto", subnet_id: site.id, default_gateway: true }, 201);
  await ok("POST", `/machines/${id}/interfaces/${vlanIface}/links`, { mode: "auto", subnet_id: vsub.id }, 201);
  return { nics, vlanIface };
}

/** Every disk's bytes, as the region sums them (MB). */
const storageMB = (vm: LabVm) => [vm.diskBytes, ...(vm.extraDisks ?? [])].reduce((a, b) => a + b, 0) / 1_000_000;

type Storage = {
  block_devices: { id: number; name: string; serial: string; type: string; partitions: { id: number; path: string }[] }[];
  raids: { id: number; name: string }[];
  volume_groups: { id: number; name: string }[];
  problems: string[];
};

/** The machine's physical disks by serial: the first is PLX-<NAME>, then PLX-<NAME>-1, ... */
async function disksOf(vm: LabVm): Promise<number[]> {
  const st = (await api(r, "GET", `/machines/${ids.get(vm)}/storage`)).json as Storage;
  const serials = [`PLX-${vm.name.toUpperCase()}`, ...(vm.extraDisks ?? []).map((_, i) => `PLX-${vm.name.toUpperCase()}-${i + 1}`)];
  return serials.map((s) => {
    const d = st.block_devices.find((b) => b.type === "physical" && b.serial === s);
    if (!d) throw new Error(`${vm.name} has no disk ${s}: ${JSON.stringify(st.block_devices)}`);
    return d.id;
  });
}

/**
 * The storage the operator designs for the BIOS VM, piece by piece through the API, as the
 * issue's database server has it: / on a RAID 1 of a 3 GiB partition on each of the first two
 * disks (GRUB on both), swap on the second, and a RAID 0 of the two small disks under the volume
 * group vgdata with an xfs volume at /var/lib/data and an ext4 one at /srv filling the rest.
 */
async function designRaidStorage(vm: LabVm): Promise<void> {
  const id = ids.get(vm)!;
  const ok = async (method: string, path: string, body?: unknown, status = 200) => {
    const x = await api(r, method, `/machines/${id}/storage${path}`, body);
    expect(x.status, `${method} ${path}: ${JSON.stringify(x.json)}`).toBe(status);
    return x.json;
  };
  const [vda, vdb, vdc, vdd] = (await disksOf(vm)) as [number, number, number, number];
  await ok("POST", "/layout", { layout: "blank" });
  const a = (await ok("POST", "/partitions", { device: vda, size: 3 * GiB }, 201)).id as number;
  const b = (await ok("POST", "/partitions", { device: vdb, size: 3 * GiB }, 201)).id as number;
  const swap = (await ok("POST", "/partitions", { device: vdb, size: 512 * MiB }, 201)).id as number;
  const md0 = (await ok("POST", "/raids", { name: "md0", level: 1, devices: [a, b] }, 201)).id as number;
  await ok("POST", `/devices/${md0}/format`, { fstype: "ext4", label: "root" });
  await ok("POST", `/devices/${md0}/mount`, { mount_point: "/" });
  await ok("POST", `/devices/${swap}/format`, { fstype: "swap" });
  await ok("POST", `/devices/${swap}/mount`, { mount_point: "none" });
  const md1 = (await ok("POST", "/raids", { name: "md1", level: 0, devices: [vdc, vdd] }, 201)).id as number;
  const vg = (await ok("POST", "/volume-groups", { name: "vgdata", devices: [md1] }, 201)).id as number;
  const data = (await ok("POST", `/volume-groups/${vg}/logical-volumes`, { name: "data", size: 1 * GiB }, 201)).id as number;
  const srv = (await ok("POST", `/volume-groups/${vg}/logical-volumes`, { name: "srv" }, 201)).id as number;
  await ok("POST", `/devices/${data}/format`, { fstype: "xfs" });
  await ok("POST", `/devices/${data}/mount`, { mount_point: "/var/lib/data" });
  await ok("POST", `/devices/${srv}/format`, { fstype: "ext4" });
  const st = (await ok("POST", `/devices/${srv}/mount`, { mount_point: "/srv", mount_options: "noatime" })) as Storage;
  expect(st.problems).toEqual([]);
}

/** The deployed BIOS VM's storage is the design: checked from inside over SSH. */
function checkRaidStorage(sh: (cmd: string) => string): void {
  const mdstat = sh("cat /proc/mdstat");
  expect(mdstat).toMatch(/^md\S* : active raid1 vd[ab]2\[\d\] vd[ab]2\[\d\]/m);
  expect(mdstat).toMatch(/^md\S* : active raid0 vd[cd]\[\d\] vd[cd]\[\d\]/m);
  const src = (mnt: string) => sh(`findmnt -no SOURCE,FSTYPE,OPTIONS ${mnt}`).trim().split(/\s+/);
  const [root, rootFs] = src("/");
  expect(sh(`readlink -f ${root}`).trim()).toBe(sh("readlink -f /dev/md/md0").trim());
  expect(rootFs).toBe("ext4");
  expect(src("/var/lib/data").slice(0, 2)).toEqual(["/dev/mapper/vgdata-data", "xfs"]);
  const [srvDev, srvFs, srvOpts] = src("/srv");
  expect([srvDev, srvFs]).toEqual(["/dev/mapper/vgdata-srv", "ext4"]);
  expect(srvOpts).toContain("noatime");
  expect(sh("cat /proc/swaps")).toMatch(/^\/dev\/vdb3\s+partition\s/m);
  const lv = JSON.parse(sh("lsblk -J -b -o NAME,SIZE,TYPE /dev/mapper/vgdata-data")) as { blockdevices: { size: number | string }[] };
  expect(Number(lv.blockdevices[0]!.size)).toBe(1 * GiB);
  // GRUB's core image on both members: either disk boots the machine.
  for (const d of ["vda", "vdb"]) expect(sh(`sudo -n dd if=/dev/${d} bs=512 count=1 2>/dev/null | grep -c GRUB || true`).trim()).toBe("1");
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

const poweredOff = (vm: LabVm) => until(`${vm.name} to power itself off`, async () => !vm.running(), SLOW.tries, SLOW.every);

/**
 * The deployed BIOS VM runs the designed network: the bond over both NICs, the VLAN and the
 * bridge with their addresses and the default route; then one bonded NIC's cable is pulled from
 * the host side and an SSH session to the VLAN address, open across it, keeps working.
 */
async function checkBondedNetwork(sh: (cmd: string) => string, design: { nics: [string, string]; vlanIface: string }, vlanAddr: string) {
  const [first, second] = design.nics;
  const siteAddr = await linkAddress(bios, lab.net);
  expect(sh("ip -d link show bond0")).toMatch(/bond mode active-backup .*miimon 100/);
  expect(sh(`ip -d link show ${design.vlanIface}`)).toMatch(new RegExp(`vlan protocol 802.1Q id ${lab.vlan.vid}\\b`));
  // STP off as designed. The forward delay of 0 does not get through: Debian's cloud-init 22.4
  // leaves a zero bridge_fd out of the ENI and bridge-utils sets 15 s, which only STP uses.
  expect(sh("ip -d link show br0")).toMatch(/bridge forward_delay \d+ .*stp_state 0 /);
  expect(sh("ls /sys/class/net/br0/brif").trim()).toBe("bond0");
  expect(sh("cat /sys/class/net/bond0/bonding/slaves").trim().split(/\s+/).sort()).toEqual([first, second].sort());
  expect(sh("ip -4 -o addr show br0")).toContain(` ${siteAddr}/24 `);
  expect(sh(`ip -4 -o addr show ${design.vlanIface}`)).toContain(` ${vlanAddr}/24 `);
  expect(sh("ip route show default").trim()).toMatch(new RegExp(`^default via ${lab.net.replaceAll(".", "\\.")}\\.1 dev br0\\b`));
  expect(sh("cat /sys/class/net/bond0/bonding/active_slave").trim()).toBe(first);
  const session = lab.sshSession(vlanAddr, identity, "for i in $(seq 1 40); do echo tick $i $(cat /sys/class/net/bond0/bonding/active_slave); sleep 1; done");
  await sleep(10_000);
  await bios.setLink("n0", false);
  const s = await session;
  expect(s.code, s.out).toBe(0);
  const ticks = s.out
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("tick "));
  expect(ticks, s.out).toHaveLength(40);
  expect(ticks.at(-1)).toBe(`tick 40 ${second}`);
  expect(sh("cat /proc/net/bonding/bond0")).toMatch(new RegExp(`Slave Interface: ${first}\\nMII Status: down`));
  // The cable goes back for the rest of the lifecycle: the BIOS VM PXE boots its first NIC.
  await bios.setLink("n0", true);
}

/**
 * The first disk dies: once the RAID 1 is in sync, the BIOS VM is powered off, QEMU loses vda,
 * and the machine boots from the other member's GRUB, its root degraded but mounted; then the
 * disk goes back in for the release, which erases all four.
 */
async function bootWithoutFirstDisk(sh: (cmd: string) => string): Promise<void> {
  // Until the resync is done the second member holds nothing to boot from.
  await until("md0 in sync", async () => /\[UU\]/.test(sh("cat /proc/mdstat")) && !/resync|recovery/.test(sh("cat /proc/mdstat")), 600, 1000);
  lab.ipmitool(bios, ["chassis", "power", "off"]);
  await poweredOff(bios);
  bios.pullFirstDisk(true);
  const boots = (bios.console().match(/Plinth: booting from local disk/g) ?? []).length;
  lab.ipmitool(bios, ["chassis", "power", "on"]);
  await until(
    "the BIOS VM to boot its disk without vda",
    async () => (bios.console().match(/Plinth: booting from local disk/g) ?? []).length > boots,
    SLOW.tries,
    SLOW.every,
  );
  const vlanAddr = await linkAddress(bios, lab.vlan.net);
  const degraded = await login(bios, vlanAddr);
  const mdstat = degraded("cat /proc/mdstat");
  expect(mdstat).toMatch(/^md\S* : active raid1 vda2\[\d\]/m);
  expect(mdstat).toMatch(/\[2\/1\] \[(_U|U_)\]/);
  expect(degraded("findmnt -no FSTYPE /").trim()).toBe("ext4");
  expect(degraded("findmnt -no FSTYPE /srv").trim()).toBe("ext4");
  // Back in for the release: QEMU finds it at its next start.
  bios.pullFirstDisk(false);
}

/**
 * Rescue mode and back: the rescue environment reports in (Rescue mode); exiting boots the disk
 * (Deployed), the BMC told next boot PXE and then next boot disk.
 */
async function rescueRoundTrip(): Promise<void> {
  const rescue = await api(r, "POST", `/machines/${ids.get(bios)}/rescue_mode`, {});
  expect(rescue.status, JSON.stringify(rescue.json)).toBe(200);
  expect(rescue.json.status_name).toBe("Entering rescue mode");
  await waitStatus(bios, "Rescue mode");
  expect(bios.console()).toMatch(/mode rescue/);
  const localBoots = (bios.console().match(/Plinth: booting from local disk/g) ?? []).length;
  const exit = await api(r, "POST", `/machines/${ids.get(bios)}/exit_rescue_mode`, {});
  expect(exit.status, JSON.stringify(exit.json)).toBe(200);
  await waitStatus(bios, "Deployed");
  // The BMC was told next boot disk (ipmi_sim's chassis control calls anything but forced PXE
  // "default") after the PXE of entering rescue, then to cycle; the rack's "local" answer
  // sanboots the disk.
  const boots = bios.bmcCalls().filter((l) => /set boot /.test(l));
  expect(boots.at(-1)).toMatch(/set boot default/);
  expect(boots.at(-2)).toMatch(/set boot pxe/);
  await until(
    "the BIOS VM to boot its disk again",
    async () => (bios.console().match(/Plinth: booting from local disk/g) ?? []).length > localBoots,
    SLOW.tries,
    SLOW.every,
  );
  const back = await api(r, "GET", `/events?machine=${ids.get(bios)}&type=machine.rescue_exited`);
  expect(back.json.items).toHaveLength(1);
}

describe("two VMs, BIOS and UEFI, through the whole lifecycle over IPMI", () => {
  it(
    "powered on as unknown machines, they PXE boot, enlist as NEW with their inventory, and power off",
    async () => {
      for (const vm of lab.vms) lab.ipmitool(vm, ["chassis", "power", "on"]);
      for (const vm of lab.vms) {
        const m = await until(
          `${vm.name} enlisted with its inventory`,
          async () => {
            const list = await api(r, "GET", `/machines?mac=${vm.mac}`);
            const sys = list.json.items?.[0]?.system_id;
            const x = sys ? (await api(r, "GET", `/machines/${sys}`)).json : null;
            return x && x.cpu_count > 0 && x.memory > 0 && x.storage > 0 ? x : null;
          },
          SLOW.tries,
          SLOW.every,
        );
        ids.set(vm, m.system_id);
        expect(m).toMatchObject({ status_name: "New", cpu_count: vm.cpus, memory: vm.memMiB, storage: storageMB(vm), firmware: vm.firmware });
      }
      for (const vm of lab.vms) await poweredOff(vm);
    },
    STEP_MS,
  );

  it(
    "commissions through the API: the region powers them on over IPMI with next boot PXE; READY and off",
    async () => {
      for (const vm of lab.vms) {
        const p = await api(r, "PATCH", `/machines/${ids.get(vm)}`, vm.power);
        expect(p.status, JSON.stringify(p.json)).toBe(200);
        expect(JSON.stringify(p.json)).not.toContain("lab-password");
        const c = await api(r, "POST", `/machines/${ids.get(vm)}/commission`, {});
        expect(c.status, JSON.stringify(c.json)).toBe(200);
      }
      for (const vm of lab.vms) {
        const m = await waitStatus(vm, "Ready");
        expect(m).toMatchObject({ cpu_count: vm.cpus, memory: vm.memMiB, storage: storageMB(vm) });
        // The BMC was told: boot from the network once, then power on.
        expect(vm.bmcCalls().some((l) => /set boot pxe/.test(l))).toBe(true);
        expect(vm.bmcCalls()).toContain("0x20 set power 1");
        await poweredOff(vm);
      }
      const ev = await api(r, "GET", `/events?machine=${ids.get(bios)}&type=machine.commissioning_done`);
      expect(ev.json.items).toHaveLength(1);
    },
    STEP_MS,
  );

  it(
    "deploys Debian to both while the WAN is cut: BIOS from the root tarball onto RAID 1, RAID 0 and LVM over four disks, UEFI from the GPT disk image; stock cloud-init reports to the rack, DEPLOYED when the tunnel is back, the owner logs in over SSH",
    async () => {
      const small = await api(r, "POST", "/machines/allocate", { cpu_count: 2, mem: 512 });
      expect(small.status, JSON.stringify(small.json)).toBe(200);
      expect(small.json.system_id).toBe(ids.get(bios));
      const big = await api(r, "POST", "/machines/allocate", { mem: 600, arch: "amd64" });
      expect(big.json.system_id).toBe(ids.get(uefi));
      await designRaidStorage(bios);
      const design = await designBondedNetwork(bios);
      const deploy = async (vm: LabVm, osystem: string, series: string) => {
        const d = await api(r, "POST", `/machines/${ids.get(vm)}/deploy`, { osystem, distro_series: series, user_data: userData(vm) });
        expect(d.status, JSON.stringify(d.json)).toBe(200);
        expect(d.json.status_name).toBe("Deploying");
      };
      await deploy(bios, "debian", "bookworm");
      await deploy(uefi, "custom", "debian-bookworm-gpt");
      // The power on reached both BMCs; now the site loses the region.
      for (const vm of lab.vms) await until(`${vm.name} powered on for deployment`, async () => vm.running(), SLOW.tries, SLOW.every);
      await lab.cutTunnel();
      await until("the region to see the rack gone", async () => !(await api(r, "GET", `/racks/${lab.rackId}`)).json.connected, 240, 250);
      for (const vm of lab.vms) {
        // Stock cloud-init read the MAAS metadata API on the rack and ran to its last stage.
        await until(`${vm.name}'s deployed Debian to finish cloud-init`, async () => CLOUD_INIT_DONE.test(vm.console()), SLOW.tries, SLOW.every).catch(
          (e: unknown) => {
            throw new Error(`${String(e)}\n${vm.name}'s console:\n${vm.console().slice(-4000)}`);
          },
        );
        // Nothing reached the region: it still sees a deployment in progress.
        expect((await machine(vm)).status_name).toBe("Deploying");
      }
      await lab.restoreTunnel();
      for (const vm of lab.vms) await waitStatus(vm, "Deployed");
      for (const vm of lab.vms) {
        const m = await machine(vm);
        const con = vm.console();
        // BIOS: PXE first, the rack says "local" and iPXE sanboots the disk. UEFI: the BMC's
        // next-boot-PXE was spent on the deploy environment; the reset boots OVMF's disk entry.
        if (vm.firmware === "bios") expect(con).toContain("Plinth: booting from local disk");
        else expect(con).toMatch(/BdsDxe: starting Boot\d+ "UEFI Misc Device"/);
        // BIOS: over the VLAN on the bond, to the address the region allocated there.
        const vlanAddr = vm === bios ? await linkAddress(vm, lab.vlan.net) : undefined;
        const sh = await login(vm, vlanAddr);
        expect(sh("hostname").trim()).toBe(m.hostname);
        expect(sh("cat /var/lib/plinth-e2e-marker").trim()).toBe(`runcmd ran on ${m.hostname}`);
        // cloud-init ran every stage without an error (the command exits non-zero on one).
        const status = sh("cloud-init status --long");
        expect(status).toMatch(/^status: done$/m);
        expect(status).toContain("DataSourceMAAS");
        expect(sh("sudo -n hostname").trim()).toBe(m.hostname);
        expect(sh("cat /etc/os-release")).toContain("VERSION_CODENAME=bookworm");
        const blk = lsblk(sh);
        if (vm === bios) {
          checkRaidStorage(sh);
        } else {
          // The GPT image: ESP mounted, its root partition grown to the disk's end.
          expect(blk.find((b) => b.mountpoint === "/boot/efi")?.fstype).toBe("vfat");
          const root = blk.find((b) => b.mountpoint === "/")!;
          expect(root.fstype).toBe("ext4");
          expect(Number(root.size)).toBeGreaterThan(vm.diskBytes - 300 * MiB);
        }
        if (vm === bios) await checkBondedNetwork(sh, design, vlanAddr!);
        const ev = await api(r, "GET", `/events?machine=${ids.get(vm)}&limit=500`);
        const types = (ev.json.items as { type: string; description: string }[]).map((e) => `${e.type} ${e.description}`);
        expect(types.some((t) => /modules-final/.test(t))).toBe(true);
        expect((ev.json.items as { type: string }[]).filter((e) => e.type === "machine.deployed")).toHaveLength(1);
      }
    },
    2 * STEP_MS,
  );

  it(
    "the BIOS VM boots without its first disk while the UEFI VM releases; both release with quick erase: power cycled into the release environment, disks wiped, READY",
    async () => {
      const release = async (vm: LabVm) => {
        const rel = await api(r, "POST", `/machines/${ids.get(vm)}/release`, { erase: true, quick_erase: true });
        expect(rel.status, JSON.stringify(rel.json)).toBe(200);
        expect(rel.json.status_name).toBe("Disk erasing");
      };
      // Two VMs on two cores: the UEFI VM's release environment boots while the BIOS VM boots degraded.
      await release(uefi);
      await bootWithoutFirstDisk(await login(bios, await linkAddress(bios, lab.vlan.net)));
      await release(bios);
      for (const vm of lab.vms) {
        await waitStatus(vm, "Ready");
        await poweredOff(vm);
        expect(readBytes(vm.disk, 0, MiB).every((b) => b === 0)).toBe(true);
      }
    },
    STEP_MS,
  );

  it(
    "deploys again: UEFI from the root tarball with the bcache layout (the small disk caching the root), BIOS with testdisk as a custom raw image, which then goes into rescue mode and back (Rescue mode, then Deployed from its disk) while the UEFI VM installs",
    async () => {
      const [, cacheDisk] = await disksOf(uefi);
      const layout = await api(r, "POST", `/machines/${ids.get(uefi)}/storage/layout`, { layout: "bcache", cache_device: cacheDisk, cache_mode: "writeback" });
      expect(layout.status, JSON.stringify(layout.json)).toBe(200);
      for (const vm of lab.vms) expect((await api(r, "POST", `/machines/${ids.get(vm)}/allocate`, {})).status).toBe(200);
      const a = await api(r, "POST", `/machines/${ids.get(uefi)}/deploy`, { osystem: "debian", distro_series: "bookworm", user_data: userData(uefi) });
      expect(a.status, JSON.stringify(a.json)).toBe(200);
      const b = await api(r, "POST", `/machines/${ids.get(bios)}/deploy`, { osystem: "custom", distro_series: "testdisk" });
      expect(b.status, JSON.stringify(b.json)).toBe(200);
      // testdisk is written in seconds; the BIOS VM's rescue round trip fills the minutes the UEFI VM installs Debian.
      const biosSide = (async () => {
        await waitStatus(bios, "Deployed");
        // testdisk, byte for byte, except the MBR slot the cloud-init seed partition took.
        const raw = readFileSync(join(imagesDir, "testdisk.raw"));
        const disk = readBytes(bios.disk, 0, raw.length);
        expect(sha(disk.subarray(0, 462))).toBe(sha(raw.subarray(0, 462)));
        expect(sha(disk.subarray(478))).toBe(sha(raw.subarray(478)));
        const results = (await api(r, "GET", `/machines/${ids.get(bios)}/results`)).json.items as { name: string }[];
        expect(results.filter((x) => x.name === "phone_home")).toHaveLength(1);
        expect((await api(r, "GET", `/events?machine=${ids.get(bios)}&type=machine.deployed`)).json.items).toHaveLength(2);
        await rescueRoundTrip();
      })();
      // Awaited below; this keeps an early rejection from being reported as unhandled meanwhile.
      biosSide.catch(() => {});
      await waitStatus(uefi, "Deployed");
      const sh = await login(uefi);
      const root = sh("findmnt -no SOURCE /").trim();
      expect(root).toMatch(/^\/dev\/bcache\d+$/);
      const bc = root.replace("/dev/", "");
      expect(sh(`cat /sys/block/${bc}/bcache/cache_mode`)).toContain("[writeback]");
      expect(sh(`cat /sys/block/${bc}/bcache/state`).trim()).toMatch(/^(clean|dirty)$/);
      // The backing device is vda's third partition; the cache set is on vdb.
      expect(sh(`ls /sys/block/vda/vda3/bcache/dev -l`)).toContain(bc);
      expect(sh("ls /sys/block/vdb/vdb1/bcache/set -d")).toContain("set");
      expect(sh("findmnt -no FSTYPE /boot").trim()).toBe("ext4");
      // UEFI from a tarball: an ESP, GRUB's removable path as well as its own.
      expect(lsblk(sh).find((x) => x.mountpoint === "/boot/efi")?.fstype).toBe("vfat");
      // The ESP is mounted umask=0077, as Debian's installer does: root reads it.
      expect(sh("sudo -n ls /boot/efi/EFI/BOOT/")).toMatch(/BOOTX64\.EFI/i);
      expect(sh("cat /var/lib/plinth-e2e-marker").trim()).toMatch(/^runcmd ran on /);
      const detail = (await api(r, "GET", `/machines/${ids.get(uefi)}`)).json.storage_detail;
      expect(detail).toMatchObject({ layout: "bcache" });
      expect(JSON.stringify(detail.deployed)).toContain("bcache");
      expect((await api(r, "GET", `/events?machine=${ids.get(uefi)}&type=machine.deployed`)).json.items).toHaveLength(2);
      await biosSide;
    },
    2 * STEP_MS,
  );
});

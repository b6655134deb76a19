// The whole lifecycle on two real VMs at once, one BIOS and one UEFI (OVMF), each with an IPMI
// BMC (ipmi_sim driving its QEMU process), driven only by API calls (test/node/e2e/lab.ts):
// power on unknown VMs → NEW with inventory; commission over IPMI → READY, powered off;
// allocate with constraints and deploy with user_data while the WAN is cut → the disks are
// written, boot, phone home, and everything arrives when the tunnel is back → DEPLOYED;
// release with quick erase → READY; deploy again → DEPLOYED; rescue mode and back → DEPLOYED,
// booted from its disk.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Region, region, stopRegion, api, until } from "../tunnel/rig";
import { imagesDir, type Lab, type LabVm, startLab } from "./lab";

const MiB = 1 << 20;
/** Two VMs under TCG on two cores: a boot takes 30-90 s; each step waits for one or two. */
const STEP_MS = 900_000;
const SLOW = { tries: 2400, every: 250 } as const;

let r: Region;
let lab: Lab;
let bios: LabVm;
let uefi: LabVm;
const ids = new Map<LabVm, string>();

beforeAll(async () => {
  r = await region();
  lab = await startLab({
    region: r,
    keep: process.env.PLINTH_KEEP_RIG === "1",
    vms: [
      { name: "bios", firmware: "bios", mac: "52:54:00:1a:b0:01", cpus: 2, memMiB: 512, diskBytes: 64 * MiB },
      { name: "uefi", firmware: "uefi", mac: "52:54:00:1a:b0:02", cpus: 1, memMiB: 640, diskBytes: 96 * MiB },
    ],
  });
  [bios, uefi] = lab.vms as [LabVm, LabVm];
  // The test image goes to the region's store now; the rack pre-syncs it into its cache.
  const bytes = readFileSync(join(imagesDir, "testdisk.raw.zst"));
  const img = await api(r, "POST", "/boot-images", { osystem: "custom", series: "testdisk", format: "raw.zst" });
  expect(img.status, JSON.stringify(img.json)).toBe(201);
  const put = await fetch(`${r.url}/api/v1/boot-images/${img.json.id}/content`, {
    method: "PUT",
    headers: {
      authorization: `Bearer ${r.admin}`,
      "x-content-sha256": createHash("sha256").update(bytes).digest("hex"),
      "content-type": "application/octet-stream",
    },
    body: bytes,
  });
  expect(put.status, await put.clone().text()).toBe(200);
}, 900_000);

afterAll(async () => {
  await lab?.stop();
  if (r) await stopRegion(r.child);
});

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
const poweredOff = (vm: LabVm) => until(`${vm.name} to power itself off`, async () => !vm.running(), SLOW.tries, SLOW.every);

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
        expect(m).toMatchObject({ status_name: "New", cpu_count: vm.cpus, memory: vm.memMiB, storage: vm.diskBytes / 1_000_000, firmware: vm.firmware });
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
        expect(m).toMatchObject({ cpu_count: vm.cpus, memory: vm.memMiB, storage: vm.diskBytes / 1_000_000 });
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
    "deploys both while the WAN is cut: disks written and booted, phone-homes journaled, DEPLOYED when the tunnel is back",
    async () => {
      const small = await api(r, "POST", "/machines/allocate", { cpu_count: 2, mem: 512 });
      expect(small.status, JSON.stringify(small.json)).toBe(200);
      expect(small.json.system_id).toBe(ids.get(bios));
      const big = await api(r, "POST", "/machines/allocate", { mem: 600, arch: "amd64" });
      expect(big.json.system_id).toBe(ids.get(uefi));
      const userData = Buffer.from("#cloud-config\nfinal_message: plinth lab\n").toString("base64");
      for (const vm of lab.vms) {
        const d = await api(r, "POST", `/machines/${ids.get(vm)}/deploy`, { osystem: "custom", distro_series: "testdisk", user_data: userData });
        expect(d.status, JSON.stringify(d.json)).toBe(200);
        expect(d.json.status_name).toBe("Deploying");
      }
      // The power on reached both BMCs; now the site loses the region.
      for (const vm of lab.vms) await until(`${vm.name} powered on for deployment`, async () => vm.running(), SLOW.tries, SLOW.every);
      await lab.cutTunnel();
      await until("the region to see the rack gone", async () => !(await api(r, "GET", `/racks/${lab.rackId}`)).json.connected, 240, 250);
      for (const vm of lab.vms) {
        await until(`${vm.name}'s deployed system to phone home`, async () => /phoned home/.test(vm.console()), SLOW.tries, SLOW.every);
        // Nothing reached the region: it still sees a deployment in progress.
        expect((await machine(vm)).status_name).toBe("Deploying");
      }
      await lab.restoreTunnel();
      for (const vm of lab.vms) await waitStatus(vm, "Deployed");
      for (const vm of lab.vms) {
        const con = vm.console();
        // BIOS: PXE first, the rack says "local" and iPXE sanboots the disk. UEFI: the BMC's
        // next-boot-PXE was spent on the deploy environment; the reset boots OVMF's disk entry.
        if (vm.firmware === "bios") expect(con).toContain("Plinth: booting from local disk");
        else expect(con).toMatch(/BdsDxe: starting Boot\d+ "UEFI Misc Device"/);
        const raw = readFileSync(join(imagesDir, "testdisk.raw"));
        const disk = readFileSync(vm.disk).subarray(0, raw.length);
        // Byte for byte, except the MBR slot the cloud-init seed partition took.
        expect(createHash("sha256").update(disk.subarray(0, 462)).digest("hex")).toBe(createHash("sha256").update(raw.subarray(0, 462)).digest("hex"));
        expect(createHash("sha256").update(disk.subarray(478)).digest("hex")).toBe(createHash("sha256").update(raw.subarray(478)).digest("hex"));
        const deployed = await api(r, "GET", `/events?machine=${ids.get(vm)}&type=machine.deployed`);
        expect(deployed.json.items).toHaveLength(1);
        // Every report the node made while the WAN was down arrived, once.
        const results = (await api(r, "GET", `/machines/${ids.get(vm)}/results`)).json.items as { name: string; output: string }[];
        expect(results.filter((x) => x.name === "phone_home")).toHaveLength(1);
        expect(results.filter((x) => x.name === "status" && x.output.includes('"installed"'))).toHaveLength(1);
      }
    },
    2 * STEP_MS,
  );

  it(
    "releases with quick erase: power cycled into the release environment, disks wiped, READY",
    async () => {
      for (const vm of lab.vms) {
        const rel = await api(r, "POST", `/machines/${ids.get(vm)}/release`, { erase: true, quick_erase: true });
        expect(rel.status, JSON.stringify(rel.json)).toBe(200);
        expect(rel.json.status_name).toBe("Disk erasing");
      }
      for (const vm of lab.vms) {
        await waitStatus(vm, "Ready");
        await poweredOff(vm);
        expect(
          readFileSync(vm.disk)
            .subarray(0, MiB)
            .every((b) => b === 0),
        ).toBe(true);
      }
    },
    STEP_MS,
  );

  it(
    "deploys again: the cycle repeats",
    async () => {
      const a = await api(r, "POST", `/machines/${ids.get(bios)}/allocate`, {});
      expect(a.status, JSON.stringify(a.json)).toBe(200);
      const d = await api(r, "POST", `/machines/${ids.get(bios)}/deploy`, { osystem: "custom", distro_series: "testdisk" });
      expect(d.status, JSON.stringify(d.json)).toBe(200);
      await waitStatus(bios, "Deployed");
      expect((await api(r, "GET", `/events?machine=${ids.get(bios)}&type=machine.deployed`)).json.items).toHaveLength(2);
    },
    STEP_MS,
  );

  it(
    "rescue mode and back: the rescue environment reports in (Rescue mode); exiting boots the disk (Deployed)",
    async () => {
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
    },
    STEP_MS,
  );
});

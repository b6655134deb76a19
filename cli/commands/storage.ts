// plinth machines storage <machine> [layout <name>]: a machine's storage design as a tree
// (disks → partitions → filesystems and mounts; RAID sets; volume groups → logical volumes;
// bcache devices) and what keeps it from deploying; or a layout made anew over its disks.
import { CliError, EXIT } from "../client";
import { type Command, str } from "../command";
import { printJson } from "../output";
import type { Filesystem } from "../../shared/storage/design";
import type { BlockDeviceView, DesignView } from "../../shared/storage/views";
import { resolveMachine } from "./resolve-machine";

type Fs = Filesystem;

/** Bytes as GiB/MiB with one decimal, as lsblk prints them. */
export function human(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

const fsText = (f: Fs | null) =>
  f
    ? [f.fstype, f.mount_point && f.mount_point !== "none" ? f.mount_point : f.fstype === "swap" ? "(swap)" : "", f.mount_options].filter(Boolean).join(" ")
    : "";

/** The design as lines of text: one tree per disk, then the RAID sets, volume groups and bcache devices. */
export function renderTree(v: DesignView): string {
  const out: string[] = [];
  const byId = new Map(v.block_devices.map((d) => [d.id, d]));
  const nameOf = (id: number) => byId.get(id)?.name ?? v.block_devices.flatMap((d) => d.partitions).find((p) => p.id === id)?.name ?? String(id);
  const boot = v.boot_disk !== null ? nameOf(v.boot_disk) : (v.block_devices.find((d) => d.is_boot)?.name ?? "first disk");
  out.push(`layout: ${v.layout}    boot disk: ${boot}`);
  const device = (d: BlockDeviceView, what: string) => {
    const own = fsText(d.filesystem);
    out.push(`${d.name}  ${human(d.size)}  ${what}${d.is_boot ? " (boot)" : ""}${own ? `  ${own}` : d.partitions.length ? "" : `  ${d.used_for}`}`);
    d.partitions.forEach((p, i) => {
      const last = i === d.partitions.length - 1;
      const fs = fsText(p.filesystem);
      out.push(`${last ? "└─" : "├─"} ${p.name}  ${human(p.size)}${p.bootable ? " bootable" : ""}  ${fs || p.used_for}`);
    });
  };
  out.push("", "disks:");
  for (const d of v.block_devices.filter((x) => x.type === "physical")) device(d, [d.model, d.serial].filter(Boolean).join(" ") || "disk");
  if (v.raids.length) {
    out.push("", "raids:");
    for (const r of v.raids) {
      const d = byId.get(r.id);
      const spares = r.spares.length ? `, spares ${r.spares.map(nameOf).join(" ")}` : "";
      if (d) device(d, `raid-${r.level} of ${r.devices.map(nameOf).join(" ")}${spares}`);
    }
  }
  if (v.volume_groups.length) {
    out.push("", "volume groups:");
    for (const g of v.volume_groups) {
      out.push(`${g.name}  ${human(g.size)} (${human(g.available_size)} free)  on ${g.devices.map(nameOf).join(" ")}`);
      g.logical_volumes.forEach((id, i) => {
        const lv = byId.get(id);
        if (!lv) return;
        out.push(`${i === g.logical_volumes.length - 1 ? "└─" : "├─"} ${lv.name}  ${human(lv.size)}  ${fsText(lv.filesystem) || lv.used_for}`);
      });
    }
  }
  if (v.bcaches.length || v.cache_sets.length) {
    out.push("", "bcache:");
    for (const c of v.cache_sets) out.push(`${c.name}  cache set on ${nameOf(c.device)}`);
    for (const b of v.bcaches) {
      const d = byId.get(b.id);
      if (d) device(d, `backing ${nameOf(b.backing)}, cache ${v.cache_sets.find((c) => c.id === b.cache_set)?.name ?? b.cache_set}, ${b.cache_mode}`);
    }
  }
  out.push("", v.problems.length ? "cannot be deployed:" : "deployable: yes");
  for (const p of v.problems) out.push(`  - ${p}`);
  return `${out.join("\n")}\n`;
}

const LAYOUTS = ["flat", "lvm", "bcache", "blank"] as const;

/** --root-size 20G, 50%, or bytes. */
function size(v: string | undefined, flag: string): number | string | undefined {
  if (v === undefined) return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  if (/^\d+(\.\d+)?\s*([KMGTP]i?B?|%)$/i.test(v)) return v;
  throw new CliError(`--${flag}: "${v}" is not a size (bytes, 20G, 50%)`, EXIT.usage);
}

function id(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new CliError(`--${flag}: a block device id (plinth machines storage <machine> --json lists them)`, EXIT.usage);
  return Number(v);
}

export const storageCmd: Command = {
  name: "storage",
  summary: "Show a machine's storage design as a tree, or apply a layout: storage <machine> layout <flat|lvm|bcache|blank>",
  args: "<machine> [layout <flat|lvm|bcache|blank>]",
  options: {
    "boot-size": { type: "string", help: "layout: size of /boot (bcache, lvm), e.g. 1G" },
    "root-size": { type: "string", help: "layout: size of the root partition or volume group, e.g. 20G or 50%" },
    "root-device": { type: "string", help: "layout: block device id for the root" },
    "vg-name": { type: "string", help: "layout lvm: the volume group's name" },
    "lv-name": { type: "string", help: "layout lvm: the root logical volume's name" },
    "lv-size": { type: "string", help: "layout lvm: the root logical volume's size" },
    "cache-device": { type: "string", help: "layout bcache: block device id of the cache" },
    "cache-mode": { type: "string", help: "layout bcache: writeback, writethrough or writearound" },
    "cache-size": { type: "string", help: "layout bcache: size of the cache partition" },
    "cache-no-part": { type: "boolean", help: "layout bcache: use the whole cache device" },
  },
  async run(ctx) {
    const [ref, sub, layout] = ctx.args;
    if (!ref) throw new CliError("missing <machine> (system_id or hostname)", EXIT.usage);
    const c = ctx.client();
    const machine = await resolveMachine(c, ref);
    let view: DesignView;
    if (sub === undefined) {
      view = await c.call("GET /machines/{id}/storage", { path: { id: machine } });
    } else if (sub === "layout") {
      if (!layout || !(LAYOUTS as readonly string[]).includes(layout)) throw new CliError(`layout: one of ${LAYOUTS.join(", ")}`, EXIT.usage);
      const o = ctx.opts;
      const body = {
        layout: layout as (typeof LAYOUTS)[number],
        boot_size: size(str(o["boot-size"]), "boot-size"),
        root_size: size(str(o["root-size"]), "root-size"),
        root_device: id(str(o["root-device"]), "root-device"),
        vg_name: str(o["vg-name"]),
        lv_name: str(o["lv-name"]),
        lv_size: size(str(o["lv-size"]), "lv-size"),
        cache_device: id(str(o["cache-device"]), "cache-device"),
        cache_mode: str(o["cache-mode"]) as "writeback" | "writethrough" | "writearound" | undefined,
        cache_size: size(str(o["cache-size"]), "cache-size"),
        cache_no_part: o["cache-no-part"] === true ? true : undefined,
      };
      const given = Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined)) as typeof body;
      view = await c.call("POST /machines/{id}/storage/layout", { path: { id: machine }, body: given });
    } else {
      throw new CliError(`unknown storage subcommand "${sub}": storage <machine> [layout <${LAYOUTS.join("|")}>]`, EXIT.usage);
    }
    if (ctx.json) return printJson(view);
    process.stdout.write(renderTree(view));
  },
};

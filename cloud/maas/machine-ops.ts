// machines/{system_id}/?op=…: the lifecycle ops go through the same runAction as /api/v1
// (same transition table, same CAS + event batch), after the same role check per action.
import { z } from "zod";
import { NETWORK_EDITABLE, NODE_STATUS, STATUS_NAME, type Status } from "../../shared/lifecycle";
import { ACTION_PERMISSION, type PowerAction } from "../../shared/roles";
import { require as requirePerm } from "../auth/roles";
import { requestPower } from "../domain/machines/power";
import { revealPowerParams } from "../domain/machines/power-params";
import { clearDefaultGateways } from "../domain/machines/interfaces";
import { clearOwnerDataOnceReleased, setOwnerData, setOwnerDataKey } from "../domain/machines/records";
import { runAction } from "../domain/machines/actions";
import { isStorageLayout, MAAS_ONLY_LAYOUTS, setStorageLayout, STORAGE_LAYOUTS } from "../domain/storage/repo";
import type { LayoutParams } from "../domain/storage/model";
import { layoutSize } from "./storage";
import { requireOwnerOrAdmin } from "../machines/load";
import type { MachineRow } from "../machines/repo";
import { dispatchRackCommand, type RackCommandType } from "../domain/racks/commands";
import { machineFor, machineJsonById } from "./load";
import { applyOwnerData } from "./owner-data";
import { AGENT_KEY } from "./shape";
import type { Action, Req } from "./table";
import { boolParam, bsonBinaries, fieldError, json, MaasError, parse } from "./wire";

const comment = z.string().max(4096).optional();
const series = z
  .string()
  .max(64)
  .regex(/^[a-z0-9._-]+(\/[a-z0-9._-]+)?$/, "Select a valid choice.");

const DeployBody = z
  .object({
    comment,
    osystem: z
      .string()
      .max(64)
      .regex(/^[a-z0-9._-]*$/, "Select a valid choice.")
      .optional(),
    distro_series: series.optional(),
    hwe_kernel: z.string().max(64).optional(),
    agent_name: z.string().max(255).optional(),
    // python-libmaas sends base64 with a trailing newline, the CLI may wrap it.
    user_data: z
      .string()
      .transform((s) => s.replace(/\s+/g, ""))
      .pipe(z.base64("Enter valid base64 data.").max(96 * 1024, "user_data is over 64 KiB.")),
    install_kvm: boolParam.optional(),
    register_vmhost: boolParam.optional(),
    enable_hw_sync: boolParam.optional(),
    ephemeral_deploy: boolParam.optional(),
  })
  .partial({ user_data: true });

const ReleaseBody = z.object({
  comment,
  erase: boolParam.optional(),
  secure_erase: boolParam.optional(),
  quick_erase: boolParam.optional(),
  force: boolParam.optional(),
});
const Plain = z.object({ comment });

type Lifecycle = "commission" | "abort" | "mark_broken" | "mark_fixed" | "lock" | "unlock" | "rescue_mode" | "exit_rescue_mode";
const LIFECYCLE: Record<Lifecycle, { doc: string }> = {
  commission: { doc: "Begin commissioning process for a machine." },
  abort: { doc: "Abort a machine's current operation." },
  mark_broken: { doc: "Mark a machine as 'Broken'." },
  mark_fixed: { doc: "Mark a broken machine as fixed and set its status as 'ready'." },
  lock: { doc: "Mark a machine as 'Locked', to prevent changes." },
  unlock: { doc: "Mark a machine as 'Unlocked', to allow changes." },
  rescue_mode: { doc: "Begin the rescue mode process on a given machine." },
  exit_rescue_mode: { doc: "Exit the rescue mode process on a given machine." },
};

/**
 * Releases one machine; a Ready one is left alone, as MAAS does. Owner data goes with it.
 * As MAAS's release_or_erase: disks are erased when `erase` is set (unset: the region's
 * enable_disk_erasing_on_release setting); quick_erase and secure_erase only choose how.
 */
export async function releaseOne(r: Req, m: MachineRow, b: z.output<typeof ReleaseBody>) {
  if (m.status === NODE_STATUS.READY) return;
  requireOwnerOrAdmin(r.caller, m);
  await runAction(r.c.env, r.caller, m, "release", { comment: b.comment, erase: b.erase, quick_erase: b.quick_erase, secure_erase: b.secure_erase });
  await clearOwnerDataOnceReleased(r.db, m.id);
}

async function deploy(r: Req): Promise<Response> {
  const m = await machineFor(r, ACTION_PERMISSION.deploy);
  const b = parse(DeployBody, r.p);
  let osystem = b.osystem;
  let distro = b.distro_series;
  // "ubuntu/noble" names both.
  if (distro?.includes("/")) [osystem, distro] = distro.split("/") as [string, string];
  requireOwnerOrAdmin(r.caller, m);
  await runAction(r.c.env, r.caller, m, "deploy", { comment: b.comment, osystem, distro_series: distro, user_data: b.user_data });
  if (b.agent_name !== undefined) await setAgentName(r.db, m.id, b.agent_name);
  return json(await machineJsonById(r.db, m.systemId));
}

export async function setAgentName(db: D1Database, machineId: number, agent: string) {
  await setOwnerDataKey(db, machineId, AGENT_KEY, agent);
}

/** A whole number of a form field (a device id), or undefined. */
function formId(r: Req, field: string): number | undefined {
  const v = r.p.get(field)?.trim();
  if (!v) return undefined;
  if (!/^\d{1,16}$/.test(v)) throw fieldError(field, "Enter a whole number.");
  return Number(v);
}

/**
 * MAAS's set_storage_layout with its parameters (sizes in bytes, with a unit, or as a
 * percentage where MAAS takes one). MAAS's vmfs6, vmfs7 and custom are refused by name.
 */
async function setStorageLayoutOp(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  const layout = r.p.get("storage_layout") ?? "";
  if (!isStorageLayout(layout)) {
    const known = (MAAS_ONLY_LAYOUTS as readonly string[]).includes(layout);
    throw fieldError(
      "storage_layout",
      `${layout === "" ? "This field is required." : `${known ? "Plinth does not make the" : "Unknown"} layout '${layout}'.`} Supported layouts: ${STORAGE_LAYOUTS.join(", ")}.`,
    );
  }
  const name = (field: string) => {
    const v = r.p.get(field)?.trim();
    if (v && !/^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$/.test(v)) throw fieldError(field, "Enter a valid name: letters, digits, '.', '_', '+' or '-'.");
    return v || undefined;
  };
  const params: LayoutParams = {
    boot_size: layoutSize(r.p, "boot_size"),
    root_size: layoutSize(r.p, "root_size"),
    root_device: formId(r, "root_device"),
    vg_name: name("vg_name"),
    lv_name: name("lv_name"),
    lv_size: layoutSize(r.p, "lv_size"),
    cache_device: formId(r, "cache_device"),
    cache_mode: r.p.get("cache_mode")?.trim().toLowerCase() || undefined,
    cache_size: layoutSize(r.p, "cache_size"),
    cache_no_part: r.p.get("cache_no_part")?.trim() ? parse(z.object({ cache_no_part: boolParam }), r.p).cache_no_part : undefined,
  };
  const given = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as LayoutParams;
  await setStorageLayout(r.db, r.caller.username, m, layout, given);
  return json(await machineJsonById(r.db, m.systemId));
}

/** MAAS clear_default_gateways (terraform-provider-maas calls it before linking a machine's interfaces). */
async function clearDefaultGatewaysOp(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  if (!(NETWORK_EDITABLE as readonly number[]).includes(m.status) || m.locked)
    throw new MaasError(409, `Cannot change the network of ${m.hostname}: the machine is ${m.locked ? "locked" : STATUS_NAME[m.status as Status]}.`);
  await clearDefaultGateways(r.db, r.caller.username, m);
  return json(await machineJsonById(r.db, m.systemId));
}

async function setOwnerDataOp(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.edit");
  const { data, keys } = applyOwnerData(r.p, m.ownerData);
  if (!(await setOwnerData(r.db, r.caller.username, m, m.ownerData, data, `owner data: ${keys.join(", ")}`))) {
    throw new MaasError(409, "The machine changed while its owner data was set; try again.", { "retry-after": "1" });
  }
  return json(await machineJsonById(r.db, m.systemId));
}

/** Decrypted BMC parameters: admins only (machine.secrets), every reveal audited. */
export async function powerParametersOf(r: Req, m: MachineRow): Promise<Record<string, unknown>> {
  requirePerm(r.caller, "machine.secrets", m.siteId);
  const params = await revealPowerParams(r.db, r.c.env.PLINTH_SECRET_KEY, m, r.caller.username, " through the MAAS API");
  return params;
}

async function power(r: Req, command: RackCommandType, action: string, verb: string): Promise<Response> {
  const m = await machineFor(r, ACTION_PERMISSION[action as PowerAction]);
  const b = parse(Plain, r.p);
  // Answers 503 with Retry-After while no rack can carry the command (gomaasapi retries it).
  await requestPower(r.c.env, r.caller.username, m, { command, action, verb, params: { comment: b.comment } });
  return json(await machineJsonById(r.db, m.systemId));
}

async function details(r: Req): Promise<Response> {
  const m = await machineFor(r, "machine.read");
  const { results } = await r.db
    .prepare("SELECT name, output FROM commissioning_results WHERE machine_id = ? AND (name LIKE '%lshw%' OR name LIKE '%lldp%') ORDER BY id")
    .bind(m.id)
    .all<{ name: string; output: string }>();
  const enc = new TextEncoder();
  const pick = (n: string) => enc.encode(results.filter((x) => x.name.includes(n)).pop()?.output ?? "");
  return new Response(bsonBinaries({ lshw: pick("lshw"), lldp: pick("lldp") }), { headers: { "content-type": "application/bson" } });
}

const lifecycleActions: Action[] = (Object.keys(LIFECYCLE) as Lifecycle[]).map((op) => ({
  method: "POST",
  op,
  doc: LIFECYCLE[op].doc,
  params: ["comment"],
  run: async (r: Req) => {
    const m = await machineFor(r, ACTION_PERMISSION[op]);
    const b = parse(Plain, r.p);
    await runAction(r.c.env, r.caller, m, op, { comment: b.comment });
    return json(await machineJsonById(r.db, m.systemId));
  },
}));

export const machineOps: Action[] = [
  ...lifecycleActions,
  {
    method: "POST",
    op: "deploy",
    doc: "Deploy an operating system to a machine.",
    params: ["user_data", "distro_series", "osystem", "hwe_kernel", "agent_name", "comment"],
    run: deploy,
  },
  {
    method: "POST",
    op: "release",
    doc: "Release a machine. Opposite of Machines.allocate.",
    params: ["comment", "erase", "secure_erase", "quick_erase", "force"],
    run: async (r) => {
      const m = await machineFor(r, ACTION_PERMISSION.release);
      await releaseOne(r, m, parse(ReleaseBody, r.p));
      return json(await machineJsonById(r.db, m.systemId));
    },
  },
  {
    method: "POST",
    op: "set_owner_data",
    doc: "Set key/value data for the current owner. An empty value deletes the key.",
    params: ["key"],
    run: setOwnerDataOp,
  },
  {
    method: "GET",
    op: "get_token",
    doc: "Refused: a machine's metadata credentials go only to the machine, in its boot configuration.",
    run: async (r) => {
      await machineFor(r, "machine.read");
      throw new MaasError(
        403,
        "Plinth never hands out a machine's metadata credentials through the API: the machine gets its own in its boot configuration, and a deployment issues new ones.",
      );
    },
  },
  {
    method: "POST",
    op: "set_workload_annotations",
    doc: "MAAS 2.9's name for set_owner_data: set key/value data for the current owner. An empty value deletes the key.",
    params: ["key"],
    run: setOwnerDataOp,
  },
  {
    method: "POST",
    op: "set_storage_layout",
    doc: "Change the storage layout of a Ready or Allocated machine (flat, lvm, bcache or blank).",
    params: [
      "storage_layout",
      "boot_size",
      "root_size",
      "root_device",
      "vg_name",
      "lv_name",
      "lv_size",
      "cache_device",
      "cache_mode",
      "cache_size",
      "cache_no_part",
    ],
    run: setStorageLayoutOp,
  },
  {
    method: "POST",
    op: "clear_default_gateways",
    doc: "Clear any set default gateways on a machine: its routes then come from its first link with a gateway.",
    run: clearDefaultGatewaysOp,
  },
  { method: "POST", op: "power_on", doc: "Turn on a machine.", params: ["user_data", "comment"], run: (r) => power(r, "power.on", "power_on", "power on") },
  {
    method: "POST",
    op: "power_off",
    doc: "Power off a machine.",
    params: ["stop_mode", "comment"],
    run: (r) => power(r, "power.off", "power_off", "power off"),
  },
  {
    method: "GET",
    op: "query_power_state",
    doc: "Query the power state of a machine.",
    run: async (r) => {
      const m = await machineFor(r, "machine.read");
      if (m.powerType !== "manual") await dispatchRackCommand(r.c.env, m, "power.query", {});
      return json({ state: m.powerState });
    },
  },
  {
    method: "GET",
    op: "power_parameters",
    doc: "Get power parameters (admin only; audited).",
    run: async (r) => {
      const m = await machineFor(r, "machine.read");
      return json(await powerParametersOf(r, m));
    },
  },
  { method: "GET", op: "details", doc: "Obtain various system details (BSON: lshw and lldp).", run: details },
];

export { ReleaseBody };

// Lifecycle steps start with their power action, as in MAAS: a step that boots the ephemeral
// environment (commission, deploy, erase, rescue) sets next boot to PXE and powers the machine
// on (power-cycles it when it is on: a running machine would not boot from the network);
// release and abort power it off; exiting rescue mode boots a deployed machine back into its
// own OS (next boot disk, power cycle) and powers any other off. The commands go through the
// site's rack like the API's power actions. The manual driver sends nothing: the region
// records that someone on site must act.
// A machine whose site has no rack enrolled keeps its new status; an event says what was not sent.
import { NODE_STATUS, type Status } from "../../../shared/lifecycle";
import type { Env } from "../../env";
import { ApiError } from "../../http/errors";
import { recordEvent } from "../events";
import { openPowerParams } from "./power-params";
import { applyAction } from "./transition";
import type { MachineOnSite } from "./types";
import { type CommandStep, dispatchRackCommands, pushConfigAfter } from "../racks/commands";
import type { CommandOutcome, StoredCommand } from "../racks/delivery";

/** The lifecycle step a command's result ends (landing.ts): release → READY, rescue exit → where the machine was. */
export type Finishes = "release" | "rescue_exit";
export type PowerPlan = { kind: "start" } | { kind: "stop"; finishes?: Finishes } | { kind: "local"; finishes: Finishes };

/** What the step from `from` to `to` by `action` asks of the BMC, if anything. `previous`: the status the machine returns to. */
export function powerPlanFor(action: string, from: number, to: number, previous: number | null = null): PowerPlan | null {
  if (to === from) return null;
  switch (action) {
    case "exit_rescue_mode":
      // As MAAS: a deployed machine reboots into its OS, anything else is left off.
      return previous === NODE_STATUS.DEPLOYED ? { kind: "local", finishes: "rescue_exit" } : { kind: "stop", finishes: "rescue_exit" };
    case "commission":
    case "deploy":
    case "rescue_mode":
      return { kind: "start" };
    case "release":
      // Erasing boots the ephemeral environment; a plain release ends when the machine is off.
      return to === NODE_STATUS.DISK_ERASING ? { kind: "start" } : to === NODE_STATUS.RELEASING ? { kind: "stop", finishes: "release" } : null;
    case "abort":
      return ([NODE_STATUS.COMMISSIONING, NODE_STATUS.TESTING, NODE_STATUS.DEPLOYING, NODE_STATUS.DISK_ERASING] as number[]).includes(from)
        ? { kind: "stop" }
        : null;
    default:
      return null;
  }
}

/** `status`: the status after the step. */
export type PowerTarget = MachineOnSite;

/** sent: commands queued for a rack; manual: a human must act; not_sent: no rack (or it failed), see the event. */
export type PowerResult = "sent" | "manual" | "not_sent";

/** Legacy or EFI boot flags: the BMC's power_boot_type when set, else what the machine booted with. */
function wantsEfi(bootType: unknown, firmware: string): boolean {
  if (bootType === "efi") return true;
  if (bootType === "legacy") return false;
  return firmware === "uefi";
}

export async function lifecyclePower(env: Env, m: PowerTarget, plan: PowerPlan, opts: { actor: string; action: string }): Promise<PowerResult> {
  const row = await env.DB.prepare("SELECT power_type, power_state, firmware, power_params_enc FROM machines WHERE id = ?")
    .bind(m.id)
    .first<{ power_type: string; power_state: string; firmware: string; power_params_enc: string | null }>();
  if (!row) return "not_sent";
  const verb =
    plan.kind === "stop" ? "power off" : `${row.power_state === "off" ? "power on" : "power cycle"} (next boot ${plan.kind === "start" ? "PXE" : "disk"})`;
  const base = { machineId: m.id, systemId: m.systemId, hostname: m.hostname, siteId: m.siteId, actor: opts.actor, status: m.status };
  const type = plan.kind === "stop" ? "power.power_off" : "power.power_on";
  if (row.power_type === "manual") {
    await recordEvent(env.DB, {
      ...base,
      type,
      level: "WARNING",
      description: `${opts.action}: ${verb} needed: the power driver is manual, someone on site must do it`,
    });
    return "manual";
  }
  let steps: CommandStep[];
  if (plan.kind !== "stop") {
    let bootType: unknown;
    try {
      bootType = (await openPowerParams(env.PLINTH_SECRET_KEY, row.power_params_enc, m.systemId))["power_boot_type"];
    } catch {
      bootType = undefined;
    }
    const efi = wantsEfi(bootType, row.firmware);
    steps = [
      { type: "boot.set", params: { device: plan.kind === "local" ? "disk" : "pxe", persistent: false, efi } },
      // Our drivers turn a cycle of a machine that is off into power on; a stale "off" would
      // leave a running machine in its old OS, so only a recorded "off" gets a plain power on.
      { type: row.power_state === "off" ? "power.on" : "power.cycle", params: {}, ...(plan.kind === "local" ? { finishes: plan.finishes } : {}) },
    ];
  } else {
    steps = [{ type: "power.off", params: {}, ...(plan.finishes ? { finishes: plan.finishes } : {}) }];
  }
  try {
    const target = { systemId: m.systemId, rackId: m.rackId, siteId: m.siteId, id: m.id };
    const sent = await dispatchRackCommands(env, target, steps, { actor: opts.actor, power: { type: row.power_type, enc: row.power_params_enc } });
    await recordEvent(env.DB, {
      ...base,
      type,
      description: `${opts.action}: ${verb} sent to rack ${sent[0]!.rackId} (${sent.map((s) => `${steps[sent.indexOf(s)]!.type} ${s.commandId}`).join(", ")})`,
    });
    return "sent";
  } catch (e) {
    const why =
      e instanceof ApiError && e.code === "no_rack"
        ? "no rack appliance is enrolled for this machine's site, so nothing can reach its BMC"
        : `the command could not be queued (${e instanceof Error ? e.message : String(e)})`;
    const todo =
      plan.kind === "start"
        ? "power it on by hand (network boot), or enrol a rack and power it on from Plinth"
        : plan.kind === "local"
          ? "reboot it into its disk by hand"
          : "power it off by hand";
    await recordEvent(env.DB, { ...base, type: "power.not_sent", level: "WARNING", description: `${opts.action}: ${verb} was not sent: ${why}; ${todo}` });
    return "not_sent";
  }
}

/** Commission on create (API and MAAS facade): the config push, then the power on, as runAction does. */
export async function commissionPower(
  env: Env,
  m: { id: number; systemId: string; hostname: string; siteId: number; rackId: string | null },
  status: number,
  actor: string,
): Promise<PowerResult> {
  await pushConfigAfter(env, m.siteId, "commission");
  return lifecyclePower(
    env,
    { id: m.id, systemId: m.systemId, hostname: m.hostname, siteId: m.siteId, rackId: m.rackId, status },
    { kind: "start" },
    { actor, action: "commission" },
  );
}

const FINISHING: Record<Finishes, { status: number; done: "released" | "rescue_exited"; failed: "release_failed" | "rescue_exit_failed" }> = {
  release: { status: NODE_STATUS.RELEASING, done: "released", failed: "release_failed" },
  rescue_exit: { status: NODE_STATUS.EXITING_RESCUE_MODE, done: "rescue_exited", failed: "rescue_exit_failed" },
};

/**
 * The outcome of a command that ends a lifecycle step: release's power off moves RELEASING to
 * READY when it is done, to FAILED_RELEASING when it failed or expired; exiting rescue mode's
 * power action moves EXITING_RESCUE_MODE back to where the machine was, or to
 * FAILED_EXITING_RESCUE_MODE. Returns true when the machine's status changed. A machine no
 * longer in the step's status (aborted, timed out) is left alone.
 */
export async function finishLifecycleStep(db: D1Database, cmd: StoredCommand, o: CommandOutcome): Promise<boolean> {
  const step = cmd.finishes ? FINISHING[cmd.finishes] : undefined;
  if (!step || cmd.machineId === null) return false;
  const m = await db
    .prepare("SELECT id, system_id, status, previous_status, locked, power_type FROM machines WHERE id = ?")
    .bind(cmd.machineId)
    .first<{ id: number; system_id: string; status: number; previous_status: number | null; locked: number; power_type: string }>();
  if (!m || m.status !== step.status) return false;
  const ok = o.state === "done";
  const what = cmd.type === "power.off" ? "power off" : cmd.type === "power.on" ? "power on" : "power cycle";
  const reason = ok
    ? cmd.type === "power.off"
      ? "powered off"
      : `${what} done, next boot from disk`
    : o.state === "expired"
      ? `${what}: no result from the rack by its deadline`
      : `${what} failed: ${o.error?.message ?? "unknown error"}`;
  try {
    await applyAction(
      db,
      { id: m.id, systemId: m.system_id, status: m.status as Status, previousStatus: m.previous_status, locked: !!m.locked, powerType: m.power_type },
      ok ? step.done : step.failed,
      { actor: `rack:${cmd.rackId}`, reason },
    );
    return true;
  } catch {
    // Changed under us: the newer state wins.
    return false;
  }
}

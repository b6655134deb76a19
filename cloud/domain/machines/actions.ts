// A person's lifecycle action on one machine (commission, deploy, release, abort, rescue, mark,
// lock), from either API: the transition from shared/lifecycle.ts with its event, the config
// push to the site's racks, then the step's power action. Who may act is checked before.
import { decide, type Status, type UserAction } from "../../../shared/lifecycle";
import { randomString } from "../../auth/crypto";
import type { Env } from "../../env";
import { ApiError } from "../../http/errors";
import { allocateMachineAddresses, undoAllocations } from "../addresses";
import { pushConfigAfter } from "../racks/commands";
import { getSettings } from "../settings";
import { lifecyclePower, powerPlanFor } from "./lifecycle-power";
import { loadStorage, model } from "../storage/repo";
import { assertDeployable } from "../storage/validate";
import { deployNetworkConfig } from "./network-config";
import type { Actor } from "./records";
import { applyAction } from "./transition";
import type { MachineOnSite } from "./types";

export type LifecycleAction = Extract<
  UserAction,
  "commission" | "abort" | "deploy" | "release" | "mark_broken" | "mark_fixed" | "rescue_mode" | "exit_rescue_mode" | "lock" | "unlock"
>;

export interface ActionMachine extends MachineOnSite {
  previousStatus: number | null;
  locked: number | boolean;
  powerType: string;
  ownerId: number | null;
  osystem: string;
  distroSeries: string;
  architecture?: string;
}

export interface ActionInput {
  comment?: string | undefined;
  /** deploy */
  osystem?: string | undefined;
  distro_series?: string | undefined;
  /** deploy: base64 cloud-init user data. */
  user_data?: string | undefined;
  /** release */
  erase?: boolean | undefined;
  quick_erase?: boolean | undefined;
  /** release: accepted as MAAS takes it; the erase is a full one where the drive cannot do it itself. */
  secure_erase?: boolean | undefined;
}

/** What the action could not do although it was taken: said in the API's answer beside the event. */
export interface ActionOutcome {
  warnings: string[];
}

export async function runAction(env: Env, actor: Actor, m: ActionMachine, action: LifecycleAction, input: ActionInput): Promise<ActionOutcome> {
  const to = await transition(env.DB, actor, m, action, input);
  // The site's racks decide what this machine boots from their snapshot: tell them now, not
  // at their next reconnect (and before a power on, so the machine boots what it should).
  // A rack that cannot be told gets it then; the action stands.
  const push = () => pushConfigAfter(env, m.siteId, "an action");
  await push();
  const plan = powerPlanFor(action, m.status, to, m.previousStatus);
  if (!plan) return { warnings: [] };
  const sent = await lifecyclePower(env, { id: m.id, systemId: m.systemId, hostname: m.hostname, siteId: m.siteId, rackId: m.rackId, status: to }, plan, {
    actor: actor.username,
    action,
  });
  // With the manual driver there is no power action to wait for: the step completes at once.
  // With no rack to send it through, the machine stays in the step (never powered off, so not
  // Ready): its deadline fails it unless someone acts.
  if (plan.kind !== "start" && plan.finishes && sent === "manual") {
    const done = plan.finishes === "release" ? "released" : "rescue_exited";
    // exit_rescue_mode keeps previous_status (where the machine returns); release records where it came from.
    const previousStatus = plan.finishes === "release" ? m.status : m.previousStatus;
    await applyAction(env.DB, { ...m, locked: !!m.locked, status: to, previousStatus }, done, { actor: "region", reason: "manual power: nothing to wait for" });
    await push();
  }
  // Otherwise the caller would learn it only when the step's deadline fails the machine.
  if (sent === "not_sent")
    return {
      warnings: [
        `${action}: the power ${plan.kind === "stop" ? "off" : "on"} was not sent: no rack appliance of this machine's site could take it; power it by hand or enrol a rack, or the step fails at its deadline`,
      ],
    };
  return { warnings: [] };
}

/** Returns the machine's new status. */
async function transition(db: D1Database, actor: Actor, m: ActionMachine, action: LifecycleAction, input: ActionInput): Promise<number> {
  const base = { ...m, locked: !!m.locked };
  const reason = input.comment;
  if (action === "deploy") {
    const set: Record<string, string | null> = {};
    if (input.osystem !== undefined) set["osystem"] = input.osystem;
    if (input.distro_series !== undefined) set["distro_series"] = input.distro_series;
    if (input.user_data !== undefined) set["user_data"] = input.user_data;
    if ((!set["osystem"] && !m.osystem) || (!set["distro_series"] && !m.distroSeries)) {
      const d = await getSettings(db, ["default_osystem", "default_distro_series"]);
      if (!set["osystem"] && !m.osystem) set["osystem"] = d.default_osystem;
      if (!set["distro_series"] && !m.distroSeries) set["distro_series"] = d.default_distro_series;
    }
    // A deployment that can never work is refused now, not an hour later by its deadline. The
    // transition is checked first so an illegal deploy still answers 409 (as MAAS does).
    let allocated: number[] = [];
    if (decide({ status: m.status as Status, previousStatus: m.previousStatus as Status | null, locked: base.locked }, "deploy").ok) {
      await requireDeployableImage(db, set["osystem"] ?? m.osystem, set["distro_series"] ?? m.distroSeries, m.architecture ?? "amd64/generic");
      await requireDeployableStorage(db, m.id);
      // Every AUTO link gets its address before the machine is DEPLOYING (a full subnet refuses
      // the deployment with 409 and nothing taken); the rack's snapshot then carries them.
      allocated = await allocateMachineAddresses(db, m.id);
      // Rendered now, with those addresses: a design the deployed system could not apply is
      // refused before anything boots, and the rack gets exactly what was accepted.
      try {
        set["deploy_network"] = await deployNetworkConfig(db, m.id);
      } catch (e) {
        await undoAllocations(db, allocated);
        throw e;
      }
    }
    // A fresh secret for this deployment's phone-home URL: only the OS written now can finish it.
    set["deploy_token"] = randomString(32);
    set["deploy_installed_at"] = null;
    try {
      return await applyAction(db, base, "deploy", { actor: actor.username, reason, set, ownerId: m.ownerId ?? actor.userId });
    } catch (e) {
      await undoAllocations(db, allocated);
      throw e;
    }
  }
  if (action === "release") {
    // What the request leaves unsaid, the region's settings decide, as in MAAS.
    const d =
      input.erase === undefined || input.quick_erase === undefined
        ? await getSettings(db, ["enable_disk_erasing_on_release", "disk_erase_with_quick_erase"])
        : null;
    const erase = input.erase ?? d?.enable_disk_erasing_on_release ?? false;
    // MAAS: quick_erase wipes signatures and the disk ends; otherwise the whole disk is zeroed
    // (secure_erase falls back to that where the drive cannot do it itself).
    const eraseMode = erase ? ((input.quick_erase ?? d?.disk_erase_with_quick_erase) === true ? "quick" : "full") : null;
    return applyAction(db, base, "release", { actor: actor.username, reason, erase, set: { erase_mode: eraseMode, deploy_token: null, deploy_network: null } });
  }
  return applyAction(db, base, action, { actor: actor.username, reason });
}

/**
 * The storage design must be one the installer can build (one root filesystem, sizes that fit,
 * an ESP on UEFI, ...): refused with 400 invalid_storage and every reason. A machine with no
 * commissioned disks is not checked: its installer makes the flat layout on the first disk it finds.
 */
async function requireDeployableStorage(db: D1Database, machineId: number): Promise<void> {
  const s = await loadStorage(db, machineId);
  if (!s.ctx.disks.length) return;
  model(() => assertDeployable(s.design, s.ctx));
}

/** The image a deployment of this OS and series writes must have its bytes in the store. */
export async function requireDeployableImage(db: D1Database, osystem: string, series: string, architecture: string): Promise<void> {
  const found = await db
    .prepare("SELECT 1 FROM boot_images WHERE osystem = ? AND series = ? AND architecture = ? AND sha256 IS NOT NULL")
    .bind(osystem, series, architecture)
    .first();
  if (found) return;
  const arch = architecture.split("/")[0] ?? architecture;
  throw new ApiError(400, "no_image", `no image with content for ${osystem}/${series} ${arch}: upload one (POST /api/v1/boot-images, then its content)`, {
    osystem,
    distro_series: series,
    architecture,
  });
}

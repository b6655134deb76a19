// What rack events do to machines, after landing.ts stored them: a DHCP discover from an
// unknown MAC on a managed subnet enlists a NEW machine; metadata results from the ephemeral
// environment are stored, fill the inventory, and end commissioning (or release) with the
// lifecycle transition. Payloads from nodes are checked here with zod: a node's document is
// untrusted input even though the rack that relayed it is authenticated.
import { z } from "zod";
import { type InternalAction, NODE_STATUS } from "../../../shared/lifecycle";
import type { RackEvent } from "../../../shared/tunnel/events";
import { constantTimeEqual } from "../../auth/crypto";
import { MAX_OBSERVATIONS, type Observation, recordDiscoveries } from "../discovery";
import { applyImageState } from "./rack-images";
import { machineEventStatement } from "../events";
import { applyAction } from "../machines/transition";
import { DeployedStorageSchema } from "../machines/storage";
import { newHostname, newSystemId } from "../machines/names";

type DiscoverEvent = Extract<RackEvent, { type: "dhcp.discover" }>;
type ResultEvent = Extract<RackEvent, { type: "metadata.result" }>;

export interface ApplyOutcome {
  /** Something the rack's config snapshot depends on changed (a new MAC, a new status). */
  configChanged: boolean;
}

const ARCH_FIRMWARE: Record<string, "bios" | "uefi"> = { "0": "bios", "6": "uefi", "7": "uefi", "9": "uefi", "11": "uefi", "16": "uefi" };
const ARCHITECTURE: Record<string, string> = { "11": "arm64/generic" };

export async function applyRackEvents(db: D1Database, rackId: string, events: RackEvent[], now = Date.now()): Promise<ApplyOutcome> {
  let configChanged = false;
  const seenMacs = new Set<string>();
  const observed: Observation[] = [];
  for (const e of events) {
    if (e.type === "dhcp.lease") observed.push({ ip: e.data.ip, mac: e.data.mac, seenAt: e.at, source: "dhcp" });
    else if (e.type === "net.neighbours") for (const n of e.data.neighbours) observed.push({ ...n, source: "arp" });
    if (e.type === "dhcp.discover") {
      if (seenMacs.has(e.data.mac)) continue;
      seenMacs.add(e.data.mac);
      if (await enlist(db, rackId, e, now)) configChanged = true;
    } else if (e.type === "metadata.result") {
      if (await applyResult(db, rackId, e, now)) configChanged = true;
    } else if (e.type === "images.state") {
      await applyImageState(db, rackId, e.data, now);
    }
  }
  try {
    await recordBootRack(db, rackId, events);
  } catch (e) {
    // Like discovery, a note for operators: it must not undo what the events did.
    console.warn(`boot rack: could not record what rack ${rackId} served`, String(e));
  }
  if (observed.length) {
    // Discovery is advisory: a failure here must not undo what the other events did.
    try {
      for (let i = 0; i < observed.length; i += MAX_OBSERVATIONS) await recordDiscoveries(db, rackId, observed.slice(i, i + MAX_OBSERVATIONS), now);
    } catch (e) {
      console.warn(`discovery: could not record what rack ${rackId} saw`, String(e));
    }
  }
  return { configChanged };
}

/**
 * Which rack served each machine's last boot: the latest DHCP discover or boot file request
 * per MAC in this batch. Conditional on being newer than what is recorded, so a replayed or
 * late batch from another rack does not take it back.
 */
async function recordBootRack(db: D1Database, rackId: string, events: RackEvent[]): Promise<void> {
  const latest = new Map<string, number>();
  for (const e of events) {
    if (e.type !== "dhcp.discover" && e.type !== "boot.request") continue;
    latest.set(e.data.mac, Math.max(latest.get(e.data.mac) ?? 0, e.at));
  }
  if (!latest.size) return;
  await db.batch(
    [...latest].map(([mac, at]) =>
      db
        .prepare(
          "UPDATE machines SET boot_rack_id = ?1, boot_at = ?2 WHERE id IN (SELECT machine_id FROM interfaces WHERE mac = ?3 AND type = 'physical') AND (boot_at IS NULL OR boot_at < ?2 OR (boot_at = ?2 AND boot_rack_id = ?1))",
        )
        .bind(rackId, at, mac),
    ),
  );
}

/** Returns true when a machine was created. */
async function enlist(db: D1Database, rackId: string, e: DiscoverEvent, now: number): Promise<boolean> {
  const subnet = e.data.subnet;
  // Only discovers the rack saw on a subnet it serves: a relay or unmanaged network is not ours to enlist.
  if (!subnet) return false;
  const rack = await db.prepare("SELECT site_id FROM racks WHERE id = ?").bind(rackId).first<{ site_id: number }>();
  if (!rack) return false;
  const managed = await db
    .prepare("SELECT id, cidr FROM subnets WHERE (site_id = ?1 OR rack_id = ?2) AND managed = 1 AND cidr = ?3")
    .bind(rack.site_id, rackId, subnet)
    .first<{ id: number; cidr: string }>();
  if (!managed) return false;
  const known = await db
    .prepare("SELECT m.id, m.status FROM interfaces i JOIN machines m ON m.id = i.machine_id WHERE i.mac = ?")
    .bind(e.data.mac)
    .first<{ id: number; status: number }>();
  const firmware = e.data.arch ? (ARCH_FIRMWARE[e.data.arch] ?? "unknown") : "unknown";
  if (known) {
    // A NEW machine booting again: note where it was seen; anything further along is left alone.
    if (known.status === NODE_STATUS.NEW) {
      await db
        .prepare("UPDATE machines SET rack_id = ?, firmware = CASE WHEN ? = 'unknown' THEN firmware ELSE ? END, updated_at = ? WHERE id = ? AND status = ?")
        .bind(rackId, firmware, firmware, now, known.id, NODE_STATUS.NEW)
        .run();
    }
    return false;
  }
  const zone = await db.prepare("SELECT id FROM zones WHERE name = 'default'").first<{ id: number }>();
  const pool = await db.prepare("SELECT id FROM resource_pools WHERE name = 'default'").first<{ id: number }>();
  if (!zone || !pool) return false;
  const systemId = newSystemId();
  const hostname = newHostname();
  const architecture = (e.data.arch && ARCHITECTURE[e.data.arch]) ?? "amd64/generic";
  // One batch: the machine, its boot interface and its event, or none of them. The interface
  // insert is conditional on the MAC still being free; a MAC that raced in makes the machine
  // insert roll back through the UNIQUE constraint instead.
  await db.batch([
    db
      .prepare(
        `INSERT INTO machines (system_id, hostname, architecture, boot_mac, firmware, power_type, site_id, zone_id, pool_id, rack_id, status, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 'manual', ?, ?, ?, ?, ?, ?, ?)`,
      )
      .bind(systemId, hostname, architecture, e.data.mac, firmware, rack.site_id, zone.id, pool.id, rackId, NODE_STATUS.NEW, now, now),
    db.prepare("INSERT INTO interfaces (machine_id, name, mac, is_boot) SELECT id, 'eth0', ?, 1 FROM machines WHERE system_id = ?").bind(e.data.mac, systemId),
    // The boot interface's link: AUTO on the subnet it booted on (its address comes at deploy).
    db
      .prepare(
        "INSERT INTO ip_addresses (subnet_id, kind, interface_id, machine_id) SELECT ?, 'auto', i.id, i.machine_id FROM interfaces i JOIN machines m ON m.id = i.machine_id WHERE i.mac = ? AND m.system_id = ?",
      )
      .bind(managed.id, e.data.mac, systemId),
    machineEventStatement(
      db,
      {
        type: "machine.enlisted",
        actor: `rack:${rackId}`,
        toStatus: "current",
        description: `enlisted from a DHCP discover of ${e.data.mac} on ${managed.cidr}`,
        at: now,
      },
      "m.system_id = ?",
      systemId,
    ),
  ]);
  return true;
}

// Inventory documents (docs/boot-environment.md). Lenient where the environment reports
// "unknown" as null; bounded everywhere.
const int = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const str = z.string().max(1024).nullish();
const Cpu = z.object({ count: int.max(1_000_000), model: str });
const Memory = z.object({ total_bytes: int.nullish(), physical_bytes: int.nullish() });
const Disks = z.object({
  disks: z
    .array(z.object({ name: z.string().min(1).max(64), path: str, size_bytes: int, model: str, serial: str, rotational: z.boolean().nullish() }))
    .max(256),
});
const mac = z
  .string()
  .transform((m) => m.toLowerCase())
  .pipe(z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/));
const Nics = z.object({
  nics: z
    .array(
      z.object({
        name: z.string().min(1).max(64),
        mac,
        driver: str,
        speed_mbps: int.max(10_000_000).nullish(),
        link: z.boolean().nullish(),
        boot: z.boolean().nullish(),
      }),
    )
    .max(256),
});
const Dmi = z.object({ product_uuid: z.string().max(64).nullish() });
const Firmware = z.object({ type: z.enum(["bios", "uefi"]) });
const Status = z.object({ mode: z.string().max(32), status: z.string().max(32), error: z.string().max(4096).nullish() });
/** The installer's progress report (docs/deploy.md): a step and a line an operator reads. */
const Progress = z.object({
  step: z.string().max(64).nullish(),
  message: z.string().max(1024).nullish(),
  done_mib: int.nullish(),
  total_mib: int.nullish(),
});
/** A cloud-init reporting event as the rack relays it (appliance/metadata/maas.ts checked it at the door). */
const CloudInitEvent = z.object({
  name: z.string().max(256),
  description: z.string().max(4096).default(""),
  event_type: z.enum(["start", "finish"]),
  origin: z.string().max(64).default("cloudinit"),
  result: z.enum(["SUCCESS", "FAIL", "WARN"]).nullish(),
});

interface MachineRow {
  id: number;
  system_id: string;
  status: number;
  previous_status: number | null;
  locked: number;
  power_type: string;
  deploy_token: string | null;
}

const core = (m: MachineRow) => ({
  id: m.id,
  systemId: m.system_id,
  status: m.status,
  previousStatus: m.previous_status,
  locked: !!m.locked,
  powerType: m.power_type,
});

/**
 * Deploy's reports: progress becomes an event and the status message; "installed" means the
 * system is on disk (what the installer made is kept), so from now on the node boots its disk
 * (the snapshot's intent turns to local); DEPLOYED waits for the deployed system (cloud-init's
 * final stage, or testdisk's phone home). A failure ends the deployment with the installer's
 * own words.
 */
async function deployProgress(db: D1Database, m: MachineRow, status: string, doc: unknown, rackId: string, now: number): Promise<boolean> {
  const s = Status.safeParse(doc);
  if (status === "failed") {
    try {
      await applyAction(db, core(m), "deployment_failed", {
        actor: `rack:${rackId}`,
        reason: s.success && s.data.error ? s.data.error.slice(0, 1000) : "the installer reported a failure (no message)",
      });
      return true;
    } catch {
      return false;
    }
  }
  if (!s.success || s.data.mode !== "deploy") return false;
  if (s.data.status === "installed") {
    const st = DeployedStorageSchema.safeParse(doc);
    const r = await db
      .prepare(
        "UPDATE machines SET deploy_installed_at = ?, deployed_storage = ?, status_message = 'installed, booting the deployed system', updated_at = ? WHERE id = ? AND status = ? AND deploy_installed_at IS NULL",
      )
      .bind(now, st.success ? JSON.stringify(st.data) : null, now, m.id, NODE_STATUS.DEPLOYING)
      .run();
    return r.meta.changes === 1;
  }
  if (s.data.status === "progress") {
    const p = Progress.safeParse(doc);
    if (!p.success) return false;
    const step = p.data.step ?? "deploy";
    const text = `${step}${p.data.message ? `: ${p.data.message}` : ""}`.slice(0, 1024);
    await db.batch([
      machineEventStatement(
        db,
        { type: "machine.deploy_progress", actor: `rack:${rackId}`, fromStatus: "current", toStatus: "current", description: text, at: now },
        "m.id = ? AND m.status = ?",
        m.id,
        NODE_STATUS.DEPLOYING,
      ),
      db.prepare("UPDATE machines SET status_message = ?, updated_at = ? WHERE id = ? AND status = ?").bind(text, now, m.id, NODE_STATUS.DEPLOYING),
    ]);
  }
  return false;
}

const EVENT_LEVEL = { SUCCESS: "INFO", WARN: "WARNING", FAIL: "ERROR" } as const;
/** cloud-init's last stage: its finish is the deployed system's word that it is configured. */
const FINAL_STAGE = "modules-final";

/**
 * A cloud-init reporting event from the deployed system (its MAAS webhook): each is a machine
 * event; while Deploying it is also the status message, and modules-final's finish decides the
 * deployment (SUCCESS or WARN: Deployed; FAIL: Failed deployment with cloud-init's words).
 * Once the machine has left Deploying, events are recorded and move nothing.
 */
async function cloudInitEvent(db: D1Database, m: MachineRow, doc: unknown, rackId: string, now: number): Promise<boolean> {
  const e = CloudInitEvent.safeParse(doc);
  if (!e.success) return false;
  const { name, description, event_type: type, result } = e.data;
  const text = `cloud-init ${type} ${name}${result ? ` (${result})` : ""}${description ? `: ${description}` : ""}`.slice(0, 2048);
  const level = type === "start" ? "DEBUG" : EVENT_LEVEL[result ?? "SUCCESS"];
  const actor = `rack:${rackId}`;
  const final = type === "finish" && name === FINAL_STAGE && m.status === NODE_STATUS.DEPLOYING;
  const stmts = [
    machineEventStatement(
      db,
      { type: "machine.cloudinit", level, actor, fromStatus: "current", toStatus: "current", description: text, at: now },
      "m.id = ?",
      m.id,
    ),
  ];
  if (!final)
    stmts.push(
      db
        .prepare("UPDATE machines SET status_message = ?, updated_at = ? WHERE id = ? AND status = ?")
        .bind(`cloud-init: ${name}${result && result !== "SUCCESS" ? ` ${result}` : ""}`.slice(0, 255), now, m.id, NODE_STATUS.DEPLOYING),
    );
  await db.batch(stmts);
  if (!final) return false;
  try {
    if (result === "FAIL") {
      await applyAction(db, core(m), "deployment_failed", {
        actor,
        reason: `cloud-init ${name} failed${description ? `: ${description}` : ""}`.slice(0, 1000),
      });
    } else {
      await applyAction(db, core(m), "deployed", {
        actor,
        reason:
          result === "WARN"
            ? `cloud-init finished ${name} with warnings${description ? `: ${description}` : ""}`.slice(0, 1000)
            : `cloud-init finished ${name}`,
      });
    }
    return true;
  } catch {
    // Changed under us (aborted, released, timed out): the newer state wins.
    return false;
  }
}

const PhoneHome = z.object({ token: z.string().max(128) });

/** The deployed OS's first boot, carrying this deployment's secret: DEPLOYED. */
async function phoneHome(db: D1Database, m: MachineRow, doc: unknown, rackId: string): Promise<boolean> {
  const p = PhoneHome.safeParse(doc);
  if (m.status !== NODE_STATUS.DEPLOYING || !p.success || !m.deploy_token || !constantTimeEqual(p.data.token, m.deploy_token)) return false;
  try {
    // The token stays: the deployed system's cloud-init keeps using the credentials derived
    // from it until the machine is released.
    await applyAction(db, core(m), "deployed", { actor: `rack:${rackId}`, reason: "the deployed system phoned home" });
    return true;
  } catch {
    return false;
  }
}

/** Returns true when the machine's status changed. */
async function applyResult(db: D1Database, rackId: string, e: ResultEvent, now: number): Promise<boolean> {
  // Only machines of the rack's site: a rack cannot write into another site's machines.
  const m = await db
    .prepare(
      "SELECT m.id, m.system_id, m.status, m.previous_status, m.locked, m.power_type, m.deploy_token FROM machines m JOIN racks r ON r.site_id = m.site_id WHERE m.system_id = ? AND r.id = ?",
    )
    .bind(e.data.systemId, rackId)
    .first<MachineRow>();
  if (!m) return false;
  const output = e.data.output ?? "";
  let doc: unknown = null;
  try {
    doc = JSON.parse(output);
  } catch {
    doc = null;
  }
  // Events, not results: a deployment's cloud-init sends a hundred of them, each an event.
  if (e.data.name === "cloudinit") return cloudInitEvent(db, m, doc, rackId, now);
  await db
    .prepare("INSERT INTO commissioning_results (machine_id, name, status, exit_code, output, created_at) VALUES (?, ?, ?, ?, ?, ?)")
    .bind(m.id, e.data.name, e.data.status, e.data.exitCode ?? null, output, now)
    .run();
  if (e.data.name === "phone_home") return phoneHome(db, m, doc, rackId);
  if (e.data.name === "status") {
    if (m.status === NODE_STATUS.DEPLOYING) return deployProgress(db, m, e.data.status, doc, rackId, now);
    return finish(db, m, e.data.status, doc, rackId);
  }
  if (e.data.status !== "passed") return false;
  await inventory(db, m, e.data.name, doc);
  return false;
}

async function inventory(db: D1Database, m: MachineRow, name: string, doc: unknown): Promise<void> {
  switch (name) {
    case "cpu": {
      const c = Cpu.safeParse(doc);
      if (c.success)
        await db
          .prepare("UPDATE machines SET cpu_count = ?, cpu_model = ? WHERE id = ?")
          .bind(c.data.count, c.data.model ?? "", m.id)
          .run();
      return;
    }
    case "memory": {
      const r = Memory.safeParse(doc);
      const bytes = r.success ? (r.data.physical_bytes ?? r.data.total_bytes ?? null) : null;
      // MiB, as MAAS stores it.
      if (bytes !== null)
        await db
          .prepare("UPDATE machines SET memory = ? WHERE id = ?")
          .bind(Math.floor(bytes / 1_048_576), m.id)
          .run();
      return;
    }
    case "disks": {
      const r = Disks.safeParse(doc);
      if (!r.success) return;
      const total = r.data.disks.reduce((n, d) => n + d.size_bytes, 0);
      // The latest report replaces the last: disks come and go between commissionings.
      await db.batch([
        db.prepare("DELETE FROM block_devices WHERE machine_id = ?").bind(m.id),
        ...r.data.disks.map((d) =>
          db
            .prepare("INSERT INTO block_devices (machine_id, name, path, model, serial, size, rotational) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(m.id, d.name, d.path ?? `/dev/${d.name}`, d.model ?? "", d.serial ?? "", d.size_bytes, d.rotational ? 1 : 0),
        ),
        // MB (10^6), as MAAS stores it.
        db.prepare("UPDATE machines SET storage = ? WHERE id = ?").bind(total / 1_000_000, m.id),
      ]);
      return;
    }
    case "nics": {
      const r = Nics.safeParse(doc);
      if (!r.success) return;
      // Update this machine's own interfaces, add new ones; a MAC another machine owns is left alone.
      // Bonds, VLANs and bridges carry a NIC's MAC too: only the physical NIC is what was seen.
      await db.batch(
        r.data.nics.flatMap((n) => [
          db
            .prepare("UPDATE interfaces SET name = ?, driver = ?, speed_mbps = ?, link_connected = ? WHERE mac = ? AND machine_id = ? AND type = 'physical'")
            .bind(n.name, n.driver ?? "", n.speed_mbps ?? 0, n.link === false ? 0 : 1, n.mac, m.id),
          db
            .prepare(
              "INSERT INTO interfaces (machine_id, name, mac, driver, speed_mbps, link_connected, is_boot) SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM interfaces WHERE mac = ?)",
            )
            .bind(m.id, n.name, n.mac, n.driver ?? "", n.speed_mbps ?? 0, n.link === false ? 0 : 1, n.boot ? 1 : 0, n.mac),
        ]),
      );
      return;
    }
    case "dmi": {
      const r = Dmi.safeParse(doc);
      if (r.success && r.data.product_uuid) await db.prepare("UPDATE machines SET hardware_uuid = ? WHERE id = ?").bind(r.data.product_uuid, m.id).run();
      return;
    }
    case "firmware": {
      const r = Firmware.safeParse(doc);
      if (r.success) await db.prepare("UPDATE machines SET firmware = ? WHERE id = ?").bind(r.data.type, m.id).run();
      return;
    }
  }
}

/** The phase's last word: the transition it ends in, for the status the machine is in. */
const FINISH: Partial<Record<number, { done: InternalAction; failed: InternalAction }>> = {
  [NODE_STATUS.COMMISSIONING]: { done: "commissioning_done", failed: "commissioning_failed" },
  [NODE_STATUS.RELEASING]: { done: "released", failed: "release_failed" },
  [NODE_STATUS.DISK_ERASING]: { done: "disk_erased", failed: "disk_erase_failed" },
  // The rescue environment reports once its network is up and its shell waits.
  [NODE_STATUS.ENTERING_RESCUE_MODE]: { done: "rescue_entered", failed: "rescue_failed" },
};

async function finish(db: D1Database, m: MachineRow, status: string, doc: unknown, rackId: string): Promise<boolean> {
  if (status === "running") return false;
  const s = Status.safeParse(doc);
  const on = FINISH[m.status];
  if (!on) return false;
  const failed = status !== "passed";
  const reason = failed
    ? `the node reported a failure${s.success && s.data.error ? `: ${s.data.error.slice(0, 500)}` : ""}`
    : `${s.success ? s.data.mode : "phase"} done`;
  try {
    await applyAction(db, core(m), failed ? on.failed : on.done, { actor: `rack:${rackId}`, reason });
    return true;
  } catch {
    // Changed under us (aborted, timed out): the newer state wins.
    return false;
  }
}

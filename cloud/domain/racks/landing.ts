// Where what crosses the tunnel lands in D1. Every write here may be repeated (a result or
// event replayed after a cut): each batch is conditional on the command still being pending,
// or on the event's (rack, journal, seq) being new, so a repeat changes nothing.
import type { RackEvent } from "../../../shared/tunnel/events";
import { type EventLevel, machineEventStatement } from "../events";
import type { CommandOutcome, StoredCommand } from "./delivery";

const POWER_STATE_OF: Record<string, string> = { "power.on": "on", "power.off": "off" };

function powerStateAfter(cmd: StoredCommand, o: CommandOutcome): string | null {
  if (!cmd.type.startsWith("power.")) return null;
  if (o.state === "failed") return "error";
  if (o.state !== "done") return null;
  const s = o.data?.state;
  if (s === "on" || s === "off" || s === "unknown") return s;
  return POWER_STATE_OF[cmd.type] ?? null;
}

function describe(cmd: StoredCommand, o: CommandOutcome): { level: EventLevel; text: string } {
  if (o.state === "expired") return { level: "WARNING", text: `${cmd.type} (command ${cmd.id}) expired: no result from the rack by its deadline` };
  if (o.state === "failed") return { level: "ERROR", text: `${cmd.type} (command ${cmd.id}) failed: ${o.error?.message ?? "unknown error"}` };
  const state = typeof o.data?.state === "string" ? `: power is ${o.data.state}` : "";
  return { level: "INFO", text: `${cmd.type} (command ${cmd.id}) done${state}` };
}

function outcomeStatements(db: D1Database, cmd: StoredCommand, o: CommandOutcome, now: number): D1PreparedStatement[] {
  const pending = "EXISTS (SELECT 1 FROM rack_commands WHERE id = ? AND state = 'pending')";
  const stmts: D1PreparedStatement[] = [];
  if (cmd.machineId !== null) {
    const ps = powerStateAfter(cmd, o);
    if (ps)
      stmts.push(db.prepare(`UPDATE machines SET power_state = ?, power_checked_at = ? WHERE id = ? AND ${pending}`).bind(ps, now, cmd.machineId, cmd.id));
    const { level, text } = describe(cmd, o);
    stmts.push(
      machineEventStatement(
        db,
        { type: `rack.command.${o.state}`, level, actor: `rack:${cmd.rackId}`, fromStatus: "current", toStatus: "current", description: text, at: now },
        `m.id = ? AND ${pending}`,
        cmd.machineId,
        cmd.id,
      ),
    );
  }
  const result = o.state === "expired" ? null : JSON.stringify(o.state === "done" ? { ok: true, data: o.data ?? {} } : { ok: false, error: o.error });
  stmts.push(
    db.prepare("UPDATE rack_commands SET state = ?, result = ?, completed_at = ? WHERE id = ? AND state = 'pending'").bind(o.state, result, now, cmd.id),
  );
  return stmts;
}

/** Several outcomes in one D1 batch (one transaction): results that arrive together land together. */
export async function landOutcomes(db: D1Database, items: { cmd: StoredCommand; outcome: CommandOutcome }[], now = Date.now()): Promise<void> {
  if (!items.length) return;
  await db.batch(items.flatMap((i) => outcomeStatements(db, i.cmd, i.outcome, now)));
}

/** Stores a batch of rack events once each; machine-related ones also go to the audit log. */
export async function landEvents(db: D1Database, rackId: string, journal: string, events: RackEvent[], now = Date.now()): Promise<void> {
  const fresh = "NOT EXISTS (SELECT 1 FROM rack_events WHERE rack_id = ? AND journal = ? AND seq = ?)";
  const stmts: D1PreparedStatement[] = [];
  for (const e of events) {
    const key = [rackId, journal, e.seq] as const;
    if (e.type === "power.state") {
      stmts.push(
        db
          .prepare(`UPDATE machines SET power_state = ?, power_checked_at = ? WHERE system_id = ? AND ${fresh}`)
          .bind(e.data.state, now, e.data.systemId, ...key),
      );
    }
    const systemId = "systemId" in e.data ? e.data.systemId : null;
    const mac = "mac" in e.data ? e.data.mac : null;
    const where = systemId !== null ? "m.system_id = ?" : "m.id = (SELECT machine_id FROM interfaces WHERE mac = ?)";
    stmts.push(
      machineEventStatement(
        db,
        { type: `rack.${e.type}`, actor: `rack:${rackId}`, fromStatus: "current", toStatus: "current", description: summary(e), at: now },
        `${where} AND ${fresh}`,
        systemId ?? mac,
        ...key,
      ),
    );
    stmts.push(
      db
        .prepare("INSERT OR IGNORE INTO rack_events (rack_id, journal, seq, type, data, at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(...key, e.type, JSON.stringify(e.data), e.at, now),
    );
  }
  await db.batch(stmts);
}

function summary(e: RackEvent): string {
  switch (e.type) {
    case "power.state":
      return `power is ${e.data.state} (reported by the rack)`;
    case "dhcp.discover":
      return `DHCP discover from ${e.data.mac}`;
    case "dhcp.lease":
      return `DHCP lease ${e.data.ip} to ${e.data.mac}`;
    case "boot.request":
      return `${e.data.protocol} boot request for ${e.data.file}`;
    case "net.neighbours":
      return `${e.data.neighbours.length} neighbour(s) seen on ${e.data.iface}`;
    case "images.state":
      return `${e.data.full ? "full report of" : "change to"} ${e.data.images.length} cached image(s)`;
    case "metadata.result":
      if (e.data.name === "cloudinit") return "cloud-init event relayed by the rack";
      return `${e.data.name === "status" ? "status report" : `result ${e.data.name}`}: ${e.data.status}`;
  }
}

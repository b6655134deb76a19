// ipranges/ and ipranges/{id}/: dynamic and reserved ranges, each inside one visible subnet.
import { z } from "zod";
import { createIpRange, deleteIpRange, inSubnet, type RangeRow, rangeProblem, updateIpRange } from "../domain/networks";
import { ipv4, manageNetworks, subnetByKey, subnetsJson, visibleSubnets } from "./net";
import { SUBNET_SELECT, type SubnetRow } from "./shape";
import type { Handler, Req } from "./table";
import { API, deleted, fieldError, json, MaasError, parse, patchOf } from "./wire";

const RANGE_COLS = "id, subnet_id, type, start_ip, end_ip, comment";

async function rangesJson(db: D1Database, rows: RangeRow[]) {
  const ids = [...new Set(rows.map((x) => x.subnet_id))];
  const subnets = ids.length
    ? (await db.prepare(`${SUBNET_SELECT} WHERE id IN (SELECT value FROM json_each(?))`).bind(JSON.stringify(ids)).all<SubnetRow>()).results
    : [];
  const shaped = new Map((await subnetsJson(db, subnets)).map((s) => [s.id, s]));
  return rows.map((x) => ({
    id: x.id,
    type: x.type,
    start_ip: x.start_ip,
    end_ip: x.end_ip,
    comment: x.comment,
    subnet: shaped.get(x.subnet_id) ?? null,
    user: null,
    resource_uri: `${API}/ipranges/${x.id}/`,
  }));
}

const rangeJson = async (db: D1Database, row: RangeRow) => json((await rangesJson(db, [row]))[0]);

const RangeBody = z.object({
  type: z.enum(["dynamic", "reserved"], { message: "Select a valid choice: dynamic, reserved." }),
  start_ip: ipv4,
  end_ip: ipv4,
  subnet: z.string().max(64).optional(),
  comment: z.string().max(1024).default(""),
});

/** MAAS's words for why a range does not fit its subnet. */
async function checkRange(r: Req, subnet: SubnetRow, start: string, end: string, except: number | null) {
  const problem = await rangeProblem(r.db, subnet, start, end, except);
  if (!problem) return;
  if (problem.kind === "reversed") throw fieldError("end_ip", "End IP address must not be less than Start IP address.");
  if (problem.kind === "start_outside") throw fieldError("start_ip", `Start IP address must be within subnet: ${subnet.cidr}.`);
  if (problem.kind === "end_outside") throw fieldError("end_ip", `End IP address must be within subnet: ${subnet.cidr}.`);
  throw fieldError("__all__", `Requested range conflicts with an existing range: ${problem.clash.start_ip}-${problem.clash.end_ip}.`);
}

async function rangeOf(r: Req): Promise<{ range: RangeRow; subnet: SubnetRow }> {
  const range = await r.db.prepare(`SELECT ${RANGE_COLS} FROM ip_ranges WHERE id = ?`).bind(Number(r.path["id"])).first<RangeRow>();
  const subnet = range ? (await visibleSubnets(r, "WHERE id = ?", range.subnet_id))[0] : undefined;
  if (!range || !subnet) throw new MaasError(404, "No IPRange matches the given query.");
  return { range, subnet };
}

export const ipRangeHandlers: Handler[] = [
  {
    name: "IPRangesHandler",
    doc: "Manage IP ranges.",
    path: "ipranges/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List all available IP ranges.",
        run: async (r) => {
          const ids = new Set((await visibleSubnets(r)).map((s) => s.id));
          const { results } = await r.db.prepare(`SELECT ${RANGE_COLS} FROM ip_ranges ORDER BY id`).all<RangeRow>();
          return json(
            await rangesJson(
              r.db,
              results.filter((x) => ids.has(x.subnet_id)),
            ),
          );
        },
      },
      {
        method: "POST",
        op: null,
        doc: "Create a new IP range.",
        params: ["type", "start_ip", "end_ip", "subnet", "comment"],
        run: async (r) => {
          const b = parse(RangeBody, r.p);
          const subnet = b.subnet !== undefined ? await subnetByKey(r, b.subnet) : (await visibleSubnets(r)).find((s) => inSubnet(s.cidr, b.start_ip));
          if (!subnet) throw fieldError("subnet", "Select a valid choice: no subnet holds this range.");
          manageNetworks(r, subnet.site_id);
          await checkRange(r, subnet, b.start_ip, b.end_ip, null);
          const range = { type: b.type, startIp: b.start_ip, endIp: b.end_ip, comment: b.comment };
          return rangeJson(r.db, await createIpRange(r.db, r.caller.username, subnet, range));
        },
      },
    ],
  },
  {
    name: "IPRangeHandler",
    doc: "Manage IP range.",
    path: "ipranges/{id}/",
    actions: [
      { method: "GET", op: null, doc: "Read an IP range.", run: async (r) => rangeJson(r.db, (await rangeOf(r)).range) },
      {
        method: "PUT",
        op: null,
        doc: "Update an IP range.",
        params: ["type", "start_ip", "end_ip", "comment"],
        run: async (r) => {
          const { range, subnet } = await rangeOf(r);
          manageNetworks(r, subnet.site_id);
          const b = parse(patchOf(RangeBody.omit({ subnet: true })), r.p);
          await checkRange(r, subnet, b.start_ip ?? range.start_ip, b.end_ip ?? range.end_ip, range.id);
          const patch = { type: b.type, startIp: b.start_ip, endIp: b.end_ip, comment: b.comment };
          return rangeJson(r.db, await updateIpRange(r.db, r.caller.username, range, subnet, patch));
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete an IP range.",
        run: async (r) => {
          const { range, subnet } = await rangeOf(r);
          manageNetworks(r, subnet.site_id);
          await deleteIpRange(r.db, r.caller.username, range, subnet);
          return deleted();
        },
      },
    ],
  },
];

// fabrics/{fabric_id}/vlans/ and fabrics/{fabric_id}/vlans/{vid}/ (also vlans/{vlan_id}/).
import { z } from "zod";
import { createVlan, deleteVlan, fabrics, spaces, updateVlan } from "../domain/networks";
import { namedOf } from "./named";
import { manageNetworks, vlansWhere } from "./net";
import { type VlanRow, vlanJson } from "./shape";
import type { Handler, Req } from "./table";
import { boolParam, deleted, fieldError, intParam, json, MaasError, parse, patchOf } from "./wire";

const fabricOf = (r: Req) => namedOf(r.db, fabrics, "Fabric", r.path["fabric_id"] ?? "");

async function spaceId(db: D1Database, key: string | undefined): Promise<number | null | undefined> {
  if (key === undefined) return undefined;
  if (key === "" || key === "undefined") return null;
  const s = await spaces.find(db, key);
  if (!s) throw fieldError("space", `Select a valid choice. ${key} is not one of the available choices.`);
  return s.id;
}

const VlanBody = z.object({
  vid: intParam(0, 4094),
  name: z.string().max(64).default(""),
  mtu: intParam(552, 65535).default(1500),
  dhcp_on: boolParam.optional(),
  space: z.string().max(64).optional(),
  description: z.string().max(1024).optional(),
});

async function vlanOf(r: Req): Promise<VlanRow> {
  let v: VlanRow | undefined;
  if (r.path["vlan_id"] !== undefined) v = (await vlansWhere(r.db, "v.id = ?", Number(r.path["vlan_id"])))[0];
  else {
    const f = await fabricOf(r);
    v = (await vlansWhere(r.db, "v.fabric_id = ? AND v.vid = ?", f.id, Number(r.path["vid"])))[0];
  }
  if (!v) throw new MaasError(404, "No VLAN matches the given query.");
  return v;
}

const byId = async (db: D1Database, id: number) => json(vlanJson((await vlansWhere(db, "v.id = ?", id))[0]!));

export const vlanHandlers: Handler[] = [
  {
    name: "VlansHandler",
    doc: "Manage VLANs on a fabric.",
    path: "fabrics/{fabric_id}/vlans/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List all VLANs belonging to fabric.",
        run: async (r) => json((await vlansWhere(r.db, "v.fabric_id = ?", (await fabricOf(r)).id)).map(vlanJson)),
      },
      {
        method: "POST",
        op: null,
        doc: "Creates a new VLAN.",
        params: ["vid", "name", "mtu", "space", "description"],
        run: async (r) => {
          manageNetworks(r);
          const f = await fabricOf(r);
          const b = parse(VlanBody, r.p);
          if (await r.db.prepare("SELECT 1 FROM vlans WHERE fabric_id = ? AND vid = ?").bind(f.id, b.vid).first()) {
            throw fieldError("vid", `A VLAN with vid ${b.vid} already exists on ${f.name}.`);
          }
          const space = (await spaceId(r.db, b.space)) ?? null;
          const v = await createVlan(r.db, r.caller.username, f, { vid: b.vid, name: b.name, mtu: b.mtu, dhcpOn: !!b.dhcp_on, spaceId: space });
          return byId(r.db, v.id);
        },
      },
    ],
  },
  {
    name: "VlanHandler",
    doc: "Manage a VLAN on a fabric.",
    path: "fabrics/{fabric_id}/vlans/{vid}/",
    aliases: ["vlans/{vlan_id}/"],
    actions: [
      { method: "GET", op: null, doc: "Retrieves a VLAN on a given fabric_id.", run: async (r) => json(vlanJson(await vlanOf(r))) },
      {
        method: "PUT",
        op: null,
        doc: "Updates a given VLAN.",
        params: ["name", "vid", "mtu", "dhcp_on", "space", "description"],
        run: async (r) => {
          manageNetworks(r);
          const v = await vlanOf(r);
          const b = parse(patchOf(VlanBody), r.p);
          const space = await spaceId(r.db, b.space);
          await updateVlan(r.db, r.caller.username, v, { vid: b.vid, name: b.name, mtu: b.mtu, dhcpOn: b.dhcp_on, spaceId: space });
          return byId(r.db, v.id);
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Deletes a given VLAN.",
        run: async (r) => {
          manageNetworks(r);
          const v = await vlanOf(r);
          if (v.vid === 0) throw new MaasError(400, "The untagged VLAN of a fabric cannot be deleted.");
          await deleteVlan(r.db, r.caller.username, v);
          return deleted();
        },
      },
    ],
  },
];

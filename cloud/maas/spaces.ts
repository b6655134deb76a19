// spaces/ and spaces/{id}/: a space lists its VLANs and the subnets on them.
import type { NamedRow } from "../domain/named";
import { spaces } from "../domain/networks";
import { NamedBody } from "./named";
import { networkNamedHandlers, subnetsJson, vlansWhere } from "./net";
import { SUBNET_SELECT, type SubnetRow, vlanJson } from "./shape";
import { API, patchOf } from "./wire";

async function spaceJson(db: D1Database, s: NamedRow) {
  const vlans = await vlansWhere(db, "v.space_id = ?", s.id);
  const { results } = await db.prepare(`${SUBNET_SELECT} WHERE vlan_id IN (SELECT id FROM vlans WHERE space_id = ?) ORDER BY id`).bind(s.id).all<SubnetRow>();
  const subnets = await subnetsJson(db, results);
  return { id: s.id, name: s.name, description: s.description, vlans: vlans.map(vlanJson), subnets, resource_uri: `${API}/spaces/${s.id}/` };
}

const params = ["name", "description"];

export const spaceHandlers = networkNamedHandlers({
  rows: spaces,
  singular: "Space",
  shape: spaceJson,
  create: { body: NamedBody, params },
  update: { body: patchOf(NamedBody), params },
});

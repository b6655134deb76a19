// Racks serve DHCP from a snapshot of the site's subnets and ranges: an edit through the API
// is pushed to the site's connected racks at once, not at their next reconnect.
import { expect, it } from "vitest";
import { call, makeUser } from "./helpers";
import { connect, enrolRack } from "./tunnel-helpers";

it("creating a subnet and a dynamic range pushes a new config snapshot to the site's rack", async () => {
  const admin = await makeUser("push-admin", [["admin", null]]);
  const { rackId, credential } = await enrolRack(admin, "push-site", "rack-push");
  const rack = await connect(rackId, credential);
  const first = await rack.next((m) => m.t === "config");
  expect(JSON.stringify(first.snapshot)).not.toContain("10.77.0.0/24");

  const s = await call(admin, "POST", "/subnets", { cidr: "10.77.0.0/24", site: "push-site", gateway_ip: "10.77.0.1" });
  expect(s.status, s.text).toBe(201);
  const withSubnet = await rack.next((m) => m.t === "config" && JSON.stringify(m.snapshot).includes("10.77.0.0/24"));
  expect(withSubnet.snapshot.site).toBe("push-site");

  const r = await call(admin, "POST", "/ip-ranges", { subnet_id: s.json.id, type: "dynamic", start_ip: "10.77.0.100", end_ip: "10.77.0.150" });
  expect(r.status, r.text).toBe(201);
  const withRange = await rack.next((m) => m.t === "config" && JSON.stringify(m.snapshot).includes("10.77.0.150"));
  expect(JSON.stringify(withRange.snapshot)).toContain("10.77.0.100");
  rack.ws.close(1000, "bye");
});

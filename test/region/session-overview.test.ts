// GET /overview: machine counts per site and status, limited to the caller's sites.
import { describe, expect, it } from "vitest";
import { call, makeMachine, makeUser } from "./helpers";

describe("GET /overview", () => {
  it("counts machines per site and status, and shows a site-bound user only its sites", async () => {
    const admin = await makeUser("ov-admin", [["admin", null]]);
    const hands = await makeUser("ov-hands", [["remote-hands", "ov-a"]]);
    await makeMachine({ site: "ov-a", status: 4 });
    await makeMachine({ site: "ov-a", status: 4 });
    await makeMachine({ site: "ov-a", status: 8 });
    await makeMachine({ site: "ov-b", status: 6 });
    const all = await call(admin, "GET", "/overview");
    expect(all.status).toBe(200);
    const a = all.json.sites.find((s: { site: string }) => s.site === "ov-a");
    expect(a).toMatchObject({ machines: 3, statuses: { "4": 2, "8": 1 }, racks_connected: 0, racks_disconnected: 0 });
    expect(all.json.sites.find((s: { site: string }) => s.site === "ov-b").machines).toBe(1);
    const mine = await call(hands, "GET", "/overview");
    expect(mine.json.sites.map((s: { site: string }) => s.site)).toEqual(["ov-a"]);
    expect((await call(null, "GET", "/overview")).status).toBe(401);
  });
});

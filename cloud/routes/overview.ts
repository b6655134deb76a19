// The dashboard's fleet overview: machine counts per site and status in one grouped query over
// the (site_id, status, id) index, so it stays one cheap scan at 100,000 machines.
import type { Hono } from "hono";
import { visibleSites } from "../auth/roles";
import type { AppEnv } from "../http/context";
import { def } from "../http/openapi";

export function overviewRoutes(app: Hono<AppEnv>) {
  def(app, "get", "/overview", { summary: "Machines per site and status, and racks per site (the caller's sites)", tag: "dashboard" }, async (c) => {
    const db = c.env.DB;
    const sites = visibleSites(c.get("caller"));
    const filter = sites === null ? "" : " WHERE s.id IN (SELECT value FROM json_each(?))";
    const args = sites === null ? [] : [JSON.stringify(sites)];
    const [siteRows, counts] = await db.batch([
      db.prepare(`SELECT s.id, s.name FROM sites s${filter} ORDER BY s.name`).bind(...args),
      db
        .prepare(
          `SELECT m.site_id AS site_id, m.status AS status, count(*) AS n FROM machines m JOIN sites s ON s.id = m.site_id${filter} GROUP BY m.site_id, m.status`,
        )
        .bind(...args),
    ]);
    let racks: { site_id: number; connected: number; n: number }[] = [];
    try {
      racks = (
        await db
          .prepare(
            `SELECT r.site_id, r.connected, count(*) AS n FROM racks r JOIN sites s ON s.id = r.site_id${filter ? `${filter} AND` : " WHERE"} r.revoked_at IS NULL GROUP BY r.site_id, r.connected`,
          )
          .bind(...args)
          .all<{ site_id: number; connected: number; n: number }>()
      ).results;
    } catch {
      // A region without the racks table yet: show no racks rather than fail the page.
    }
    const bySite = new Map<number, { site: string; statuses: Record<number, number>; machines: number; racks_connected: number; racks_disconnected: number }>();
    for (const s of siteRows!.results as { id: number; name: string }[])
      bySite.set(s.id, { site: s.name, statuses: {}, machines: 0, racks_connected: 0, racks_disconnected: 0 });
    for (const r of counts!.results as { site_id: number; status: number; n: number }[]) {
      const s = bySite.get(r.site_id);
      if (!s) continue;
      s.statuses[r.status] = r.n;
      s.machines += r.n;
    }
    for (const r of racks) {
      const s = bySite.get(r.site_id);
      if (s) s[r.connected ? "racks_connected" : "racks_disconnected"] += r.n;
    }
    return c.json({ sites: [...bySite.values()] });
  });
}

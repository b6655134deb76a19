import type { Hono } from "hono";
import { z } from "zod";
import { visibleSites } from "../auth/roles";
import type { AppEnv } from "../http/context";
import { def } from "../http/openapi";
import { intParam, nameSchema, readQuery, systemIdSchema } from "../http/validate";

const EventQuery = z.strictObject({
  machine: systemIdSchema.optional(),
  site: nameSchema.optional(),
  type: z
    .string()
    .max(64)
    .regex(/^[A-Za-z_.]+$/)
    .optional()
    .describe('an event type, or a prefix ending in "." (e.g. "machine.") for every type under it'),
  /** Who did it: a username, or a rack or system actor as events name them. */
  actor: z.string().min(1).max(128).optional(),
  level: z.enum(["DEBUG", "INFO", "WARNING", "ERROR", "AUDIT"]).optional(),
  /** Newest first: pass the last id you saw to get older events. */
  before: intParam(1, Number.MAX_SAFE_INTEGER).optional(),
  limit: intParam(1, 1000).default(100),
});

export function eventRoutes(app: Hono<AppEnv>) {
  def(app, "get", "/events", { summary: "The audit log, newest first (filters, paging by id)", tag: "events", query: EventQuery }, async (c) => {
    const q = readQuery(c, EventQuery);
    const where: string[] = [];
    const args: (string | number)[] = [];
    const sites = visibleSites(c.get("caller"));
    // Events of no site (users, keys) are for those who see every site.
    if (sites !== null) {
      where.push("e.site_id IN (SELECT value FROM json_each(?))");
      args.push(JSON.stringify(sites));
    }
    const add = (clause: string, v: string | number | undefined) => {
      if (v === undefined) return;
      where.push(clause);
      args.push(v);
    };
    add("e.system_id = ?", q.machine);
    add("e.site_id = (SELECT id FROM sites WHERE name = ?)", q.site);
    if (q.type?.endsWith(".")) {
      // A range rather than LIKE: no escaping, and the index on type still serves it.
      where.push("e.type >= ? AND e.type < ?");
      args.push(q.type, `${q.type.slice(0, -1)}/`);
    } else add("e.type = ?", q.type);
    add("e.actor = ?", q.actor);
    add("e.level = ?", q.level);
    add("e.id < ?", q.before);
    const { results } = await c.env.DB.prepare(
      `SELECT e.id, e.system_id, e.hostname, e.site_id, e.type, e.level, e.actor, e.from_status, e.to_status, e.description, e.created_at
       FROM events e ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY e.id DESC LIMIT ?`,
    )
      .bind(...args, q.limit + 1)
      .all<{ id: number }>();
    const more = results.length > q.limit;
    const items = more ? results.slice(0, q.limit) : results;
    return c.json({ items, next_before: more ? items[items.length - 1]!.id : null });
  });
}

// The first admin. Allowed once, while no user exists, with the bootstrap token (a Worker
// secret; `npm start` generates one for the local region and uses it on first start).
import type { Hono } from "hono";
import { z } from "zod";
import { constantTimeEqual, hashPassword } from "../auth/crypto";
import { issueKey } from "../auth/keys";
import { database } from "../db/client";
import type { AppEnv } from "../http/context";
import { ApiError, conflict } from "../http/errors";
import { def } from "../http/openapi";
import { nameSchema, readJson } from "../http/validate";
import { recordEvent } from "../lifecycle/transition";

const Bootstrap = z.strictObject({ username: nameSchema.default("admin"), password: z.string().min(12).max(256) });

export function bootstrapRoutes(app: Hono<AppEnv>) {
  def(app, "post", "/bootstrap", { summary: "Create the first admin (bootstrap token; once)", tag: "bootstrap", body: Bootstrap, status: 201 }, async (c) => {
    const token = c.env.PLINTH_BOOTSTRAP_TOKEN;
    const given = c.req.header("x-plinth-bootstrap-token") ?? "";
    if (!token || !constantTimeEqual(given, token)) throw new ApiError(401, "unauthorized", "a valid X-Plinth-Bootstrap-Token header is required");
    const b = await readJson(c, Bootstrap);
    const db = c.env.DB;
    const hash = await hashPassword(b.password);
    // Conditional insert: two racing bootstraps cannot both create an admin.
    const row = await db.prepare("INSERT INTO users (username, password_hash) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM users) RETURNING id").bind(b.username, hash).first<{ id: number }>();
    if (!row) throw conflict("the region already has users: bootstrap is done");
    await db.prepare("INSERT INTO role_bindings (user_id, role, site_id) VALUES (?, 'admin', NULL)").bind(row.id).run();
    const key = await issueKey(database(db), row.id, "bootstrap");
    await recordEvent(db, { type: "user.bootstrap", level: "AUDIT", actor: b.username, description: "first admin created" });
    return c.json({ username: b.username, api_key: key.apiKey, maas_api_key: key.maasApiKey }, 201);
  });
}

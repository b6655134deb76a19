// The first admin. Allowed once, while no admin exists, with the bootstrap token (a Worker
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
import { recordEvent } from "../domain/events";

const Bootstrap = z.strictObject({ username: nameSchema.default("admin"), password: z.string().min(12).max(256) });

export function bootstrapRoutes(app: Hono<AppEnv>) {
  def(app, "post", "/bootstrap", { summary: "Create the first admin (bootstrap token; once)", tag: "bootstrap", body: Bootstrap, status: 201 }, async (c) => {
    const token = c.env.PLINTH_BOOTSTRAP_TOKEN;
    const given = c.req.header("x-plinth-bootstrap-token") ?? "";
    if (!token || !constantTimeEqual(given, token)) throw new ApiError(401, "unauthorized", "a valid X-Plinth-Bootstrap-Token header is required");
    const b = await readJson(c, Bootstrap);
    const db = c.env.DB;
    const hash = await hashPassword(b.password);
    // Allowed while no admin of every site exists. One batch is one transaction, so two racing
    // bootstraps cannot both make an admin.
    const noAdmin = "NOT EXISTS (SELECT 1 FROM role_bindings WHERE role = 'admin' AND site_id IS NULL)";
    const [ins] = await db.batch([
      db.prepare(`INSERT INTO users (username, password_hash) SELECT ?, ? WHERE ${noAdmin} RETURNING id`).bind(b.username, hash),
      db.prepare(`INSERT INTO role_bindings (user_id, role, site_id) SELECT id, 'admin', NULL FROM users WHERE username = ? AND ${noAdmin}`).bind(b.username),
    ]);
    const row = ins?.results?.[0] as { id: number } | undefined;
    if (!row) throw conflict("the region already has an admin: bootstrap is done");
    const key = await issueKey(database(db), row.id, "bootstrap");
    await recordEvent(db, { type: "user.bootstrap", level: "AUDIT", actor: b.username, description: "first admin created" });
    return c.json({ username: b.username, api_key: key.apiKey, maas_api_key: key.maasApiKey }, 201);
  });
}

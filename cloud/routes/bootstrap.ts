// The first admin. Allowed once, while no admin exists, with the bootstrap token (a Worker
// secret; `npm start` generates one for the local region and uses it on first start).
import type { Hono } from "hono";
import { z } from "zod";
import { constantTimeEqual } from "../auth/crypto";
import { refuseBadToken } from "../auth/throttle";
import type { AppEnv } from "../http/context";
import { ApiError, conflict } from "../http/errors";
import { def } from "../http/openapi";
import { nameSchema, readJson } from "../http/validate";
import { bootstrapAdmin } from "../domain/users";

const Bootstrap = z.strictObject({ username: nameSchema.default("admin"), password: z.string().min(12).max(256) });

export function bootstrapRoutes(app: Hono<AppEnv>) {
  def(app, "post", "/bootstrap", { summary: "Create the first admin (bootstrap token; once)", tag: "bootstrap", body: Bootstrap, status: 201 }, async (c) => {
    const token = c.env.PLINTH_BOOTSTRAP_TOKEN;
    const given = c.req.header("x-plinth-bootstrap-token") ?? "";
    if (!token || !constantTimeEqual(given, token)) {
      const refusal = new ApiError(401, "unauthorized", "a valid X-Plinth-Bootstrap-Token header is required");
      if (given) await refuseBadToken(c, refusal);
      throw refusal;
    }
    const b = await readJson(c, Bootstrap);
    const key = await bootstrapAdmin(c.env.DB, b.username, b.password);
    if (!key) throw conflict("the region already has an admin: bootstrap is done");
    return c.json({ username: b.username, api_key: key.apiKey, maas_api_key: key.maasApiKey }, 201);
  });
}

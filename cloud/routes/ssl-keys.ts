// SSL keys per user: /users/{username}/ssl-keys, the X.509 certificates MAAS clients keep in
// MAAS (account/prefs/sslkeys/ serves the same rows).
import type { Hono } from "hono";
import { z } from "zod";
import { addSslKey, getSslKey, listSslKeys, parseCertificate, removeSslKey } from "../domain/ssl-keys";
import type { AppEnv } from "../http/context";
import { badRequest, conflict, notFound } from "../http/errors";
import { def } from "../http/openapi";
import { readJson } from "../http/validate";
import { keyOwner } from "./ssh-keys";

const KeyBody = z.strictObject({
  key: z
    .string()
    .min(1)
    .max(64 * 1024),
});

const idOf = (raw: string | undefined) => (/^\d{1,15}$/.test(raw ?? "") ? Number(raw) : -1);

export function sslKeyRoutes(app: Hono<AppEnv>) {
  def(
    app,
    "get",
    "/users/:username/ssl-keys",
    { summary: "List a user's SSL keys (PEM certificates)", tag: "users", roles: "admin, or the user" },
    async (c) => {
      const u = await keyOwner(c, "SSL keys");
      return c.json({ items: await listSslKeys(c.env.DB, u.id) });
    },
  );
  def(app, "get", "/users/:username/ssl-keys/:id", { summary: "One SSL key", tag: "users", roles: "admin, or the user" }, async (c) => {
    const u = await keyOwner(c, "SSL keys");
    const k = await getSslKey(c.env.DB, u.id, idOf(c.req.param("id")));
    if (!k) throw notFound("SSL key");
    return c.json(k);
  });
  def(
    app,
    "post",
    "/users/:username/ssl-keys",
    { summary: "Add an SSL key: one PEM certificate", tag: "users", body: KeyBody, status: 201, roles: "admin, or the user" },
    async (c) => {
      const u = await keyOwner(c, "SSL keys");
      const b = await readJson(c, KeyBody);
      const cert = await parseCertificate(b.key);
      if (!cert.ok) throw badRequest(cert.error);
      const r = await addSslKey(c.env.DB, c.get("caller").username, u, cert);
      if (r.ok) return c.json(r.key, 201);
      if (r.problem === "duplicate") throw conflict(`${u.username} has this certificate already (${cert.fingerprint})`);
      throw badRequest(`${u.username} has the most SSL keys a user may have; delete one first`);
    },
  );
  def(app, "delete", "/users/:username/ssl-keys/:id", { summary: "Delete an SSL key", tag: "users", status: 204, roles: "admin, or the user" }, async (c) => {
    const u = await keyOwner(c, "SSL keys");
    const r = await removeSslKey(c.env.DB, c.get("caller").username, u, idOf(c.req.param("id")));
    if (!r.ok) throw notFound("SSL key");
    return c.body(null, 204);
  });
}

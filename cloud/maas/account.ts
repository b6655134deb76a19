// version/, users/ (op=whoami), account/ (API tokens) and events/?op=query.
import { z } from "zod";
import { can, isGlobalAdmin, visibleSites } from "../auth/roles";
import { createApiKey, createUser, deleteUser, renameApiKey, revokeApiKey } from "../domain/users";
import type { Handler, Req } from "./table";
import { API, badRequest, boolParam, deleted, fieldError, forbidden, intParam, json, list, MaasError, parse } from "./wire";

export const VERSION = {
  capabilities: [
    "networks-management",
    "static-ipaddresses",
    "ipv6-deployment-ubuntu",
    "devices-management",
    "storage-deployment-ubuntu",
    "network-deployment-ubuntu",
    "bridging-interface-ubuntu",
    "bridging-automatic-ubuntu",
    "authenticate-api",
  ],
  version: "3.5.0",
  subversion: "plinth",
};

interface UserRow {
  id: number;
  username: string;
  email: string;
}

async function userJson(r: Req, u: UserRow) {
  const admin = await r.db.prepare("SELECT 1 FROM role_bindings WHERE user_id = ? AND role = 'admin' AND site_id IS NULL").bind(u.id).first();
  return { username: u.username, email: u.email, is_local: true, is_superuser: !!admin, resource_uri: `${API}/users/${encodeURIComponent(u.username)}/` };
}

const userHandlers: Handler[] = [
  {
    name: "UsersHandler",
    doc: "Manage the user accounts of this MAAS.",
    path: "users/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "List users.",
        run: async (r) => {
          if (!can(r.caller, "user.manage", null)) throw forbidden();
          const { results } = await r.db.prepare("SELECT id, username, email FROM users ORDER BY username").all<UserRow>();
          return json(await Promise.all(results.map((u) => userJson(r, u))));
        },
      },
      {
        method: "POST",
        op: null,
        doc: "Create a user. A superuser is admin on every site; any other user is operator on every site, as a MAAS user may allocate and deploy anywhere.",
        params: ["username", "email", "password", "is_superuser"],
        run: async (r) => {
          if (!can(r.caller, "user.manage", null)) throw forbidden();
          const b = parse(NewUserForm, r.p);
          if (await r.db.prepare("SELECT 1 FROM users WHERE username = ?").bind(b.username).first()) {
            throw fieldError("username", "A user with that username already exists.");
          }
          const u = await createUser(r.db, r.caller.username, {
            username: b.username,
            email: b.email,
            password: b.password,
            bindings: [{ role: b.is_superuser ? "admin" : "operator", siteId: null }],
          });
          return json(await userJson(r, u));
        },
      },
      {
        method: "GET",
        op: "whoami",
        doc: "Returns the currently logged in user.",
        run: async (r) => {
          const u = (await r.db.prepare("SELECT id, username, email FROM users WHERE id = ?").bind(r.caller.userId).first<UserRow>())!;
          return json({ ...(await userJson(r, u)), is_superuser: isGlobalAdmin(r.caller) });
        },
      },
    ],
  },
  {
    name: "UserHandler",
    doc: "Manage a user account.",
    path: "users/{username}/",
    actions: [
      {
        method: "GET",
        op: null,
        doc: "Retrieve a user's details.",
        run: async (r) => {
          const name = r.path["username"] ?? "";
          if (name !== r.caller.username && !can(r.caller, "user.manage", null)) throw forbidden();
          const u = await r.db.prepare("SELECT id, username, email FROM users WHERE username = ?").bind(name).first<UserRow>();
          if (!u) throw new MaasError(404, "No User matches the given query.");
          return json(await userJson(r, u));
        },
      },
      {
        method: "DELETE",
        op: null,
        doc: "Delete a user. One who owns machines is kept unless transfer_resources_to names who takes them.",
        params: ["transfer_resources_to"],
        run: async (r) => {
          if (!can(r.caller, "user.manage", null)) throw forbidden();
          const name = r.path["username"] ?? "";
          if (name === r.caller.username) throw badRequest("An administrator cannot delete their own account.");
          const byName = (n: string) => r.db.prepare("SELECT id, username, email FROM users WHERE username = ?").bind(n).first<UserRow>();
          const u = await byName(name);
          if (!u) throw new MaasError(404, "No User matches the given query.");
          const toName = r.p.get("transfer_resources_to");
          const to = toName ? await byName(toName) : undefined;
          if (to === null) throw fieldError("transfer_resources_to", `There is no user named ${toName!.slice(0, 64)}.`);
          if (to && to.id === u.id) throw fieldError("transfer_resources_to", "A user cannot take over their own resources.");
          const res = await deleteUser(r.db, r.caller.username, u, to);
          if (res.ok) return deleted();
          if (res.problem === "owns") {
            throw badRequest(
              `User ${u.username} cannot be deleted: it owns ${res.machines} machine(s). Release them, or name who takes them with transfer_resources_to.`,
            );
          }
          throw new MaasError(404, "No User matches the given query.");
        },
      },
    ],
  },
];

const NewUserForm = z.object({
  username: z
    .string({ error: "This field is required." })
    .min(1, "This field is required.")
    .max(64, "Ensure this value has at most 64 characters.")
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "Enter a valid username: letters, digits and . _ - only."),
  email: z.email("Enter a valid email address.").max(254).or(z.literal("")).default(""),
  password: z.string({ error: "This field is required." }).min(8, "This password is too short. It must contain at least 8 characters.").max(256),
  is_superuser: boolParam.default(false),
});

const accountHandler: Handler = {
  name: "AccountHandler",
  doc: "Manage the current logged-in user.",
  path: "account/",
  actions: [
    {
      method: "POST",
      op: "create_authorisation_token",
      doc: "Create an authorisation OAuth token and OAuth consumer (a Plinth API key: native and MAAS forms).",
      params: ["name"],
      run: async (r) => {
        const name = (r.p.get("name") ?? "").slice(0, 64);
        const k = await createApiKey(r.db, r.caller.username, { id: r.caller.userId, username: r.caller.username }, name, "maas");
        const [consumer, token, secret] = k.maasApiKey.split(":") as [string, string, string];
        return json({ token_key: token, token_secret: secret, consumer_key: consumer, name });
      },
    },
    {
      method: "GET",
      op: "list_authorisation_tokens",
      doc: "List authorisation tokens. Secrets are only shown when a token is made, so they are not listed.",
      run: async (r) => {
        const { results } = await r.db
          .prepare("SELECT name, maas_consumer_key AS ck, maas_token_key AS tk FROM api_keys WHERE user_id = ? AND revoked_at IS NULL ORDER BY id")
          .bind(r.caller.userId)
          .all<{ name: string; ck: string; tk: string }>();
        return json(results.map((k) => ({ name: k.name, token: `${k.ck}:${k.tk}` })));
      },
    },
    {
      method: "POST",
      op: "update_token_name",
      doc: "Rename an authorisation token (token: the whole consumer:token:secret or the token key).",
      params: ["token", "name"],
      run: async (r) => {
        const token = r.p.get("token");
        const name = r.p.get("name");
        if (!token) throw fieldError("token", "This field is required.");
        if (name === undefined) throw fieldError("name", "This field is required.");
        if (name.length > 64) throw fieldError("name", "Ensure this value has at most 64 characters.");
        const parts = token.split(":");
        const key = parts.length === 3 ? parts[1]! : token;
        const owner = { id: r.caller.userId, username: r.caller.username };
        if (!(await renameApiKey(r.db, r.caller.username, owner, key, name))) throw new MaasError(404, "No Token matches the given query.");
        return new Response("Accepted", { status: 202, headers: { "content-type": "text/plain; charset=utf-8" } });
      },
    },
    {
      method: "POST",
      op: "delete_authorisation_token",
      doc: "Delete an authorisation token (revokes the native key issued with it too).",
      params: ["token_key"],
      run: async (r) => {
        const tk = r.p.get("token_key");
        if (!tk) throw fieldError("token_key", "This field is required.");
        const owner = { id: r.caller.userId, username: r.caller.username };
        if (!(await revokeApiKey(r.db, r.caller.username, owner, { maasTokenKey: tk }, "maas"))) throw new MaasError(404, "No Token matches the given query.");
        return new Response(null, { status: 204 });
      },
    },
  ],
};

const LEVELS: Record<string, number> = { DEBUG: 10, INFO: 20, AUDIT: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 };

const EventQuery = z.object({
  hostname: list(z.string().max(255)).optional(),
  id: list(z.string().max(64)).optional(),
  mac_address: list(z.string().max(32)).optional(),
  zone: z.string().max(255).optional(),
  level: z
    .string()
    .transform((s) => s.toUpperCase())
    .pipe(z.enum(["DEBUG", "INFO", "AUDIT", "WARNING", "ERROR", "CRITICAL"], { message: "Select a valid choice." }))
    .default("INFO"),
  limit: intParam(1, 1000).default(100),
  before: intParam(0, Number.MAX_SAFE_INTEGER).optional(),
  after: intParam(0, Number.MAX_SAFE_INTEGER).optional(),
  owner: z.string().max(255).optional(),
});

function maasTime(ms: number): string {
  const d = new Date(ms);
  const day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][d.getUTCDay()];
  const mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][d.getUTCMonth()];
  const p = (n: number) => String(n).padStart(2, "0");
  return `${day}, ${p(d.getUTCDate())} ${mon}. ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

async function queryEvents(r: Req): Promise<Response> {
  const q = parse(EventQuery, r.p, ["hostname", "id", "mac_address"]);
  if (!can(r.caller, "event.read", null) && !r.caller.bindings.some((b) => can(r.caller, "event.read", b.siteId))) throw forbidden();
  const where: string[] = ["e.system_id IS NOT NULL"];
  const args: (string | number)[] = [];
  const add = (clause: string, v: string | number) => {
    where.push(clause);
    args.push(v);
  };
  const sites = visibleSites(r.caller);
  if (sites !== null) add("e.site_id IN (SELECT value FROM json_each(?))", JSON.stringify(sites));
  if (q.hostname) add("e.hostname IN (SELECT value FROM json_each(?))", JSON.stringify(q.hostname));
  if (q.id) add("e.system_id IN (SELECT value FROM json_each(?))", JSON.stringify(q.id));
  if (q.mac_address)
    add(
      "e.machine_id IN (SELECT machine_id FROM interfaces WHERE mac IN (SELECT value FROM json_each(?)))",
      JSON.stringify(q.mac_address.map((m) => m.toLowerCase())),
    );
  if (q.zone) add("e.machine_id IN (SELECT m.id FROM machines m JOIN zones z ON z.id = m.zone_id WHERE z.name = ?)", q.zone);
  if (q.owner) add("e.machine_id IN (SELECT m.id FROM machines m JOIN users u ON u.id = m.owner_id WHERE u.username = ?)", q.owner);
  const levels = Object.entries(LEVELS)
    .filter(([, n]) => n >= LEVELS[q.level]!)
    .map(([l]) => l);
  add("e.level IN (SELECT value FROM json_each(?))", JSON.stringify(levels));
  if (q.before !== undefined) add("e.id < ?", q.before);
  if (q.after !== undefined) add("e.id > ?", q.after);
  // "after" pages forward (oldest first), otherwise newest first, as MAAS does.
  const { results } = await r.db
    .prepare(
      `SELECT e.id, e.system_id, e.hostname, e.type, e.level, e.actor, e.description, e.created_at FROM events e WHERE ${where.join(" AND ")} ORDER BY e.id ${q.after !== undefined ? "ASC" : "DESC"} LIMIT ?`,
    )
    .bind(...args, q.limit)
    .all<{ id: number; system_id: string; hostname: string | null; type: string; level: string; actor: string; description: string; created_at: number }>();
  const events = results.map((e) => ({
    username: e.actor,
    node: e.system_id,
    hostname: e.hostname,
    id: e.id,
    level: e.level,
    created: maasTime(e.created_at),
    type: e.type,
    description: e.description,
  }));
  if (q.after !== undefined) events.reverse();
  const base = `${API}/events/?op=query&limit=${q.limit}`;
  return json({
    count: events.length,
    events,
    next_uri: events.length ? `${base}&after=${events[0]!.id}` : `${base}&after=${q.after ?? 0}`,
    prev_uri: events.length ? `${base}&before=${events[events.length - 1]!.id}` : `${base}&before=${q.before ?? 0}`,
  });
}

export const accountHandlers: Handler[] = [
  {
    name: "VersionHandler",
    doc: "Information about this MAAS instance.",
    path: "version/",
    actions: [{ method: "GET", op: null, anon: true, doc: "Version and capabilities of this MAAS instance.", run: async () => json(VERSION) }],
  },
  ...userHandlers,
  accountHandler,
  {
    name: "EventsHandler",
    doc: "Retrieve filtered node events.",
    path: "events/",
    actions: [
      {
        method: "GET",
        op: "query",
        doc: "List node events, optionally filtered.",
        params: ["hostname", "mac_address", "id", "zone", "level", "limit", "before", "after", "owner"],
        run: queryEvents,
      },
    ],
  },
];

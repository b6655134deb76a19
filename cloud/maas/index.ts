// The MAAS 2.0 facade, mounted at /MAAS: existing MAAS clients (maas CLI, python-libmaas,
// Juju's gomaasapi, Terraform's gomaasclient) talk to Plinth's data and lifecycle unchanged.
import { Hono } from "hono";
import type { Caller } from "../auth/roles";
import { checkPassword, clientAddress } from "../auth/session";
import { badToken } from "../auth/throttle";
import { database } from "../db/client";
import type { AppEnv, Ctx } from "../http/context";
import { createApiKey, forgiveLoginFailures, loginBlockedFor, recordLoginFailure } from "../domain/users";
import { accountHandlers } from "./account";
import { machinesOps } from "./allocate";
import { bootSourceHandlers } from "./boot-sources";
import { catalogHandlers } from "./catalog";
import { controllerHandlers } from "./controllers";
import { deviceHandlers } from "./devices";
import { fileHandlers } from "./files";
import { machineOps } from "./machine-ops";
import { machineHandler, machinesHandler } from "./machines";
import { networkHandlers } from "./networks";
import { miscHandlers } from "./misc";
import { nodeHandlers } from "./nodes";
import { notificationHandlers } from "./notifications";
import { packageRepoHandlers } from "./package-repos";
import { prefsHandlers } from "./prefs";
import { serverHandlers } from "./server";
import { storageHandlers } from "./storage";
import { authenticate } from "./oauth";
import { apiHash, type Method, RouteTable } from "./table";
import { API, errorResponse, MaasError, readBody, requestParams } from "./wire";

export const table = new RouteTable();
table.add(
  { ...machinesHandler, actions: [...machinesHandler.actions, ...machinesOps] },
  { ...machineHandler, actions: [...machineHandler.actions, ...machineOps] },
  ...nodeHandlers,
  ...storageHandlers,
  ...catalogHandlers,
  ...networkHandlers,
  ...accountHandlers,
  ...fileHandlers,
  ...prefsHandlers,
  ...serverHandlers,
  ...controllerHandlers,
  ...notificationHandlers,
  ...packageRepoHandlers,
  ...bootSourceHandlers,
  ...miscHandlers,
  ...deviceHandlers,
);

/** Who an anonymous request acts as: no role anywhere, so every permission check refuses. */
const ANONYMOUS: Caller = { userId: 0, username: "anonymous", bindings: [], via: "anonymous" };

const text = (body: string, status = 200) => new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });

export const maas = new Hono<AppEnv>();

maas.get("/api/version", () => text("2.0"));
maas.get("/api/version/", () => text("2.0"));
maas.all("/api/1.0/*", () => text("The 1.0 API is no longer available. Please use API version 2.0.", 410));

const tooManyAttempts = (wait: number, what: string) =>
  new MaasError(429, `Too many failed ${what} from this address: try again in ${Math.ceil(wait / 60)} minute(s).`, { "retry-after": String(wait) });

/** python-libmaas's login: username and password in, a new API key triplet out. */
async function authenticateRoute(c: Ctx): Promise<Response> {
  try {
    const p = await readBody(c.req.raw);
    const username = (p.get("username") ?? "").slice(0, 64);
    const password = p.get("password") ?? "";
    // The dashboard's sign-in limits (per username, per address), counted together with it.
    const addr = clientAddress(c);
    const wait = await loginBlockedFor(c.env.DB, username, addr);
    if (wait > 0) throw tooManyAttempts(wait, "sign-ins");
    const u = await checkPassword(c.env.DB, username, password);
    if (!u) {
      await recordLoginFailure(c.env.DB, username, addr);
      throw new MaasError(401, "Username or password is incorrect.");
    }
    await forgiveLoginFailures(c.env.DB, u.username);
    const name = (p.get("consumer") ?? "MAAS API login").slice(0, 64);
    const k = await createApiKey(c.env.DB, u.username, u, name, "maas-login");
    const [consumer, token, secret] = k.maasApiKey.split(":") as [string, string, string];
    return Response.json({ consumer_key: consumer, token_key: token, token_secret: secret, name });
  } catch (e) {
    return errorResponse(e);
  }
}
maas.post("/accounts/authenticate", authenticateRoute);
maas.post("/accounts/authenticate/", authenticateRoute);

const METHODS = new Set<string>(["GET", "POST", "PUT", "DELETE"]);

async function dispatch(c: Ctx): Promise<Response> {
  const url = new URL(c.req.url);
  let rest = url.pathname.slice(API.length).replace(/^\/+/, "");
  if (!rest.endsWith("/")) rest += "/";
  // MAAS 3.8 also takes the op as a last path segment: machines/abc123/op-deploy
  let pathOp: string | null = null;
  const opSeg = /^(.*\/)?op-([A-Za-z_]+)\/$/.exec(rest);
  // Only when the handler has that op: a file may well be named "model/op-state".
  if (opSeg && table.match(opSeg[1] ?? "")?.handler.actions.some((a) => a.op === opSeg[2])) {
    rest = opSeg[1] ?? "";
    pathOp = opSeg[2]!;
  }
  const method = c.req.method === "HEAD" ? "GET" : c.req.method;
  if (rest === "describe/" && method === "GET") {
    const hash = await apiHash(table);
    const body = JSON.stringify({ ...table.describe(`${url.protocol}//${url.host}`), hash });
    // The maas CLI compares this header literally: no charset.
    return new Response(body, { headers: { "content-type": "application/json", "x-maas-api-hash": hash } });
  }
  const found = table.match(rest);
  if (!found) throw new MaasError(404, `Unknown API endpoint: ${url.pathname}.`);
  if (!METHODS.has(method)) throw new MaasError(405, "Method not allowed.", { allow: "GET, POST, PUT, DELETE" });
  // A handler's larger limit (file uploads) only for requests that carry credentials: an
  // anonymous caller cannot upload, and should not make the Worker buffer megabytes first.
  const signed = !!c.req.header("authorization") || url.searchParams.has("oauth_token");
  const body = await readBody(c.req.raw, signed ? found.handler.maxBody : undefined);
  const p = requestParams(url, body, method);
  const op = pathOp ?? (url.searchParams.get("op") || body.get("op") || null);
  const action = RouteTable.action(found.handler, method as Method, op);
  if (action === "method") {
    const allowed = [...new Set(found.handler.actions.map((a) => a.method))].join(", ");
    throw new MaasError(405, "Method not allowed.", { allow: allowed });
  }
  if (!action) throw new MaasError(400, `Unrecognised signature: method=${method} op=${op ?? "None"}`);
  const db = database(c.env.DB);
  let caller: Caller | null;
  try {
    caller = await authenticate(db, c.req.header("authorization"), p);
  } catch (e) {
    // An anonymous action is served whatever credentials came with it, as MAAS does.
    if (!action.anon) {
      // A wrong key counts against the address (a malformed timestamp is a 400, not a guess).
      const wait = e instanceof MaasError && e.status === 401 ? await badToken(c) : 0;
      throw wait > 0 ? tooManyAttempts(wait, "authentications") : e;
    }
    caller = null;
  }
  if (!caller && !action.anon) {
    throw new MaasError(401, "Authorization Error: Invalid API key.", { "www-authenticate": 'OAuth realm="MAAS API"' });
  }
  c.set("db", db);
  c.set("caller", caller ?? ANONYMOUS);
  return action.run({ c, db: c.env.DB, caller: caller ?? ANONYMOUS, anonymous: !caller, p, path: found.path, url });
}

async function withHash(res: Response): Promise<Response> {
  const out = new Response(res.body, res);
  out.headers.set("x-maas-api-hash", await apiHash(table));
  return out;
}

maas.all("/api/2.0", async (c) => withHash(await dispatch(c).catch(errorResponse)));
maas.all("/api/2.0/*", async (c) => withHash(await dispatch(c).catch(errorResponse)));
maas.all("*", (c) => text(`Unknown MAAS endpoint: ${new URL(c.req.url).pathname}.`, 404));

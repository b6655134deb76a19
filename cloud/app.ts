// The region's HTTP surface: /api/v1 (native JSON). Each resource mounts its own routes.
import { Hono } from "hono";
import { requireCaller } from "./auth/middleware";
import { database } from "./db/client";
import type { AppEnv } from "./http/context";
import { ApiError, errorBody, onError } from "./http/errors";
import { allowedMethods, openApiDocument } from "./http/openapi";
import { MAX_BODY_BYTES } from "./http/validate";
import { actionRoutes } from "./machines/actions";
import { powerRoutes } from "./machines/power";
import { machineRoutes } from "./machines/routes";
import { machineInterfaceRoutes } from "./routes/machine-interfaces";
import { machineStorageRoutes } from "./routes/machine-storage";
import { maas } from "./maas";
import { bootSourceRoutes } from "./routes/boot-sources";
import { bootstrapRoutes } from "./routes/bootstrap";
import { eventRoutes } from "./routes/events";
import { imageRoutes, rackImageRoutes } from "./routes/images";
import { imageSyncRoutes } from "./routes/image-sync";
import { namedRoutes } from "./routes/named";
import { ipAddressRoutes } from "./routes/ip-addresses";
import { dnsRoutes } from "./routes/dns";
import { networkRoutes } from "./routes/networks";
import { rackOpenRoutes, rackRoutes } from "./routes/racks";
import { overviewRoutes } from "./routes/overview";
import { sessionRoutes } from "./routes/session";
import { streamRoutes } from "./routes/stream";
import { tagRoutes } from "./routes/tags";
import { settingRoutes } from "./routes/settings";
import { sshKeyRoutes } from "./routes/ssh-keys";
import { sslKeyRoutes } from "./routes/ssl-keys";
import { userRoutes } from "./routes/users";

const open = new Hono<AppEnv>();
open.get("/health", (c) => c.json({ ok: true }));
open.get("/openapi.json", (c) => c.json(openApiDocument()));
bootstrapRoutes(open);
rackOpenRoutes(open);
rackImageRoutes(open);
sessionRoutes(open);

const api = new Hono<AppEnv>();
api.use("*", requireCaller);
machineRoutes(api);
machineInterfaceRoutes(api);
machineStorageRoutes(api);
actionRoutes(api);
powerRoutes(api);
namedRoutes(api);
tagRoutes(api);
networkRoutes(api);
dnsRoutes(api);
ipAddressRoutes(api);
userRoutes(api);
sshKeyRoutes(api);
sslKeyRoutes(api);
settingRoutes(api);
eventRoutes(api);
rackRoutes(api);
streamRoutes(api);
overviewRoutes(api);
imageRoutes(api);
imageSyncRoutes(api);
bootSourceRoutes(api);
api.post("/machines/:id/:action", (c) => {
  throw new ApiError(400, "unknown_action", `unknown machine action "${c.req.param("action")}"`);
});

export const app = new Hono<AppEnv>();
app.onError(onError);
app.notFound((c) => {
  const path = new URL(c.req.url).pathname;
  const allow = path.startsWith("/api/v1/") ? allowedMethods(path.slice("/api/v1".length)) : [];
  if (allow.length > 0)
    return c.json(errorBody("method_not_allowed", `${c.req.method} is not allowed on ${path} (allowed: ${allow.join(", ")})`), 405, {
      allow: allow.join(", "),
    });
  return c.json(errorBody("not_found", `no route for ${c.req.method} ${path}`), 404);
});
// Refuse oversized bodies before reading them (a streamed body without a length is
// checked again as it is read, in readJson).
// Image uploads stream to R2 and carry their own limit (cloud/routes/images.ts).
const STREAMED_UPLOAD = /^\/api\/v1\/boot-images\/\d+\/content$/;
app.use("/api/*", async (c, next) => {
  const len = Number(c.req.header("content-length") ?? "0");
  if (len > MAX_BODY_BYTES && !(c.req.method === "PUT" && STREAMED_UPLOAD.test(new URL(c.req.url).pathname)))
    throw new ApiError(413, "payload_too_large", `request body over ${MAX_BODY_BYTES} bytes`);
  c.set("db", database(c.env.DB));
  await next();
});
app.route("/api/v1", open);
app.route("/api/v1", api);
app.route("/MAAS", maas);

// The OpenAPI 3.1 document is generated from the same zod schemas the routes validate with:
// each route is declared once through `def`, which both mounts it and records it here.
import type { Hono } from "hono";
import { z } from "zod";
import type { AppEnv, Ctx } from "./context";

type Method = "get" | "post" | "put" | "patch" | "delete";

export interface RouteMeta {
  summary: string;
  tag: string;
  body?: z.ZodType;
  query?: z.ZodType;
  /** Who may call it, for the reader (enforced in the handler). */
  roles?: string;
  status?: number;
}

const registry: { method: Method; path: string; meta: RouteMeta }[] = [];

export function def(app: Hono<AppEnv>, method: Method, path: string, meta: RouteMeta, handler: (c: Ctx) => Promise<Response> | Response): void {
  registry.push({ method, path, meta });
  app.on(method.toUpperCase(), path, handler);
}

const ERROR = {
  description: "Error",
  content: {
    "application/json": {
      schema: {
        type: "object",
        properties: {
          error: { type: "object", properties: { code: { type: "string" }, message: { type: "string" }, details: {} }, required: ["code", "message"] },
        },
      },
    },
  },
};

function jsonSchema(s: z.ZodType, io: "input" | "output" = "input") {
  return z.toJSONSchema(s, { io, unrepresentable: "any" });
}

/**
 * The methods registered for a path of /api/v1 (none when no route has that shape): a request
 * with another method is answered 405 with these in Allow, not a 404 that hides the route.
 */
export function allowedMethods(path: string): string[] {
  const found = new Set<string>();
  for (const r of registry) {
    const re = new RegExp(`^${r.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:[A-Za-z][A-Za-z0-9_]*/g, "[^/]+")}/?$`);
    if (re.test(path)) found.add(r.method.toUpperCase());
  }
  if (found.has("GET")) found.add("HEAD");
  return [...found].sort();
}

export function openApiDocument(prefix = "/api/v1") {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const { method, path, meta } of registry) {
    const oaPath = prefix + path.replace(/:([A-Za-z][A-Za-z0-9_]*)/g, "{$1}");
    const params = [...path.matchAll(/:([A-Za-z][A-Za-z0-9_]*)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    if (meta.query) {
      const qs = jsonSchema(meta.query) as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(qs.properties ?? {})) {
        params.push({ name, in: "query", required: (qs.required ?? []).includes(name), schema: schema as { type: string } });
      }
    }
    paths[oaPath] ??= {};
    paths[oaPath][method] = {
      summary: meta.summary,
      tags: [meta.tag],
      ...(meta.roles ? { description: `Roles: ${meta.roles}` } : {}),
      parameters: params,
      ...(meta.body ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(meta.body) } } } } : {}),
      responses: { [String(meta.status ?? 200)]: { description: "OK" }, "4XX": ERROR },
      security: path === "/health" || path === "/bootstrap" ? [] : [{ bearer: [] }],
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "Plinth region API", version: "1" },
    servers: [{ url: "/" }],
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "plk_<id>_<secret> API key" } } },
    paths,
  };
}

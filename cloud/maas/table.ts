// The facade's route table. Each handler declares its path template and its actions keyed by
// (method, op); the dispatcher and describe/ are both derived from it, so what the CLI learns
// from describe/ is exactly what the dispatcher serves.
import type { Caller } from "../auth/roles";
import type { Ctx } from "../http/context";
import { API, type BodyLimit, MaasError, type Params } from "./wire";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface Req {
  c: Ctx;
  db: D1Database;
  /** The signed-in caller; for anonymous actions a caller with no role anywhere. */
  caller: Caller;
  anonymous: boolean;
  p: Params;
  /** Path parameters, URL-decoded. */
  path: Record<string, string>;
  url: URL;
}

export interface Action {
  method: Method;
  /** null: the plain CRUD action of the method. */
  op: string | null;
  doc: string;
  /** Documented as `:param name:` lines: the maas CLI accepts key=value only for those. */
  params?: string[];
  anon?: boolean;
  run: (r: Req) => Promise<Response>;
}

export interface Handler {
  name: string;
  doc: string;
  /** Template under /MAAS/api/2.0/, e.g. "machines/{system_id}/"; "{id...}" may contain '/'. */
  path: string;
  /** Other templates served by the same handler (not in describe/). */
  aliases?: string[];
  /** Bodies past this are refused with 413 before any action runs (default: the API's limit). */
  maxBody?: BodyLimit;
  actions: Action[];
}

const CRUD: Record<Method, string> = { GET: "read", POST: "create", PUT: "update", DELETE: "delete" };

interface Compiled {
  handler: Handler;
  re: RegExp;
  names: string[];
}

export class RouteTable {
  readonly handlers: Handler[] = [];
  private compiled: Compiled[] = [];

  add(...hs: Handler[]) {
    for (const h of hs) {
      this.handlers.push(h);
      for (const t of [h.path, ...(h.aliases ?? [])]) {
        const names: string[] = [];
        const re = t.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)(\\\.\\\.\\\.)?\}/g, (_m, n: string, rest?: string) => {
          names.push(n);
          return rest ? "(.+?)" : "([^/]+)";
        });
        this.compiled.push({ handler: h, re: new RegExp(`^${re}$`), names });
      }
    }
    // Literal paths before templates, so "machines/" never reads as "{system_id}".
    this.compiled.sort((a, b) => a.names.length - b.names.length);
  }

  /** `rest` is the path after /MAAS/api/2.0/, with a trailing slash. */
  match(rest: string): { handler: Handler; path: Record<string, string> } | null {
    for (const c of this.compiled) {
      const m = c.re.exec(rest);
      if (!m) continue;
      const path: Record<string, string> = {};
      try {
        for (const [i, n] of c.names.entries()) path[n] = decodeURIComponent(m[i + 1]!);
      } catch {
        throw new MaasError(400, "Malformed percent-encoding in the path.");
      }
      return { handler: c.handler, path };
    }
    return null;
  }

  static action(h: Handler, method: Method, op: string | null): Action | "method" | null {
    const a = h.actions.find((x) => x.method === method && x.op === op);
    if (a) return a;
    return h.actions.some((x) => x.method === method) ? null : "method";
  }

  private describeHandler(h: Handler, actions: Action[], origin: string) {
    const path = `${API}/${h.path.replace(/\.\.\.\}/g, "}")}`;
    return {
      name: h.name,
      doc: h.doc,
      params: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
      path,
      uri: `${origin}${path}`,
      actions: actions
        .map((a) => ({
          name: a.op ?? CRUD[a.method],
          method: a.method,
          op: a.op,
          restful: a.op === null,
          doc: a.params?.length ? `${a.doc}\n\n${a.params.map((p) => `:param ${p}: ${p.replaceAll("_", " ")}.`).join("\n")}` : a.doc,
        }))
        .sort((x, y) => x.name.localeCompare(y.name)),
    };
  }

  /** describe/: resources sorted by name; anon and auth handlers both listed under "handlers". */
  describe(origin: string) {
    const resources = this.handlers
      .map((h) => {
        const anon = h.actions.filter((a) => a.anon);
        return {
          name: h.name,
          anon: anon.length ? this.describeHandler(h, anon, origin) : null,
          auth: this.describeHandler(h, h.actions, origin),
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
    return {
      doc: "MAAS API",
      resources,
      handlers: [...resources.flatMap((r) => (r.anon ? [r.anon] : [])), ...resources.map((r) => r.auth)],
    };
  }
}

let hash: Promise<string> | null = null;

/** SHA-1 of the description without its host-specific uris, as MAAS's X-MAAS-API-Hash. */
export function apiHash(table: RouteTable): Promise<string> {
  hash ??= (async () => {
    const d = table.describe("");
    const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(JSON.stringify(d)));
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  })();
  return hash;
}

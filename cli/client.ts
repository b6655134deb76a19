// The typed client: every call names an operation of the generated Operations type
// ("POST /machines/{id}/deploy"), so paths, query keys and bodies are checked against the
// region's own schemas at compile time, and there are no hand-written URLs.
import type { OperationId, Operations } from "./openapi.gen";

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code = "error",
    readonly details: unknown = null,
  ) {
    super(message);
  }
}

/** Exit codes, documented in `plinth --help` and docs/cli.md. */
export const EXIT = { ok: 0, error: 1, usage: 2, auth: 3, notFound: 4, conflict: 5, unreachable: 6, failed: 7, timeout: 8 } as const;

type Args<K extends OperationId> = (Operations[K]["path"] extends never ? { path?: undefined } : { path: Operations[K]["path"] }) &
  (Operations[K]["query"] extends never ? { query?: undefined } : { query?: Operations[K]["query"] }) &
  (Operations[K]["body"] extends never ? { body?: undefined } : { body: Operations[K]["body"] });

export interface Profile {
  url: string;
  apiKey: string;
}

export class Client {
  constructor(readonly profile: Profile) {}

  /**
   * Requests are typed by the generated operations; responses are JSON the caller narrows,
   * because the OpenAPI document describes inputs (zod schemas) but not yet response bodies.
   */
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are not in the OpenAPI document
  async call<K extends OperationId>(op: K, args: Args<K> = {} as Args<K>): Promise<any> {
    const [method, template] = op.split(" ") as [string, string];
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) =>
      encodeURIComponent(String((args.path as Record<string, string> | undefined)?.[name] ?? "")),
    );
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries((args.query ?? {}) as Record<string, unknown>)) {
      if (v === undefined || v === "") continue;
      for (const x of Array.isArray(v) ? v : [v]) q.append(k, String(x));
    }
    const url = `${this.profile.url.replace(/\/$/, "")}/api/v1${path}${q.size ? `?${q}` : ""}`;
    let r: Response;
    try {
      r = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.profile.apiKey}`,
          accept: "application/json",
          ...(args.body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: args.body === undefined ? undefined : JSON.stringify(args.body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (e) {
      const c = (e as { cause?: { code?: string; message?: string } }).cause;
      const cause = (e as Error).name === "TimeoutError" ? "no answer in 30 s" : (c?.code ?? c?.message ?? (e as Error).message);
      throw new CliError(`cannot reach the region at ${this.profile.url} (${cause})`, EXIT.unreachable, "unreachable");
    }
    return this.answer(r);
  }

  /**
   * Streams a body to a PUT endpoint that takes raw bytes (image content): no 30 s limit, since
   * a large image takes minutes; the region checks the stated sha256 as the bytes land.
   */
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are not in the OpenAPI document
  async upload(path: string, body: ReadableStream, length: number, sha256: string): Promise<any> {
    const url = `${this.profile.url.replace(/\/$/, "")}/api/v1${path}`;
    let r: Response;
    try {
      r = await fetch(url, {
        method: "PUT",
        headers: {
          authorization: `Bearer ${this.profile.apiKey}`,
          accept: "application/json",
          "content-type": "application/octet-stream",
          "content-length": String(length),
          "x-content-sha256": sha256,
        },
        body,
        duplex: "half",
      } as RequestInit);
    } catch (e) {
      const c = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(`cannot reach the region at ${this.profile.url} (${c?.code ?? c?.message ?? (e as Error).message})`, EXIT.unreachable, "unreachable");
    }
    return this.answer(r);
  }

  private async answer(r: Response): Promise<unknown> {
    if (r.status === 204) return undefined;
    const text = await r.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      throw new CliError(
        `the region answered HTTP ${r.status} with something that is not JSON (is ${this.profile.url} a Plinth region?)`,
        EXIT.error,
        "bad_response",
      );
    }
    if (!r.ok) {
      const e = (json as { error?: { code: string; message: string; details?: unknown } })?.error;
      const code = e?.code ?? "http_error";
      const msg = e?.message ?? `HTTP ${r.status}`;
      const exit =
        r.status === 401 || r.status === 403
          ? EXIT.auth
          : r.status === 404
            ? EXIT.notFound
            : r.status === 409
              ? EXIT.conflict
              : r.status === 400 || r.status === 422
                ? EXIT.usage
                : EXIT.error;
      // A refused machine action names what the machine allows now (transition.ts: allowed_actions).
      const d = e?.details as { allowed_actions?: string[] } | Array<{ path: string; message: string }> | null | undefined;
      const extra = Array.isArray(d)
        ? `: ${d.map((x) => `${x.path || "value"} ${x.message}`).join("; ")}`
        : Array.isArray(d?.allowed_actions)
          ? ` (allowed now: ${d.allowed_actions.join(", ") || "none"})`
          : "";
      throw new CliError(`${msg}${extra}`, exit, code, e?.details ?? null);
    }
    return json;
  }
}

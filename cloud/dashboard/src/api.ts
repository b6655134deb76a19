// The dashboard's one way to the region: same-origin fetch with the session cookie, the CSRF
// token on unsafe methods, and every failure turned into words an operator understands.

export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: unknown = null,
  ) {
    super(message);
  }
}

let csrfToken = "";
let onSessionEnded: (why: string) => void = () => {};

export function setCsrfToken(t: string) {
  csrfToken = t;
}
export function whenSessionEnds(f: (why: string) => void) {
  onSessionEnded = f;
}

/** Plain words for the codes the API answers with; the API's own message is kept as detail. */
export function explain(p: unknown): string {
  if (!(p instanceof ApiProblem)) return `Something went wrong in the page: ${String((p as Error)?.message ?? p)}`;
  switch (p.code) {
    case "network":
      return "Cannot reach the region. Check that it is running and your network is up; the page retries on its own.";
    case "bad_credentials":
      return "Wrong username or password.";
    case "too_many_attempts":
      return `Too many failed sign-ins. ${p.message.replace(/^too many failed sign-ins: /, "").replace(/^./, (c) => c.toUpperCase())}.`;
    case "session_expired":
      return "Your session has ended. Sign in again to continue.";
    case "forbidden":
      return `Your role does not allow this. (${p.message})`;
    case "csrf":
      return "The page is out of date with your session. Reload the page and try again.";
    case "not_found":
      return `Not found: ${p.message}. It may have been deleted, or it is on a site you cannot see.`;
    case "conflict":
    case "illegal_action": {
      const d = p.details as { allowed?: string[] } | null;
      return `${p.message}${d?.allowed?.length ? `. Allowed now: ${d.allowed.join(", ")}` : ""}.`;
    }
    case "invalid_request": {
      const d = p.details as { path: string; message: string }[] | null;
      return `${p.message}${Array.isArray(d) && d.length ? `: ${d.map((x) => `${x.path || "value"}: ${x.message}`).join("; ")}` : ""}.`;
    }
    case "internal":
      return "The region failed on this request (an internal error). Try again; if it persists, check the region's logs.";
    default:
      return `${p.message} (${p.code}, HTTP ${p.status}).`;
  }
}

/** A region older than this dashboard answers 404 "no route" for an API it does not serve yet. */
export const isMissingRoute = (e: unknown) => e instanceof ApiProblem && e.status === 404 && e.code === "not_found" && /no route/.test(e.message);

export async function api<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["x-csrf-token"] = csrfToken;
  let r: Response;
  try {
    r = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  } catch (e) {
    throw new ApiProblem(0, "network", String((e as Error).message));
  }
  if (r.status === 204) return undefined as T;
  const text = await r.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // A proxy's HTML error page, say: reported below with its status.
  }
  if (!r.ok) {
    const e = (json as { error?: { code?: string; message?: string; details?: unknown } } | null)?.error;
    const p = new ApiProblem(
      r.status,
      e?.code ?? (r.status >= 500 ? "internal" : "http_error"),
      e?.message ?? `HTTP ${r.status} from the region`,
      e?.details ?? null,
    );
    if (r.status === 401 && path !== "/session") onSessionEnded(explain(p));
    throw p;
  }
  return json as T;
}

export const qs = (params: Record<string, string | string[] | undefined>) => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === "") continue;
    for (const x of Array.isArray(v) ? v : [v]) if (x !== "") u.append(k, x);
  }
  const s = u.toString();
  return s ? `?${s}` : "";
};

/** The region refused the caller: a page shows why and none of the forms it would refuse. */
export function isForbidden(e: unknown): boolean {
  return e instanceof ApiProblem && e.status === 403;
}

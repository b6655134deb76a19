// One error shape for every 4xx/5xx: {"error":{"code","message","details"}}.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";

export class ApiError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 416 | 422 | 429 | 500 | 501 | 503,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export const notFound = (what: string) => new ApiError(404, "not_found", `${what} not found`);
export const forbidden = (message = "your role does not allow this") => new ApiError(403, "forbidden", message);
export const badRequest = (message: string, details?: unknown) => new ApiError(400, "invalid_request", message, details);
export const conflict = (message: string, details?: unknown) => new ApiError(409, "conflict", message, details);

export function errorBody(code: string, message: string, details?: unknown) {
  return { error: { code, message, details: details ?? null } };
}

export function onError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.code, err.message, err.details), err.status, err.headers);
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    const code = status === 413 ? "payload_too_large" : status === 401 ? "unauthorized" : "http_error";
    return c.json(errorBody(code, err.message || "request refused"), status);
  }
  const msg = String(err?.message ?? err);
  if (/UNIQUE constraint failed/i.test(msg)) {
    return c.json(
      errorBody("conflict", "an object with the same unique value already exists", { constraint: msg.replace(/^.*UNIQUE constraint failed: /i, "") }),
      409,
    );
  }
  if (/FOREIGN KEY constraint failed/i.test(msg)) {
    return c.json(errorBody("conflict", "the object is referenced by, or refers to, something that does not allow this"), 409);
  }
  console.error("unhandled error", err);
  return c.json(errorBody("internal", "internal error"), 500);
}

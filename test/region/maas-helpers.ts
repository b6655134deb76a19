// Requests shaped exactly as the real MAAS clients send them: gomaasapi (urlencoded forms,
// `?op=` always present, OAuth header with realm=""), the maas CLI / python-libmaas
// (multipart with base64 parts and a quoted boundary, oauthlib header without realm).
import { SELF } from "cloudflare:test";
import { expect } from "vitest";
import { BASE, call } from "./helpers";

export const ORIGIN = "http://region.test";
export const MAAS = `${ORIGIN}/MAAS/api/2.0`;

/** A MAAS key triplet for a native key (issued together with it by POST /api/v1/keys). */
export async function maasKey(nativeKey: string): Promise<string> {
  const r = await call(nativeKey, "POST", "/keys", { name: "maas" });
  expect(r.status).toBe(201);
  return r.json.maas_api_key as string;
}

export type Style = "gomaasapi" | "oauthlib" | "libmaas" | "query";

let nonce = 0;
export function oauthHeader(key: string, style: Style): string {
  const [ck, tk, ts] = key.split(":") as [string, string, string];
  const ts0 = String(Math.floor(Date.now() / 1000));
  const n = String(++nonce);
  if (style === "gomaasapi") {
    return `OAuth realm="", oauth_consumer_key="${ck}", oauth_token="${tk}", oauth_signature_method="PLAINTEXT", oauth_signature="%26${ts}", oauth_timestamp="${ts0}", oauth_nonce="${n}", oauth_version="1.0"`;
  }
  if (style === "libmaas") {
    // Another order, another realm: neither may matter.
    return `OAuth oauth_nonce="${n}", oauth_timestamp="${ts0}", oauth_version="1.0", oauth_signature_method="PLAINTEXT", oauth_consumer_key="${ck}", oauth_token="${tk}", oauth_signature="%26${ts}", realm="OAuth"`;
  }
  // oauthlib: no realm at all.
  return `OAuth oauth_nonce="${n}", oauth_timestamp="${ts0}", oauth_version="1.0", oauth_signature_method="PLAINTEXT", oauth_consumer_key="${ck}", oauth_token="${tk}", oauth_signature="%26${ts}"`;
}

export type Fields = [string, string][] | Record<string, string | string[]>;

function pairs(f: Fields): [string, string][] {
  if (Array.isArray(f)) return f;
  return Object.entries(f).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x] as [string, string]) : [[k, v] as [string, string]]));
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const body = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    body.set(c, o);
    o += c.length;
  }
  return body;
}

/** base64 in 76-column lines, as Python's email package writes a MIME part. */
function mimeBase64(u: Uint8Array): string {
  let s = "";
  for (let i = 0; i < u.length; i += 3 * 8192) s += btoa(String.fromCharCode(...u.subarray(i, i + 3 * 8192)));
  return s.replace(/.{76}/g, "$&\r\n");
}

/**
 * multipart/form-data as maas CLI's apiclient/multipart.py builds it: every part base64.
 * `raw`: as Go's mime/multipart writes it for gomaasapi (bytes as they are, unquoted boundary).
 */
export function multipart(fields: Fields, files: Record<string, Uint8Array> = {}, raw = false): { body: Uint8Array; type: string } {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  if (raw) {
    const boundary = `${Math.random().toString(16).slice(2)}${Math.random().toString(16).slice(2)}`;
    // gomaasapi writes the files first, then the fields.
    for (const [k, v] of Object.entries(files)) {
      chunks.push(
        enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"; filename="${k}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
        v,
        enc.encode("\r\n"),
      );
    }
    for (const [k, v] of pairs(fields)) chunks.push(enc.encode(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`));
    chunks.push(enc.encode(`--${boundary}--\r\n`));
    return { body: concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
  }
  const boundary = `===============${Math.random().toString().slice(2)}==`;
  for (const [k, v] of pairs(fields)) {
    chunks.push(
      enc.encode(
        `--${boundary}\r\nContent-Type: text/plain; charset="utf-8"\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${mimeBase64(enc.encode(v))}\r\n`,
      ),
    );
  }
  for (const [k, v] of Object.entries(files)) {
    chunks.push(
      enc.encode(
        `--${boundary}\r\nContent-Type: application/octet-stream\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: form-data; name="${k}"; filename="${k}"\r\n\r\n${mimeBase64(v)}\r\n`,
      ),
    );
  }
  chunks.push(enc.encode(`--${boundary}--\r\n`));
  return { body: concat(chunks), type: `multipart/form-data; boundary="${boundary}"` };
}

export interface MaasReply {
  status: number;
  json: any;
  text: string;
  bytes: Uint8Array;
  headers: Headers;
}

export interface CallOpts {
  /** Query parameters; `op` goes here as the clients put it. */
  query?: Fields;
  /** Form fields for POST/PUT. */
  form?: Fields;
  /** File parts (multipart only). */
  files?: Record<string, Uint8Array>;
  /**
   * gomaasapi sends urlencoded, and multipart with raw parts when it uploads a file
   * ("gomultipart"); the CLI and python-libmaas multipart with base64 parts.
   */
  encoding?: "urlencoded" | "multipart" | "gomultipart";
  style?: Style;
  headers?: Record<string, string>;
}

/** One request to /MAAS/api/2.0/<path> signed with `key` (null: anonymous). */
export async function maas(key: string | null, method: string, path: string, o: CallOpts = {}): Promise<MaasReply> {
  const style = o.style ?? (o.encoding === "multipart" ? "oauthlib" : "gomaasapi");
  const url = new URL(path.startsWith("/") ? `${ORIGIN}${path}` : `${MAAS}/${path}`);
  for (const [k, v] of pairs(o.query ?? [])) url.searchParams.append(k, v);
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (key && style !== "query") headers["authorization"] = oauthHeader(key, style);
  if (key && style === "query") {
    const [ck, tk, ts] = key.split(":") as [string, string, string];
    for (const [k, v] of [
      ["oauth_consumer_key", ck],
      ["oauth_token", tk],
      ["oauth_signature_method", "PLAINTEXT"],
      ["oauth_signature", `&${ts}`],
      ["oauth_timestamp", "1700000000"],
      ["oauth_nonce", "1"],
    ] as const)
      url.searchParams.set(k, v);
  }
  let body: BodyInit | undefined;
  if (o.form !== undefined || o.files !== undefined) {
    if (o.encoding === "multipart" || o.encoding === "gomultipart") {
      const m = multipart(o.form ?? [], o.files, o.encoding === "gomultipart");
      body = m.body;
      headers["content-type"] = m.type;
    } else {
      if (o.files) throw new Error("files need a multipart encoding");
      body = new URLSearchParams(pairs(o.form ?? [])).toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
  }
  const r = await SELF.fetch(url.toString(), { method, headers, body });
  const bytes = new Uint8Array(await r.arrayBuffer());
  const text = new TextDecoder().decode(bytes);
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: r.status, json, text, bytes, headers: r.headers };
}

/** Both encodings, for tests that must hold for each client family. */
export const ENCODINGS = ["urlencoded", "multipart"] as const;

export { BASE };

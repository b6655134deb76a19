// Test helpers for the region suite: users with role bindings and machines in any status,
// written straight into the real D1 (with the real migrations) so each test sets up fast.
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { hashPassword } from "../../cloud/auth/crypto";
import { encryptJson } from "../../cloud/auth/secrets";
import type { Role } from "../../cloud/db/schema";
import { newSystemId } from "../../cloud/domain/machines/names";
import { createApiKey } from "../../cloud/domain/users";

export const BASE = "http://region.test/api/v1";

export async function siteId(name: string): Promise<number> {
  const row = await env.DB.prepare("INSERT INTO sites (name) VALUES (?) ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id")
    .bind(name)
    .first<{ id: number }>();
  return row!.id;
}

/** A user with the given role bindings ([role, siteName | null]); returns its bearer key. */
export async function makeUser(username: string, bindings: [Role, string | null][], password?: string): Promise<string> {
  const u = await env.DB.prepare("INSERT INTO users (username, password_hash) VALUES (?, ?) RETURNING id")
    .bind(username, password ? await hashPassword(password) : null)
    .first<{ id: number }>();
  for (const [role, site] of bindings) {
    await env.DB.prepare("INSERT INTO role_bindings (user_id, role, site_id) VALUES (?, ?, ?)")
      .bind(u!.id, role, site === null ? null : await siteId(site))
      .run();
  }
  return (await createApiKey(env.DB, "test", { id: u!.id, username }, "test")).apiKey;
}

export interface MachineOpts {
  status?: number;
  site?: string;
  hostname?: string;
  locked?: boolean;
  powerType?: string;
  powerParams?: Record<string, unknown>;
  cpuCount?: number;
  memory?: number;
  arch?: string;
  ownerId?: number | null;
  previousStatus?: number | null;
  tags?: string[];
  mac?: string;
}

let seq = 0;
export async function makeMachine(o: MachineOpts = {}): Promise<string> {
  const n = ++seq;
  const systemId = newSystemId();
  const site = await siteId(o.site ?? "default");
  const enc = o.powerParams ? await encryptJson(env.PLINTH_SECRET_KEY, o.powerParams, systemId) : null;
  const r = await env.DB.prepare(
    `INSERT INTO machines (system_id, hostname, status, previous_status, site_id, zone_id, pool_id, locked, power_type, power_params_enc, power_params_set, cpu_count, memory, architecture, owner_id)
     VALUES (?, ?, ?, ?, ?, 1, 1, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
  )
    .bind(
      systemId,
      o.hostname ?? `node-${n}-${systemId}`,
      o.status ?? 4,
      o.previousStatus ?? null,
      site,
      o.locked ? 1 : 0,
      o.powerType ?? "manual",
      enc,
      JSON.stringify(Object.keys(o.powerParams ?? {}).sort()),
      o.cpuCount ?? 4,
      o.memory ?? 8192,
      o.arch ?? "amd64/generic",
      o.ownerId ?? null,
    )
    .first<{ id: number }>();
  const mac = o.mac ?? `52:54:00:${[n >> 16, (n >> 8) & 255, n & 255].map((b) => b.toString(16).padStart(2, "0")).join(":")}`;
  await env.DB.prepare("INSERT INTO interfaces (machine_id, name, mac, is_boot) VALUES (?, 'eth0', ?, 1)").bind(r!.id, mac).run();
  for (const t of o.tags ?? []) {
    await env.DB.prepare("INSERT INTO tags (name) VALUES (?) ON CONFLICT(name) DO NOTHING").bind(t).run();
    await env.DB.prepare("INSERT INTO machine_tags (machine_id, tag_id) SELECT ?, id FROM tags WHERE name = ?").bind(r!.id, t).run();
  }
  return systemId;
}

export async function call(
  key: string | null,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] ??= "application/json";
  }
  const r = await SELF.fetch(`${BASE}${path}`, init);
  const text = await r.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: r.status, json, text, headers: r.headers };
}

export async function statusOf(systemId: string): Promise<number> {
  const row = await env.DB.prepare("SELECT status FROM machines WHERE system_id = ?").bind(systemId).first<{ status: number }>();
  return row!.status;
}

/**
 * A boot image with content (a row naming bytes by sha256), so a deploy of that OS and series
 * is accepted: the region refuses to deploy a series it has no image bytes for.
 */
export async function deployableImage(osystem: string, series: string, architecture = "amd64/generic", format = "raw.zst"): Promise<void> {
  await env.DB.prepare(
    `INSERT INTO boot_images (osystem, series, architecture, kind, format, sha256, size) VALUES (?, ?, ?, 'uploaded', ?, ?, 1024)
     ON CONFLICT DO UPDATE SET sha256 = excluded.sha256, size = excluded.size`,
  )
    .bind(osystem, series, architecture, format, "d".repeat(64))
    .run();
}

/** A self-signed EC certificate for SSL-key tests. */
// openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -subj /CN=plinth-test
export const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBgTCCASegAwIBAgIUaVt1By145wanBdK/67RnSpFqZn8wCgYIKoZIzj0EAwIw
FjEUMBIGA1UEAwwLcGxpbnRoLXRlc3QwHhcNMjYxMjA3MDIwOTE4WhcNMzYxMjA0
MDIwOTE4WjAWMRQwEgYDVQQDDAtwbGludGgtdGVzdDBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABEEOVgVST77cv1DPokl2HeOMQ8ckm5Q1iTkIOb+xT9segyBrI+lw
O/45FrFIssECeusVUDpxoqsP+uBTUyKkeuSjUzBRMB0GA1UdDgQWBBTUFx3h/RD/
AhyFbxzoMMvxrXa4tjAfBgNVHSMEGDAWgBTUFx3h/RD/AhyFbxzoMMvxrXa4tjAP
BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIAyqaU4LzqP7aI5K5USd
9SjUa+drpebaGizdDyyZldnoAiEAgVCImUk61Y/Lnqv7QesWqX2S/xmee+kRkOUN
rc8ycFw=
-----END CERTIFICATE-----`;

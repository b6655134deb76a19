// Region-wide settings: the names MAAS's get_config/set_config take, with a type and a default
// each. Only a value that was set is stored (table `settings`); reading a name never set gives its
// default, so adding a setting needs no migration. Names Plinth acts on say so in `doc`.
import { z } from "zod";
import { eventStatement } from "./events";

const series = z
  .string()
  .max(64)
  .regex(/^[a-z0-9._-]+$/, "lower-case letters, digits, '.', '_' and '-' only");
const hostList = z
  .string()
  .max(1024)
  .regex(/^[A-Za-z0-9.:_\-\s,]*$/, "host names or addresses separated by spaces or commas");
const text = (max: number) => z.string().max(max);
const bool = z.boolean();
const int = (min: number, max: number) => z.number().int().min(min).max(max);
const choice = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values);

interface Def<S extends z.ZodType> {
  schema: S;
  default: z.output<S>;
  doc: string;
}
const def = <S extends z.ZodType>(schema: S, dflt: z.output<S>, doc: string): Def<S> => ({ schema, default: dflt, doc });

export const SETTINGS = {
  maas_name: def(text(255), "plinth", "The region's name, as clients and the dashboard show it."),
  default_osystem: def(series, "ubuntu", "The operating system a deployment gets when it names none (Plinth acts on it)."),
  default_distro_series: def(series, "noble", "The release a deployment gets when it names none (Plinth acts on it)."),
  commissioning_distro_series: def(series, "noble", "The release commissioning would boot; Plinth commissions with its own ephemeral image."),
  default_min_hwe_kernel: def(text(64), "", "Lowest kernel a deployment may use; stored for clients, not acted on."),
  kernel_opts: def(text(1024), "", "Extra kernel command-line options; stored for clients, not yet added to boots."),
  ntp_servers: def(hostList, "ntp.ubuntu.com", "NTP servers for machines, separated by spaces or commas."),
  ntp_external_only: def(bool, false, "Machines use the external NTP servers only, not the rack's."),
  upstream_dns: def(hostList, "", "Resolvers the site's DNS forwards to, separated by spaces or commas."),
  dnssec_validation: def(choice(["auto", "yes", "no"]), "auto", "DNSSEC validation of forwarded answers."),
  default_dns_ttl: def(int(1, 604800), 30, "TTL of the records Plinth derives, in seconds."),
  enable_http_proxy: def(bool, true, "Machines use an HTTP proxy for packages."),
  http_proxy: def(
    z.union([z.literal(""), z.url({ protocol: /^https?$/, error: "an http:// or https:// URL" }).max(1024)]),
    "",
    "The proxy machines use when enable_http_proxy is set (none: the rack's own).",
  ),
  use_peer_proxy: def(bool, false, "Use http_proxy as the peer of the rack's proxy rather than directly."),
  prefer_v4_proxy: def(bool, false, "Give machines the proxy's IPv4 address even where IPv6 works."),
  default_storage_layout: def(
    choice(["flat", "lvm", "bcache", "blank", "custom", "vmfs6", "vmfs7"]),
    "flat",
    "Storage layout a machine gets on commissioning.",
  ),
  enable_disk_erasing_on_release: def(bool, false, "Erase disks on release when the release request does not say (Plinth acts on it)."),
  disk_erase_with_secure_erase: def(bool, false, "Erase with the drive's secure erase where it has one (Plinth acts on it)."),
  disk_erase_with_quick_erase: def(bool, false, "Erase only the start and end of each disk (Plinth acts on it)."),
  network_discovery: def(choice(["enabled", "disabled"]), "enabled", "Listen for devices on the racks' networks."),
  active_discovery_interval: def(int(0, 604800), 10800, "Seconds between active scans of the racks' networks (0: never)."),
  enlist_commissioning: def(bool, true, "Commission machines as soon as they enlist."),
  curtin_verbose: def(bool, true, "Installer logs in full."),
  enable_third_party_drivers: def(bool, true, "Install third-party drivers a machine needs."),
  boot_images_auto_import: def(bool, true, "Import images from their sources on a schedule."),
  release_notifications: def(bool, true, "Tell administrators about new releases."),
  enable_analytics: def(bool, false, "Send usage analytics; Plinth has none to send."),
  completed_intro: def(bool, true, "The dashboard's first-run introduction has been seen."),
  theme: def(text(64), "", "The dashboard's colour theme."),
} as const;

export type SettingName = keyof typeof SETTINGS;

/** Settings the racks' snapshot carries (their DNS): a change is pushed to every site. */
export const RACK_SETTINGS: ReadonlySet<string> = new Set(["default_dns_ttl", "upstream_dns"]);
export type SettingValue<K extends SettingName> = (typeof SETTINGS)[K]["default"] extends boolean
  ? boolean
  : (typeof SETTINGS)[K]["default"] extends number
    ? number
    : string;

export const SETTING_NAMES = Object.keys(SETTINGS).sort() as SettingName[];

export function isSettingName(name: string): name is SettingName {
  return Object.hasOwn(SETTINGS, name);
}

export type Parsed = { ok: true; value: unknown } | { ok: false; error: string };

/** A typed value (JSON from /api/v1) checked against the setting's schema. */
export function parseSetting(name: SettingName, value: unknown): Parsed {
  const r = (SETTINGS[name].schema as z.ZodType).safeParse(value);
  return r.success ? { ok: true, value: r.data } : { ok: false, error: r.error.issues[0]?.message ?? "invalid value" };
}

const TRUE = new Set(["true", "1", "on", "yes", "y", "t"]);
const FALSE = new Set(["false", "0", "off", "no", "n", "f", ""]);

/** A form value (MAAS's set_config sends every value as text) turned into the setting's type first. */
export function parseSettingText(name: SettingName, text: string): Parsed {
  const d = SETTINGS[name].default;
  if (typeof d === "boolean") {
    const t = text.trim().toLowerCase();
    if (TRUE.has(t)) return parseSetting(name, true);
    if (FALSE.has(t)) return parseSetting(name, false);
    return { ok: false, error: "true or false" };
  }
  if (typeof d === "number") {
    if (!/^\s*-?\d+\s*$/.test(text)) return { ok: false, error: "a whole number" };
    return parseSetting(name, Number(text));
  }
  return parseSetting(name, text.trim());
}

/** Values that failed their schema since they were stored (a tightened rule) read as the default. */
export function decodeSetting(name: SettingName, raw: string | undefined): unknown {
  if (raw === undefined) return SETTINGS[name].default;
  try {
    const p = parseSetting(name, JSON.parse(raw));
    return p.ok ? p.value : SETTINGS[name].default;
  } catch {
    return SETTINGS[name].default;
  }
}

export async function getSetting<K extends SettingName>(db: D1Database, name: K): Promise<SettingValue<K>> {
  const row = await db.prepare("SELECT value FROM settings WHERE name = ?").bind(name).first<{ value: string }>();
  return decodeSetting(name, row?.value) as SettingValue<K>;
}

export async function getSettings<K extends SettingName>(db: D1Database, names: readonly K[]): Promise<{ [P in K]: SettingValue<P> }> {
  const stored = new Map<string, string>();
  if (names.length) {
    const { results } = await db
      .prepare(`SELECT name, value FROM settings WHERE name IN (${names.map(() => "?").join(", ")})`)
      .bind(...names)
      .all<{ name: string; value: string }>();
    for (const r of results) stored.set(r.name, r.value);
  }
  return Object.fromEntries(names.map((n) => [n, decodeSetting(n, stored.get(n))])) as { [P in K]: SettingValue<P> };
}

/** Every setting with its value, default and description, as /api/v1/settings lists them. */
export async function listSettings(db: D1Database): Promise<{ name: SettingName; value: unknown; default: unknown; doc: string }[]> {
  const values = await getSettings(db, SETTING_NAMES);
  return SETTING_NAMES.map((n) => ({ name: n, value: values[n], default: SETTINGS[n].default, doc: SETTINGS[n].doc }));
}

/** A proxy URL may carry a password: only admins of every site see it, and the audit log never does. */
function withoutPassword(value: string): string {
  try {
    const u = new URL(value);
    if (!u.password) return value;
    u.password = "";
    return u.toString();
  } catch {
    return "(unparsable)";
  }
}

/** What a caller who may not change settings reads: the value, less any password in it. */
export function settingForReader(name: SettingName, value: unknown, mayChange: boolean): unknown {
  return !mayChange && name === "http_proxy" && typeof value === "string" && value ? withoutPassword(value) : value;
}

/** As the audit log writes a value: what a reader who may not change settings sees. */
const shown = (name: SettingName, value: unknown): string => JSON.stringify(settingForReader(name, value, false));

/** Stores an already-parsed value; setting a name to its default keeps the row (an explicit choice). */
export async function setSetting(db: D1Database, actor: string, name: SettingName, value: unknown): Promise<void> {
  const before = await getSetting(db, name);
  await db.batch([
    db
      .prepare(
        "INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
      )
      .bind(name, JSON.stringify(value), Date.now()),
    eventStatement(db, {
      type: "settings.changed",
      level: "AUDIT",
      actor,
      description: `setting ${name} changed from ${shown(name, before)} to ${shown(name, value)}`,
    }),
  ]);
}

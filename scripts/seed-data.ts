/// <reference path="./d1-globals.d.ts" />
// Realistic fleets for demos, browser tests and benchmarks: machines with inventory,
// interfaces, disks, tags, zones and pools, spread over statuses, written through the real
// D1 binding of a *local* region (wrangler's platform proxy on a persisted directory).
import type { D1Database, R2Bucket } from "@cloudflare/workers-types";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getPlatformProxy, unstable_readConfig } from "wrangler";
import { encryptJson } from "../cloud/auth/secrets";
import { redeem } from "../cloud/domain/racks/enrol";
import { createEnrolToken } from "../cloud/domain/racks/racks";
import { NODE_STATUS as S } from "../shared/lifecycle";
import { builtImages, seedImages } from "./seed-images";

export interface SeedOptions {
  machines: number;
  sites: number;
  stateDir: string;
  secretKey: string;
  log?: (s: string) => void;
  /** Also store the images this checkout built (npm run seed does; fleets for tests do not need them). */
  images?: boolean;
  /** Where images/build is looked for: the checkout, unless a test says otherwise. */
  imagesRoot?: string;
  /** Add machines only to a region that has none (a second `npm run seed` would double the fleet). */
  onlyIfEmpty?: boolean;
  /**
   * Also enrol a rack per site (npm run seed does): an enrolment token redeemed as an appliance
   * would, so a real rack record, but no appliance behind it, so never connected. Test fleets
   * leave it out: a rack on a site changes what power actions and config pushes do there.
   */
  racks?: boolean;
}

// Each site's network: fabric-<site> with its untagged VLAN and one /22 carved from 10.0.0.0/8
// in site order (16,384 sites fit). Offsets from the network address:
const SUBNET_SIZE = 1024;
const GATEWAY = 1;
const RESERVED = [2, 19] as const; // switches, PDUs, BMC gateways: the devices below
const RACK_AT = 20;
const MACHINES_FROM = 32; // deployed machines' AUTO addresses, upwards
const DYNAMIC = [SUBNET_SIZE - 256, SUBNET_SIZE - 2] as const; // the rack's DHCP pool
const DEVICES = [
  [2, "top-of-rack switch"],
  [3, "PDU"],
] as const;
const DISCOVERED = [DYNAMIC[0] + 3, DYNAMIC[0] + 17];

const ipAt = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
/** The seeded subnet of the site at `index` (in siteNames order), or null past 10.255.255.255. */
function siteNet(index: number): { base: number; cidr: string } | null {
  if ((index + 1) * SUBNET_SIZE > 2 ** 24) return null;
  const base = 10 * 2 ** 24 + index * SUBNET_SIZE;
  return { base, cidr: `${ipAt(base)}/22` };
}

// Weighted statuses: most of a real fleet is Ready or Deployed.
const STATUS_MIX: [number, number][] = [
  [S.READY, 40],
  [S.DEPLOYED, 30],
  [S.ALLOCATED, 5],
  [S.NEW, 5],
  [S.COMMISSIONING, 3],
  [S.DEPLOYING, 3],
  [S.BROKEN, 3],
  [S.FAILED_COMMISSIONING, 2],
  [S.FAILED_DEPLOYMENT, 2],
  [S.RELEASING, 2],
  [S.RESCUE_MODE, 1],
  [S.TESTING, 1],
  [S.FAILED_TESTING, 1],
  [S.MISSING, 1],
  [S.RETIRED, 1],
];
const TAGS = ["gpu", "nvme", "ssd", "hdd", "10g", "25g", "100g", "storage", "compute", "kvm-host", "k8s", "openstack"];
const ZONES = ["default", "az-a", "az-b", "az-c"];
const POOLS = ["default", "production", "staging", "lab"];
const CPU_MODELS = ["Intel(R) Xeon(R) Gold 6338", "AMD EPYC 7543", "Intel(R) Xeon(R) Silver 4314", "AMD EPYC 9354", "Ampere Altra Q80-30"];
const VENDORS = ["Dell Inc.", "HPE", "Supermicro", "Lenovo", "Gigabyte"];

/** Deterministic, so two seeds of the same size are the same fleet. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const q = (s: string) => `'${s.replace(/'/g, "''")}'`;

export async function seed(o: SeedOptions): Promise<{ machines: number; sites: number; existing: number }> {
  const log = o.log ?? (() => {});
  // The proxy runs no Worker code, so wrangler.toml's Durable Object binding would only earn a
  // warning that RackTunnel is not exported: hand it the storage bindings alone, same ids, so it
  // opens the very D1 and R2 files the region uses.
  const full = unstable_readConfig({ config: "wrangler.toml" });
  mkdirSync(o.stateDir, { recursive: true });
  const configPath = join(o.stateDir, "seed.wrangler.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      name: full.name,
      compatibility_date: full.compatibility_date,
      d1_databases: full.d1_databases,
      r2_buckets: full.r2_buckets,
    }),
  );
  const proxy = await getPlatformProxy<{ DB: D1Database; IMAGES: R2Bucket }>({
    configPath,
    persist: { path: join(o.stateDir, "wrangler", "v3") },
  });
  try {
    const db = proxy.env.DB;
    const existing = (await db.prepare("SELECT count(*) AS n FROM machines").first<{ n: number }>())!.n;
    if (o.onlyIfEmpty && existing > 0) {
      if (o.images) await seedImages(db, proxy.env.IMAGES, builtImages(o.imagesRoot ?? join(import.meta.dirname, "..")), log);
      return { machines: 0, sites: 0, existing };
    }
    const rand = rng(42);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
    const statusTotal = STATUS_MIX.reduce((a, [, w]) => a + w, 0);
    const pickStatus = () => {
      let r = rand() * statusTotal;
      for (const [s, w] of STATUS_MIX) {
        r -= w;
        if (r < 0) return s;
      }
      return S.READY;
    };

    await db.batch([
      ...ZONES.map((z) => db.prepare("INSERT INTO zones (name, description) VALUES (?, ?) ON CONFLICT(name) DO NOTHING").bind(z, `${z} availability zone`)),
      ...POOLS.map((p) => db.prepare("INSERT INTO resource_pools (name, description) VALUES (?, ?) ON CONFLICT(name) DO NOTHING").bind(p, `${p} pool`)),
      ...TAGS.map((t) => db.prepare("INSERT INTO tags (name) VALUES (?) ON CONFLICT(name) DO NOTHING").bind(t)),
      db.prepare("INSERT INTO users (username) VALUES ('fleet-owner') ON CONFLICT(username) DO NOTHING"),
    ]);
    const ids = async (table: string) =>
      new Map((await db.prepare(`SELECT id, name FROM ${table}`).all<{ id: number; name: string }>()).results.map((r) => [r.name, r.id]));
    const siteNames = Array.from({ length: o.sites }, (_, i) => `site-${String(i + 1).padStart(4, "0")}`);
    for (let i = 0; i < siteNames.length; i += 200) {
      await db.batch(
        siteNames.slice(i, i + 200).map((n) => db.prepare("INSERT INTO sites (name, description) VALUES (?, 'seeded') ON CONFLICT(name) DO NOTHING").bind(n)),
      );
    }
    await seedNetworks(db, siteNames, log);
    const [sites, zones, pools, tags] = [await ids("sites"), await ids("zones"), await ids("resource_pools"), await ids("tags")];
    const owner = (await db.prepare("SELECT id FROM users WHERE username = 'fleet-owner'").first<{ id: number }>())!.id;
    const start = (await db.prepare("SELECT coalesce(max(id), 0) AS n FROM machines").first<{ n: number }>())!.n;

    // D1 refuses statements over 100 KB: 100 machines (and their rows) per batch stays under it.
    const CHUNK = 100;
    const now = Date.now();
    for (let base = 0; base < o.machines; base += CHUNK) {
      const n = Math.min(CHUNK, o.machines - base);
      const mRows: string[] = [];
      const iRows: string[] = [];
      const dRows: string[] = [];
      const tRows: string[] = [];
      const aRows: string[] = [];
      for (let k = 0; k < n; k++) {
        const seq = start + base + k + 1;
        const siteIndex = (base + k) % siteNames.length;
        const site = siteNames[siteIndex]!;
        const status = pickStatus();
        const systemId = `s${seq.toString(36).padStart(5, "0")}`.slice(-6);
        const hostname = `${site}-r${String(Math.floor(((base + k) / siteNames.length) % 40) + 1).padStart(2, "0")}-n${seq}`;
        const cpu = pick([8, 16, 32, 48, 64, 96, 128]);
        const mem = pick([16384, 32768, 65536, 131072, 262144, 524288]);
        const disks = 1 + Math.floor(rand() * 3);
        const diskSize = pick([480, 960, 1920, 3840, 7680]) * 1e9;
        const arch = rand() < 0.05 ? "arm64/generic" : "amd64/generic";
        const mac = (nic: number) =>
          [
            "52",
            "54",
            (nic & 255).toString(16).padStart(2, "0"),
            ((seq >> 16) & 255).toString(16).padStart(2, "0"),
            ((seq >> 8) & 255).toString(16).padStart(2, "0"),
            (seq & 255).toString(16).padStart(2, "0"),
          ].join(":");
        const owned = [S.ALLOCATED, S.DEPLOYED, S.DEPLOYING, S.FAILED_DEPLOYMENT, S.RELEASING, S.RESCUE_MODE].includes(status as never);
        // READY machines use the manual driver (demos can walk them through the lifecycle without a BMC).
        const ipmi = status !== S.READY && status !== S.NEW;
        const enc = ipmi
          ? await encryptJson(
              o.secretKey,
              { power_address: `10.${(seq >> 16) & 255}.${(seq >> 8) & 255}.${seq & 255}`, power_user: "admin", power_pass: `seeded-${seq}` },
              systemId,
            )
          : null;
        mRows.push(
          `(${[q(systemId), q(hostname), status, q(arch), cpu, q(pick(CPU_MODELS)), 2400, mem, (diskSize * disks) / 1e6, q(mac(0)), q(rand() < 0.7 ? "uefi" : "bios"), status === S.DEPLOYED ? q("ubuntu") : q(""), status === S.DEPLOYED ? q("noble") : q(""), q(ipmi ? "ipmi" : "manual"), enc ? q(enc) : "NULL", q(ipmi ? '["power_address","power_pass","power_user"]' : "[]"), sites.get(site), zones.get(pick(ZONES)), pools.get(pick(POOLS)), owned ? owner : "NULL", q(`${pick(VENDORS)}`), now, now].join(", ")})`,
        );
        for (let nic = 0; nic < 2; nic++)
          iRows.push(
            `((SELECT id FROM machines WHERE system_id = ${q(systemId)}), ${q(`eno${nic + 1}`)}, ${q(mac(nic))}, ${q(pick(["ixgbe", "i40e", "mlx5_core", "bnxt_en"]))}, ${pick([10000, 25000])}, ${nic === 0 ? 1 : 0})`,
          );
        for (let d = 0; d < disks; d++)
          dRows.push(
            `((SELECT id FROM machines WHERE system_id = ${q(systemId)}), ${q(`sd${String.fromCharCode(97 + d)}`)}, ${q(pick(["SAMSUNG MZ7LH960", "INTEL SSDSC2KB96", "MICRON 5300", "Seagate ST4000NM"]))}, ${q(`SN${seq}${d}`)}, ${diskSize}, ${rand() < 0.2 ? 1 : 0}, ${d === 0 ? 1 : 0})`,
          );
        // A deployed machine holds an AUTO address on its site's subnet, as deploying it would
        // have given it. A position already taken (an earlier --add) leaves it without one.
        const net = siteNet(siteIndex);
        const hostAt = MACHINES_FROM + Math.floor((start + base + k) / siteNames.length);
        if (status === S.DEPLOYED && net && hostAt < DYNAMIC[0])
          aRows.push(
            `((SELECT id FROM subnets WHERE cidr = ${q(net.cidr)}), ${q(ipAt(net.base + hostAt))}, 'auto', (SELECT id FROM interfaces WHERE mac = ${q(mac(0))}), (SELECT id FROM machines WHERE system_id = ${q(systemId)}))`,
          );
        for (const t of TAGS) if (rand() < 0.15) tRows.push(`((SELECT id FROM machines WHERE system_id = ${q(systemId)}), ${tags.get(t)})`);
      }
      const stmts = [
        db.prepare(
          `INSERT INTO machines (system_id, hostname, status, architecture, cpu_count, cpu_model, cpu_speed, memory, storage, boot_mac, firmware, osystem, distro_series, power_type, power_params_enc, power_params_set, site_id, zone_id, pool_id, owner_id, description, created_at, updated_at) VALUES ${mRows.join(",")}`,
        ),
        db.prepare(`INSERT INTO interfaces (machine_id, name, mac, driver, speed_mbps, is_boot) VALUES ${iRows.join(",")}`),
        db.prepare(`INSERT INTO block_devices (machine_id, name, model, serial, size, rotational, is_boot) VALUES ${dRows.join(",")}`),
      ];
      if (tRows.length) stmts.push(db.prepare(`INSERT OR IGNORE INTO machine_tags (machine_id, tag_id) VALUES ${tRows.join(",")}`));
      // OR IGNORE: a site whose subnet is not the seeded one (subnet_id NULL fails the CHECK), or a taken address.
      if (aRows.length) stmts.push(db.prepare(`INSERT OR IGNORE INTO ip_addresses (subnet_id, ip, kind, interface_id, machine_id) VALUES ${aRows.join(",")}`));
      await db.batch(stmts);
      if ((base / CHUNK) % 100 === 0) log(`seeded ${base + n}/${o.machines} machines`);
    }
    await db
      .prepare("INSERT INTO events (type, level, actor, description, created_at) VALUES ('seed', 'INFO', 'seed', ?, ?)")
      .bind(`seeded ${o.machines} machines across ${o.sites} sites`, Date.now())
      .run();
    if (o.racks) await seedRacks(db, siteNames, sites, owner, log);
    if (o.images) {
      const built = builtImages(o.imagesRoot ?? join(import.meta.dirname, ".."));
      if (!built.length) log("no built images in images/build: `npm run images` (testdisk) or `npm run images -- os debian/bookworm`, then seed again");
      await seedImages(db, proxy.env.IMAGES, built, log);
    }
    return { machines: o.machines, sites: o.sites, existing };
  } finally {
    await proxy.dispose();
  }
}

/**
 * Per site: fabric, untagged VLAN (DHCP on), the /22 with gateway, a reserved and a dynamic range,
 * two devices' reservations and two addresses the rack saw in the pool. Only for a site that has
 * no subnet yet, so a second run (--add) or an operator's own subnets are left alone.
 */
async function seedNetworks(db: D1Database, siteNames: string[], log: (s: string) => void): Promise<void> {
  const now = Date.now();
  const has = new Set(
    (await db.prepare("SELECT DISTINCT st.name FROM subnets s JOIN sites st ON st.id = s.site_id").all<{ name: string }>()).results.map((r) => r.name),
  );
  const todo: { i: number; site: string; net: { base: number; cidr: string } }[] = [];
  let skipped = 0;
  for (const [i, site] of siteNames.entries()) {
    const net = siteNet(i);
    if (!net) skipped++;
    else if (!has.has(site)) todo.push({ i, site, net });
  }
  const mac = (prefix: string, d: number, i: number) => `${prefix}:${[d, (i >> 8) & 255, i & 255].map((x) => x.toString(16).padStart(2, "0")).join(":")}`;
  // A hundred sites a batch, five multi-row statements each: statements, not rows, are what
  // the platform proxy is slow at (and it gives up holding thousands at once). Each stays
  // under D1's 100 KB statement limit.
  for (let c = 0; c < todo.length; c += 100) {
    const chunk = todo.slice(c, c + 100);
    const subnet = (x: (typeof chunk)[number]) => `(SELECT id FROM subnets WHERE cidr = ${q(x.net.cidr)})`;
    await db.batch([
      db.prepare(
        `INSERT INTO fabrics (name, description) VALUES ${chunk.map((x) => `(${q(`fabric-${x.site}`)}, ${q(`${x.site}'s fabric (seeded)`)})`).join(",")} ON CONFLICT(name) DO NOTHING`,
      ),
      db.prepare(
        `INSERT INTO vlans (fabric_id, vid, name, dhcp_on) SELECT id, 0, 'untagged', 1 FROM fabrics WHERE name IN (${chunk.map((x) => q(`fabric-${x.site}`)).join(",")}) ON CONFLICT DO NOTHING`,
      ),
      db.prepare(
        `INSERT INTO subnets (cidr, name, vlan_id, site_id, gateway_ip, dns_servers) VALUES ${chunk
          .map((x) => {
            const gw = ipAt(x.net.base + GATEWAY);
            const vlan = `(SELECT v.id FROM vlans v JOIN fabrics f ON f.id = v.fabric_id WHERE f.name = ${q(`fabric-${x.site}`)} AND v.vid = 0)`;
            return `(${q(x.net.cidr)}, ${q(`${x.site} provisioning`)}, ${vlan}, (SELECT id FROM sites WHERE name = ${q(x.site)}), ${q(gw)}, ${q(JSON.stringify([gw]))})`;
          })
          .join(",")} ON CONFLICT(cidr) DO NOTHING`,
      ),
      db.prepare(
        `INSERT INTO ip_ranges (subnet_id, type, start_ip, end_ip, comment) VALUES ${chunk
          .flatMap((x) => [
            `(${subnet(x)}, 'reserved', ${q(ipAt(x.net.base + RESERVED[0]))}, ${q(ipAt(x.net.base + RESERVED[1]))}, 'switches, PDUs, BMC gateways')`,
            `(${subnet(x)}, 'dynamic', ${q(ipAt(x.net.base + DYNAMIC[0]))}, ${q(ipAt(x.net.base + DYNAMIC[1]))}, 'PXE and commissioning')`,
          ])
          .join(",")}`,
      ),
      db.prepare(
        `INSERT OR IGNORE INTO ip_addresses (subnet_id, ip, kind, mac, comment, created_at) VALUES ${chunk
          .flatMap((x) => [
            ...DEVICES.map(
              ([at, what], d) => `(${subnet(x)}, ${q(ipAt(x.net.base + at))}, 'user_reserved', ${q(mac("52:56:00", d, x.i))}, ${q(what)}, ${now})`,
            ),
            ...DISCOVERED.map(
              (at, d) => `(${subnet(x)}, ${q(ipAt(x.net.base + at))}, 'discovered', ${q(mac("52:57:00", d, x.i))}, 'seen in a DHCP lease', ${now})`,
            ),
          ])
          .join(",")}`,
      ),
    ]);
  }
  if (skipped) log(`seed: ${skipped} sites past 10.255.255.255 got no subnet`);
}

/**
 * A rack per site that has none, enrolled the way an appliance enrols (a one-use token,
 * redeemed), with an address in the site's subnet. No appliance runs behind it: its hostname
 * says so, and it stays disconnected.
 */
async function seedRacks(db: D1Database, siteNames: string[], sites: Map<string, number>, ownerId: number, log: (s: string) => void): Promise<void> {
  const has = new Set(
    (await db.prepare("SELECT DISTINCT site_id FROM racks WHERE revoked_at IS NULL").all<{ site_id: number }>()).results.map((r) => r.site_id),
  );
  let made = 0;
  for (const [i, site] of siteNames.entries()) {
    const siteId = sites.get(site);
    if (siteId === undefined || has.has(siteId)) continue;
    const net = siteNet(i);
    const { token } = await createEnrolToken(db, { userId: ownerId, username: "seed" }, { siteId, name: "seed", expiresAt: Date.now() + 60_000, uses: 1 });
    await redeem(db, {
      token,
      hostname: `${site}-rack-seeded`,
      version: "seeded: no appliance, never connected",
      interfaces: [
        {
          name: "eth0",
          mac: `52:58:00:00:${((i >> 8) & 255).toString(16).padStart(2, "0")}:${(i & 255).toString(16).padStart(2, "0")}`,
          addresses: net ? [`${ipAt(net.base + RACK_AT)}/22`] : [],
        },
      ],
    });
    made++;
  }
  if (made) log(`seed: ${made} racks enrolled (records only: no appliance behind them)`);
}

// The region's data in D1. Migrations in migrations/ are generated from this file by
// `npm run db:generate` (drizzle-kit); append-only triggers are added by hand in their own migration.
import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { IMAGE_FORMATS } from "../../shared/images";
import { ROLES } from "../../shared/roles";

const now = sql`(unixepoch('subsec') * 1000)`;
const createdAt = () => integer("created_at").notNull().default(now);

export const sites = sqliteTable("sites", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  description: text("description").notNull().default(""),
  createdAt: createdAt(),
});

export const zones = sqliteTable("zones", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  description: text("description").notNull().default(""),
  createdAt: createdAt(),
});

export const resourcePools = sqliteTable("resource_pools", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  description: text("description").notNull().default(""),
  createdAt: createdAt(),
});

export const tags = sqliteTable("tags", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  comment: text("comment").notNull().default(""),
  definition: text("definition").notNull().default(""),
  kernelOpts: text("kernel_opts").notNull().default(""),
  createdAt: createdAt(),
});

export const users = sqliteTable("users", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  username: text("username").notNull().unique(),
  email: text("email").notNull().default(""),
  /** pbkdf2-sha256$iterations$salt$hash (base64). Null: API-key-only user. */
  passwordHash: text("password_hash"),
  isActive: integer("is_active", { mode: "boolean" }).notNull().default(true),
  sshKeys: text("ssh_keys", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  createdAt: createdAt(),
});

// Roles are shared with the dashboard; the table's enum is the same list.
export { ROLES, type Role } from "../../shared/roles";

/** A role on one site, or on every site when siteId is null. */
export const roleBindings = sqliteTable(
  "role_bindings",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    role: text("role", { enum: ROLES }).notNull(),
    siteId: integer("site_id").references(() => sites.id, { onDelete: "cascade" }),
    createdAt: createdAt(),
  },
  (t) => [index("role_bindings_user").on(t.userId), uniqueIndex("role_bindings_unique").on(t.userId, t.role, t.siteId)],
);

/**
 * API keys: the native bearer key is `plk_<keyId>_<secret>`; the MAAS key is
 * `<maasConsumerKey>:<maasTokenKey>:<secret2>`. Only hashes of the secrets are stored.
 */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    keyId: text("key_id").notNull().unique(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    name: text("name").notNull().default(""),
    secretHash: text("secret_hash").notNull(),
    maasConsumerKey: text("maas_consumer_key").notNull(),
    maasTokenKey: text("maas_token_key").notNull().unique(),
    maasSecretHash: text("maas_secret_hash").notNull(),
    createdAt: createdAt(),
    lastUsedAt: integer("last_used_at"),
    revokedAt: integer("revoked_at"),
  },
  (t) => [index("api_keys_user").on(t.userId)],
);

export const machines = sqliteTable(
  "machines",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    systemId: text("system_id").notNull().unique(),
    hostname: text("hostname").notNull(),
    domain: text("domain").notNull().default("maas"),
    description: text("description").notNull().default(""),
    status: integer("status").notNull().default(0),
    previousStatus: integer("previous_status"),
    statusMessage: text("status_message").notNull().default(""),
    /** When the current phase fails if not finished (ms since epoch), or null. */
    statusExpires: integer("status_expires"),
    ownerId: integer("owner_id").references(() => users.id, { onDelete: "set null" }),
    architecture: text("architecture").notNull().default("amd64/generic"),
    cpuCount: integer("cpu_count").notNull().default(0),
    cpuModel: text("cpu_model").notNull().default(""),
    cpuSpeed: integer("cpu_speed").notNull().default(0),
    /** MiB, as MAAS. */
    memory: integer("memory").notNull().default(0),
    /** MB, as MAAS. */
    storage: real("storage").notNull().default(0),
    bootMac: text("boot_mac"),
    firmware: text("firmware", { enum: ["bios", "uefi", "unknown"] })
      .notNull()
      .default("unknown"),
    osystem: text("osystem").notNull().default(""),
    distroSeries: text("distro_series").notNull().default(""),
    userData: text("user_data"),
    /** Per-deployment secret in the phone-home URL the deployed OS calls; null outside a deployment. */
    deployToken: text("deploy_token"),
    /** When the ephemeral environment reported the image written: later PXE boots go to disk. */
    deployInstalledAt: integer("deploy_installed_at"),
    /**
     * The network configuration rendered when the deployment started (cloud-init v2 YAML, see
     * cloud/domain/machines/network-config.ts): frozen with the addresses it allocated, so the
     * rack and the installer write what the operator saw accepted.
     */
    deployNetwork: text("deploy_network"),
    /** The layout that made the storage design (set_storage_layout); "custom" once edited piece by piece. */
    storageLayout: text("storage_layout", { enum: ["flat", "lvm", "bcache", "blank", "custom"] })
      .notNull()
      .default("flat"),
    /**
     * The storage design (JSON, shared/storage/design.ts) the next deployment builds; null = the
     * default layout over the commissioned disks (cloud/domain/storage/repo.ts).
     */
    storageDesign: text("storage_design"),
    /** What the installer reported at "installed" (JSON: layout, disk, firmware, partitions); null until then. */
    deployedStorage: text("deployed_storage"),
    /** How the release environment erases disks while DISK_ERASING. */
    eraseMode: text("erase_mode", { enum: ["quick", "full"] }),
    powerType: text("power_type").notNull().default("manual"),
    /** AES-GCM ciphertext of the power parameters JSON (cloud/auth/secrets.ts). */
    powerParamsEnc: text("power_params_enc"),
    /** Names of the parameters that are set: shown instead of the values. */
    powerParamsSet: text("power_params_set", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    powerState: text("power_state", { enum: ["on", "off", "unknown", "error"] })
      .notNull()
      .default("unknown"),
    powerCheckedAt: integer("power_checked_at"),
    /**
     * When the power poller next queries this machine's BMC (ms since epoch): each machine's
     * slot in the poll interval comes from a hash of its id (cloud/machines/power-poll.ts).
     */
    powerPollDueAt: integer("power_poll_due_at").notNull().default(0),
    siteId: integer("site_id")
      .notNull()
      .references(() => sites.id),
    zoneId: integer("zone_id")
      .notNull()
      .references(() => zones.id),
    poolId: integer("pool_id")
      .notNull()
      .references(() => resourcePools.id),
    rackId: text("rack_id"),
    /** The rack that saw this machine's last DHCP discover or boot file request, and when (the event's time). */
    bootRackId: text("boot_rack_id"),
    bootAt: integer("boot_at"),
    locked: integer("locked", { mode: "boolean" }).notNull().default(false),
    ownerData: text("owner_data", { mode: "json" }).$type<Record<string, string>>().notNull().default(sql`'{}'`),
    hardwareUuid: text("hardware_uuid"),
    /** Written by every state change, so the change's event can be written in the same batch. */
    opNonce: text("op_nonce"),
    createdAt: createdAt(),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [
    uniqueIndex("machines_hostname_domain").on(t.hostname, t.domain),
    index("machines_status").on(t.status, t.id),
    index("machines_site").on(t.siteId, t.id),
    index("machines_site_status").on(t.siteId, t.status, t.id),
    index("machines_zone").on(t.zoneId, t.id),
    index("machines_pool").on(t.poolId, t.id),
    index("machines_owner").on(t.ownerId, t.id),
    index("machines_arch").on(t.architecture, t.id),
    index("machines_expires").on(t.statusExpires),
    index("machines_op_nonce").on(t.opNonce),
    // The poller reads only due machines with a BMC: manual ones are not in this index.
    index("machines_power_poll").on(t.powerPollDueAt).where(sql`power_type != 'manual'`),
  ],
);

export const machineTags = sqliteTable(
  "machine_tags",
  {
    machineId: integer("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    tagId: integer("tag_id")
      .notNull()
      .references(() => tags.id, { onDelete: "cascade" }),
  },
  (t) => [primaryKey({ columns: [t.machineId, t.tagId] }), index("machine_tags_tag").on(t.tagId, t.machineId)],
);

export const fabrics = sqliteTable("fabrics", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  description: text("description").notNull().default(""),
  createdAt: createdAt(),
});

export const spaces = sqliteTable("spaces", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  description: text("description").notNull().default(""),
  createdAt: createdAt(),
});

export const vlans = sqliteTable(
  "vlans",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    fabricId: integer("fabric_id")
      .notNull()
      .references(() => fabrics.id, { onDelete: "cascade" }),
    vid: integer("vid").notNull(),
    name: text("name").notNull().default(""),
    mtu: integer("mtu").notNull().default(1500),
    dhcpOn: integer("dhcp_on", { mode: "boolean" }).notNull().default(false),
    spaceId: integer("space_id").references(() => spaces.id, { onDelete: "set null" }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("vlans_fabric_vid").on(t.fabricId, t.vid)],
);

export const racks = sqliteTable(
  "racks",
  {
    id: text("id").primaryKey(),
    siteId: integer("site_id")
      .notNull()
      .references(() => sites.id),
    hostname: text("hostname").notNull(),
    version: text("version").notNull().default(""),
    secretHash: text("secret_hash").notNull(),
    /** A rotated credential not yet confirmed by the appliance; both are accepted until it is. */
    nextSecretHash: text("next_secret_hash"),
    interfaces: text("interfaces", { mode: "json" }).$type<unknown[]>().notNull().default(sql`'[]'`),
    /** What the appliance said it can do in its last hello (e.g. "power.poll"). */
    capabilities: text("capabilities", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    connected: integer("connected", { mode: "boolean" }).notNull().default(false),
    lastSeenAt: integer("last_seen_at"),
    /** Version of the last config snapshot the appliance confirmed. */
    configVersion: text("config_version"),
    /** The appliance's last status report (shared/tunnel/protocol.ts StatusFrameSchema): each service's state. */
    services: text("services", { mode: "json" }).$type<unknown[]>().notNull().default(sql`'[]'`),
    /** Events the appliance held not yet acknowledged by the region, as of status_at. */
    journalDepth: integer("journal_depth"),
    statusAt: integer("status_at"),
    enrolTokenId: integer("enrol_token_id"),
    createdAt: createdAt(),
    revokedAt: integer("revoked_at"),
  },
  (t) => [index("racks_site").on(t.siteId), index("racks_site_hostname").on(t.siteId, t.hostname)],
);

/**
 * Every command sent to a rack, for the API: the Durable Object's storage is the delivery
 * queue, this is the record. State changes are conditional (pending → final), which makes a
 * replayed result land once.
 */
export const rackCommands = sqliteTable(
  "rack_commands",
  {
    id: text("id").primaryKey(),
    rackId: text("rack_id").notNull(),
    machineId: integer("machine_id"),
    type: text("type").notNull(),
    state: text("state", { enum: ["pending", "done", "failed", "expired"] })
      .notNull()
      .default("pending"),
    result: text("result", { mode: "json" }).$type<unknown>(),
    actor: text("actor").notNull().default(""),
    deadline: integer("deadline").notNull(),
    createdAt: createdAt(),
    completedAt: integer("completed_at"),
  },
  (t) => [index("rack_commands_rack_state").on(t.rackId, t.state), index("rack_commands_machine").on(t.machineId, t.createdAt)],
);

/** Events reported by racks (DHCP, boot, metadata): the key makes a replayed event land once. */
export const rackEvents = sqliteTable(
  "rack_events",
  {
    rackId: text("rack_id").notNull(),
    journal: text("journal").notNull(),
    seq: integer("seq").notNull(),
    type: text("type").notNull(),
    data: text("data", { mode: "json" }).$type<unknown>().notNull(),
    at: integer("at").notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.rackId, t.journal, t.seq] }), index("rack_events_type").on(t.type, t.receivedAt)],
);

export const enrolTokens = sqliteTable("enrol_tokens", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().default(""),
  /** First characters of the token, to recognise it in lists (the rest is only hashed). */
  prefix: text("prefix").notNull().default(""),
  usedCount: integer("used_count").notNull().default(0),
  siteId: integer("site_id")
    .notNull()
    .references(() => sites.id, { onDelete: "cascade" }),
  tokenHash: text("token_hash").notNull().unique(),
  expiresAt: integer("expires_at").notNull(),
  usesLeft: integer("uses_left"),
  createdBy: integer("created_by").references(() => users.id, { onDelete: "set null" }),
  createdAt: createdAt(),
  revokedAt: integer("revoked_at"),
});

export const subnets = sqliteTable(
  "subnets",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    cidr: text("cidr").notNull().unique(),
    name: text("name").notNull().default(""),
    vlanId: integer("vlan_id").references(() => vlans.id, { onDelete: "set null" }),
    siteId: integer("site_id").references(() => sites.id, { onDelete: "set null" }),
    gatewayIp: text("gateway_ip"),
    dnsServers: text("dns_servers", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    rackId: text("rack_id").references(() => racks.id, { onDelete: "set null" }),
    managed: integer("managed", { mode: "boolean" }).notNull().default(true),
    createdAt: createdAt(),
  },
  (t) => [index("subnets_site").on(t.siteId), index("subnets_vlan").on(t.vlanId)],
);

export const ipRanges = sqliteTable(
  "ip_ranges",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    subnetId: integer("subnet_id")
      .notNull()
      .references(() => subnets.id, { onDelete: "cascade" }),
    type: text("type", { enum: ["dynamic", "reserved"] }).notNull(),
    startIp: text("start_ip").notNull(),
    endIp: text("end_ip").notNull(),
    comment: text("comment").notNull().default(""),
    createdAt: createdAt(),
  },
  (t) => [index("ip_ranges_subnet").on(t.subnetId)],
);

export const interfaces = sqliteTable(
  "interfaces",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    machineId: integer("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /**
     * Unique among physical interfaces only (interfaces_physical_mac), as in MAAS: a bond or a
     * bridge takes its first parent's MAC unless the operator sets one, and a VLAN interface
     * always carries its parent's, so the same MAC appears on several rows of one machine.
     * Lookups that mean "the NIC with this MAC" (DHCP, boot, commissioning) filter on
     * type = 'physical'; those that only want the machine get the same one from any row.
     */
    mac: text("mac").notNull(),
    type: text("type", { enum: ["physical", "bond", "bridge", "vlan"] })
      .notNull()
      .default("physical"),
    vlanId: integer("vlan_id").references(() => vlans.id, { onDelete: "set null" }),
    subnetId: integer("subnet_id").references(() => subnets.id, { onDelete: "set null" }),
    ipAddress: text("ip_address"),
    linkMode: text("link_mode", { enum: ["auto", "dhcp", "static", "link_up"] })
      .notNull()
      .default("auto"),
    driver: text("driver").notNull().default(""),
    speedMbps: integer("speed_mbps").notNull().default(0),
    linkConnected: integer("link_connected", { mode: "boolean" }).notNull().default(true),
    isBoot: integer("is_boot", { mode: "boolean" }).notNull().default(false),
    /** MAAS's interface params for this type: bond_* for a bond, bridge_* for a bridge (cloud/domain/machines/interface-kinds.ts). */
    params: text("params", { mode: "json" }).$type<Record<string, unknown>>().notNull().default(sql`'{}'`),
    /** NULL: the VLAN's MTU. */
    mtu: integer("mtu"),
    /** MAAS's interface tags: labels operators and Terraform put on a NIC (not machine tags). */
    tags: text("tags", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    createdAt: createdAt(),
  },
  (t) => [index("interfaces_machine").on(t.machineId), uniqueIndex("interfaces_physical_mac").on(t.mac).where(sql`type = 'physical'`)],
);

export const blockDevices = sqliteTable(
  "block_devices",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    machineId: integer("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    path: text("path").notNull().default(""),
    model: text("model").notNull().default(""),
    serial: text("serial").notNull().default(""),
    /** Bytes. */
    size: integer("size").notNull(),
    rotational: integer("rotational", { mode: "boolean" }).notNull().default(false),
    isBoot: integer("is_boot", { mode: "boolean" }).notNull().default(false),
    /** MAAS's block device tags (JSON array); null = the commissioned ones: "ssd" or "rotary". */
    tags: text("tags", { mode: "json" }).$type<string[]>(),
    createdAt: createdAt(),
  },
  (t) => [index("block_devices_machine").on(t.machineId)],
);

export const commissioningResults = sqliteTable(
  "commissioning_results",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    machineId: integer("machine_id")
      .notNull()
      .references(() => machines.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    status: text("status", { enum: ["passed", "failed", "running", "timedout"] }).notNull(),
    exitCode: integer("exit_code"),
    output: text("output").notNull().default(""),
    createdAt: createdAt(),
  },
  (t) => [index("commissioning_results_machine").on(t.machineId, t.id)],
);

/** Append-only (triggers refuse UPDATE and DELETE): the audit log of every transition and action. */
export const events = sqliteTable(
  "events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    machineId: integer("machine_id"),
    systemId: text("system_id"),
    hostname: text("hostname"),
    siteId: integer("site_id"),
    type: text("type").notNull(),
    level: text("level", { enum: ["DEBUG", "INFO", "WARNING", "ERROR", "AUDIT"] })
      .notNull()
      .default("INFO"),
    actor: text("actor").notNull(),
    fromStatus: integer("from_status"),
    toStatus: integer("to_status"),
    description: text("description").notNull().default(""),
    createdAt: createdAt(),
  },
  (t) => [index("events_machine").on(t.machineId, t.id), index("events_site").on(t.siteId, t.id), index("events_type").on(t.type, t.id)],
);

export const bootImages = sqliteTable(
  "boot_images",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    osystem: text("osystem").notNull(),
    series: text("series").notNull(),
    architecture: text("architecture").notNull().default("amd64/generic"),
    kind: text("kind", { enum: ["synced", "uploaded", "custom"] })
      .notNull()
      .default("synced"),
    url: text("url"),
    sha256: text("sha256"),
    format: text("format", { enum: IMAGE_FORMATS }).notNull().default("raw.gz"),
    size: integer("size").notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("boot_images_unique").on(t.osystem, t.series, t.architecture)],
);

/**
 * Simplestreams mirrors the region imports images from (MAAS's boot sources). The index must
 * verify against keyring_data (OpenPGP public keys, armored or binary as base64) unless the
 * operator set skip_verify explicitly; a source with neither is refused when it is created.
 */
export const bootSources = sqliteTable("boot_sources", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  url: text("url").notNull().unique(),
  keyringData: text("keyring_data"),
  keyringFilename: text("keyring_filename").notNull().default(""),
  skipVerify: integer("skip_verify", { mode: "boolean" }).notNull().default(false),
  createdAt: createdAt(),
  updatedAt: integer("updated_at").notNull().default(now),
});

/** What a sync takes from a source: one OS release, its architectures, subarches and labels ("*" = all). */
export const bootSourceSelections = sqliteTable(
  "boot_source_selections",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    sourceId: integer("source_id")
      .notNull()
      .references(() => bootSources.id, { onDelete: "cascade" }),
    os: text("os").notNull(),
    release: text("release").notNull(),
    arches: text("arches", { mode: "json" }).$type<string[]>().notNull().default(sql`'["*"]'`),
    subarches: text("subarches", { mode: "json" }).$type<string[]>().notNull().default(sql`'["*"]'`),
    labels: text("labels", { mode: "json" }).$type<string[]>().notNull().default(sql`'["*"]'`),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("boot_source_selections_unique").on(t.sourceId, t.os, t.release)],
);

/**
 * One version of a synced product (simplestreams "versions"). The boot_images row points at
 * its newest complete version's root file; the region keeps the last two complete versions.
 */
export const bootImageVersions = sqliteTable(
  "boot_image_versions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    imageId: integer("image_id")
      .notNull()
      .references(() => bootImages.id, { onDelete: "cascade" }),
    sourceId: integer("source_id").references(() => bootSources.id, { onDelete: "set null" }),
    product: text("product").notNull(),
    version: text("version").notNull(),
    label: text("label").notNull().default(""),
    complete: integer("complete", { mode: "boolean" }).notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("boot_image_versions_unique").on(t.imageId, t.version)],
);

/** The items of a version (kernel, initrd, root image ...): each stored in IMAGES under its sha256. */
export const bootImageFiles = sqliteTable(
  "boot_image_files",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    versionId: integer("version_id")
      .notNull()
      .references(() => bootImageVersions.id, { onDelete: "cascade" }),
    ftype: text("ftype").notNull(),
    path: text("path").notNull(),
    sha256: text("sha256").notNull(),
    size: integer("size").notNull(),
    bytesDone: integer("bytes_done").notNull().default(0),
    state: text("state", { enum: ["pending", "downloading", "stored", "failed"] })
      .notNull()
      .default("pending"),
    error: text("error"),
  },
  (t) => [uniqueIndex("boot_image_files_unique").on(t.versionId, t.ftype), index("boot_image_files_sha256").on(t.sha256)],
);

/** Import runs: at most one running at a time (the partial unique index), resumable where it left off. */
export const imageSyncs = sqliteTable(
  "image_syncs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    state: text("state", { enum: ["running", "complete", "failed", "stopped"] })
      .notNull()
      .default("running"),
    trigger: text("trigger", { enum: ["manual", "schedule"] })
      .notNull()
      .default("manual"),
    actor: text("actor").notNull().default(""),
    itemsTotal: integer("items_total").notNull().default(0),
    itemsDone: integer("items_done").notNull().default(0),
    bytesTotal: integer("bytes_total").notNull().default(0),
    bytesDone: integer("bytes_done").notNull().default(0),
    error: text("error"),
    startedAt: integer("started_at").notNull().default(now),
    finishedAt: integer("finished_at"),
    heartbeatAt: integer("heartbeat_at"),
  },
  (t) => [uniqueIndex("image_syncs_one_running").on(t.state).where(sql`state = 'running'`)],
);

/** What each rack's image cache holds, as the rack reports it through the tunnel. */
export const rackImages = sqliteTable(
  "rack_images",
  {
    rackId: text("rack_id")
      .notNull()
      .references(() => racks.id, { onDelete: "cascade" }),
    sha256: text("sha256").notNull(),
    state: text("state", { enum: ["present", "downloading", "failed", "evicted"] }).notNull(),
    bytes: integer("bytes").notNull().default(0),
    total: integer("total").notNull().default(0),
    error: text("error"),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [primaryKey({ columns: [t.rackId, t.sha256] })],
);

/** Dashboard sign-in sessions: the cookie carries the id; only its hash is stored. */
export const sessions = sqliteTable(
  "sessions",
  {
    idHash: text("id_hash").primaryKey(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    csrfToken: text("csrf_token").notNull(),
    createdAt: createdAt(),
    expiresAt: integer("expires_at").notNull(),
    lastSeenAt: integer("last_seen_at"),
  },
  (t) => [index("sessions_user").on(t.userId), index("sessions_expires").on(t.expiresAt)],
);

/** Failed sign-ins per username and per client address, for rate limiting. */
export const loginAttempts = sqliteTable(
  "login_attempts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    key: text("key").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [index("login_attempts_key").on(t.key, t.at)],
);

/**
 * Files stored through the MAAS facade's files/ endpoint (Juju's provider storage). The bytes
 * live in the FILES R2 bucket under `object`; `key` is the unguessable name of the file's
 * anonymous URL (files/?op=get_by_key&key=…). A file is unique per owner and name; storing the
 * same name again replaces the content and keeps the key, as MAAS does.
 */
export const maasFiles = sqliteTable(
  "maas_files",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    ownerId: integer("owner_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    filename: text("filename").notNull(),
    key: text("key").notNull().unique(),
    object: text("object").notNull(),
    size: integer("size").notNull(),
    createdAt: createdAt(),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [uniqueIndex("maas_files_owner_name").on(t.ownerId, t.filename)],
);

/**
 * Which interfaces an interface is built on: a bond's members, a bridge's port, a VLAN
 * interface's one parent. Both ends are interfaces of the same machine.
 */
export const interfaceParents = sqliteTable(
  "interface_parents",
  {
    childId: integer("child_id")
      .notNull()
      .references(() => interfaces.id, { onDelete: "cascade" }),
    parentId: integer("parent_id")
      .notNull()
      .references(() => interfaces.id, { onDelete: "cascade" }),
  },
  (t) => [primaryKey({ columns: [t.childId, t.parentId] }), index("interface_parents_parent").on(t.parentId)],
);

/** What an address row is (MAAS's StaticIPAddress alloc types, by name). */
export const IP_ADDRESS_KINDS = ["auto", "static", "dhcp", "sticky", "discovered", "user_reserved", "link_up"] as const;

/**
 * Every address Plinth knows of a subnet, and every link of a machine interface (MAAS's
 * StaticIPAddress): a row with interface_id set is a link. An AUTO or DHCP link has no ip until
 * deployment (or a lease) gives it one; a LINK_UP link has no ip and maybe no subnet. UNIQUE
 * (subnet_id, ip) is what makes allocation safe: two writers can never hold the same address
 * (SQLite treats NULLs as distinct, so address-less links do not collide).
 */
export const ipAddresses = sqliteTable(
  "ip_addresses",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    subnetId: integer("subnet_id").references(() => subnets.id, { onDelete: "cascade" }),
    ip: text("ip"),
    kind: text("kind", { enum: IP_ADDRESS_KINDS }).notNull(),
    interfaceId: integer("interface_id").references(() => interfaces.id, { onDelete: "cascade" }),
    machineId: integer("machine_id").references(() => machines.id, { onDelete: "cascade" }),
    /** Who reserved it (user_reserved rows); reservations outlive their user's account. */
    ownerId: integer("owner_id").references(() => users.id, { onDelete: "set null" }),
    /** A reservation for a MAC that is no machine's (MAAS reserve with mac): the rack's DHCP serves it. */
    mac: text("mac"),
    /** The link that carries the machine's default route for its address family (MAAS's gateway_link_ipv4/6). */
    defaultGateway: integer("default_gateway", { mode: "boolean" }).notNull().default(false),
    comment: text("comment").notNull().default(""),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex("ip_addresses_subnet_ip").on(t.subnetId, t.ip),
    index("ip_addresses_interface").on(t.interfaceId),
    index("ip_addresses_machine").on(t.machineId),
    check("ip_addresses_subnet_needed", sql`${t.subnetId} IS NOT NULL OR ${t.kind} = 'link_up'`),
  ],
);

/**
 * Region-wide settings (MAAS's get_config/set_config): one row per setting that differs from its
 * default, the value JSON-encoded. Which names exist, their types and defaults live in
 * cloud/domain/settings.ts, so an unknown name never reaches this table.
 */
export const settings = sqliteTable("settings", {
  name: text("name").primaryKey(),
  value: text("value").notNull(),
  updatedAt: integer("updated_at").notNull().default(now),
});

/** A user's X.509 certificates (MAAS's SSL keys), PEM text as uploaded; a user holds each once. */
export const sslKeys = sqliteTable(
  "ssl_keys",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    key: text("key").notNull(),
    fingerprint: text("fingerprint").notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("ssl_keys_user_fingerprint").on(t.userId, t.fingerprint)],
);

/**
 * Notifications for dashboard and MAAS-client users: to one user, to every user, to admins, or
 * a mix. A user's dismissal hides one from that user only.
 */
export const notifications = sqliteTable(
  "notifications",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    ident: text("ident"),
    message: text("message").notNull(),
    category: text("category", { enum: ["error", "warning", "success", "info"] })
      .notNull()
      .default("info"),
    userId: integer("user_id").references(() => users.id, { onDelete: "cascade" }),
    toUsers: integer("users", { mode: "boolean" }).notNull().default(false),
    toAdmins: integer("admins", { mode: "boolean" }).notNull().default(false),
    dismissable: integer("dismissable", { mode: "boolean" }).notNull().default(true),
    context: text("context", { mode: "json" }).$type<Record<string, unknown>>().notNull().default(sql`'{}'`),
    createdAt: createdAt(),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [check("notifications_category", sql`${t.category} IN ('error', 'warning', 'success', 'info')`)],
);

export const notificationDismissals = sqliteTable(
  "notification_dismissals",
  {
    notificationId: integer("notification_id")
      .notNull()
      .references(() => notifications.id, { onDelete: "cascade" }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
  },
  (t) => [primaryKey({ columns: [t.notificationId, t.userId] })],
);

/**
 * APT archives deployed machines use, as MAAS keeps them (package-repositories/). Lists are
 * JSON arrays of names; `key` is an ASCII-armoured signing key, or empty for the distribution's.
 */
export const packageRepositories = sqliteTable("package_repositories", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  name: text("name").notNull().unique(),
  url: text("url").notNull(),
  distributions: text("distributions", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  disabledPockets: text("disabled_pockets", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  disabledComponents: text("disabled_components", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  components: text("components", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  arches: text("arches", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
  key: text("key").notNull().default(""),
  disableSources: integer("disable_sources", { mode: "boolean" }).notNull().default(true),
  enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
  createdAt: createdAt(),
  updatedAt: integer("updated_at").notNull().default(now),
});

/**
 * Devices (MAAS's non-deployable nodes: switches, PDUs, BMCs, appliances an operator wants
 * named and addressed): a name, the site they stand on, their MACs. Their addresses are the
 * reservations made for those MACs (ip_addresses.mac), which the rack's DHCP serves.
 */
export const devices = sqliteTable(
  "devices",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    systemId: text("system_id").notNull().unique(),
    hostname: text("hostname").notNull(),
    domain: text("domain").notNull().default("maas"),
    description: text("description").notNull().default(""),
    siteId: integer("site_id")
      .notNull()
      .references(() => sites.id),
    zoneId: integer("zone_id")
      .notNull()
      .references(() => zones.id),
    ownerId: integer("owner_id").references(() => users.id, { onDelete: "set null" }),
    parentId: integer("parent_id").references(() => machines.id, { onDelete: "set null" }),
    macs: text("macs", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    /** MAAS's workload annotations (owner data): what automation tags a device with, e.g. Juju's container ids. */
    ownerData: text("owner_data", { mode: "json" }).$type<Record<string, string>>().notNull().default(sql`'{}'`),
    createdAt: createdAt(),
    updatedAt: integer("updated_at").notNull().default(now),
  },
  (t) => [uniqueIndex("devices_hostname_domain").on(t.hostname, t.domain), index("devices_site").on(t.siteId)],
);

/**
 * DNS domains (MAAS's Domain). machines.domain and devices.domain hold a domain's name, not its
 * id, so a rename rewrites them. "maas" (id 0) is seeded as the default; exactly one row is the
 * default, which the partial unique index enforces.
 */
export const domains = sqliteTable(
  "domains",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    name: text("name").notNull().unique(),
    authoritative: integer("authoritative", { mode: "boolean" }).notNull().default(true),
    /** null: the `default_dns_ttl` setting. */
    ttl: integer("ttl"),
    isDefault: integer("is_default", { mode: "boolean" }).notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("domains_one_default").on(t.isDefault).where(sql`is_default = 1`)],
);

/**
 * An operator's name in a domain (MAAS's DNSResource): its own addresses (A/AAAA, kept as a
 * JSON array of canonical IPs, not ip_addresses rows: they allocate nothing) and, in
 * dns_records, its other data. "@" is the domain's apex.
 */
export const dnsResources = sqliteTable(
  "dns_resources",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    name: text("name").notNull(),
    domainId: integer("domain_id")
      .notNull()
      .references(() => domains.id, { onDelete: "cascade" }),
    addressTtl: integer("address_ttl"),
    addresses: text("addresses", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("dns_resources_domain_name").on(t.domainId, t.name)],
);

/** A record of a DNS resource other than its addresses (MAAS's DNSData): rrdata in master-file form. */
export const dnsRecords = sqliteTable(
  "dns_records",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    resourceId: integer("resource_id")
      .notNull()
      .references(() => dnsResources.id, { onDelete: "cascade" }),
    rrtype: text("rrtype").notNull(),
    rrdata: text("rrdata").notNull(),
    ttl: integer("ttl"),
    createdAt: createdAt(),
  },
  (t) => [index("dns_records_resource").on(t.resourceId)],
);

/**
 * The serial of each zone a site serves, with the hash of the content it was given for: the
 * snapshot build bumps it in one upsert when the content changed (cloud/domain/dns/serial.ts).
 * Per site, since two sites serve different contents under the same zone name.
 */
export const dnsZoneSerials = sqliteTable(
  "dns_zone_serials",
  {
    siteId: integer("site_id").notNull(),
    zone: text("zone").notNull(),
    hash: text("hash").notNull(),
    serial: integer("serial").notNull(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.zone] })],
);

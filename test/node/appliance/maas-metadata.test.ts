// The MAAS metadata API on the rack's boot HTTP server, read by stock cloud-init: Debian's
// cloud-init package's own MAAS datasource code (read_maas_seed_url with its OauthUrlHelper)
// against a server holding only a snapshot, on loopback. Debian's python3 on purpose: the
// packages live in its dist-packages (test/deps/metadata.txt), not in any other python on PATH.
// Also what the deployed system posts: cloud-init's own webhook reporter, configured from the
// cloud_init text the deploy document carries, and MAAS's ?op=signal.
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BootHttpServer } from "../../../appliance/http/server";
import { cloudInitConfig } from "../../../appliance/metadata/deploy";
import { InstalledDeployments } from "../../../appliance/metadata/installed";
import { MAX_BAD_CREDENTIALS, maasMetadataApi, type NodeReport } from "../../../appliance/metadata/maas";
import { NodeKeys } from "../../../appliance/metadata/node-keys";
import { percentEncode } from "../../../appliance/metadata/oauth";
import { type NodeCredentials, nodeCredentials } from "../../../shared/node-credentials";
import type { ConfigSnapshot, DeploySpec } from "../../../shared/tunnel/config";

const PYTHON = "/usr/bin/python3";
const TOKEN = "T0ken0123456789abcdefABCDEF01234";
const USER_DATA = "#cloud-config\nruncmd: [touch /run/marker]\n";
const spec: DeploySpec = {
  token: TOKEN,
  image: null,
  hostname: "node-7",
  userData: Buffer.from(USER_DATA).toString("base64"),
  sshKeys: ["ssh-ed25519 AAAAC3Nza owner@lab", "ssh-rsa AAAAB3Nza other@lab"],
  storage: { layout: "flat", disk: "", plan: [] },
  kernelOpts: "",
  networkConfig: "",
};
let snapshot: ConfigSnapshot = {
  version: "v1",
  site: "s",
  subnets: [],
  reservations: [],
  bootIntents: [
    { mac: "52:54:00:00:00:01", systemId: "abc123", intent: "deploy", deploy: spec },
    {
      mac: "52:54:00:00:00:02",
      systemId: "def456",
      intent: "deploy",
      deploy: { ...spec, token: `${TOKEN.slice(0, -1)}5`, hostname: "node-8", userData: undefined },
    },
  ],
  images: [],
  dns: { zones: [], upstream: [] },
};

let server: BootHttpServer;
let base: string;
let creds: NodeCredentials;
const dir = mkdtempSync(join(tmpdir(), "plinth-maas-md-"));
/** The specs the rack served, as services.ts keeps them. */
const kept = new InstalledDeployments(join(dir, "installed.json"));
/** What the API journaled for the region (the daemon's emit in services.ts). */
const journal: NodeReport[] = [];

beforeAll(async () => {
  if (!existsSync("/usr/lib/python3/dist-packages/cloudinit/sources/DataSourceMAAS.py"))
    throw new Error("Debian's cloud-init is missing: apt-get install cloud-init python3-oauthlib (see test/deps/metadata.txt)");
  const keys = new NodeKeys(() => snapshot, kept);
  const api = maasMetadataApi({ find: (k) => keys.find(k), report: async (r) => journal.push(r) });
  server = new BootHttpServer({ intents: () => null, maas: api, host: "127.0.0.1", port: 0 });
  const { port } = await server.listen();
  base = `http://127.0.0.1:${port}`;
  creds = await nodeCredentials(TOKEN);
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** cloud-init's own MAAS datasource reading the seed; prints what it got as JSON, or the error. */
const READ_SEED = `
import json, sys
from cloudinit import url_helper
from cloudinit.sources.DataSourceMAAS import read_maas_seed_url
url, ck, tk, ts, version = sys.argv[1:6]
helper = url_helper.OauthUrlHelper(consumer_key=ck, token_key=tk, token_secret=ts, consumer_secret="", skew_data_file=None)
try:
    ud, md, vd = read_maas_seed_url(url, read_file_or_url=helper.readurl, version=version, retries=0, timeout=10)
except url_helper.UrlError as e:
    print(json.dumps({"error": e.code, "message": str(e)}))
    sys.exit(0)
print(json.dumps({"user_data": ud.decode() if ud is not None else None, "meta_data": md, "vendor_data": vd}))
`;

// Asynchronous on purpose: the server answering it runs in this process's event loop.
async function cloudInitRead(c: NodeCredentials, version = "2012-03-01"): Promise<unknown> {
  const { stdout } = await promisify(execFile)(PYTHON, ["-c", READ_SEED, `${base}/MAAS/metadata`, c.consumerKey, c.tokenKey, c.tokenSecret, version], {
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

describe("stock cloud-init's MAAS datasource", () => {
  it("reads the deployment's instance-id, hostname, keys and user-data from the snapshot", async () => {
    for (const version of ["2012-03-01", "latest"]) {
      expect(await cloudInitRead(creds, version)).toEqual({
        user_data: USER_DATA,
        meta_data: { "instance-id": "abc123", "local-hostname": "node-7", "public-keys": "ssh-ed25519 AAAAC3Nza owner@lab\nssh-rsa AAAAB3Nza other@lab" },
        vendor_data: { "cloud-init": "#cloud-config\n" },
      });
    }
  });

  it("gets each node its own deployment, and no user-data when it has none", async () => {
    expect(await cloudInitRead(await nodeCredentials(`${TOKEN.slice(0, -1)}5`))).toMatchObject({
      user_data: null,
      meta_data: { "instance-id": "def456", "local-hostname": "node-8" },
    });
  });

  it("fails with 401 on a wrong secret, an unknown token or another node's consumer key", async () => {
    const other = await nodeCredentials(`${TOKEN.slice(0, -1)}5`);
    expect(await cloudInitRead({ ...creds, tokenSecret: other.tokenSecret })).toMatchObject({ error: 401 });
    expect(await cloudInitRead({ ...creds, tokenKey: "x".repeat(18) })).toMatchObject({ error: 401 });
    expect(await cloudInitRead({ ...creds, consumerKey: other.consumerKey })).toMatchObject({ error: 401 });
  });

  it("keeps working when the node boots its disk, for as long as the spec is in the snapshot", async () => {
    const before = snapshot;
    snapshot = { ...snapshot, version: "v3", bootIntents: snapshot.bootIntents.map((b) => (b.systemId === "abc123" ? { ...b, intent: "local" as const } : b)) };
    try {
      expect(await cloudInitRead(creds)).toMatchObject({ meta_data: { "instance-id": "abc123" } });
    } finally {
      snapshot = before;
    }
  });

  it("stops working when the deployment leaves the snapshot (released or redeployed)", async () => {
    const before = snapshot;
    snapshot = { ...snapshot, version: "v2", bootIntents: snapshot.bootIntents.slice(1) };
    try {
      expect(await cloudInitRead(creds)).toMatchObject({ error: 401 });
    } finally {
      snapshot = before;
    }
  });
});

describe("after the install: the deployed system with only its token in the snapshot", () => {
  const deployed = (token: string | undefined): ConfigSnapshot => ({
    ...snapshot,
    version: `deployed-${token ?? "none"}`,
    bootIntents: snapshot.bootIntents.map((b) =>
      b.systemId === "abc123" ? { mac: b.mac, systemId: b.systemId, intent: "local" as const, ...(token ? { deployToken: token } : {}) } : b,
    ),
  });

  it("answers from the spec this rack kept while the snapshot names the token, and 401 once released", async () => {
    const before = snapshot;
    try {
      // The region dropped the spec and named only the token; the rack never served this one.
      snapshot = deployed(TOKEN);
      expect(await cloudInitRead(creds)).toMatchObject({ error: 401 });
      // The rack served it (GET /deploy): from then on the deployed system is answered.
      kept.served(TOKEN, "abc123", spec);
      expect(await cloudInitRead(creds)).toMatchObject({ user_data: USER_DATA, meta_data: { "instance-id": "abc123", "local-hostname": "node-7" } });
      // Released: the snapshot no longer names the token, the kept spec answers nothing.
      snapshot = deployed(undefined);
      expect(await cloudInitRead(creds)).toMatchObject({ error: 401 });
      // A kept spec is answered only for the machine it was served to.
      snapshot = { ...deployed(undefined), bootIntents: [{ mac: "52:54:00:00:00:09", systemId: "zzz999", intent: "local", deployToken: TOKEN }] };
      expect(await cloudInitRead(creds)).toMatchObject({ error: 401 });
    } finally {
      snapshot = before;
    }
  });
});

/**
 * Stock cloud-init's reporting, configured from the `cloud_init` text the deploy document
 * carries (parsed by cloud-init's own YAML loader, its `reporting` given to
 * update_configuration as cloud-init's stages do), reporting modules-final's finish; then the
 * same endpoint read directly with the handler's own OAuth helper, to see the status code.
 */
const WEBHOOK = `
import json, sys
from cloudinit import reporting, url_helper, util
from cloudinit.reporting import events
cfg = util.load_yaml(open(sys.argv[1]).read())
reporting.update_configuration(cfg["reporting"])
events.report_finish_event("modules-final", "running modules for final", events.status.SUCCESS)
reporting.flush_events()
maas = cfg["reporting"]["maas"]
helper = url_helper.OauthUrlHelper(consumer_key=maas["consumer_key"], token_key=maas["token_key"], token_secret=maas["token_secret"], consumer_secret="")
try:
    helper.readurl(maas["endpoint"], data=json.dumps({"name": "probe", "description": "", "event_type": "start", "origin": "cloudinit", "timestamp": 1.5}), retries=0)
    code = 200
except url_helper.UrlError as e:
    code = e.code
print(json.dumps({"datasource_list": cfg["datasource_list"], "metadata_url": cfg["datasource"]["MAAS"]["metadata_url"], "probe": code}))
`;

async function cloudInitReport(c: NodeCredentials): Promise<{ datasource_list: string[]; metadata_url: string; probe: number }> {
  const file = join(dir, `90_plinth-${c.tokenSecret.slice(0, 6)}.cfg`);
  writeFileSync(file, cloudInitConfig(base, "abc123", c));
  const { stdout } = await promisify(execFile)(PYTHON, ["-c", WEBHOOK, file], { timeout: 60_000 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

describe("stock cloud-init's webhook reporter", () => {
  it("posts modules-final's finish, signed with the node's credentials: journaled for the region", async () => {
    journal.length = 0;
    const out = await cloudInitReport(creds);
    expect(out).toEqual({ datasource_list: ["MAAS"], metadata_url: `${base}/MAAS/metadata/`, probe: 200 });
    const finish = journal.find((r) => r.name === "cloudinit" && r.status === "passed");
    expect(finish).toBeDefined();
    expect(finish!.systemId).toBe("abc123");
    expect(JSON.parse(finish!.output)).toMatchObject({
      name: "modules-final",
      event_type: "finish",
      result: "SUCCESS",
      origin: "cloudinit",
      description: "running modules for final",
    });
    expect(journal.some((r) => r.status === "running" && JSON.parse(r.output).name === "probe")).toBe(true);
  });

  it("with a wrong token secret: refused with 401, nothing journaled", async () => {
    journal.length = 0;
    const other = await nodeCredentials(`${TOKEN.slice(0, -1)}5`);
    const out = await cloudInitReport({ ...creds, tokenSecret: other.tokenSecret });
    expect(out.probe).toBe(401);
    expect(journal).toEqual([]);
  });

  it("refuses another node's system_id, a body that is not an event, and a GET", async () => {
    journal.length = 0;
    const post = (path: string, body: string) =>
      fetch(`${base}/MAAS/metadata/${path}`, { method: "POST", body, headers: { authorization: plaintextHeader(creds) } });
    expect((await post("status/def456", JSON.stringify({ name: "x", event_type: "start" }))).status).toBe(401);
    expect((await post("status/abc123", "not json")).status).toBe(400);
    const bad = await post("status/abc123", JSON.stringify({ name: "x", event_type: "middle" }));
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/event_type/);
    expect((await fetch(`${base}/MAAS/metadata/status/abc123`, { headers: { authorization: plaintextHeader(creds) } })).status).toBe(405);
    expect(journal).toEqual([]);
  });
});

describe("op=signal", () => {
  it("lands FAILED as the installer's failure and WORKING as progress; an unknown status is 400", async () => {
    journal.length = 0;
    const url = `${base}/MAAS/metadata/latest/?op=signal`;
    const signal = (form: Record<string, string>) => {
      const body = new URLSearchParams(form).toString();
      return fetch(url, {
        method: "POST",
        body,
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: hmacHeader(creds, url, "POST", Object.entries(form)) },
      });
    };
    expect((await signal({ status: "WORKING", error: "partitioning" })).status).toBe(200);
    expect((await signal({ status: "FAILED", error: "mkfs.ext4: no space left" })).status).toBe(200);
    expect((await signal({ status: "EXPLODED" })).status).toBe(400);
    // The body is part of an HMAC signature: a changed field is a forgery.
    const forged = await fetch(url, {
      method: "POST",
      body: "status=OK",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: hmacHeader(creds, url, "POST", [["status", "FAILED"]]) },
    });
    expect(forged.status).toBe(401);
    expect(journal.map((r) => [r.name, r.status, JSON.parse(r.output)])).toEqual([
      ["status", "running", { mode: "deploy", status: "progress", step: "signal", message: "WORKING: partitioning" }],
      ["status", "failed", { mode: "deploy", status: "failed", error: "mkfs.ext4: no space left" }],
    ]);
  });
});

/** cloud-init's own signature: PLAINTEXT, the key being the empty consumer secret and the token secret. */
function plaintextHeader(c: NodeCredentials): string {
  return `OAuth oauth_consumer_key="${c.consumerKey}", oauth_token="${c.tokenKey}", oauth_signature_method="PLAINTEXT", oauth_signature="%26${c.tokenSecret}", oauth_nonce="n", oauth_timestamp="1", oauth_version="1.0"`;
}

/** An HMAC-SHA1 Authorization header, as MAAS's own clients sign. */
function hmacHeader(c: NodeCredentials, url: string, method = "GET", form: [string, string][] = []): string {
  const p: Record<string, string> = {
    oauth_consumer_key: c.consumerKey,
    oauth_token: c.tokenKey,
    oauth_signature_method: "HMAC-SHA1",
    oauth_timestamp: "1700000000",
    oauth_nonce: "n0nce",
    oauth_version: "1.0",
  };
  const u = new URL(url);
  const params = [...Object.entries(p), ...u.searchParams, ...form]
    .map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`)
    .sort()
    .join("&");
  const baseString = `${method}&${percentEncode(`${u.origin}${u.pathname}`)}&${percentEncode(params)}`;
  p["oauth_signature"] = createHmac("sha1", `&${c.tokenSecret}`).update(baseString).digest("base64");
  return `OAuth ${Object.entries(p)
    .map(([k, v]) => `${k}="${percentEncode(v)}"`)
    .join(", ")}`;
}

describe("the API over HTTP", () => {
  it("accepts HMAC-SHA1 and lists meta-data", async () => {
    const url = `${base}/MAAS/metadata/latest/meta-data/`;
    const r = await fetch(url, { headers: { authorization: hmacHeader(creds, url) } });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("instance-id\nlocal-hostname\npublic-keys\nvendor-data\n");
  });

  it("answers a missing signature with a short 401, an unknown path with 404", async () => {
    const r = await fetch(`${base}/MAAS/metadata/latest/meta-data/instance-id`);
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toMatch(/^OAuth/);
    expect(await r.text()).toBe("Authorization required\n");
    expect((await fetch(`${base}/MAAS/metadata/2009-04-04/meta-data/instance-id`)).status).toBe(404);
    expect((await fetch(`${base}/MAAS/metadata/latest/meta-data/secrets`)).status).toBe(404);
  });

  it("never returns the credentials themselves", async () => {
    for (const path of ["meta-data/", "meta-data/instance-id", "meta-data/local-hostname", "meta-data/public-keys", "meta-data/vendor-data", "user-data"]) {
      const url = `${base}/MAAS/metadata/latest/${path}`;
      const body = await (await fetch(url, { headers: { authorization: hmacHeader(creds, url) } })).text();
      expect(body).not.toContain(creds.tokenSecret);
      expect(body).not.toContain(TOKEN);
    }
  });
});

describe("bad credentials from one address", () => {
  it("get 429 with Retry-After once past the limit; a node with good ones, and other addresses, are not refused", async () => {
    // Its own API, so this flood leaves the server the other tests use alone; called in process.
    const api = maasMetadataApi({ find: (k) => new NodeKeys(() => snapshot, kept).find(k) });
    const url = "http://10.9.0.1:5248/MAAS/metadata/latest/meta-data/";
    const req = (authorization: string | undefined, remote: string) =>
      api({
        method: "GET",
        path: "/latest/meta-data/",
        query: "",
        headers: { host: "10.9.0.1:5248", ...(authorization ? { authorization } : {}) },
        body: new Uint8Array(),
        remote,
      });
    const wrong = hmacHeader({ ...creds, tokenSecret: "w".repeat(32) }, url);
    for (let i = 0; i < MAX_BAD_CREDENTIALS; i++) expect((await req(wrong, "10.9.0.50")).status).toBe(401);
    const limited = await req(wrong, "10.9.0.50");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers?.["retry-after"])).toBeGreaterThan(800);
    expect(String(limited.body)).toMatch(/^Too many failed authentications from this address/);
    expect((await req(hmacHeader(creds, url), "10.9.0.50")).status).toBe(200);
    expect((await req(wrong, "10.9.0.51")).status).toBe(401);
    // No credential at all is cloud-init asking without one: a 401, not a guess.
    expect((await req(undefined, "10.9.0.50")).status).toBe(401);
  });
});

// The MAAS metadata API on the rack's boot HTTP server, read by stock cloud-init: Debian's
// cloud-init package's own MAAS datasource code (read_maas_seed_url with its OauthUrlHelper)
// against a server holding only a snapshot, on loopback. Debian's python3 on purpose: the
// packages live in its dist-packages (test/deps/metadata.txt), not in any other python on PATH.
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BootHttpServer } from "../../../appliance/http/server";
import { maasMetadataApi } from "../../../appliance/metadata/maas";
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
};

let server: BootHttpServer;
let base: string;
let creds: NodeCredentials;

beforeAll(async () => {
  if (!existsSync("/usr/lib/python3/dist-packages/cloudinit/sources/DataSourceMAAS.py"))
    throw new Error("Debian's cloud-init is missing: apt-get install cloud-init python3-oauthlib (see test/deps/metadata.txt)");
  const keys = new NodeKeys(() => snapshot);
  server = new BootHttpServer({ intents: () => null, maas: maasMetadataApi({ find: (k) => keys.find(k) }), host: "127.0.0.1", port: 0 });
  const { port } = await server.listen();
  base = `http://127.0.0.1:${port}`;
  creds = await nodeCredentials(TOKEN);
});
afterAll(() => server.close());

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

/** An HMAC-SHA1 Authorization header, as MAAS's own clients sign. */
function hmacHeader(c: NodeCredentials, url: string): string {
  const p: Record<string, string> = {
    oauth_consumer_key: c.consumerKey,
    oauth_token: c.tokenKey,
    oauth_signature_method: "HMAC-SHA1",
    oauth_timestamp: "1700000000",
    oauth_nonce: "n0nce",
    oauth_version: "1.0",
  };
  const u = new URL(url);
  const params = Object.entries(p)
    .map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`)
    .sort()
    .join("&");
  const baseString = `GET&${percentEncode(`${u.origin}${u.pathname}`)}&${percentEncode(params)}`;
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

// Juju's real MAAS client (gomaasapi from Debian's golang-github-juju-gomaasapi-dev) runs
// Juju's provider flow, then the network flow of netflow.go (bond, VLAN interface, links) and the
// account flow of accountflow.go (users, SSH keys, settings), the boot sources of bootflow.go and
// boot-resources/ op=import, is_importing and stop_import on a real signed mirror, against
// a local region started the way `npm start` starts it.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startMirror } from "../images/mirror-rig";

interface RegionLocal {
  ensureDevVars(stateDir: string): { file: string; vars: Record<string, string> };
  applyMigrations(stateDir: string): void;
  startRegion(o: { stateDir: string; port: number; stdio: "ignore" }): Promise<{ child: unknown; url: string }>;
  bootstrapAdmin(url: string, stateDir: string): Promise<{ api_key: string; maas_api_key: string } | null>;
  stopRegion(child: unknown): Promise<void>;
}

const ROOT = resolve(__dirname, "../../..");
const work = mkdtempSync(join(tmpdir(), "plinth-maas-"));
const stateDir = join(work, "state");
const binary = join(work, "jujuflow");
let region: RegionLocal;
let child: unknown;
let url = "";
let maasKey = "";
let nativeKey = "";

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? ok(a.port) : fail(new Error("no port"))));
    });
  });
}

// Juju's provider flow runs on the fleet and images `npm run seed` leaves, nothing added by
// hand. The network flow needs a machine with two NICs and no network yet (its space, VLAN and
// subnets are made through the MAAS API): that one machine is a fixture.
const NET_FIXTURE = `
INSERT INTO tags (name) VALUES ('juju-net');
INSERT INTO machines (system_id, hostname, status, site_id, zone_id, pool_id, cpu_count, memory, storage, architecture)
  VALUES ('jujun1', 'juju-net', 4, 1, 1, 1, 2, 2048, 100000, 'amd64/generic');
INSERT INTO interfaces (machine_id, name, mac, is_boot) SELECT id, 'eth0', '52:54:00:77:00:03', 1 FROM machines WHERE system_id = 'jujun1';
INSERT INTO interfaces (machine_id, name, mac, is_boot) SELECT id, 'eth1', '52:54:00:77:00:04', 0 FROM machines WHERE system_id = 'jujun1';
INSERT INTO block_devices (machine_id, name, path, size, is_boot) SELECT id, 'sda', '/dev/sda', 100000000000, 1 FROM machines WHERE system_id = 'jujun1';
INSERT INTO machine_tags (machine_id, tag_id) SELECT m.id, t.id FROM machines m, tags t WHERE m.system_id = 'jujun1' AND t.name = 'juju-net';
`;

beforeAll(async () => {
  region = (await import(pathToFileURL(join(ROOT, "scripts/region-local.mjs")).href)) as RegionLocal;
  const build = spawnSync("go", ["build", "-o", binary, "."], {
    cwd: join(ROOT, "test/node/maas/jujuflow"),
    env: { ...process.env, GOPATH: "/usr/share/gocode", GO111MODULE: "off", GOCACHE: join(work, "gocache"), GOFLAGS: "" },
    encoding: "utf8",
  });
  if (build.status !== 0) throw new Error(`building the gomaasapi client failed:\n${build.stdout}\n${build.stderr}`);
  region.ensureDevVars(stateDir);
  region.applyMigrations(stateDir);
  // Seeded before wrangler starts, into the same local D1 files it then serves: the way a
  // developer fills a region (a small fleet, and the images this checkout built: the node
  // suite's image tests and npm test's background build make them; the seed builds the test
  // disk itself when there is none).
  const fleet = spawnSync("npm", ["run", "seed", "--", "--machines", "12", "--sites", "1", "--state", stateDir], {
    cwd: ROOT,
    env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" },
    encoding: "utf8",
    timeout: 15 * 60_000,
  });
  if (fleet.status !== 0) throw new Error(`npm run seed failed:\n${fleet.stdout}\n${fleet.stderr}`);
  if (!/image \S+ \S+: stored/.test(fleet.stdout)) throw new Error(`npm run seed stored no image:\n${fleet.stdout}`);
  const seed = spawnSync(
    join(ROOT, "node_modules/.bin/wrangler"),
    ["d1", "execute", "DB", "--local", "--persist-to", join(stateDir, "wrangler"), "--command", NET_FIXTURE],
    {
      cwd: ROOT,
      env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" },
      encoding: "utf8",
    },
  );
  if (seed.status !== 0) throw new Error(`the network fixture failed:\n${seed.stdout}\n${seed.stderr}`);
  const started = await region.startRegion({ stateDir, port: await freePort(), stdio: "ignore" });
  child = started.child;
  url = started.url;
  const admin = await region.bootstrapAdmin(url, stateDir);
  if (!admin) throw new Error("bootstrap refused on a fresh region");
  maasKey = admin.maas_api_key;
  nativeKey = admin.api_key;
  // The seed stores every image this checkout built (the Debian one is 285 MiB), after npm test's
  // background build if it is still running: minutes on a busy host, not a figure of ours.
}, 300_000);

afterAll(async () => {
  if (child) await region.stopRegion(child);
  rmSync(work, { recursive: true, force: true });
});

it("Juju's flow through gomaasapi on a region filled by npm run seed: version, whoami, probes, tag, allocate, deploy, owner data, filtered list, release", () => {
  const run = spawnSync(binary, [`${url}/MAAS/`, maasKey], { encoding: "utf8", timeout: 60_000 });
  const lines = run.stdout.trim().split("\n");
  expect(run.stderr, run.stdout).toBe("");
  expect(run.status, run.stdout).toBe(0);
  const steps = lines.filter((l) => l.startsWith("ok ")).map((l) => l.slice(3, l.indexOf(":")));
  expect(steps).toEqual([
    "bad-key",
    "connect",
    "boot-resources",
    "zones",
    "spaces",
    "domains",
    "fabrics",
    "static-routes",
    "machines",
    "tag",
    "allocate-nomatch",
    "allocate",
    "deploy",
    "set-owner-data",
    "list-filtered",
    "release",
  ]);
  // The seeded image is deployed: the test disk or Debian, whichever the checkout built first.
  expect(lines.find((l) => l.startsWith("ok deploy: "))).toMatch(/^ok deploy: Deploying (custom\/testdisk|debian\/bookworm)$/);
  expect(lines).toContain("ok release: Ready");
  expect(lines[lines.length - 1]).toBe("juju flow passed");
});

it("networks through gomaasapi: space, VLAN and subnets; bond, VLAN interface, AUTO and STATIC links read back; refusals", () => {
  const run = spawnSync(binary, ["network", `${url}/MAAS/`, maasKey, "jujun1"], { encoding: "utf8", timeout: 60_000 });
  const lines = run.stdout.trim().split("\n");
  expect(run.stderr, run.stdout).toBe("");
  expect(run.status, run.stdout).toBe(0);
  const steps = lines.filter((l) => l.startsWith("ok ")).map((l) => l.slice(3, l.indexOf(":")));
  expect(steps).toEqual([
    "net-create-networks",
    "net-read-networks",
    "net-allocate",
    "net-connect-nics",
    "net-create-bond",
    "net-create-vlan",
    "net-link-auto",
    "net-link-static",
    "net-refuse-vlan-on-vlan",
    "net-refuse-bonded-nic",
    "net-refuse-outside",
    "net-read-interfaces",
    "net-read-bond",
    "net-read-vlan",
    "net-read-params",
    "net-deploy",
    "net-refuse-deployed",
    "net-release",
  ]);
  const out = (step: string) => lines.find((l) => l.startsWith(`ok ${step}: `))?.slice(`ok ${step}: `.length);
  expect(out("net-read-networks")).toBe("fabric-0 vid 42 name storage; juju-net: 10.42.0.0/24 on vid 42 gateway 10.42.0.1");
  expect(out("net-allocate")).toBe("jujun1 Allocated");
  expect(out("net-create-vlan")).toMatch(/^bond0\.42 id \d+$/);
  expect(out("net-read-interfaces")).toBe("bond0.42=vlan,bond0=bond,eth0=physical,eth1=physical");
  expect(out("net-read-bond")).toBe("bond parents eth0,eth1 children bond0.42 mac 52:54:00:77:00:03 vlan 0 links static 10.77.0.0/24 10.77.0.10");
  expect(out("net-read-vlan")).toBe("vlan parents bond0 vid 42 mac 52:54:00:77:00:03 links auto 10.42.0.0/24 ");
  expect(out("net-read-params")).toBe("bond_mode active-backup bond_miimon 100");
  // A VLAN on a VLAN interface, and a NIC that is already in a bond: MAAS's 400 with the reason.
  expect(out("net-refuse-vlan-on-vlan")).toMatch(/^400 .*VLAN interface/);
  expect(out("net-refuse-bonded-nic")).toMatch(/^400 .*eth0/);
  expect(out("net-refuse-outside")).toBe("BadRequestError");
  // Deploy allocates the AUTO address (the lowest free: .1 is the gateway) and freezes the network.
  expect(out("net-deploy")).toBe("Deploying bond0.42 links auto 10.42.0.0/24 10.42.0.2; ip_addresses 10.42.0.2,10.77.0.10");
  expect(out("net-refuse-deployed")).toMatch(/^409 .*Deploying/);
  // Release gives the AUTO address back; the bond, the VLAN interface and the STATIC address stay.
  expect(out("net-release")).toBe("Ready bond0 links static 10.77.0.0/24 10.77.0.10; bond0.42 links auto 10.42.0.0/24 ");
  expect(lines[lines.length - 1]).toBe("network flow passed");
});

it("the account side through gomaasapi: users created and deleted, SSH keys, get_config/set_config, rack controllers, devices, refusals", async () => {
  // A rack appliance enrolled the way one is on a site: it is the rack controller listed.
  const api = async (path: string, body: unknown, key?: string) => {
    const send = () =>
      fetch(`${url}/api/v1${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify(body),
      });
    // workerd may close a kept-alive socket just as fetch reuses it ("other side closed"):
    // a transport retry, not an API one (a status is never retried).
    const r = await send().catch(send);
    expect(r.status, path).toBeLessThan(300);
    return (await r.json()) as Record<string, string>;
  };
  const token = await api("/racks/enrol-tokens", { site: "default" }, nativeKey);
  await api("/racks/enrol", { token: token["token"], hostname: "juju-rack", version: "test" });
  const run = spawnSync(binary, ["account", `${url}/MAAS/`, maasKey], { encoding: "utf8", timeout: 60_000 });
  const lines = run.stdout.trim().split("\n");
  expect(run.stderr, run.stdout).toBe("");
  expect(run.status, run.stdout).toBe(0);
  const out = (step: string) => lines.find((l) => l.startsWith(`ok ${step}: `))?.slice(`ok ${step}: `.length);
  expect(out("acct-create-user")).toBe("juju-user superuser=false");
  expect(out("acct-refuse-duplicate")).toMatch(/^400 .*already exists/);
  expect(out("acct-list-users")).toBe("juju-user listed=true");
  expect(out("acct-add-sshkey")).toBe("id 135518800870634");
  expect(out("acct-list-sshkeys")).toBe("1");
  expect(out("acct-read-sshkey")).toBe("true");
  expect(out("acct-delete-sshkey")).toMatch(/^then 404 /);
  expect(out("acct-get-config")).toBe("ubuntu/noble");
  expect(out("acct-set-config")).toBe("ntp.example.com true");
  expect(out("acct-refuse-config")).toMatch(/^400 .*whole number/);
  // `npm run seed` records one (never connected) rack per site; this test enrols one more.
  expect(out("acct-rack-controllers")).toBe("site-0001-rack-seeded,juju-rack");
  expect(out("acct-device")).toBe("juju-lxd-0 parent jujun1 mac 52:54:00:77:00:99");
  expect(out("acct-device-delete")).toBe("0 left");
  expect(out("acct-delete-user")).toMatch(/^then 404 /);
  expect(lines[lines.length - 1]).toBe("account flow passed");
});

it("boot sources through gomaasapi's generic client: a keyring uploaded as a file, selections with repeated arches, and what /api/v1 made read back", async () => {
  // A throwaway signing key made by gpg, as a site makes its mirror's key.
  const gnupg = join(work, "gnupg");
  mkdirSync(gnupg, { mode: 0o700 });
  const gpg = (...args: string[]) => spawnSync("gpg", ["--homedir", gnupg, "--batch", "--passphrase", "", ...args], { encoding: "utf8" });
  expect(gpg("--quick-gen-key", "Juju mirror <juju@plinth.test>", "ed25519", "sign", "never").status).toBe(0);
  const armored = gpg("--armor", "--export").stdout;
  const keyring = join(work, "mirror.gpg");
  expect(gpg("--output", keyring, "--export").status).toBe(0);
  spawnSync("gpgconf", ["--homedir", gnupg, "--kill", "all"]);
  const keyringB64 = readFileSync(keyring).toString("base64");

  const call = async (path: string, body: unknown) => {
    const send = () =>
      fetch(`${url}/api/v1${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${nativeKey}` },
        body: JSON.stringify(body),
      });
    const r = await send().catch(send);
    expect(r.status, path).toBe(201);
    return (await r.json()) as { id: number };
  };
  // An operator's source through /api/v1, its key armoured: the MAAS side answers the binary keyring.
  const src = await call("/boot-sources", { url: "http://site-mirror.test/streams/v1/", keyring_data: armored });
  await call(`/boot-sources/${src.id}/selections`, { os: "ubuntu", release: "jammy", arches: ["amd64"] });
  await call(`/boot-sources/${src.id}/selections`, { os: "debian", release: "bookworm" });

  const run = spawnSync(binary, ["sources", `${url}/MAAS/`, maasKey, keyring], { encoding: "utf8", timeout: 60_000 });
  const lines = run.stdout.trim().split("\n");
  expect(run.stderr, run.stdout).toBe("");
  expect(run.status, run.stdout).toBe(0);
  const out = (step: string) => lines.filter((l) => l.startsWith(`ok ${step}: `)).map((l) => l.slice(`ok ${step}: `.length));
  expect(out("src-create")).toEqual(["keyring back as sent true"]);
  expect(out("sel-create")).toEqual(["ubuntu/noble arches amd64,arm64"]);
  expect(out("sel-refuse-duplicate")[0]).toMatch(/^400 .*already exists/);
  expect(out("src-refuse-unsigned")[0]).toMatch(/^400 .*keyring_data/);
  expect(out("src-read")).toEqual([
    `http://juju-mirror.test/streams/v1/ keyring ${keyringB64} selections [ubuntu/noble arches amd64,arm64]`,
    `http://site-mirror.test/streams/v1/ keyring ${keyringB64} selections [ubuntu/jammy arches amd64; debian/bookworm arches *]`,
  ]);
  expect(out("src-delete")[0]).toMatch(/^then 404 /);
  expect(lines[lines.length - 1]).toBe("boot source flow passed");
});

it("boot-resources/ op=import, is_importing and stop_import as python-libmaas calls them, on a real signed mirror", async () => {
  // BootResources.start_import() / stop_import() and the is_importing read, signed as python-libmaas signs.
  const [ck, tk, ts] = maasKey.split(":") as [string, string, string];
  const oauth = () =>
    `OAuth oauth_nonce="${Math.random().toString(16).slice(2)}", oauth_timestamp="${Math.floor(Date.now() / 1000)}", oauth_version="1.0", oauth_signature_method="PLAINTEXT", oauth_consumer_key="${ck}", oauth_token="${tk}", oauth_signature="%26${ts}", realm="OAuth"`;
  const op = async (method: "GET" | "POST", name: string) => {
    const r = await fetch(`${url}/MAAS/api/2.0/boot-resources/?op=${name}`, { method, headers: { authorization: oauth() } });
    return { status: r.status, text: await r.text() };
  };
  const v1 = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${nativeKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null };
  };
  expect(await op("GET", "is_importing")).toEqual({ status: 200, text: "false" });

  // A root large enough that the import is still running when is_importing is asked.
  const files = join(work, "mirror-files");
  mkdirSync(files);
  const root = join(files, "root.tgz");
  const fd = openSync(root, "w");
  for (let left = 128 << 20; left > 0; left -= 1 << 22) writeSync(fd, randomBytes(Math.min(left, 1 << 22)));
  closeSync(fd);
  const mirror = await startMirror({
    ns: "plsrc-",
    products: [{ os: "ubuntu", release: "plucky", arch: "amd64", version: "20261207", files: [{ ftype: "root-tgz", file: root }] }],
  });
  try {
    // Only this mirror: the other tests' sources point nowhere.
    for (const s of (await v1("GET", "/boot-sources")).json.items as { id: number }[]) await v1("DELETE", `/boot-sources/${s.id}`);
    const src = await v1("POST", "/boot-sources", { url: mirror.url, keyring_data: mirror.keyring });
    expect(src.status).toBe(201);
    expect((await v1("POST", `/boot-sources/${src.json.id}/selections`, { os: "ubuntu", release: "plucky", arches: ["amd64"] })).status).toBe(201);

    expect(await op("POST", "import")).toEqual({ status: 200, text: "Import of boot resources started" });
    expect(await op("GET", "is_importing")).toEqual({ status: 200, text: "true" });
    expect(await op("POST", "stop_import")).toEqual({ status: 200, text: "Import of boot resources is being stopped" });
    const deadline = Date.now() + 60_000;
    while ((await op("GET", "is_importing")).text === "true" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect((await op("GET", "is_importing")).text).toBe("false");
    expect((await v1("GET", "/image-sync")).json.sync.state).toBe("stopped");

    // Again, to its end: the image is then a boot resource Juju can list.
    expect((await op("POST", "import")).status).toBe(200);
    while ((await op("GET", "is_importing")).text === "true" && Date.now() < deadline + 60_000) await new Promise((r) => setTimeout(r, 200));
    expect((await v1("GET", "/image-sync")).json.sync.state).toBe("complete");
    const list = await fetch(`${url}/MAAS/api/2.0/boot-resources/`, { headers: { authorization: oauth() } });
    expect(((await list.json()) as { name: string }[]).map((r) => r.name)).toContain("ubuntu/plucky");
  } finally {
    await mirror.stop();
  }
}, 180_000);

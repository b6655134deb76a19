// The `plinth` CLI against a real local region: every command (through main(), in this
// process), --json parsed, exit codes, --wait, bad key and unreachable region as one-line
// errors, the bin itself (cli/bin/plinth.mjs, a process of its own) for exit codes, stderr and
// --wait, and the generated API types in step with the region's OpenAPI document.
import { execFile, spawn, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { CliError } from "../../../cli/client";
import { generate } from "../../../cli/gen-openapi";
import { main } from "../../../cli/main";
import { freePort, startTestRegion, type TestRegion } from "../dashboard/region";
import { startMirror } from "../images/mirror-rig";

const BIN = join(import.meta.dirname, "../../../cli/bin/plinth.mjs");
let region: TestRegion;
let configDir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

const parse = (stdout: string) => {
  try {
    return JSON.parse(stdout);
  } catch {
    return null;
  }
};

/** The bin in a process of its own: for what only a process shows (its exit code, stderr, tsx). */
function plinthBin(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { ...process.env, PLINTH_CONFIG_DIR: configDir, PLINTH_URL: "", PLINTH_API_KEY: "", ...env }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr, json: parse(stdout) }),
    );
  });
}

/**
 * main() in this process, as the bin runs it (a CliError is one `plinth: ` line and its exit
 * code), with stdout, stderr and the environment the bin would have. A process per command
 * cost about a second each, most of this file's time; the bin itself is run by plinthBin.
 * One call at a time: stdout is captured globally.
 */
async function plinth(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { out: process.stdout.write, err: process.stderr.write, tty: process.stderr.isTTY, env: { ...process.env } };
  const capture = (into: string[]) => ((chunk: string | Uint8Array) => into.push(String(chunk)) > 0) as typeof process.stdout.write;
  Object.assign(process.env, { PLINTH_CONFIG_DIR: configDir, PLINTH_URL: "", PLINTH_API_KEY: "", ...env });
  process.stdout.write = capture(out);
  process.stderr.write = capture(err);
  // As the bin's stderr is here: a pipe, so progress prints lines, not a redrawn bar.
  process.stderr.isTTY = false;
  let code: number;
  try {
    code = await main(args);
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    err.push(`plinth: ${e.message}\n`);
    code = e.exitCode;
  } finally {
    process.stdout.write = saved.out;
    process.stderr.write = saved.err;
    process.stderr.isTTY = saved.tty;
    for (const k of Object.keys(process.env)) if (!(k in saved.env)) delete process.env[k];
    Object.assign(process.env, saved.env);
  }
  const stdout = out.join("");
  return { code, stdout, stderr: err.join(""), json: parse(stdout) };
}

const oneLine = (r: Run) => {
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(/^plinth: /);
};

beforeAll(async () => {
  region = await startTestRegion({ machines: 60, sites: 3 });
  configDir = mkdtempSync(join(tmpdir(), "plinth-cli-"));
  // `plinth machines deploy` defaults to ubuntu/noble, and the region deploys only a series whose image has bytes.
  const img = await region.api("POST", "/boot-images", { osystem: "ubuntu", series: "noble", format: "tgz" });
  const bytes = Buffer.from("not a real image: the deployments here never boot");
  const put = await fetch(`${region.url}/api/v1/boot-images/${img.json.id}/content`, {
    method: "PUT",
    headers: {
      authorization: `Bearer ${region.admin.api_key}`,
      "x-content-sha256": createHash("sha256").update(bytes).digest("hex"),
      "content-type": "application/octet-stream",
    },
    body: bytes,
  });
  if (put.status !== 200) throw new Error(`seeding ubuntu/noble: ${await put.text()}`);
}, 240_000);
afterAll(async () => {
  await region?.stop();
});

describe("plinth login and profiles", () => {
  it("refuses a bad API key with one line and exit 3, saving nothing", async () => {
    const r = await plinthBin(["login", region.url, "plk_aaaaaaaaaaaa_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"]);
    expect(r.code).toBe(3);
    oneLine(r);
    expect(r.stderr).toContain("not valid");
  });

  it("says the region is unreachable with one line and exit 6", async () => {
    const port = await freePort();
    const r = await plinthBin(["login", `http://127.0.0.1:${port}`, region.admin.api_key]);
    expect(r.code).toBe(6);
    oneLine(r);
    expect(r.stderr).toContain("cannot reach the region");
    const r2 = await plinthBin(["machines", "list"], { PLINTH_URL: `http://127.0.0.1:${port}`, PLINTH_API_KEY: region.admin.api_key });
    expect(r2.code).toBe(6);
    oneLine(r2);
  });

  it("logs in, stores the profile 0600, lists profiles and says who I am", async () => {
    const r = await plinth(["login", region.url, region.admin.api_key, "--name", "local", "--json"]);
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ profile: "local", username: "admin" });
    const file = join(configDir, "config.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, "utf8")).current).toBe("local");
    const p = await plinth(["profiles", "--json"]);
    expect(p.json).toEqual({ current: "local", profiles: [{ name: "local", url: region.url }] });
    const w = await plinth(["whoami", "--json"]);
    expect(w.json.username).toBe("admin");
    const human = await plinth(["whoami"]);
    expect(human.stdout).toContain("admin: admin@*");
  });

  it("refuses an unknown profile with exit 2", async () => {
    const r = await plinthBin(["machines", "list", "--profile", "nope"]);
    expect(r.code).toBe(2);
    oneLine(r);
  });
});

describe("plinth machines", () => {
  let ready: any;

  it("lists with filters as a table and as JSON, and pages with --all", async () => {
    const t = await plinthBin(["machines", "list", "--limit", "5"]);
    expect(t.code).toBe(0);
    expect(t.stdout.split("\n")[0]).toMatch(/^SYSTEM_ID\s+HOSTNAME\s+STATUS\s+POWER\s+SITE/);
    expect(t.stdout.trim().split("\n")).toHaveLength(6);
    expect(t.stderr).toContain("--cursor");
    const j = await plinth(["machines", "list", "--status", "ready", "--site", "site-0001", "--json"]);
    expect(j.code).toBe(0);
    expect(j.json.items.length).toBeGreaterThan(0);
    for (const m of j.json.items) expect([m.status_name, m.site]).toEqual(["Ready", "site-0001"]);
    ready = j.json.items[0];
    const all = await plinth(["machines", "list", "--all", "--limit", "7", "--json"]);
    expect(all.json.items).toHaveLength(60);
    expect(all.json.next_cursor).toBeNull();
    const q = await plinth(["machines", "list", "--q", ready.hostname, "--json"]);
    expect(q.json.items.map((m: any) => m.system_id)).toContain(ready.system_id);
    const bad = await plinth(["machines", "list", "--status", "redy"]);
    expect(bad.code).toBe(2);
    oneLine(bad);
    expect(bad.stderr).toContain('unknown status "redy": use one of new, commissioning, failed-commissioning,');
    expect(bad.stderr).toContain("ready");
  });

  it("shows a machine by system_id or hostname", async () => {
    const a = await plinth(["machines", "show", ready.system_id, "--json"]);
    const b = await plinth(["machines", "show", ready.hostname, "--json"]);
    expect(a.json.system_id).toBe(ready.system_id);
    expect(b.json.system_id).toBe(ready.system_id);
    expect(a.json.interfaces.length).toBe(2);
    const h = await plinth(["machines", "show", ready.hostname]);
    expect(h.stdout).toMatch(/^system_id\s+\w{6}/);
    expect(h.stdout).toContain("interfaces:");
    expect(h.stdout).toMatch(/^locked\s+no$/m);
    // Disks in decimal units as the dashboard shows them; bytes stay in the JSON.
    const disk = a.json.block_devices[0];
    expect(Number.isInteger(disk.size)).toBe(true);
    const diskLine = h.stdout.split("\n").find((l) => l.startsWith(`${disk.name} `));
    expect(diskLine).toMatch(/\s\d+(\.\d)? (GB|TB)$/);
    expect(diskLine).not.toContain(String(disk.size));
    const missing = await plinthBin(["machines", "show", "no-such-host"]);
    expect(missing.code).toBe(4);
    oneLine(missing);
  });

  it("shows a machine's storage design as a tree and as JSON, and applies a layout with its options", async () => {
    const tree = await plinth(["machines", "storage", ready.hostname]);
    expect(tree.code, tree.stderr).toBe(0);
    expect(tree.stdout).toMatch(/^layout: flat/);
    expect(tree.stdout).toContain("disks:");
    expect(tree.stdout).toMatch(/└─ \S+ .* ext4 \//);
    expect(tree.stdout).toContain("deployable: yes");
    const j = await plinth(["machines", "storage", ready.system_id, "--json"]);
    expect(j.json.layout).toBe("flat");
    expect(j.json.block_devices.length).toBeGreaterThan(0);
    const lvm = await plinth(["machines", "storage", ready.system_id, "layout", "lvm", "--vg-name", "vgcli", "--lv-size", "5G", "--json"]);
    expect(lvm.code, lvm.stderr).toBe(0);
    expect(lvm.json.layout).toBe("lvm");
    expect(lvm.json.volume_groups[0].name).toBe("vgcli");
    const t2 = await plinth(["machines", "storage", ready.system_id]);
    expect(t2.stdout).toContain("volume groups:");
    expect(t2.stdout).toMatch(/vgcli-lvroot\s+4\.7 GiB\s+ext4 \//);
    const bad = await plinth(["machines", "storage", ready.system_id, "layout", "vmfs6"]);
    expect(bad.code).toBe(2);
    oneLine(bad);
    expect((await plinth(["machines", "storage", ready.system_id, "layout", "flat"])).stdout).toMatch(/^layout: flat/);
  });

  it("creates, updates and deletes a machine", async () => {
    const c = await plinth(["machines", "create", "--mac", "52:54:00:aa:bb:01", "--hostname", "cli-made", "--site", "site-0002", "--json"]);
    expect(c.code).toBe(0);
    expect(c.json).toMatchObject({ hostname: "cli-made", site: "site-0002", status_name: "New" });
    const u = await plinth(["machines", "update", "cli-made", "--hostname", "cli-renamed", "--description", "rack 4", "--json"]);
    expect(u.json).toMatchObject({ hostname: "cli-renamed", description: "rack 4" });
    const d = await plinth(["machines", "delete", "cli-renamed", "--json"]);
    expect(d.code).toBe(0);
    expect((await plinth(["machines", "show", c.json.system_id])).code).toBe(4);
    const bad = await plinth(["machines", "create", "--mac", "not-a-mac"]);
    expect(bad.code).toBe(2);
    oneLine(bad);
  });

  it("interfaces: list, show with links, update; an unknown interface is exit 4, nothing to change exit 2", async () => {
    const m = await plinth(["machines", "create", "--mac", "52:54:00:aa:bb:02", "--hostname", "cli-nics", "--site", "site-0002", "--json"]);
    expect(m.code, m.stderr).toBe(0);
    const l = await plinth(["interfaces", "list", "cli-nics", "--json"]);
    expect(l.code, l.stderr).toBe(0);
    expect(l.json.items).toHaveLength(1);
    const nic = l.json.items[0];
    expect(nic).toMatchObject({ type: "physical", mac: "52:54:00:aa:bb:02", mtu: null });
    const t = (await plinth(["interfaces", "list", m.json.system_id])).stdout.split("\n");
    expect(t[0]).toMatch(/^ID\s+NAME\s+TYPE\s+MAC\s+VLAN\s+MTU\s+STATE\s+PARENTS\s+BOOT$/);
    expect(t[1]).toMatch(new RegExp(`^${nic.id}\\s+${nic.name}\\s+physical\\s+52:54:00:aa:bb:02\\s+-\\s+1500 \\(VLAN's\\)\\s+enabled`));
    const u = await plinth(["interfaces", "update", "cli-nics", nic.name, "--mtu", "9000", "--name", "data0", "--json"]);
    expect(u.code, u.stderr).toBe(0);
    expect(u.json).toMatchObject({ id: nic.id, name: "data0", mtu: 9000 });
    const sh = await plinth(["interfaces", "show", "cli-nics", "data0"]);
    expect(sh.code, sh.stderr).toBe(0);
    expect(sh.stdout).toMatch(/^mtu\s+9000$/m);
    expect(sh.stdout).toMatch(/links:\n {2}none\n$/);
    expect((await plinth(["interfaces", "show", "cli-nics", String(nic.id), "--json"])).json).toMatchObject({ name: "data0", links: [] });
    const back = await plinth(["interfaces", "update", "cli-nics", "data0", "--mtu", "default", "--json"]);
    expect(back.json.mtu).toBeNull();
    const missing = await plinth(["interfaces", "show", "cli-nics", "eth9"]);
    expect(missing.code).toBe(4);
    oneLine(missing);
    expect(missing.stderr).toContain('cli-nics has no interface "eth9"');
    const nothing = await plinth(["interfaces", "update", "cli-nics", "data0"]);
    expect(nothing.code).toBe(2);
    oneLine(nothing);
    const badMtu = await plinth(["interfaces", "update", "cli-nics", "data0", "--mtu", "big"]);
    expect([badMtu.code, badMtu.stderr]).toEqual([2, 'plinth: --mtu must be a whole number, not "big"\n']);
    expect((await plinth(["machines", "delete", "cli-nics"])).code).toBe(0);
  });

  it("allocates, waits through release, and reports an illegal action with exit 5", async () => {
    const a = await plinth(["machines", "allocate", ready.system_id, "--wait", "--json"]);
    expect(a.code).toBe(0);
    expect(a.json.status_name).toBe("Allocated");
    const again = await plinthBin(["machines", "allocate", ready.system_id]);
    expect(again.code).toBe(5);
    oneLine(again);
    // Manual power: release completes at once; --wait sees Ready.
    const r = await plinth(["machines", "release", ready.hostname, "--wait"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${ready.hostname}: Ready`);
  });

  it("--wait follows deploy and fails with exit 7 when the machine leaves it for another state", async () => {
    expect((await plinth(["machines", "allocate", ready.system_id])).code).toBe(0);
    const child = spawn(process.execPath, [BIN, "machines", "deploy", ready.system_id, "--wait", "--timeout", "120"], {
      env: { ...process.env, PLINTH_CONFIG_DIR: configDir },
    });
    let stderr = "";
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    const progressed = new Promise<void>((resolve) => {
      child.stderr.on("data", (d) => {
        stderr += d;
        if (stderr.includes("Deploying")) resolve();
      });
    });
    const exited = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? -1)));
    await progressed;
    expect((await region.api("POST", `/machines/${ready.system_id}/abort`, { comment: "changed my mind" })).status).toBe(200);
    expect(await exited).toBe(7);
    expect(stderr).toMatch(/deploy did not finish: .* is Allocated/);
    expect(stdout).toBe("");
  });

  it("--wait gives up with exit 8 at its timeout", async () => {
    const r = await plinthBin(["machines", "deploy", ready.system_id, "--wait", "--timeout", "1"]);
    expect(r.code).toBe(8);
    expect(r.stderr.trim().split("\n").pop()).toMatch(/^plinth: gave up waiting/);
    expect((await plinth(["machines", "abort", ready.system_id, "--wait"])).code).toBe(0);
    expect((await plinth(["machines", "release", ready.system_id])).code).toBe(0);
  });

  it("commissions and aborts", async () => {
    const c = await plinth(["machines", "commission", ready.system_id, "--json"]);
    expect(c.json.status_name).toBe("Commissioning");
    const a = await plinth(["machines", "abort", ready.system_id, "--json"]);
    expect(a.code).toBe(0);
    expect(a.json.status_name).not.toBe("Commissioning");
  });

  it("marks broken and fixed, several machines at once", async () => {
    const two = (await region.api("GET", "/machines?status=ready&site=site-0003&limit=2")).json.items.map((m: any) => m.system_id);
    const b = await plinth(["machines", "mark-broken", ...two, "--comment", "PSU", "--wait", "--json"]);
    expect(b.code).toBe(0);
    expect(b.json.map((m: any) => m.status_name)).toEqual(["Broken", "Broken"]);
    const f = await plinth(["machines", "mark-fixed", ...two, "--json"]);
    expect(f.json.map((m: any) => m.status_name)).toEqual(["Ready", "Ready"]);
  });

  it("sends power actions (manual driver: tells a human)", async () => {
    for (const verb of ["power-on", "power-off", "power-cycle", "identify"]) {
      const r = await plinth(["machines", verb, ready.system_id, "--json"]);
      expect(r.code, verb).toBe(0);
      expect(r.json.manual).toBe(true);
    }
    const human = await plinth(["machines", "power-on", ready.hostname]);
    expect(human.stdout).toContain("manual power driver");
  });

  it("locks and unlocks a deployed machine; a locked machine refuses release with exit 5", async () => {
    const m = (await plinth(["machines", "list", "--status", "deployed", "--limit", "1", "--json"])).json.items[0];
    const lock = await plinth(["machines", "lock", m.hostname, "--comment", "production"]);
    expect(lock.code, lock.stderr).toBe(0);
    expect(lock.stdout).toBe(`${m.hostname}: locked, Deployed\n`);
    const again = await plinthBin(["machines", "lock", m.system_id]);
    expect(again.code).toBe(5);
    oneLine(again);
    expect(again.stderr).toContain("locked");
    const release = await plinth(["machines", "release", m.system_id]);
    expect(release.code).toBe(5);
    oneLine(release);
    expect((await plinth(["machines", "show", m.system_id, "--json"])).json).toMatchObject({ locked: true, status_name: "Deployed" });
    const unlock = await plinth(["machines", "unlock", m.system_id, "--json"]);
    expect(unlock.code, unlock.stderr).toBe(0);
    expect(unlock.json).toMatchObject({ locked: false, status_name: "Deployed" });
  });

  it("enters rescue mode and exits it (manual power: exit completes at once); exit-rescue too early is exit 5", async () => {
    const m = (await plinth(["machines", "list", "--status", "ready", "--site", "site-0002", "--limit", "1", "--json"])).json.items[0];
    const r = await plinth(["machines", "rescue", m.hostname, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.status_name).toBe("Entering rescue mode");
    const early = await plinth(["machines", "exit-rescue", m.hostname]);
    expect(early.code).toBe(5);
    oneLine(early);
    expect(early.stderr).toContain("Entering rescue mode");
    // The region's 409 names what the machine allows now; the CLI passes it on.
    expect(early.stderr).toMatch(/\(allowed now: [^)]*\babort\b[^)]*\)$/m);
    // The rescue environment never boots here: abort leaves it failed, from where it may exit.
    expect((await plinth(["machines", "abort", m.system_id, "--json"])).json.status_name).toBe("Failed to enter rescue mode");
    const exit = await plinth(["machines", "exit-rescue", m.system_id, "--wait"]);
    expect(exit.code, exit.stderr).toBe(0);
    expect(exit.stdout).toBe(`${m.hostname}: Ready, power ${(await region.api("GET", `/machines/${m.system_id}`)).json.power_state}\n`);
  });

  it("tags and untags machines by hostname; an unknown tag is exit 4, no --tag exit 2", async () => {
    const two = (await plinth(["machines", "list", "--status", "ready", "--site", "site-0003", "--limit", "2", "--json"])).json.items;
    expect((await plinth(["tags", "create", "cli-rack7"])).code).toBe(0);
    const t = await plinth(["machines", "tag", two[0].hostname, two[1].system_id, "--tag", "cli-rack7"]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stdout).toBe(`tagged ${two[0].hostname} ${two[1].system_id} with cli-rack7 (2 machines have it)\n`);
    const listed = await plinth(["machines", "list", "--tag", "cli-rack7", "--json"]);
    expect(listed.json.items.map((x: any) => x.system_id).sort()).toEqual([two[0].system_id, two[1].system_id].sort());
    const u = await plinth(["machines", "untag", two[0].hostname, "--tag", "cli-rack7", "--json"]);
    expect(u.json).toEqual({ tag: "cli-rack7", machines: [two[1].system_id] });
    const unknown = await plinthBin(["machines", "tag", two[0].system_id, "--tag", "no-such-tag"]);
    expect(unknown.code).toBe(4);
    oneLine(unknown);
    const none = await plinth(["machines", "tag", two[0].system_id]);
    expect(none.code).toBe(2);
    oneLine(none);
    expect((await plinth(["tags", "delete", "cli-rack7"])).code).toBe(0);
  });
});

describe("plinth resources", () => {
  it("sites, zones and pools: create, list, show, delete", async () => {
    for (const g of ["sites", "zones", "pools"]) {
      expect((await plinth([g, "create", `cli-${g}`, "--description", "from the CLI"])).code, g).toBe(0);
      const l = await plinth([g, "list", "--json"]);
      expect(l.json.items.map((x: any) => x.name)).toContain(`cli-${g}`);
      const s = await plinth([g, "show", `cli-${g}`, "--json"]);
      expect(s.json.description).toBe("from the CLI");
      expect((await plinth([g, "delete", `cli-${g}`])).code).toBe(0);
      expect((await plinth([g, "show", `cli-${g}`])).code).toBe(4);
    }
  });

  it("tags: create, list, delete", async () => {
    expect((await plinth(["tags", "create", "cli-tag", "--comment", "x"])).code).toBe(0);
    expect((await plinth(["tags", "list", "--json"])).json.items.map((t: any) => t.name)).toContain("cli-tag");
    expect((await plinth(["tags", "delete", "cli-tag"])).code).toBe(0);
  });

  it("racks and enrolment tokens", async () => {
    const r = await plinth(["racks", "list", "--json"]);
    expect(r.code).toBe(0);
    expect(r.json.items).toEqual([]);
    expect((await plinth(["racks", "list"])).stdout).toContain("no racks enrolled");
    const t = await plinth(["tokens", "create", "--site", "site-0001", "--name", "rollout", "--uses", "3", "--json"]);
    expect(t.code).toBe(0);
    expect(typeof t.json.token).toBe("string");
    const l = await plinth(["tokens", "list", "--json"]);
    expect(l.json.items.find((x: any) => x.id === t.json.id)?.state).toBe("active");
    expect((await plinth(["tokens", "revoke", String(t.json.id)])).code).toBe(0);
    expect((await plinth(["tokens", "list", "--json"])).json.items.find((x: any) => x.id === t.json.id)?.state).toBe("revoked");
    const human = await plinth(["tokens", "create", "--site", "site-0001"]);
    expect(human.stdout).toContain("shown once");
  });

  it("racks list and show with an enrolled rack, as JSON and as a table", async () => {
    const tok = await region.api("POST", "/racks/enrol-tokens", { site: "site-0001", uses: 1 });
    expect(tok.status).toBe(201);
    const enrol = await fetch(`${region.url}/api/v1/racks/enrol`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        token: tok.json.token,
        hostname: "rack-cli-1",
        version: "1.2.3",
        interfaces: [{ name: "eth0", mac: "52:54:00:cc:00:01", addresses: ["10.20.0.2/24"] }],
      }),
    });
    expect(enrol.status).toBe(201);
    const { rack_id: rackId, credential } = (await enrol.json()) as { rack_id: string; credential: string };

    const l = await plinth(["racks", "list", "--json"]);
    expect(l.code, l.stderr).toBe(0);
    const listed = l.json.items.find((x: { id: string }) => x.id === rackId);
    expect(listed).toMatchObject({
      id: rackId,
      hostname: "rack-cli-1",
      site: "site-0001",
      version: "1.2.3",
      connected: false,
      revoked: false,
      pending_commands: 0,
      last_seen_at: null,
    });
    expect(listed.interfaces).toEqual([{ name: "eth0", mac: "52:54:00:cc:00:01", addresses: ["10.20.0.2/24"] }]);

    const s = await plinth(["racks", "show", rackId, "--json"]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.json).toEqual(listed);
    const same = await region.api("GET", `/racks/${rackId}`);
    expect(s.json).toEqual(same.json);

    const table = (await plinth(["racks", "list"])).stdout.split("\n");
    expect(table[0]).toMatch(/^ID\s+HOSTNAME\s+SITE\s+CONNECTED\s+VERSION/);
    expect(table.find((line) => line.startsWith(rackId))).toMatch(new RegExp(`^${rackId}\\s+rack-cli-1\\s+site-0001\\s+no\\s+1\\.2\\.3`));
    expect((await plinth(["racks", "show", rackId])).stdout).toMatch(/^services:\n\s+no status report yet$/m);

    // The rack's tunnel: its status report shows in `racks show`, its DHCP discover in `machines show`.
    const m = (await region.api("GET", "/machines?limit=1")).json.items[0];
    const ws = new WebSocket(`${region.url.replace(/^http/, "ws")}/api/v1/racks/${rackId}/tunnel`, { headers: { authorization: `Bearer ${credential}` } });
    const frames: any[] = [];
    ws.on("message", (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((r, j) => ws.once("open", r).once("error", j));
    const hello = {
      t: "hello",
      v: 1,
      rackId,
      version: "1.2.3",
      hostname: "rack-cli-1",
      interfaces: [],
      capabilities: [],
      journal: "j-cli",
      configVersion: null,
    };
    ws.send(JSON.stringify(hello));
    ws.send(
      JSON.stringify({
        t: "status",
        v: 1,
        services: [
          { name: "dhcp", state: "failed", error: "eth1: no such device" },
          { name: "tftp", state: "ok" },
        ],
        journalDepth: 4,
      }),
    );
    ws.send(JSON.stringify({ t: "event", v: 1, events: [{ seq: 1, at: Date.now(), type: "dhcp.discover", data: { mac: m.boot_mac } }] }));
    for (let i = 0; i < 100 && !frames.some((f) => f.t === "ack"); i++) await new Promise((r) => setTimeout(r, 50));
    expect(frames.find((f) => f.t === "ack")).toMatchObject({ upTo: 1 });
    const shown = (await plinth(["racks", "show", rackId])).stdout;
    expect(shown).toMatch(/^journal_depth\s+4$/m);
    expect(shown).toMatch(/^dhcp\s+failed\s+eth1: no such device$/m);
    expect(shown).toMatch(/^tftp\s+ok\s+-?$/m);
    expect((await plinth(["machines", "show", m.system_id])).stdout).toMatch(new RegExp(`^boot_rack\\s+rack-cli-1 \\(${rackId}\\) at \\d{4}-`, "m"));
    ws.close(1000);

    // Revoked: the table says so, the JSON too; an unknown rack is exit 4 with one line.
    expect((await region.api("POST", `/racks/${rackId}/revoke`, {})).status).toBe(200);
    expect((await plinth(["racks", "show", rackId, "--json"])).json).toMatchObject({ revoked: true, connected: false });
    expect((await plinth(["racks", "list"])).stdout.split("\n").find((line) => line.startsWith(rackId))).toMatch(/\srevoked\s/);
    const missing = await plinth(["racks", "show", "aaaaaaaaaaaa"]);
    expect(missing.code).toBe(4);
    oneLine(missing);
  });

  it("users: create with roles, list, show, delete; a narrow key is refused with exit 3", async () => {
    const c = await plinth(["users", "create", "hands-cli", "--password", "hands-password-1", "--role", "remote-hands@site-0001", "--json"]);
    expect(c.code).toBe(0);
    expect(c.json.roles).toEqual([expect.objectContaining({ role: "remote-hands", site: "site-0001" })]);
    expect((await plinth(["users", "list", "--json"])).json.items.map((u: any) => u.username)).toContain("hands-cli");
    expect((await plinth(["users", "show", "hands-cli", "--json"])).json.username).toBe("hands-cli");
    const key = (await region.api("POST", "/users/hands-cli/keys", { name: "t" })).json.api_key as string;
    const env = { PLINTH_URL: region.url, PLINTH_API_KEY: key };
    const seen = await plinth(["machines", "list", "--all", "--json"], env);
    expect(new Set(seen.json.items.map((m: any) => m.site))).toEqual(new Set(["site-0001"]));
    const denied = await plinthBin(["users", "list"], env);
    expect(denied.code).toBe(3);
    oneLine(denied);
    expect((await plinth(["users", "delete", "hands-cli"])).code).toBe(0);
  });

  it("events: list with filters as JSON and as a table", async () => {
    const e = await plinth(["events", "list", "--type", "machine.mark_broken", "--limit", "5", "--json"]);
    expect(e.code).toBe(0);
    expect(e.json.items.length).toBeGreaterThan(0);
    for (const x of e.json.items) expect(x.type).toBe("machine.mark_broken");
    const byWho = await plinth(["events", "list", "--type", "machine.", "--actor", "admin", "--limit", "20", "--json"]);
    expect(byWho.json.items.length).toBeGreaterThan(0);
    for (const x of byWho.json.items) expect(x).toMatchObject({ type: expect.stringMatching(/^machine\./), actor: "admin" });
    expect((await plinth(["events", "list", "--limit", "3"])).stdout.split("\n")[0]).toMatch(/^ID\s+WHEN\s+LEVEL\s+TYPE/);
  });
});

describe("plinth fabrics, vlans, subnets and ipranges", () => {
  it("creates a fabric, a VLAN on it and a subnet with ranges; lists as tables and JSON; shows utilisation; updates; deletes", async () => {
    const f = await plinth(["fabrics", "create", "cli-fab", "--description", "lab", "--json"]);
    expect(f.code, f.stderr).toBe(0);
    expect(f.json).toMatchObject({ name: "cli-fab", description: "lab" });
    const ft = (await plinth(["fabrics", "list"])).stdout.split("\n");
    expect(ft[0]).toMatch(/^ID\s+NAME\s+DESCRIPTION/);
    expect(ft.find((l) => l.includes("cli-fab"))).toMatch(/\scli-fab\s+lab$/);
    expect((await plinth(["fabrics", "update", "cli-fab", "--description", "lab 2", "--json"])).json.description).toBe("lab 2");
    const noChange = await plinth(["fabrics", "update", "cli-fab"]);
    expect(noChange.code).toBe(2);
    oneLine(noChange);

    const v = await plinth(["vlans", "create", "42", "--fabric", "cli-fab", "--name", "storage", "--mtu", "9000", "--json"]);
    expect(v.code, v.stderr).toBe(0);
    expect(v.json).toMatchObject({ vid: 42, fabric: "cli-fab", name: "storage", mtu: 9000 });
    expect(v.json.dhcp_on).toBe(false);
    const vt = (await plinth(["vlans", "list", "--fabric", "cli-fab"])).stdout.split("\n");
    expect(vt[0]).toMatch(/^ID\s+FABRIC\s+VID\s+NAME\s+MTU\s+DHCP$/);
    expect(vt[1]).toMatch(new RegExp(`^${v.json.id}\\s+cli-fab\\s+42\\s+storage\\s+9000\\s+off$`));
    const vs = await plinth(["vlans", "show", String(v.json.id)]);
    expect(vs.stdout).toMatch(/^fabric\s+cli-fab$/m);
    expect(vs.stdout).toMatch(/^dhcp\s+off$/m);
    const vu = await plinth(["vlans", "update", String(v.json.id), "--dhcp", "--mtu", "8000", "--json"]);
    expect(vu.json).toMatchObject({ id: v.json.id, vid: 42, mtu: 8000, dhcp_on: true });
    expect((await plinth(["vlans", "update", String(v.json.id), "--no-dhcp"])).stdout).toBe(`updated VLAN 42 on cli-fab (id ${v.json.id})\n`);
    const notId = await plinth(["vlans", "show", "storage"]);
    expect(notId.code).toBe(2);
    oneLine(notId);
    const word = await plinthBin(["vlans", "create", "forty"]);
    expect(word.code).toBe(2);
    oneLine(word);
    expect(word.stderr).toContain('--vid must be a whole number, not "forty"');
    const range = await plinth(["vlans", "create", "5000", "--fabric", "cli-fab"]);
    expect(range.code).toBe(2);
    oneLine(range);
    expect(range.stderr).toContain("vid");

    const cidr = "10.77.0.0/24";
    const s = await plinth([
      "subnets",
      "create",
      cidr,
      "--site",
      "site-0001",
      "--name",
      "cli-net",
      "--vlan",
      String(v.json.id),
      "--gateway",
      "10.77.0.1",
      "--dns",
      "10.77.0.2",
      "--dns",
      "10.77.0.3",
      "--json",
    ]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.json).toMatchObject({
      cidr,
      name: "cli-net",
      site: "site-0001",
      vlan_id: v.json.id,
      gateway_ip: "10.77.0.1",
      dns_servers: ["10.77.0.2", "10.77.0.3"],
      managed: true,
    });
    const dyn = await plinth(["ipranges", "create", "--subnet", cidr, "--type", "dynamic", "--start", "10.77.0.100", "--end", "10.77.0.149", "--json"]);
    expect(dyn.code, dyn.stderr).toBe(0);
    expect(dyn.json).toMatchObject({ subnet_id: s.json.id, type: "dynamic", start_ip: "10.77.0.100", end_ip: "10.77.0.149" });
    const res = await plinth([
      "ipranges",
      "create",
      "--subnet",
      String(s.json.id),
      "--type",
      "reserved",
      "--start",
      "10.77.0.10",
      "--end",
      "10.77.0.19",
      "--comment",
      "switches",
    ]);
    expect(res.stdout).toMatch(/^created reserved range 10\.77\.0\.10-10\.77\.0\.19, id \d+\n$/);
    const overlap = await plinth(["ipranges", "create", "--subnet", cidr, "--type", "reserved", "--start", "10.77.0.140", "--end", "10.77.0.160"]);
    expect(overlap.code).toBe(5);
    oneLine(overlap);
    expect(overlap.stderr).toContain("overlaps 10.77.0.100-10.77.0.149");
    const badType = await plinth(["ipranges", "create", "--subnet", cidr, "--type", "static", "--start", "10.77.0.5", "--end", "10.77.0.6"]);
    expect(badType.code).toBe(2);
    oneLine(badType);

    const grown = await plinth(["ipranges", "update", String(dyn.json.id), "--end", "10.77.0.159", "--comment", "pool", "--json"]);
    expect(grown.json).toMatchObject({ id: dyn.json.id, start_ip: "10.77.0.100", end_ip: "10.77.0.159", comment: "pool" });
    const clash = await plinth(["ipranges", "update", String(dyn.json.id), "--start", "10.77.0.15"]);
    expect(clash.code).toBe(5);
    oneLine(clash);
    expect(clash.stderr).toContain("overlaps 10.77.0.10-10.77.0.19");
    const stray = await plinth(["ipranges", "update", String(dyn.json.id), "--end", "10.78.0.1"]);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toBe("plinth: the range 10.77.0.100-10.78.0.1 is not inside 10.77.0.0/24\n");
    expect((await plinth(["ipranges", "update", String(dyn.json.id)])).code).toBe(2);
    expect((await plinth(["ipranges", "update", String(dyn.json.id), "--end", "10.77.0.149"])).stdout).toBe(
      `updated IP range ${dyn.json.id}: dynamic 10.77.0.100-10.77.0.149\n`,
    );

    const rl = await plinth(["ipranges", "list", "--subnet", cidr, "--json"]);
    expect(rl.json.items.map((r: any) => [r.type, r.start_ip, r.cidr])).toEqual([
      ["dynamic", "10.77.0.100", cidr],
      ["reserved", "10.77.0.10", cidr],
    ]);
    const rt = (await plinth(["ipranges", "list", "--subnet", cidr])).stdout.split("\n");
    expect(rt[0]).toMatch(/^ID\s+CIDR\s+SITE\s+TYPE\s+RANGE\s+COMMENT$/);
    expect(rt[2]).toMatch(/10\.77\.0\.0\/24\s+site-0001\s+reserved\s+10\.77\.0\.10-10\.77\.0\.19\s+switches$/);

    const st = (await plinthBin(["subnets", "list", "--site", "site-0001"])).stdout.split("\n");
    expect(st[0]).toMatch(/^ID\s+CIDR\s+NAME\s+SITE\s+VLAN\s+GATEWAY\s+DHCP\s+RANGES$/);
    expect(st.find((l) => l.includes(cidr))).toMatch(
      /cli-net\s+site-0001\s+\d+\s+10\.77\.0\.1\s+managed\s+dynamic 10\.77\.0\.100-10\.77\.0\.149,reserved 10\.77\.0\.10-10\.77\.0\.19$/,
    );
    const su = await plinth(["subnets", "list", "--site", "site-0001", "--usage", "--json"]);
    const mine = su.json.items.find((x: any) => x.cidr === cidr);
    expect(mine.utilisation).toMatchObject({ dynamic: 50, reserved: 10 });
    const sut = (await plinth(["subnets", "list", "--site", "site-0001", "--usage"])).stdout.split("\n");
    expect(sut[0]).toMatch(/\sDHCP\s+USED\s+DYNAMIC\s+RESERVED\s+FREE$/);
    expect(sut.find((l) => l.includes(cidr))).toMatch(new RegExp(`\\s${mine.utilisation.used} \\(\\d+%\\)\\s+50\\s+10\\s+${mine.utilisation.free}$`));
    const show = await plinth(["subnets", "show", cidr]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/^dynamic\s+50$/m);
    expect(show.stdout).toMatch(/^dns_servers\s+10\.77\.0\.2, 10\.77\.0\.3$/m);
    expect(show.stdout).toMatch(/ip ranges:\nID\s+TYPE\s+RANGE\s+COMMENT\n/);
    expect((await plinth(["subnets", "show", String(s.json.id), "--json"])).json).toMatchObject({ id: s.json.id, utilisation: { reserved: 10 } });

    const outside = await plinth(["subnets", "update", cidr, "--gateway", "10.78.0.1"]);
    expect(outside.code).toBe(2);
    oneLine(outside);
    expect(outside.stderr).toContain("outside the subnet");
    const u = await plinth(["subnets", "update", cidr, "--name", "cli-net-2", "--unmanaged", "--json"]);
    expect(u.json).toMatchObject({ name: "cli-net-2", managed: false });
    const missing = await plinth(["subnets", "show", "10.99.0.0/24"]);
    expect(missing.code).toBe(4);
    oneLine(missing);
    const notCidr = await plinth(["subnets", "show", "lab"]);
    expect(notCidr.code).toBe(2);
    oneLine(notCidr);

    expect((await plinth(["ipranges", "delete", String(dyn.json.id), "--json"])).json).toEqual({ deleted: [dyn.json.id] });
    const inUse = await plinth(["vlans", "delete", String(v.json.id)]);
    expect(inUse.code).toBe(5);
    expect(inUse.stderr).toBe(`plinth: VLAN 42 on fabric cli-fab is in use by 1 subnet (${cidr}): move or delete it first\n`);
    expect((await plinth(["subnets", "delete", cidr])).stdout).toBe(`deleted subnet ${cidr}\n`);
    expect((await plinth(["subnets", "show", String(s.json.id)])).code).toBe(4);
    expect((await plinth(["vlans", "delete", String(v.json.id), "--json"])).json).toEqual({ deleted: [v.json.id] });
    expect((await plinth(["vlans", "show", String(v.json.id)])).code).toBe(4);
    // A fabric takes its VLANs with it.
    const other = await plinth(["vlans", "create", "43", "--fabric", "cli-fab", "--json"]);
    expect((await plinth(["fabrics", "delete", "cli-fab"])).code).toBe(0);
    expect((await plinth(["vlans", "show", String(other.json.id)])).code).toBe(4);
    expect((await plinth(["vlans", "list", "--fabric", "cli-fab"])).stdout).toBe("no VLANs\n");
    const gone = await plinth(["fabrics", "show", "cli-fab"]);
    expect(gone.code).toBe(4);
    oneLine(gone);
  });
});

describe("plinth dns", () => {
  it("domains and records: create, list as tables and JSON, update, delete; bad input is exit 2 with one line", async () => {
    const d = await plinth(["dns", "domains", "create", "cli.example", "--ttl", "600", "--json"]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.json).toMatchObject({ name: "cli.example", ttl: 600, authoritative: true, is_default: false });
    const dt = (await plinthBin(["dns", "domains"])).stdout.split("\n");
    expect(dt[0]).toMatch(/^ID\s+NAME\s+DEFAULT\s+AUTHORITATIVE\s+TTL\s+RECORDS$/);
    expect(dt.find((l) => l.includes("cli.example"))).toMatch(/\scli\.example\s+-\s+true\s+600\s+0$/);
    expect((await plinth(["dns", "domains", "update", "cli.example", "--ttl", "300", "--json"])).json.ttl).toBe(300);
    const soon = await plinthBin(["dns", "domains", "update", "cli.example", "--ttl", "soon"]);
    expect(soon.code).toBe(2);
    oneLine(soon);
    expect(soon.stderr).toContain("--ttl must be a whole number");

    const a = await plinth(["dns", "records", "create", "www", "--domain", "cli.example", "--type", "a", "--data", "10.77.1.5", "--json"]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.json).toMatchObject({ name: "www", domain: "cli.example", type: "A", data: "10.77.1.5" });
    const mx = await plinth(["dns", "records", "create", "@", "--domain", "cli.example", "--type", "MX", "--data", "10 mail.cli.example"]);
    expect(mx.code, mx.stderr).toBe(0);
    expect(mx.stdout).toMatch(/^created \S*cli\.example\.? MX 10 mail\.cli\.example\.?, id \d+\n$/);
    const rt = (await plinth(["dns", "records", "list", "--domain", "cli.example"])).stdout.trim().split("\n");
    expect(rt[0]).toMatch(/^ID\s+FQDN\s+TYPE\s+DATA\s+TTL$/);
    expect(rt).toHaveLength(3);
    expect(rt.find((l) => /\sA\s/.test(l))).toMatch(/www\.cli\.example\.?\s+A\s+10\.77\.1\.5\s+-$/);
    const onlyA = await plinth(["dns", "records", "list", "--domain", "cli.example", "--type", "A", "--json"]);
    expect(onlyA.json.items.map((r: any) => r.id)).toEqual([a.json.id]);
    const badData = await plinth(["dns", "records", "create", "ftp", "--domain", "cli.example", "--type", "A", "--data", "not-an-address"]);
    expect(badData.code).toBe(2);
    oneLine(badData);
    const noType = await plinth(["dns", "records", "create", "ftp", "--data", "10.77.1.6"]);
    expect(noType.code).toBe(2);
    oneLine(noType);
    expect(noType.stderr).toContain("--type");

    const ids = (await plinth(["dns", "records", "list", "--domain", "cli.example", "--json"])).json.items.map((r: any) => String(r.id));
    expect((await plinth(["dns", "records", "delete", ...ids])).code).toBe(0);
    expect((await plinth(["dns", "records", "list", "--domain", "cli.example", "--json"])).json.items).toEqual([]);
    expect((await plinth(["dns", "domains", "delete", "cli.example"])).code).toBe(0);
    const gone = await plinth(["dns", "domains", "show", "cli.example"]);
    expect(gone.code).toBe(4);
    oneLine(gone);
  });
});

describe("plinth ssh-keys", () => {
  it("adds a .pub file and a key line, lists them, refuses a private key with exit 2, deletes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "plinth-cli-keys-"));
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "cli@test", "-f", join(dir, "id")], { stdio: "ignore" });
    const pub = readFileSync(join(dir, "id.pub"), "utf8").trim();
    const add = await plinth(["ssh-keys", "add", join(dir, "id.pub")]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/^added ssh-ed25519 key SHA256:\S+ \(cli@test\), id \S+/);
    const fp = spawnSync("ssh-keygen", ["-lf", join(dir, "id.pub")], { encoding: "utf8" }).stdout.split(" ")[1];
    const list = await plinth(["ssh-keys", "list", "--json"]);
    const k = list.json.items.find((x: any) => x.key === pub);
    expect(k.fingerprint).toBe(fp);
    const priv = await plinth(["ssh-keys", "add", join(dir, "id")]);
    expect(priv.code).toBe(2);
    oneLine(priv);
    expect(priv.stderr).toContain("this is a private key");
    // A key's id is base64url and may start with "-": after --, it is never read as an option.
    const dashed = await plinth(["ssh-keys", "delete", "-Zz9"]);
    expect(dashed.code).toBe(2);
    expect(dashed.stderr).toContain("goes after --");
    const del = await plinth(["ssh-keys", "delete", "--", k.id]);
    expect(del.code, del.stderr).toBe(0);
    expect((await plinth(["ssh-keys", "list", "--json"])).json.items.some((x: any) => x.key === pub)).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("plinth ssl-keys and settings", () => {
  it("adds a certificate from a .pem file, lists and deletes it; reads and sets a typed setting", async () => {
    const dir = mkdtempSync(join(tmpdir(), "plinth-cli-ssl-"));
    const pem = join(dir, "cert.pem");
    const made = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        pem,
        "-days",
        "1",
        "-subj",
        "/CN=cli",
      ],
      { stdio: "ignore" },
    );
    expect(made.status, "openssl (Debian package openssl) must be installed").toBe(0);
    const fp = spawnSync("openssl", ["x509", "-in", pem, "-noout", "-fingerprint", "-sha256"], { encoding: "utf8" }).stdout.split("=")[1]!.trim().toLowerCase();
    const add = await plinth(["ssl-keys", "add", pem]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toBe(`added certificate ${fp}, id ${/id (\d+)/.exec(add.stdout)?.[1]}\n`);
    const key = await plinth(["ssl-keys", "add", join(dir, "key.pem")]);
    expect(key.code).toBe(2);
    oneLine(key);
    expect(key.stderr).toContain("private key");
    const list = await plinth(["ssl-keys", "list", "--json"]);
    const row = list.json.items.find((x: any) => x.fingerprint === fp);
    expect((await plinth(["ssl-keys", "delete", String(row.id)])).code).toBe(0);
    expect((await plinth(["ssl-keys", "list", "--json"])).json.items.some((x: any) => x.fingerprint === fp)).toBe(false);
    rmSync(dir, { recursive: true, force: true });

    expect((await plinth(["settings", "get", "default_dns_ttl"])).stdout).toBe("30\n");
    const set = await plinth(["settings", "set", "default_dns_ttl", "120"]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe("default_dns_ttl = 120\n");
    expect((await plinth(["settings", "set", "enable_http_proxy", "no"])).stdout).toBe("enable_http_proxy = false\n");
    const bad = await plinth(["settings", "set", "default_dns_ttl", "soon"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("whole number");
    const unknown = await plinth(["settings", "get", "no_such"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("not found");
    const all = await plinth(["settings", "list"]);
    expect(all.stdout).toMatch(/default_dns_ttl\s+120\s+30/);
    // MAAS's get_config/set_config are `plinth config`: the same commands.
    expect((await plinth(["config", "get", "default_dns_ttl", "--json"])).json).toMatchObject({ name: "default_dns_ttl", value: 120 });
  });
});

describe("plinth images", () => {
  it("uploads a root tarball with a progress display, lists it, refuses a second format, deletes it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "plinth-cli-img-"));
    const file = join(dir, "root.tgz");
    // 3 MiB of incompressible bytes: enough for several progress lines.
    writeFileSync(file, randomBytes(3 << 20));
    const sha = createHash("sha256").update(readFileSync(file)).digest("hex");
    const up = await plinth(["images", "upload", file, "--os", "cli-os", "--series", "one"]);
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toMatch(/^uploaded cli-os\/one tgz 3 MiB/);
    // Not a terminal: one line per tenth, ending at 100%.
    expect(up.stderr).toMatch(/hashing {3}root\.tgz \[#{30}\] 100% 3\/3 MiB/);
    expect(up.stderr).toMatch(/uploading root\.tgz \[#{30}\] 100% 3\/3 MiB/);
    const list = await plinth(["images", "list", "--json"]);
    const row = list.json.items.find((i: any) => i.osystem === "cli-os");
    expect(row).toMatchObject({ series: "one", format: "tgz", sha256: sha, size: 3 << 20 });
    // The same bytes again: nothing sent.
    const again = await plinth(["images", "upload", file, "--os", "cli-os", "--series", "one"]);
    expect(again.stdout).toContain("already has these bytes");
    const other = join(dir, "disk.ddzst");
    writeFileSync(other, "x");
    const clash = await plinth(["images", "upload", other, "--os", "cli-os", "--series", "one"]);
    expect(clash.code).toBe(5);
    oneLine(clash);
    expect(clash.stderr).toContain("exists as tgz, not ddzst");
    const unknown = await plinth(["images", "upload", join(dir, "x.bin"), "--os", "a", "--series", "b"]);
    expect(unknown.code).toBe(2);
    expect((await plinth(["images", "delete", String(row.id)])).code).toBe(0);
    expect((await plinth(["images", "list", "--json"])).json.items.some((i: any) => i.osystem === "cli-os")).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("plinth images sources and selections", () => {
  it("adds sources with gpg keyrings (armoured and binary) or --no-verify, refuses one with neither, manages selections", async () => {
    const dir = mkdtempSync(join(tmpdir(), "plinth-cli-src-"));
    const gnupg = join(dir, "gnupg");
    mkdirSync(gnupg, { mode: 0o700 });
    const gpg = (...args: string[]) => spawnSync("gpg", ["--homedir", gnupg, "--batch", "--passphrase", "", ...args], { encoding: "utf8" });
    expect(gpg("--quick-gen-key", "CLI mirror <cli@plinth.test>", "ed25519", "sign", "never").status).toBe(0);
    const fpr = gpg("--list-keys", "--with-colons").stdout.match(/^fpr:+([0-9A-F]{40}):/m)![1]!;
    writeFileSync(join(dir, "mirror.asc"), gpg("--armor", "--export").stdout);
    spawnSync("gpg", ["--homedir", gnupg, "--batch", "--output", join(dir, "mirror.gpg"), "--export"]);
    spawnSync("gpgconf", ["--homedir", gnupg, "--kill", "all"]);

    const a = await plinth(["images", "sources", "add", "http://cli-a.test/streams/v1/", "--keyring", join(dir, "mirror.asc"), "--json"]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.json).toMatchObject({ url: "http://cli-a.test/streams/v1/", keyring_filename: "mirror.asc", keyring_fingerprints: [fpr], skip_verify: false });
    const b = await plinth(["images", "sources", "add", "http://cli-b.test/", "--keyring", join(dir, "mirror.gpg")]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain(`keys ${fpr}`);
    const none = await plinth(["images", "sources", "add", "http://cli-c.test/"]);
    expect(none.code).toBe(2);
    oneLine(none);
    expect(none.stderr).toContain("--no-verify");
    const c = await plinth(["images", "sources", "add", "http://cli-c.test/", "--no-verify", "--json"]);
    expect(c.json).toMatchObject({ skip_verify: true, keyring_fingerprints: [] });
    const dup = await plinth(["images", "sources", "add", "http://cli-c.test/", "--no-verify"]);
    expect(dup.code).toBe(5);
    oneLine(dup);
    const badKey = join(dir, "bad.asc");
    writeFileSync(badKey, "not a key");
    const bad = await plinth(["images", "sources", "add", "http://cli-d.test/", "--keyring", badKey]);
    expect(bad.code).toBe(2);
    oneLine(bad);

    const id = String(a.json.id);
    const sel = await plinth(["images", "selections", id, "add", "--os", "ubuntu", "--release", "noble", "--arches", "amd64,arm64", "--json"]);
    expect(sel.code, sel.stderr).toBe(0);
    expect(sel.json).toMatchObject({ os: "ubuntu", release: "noble", arches: ["amd64", "arm64"], subarches: ["*"], labels: ["*"] });
    expect((await plinth(["images", "selections", id, "add", "--os", "ubuntu", "--release", "noble"])).code).toBe(5);
    const table = (await plinth(["images", "selections", id])).stdout.split("\n");
    expect(table[0]).toMatch(/^ID\s+OS\s+RELEASE\s+ARCHES/);
    expect(table[1]).toMatch(/ubuntu\s+noble\s+amd64,arm64/);
    const list = (await plinth(["images", "sources"])).stdout.split("\n");
    expect(list.find((l) => l.includes("http://cli-a.test/"))).toMatch(/\sgpg\s.*ubuntu\/noble/);
    expect(list.find((l) => l.includes("http://cli-c.test/"))).toMatch(/\sskipped\s/);
    expect((await plinth(["images", "selections", id, "remove", String(sel.json.id)])).code).toBe(0);
    expect((await plinth(["images", "selections", id, "list", "--json"])).json.items).toEqual([]);
    const ours = (await plinth(["images", "sources", "--json"])).json.items.filter((s: any) => s.url.startsWith("http://cli-"));
    expect(ours.map((s: any) => s.url)).toEqual(["http://cli-a.test/streams/v1/", "http://cli-b.test/", "http://cli-c.test/"]);
    for (const s of ours) expect((await plinth(["images", "sources", "remove", String(s.id)])).code).toBe(0);
    expect((await plinth(["images", "sources", "remove", String(ours[0].id)])).code).toBe(4);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe("plinth images sync", () => {
  // A real signed mirror (test/node/images/mirror-rig.ts, in a network namespace) synced by the region.
  it("follows an import with --watch to its end, reads the status; a tampered index fails the watch with exit 7", async () => {
    const dir = mkdtempSync(join(tmpdir(), "plinth-cli-sync-"));
    const kernel = join(dir, "vmlinuz");
    const root = join(dir, "root.tgz");
    writeFileSync(kernel, randomBytes(200_000));
    writeFileSync(root, randomBytes(4 << 20));
    const mirror = await startMirror({
      ns: "plsrc-",
      products: [
        {
          os: "ubuntu",
          release: "jammy",
          arch: "amd64",
          version: "20261207",
          files: [
            { ftype: "boot-kernel", file: kernel },
            { ftype: "root-tgz", file: root },
          ],
        },
      ],
    });
    try {
      writeFileSync(join(dir, "mirror.asc"), mirror.keyring);
      const src = await plinth(["images", "sources", "add", mirror.url, "--keyring", join(dir, "mirror.asc"), "--json"]);
      expect(src.code, src.stderr).toBe(0);
      expect(src.json.keyring_fingerprints).toEqual([mirror.fingerprint]);
      const sel = await plinth(["images", "selections", String(src.json.id), "add", "--os", "ubuntu", "--release", "jammy", "--arches", "amd64"]);
      expect(sel.code, sel.stderr).toBe(0);

      expect((await plinth(["images", "sync", "stop"])).stdout).toBe("no import is running\n");
      const watch = await plinth(["images", "sync", "--watch", "--interval", "0.2"]);
      expect(watch.code, watch.stderr).toBe(0);
      const lines = watch.stderr.trim().split("\n");
      expect(lines[0]).toMatch(/^started import \d+$/);
      // Not a terminal: plain lines, never the same one twice, the last one complete at 100%.
      expect(new Set(lines).size).toBe(lines.length);
      expect(lines[lines.length - 1]).toMatch(/^import \d+ complete \[#{30}\] 100% .* items 2\/2$/);
      expect(watch.stdout).toMatch(/^import \d+ complete\n$/);

      const status = await plinth(["images", "sync", "status", "--json"]);
      expect(status.json).toMatchObject({ running: false, sync: { state: "complete", items_total: 2, items_done: 2 } });
      expect((await plinth(["images", "sync", "status"])).stdout).toMatch(/^import \d+ complete/);

      await mirror.tamperIndex();
      const bad = await plinthBin(["images", "sync", "--watch", "--interval", "0.2"]);
      expect(bad.code, bad.stderr).toBe(7);
      expect(bad.stderr.trim().split("\n").pop()).toMatch(/^plinth: the import failed: .*sign/i);
      expect((await plinth(["images", "sources", "remove", String(src.json.id)])).code).toBe(0);
    } finally {
      await mirror.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe("plinth help, usage and completion", () => {
  it("answers --help on every command with exit 0", async () => {
    // In-process: --help and __complete touch no network, and a process per path cost 40 s.
    const top = (await plinth(["__complete"])).stdout.split("\n").filter((w) => w && !w.startsWith("-"));
    expect(top).toEqual(
      expect.arrayContaining([
        "login",
        "machines",
        "sites",
        "zones",
        "pools",
        "tags",
        "racks",
        "tokens",
        "users",
        "events",
        "images",
        "ssh-keys",
        "ssl-keys",
        "settings",
        "config",
        "interfaces",
        "fabrics",
        "vlans",
        "subnets",
        "ipranges",
        "dns",
        "completion",
      ]),
    );
    const paths: string[][] = [];
    for (const g of top) {
      const subs = (await plinth(["__complete", g])).stdout.split("\n").filter((w) => w && !w.startsWith("-") && w !== "bash" && w !== "zsh");
      paths.push([g]);
      for (const s of subs) paths.push([g, s]);
    }
    expect(paths.length).toBeGreaterThan(60);
    for (const p of paths) {
      const r = await plinth([...p, "--help"]);
      expect(r.code, p.join(" ")).toBe(0);
      expect(r.stdout, p.join(" ")).toMatch(/^plinth /);
      expect(r.stdout, p.join(" ")).not.toMatch(/\(repeatable\).*\(repeatable\)/);
    }
    expect((await plinth(["machines", "list", "--help"])).stdout).toMatch(/--status VALUE\s+status name or code, e\.g\. ready, deployed \(repeatable\)\n/);
    // The bin itself, once: the same help through tsx and the process's exit code.
    const bin = await plinthBin(["--help"]);
    expect(bin.code).toBe(0);
    expect(bin.stdout).toContain("exit codes:");
  });

  it("refuses unknown commands and options with exit 2 and one plain line", async () => {
    for (const args of [["frobnicate"], ["machines", "frobnicate"], ["machines", "list", "--colour", "red"], ["subnets", "list", "--site"], []]) {
      const r = await plinth(args);
      expect(r.code, args.join(" ")).toBe(2);
    }
    const r = await plinthBin(["machines", "list", "--colour", "red"]);
    expect(r.code).toBe(2);
    oneLine(r);
    expect(r.stderr).toBe("plinth: unknown option --colour (plinth machines list --help lists the options)\n");
    expect((await plinth(["subnets", "list", "--site"])).stderr).toBe("plinth: option --site needs a value (plinth subnets list --help lists the options)\n");
    expect((await plinth(["whoami", "--json=yes"])).stderr).toBe("plinth: option --json takes no value (plinth whoami --help lists the options)\n");
  });

  it("prints bash and zsh completion that completes commands and options", async () => {
    const b = await plinthBin(["completion", "bash"]);
    expect(b.stdout).toContain("complete -F _plinth plinth");
    expect((await plinth(["completion", "zsh"])).stdout).toContain("bashcompinit");
    expect((await plinth(["__complete", "machines", "deploy"])).stdout.split("\n")).toEqual(expect.arrayContaining(["--wait", "--osystem", "--json"]));
    expect((await plinth(["__complete", "machines"])).stdout.split("\n")).toEqual(
      expect.arrayContaining(["lock", "unlock", "rescue", "exit-rescue", "tag", "untag"]),
    );
    expect((await plinth(["__complete", "subnets"])).stdout.split("\n")).toEqual(expect.arrayContaining(["list", "show", "create", "update", "delete"]));
    expect((await plinth(["__complete", "ipranges", "create"])).stdout.split("\n")).toEqual(expect.arrayContaining(["--subnet", "--type", "--start", "--end"]));
    expect((await plinth(["__complete", "dns"])).stdout.split("\n")).toEqual(expect.arrayContaining(["domains", "records"]));
  });

  it("has API types generated from this region's OpenAPI document", async () => {
    const doc = await (await fetch(`${region.url}/api/v1/openapi.json`)).json();
    const committed = readFileSync(join(import.meta.dirname, "../../../cli/openapi.gen.ts"), "utf8");
    expect(committed).toBe(generate(doc as never));
  });
});

describe("the installed package", () => {
  const ROOT = join(import.meta.dirname, "../../..");

  it("runs the plinth bin with production dependencies only (no devDependencies installed)", async () => {
    // What `npm install --omit=dev` would install, as npm itself resolves it: link exactly those
    // packages next to a copy of the package's files, and run the bin from there.
    const ls = spawnSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], { cwd: ROOT, encoding: "utf8" });
    const prod = ls.stdout.split("\n").filter((p) => p.startsWith(join(ROOT, "node_modules")));
    expect(prod.length).toBeGreaterThan(0);
    const dir = mkdtempSync(join(tmpdir(), "plinth-prod-"));
    try {
      for (const f of ["package.json", "cli", "shared"]) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
      for (const p of prod) {
        const rel = relative(ROOT, p);
        // Nested node_modules come along inside their parent package.
        if (rel.split("node_modules").length !== 2) continue;
        mkdirSync(dirname(join(dir, rel)), { recursive: true });
        if (!existsSync(join(dir, rel))) symlinkSync(p, join(dir, rel), "dir");
      }
      for (const dev of ["vitest", "typescript", "wrangler"]) expect(existsSync(join(dir, "node_modules", dev)), `${dev} is a devDependency`).toBe(false);
      const bin = join(dir, "cli/bin/plinth.mjs");
      const run = (args: string[]) =>
        spawnSync(process.execPath, [bin, ...args], {
          cwd: dir,
          encoding: "utf8",
          env: { ...process.env, PLINTH_CONFIG_DIR: configDir, PLINTH_URL: region.url, PLINTH_API_KEY: region.admin.api_key },
          timeout: 60_000,
        });
      const help = run(["--help"]);
      expect(help.status, help.stderr).toBe(0);
      const who = run(["whoami", "--json"]);
      expect(who.status, who.stderr).toBe(0);
      expect(JSON.parse(who.stdout).username).toBe("admin");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

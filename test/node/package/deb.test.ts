// The Debian package from `npm run package`, installed with dpkg -i into a fresh Debian bookworm
// (mmdebstrap, minbase plus the package's one non-minbase dependency and systemd, whose
// systemd-analyze checks the unit against a real systemd tree). From that root's files alone,
// under the user and capabilities the unit gives it, the appliance enrols with a region in
// workerd and serves DHCP in a namespace to busybox's udhcpc (the boot-services rig's layout:
// the appliance's namespace reaches the region through a veth and a relay). lintian reports no
// error. The build, the bootstrap and the region start together: the bootstrap (a minute or
// so, mostly downloading) is most of the time.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ConfigSnapshot } from "../../../shared/tunnel/config";
import { watchOutput } from "../rig/dhcp-rig";
import { createNetns, hostUplink, ip, type Netns, requireRoot, stop, vethPair } from "../rig/netns";
import { api, CutProxy, type Region, region, stopRegion, until } from "../tunnel/rig";

const repo = join(import.meta.dirname, "..", "..", "..");
const version = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version as string;
const deb = join(repo, "dist", `plinth-appliance_${version}_amd64.deb`);
const MIRROR = "http://deb.debian.org/debian";
// Addresses used only inside this run's namespaces and veth pair (a random /24 per run).
const octet = 100 + (randomBytes(1)[0]! % 100);
const NET = `10.${octet}.9`;
const LINK = `10.${octet}.10`;
const MAC = "52:54:00:5e:00:09";
/** The unit's AmbientCapabilities= and CapabilityBoundingSet=, as setpriv spells them. */
const CAPS = "-all,+net_bind_service,+net_raw";
/** CAP_NET_BIND_SERVICE (10) and CAP_NET_RAW (13), as /proc/<pid>/status shows a set. */
const CAP_MASK = (1n << 10n) | (1n << 13n);
// What systemd gives a service: none of this shell's variables (NODE_EXTRA_CA_CERTS and the like).
const ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };

let tmp = "";
let root = "";
let r: Region | null = null;
let proxy: CutProxy | null = null;
let appNs: Netns | null = null;
let clientNs: Netns | null = null;
let hostIf = "";
let clientIf = "";
let srvIf = "";
let appliance: ChildProcess | null = null;
let appOut: ReturnType<typeof watchOutput>;
let lintian: Promise<Ran>;
const started: ChildProcess[] = [];
const timings: Record<string, number> = {};

interface Ran {
  code: number | null;
  out: string;
}

/** A command run without blocking the event loop (the region's fetches share it), timed. */
function runAsync(what: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? repo, env: opts.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    started.push(child);
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("error", (e) => resolve({ code: -1, out: `${out}${String(e)}` }));
    child.on("close", (code) => {
      timings[what] = (Date.now() - t0) / 1000;
      resolve({ code, out });
    });
  });
}

function ok(what: string, ran: Ran): string {
  if (ran.code !== 0) throw new Error(`${what} exited ${ran.code}:\n${ran.out}`);
  return ran.out;
}

/**
 * `args` run inside the root, with its own /proc (node and perl read it) in a mount namespace
 * that goes when the command exits: nothing is left mounted under the root for the teardown.
 */
function inRootArgs(args: string[]): string[] {
  return ["--mount", "--propagation", "private", `--root=${root}`, "--mount-proc", ...args];
}

function inRoot(args: string[]): Ran {
  const res = spawnSync("unshare", inRootArgs(args), { encoding: "utf8", env: ENV, timeout: 120_000 });
  return { code: res.status, out: `${res.stdout}${res.stderr}` };
}

/** The unit's user, capabilities and no-new-privileges, as setpriv gives them to a command. */
function asService(args: string[]): string[] {
  return [
    "setpriv",
    "--reuid=plinth",
    "--regid=plinth",
    "--init-groups",
    `--inh-caps=${CAPS}`,
    `--ambient-caps=${CAPS}`,
    `--bounding-set=${CAPS}`,
    "--no-new-privs",
    "--",
    ...args,
  ];
}

function passwd(user: string): { uid: number; gid: number; home: string; shell: string } | null {
  for (const line of readFileSync(join(root, "etc/passwd"), "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === user) return { uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! };
  }
  return null;
}

beforeAll(async () => {
  requireRoot();
  tmp = mkdtempSync(join(tmpdir(), "plinth-deb-"));
  root = join(tmp, "root");
  const t0 = Date.now();
  // The package's Depends beyond minbase: iproute2. systemd is for systemd-analyze only.
  const bootstrap = runAsync("mmdebstrap", "mmdebstrap", ["--variant=minbase", "--include=iproute2,systemd", "bookworm", root, MIRROR]);
  const built = runAsync("npm run package", process.execPath, [join(repo, "scripts", "package-appliance.mjs")]);
  lintian = built.then((b) => (b.code === 0 ? runAsync("lintian", "lintian", ["--fail-on", "error", deb]) : { code: -1, out: "not built" }));
  lintian.catch(() => {});
  const [boot, pkg, reg] = await Promise.allSettled([bootstrap, built, region()]);
  if (reg.status === "fulfilled") r = reg.value;
  if (pkg.status === "rejected" || boot.status === "rejected" || reg.status === "rejected") throw new Error("a set-up step failed to start");
  ok("npm run package", pkg.value);
  ok("mmdebstrap", boot.value);
  copyFileSync(deb, join(root, "tmp", "plinth-appliance.deb"));
  ok("dpkg -i", inRoot(["dpkg", "-i", "/tmp/plinth-appliance.deb"]));
  timings["set-up"] = (Date.now() - t0) / 1000;
}, 420_000);

afterAll(async () => {
  for (const c of started) await stop(c, "SIGKILL");
  if (appliance) await stop(appliance, "SIGTERM");
  await proxy?.stop();
  clientNs?.destroy();
  appNs?.destroy();
  if (hostIf) {
    try {
      ip("link", "del", hostIf);
    } catch {
      // went with the namespace
    }
  }
  if (r) await stopRegion(r.child);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  console.log(`deb test timings (s): ${JSON.stringify(timings)}`);
}, 60_000);

describe("the appliance's Debian package", () => {
  it("installs its files, its user and its state directory", () => {
    const f = (name: string) => `\${${name}}`;
    const status = inRoot(["dpkg-query", "-W", `-f=${f("Status")} ${f("Version")} ${f("Depends")}\\n${f("Conffiles")}\\n`, "plinth-appliance"]);
    expect(status.out).toContain(`install ok installed ${version}`);
    expect(status.out).toContain("iproute2");
    expect(status.out).toMatch(/^ \/etc\/plinth\/appliance\.conf [0-9a-f]{32}$/m);
    const lib = "usr/lib/plinth-appliance";
    for (const [path, mode] of [
      ["usr/bin/plinth-appliance", 0o755],
      [`${lib}/node`, 0o755],
      [`${lib}/plinth-appliance.mjs`, 0o644],
      [`${lib}/udp-worker.mjs`, 0o644],
      [`${lib}/build/udp_gso.node`, 0o644],
      [`${lib}/dhcp/bind-device.pl`, 0o755],
      ["lib/systemd/system/plinth-appliance.service", 0o644],
      ["usr/share/doc/plinth-appliance/copyright", 0o644],
      ["usr/share/doc/plinth-appliance/changelog.gz", 0o644],
    ] as const) {
      const st = statSync(join(root, path));
      expect({ path, mode: st.mode & 0o7777, owner: st.uid }).toEqual({ path, mode, owner: 0 });
    }
    const user = passwd("plinth");
    expect(user).toMatchObject({ home: "/var/lib/plinth", shell: "/usr/sbin/nologin" });
    expect(user!.uid).toBeLessThan(1000);
    const conf = statSync(join(root, "etc/plinth/appliance.conf"));
    expect({ mode: conf.mode & 0o777, uid: conf.uid, gid: conf.gid }).toEqual({ mode: 0o640, uid: 0, gid: user!.gid });
    const state = statSync(join(root, "var/lib/plinth"));
    expect({ mode: state.mode & 0o777, uid: state.uid }).toEqual({ mode: 0o700, uid: user!.uid });
    // The runtime is the carried one, whatever the root's PATH holds (minbase has no node at all).
    expect(inRoot([`/${lib}/node`, "--version"]).out.trim()).toBe(process.version);
    expect(inRoot(["sh", "-c", "command -v node || echo none"]).out.trim()).toBe("none");
    const help = inRoot(["plinth-appliance", "enrol", "--help"]);
    expect(help.code, help.out).toBe(0);
    expect(help.out).toContain("plinth-appliance enrol");
  });

  it("has a unit systemd-analyze verify accepts", () => {
    const v = inRoot(["systemd-analyze", "verify", "plinth-appliance.service"]);
    expect(v, v.out).toEqual({ code: 0, out: "" });
    const unit = readFileSync(join(root, "lib/systemd/system/plinth-appliance.service"), "utf8");
    expect(unit).toMatch(/^User=plinth$/m);
    expect(unit).toMatch(/^AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW$/m);
    expect(unit).toMatch(/^CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_NET_RAW$/m);
    expect(unit).toMatch(/^StateDirectory=plinth$/m);
    expect(unit).toMatch(/^Restart=on-failure$/m);
  });

  it("lintian reports no errors", async () => {
    const l = await lintian;
    const errors = l.out.split("\n").filter((line) => line.startsWith("E: "));
    const warnings = l.out.split("\n").filter((line) => line.startsWith("W: "));
    console.log(`lintian: ${errors.length} errors, ${warnings.length} warnings${warnings.length ? `\n${warnings.join("\n")}` : ""}`);
    expect(errors).toEqual([]);
    expect(l.code, l.out).toBe(0);
  }, 120_000);

  it("enrols from the package's files as the plinth user, and serves DHCP under the unit's capabilities only", async () => {
    const reg = r!;
    const subnet = await api(reg, "POST", "/subnets", { cidr: `${NET}.0/24`, site: "default", gateway_ip: `${NET}.1`, dns_servers: [`${NET}.1`] });
    expect(subnet.status, JSON.stringify(subnet.json)).toBe(201);
    const range = await api(reg, "POST", "/ip-ranges", { subnet_id: subnet.json.id, type: "dynamic", start_ip: `${NET}.100`, end_ip: `${NET}.150` });
    expect(range.status, JSON.stringify(range.json)).toBe(201);
    const tok = await api(reg, "POST", "/racks/enrol-tokens", { site: "default" });
    expect(tok.status, JSON.stringify(tok.json)).toBe(201);

    // As root, as an admin would: the wrapper hands enrol to the plinth user.
    const t0 = Date.now();
    const enrolled = inRoot(["plinth-appliance", "enrol", "--region", reg.url, "--token", tok.json.token, "--hostname", "rack-deb"]);
    timings.enrol = (Date.now() - t0) / 1000;
    expect(enrolled.code, enrolled.out).toBe(0);
    const user = passwd("plinth")!;
    const credPath = join(root, "var/lib/plinth/credential.json");
    const cred = statSync(credPath);
    expect({ uid: cred.uid, mode: cred.mode & 0o777 }).toEqual({ uid: user.uid, mode: 0o600 });
    const rackId = JSON.parse(readFileSync(credPath, "utf8")).rackId as string;
    expect((await api(reg, "GET", `/racks/${rackId}`)).json).toMatchObject({ hostname: "rack-deb" });

    // Site link: appliance ↔ client; uplink: host ↔ appliance, for the tunnel only.
    appNs = createNetns("plpkga");
    clientNs = createNetns("plpkgc");
    const site = vethPair(appNs, clientNs, `${NET}.1/24`, undefined, MAC);
    srvIf = site.serverIf;
    clientIf = site.clientIf;
    hostIf = hostUplink(appNs, LINK).hostIf;
    proxy = new CutProxy(reg.port);
    await proxy.start(`${LINK}.1`);

    // The package's default TFTP root, as an operator fills it.
    const tftp = join(root, "var/lib/plinth/tftp");
    mkdirSync(tftp);
    writeFileSync(join(tftp, "undionly.kpxe"), randomBytes(70_000));
    for (const p of [tftp, join(tftp, "undionly.kpxe")]) chownSync(p, user.uid, user.gid);

    const region = `http://${LINK}.1:${proxy.port}`;
    appliance = appNs.spawn(
      "unshare",
      inRootArgs(asService(["/usr/bin/plinth-appliance", "run", "--region", region, "--insecure", "--dhcp-interface", srvIf, "--log-level", "debug"])),
      { stdio: ["ignore", "pipe", "pipe"], env: ENV },
    );
    appOut = watchOutput(appliance);
    const exited = new Promise<never>((_, reject) =>
      appliance!.once("exit", (code) => reject(new Error(`the appliance exited (${code}):\n${appOut.output.join("\n")}`))),
    );
    exited.catch(() => {});
    const bootLine = await Promise.race([appOut.waitFor((l) => l.includes("boot services started"), "boot services", 60_000), exited]);
    // The helper and the DNS worker were found beside the bundle, where the package put them.
    expect(JSON.parse(bootLine)).toMatchObject({ tftp_udp_segmentation: true, sockets: [`${srvIf}:67`] });
    const dnsLine = await appOut.waitFor((l) => l.includes("dns: serving"), "dns serving");
    expect(JSON.parse(dnsLine)).toMatchObject({ udp: ["native"] });
    await until("the rack to connect", async () => (await api(reg, "GET", `/racks/${rackId}`)).json.connected);
    await until("the config snapshot with the subnet", async () => {
      const cfg = JSON.parse(readFileSync(join(root, "var/lib/plinth/config.json"), "utf8")) as ConfigSnapshot;
      return cfg.subnets.some((s) => s.cidr === `${NET}.0/24`);
    });

    // The process holding the DHCP socket runs as plinth with the two capabilities and no more.
    const holder = /pid=(\d+)/.exec(appNs.exec("ss", ["-ulpnH", "sport", "=", ":67"]))?.[1];
    expect(holder, "a process on port 67").toBeDefined();
    const proc = readFileSync(`/proc/${holder}/status`, "utf8");
    const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, "m").exec(proc)?.[1]?.trim() ?? "";
    expect(field("Uid").split(/\s+/).map(Number)).toEqual([user.uid, user.uid, user.uid, user.uid]);
    for (const set of ["CapEff", "CapBnd", "CapAmb"]) expect(BigInt(`0x${field(set)}`), set).toBe(CAP_MASK);
    expect(field("NoNewPrivs")).toBe("1");

    const hook = join(tmp, "udhcpc.sh");
    const envOut = join(tmp, "udhcpc.env");
    writeFileSync(hook, `#!/bin/sh\n[ "$1" = bound ] && env > "${envOut}.tmp" && mv "${envOut}.tmp" "${envOut}"\nexit 0\n`, { mode: 0o755 });
    const client = clientNs.spawn("busybox", [
      "udhcpc",
      "-i",
      clientIf,
      "-f",
      "-q",
      "-n",
      "-t",
      "5",
      "-T",
      "2",
      "-s",
      hook,
      "-V",
      "PXEClient:Arch:00000:UNDI:002001",
      "-x",
      "0x5d:0000",
    ]);
    started.push(client);
    const w = watchOutput(client);
    const code = await new Promise<number | null>((res) => client.once("exit", (c) => res(c)));
    expect(code, w.output.join("\n")).toBe(0);
    const lease = Object.fromEntries(
      readFileSync(envOut, "utf8")
        .split("\n")
        .filter((l) => l.includes("="))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
    );
    expect(lease.ip).toMatch(new RegExp(`^${NET.replaceAll(".", "\\.")}\\.1[0-5]\\d$`));
    expect(lease).toMatchObject({ serverid: `${NET}.1`, router: `${NET}.1`, boot_file: "undionly.kpxe" });
    await until("the lease in the region", async () => {
      const res = await api(reg, "GET", `/racks/${rackId}/events?type=dhcp.lease&limit=100`);
      return (res.json.items as { data: unknown }[]).some((e) => JSON.stringify(e.data).includes(MAC));
    });
    expect(existsSync(join(root, "var/lib/plinth/dhcp/leases.jsonl"))).toBe(true);
  }, 180_000);

  it("upgrades in place keeping an edited settings file, and a purge takes the state with it", async () => {
    if (appliance) await stop(appliance, "SIGTERM");
    appliance = null;
    const conf = join(root, "etc/plinth/appliance.conf");
    writeFileSync(conf, `${readFileSync(conf, "utf8")}PLINTH_LOG_LEVEL=debug\n`);
    const again = inRoot(["dpkg", "-i", "/tmp/plinth-appliance.deb"]);
    expect(again.code, again.out).toBe(0);
    expect(readFileSync(conf, "utf8")).toMatch(/^PLINTH_LOG_LEVEL=debug$/m);
    expect(statSync(conf).mode & 0o777).toBe(0o640);
    expect(existsSync(join(root, "var/lib/plinth/credential.json"))).toBe(true);

    const purged = inRoot(["dpkg", "--purge", "plinth-appliance"]);
    expect(purged.code, purged.out).toBe(0);
    for (const gone of ["usr/bin/plinth-appliance", "usr/lib/plinth-appliance", "lib/systemd/system/plinth-appliance.service", "etc/plinth", "var/lib/plinth"])
      expect(existsSync(join(root, gone)), gone).toBe(false);
  });
});

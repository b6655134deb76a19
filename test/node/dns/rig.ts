// The DNS rig: a veth pair of our own, one end in the root namespace with an address from the
// benchmarking range (the server under test binds only there), the other in a fresh
// namespace where dig, kdig and a Knot of our own (config, rundir and storage in a temp dir)
// run. Everything is torn down by the test: the namespace, the link, knotd by its PID.
import { type ChildProcess, execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { zoneFile } from "../../../shared/dns/zonefile";
import type { DnsZone } from "../../../shared/dns/zone";
import { createNetns, ip, type Netns, uniqueName } from "../rig/netns";

export interface Link {
  ns: Netns;
  hostIf: string;
  /** 198.18.N: .1 the server (root namespace), .2 the client inside the site subnet (and Knot), .200 a client outside it. */
  net: string;
  destroy(): void;
}

export function makeLink(): Link {
  const n = randomBytes(1)[0]! % 250;
  const net = `198.18.${n}`;
  const ns = createNetns("pdns-");
  const hostIf = uniqueName("pdh");
  const peer = uniqueName("pdc");
  try {
    ip("link", "add", hostIf, "type", "veth", "peer", "name", peer);
    ip("link", "set", peer, "netns", ns.name);
    ip("addr", "add", `${net}.1/24`, "dev", hostIf);
    ip("link", "set", hostIf, "up");
    ip("-n", ns.name, "addr", "add", `${net}.2/24`, "dev", peer);
    ip("-n", ns.name, "addr", "add", `${net}.200/24`, "dev", peer);
    ip("-n", ns.name, "link", "set", peer, "up");
  } catch (e) {
    ns.destroy();
    try {
      ip("link", "del", hostIf);
    } catch {}
    throw e;
  }
  return {
    ns,
    hostIf,
    net,
    destroy() {
      try {
        ip("link", "del", hostIf);
      } catch {
        // gone with the namespace
      }
      ns.destroy();
    },
  };
}

export function run(ns: Netns, cmd: string, args: string[], timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve) => {
    execFile("ip", ["netns", "exec", ns.name, cmd, ...args], { timeout: timeoutMs, encoding: "utf8", maxBuffer: 64 << 20 }, (_err, stdout, stderr) =>
      resolve(`${stdout}${stderr}`),
    );
  });
}

export interface DigResult {
  status: string;
  flags: string[];
  answer: string[];
  authority: string[];
  additional: string[];
  opt: string | null;
  tcp: boolean;
  raw: string;
}

/** dig's text output, sections as normalised record lines (lower-case names, no TTL). */
export function parseDig(out: string): DigResult {
  const r: DigResult = { status: "", flags: [], answer: [], authority: [], additional: [], opt: null, tcp: false, raw: out };
  let section: "answer" | "authority" | "additional" | null = null;
  for (const line of out.split("\n")) {
    const st = /status: ([A-Z]+)/.exec(line);
    if (st && line.includes("->>HEADER<<-")) r.status = st[1]!;
    const fl = /^;; flags: ([a-z ]*);/.exec(line);
    if (fl) r.flags = fl[1]!.trim().split(/\s+/).filter(Boolean).sort();
    if (/^; EDNS: /.test(line)) r.opt = line;
    if (/^;; SERVER: .*\(TCP\)/.test(line)) r.tcp = true;
    if (line.startsWith(";; ANSWER SECTION")) section = "answer";
    else if (line.startsWith(";; AUTHORITY SECTION")) section = "authority";
    else if (line.startsWith(";; ADDITIONAL SECTION")) section = "additional";
    else if (line.trim() === "" || line.startsWith(";")) {
      if (line.trim() === "") section = null;
    } else if (section) {
      const f = line.trim().split(/\s+/);
      // name ttl class type rdata...
      r[section].push([f[0]!.toLowerCase(), f[2], f[3], ...f.slice(4)].join(" "));
    }
  }
  r.answer.sort();
  r.authority.sort();
  r.additional.sort();
  return r;
}

export async function dig(ns: Netns, server: string, args: string[], from?: string): Promise<DigResult> {
  return parseDig(await run(ns, "dig", [`@${server}`, ...(from ? ["-b", from] : []), "+tries=1", "+time=3", ...args]));
}

export interface Knot {
  child: ChildProcess;
  dir: string;
}

/** knotd inside `ns`, listening on address@53 only, serving `zones` from master files rendered by shared/dns/zonefile.ts. */
export function knotConfig(dir: string, address: string, zones: DnsZone[]): string {
  for (const d of ["run", "db", "zones"]) mkdirSync(join(dir, d), { recursive: true });
  const lines = [
    "server:",
    `    rundir: "${dir}/run"`,
    `    listen: ${address}@53`,
    "database:",
    `    storage: "${dir}/db"`,
    "control:",
    `    listen: "${dir}/run/knot.sock"`,
    "log:",
    "  - target: stderr",
    "    any: warning",
    "template:",
    "  - id: default",
    `    storage: "${dir}/zones"`,
    "    zonefile-sync: -1",
    "    journal-content: none",
    "zone:",
  ];
  for (const z of zones) {
    const file = `${z.name}.zone`;
    writeFileSync(join(dir, "zones", file), zoneFile(z));
    lines.push(`  - domain: ${z.name}.`, `    file: "${file}"`);
  }
  const conf = join(dir, "knot.conf");
  writeFileSync(conf, `${lines.join("\n")}\n`);
  return conf;
}

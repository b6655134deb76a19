// The rack's DNS server against real resolvers (dig, kdig) over a veth pair into a namespace of
// our own, then the same queries against Knot loaded with the same zones as master files
// (shared/dns/zonefile.ts), compared answer by answer. Knot is also the upstream the rack
// forwards other names to.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import dnsPacket from "dns-packet";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DnsServer } from "../../../appliance/dns/server";
import type { DnsZone } from "../../../shared/dns/zone";
import { requireRoot, stop } from "../rig/netns";
import { MACHINES, machineIp, siteZones } from "./fixture";
import { dig, type DigResult, knotConfig, type Link, makeLink, run } from "./rig";

let link: Link;
let server: DnsServer;
let knot: ChildProcess | null = null;
let dir = "";
let S = "";
let K = "";
let IN = "";
let OUT = "";
const logs: string[] = [];

const upstreamZone: DnsZone = {
  name: "example.test",
  serial: 1,
  records: [
    { name: "example.test", type: "SOA", ttl: 3600, data: "ns.example.test admin.example.test 1 600 300 86400 45" },
    { name: "example.test", type: "NS", ttl: 3600, data: "ns.example.test" },
    { name: "ns.example.test", type: "A", ttl: 3600, data: "192.0.2.53" },
    { name: "www.example.test", type: "A", ttl: 120, data: "192.0.2.80" },
  ],
};

beforeAll(async () => {
  requireRoot();
  link = makeLink();
  S = `${link.net}.1`;
  K = `${link.net}.2`;
  IN = `${link.net}.2`;
  OUT = `${link.net}.200`;
  dir = mkdtempSync(join(tmpdir(), "plinth-dns-clients-"));
  server = await DnsServer.start({
    listen: [{ address: S, port: 53 }],
    axfrAllow: [`${IN}/32`],
    log: (l, m, f) => logs.push(`${l} ${m} ${JSON.stringify(f)}`),
  });
  await server.load({ zones: siteZones(S), upstream: [K] }, [`${link.net}.0/25`]);
  const conf = knotConfig(dir, K, [...siteZones(S), upstreamZone]);
  knot = link.ns.spawn("knotd", ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] });
  knot.stderr?.on("data", (d: Buffer) => logs.push(`knotd: ${d.toString()}`));
  for (let i = 0; i < 50; i++) {
    const r = await dig(link.ns, K, ["+norec", "maas", "SOA"]);
    if (r.status === "NOERROR") break;
    await new Promise((res) => setTimeout(res, 200));
  }
}, 60_000);

afterAll(async () => {
  if (knot) await stop(knot);
  await server?.close();
  link?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ours = (args: string[], from = IN) => dig(link.ns, S, args, from);

describe("dig and kdig against the rack's DNS server", () => {
  it("forward and reverse lookups of machines, case-insensitive, echoing the question's case", async () => {
    const a = await ours(["+norec", "node-5.maas", "A"]);
    expect(a).toMatchObject({ status: "NOERROR", answer: [`node-5.maas. IN A ${machineIp(5)}`] });
    expect(a.flags).toContain("aa");
    expect((await ours(["+norec", "node-0.maas", "AAAA"])).answer).toEqual(["node-0.maas. IN AAAA fd00:77::2"]);
    const ptr = await ours(["+norec", "-x", machineIp(MACHINES - 1)]);
    expect(ptr.answer).toEqual([
      `${machineIp(MACHINES - 1)
        .split(".")
        .reverse()
        .join(".")}.in-addr.arpa. IN PTR node-${MACHINES - 1}.maas.`,
    ]);
    const mixed = await ours(["+norec", "NoDe-7.MaAs", "A"]);
    expect(mixed.raw).toMatch(/^NoDe-7\.MaAs\.\s+300\s+IN\s+A\s+/m);
  });

  it("operator records of each type; a delegation is a referral", async () => {
    expect((await ours(["+norec", "www.maas", "A"])).answer).toEqual(["node-1.maas. IN A 10.77.0.3", "www.maas. IN CNAME node-1.maas."]);
    expect((await ours(["+norec", "maas", "MX"])).answer).toEqual(["maas. IN MX 10 mail.maas."]);
    expect((await ours(["+norec", "_sip._udp.maas", "SRV"])).answer).toEqual(["_sip._udp.maas. IN SRV 0 5 5060 node-2.maas."]);
    expect((await ours(["+norec", "note.maas", "TXT"])).answer).toEqual(['note.maas. IN TXT "hello \\"world\\" from plinth"']);
    const ref = await ours(["+norec", "host.lab.maas", "A"]);
    expect(ref).toMatchObject({ status: "NOERROR", answer: [], authority: ["lab.maas. IN NS ns.lab.maas."], additional: ["ns.lab.maas. IN A 10.77.0.40"] });
    expect(ref.flags).not.toContain("aa");
  });

  it("NXDOMAIN vs NODATA", async () => {
    const nx = await ours(["+norec", "nope.maas", "A"]);
    expect(nx).toMatchObject({ status: "NXDOMAIN", answer: [] });
    expect(nx.authority[0]).toMatch(/^maas\. IN SOA /);
    const nodata = await ours(["+norec", "node-3.maas", "AAAA"]);
    expect(nodata).toMatchObject({ status: "NOERROR", answer: [] });
    expect(nodata.authority[0]).toMatch(/^maas\. IN SOA /);
    expect((await ours(["+norec", "ent.maas", "A"])).status).toBe("NOERROR");
  });

  it("EDNS: an OPT in the answer when the query has one (our size, 1232), none without", async () => {
    const e = await ours(["+norec", "+edns=0", "+bufsize=4096", "node-1.maas"]);
    expect(e.opt).toMatch(/udp: 1232/);
    expect((await ours(["+norec", "+noedns", "node-1.maas"])).opt).toBeNull();
    const k = await run(link.ns, "kdig", [`@${S}`, "+norec", "+edns", "node-1.maas", "A"]);
    expect(k).toMatch(/EDNS PSEUDOSECTION:[\s\S]*UDP size: 1232 B/);
    expect(k).toMatch(/node-1\.maas\.\s+300\s+IN\s+A\s+10\.77\.0\.3/);
    const kt = await run(link.ns, "kdig", [`@${S}`, "+tcp", "+norec", "-x", machineIp(2)]);
    expect(kt).toMatch(/PTR\s+node-2\.maas\./);
  });

  it("a large answer is truncated over UDP and dig's TCP retry gets all of it", async () => {
    for (const [name, type, n] of [
      ["many.maas", "A", 120],
      ["big.maas", "TXT", 1],
    ] as const) {
      const udp = await ours(["+norec", "+ignore", name, type]);
      expect(udp.flags).toContain("tc");
      expect(udp.answer).toEqual([]);
      const full = await ours(["+norec", name, type]);
      expect(full.tcp).toBe(true);
      expect(full.flags).not.toContain("tc");
      expect(full.answer).toHaveLength(n);
    }
    // Without EDNS the limit is 512 bytes.
    expect((await ours(["+norec", "+ignore", "+noedns", "_sip._udp.maas", "SRV"])).flags).not.toContain("tc");
    const k = await run(link.ns, "kdig", [`@${S}`, "+norec", "many.maas", "A"]);
    expect(k.match(/\sIN\s+A\s+10\.78\./g)).toHaveLength(120);
  });

  it("AXFR to an allowed address (over TCP), REFUSED to another and over UDP", async () => {
    const ok = await run(link.ns, "dig", [`@${S}`, "-b", IN, "maas", "AXFR", "+time=5"]);
    const recs = ok.split("\n").filter((l) => l && !l.startsWith(";"));
    const zone = siteZones(S).find((z) => z.name === "maas")!;
    expect(recs).toHaveLength(zone.records.length + 1);
    expect(recs[0]).toMatch(/^maas\.\s+3600\s+IN\s+SOA/);
    expect(recs.at(-1)).toMatch(/^maas\.\s+3600\s+IN\s+SOA/);
    const k = await run(link.ns, "kdig", [`@${S}`, "-b", IN, "maas", "AXFR"]);
    expect(k).toMatch(new RegExp(`Received \\d+ B \\(\\d+ messages?, ${zone.records.length + 1} records?\\)`));
    const refused = await run(link.ns, "dig", [`@${S}`, "-b", OUT, "maas", "AXFR", "+time=5"]);
    expect(refused).toMatch(/Transfer failed/);
    // dig and kdig always transfer over TCP: the UDP case straight through the handler, from the allowed address.
    const q = dnsPacket.encode({ type: "query", id: 7, questions: [{ name: "maas", type: "AXFR" }] });
    const udp = server.handler.handle(q, { address: IN, tcp: false });
    expect(Buffer.isBuffer(udp) && dnsPacket.decode(udp)).toMatchObject({ id: 7, rcode: "REFUSED", answers: [] });
  });

  it("recursion: forwarded to the upstream for a site client, refused outside the site's subnets", async () => {
    const fwd = await ours(["www.example.test", "A"], IN);
    expect(fwd).toMatchObject({ status: "NOERROR", answer: ["www.example.test. IN A 192.0.2.80"] });
    expect(fwd.flags).toContain("ra");
    expect(fwd.flags).not.toContain("aa");
    const nx = await ours(["nope.example.test", "A"], IN);
    expect(nx.status).toBe("NXDOMAIN");
    // Second time from the cache.
    const before = server.counters.forwarderCacheHits;
    expect((await ours(["www.example.test", "A"], IN)).answer).toEqual(["www.example.test. IN A 192.0.2.80"]);
    expect(server.counters.forwarderCacheHits).toBe(before + 1);
    expect((await ours(["www.example.test", "A"], OUT)).status).toBe("REFUSED");
    // A name nobody serves: the upstream refuses, the client gets SERVFAIL.
    expect((await ours(["unknown.invalid", "A"], IN)).status).toBe("SERVFAIL");
  });

  it("a new zone is served from the next query on", async () => {
    const zones = siteZones(S);
    zones[0]!.records.push({ name: "fresh.maas", type: "A", ttl: 300, data: "10.77.9.9" });
    expect((await ours(["+norec", "fresh.maas"])).status).toBe("NXDOMAIN");
    await server.load({ zones, upstream: [K] }, [`${link.net}.0/25`]);
    expect((await ours(["+norec", "fresh.maas"])).answer).toEqual(["fresh.maas. IN A 10.77.9.9"]);
    await server.load({ zones: siteZones(S), upstream: [K] }, [`${link.net}.0/25`]);
  });
});

describe("the same queries, answered by Knot", () => {
  const queries: string[][] = [
    ["node-0.maas", "A"],
    ["node-0.maas", "AAAA"],
    [`node-${MACHINES - 1}.maas`, "A"],
    ["NODE-12.Maas", "A"],
    ["-x", machineIp(0)],
    ["-x", machineIp(17)],
    ["-x", "10.77.200.200"],
    ["maas", "SOA"],
    ["maas", "NS"],
    ["maas", "MX"],
    ["www.maas", "A"],
    ["www.maas", "CNAME"],
    ["alias.maas", "A"],
    ["alias.maas", "AAAA"],
    ["dangling.maas", "A"],
    ["_sip._udp.maas", "SRV"],
    ["note.maas", "TXT"],
    ["big.maas", "TXT"],
    ["many.maas", "A"],
    ["nope.maas", "A"],
    ["node-3.maas", "MX"],
    ["ent.maas", "A"],
    ["x.deep.ent.maas", "A"],
    ["lab.maas", "NS"],
    ["host.lab.maas", "A"],
    ["ns.lab.maas", "A"],
    ["a.wild.maas", "A"],
    ["a.b.wild.maas", "TXT"],
    ["host.wild.maas", "A"],
    ["x.sub.maas", "A"],
    ["nope.sub.maas", "A"],
    ["sub.maas", "SOA"],
    ["example.com", "A"],
  ];
  const shape = (r: DigResult) => ({
    status: r.status,
    aa: r.flags.includes("aa"),
    tc: r.flags.includes("tc"),
    answer: r.answer,
    authority: r.authority.map((l) => l.split(" ").slice(0, 3).join(" ")),
  });

  it.each(queries.map((q) => [q.join(" "), q]))("%s", async (_name, q) => {
    for (const mode of [[], ["+ignore"], ["+noedns"]]) {
      const a = await dig(link.ns, S, ["+norec", ...mode, ...q], OUT);
      const b = await dig(link.ns, K, ["+norec", ...mode, ...q], OUT);
      expect(shape(a), `${q.join(" ")} ${mode.join(" ")}\nours:\n${a.raw}\nknot:\n${b.raw}`).toEqual(shape(b));
    }
  });
});

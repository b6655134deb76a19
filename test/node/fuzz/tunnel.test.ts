// Tunnel frames (shared/tunnel), both directions: what the region reads from a rack and what a
// rack reads from the region. parseFrame never throws whatever arrives (an ok result or
// not_json/invalid/too_big), and a frame it accepts re-serialises to one that parses to the
// same message. Seeds are valid frames of every type; mutations replace any value inside with
// any JSON, so the schemas' every branch meets wrong types, nulls, huge and odd values.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ApplianceMessageSchema, PowerCommandParams, parseFrame, RegionMessageSchema } from "../../../shared/tunnel";
import { runs, TIMEOUT } from "./fuzz";
import { replaceAt } from "./fuzz";

const MAC = "52:54:00:12:34:56";
const SYS = "abc123";
const APPLIANCE = [
  {
    t: "hello",
    v: 1,
    rackId: "rack-1",
    version: "0.1.0",
    hostname: "rack",
    interfaces: [{ name: "eth1", mac: MAC, addresses: ["10.0.0.2/24"] }],
    capabilities: ["power.poll"],
    journal: "j1",
    configVersion: null,
  },
  { t: "heartbeat", v: 1 },
  { t: "heartbeat", v: 1, pong: true },
  { t: "ack", v: 1, commands: ["c1", "c2"] },
  { t: "result", v: 1, id: "c1", ok: true, data: { state: "on" } },
  { t: "result", v: 1, id: "c2", ok: false, error: { code: "bmc_busy", message: "busy", kind: "transient" }, replay: true },
  {
    t: "event",
    v: 1,
    events: [
      { seq: 1, at: 1, type: "dhcp.discover", data: { mac: MAC, arch: "0", vendorClass: "PXEClient", subnet: "10.0.0.0/24", relay: "10.0.0.1" } },
      { seq: 2, at: 2, type: "dhcp.lease", data: { mac: MAC, ip: "10.0.0.9", hostname: "n", expiresAt: 3 } },
      { seq: 3, at: 3, type: "boot.request", data: { mac: MAC, file: "ipxe.efi", protocol: "tftp", intent: "commission" } },
      { seq: 4, at: 4, type: "metadata.result", data: { systemId: SYS, name: "lshw", status: "passed", exitCode: 0, output: "x" } },
      { seq: 5, at: 5, type: "power.state", data: { systemId: SYS, state: "on" } },
      { seq: 6, at: 6, type: "net.neighbours", data: { iface: "eth1", neighbours: [{ ip: "10.0.0.7", mac: MAC, seenAt: 1 }] } },
      {
        seq: 7,
        at: 7,
        type: "images.state",
        data: { full: true, images: [] },
      },
    ],
  },
  { t: "config.ack", v: 1, version: "v1" },
  { t: "credential.ack", v: 1, fingerprint: "f" },
  { t: "error", v: 1, code: "bad_frame", message: "no", ref: "c1" },
];
const REGION = [
  { t: "welcome", v: 1, rackId: "rack-1", serverTime: 1, heartbeatMs: 10000, lastEventSeq: 0 },
  { t: "heartbeat", v: 1 },
  {
    t: "command",
    v: 1,
    id: "c1",
    type: "power.on",
    params: { power_type: "ipmi", power_parameters: { power_address: "10.0.0.5", power_user: "u", power_pass: "p" }, system_id: SYS },
    deadline: 2,
  },
  { t: "ack", v: 1, upTo: 7 },
  {
    t: "config",
    v: 1,
    snapshot: {
      version: "v1",
      site: "s",
      subnets: [
        {
          id: 1,
          cidr: "10.0.0.0/24",
          gateway: "10.0.0.1",
          dns: ["10.0.0.1"],
          managed: true,
          ranges: [{ type: "dynamic", start: "10.0.0.100", end: "10.0.0.199" }],
        },
      ],
      reservations: [{ mac: MAC, ip: "10.0.0.50", hostname: "n", systemId: SYS }],
      bootIntents: [
        {
          mac: MAC,
          systemId: SYS,
          intent: "deploy",
          osystem: "debian",
          series: "bookworm",
          deploy: { token: "a".repeat(32), image: null, hostname: "n", sshKeys: [] },
        },
        { mac: "52:54:00:12:34:57", systemId: "x", intent: "release", erase: "quick" },
      ],
      images: [{ osystem: "debian", series: "bookworm", architecture: "amd64/generic", url: null, sha256: null, format: "tgz", size: 1 }],
    },
  },
  { t: "credential", v: 1, credential: "c".repeat(40) },
  { t: "error", v: 1, code: "replaced", message: "another connection" },
];

const anyJson = fc.jsonValue({ maxDepth: 3 });
// JSON.parse makes "__proto__" an own key, as it arrives on the wire, not a prototype.
const odd = fc.constantFrom<unknown>("__proto__", JSON.parse('{"__proto__":{"polluted":1}}'), -0, 1e308, -1, 2 ** 53, "", "x".repeat(300), [], {}, null, true);
function frames(seeds: unknown[]): fc.Arbitrary<string> {
  const edits = fc.array(fc.tuple(fc.array(fc.nat(), { maxLength: 6 }), fc.oneof(anyJson, odd)), { minLength: 1, maxLength: 3 });
  const mutated = fc.tuple(fc.constantFrom(...seeds), edits).map(([s, es]) => JSON.stringify(es.reduce((v, [p, by]) => replaceAt(v, p, by), s)));
  return fc.oneof(
    { weight: 5, arbitrary: mutated },
    { weight: 1, arbitrary: fc.constantFrom(...seeds).map((s) => JSON.stringify(s)) },
    { weight: 1, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 100 }) },
    { weight: 1, arbitrary: fc.constantFrom(...seeds).chain((s) => fc.nat(JSON.stringify(s).length).map((n) => JSON.stringify(s).slice(0, n))) },
  );
}

describe("tunnel frames (fast-check)", () => {
  it("every seed frame is valid, so the mutations start from real messages", () => {
    for (const s of APPLIANCE) expect(parseFrame(ApplianceMessageSchema, JSON.stringify(s))).toMatchObject({ ok: true });
    for (const s of REGION) expect(parseFrame(RegionMessageSchema, JSON.stringify(s))).toMatchObject({ ok: true });
  });

  for (const [direction, schema, seeds] of [
    ["appliance → region", ApplianceMessageSchema, APPLIANCE],
    ["region → appliance", RegionMessageSchema, REGION],
  ] as const) {
    it(
      `${direction}: parseFrame never throws, and an accepted frame round-trips`,
      () => {
        fc.assert(
          fc.property(frames(seeds), (raw) => {
            const r = parseFrame(schema as typeof ApplianceMessageSchema, raw);
            if (!r.ok) {
              expect(["not_json", "invalid", "too_big"]).toContain(r.code);
              return;
            }
            expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
            const again = parseFrame(schema as typeof ApplianceMessageSchema, JSON.stringify(r.msg));
            expect(again).toEqual({ ok: true, msg: r.msg });
            // A command's parameters are parsed again by the driver it is for.
            if (r.msg.t === ("command" as string)) PowerCommandParams.safeParse((r.msg as unknown as { params: unknown }).params);
          }),
          runs(1500),
        );
      },
      TIMEOUT,
    );
  }
});

// The deployed machine's network configuration (cloud/domain/machines/netplan.ts) as Debian's
// own cloud-init reads it: every rendered document goes through `cloud-init devel net-convert`,
// to ifupdown's /etc/network/interfaces (what cloud-init writes on Debian, where ifupdown is
// installed and its ENI renderer comes first) and to netplan (Ubuntu's renderer), and the tests
// check what the machine would configure. python3-yaml, cloud-init's own YAML library, reads the
// documents back. Packages: test/deps/network.txt.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type MachineNetwork,
  type NetInterface,
  NetworkConfigError,
  type NetSubnet,
  networkConfigYaml,
  renderNetworkConfig,
} from "../../../cloud/domain/machines/netplan";

const work = mkdtempSync(join(tmpdir(), "nr-netplan-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const PY_YAML_TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)";
const readYaml = (file: string): unknown => JSON.parse(execFileSync("/usr/bin/python3", ["-c", PY_YAML_TO_JSON, file], { encoding: "utf8" }));

interface Converted {
  /** cloud-init's /etc/network/interfaces.d/50-cloud-init for Debian, comments dropped. */
  eni: string;
  /** The udev rules that give each NIC its name by MAC. */
  udev: string;
  /** The `network:` mapping of cloud-init's /etc/netplan/50-cloud-init.yaml for Ubuntu. */
  netplan: Record<string, unknown>;
  /** Our own document as PyYAML reads it. */
  parsed: unknown;
}

let seq = 0;
function convert(n: MachineNetwork): Converted {
  const dir = join(work, String(seq++));
  const eniDir = join(dir, "eni");
  const netplanDir = join(dir, "netplan");
  const file = join(dir, "90-network.cfg");
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, networkConfigYaml(n));
  const run = (args: string[]) => {
    const r = spawnSync("cloud-init", ["devel", "net-convert", "-p", file, "-k", "yaml", ...args], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    // cloud-init skips what it cannot parse with only a logged warning: that is a failure here.
    expect(r.stderr, `cloud-init warned on:\n${readFileSync(file, "utf8")}`).not.toMatch(/WARNING|Traceback/);
  };
  run(["-d", eniDir, "-D", "debian", "-O", "eni"]);
  run(["-d", netplanDir, "-D", "ubuntu", "-O", "netplan"]);
  return {
    eni: readFileSync(join(eniDir, "etc/network/interfaces.d/50-cloud-init"), "utf8")
      .split("\n")
      .filter((l) => !l.startsWith("#"))
      .join("\n"),
    udev: readFileSync(join(eniDir, "etc/udev/rules.d/70-persistent-net.rules"), "utf8"),
    netplan: (readYaml(join(netplanDir, "etc/netplan/50-cloud-init.yaml")) as { network: Record<string, unknown> }).network,
    parsed: readYaml(file),
  };
}

/** The option lines of the ENI stanza `iface <name> <family> <method>`, and whether it is `auto`. */
function stanza(eni: string, name: string, family = "inet"): { method: string; auto: boolean; options: string[] } {
  const lines = eni.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`iface ${name} ${family} `));
  expect(start, `no "iface ${name} ${family}" stanza in:\n${eni}`).toBeGreaterThanOrEqual(0);
  const options: string[] = [];
  for (let i = start + 1; i < lines.length && lines[i]!.startsWith("    "); i++) options.push(lines[i]!.trim());
  return { method: lines[start]!.split(" ")[3]!, auto: lines.includes(`auto ${name}`), options };
}

/** Every document must read back as exactly what renderNetworkConfig returned. */
function roundTrips(n: MachineNetwork, c: Converted): void {
  expect(c.parsed).toEqual({ network: renderNetworkConfig(n) });
}

const mac = (k: number) => `52:54:00:12:34:${k.toString(16).padStart(2, "0")}`;
const nic = (name: string, k: number, extra: Partial<NetInterface> = {}): NetInterface => ({
  name,
  type: "physical",
  mac: mac(k),
  mtu: null,
  parents: [],
  links: [],
  ...extra,
});
const net = (over: Partial<MachineNetwork> & Pick<MachineNetwork, "interfaces">): MachineNetwork => ({
  defaultGateway: { v4: null, v6: null },
  nameservers: [],
  searchDomains: [],
  ...over,
});
const lan: NetSubnet = { cidr: "192.168.10.0/24", gateway: "192.168.10.1", dnsServers: ["192.168.10.53"], searchDomains: ["lan.example"] };
const storage: NetSubnet = { cidr: "10.100.0.0/24", gateway: "10.100.0.1", dnsServers: ["10.100.0.2", "10.0.0.53"], searchDomains: ["storage.example"] };
const v6: NetSubnet = { cidr: "2001:db8:0:10::/64", gateway: "2001:db8:0:10::1", dnsServers: ["2001:db8::53"], searchDomains: [] };

describe("rendered configuration through Debian's cloud-init", () => {
  it("one physical NIC with a static address: matched by MAC, renamed, address, gateway and resolvers", () => {
    const n = net({
      interfaces: [nic("eno1", 1, { links: [{ mode: "static", address: "192.168.10.20", subnet: lan }] })],
      defaultGateway: { v4: "eno1", v6: null },
      nameservers: ["10.0.0.53"],
      searchDomains: ["maas"],
    });
    const config = renderNetworkConfig(n);
    expect(config).toEqual({
      version: 2,
      ethernets: {
        eno1: {
          match: { macaddress: mac(1) },
          "set-name": "eno1",
          addresses: ["192.168.10.20/24"],
          gateway4: "192.168.10.1",
          nameservers: { addresses: ["10.0.0.53", "192.168.10.53"], search: ["maas", "lan.example"] },
        },
      },
    });
    const c = convert(n);
    roundTrips(n, c);
    expect(c.udev).toContain(`ATTR{address}=="${mac(1)}", NAME="eno1"`);
    const s = stanza(c.eni, "eno1");
    expect(s).toMatchObject({ method: "static", auto: true });
    expect(s.options).toEqual(
      expect.arrayContaining(["address 192.168.10.20/24", "gateway 192.168.10.1", "dns-nameservers 10.0.0.53 192.168.10.53", "dns-search maas lan.example"]),
    );
    // ifupdown's own default route, not a `post-up route add` that needs net-tools.
    expect(c.eni).not.toContain("route add");
    expect(c.netplan).toEqual(renderNetworkConfig(n));
  });

  it("DHCP: dhcp4 for an IPv4 subnet or none, dhcp6 for an IPv6 subnet, no addresses or resolvers", () => {
    const n = net({
      interfaces: [
        nic("eth0", 1, { links: [{ mode: "dhcp", subnet: lan }] }),
        nic("eth1", 2, { links: [{ mode: "dhcp", subnet: null }] }),
        nic("eth2", 3, { links: [{ mode: "dhcp", subnet: v6 }] }),
      ],
      nameservers: ["10.0.0.53"],
    });
    const config = renderNetworkConfig(n);
    expect(config.ethernets).toEqual({
      eth0: { match: { macaddress: mac(1) }, "set-name": "eth0", dhcp4: true },
      eth1: { match: { macaddress: mac(2) }, "set-name": "eth1", dhcp4: true },
      eth2: { match: { macaddress: mac(3) }, "set-name": "eth2", dhcp6: true },
    });
    const c = convert(n);
    roundTrips(n, c);
    expect(stanza(c.eni, "eth0")).toMatchObject({ method: "dhcp", auto: true });
    expect(stanza(c.eni, "eth1")).toMatchObject({ method: "dhcp", auto: true });
    expect(stanza(c.eni, "eth2", "inet6")).toMatchObject({ method: "dhcp", auto: true });
    expect(c.eni).not.toContain("dns-nameservers");
    expect(c.netplan).toEqual(config);
  });

  it("an active-backup bond of two NICs, a VLAN on it with the static address and the default gateway, a DHCP bridge over a third NIC", () => {
    const n = net({
      interfaces: [
        nic("eth0", 1),
        nic("eth1", 2),
        nic("eth2", 3),
        {
          name: "bond0",
          type: "bond",
          mac: mac(1),
          mtu: null,
          parents: ["eth0", "eth1"],
          bond: { mode: "active-backup", miimon: 100, downdelay: 0, updelay: 0 },
          links: [],
        },
        {
          name: "bond0.100",
          type: "vlan",
          mac: mac(1),
          mtu: null,
          parents: ["bond0"],
          vid: 100,
          links: [{ mode: "auto", address: "10.100.0.10", subnet: storage }],
        },
        {
          name: "br0",
          type: "bridge",
          mac: mac(3),
          mtu: null,
          parents: ["eth2"],
          bridge: { stp: false, forwardDelay: 15 },
          links: [{ mode: "dhcp", subnet: lan }],
        },
      ],
      defaultGateway: { v4: "bond0.100", v6: null },
      nameservers: ["10.0.0.53"],
      searchDomains: ["maas"],
    });
    const config = renderNetworkConfig(n);
    expect(config.bonds).toEqual({
      bond0: {
        interfaces: ["eth0", "eth1"],
        macaddress: mac(1),
        parameters: { mode: "active-backup", "mii-monitor-interval": 100, "down-delay": 0, "up-delay": 0 },
      },
    });
    expect(config.vlans).toEqual({
      "bond0.100": {
        id: 100,
        link: "bond0",
        addresses: ["10.100.0.10/24"],
        gateway4: "10.100.0.1",
        // The site's resolver once, though the subnet lists it too.
        nameservers: { addresses: ["10.0.0.53", "10.100.0.2"], search: ["maas", "storage.example"] },
      },
    });
    expect(config.bridges).toEqual({
      br0: { interfaces: ["eth2"], macaddress: mac(3), parameters: { stp: false, "forward-delay": 15 }, dhcp4: true },
    });
    // Members and the bridge port: present, named by MAC, nothing of their own.
    expect(config.ethernets!.eth0).toEqual({ match: { macaddress: mac(1) }, "set-name": "eth0" });
    expect(config.ethernets!.eth2).toEqual({ match: { macaddress: mac(3) }, "set-name": "eth2" });
    // The sections in a fixed order, parents first.
    expect(networkConfigYaml(n)).toMatch(/^network:\n {2}version: 2\n {2}ethernets:\n[\s\S]*\n {2}bonds:\n[\s\S]*\n {2}vlans:\n[\s\S]*\n {2}bridges:\n/);

    const c = convert(n);
    roundTrips(n, c);
    for (const member of ["eth0", "eth1"]) {
      const s = stanza(c.eni, member);
      expect(s).toMatchObject({ method: "manual", auto: true });
      expect(s.options).toEqual(expect.arrayContaining(["bond-master bond0", "bond-mode active-backup", "bond-miimon 100"]));
    }
    const bond = stanza(c.eni, "bond0");
    expect(bond).toMatchObject({ method: "manual", auto: true });
    expect(bond.options).toEqual(expect.arrayContaining(["bond-slaves none", "bond-mode active-backup", "bond-miimon 100"]));
    const vlan = stanza(c.eni, "bond0.100");
    expect(vlan).toMatchObject({ method: "static", auto: true });
    expect(vlan.options).toEqual(
      expect.arrayContaining(["vlan-raw-device bond0", "vlan_id 100", "address 10.100.0.10/24", "gateway 10.100.0.1", "dns-nameservers 10.0.0.53 10.100.0.2"]),
    );
    const bridge = stanza(c.eni, "br0");
    expect(bridge).toMatchObject({ method: "dhcp", auto: true });
    expect(bridge.options).toEqual(expect.arrayContaining(["bridge_ports eth2", "bridge_stp off", "bridge_fd 15"]));
    // Only the VLAN has the default route.
    expect(c.eni.match(/^ {4}gateway /gm)).toHaveLength(1);
    expect(c.netplan).toEqual(config);
  });

  it("an 802.3ad bond with LACP rate and transmit hash policy; other modes drop the LACP rate, as MAAS", () => {
    const lacp = (mode: "802.3ad" | "balance-xor"): MachineNetwork =>
      net({
        interfaces: [
          nic("eth0", 1),
          nic("eth1", 2),
          {
            name: "bond0",
            type: "bond",
            mac: "",
            mtu: null,
            parents: ["eth1", "eth0"],
            bond: { mode, miimon: 100, downdelay: 200, updelay: 200, lacpRate: "fast", xmitHashPolicy: "layer3+4" },
            links: [{ mode: "static", address: "192.168.10.30", subnet: lan }],
          },
        ],
      });
    const n = lacp("802.3ad");
    const config = renderNetworkConfig(n);
    expect(config.bonds!.bond0).toEqual({
      // Members by name; the MAC of the first member given (eth1), as MAAS gives a new bond.
      interfaces: ["eth0", "eth1"],
      macaddress: mac(2),
      parameters: { mode: "802.3ad", "mii-monitor-interval": 100, "down-delay": 200, "up-delay": 200, "lacp-rate": "fast", "transmit-hash-policy": "layer3+4" },
      addresses: ["192.168.10.30/24"],
      nameservers: { addresses: ["192.168.10.53"], search: ["lan.example"] },
    });
    expect(renderNetworkConfig(lacp("balance-xor")).bonds!.bond0!.parameters).toEqual({
      mode: "balance-xor",
      "mii-monitor-interval": 100,
      "down-delay": 200,
      "up-delay": 200,
      "transmit-hash-policy": "layer3+4",
    });
    const c = convert(n);
    roundTrips(n, c);
    const bond = stanza(c.eni, "bond0");
    expect(bond).toMatchObject({ method: "static", auto: true });
    expect(bond.options).toEqual(
      expect.arrayContaining([
        "bond-mode 802.3ad",
        "bond-lacp-rate fast",
        "bond-xmit-hash-policy layer3+4",
        "bond-miimon 100",
        "bond-downdelay 200",
        "bond-updelay 200",
        "bond-slaves none",
        "address 192.168.10.30/24",
      ]),
    );
    expect(bond.options.some((o) => o.startsWith("gateway"))).toBe(false);
    expect(stanza(c.eni, "eth0").options).toEqual(expect.arrayContaining(["bond-master bond0", "bond-mode 802.3ad", "bond-lacp-rate fast"]));
    expect(c.netplan).toEqual(config);
  });

  it("link_up: the NIC is configured with no address and no DHCP", () => {
    const n = net({
      interfaces: [nic("eth0", 1, { links: [{ mode: "link_up" }] }), nic("eth1", 2, { links: [{ mode: "static", address: "192.168.10.31", subnet: lan }] })],
    });
    const config = renderNetworkConfig(n);
    expect(config.ethernets!.eth0).toEqual({ match: { macaddress: mac(1) }, "set-name": "eth0" });
    const c = convert(n);
    roundTrips(n, c);
    // Debian's cloud-init 22.4 writes a v2 interface with nothing on it as `manual` but not
    // `auto`: ifupdown leaves it down at boot (see docs/networking.md).
    expect(stanza(c.eni, "eth0")).toEqual({ method: "manual", auto: false, options: [] });
    expect(c.udev).toContain(`ATTR{address}=="${mac(1)}", NAME="eth0"`);
    expect(c.netplan).toEqual(config);
  });

  it("a subnet without DNS servers: no nameservers at all, search domains included (22.4 refuses search alone)", () => {
    const bare: NetSubnet = { cidr: "10.9.0.0/24", gateway: null, dnsServers: [], searchDomains: ["lab.example"] };
    const n = net({
      interfaces: [
        nic("eth0", 1),
        { name: "eth0.42", type: "vlan", mac: "", mtu: null, parents: ["eth0"], vid: 42, links: [{ mode: "auto", address: "10.9.0.2", subnet: bare }] },
      ],
      defaultGateway: { v4: null, v6: null },
    });
    const config = renderNetworkConfig(n);
    expect(config.vlans!["eth0.42"]).toEqual({ id: 42, link: "eth0", addresses: ["10.9.0.2/24"] });
    const c = convert(n);
    roundTrips(n, c);
    expect(stanza(c.eni, "eth0.42").options).toEqual(expect.arrayContaining(["address 10.9.0.2/24", "vlan-raw-device eth0"]));
    expect(c.eni).not.toContain("dns-search");
  });

  it("IPv6: a static address with gateway6 beside IPv4 on the same NIC", () => {
    const n = net({
      interfaces: [
        nic("eth0", 1, {
          links: [
            { mode: "static", address: "192.168.10.40", subnet: lan },
            { mode: "static", address: "2001:db8:0:10::40", subnet: v6 },
          ],
        }),
      ],
      defaultGateway: { v4: "eth0", v6: "eth0" },
    });
    const config = renderNetworkConfig(n);
    expect(config.ethernets!.eth0).toEqual({
      match: { macaddress: mac(1) },
      "set-name": "eth0",
      addresses: ["192.168.10.40/24", "2001:db8:0:10::40/64"],
      gateway4: "192.168.10.1",
      gateway6: "2001:db8:0:10::1",
      nameservers: { addresses: ["192.168.10.53", "2001:db8::53"], search: ["lan.example"] },
    });
    expect(networkConfigYaml(n)).toContain('        - "2001:db8:0:10::40/64"\n');
    const c = convert(n);
    roundTrips(n, c);
    const s4 = stanza(c.eni, "eth0");
    expect(s4.options).toEqual(expect.arrayContaining(["address 192.168.10.40/24", "gateway 192.168.10.1"]));
    const s6 = stanza(c.eni, "eth0", "inet6");
    expect(s6.method).toBe("static");
    expect(s6.options).toEqual(expect.arrayContaining(["address 2001:db8:0:10::40/64", "gateway 2001:db8:0:10::1"]));
    expect(c.netplan).toEqual(config);
  });

  it("MTU: a jumbo-frame bond (9000, on its members too) and 1500 on its VLAN", () => {
    const n = net({
      interfaces: [
        nic("eth0", 1, { mtu: 9000 }),
        nic("eth1", 2, { mtu: 9000 }),
        {
          name: "bond0",
          type: "bond",
          mac: mac(1),
          mtu: 9000,
          parents: ["eth0", "eth1"],
          bond: { mode: "balance-rr", miimon: 100, downdelay: 0, updelay: 0 },
          links: [],
        },
        {
          name: "bond0.20",
          type: "vlan",
          mac: mac(1),
          mtu: 1500,
          parents: ["bond0"],
          vid: 20,
          links: [{ mode: "static", address: "192.168.10.50", subnet: lan }],
        },
      ],
    });
    const config = renderNetworkConfig(n);
    expect(config.bonds!.bond0!.mtu).toBe(9000);
    expect(config.vlans!["bond0.20"]!.mtu).toBe(1500);
    expect(config.ethernets!.eth0!.mtu).toBe(9000);
    const c = convert(n);
    roundTrips(n, c);
    expect(stanza(c.eni, "bond0").options).toContain("mtu 9000");
    expect(stanza(c.eni, "eth0").options).toContain("mtu 9000");
    expect(stanza(c.eni, "bond0.20").options).toEqual(expect.arrayContaining(["mtu 1500", "vlan-raw-device bond0", "vlan_id 20"]));
    expect(c.netplan).toEqual(config);
  });
});

describe("YAML", () => {
  it("quotes what YAML 1.1 would misread: MACs (base 60), digit-led words, booleans-to-be", () => {
    const n = net({
      interfaces: [
        nic("eth0", 1, {
          mac: "00:11:22:33:44:55",
          links: [{ mode: "static", address: "192.168.10.60", subnet: { ...lan, searchDomains: ["on", "yes.example", "no"] } }],
        }),
        { name: "bond0", type: "bond", mac: "", mtu: null, parents: ["eth1"], bond: { mode: "802.3ad", miimon: 0, downdelay: 0, updelay: 0 }, links: [] },
        nic("eth1", 2),
      ],
    });
    const text = networkConfigYaml(n);
    expect(text).toContain('macaddress: "00:11:22:33:44:55"');
    expect(text).toContain('mode: "802.3ad"');
    expect(text).toContain('- "on"\n');
    expect(text).toContain('- "no"\n');
    expect(text).toContain("- yes.example\n");
    expect(readYaml(writeTemp(text))).toEqual({ network: renderNetworkConfig(n) });
  });
});

let tempSeq = 0;
function writeTemp(text: string): string {
  const f = join(work, `t${tempSeq++}.yaml`);
  writeFileSync(f, text);
  return f;
}

describe("bad input", () => {
  const bond = (name: string, parents: string[], extra: Partial<NetInterface> = {}): NetInterface => ({
    name,
    type: "bond",
    mac: "",
    mtu: null,
    parents,
    bond: { mode: "active-backup", miimon: 100, downdelay: 0, updelay: 0 },
    links: [],
    ...extra,
  });
  const vlan = (name: string, parent: string, vid: number, extra: Partial<NetInterface> = {}): NetInterface => ({
    name,
    type: "vlan",
    mac: "",
    mtu: null,
    parents: [parent],
    vid,
    links: [],
    ...extra,
  });
  const bridge = (name: string, port: string, extra: Partial<NetInterface> = {}): NetInterface => ({
    name,
    type: "bridge",
    mac: "",
    mtu: null,
    parents: [port],
    bridge: { stp: false, forwardDelay: 15 },
    links: [],
    ...extra,
  });
  const cases: [string, MachineNetwork, string][] = [
    ["unknown parent", net({ interfaces: [nic("eth0", 1), vlan("eth9.10", "eth9", 10)] }), 'eth9.10: unknown parent interface "eth9"'],
    [
      "VLAN on a VLAN",
      net({ interfaces: [nic("eth0", 1), vlan("eth0.10", "eth0", 10), vlan("eth0.10.20", "eth0.10", 20)] }),
      "eth0.10.20: a VLAN cannot be on a VLAN (eth0.10)",
    ],
    [
      "a bond member with links",
      net({ interfaces: [nic("eth0", 1, { links: [{ mode: "dhcp", subnet: null }] }), nic("eth1", 2), bond("bond0", ["eth0", "eth1"])] }),
      "eth0 is a member of the bond bond0 and cannot have links of its own",
    ],
    [
      "a NIC in two bonds",
      net({ interfaces: [nic("eth0", 1), nic("eth1", 2), bond("bond0", ["eth0", "eth1"]), bond("bond1", ["eth1"])] }),
      "eth1 is a member of two bonds (bond0 and bond1)",
    ],
    ["a cycle", net({ interfaces: [nic("eth0", 1), bridge("br0", "br0.5"), vlan("br0.5", "br0", 5)] }), "interfaces form a cycle: br0 -> br0.5 -> br0"],
    ["duplicate names", net({ interfaces: [nic("eth0", 1), nic("eth0", 2)] }), 'duplicate interface name "eth0"'],
    [
      "an address outside its subnet",
      net({ interfaces: [nic("eth0", 1, { links: [{ mode: "static", address: "192.168.11.5", subnet: lan }] })] }),
      "eth0: address 192.168.11.5 is outside its subnet 192.168.10.0/24",
    ],
    [
      "an IPv6 address on an IPv4 subnet",
      net({ interfaces: [nic("eth0", 1, { links: [{ mode: "auto", address: "2001:db8::5", subnet: lan }] })] }),
      "eth0: address 2001:db8::5 is outside its subnet 192.168.10.0/24",
    ],
    [
      "a child's MTU above its parent's",
      net({ interfaces: [nic("eth0", 1, { mtu: 1500 }), vlan("eth0.10", "eth0", 10, { mtu: 9000 })] }),
      "eth0.10: MTU 9000 is above its parent eth0's MTU 1500",
    ],
    [
      "a bond's MTU above a member's",
      net({ interfaces: [nic("eth0", 1, { mtu: 9000 }), nic("eth1", 2, { mtu: 1500 }), bond("bond0", ["eth0", "eth1"], { mtu: 9000 })] }),
      "bond0: MTU 9000 is above its parent eth1's MTU 1500",
    ],
    [
      "an IPv4 gateway interface without an IPv4 address",
      net({ interfaces: [nic("eth0", 1, { links: [{ mode: "static", address: "2001:db8:0:10::5", subnet: v6 }] })], defaultGateway: { v4: "eth0", v6: null } }),
      "eth0 is the IPv4 default gateway interface but has no IPv4 address",
    ],
    [
      "an IPv6 gateway interface without an IPv6 address",
      net({ interfaces: [nic("eth0", 1, { links: [{ mode: "static", address: "192.168.10.5", subnet: lan }] })], defaultGateway: { v4: null, v6: "eth0" } }),
      "eth0 is the IPv6 default gateway interface but has no IPv6 address",
    ],
    [
      "a gateway interface whose subnet has no gateway",
      net({
        interfaces: [nic("eth0", 1, { links: [{ mode: "static", address: "192.168.10.5", subnet: { ...lan, gateway: null } }] })],
        defaultGateway: { v4: "eth0", v6: null },
      }),
      "eth0 is the IPv4 default gateway interface but none of its IPv4 subnets has a gateway",
    ],
    [
      "a gateway on an unknown interface",
      net({ interfaces: [nic("eth0", 1)], defaultGateway: { v4: "eth7", v6: null } }),
      'the IPv4 default gateway names an unknown interface "eth7"',
    ],
    [
      "a bridge port with links",
      net({ interfaces: [nic("eth0", 1, { links: [{ mode: "static", address: "192.168.10.5", subnet: lan }] }), bridge("br0", "eth0")] }),
      "eth0 is a port of the bridge br0 and cannot have links of its own",
    ],
    [
      "a bond member used by a VLAN",
      net({ interfaces: [nic("eth0", 1), bond("bond0", ["eth0"]), vlan("eth0.10", "eth0", 10)] }),
      "eth0 is a member of bond0 and cannot also be a parent of eth0.10",
    ],
    [
      "a bond of a bond",
      net({ interfaces: [nic("eth0", 1), bond("bond0", ["eth0"]), bond("bond1", ["bond0"])] }),
      "bond1: only physical interfaces can be bonded, bond0 is a bond",
    ],
    ["a VLAN id out of range", net({ interfaces: [nic("eth0", 1), vlan("eth0.4095", "eth0", 4095)] }), "eth0.4095: VLAN id 4095 is not between 1 and 4094"],
    [
      "the same address twice",
      net({
        interfaces: [
          nic("eth0", 1, { links: [{ mode: "static", address: "192.168.10.5", subnet: lan }] }),
          nic("eth1", 2, { links: [{ mode: "auto", address: "192.168.10.5", subnet: lan }] }),
        ],
      }),
      "address 192.168.10.5 is on both eth0 and eth1",
    ],
    [
      "a subnet's broadcast address",
      net({ interfaces: [nic("eth0", 1, { links: [{ mode: "static", address: "192.168.10.255", subnet: lan }] })] }),
      "eth0: address 192.168.10.255 is the network or broadcast address of 192.168.10.0/24",
    ],
    [
      "a search domain with a space",
      net({ interfaces: [nic("eth0", 1, { links: [{ mode: "static", address: "192.168.10.5", subnet: { ...lan, searchDomains: ["lan example"] } }] })] }),
      'subnet 192.168.10.0/24: search domain "lan example" is not a domain name',
    ],
    [
      "a nameserver that is not an address",
      net({ interfaces: [nic("eth0", 1)], nameservers: ["dns.example"] }),
      'nameserver "dns.example" is not an IP address',
    ],
    ["a bad MAC", net({ interfaces: [nic("eth0", 1, { mac: "52:54:00:12:34" })] }), 'eth0: "52:54:00:12:34" is not a MAC address'],
    ["a name too long for Linux", net({ interfaces: [nic("enp0s31f6.1000xy", 1)] }), '"enp0s31f6.1000xy" is not a valid interface name'],
    [
      "an unknown transmit hash policy",
      net({
        interfaces: [nic("eth0", 1), bond("bond0", ["eth0"], { bond: { mode: "802.3ad", miimon: 100, downdelay: 0, updelay: 0, xmitHashPolicy: "layer5" } })],
      }),
      'bond0: unknown bond xmit_hash_policy "layer5"',
    ],
  ];
  it.each(cases)("refuses %s", (_what, n, message) => {
    expect(() => renderNetworkConfig(n)).toThrow(NetworkConfigError);
    expect(() => renderNetworkConfig(n)).toThrow(message);
    expect(() => networkConfigYaml(n)).toThrow(message);
  });
});

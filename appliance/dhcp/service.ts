// Wiring: config snapshot → topology, boot decider, lease store → handler → DhcpServer.
// cli.ts only reads flags; the tunnel client can call startDhcp() the same way.
import { networkInterfaces } from "node:os";
import { SnapshotBootDecider } from "./boot";
import type { DhcpSnapshot } from "./config";
import type { EmitEvent, Handle, InterfaceInfo } from "./handler";
import { Leases } from "./leases";
import type { Logger } from "../log";
import { ProxyHandler } from "./proxy";
import { type HandlerDeps, ReservationHandler } from "./reservation";
import { type BoundSocket, DhcpServer } from "./server";
import { Topology } from "./topology";

export interface DhcpService {
  server: DhcpServer;
  leases: Leases;
  update(snap: DhcpSnapshot): void;
  close(): Promise<void>;
}

function readInterface(name: string): InterfaceInfo {
  const addrs = (networkInterfaces()[name] ?? []).filter((a) => a.family === "IPv4").map((a) => a.address);
  return { name, addresses: addrs };
}

export async function startDhcp(o: { snapshot: DhcpSnapshot; sockets: BoundSocket[]; leasesPath: string; log: Logger; emit: EmitEvent }): Promise<DhcpService> {
  let snap = o.snapshot;
  let topology = new Topology(snap);
  const boot = new SnapshotBootDecider(snap);
  const names = [...new Set(o.sockets.map((s) => s.iface))];
  let ifaces = new Map(names.map((n) => [n, readInterface(n)]));
  const refresh = setInterval(() => {
    ifaces = new Map(names.map((n) => [n, readInterface(n)]));
  }, 5000);
  refresh.unref();

  const { leases, skipped } = await Leases.open(o.leasesPath, {
    onError: (e) => o.log("error", "lease journal error", { error: String(e) }),
  });
  if (skipped) o.log("warn", "lease journal had unreadable records", { skipped, path: o.leasesPath });
  const exclusions = () => [
    ...snap.reservations.map((r) => r.ip),
    ...[...ifaces.values()].flatMap((i) => i.addresses),
    ...(snap.boot.applianceAddress ? [snap.boot.applianceAddress] : []),
  ];
  leases.setSubnets(snap.subnets, exclusions());
  const sweeper = setInterval(() => leases.sweep(true), 10_000);
  sweeper.unref();

  const deps: HandlerDeps = { snapshot: () => snap, topology: () => topology, boot, emit: o.emit, log: o.log };
  const handlerFor = (s: DhcpSnapshot): Handle => (s.mode === "proxy" ? new ProxyHandler(deps) : new ReservationHandler(deps, leases));
  const server = new DhcpServer(o.sockets, handlerFor(snap), {
    log: o.log,
    iface: (name) => ifaces.get(name) ?? { name, addresses: [] },
  });
  return {
    server,
    leases,
    update(next) {
      const modeChanged = next.mode !== snap.mode;
      snap = next;
      topology = new Topology(next);
      boot.update(next);
      leases.setSubnets(next.subnets, exclusions());
      if (modeChanged) server.setHandler(handlerFor(next));
    },
    async close() {
      clearInterval(refresh);
      clearInterval(sweeper);
      await server.close();
      await leases.close();
    },
  };
}

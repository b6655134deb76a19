// The DNS server inside `plinth-appliance run`: served from the daemon's config snapshot
// (persisted by the daemon, so a rack restarted with the region away serves its last zones)
// and reloaded on every new one. Apart from the boot services on purpose: it needs no DHCP
// sockets, and a test can start it over a bare Daemon.
import type { ConfigSnapshot } from "../../shared/tunnel/config";
import type { Logger } from "../log";
import { DnsServer } from "./server";

export interface SiteDnsHost {
  readonly config: ConfigSnapshot | null;
  onConfig(fn: (s: ConfigSnapshot) => void): () => void;
}

export interface SiteDnsOptions {
  /** The served interface's address, plus any --dns-listen extras. */
  addresses: string[];
  port: number;
  axfrAllow?: string[];
  log: Logger;
}

export interface SiteDns {
  server: DnsServer;
  close(): Promise<void>;
}

const EMPTY = { zones: [], upstream: [] };

async function apply(server: DnsServer, s: ConfigSnapshot | null, log: Logger): Promise<void> {
  const index = await server.load(
    s?.dns ?? EMPTY,
    (s?.subnets ?? []).map((n) => n.cidr),
  );
  log("info", "dns: zones loaded", {
    config_version: s?.version ?? null,
    zones: [...index.zones.values()].map((z) => `${z.apex || "."}@${z.serial}`).slice(0, 20),
    records: [...index.zones.values()].reduce((n, z) => n + z.records.length, 0),
    upstream: s?.dns.upstream ?? [],
  });
}

export async function startSiteDns(host: SiteDnsHost, o: SiteDnsOptions): Promise<SiteDns> {
  const server = await DnsServer.start({
    listen: [...new Set(o.addresses)].map((address) => ({ address, port: o.port })),
    ...(o.axfrAllow ? { axfrAllow: o.axfrAllow } : {}),
    log: o.log,
  });
  await apply(server, host.config, o.log);
  const unsubscribe = host.onConfig((s) => {
    // The old zones keep being served: a bad snapshot must not silence the site.
    apply(server, s, o.log).catch((e) => o.log("error", "dns: config snapshot refused, keeping the previous zones", { error: String(e) }));
  });
  return {
    server,
    async close() {
      unsubscribe();
      await server.close();
    },
  };
}

// Our DNS server alone in a child process for `npm run bench -- dns`, so the bench can pin it to
// a core and read its CPU time from /proc like bind9's and Knot's. Usage:
//   node --import tsx bench/dns-serve.ts <address> <port> <dns-config.json>
// Prints "ready" once the zones are loaded; SIGTERM stops it.
import { readFileSync } from "node:fs";
import { silentLogger } from "../appliance/log";
import type { Logger } from "../appliance/log";
import type { DnsConfig } from "../shared/dns/zone";
import { SITE_CIDR } from "./dns-zone";

/** The part of appliance/dns/server.ts the bench drives. */
interface DnsServerLike {
  load(dns: DnsConfig, siteCidrs: string[]): unknown;
  close(): Promise<void>;
}
interface DnsServerModule {
  DnsServer: { start(o: { listen: { address: string; port: number }[]; axfrAllow: string[]; log: Logger }): Promise<DnsServerLike> };
}

const [address = "127.0.0.1", port = "53", configPath = ""] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8")) as DnsConfig;
// A computed specifier so the bench typechecks on branches where appliance/dns has not landed
// (bench/dns.ts then skips ours); once it has, a static import would catch API drift sooner.
const serverModule = "../appliance/dns/server";
const { DnsServer } = (await import(serverModule)) as DnsServerModule;
const server = await DnsServer.start({ listen: [{ address, port: Number(port) }], axfrAllow: [], log: silentLogger });
server.load(config, [SITE_CIDR]);
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  void server.close().finally(() => process.exit(0));
});

// Our DNS server alone in a child process for `npm run bench -- dns`, so the bench can pin it to
// a core and read its CPU time from /proc like bind9's and Knot's. Usage:
//   node --import tsx bench/dns-serve.ts <address> <port> <dns-config.json>
// Prints "ready" once the zones are loaded; SIGTERM stops it.
import { readFileSync } from "node:fs";
import { DnsServer } from "../appliance/dns/server";
import { silentLogger } from "../appliance/log";
import type { DnsConfig } from "../shared/dns/zone";
import { SITE_CIDR } from "./dns-zone";

const [address = "127.0.0.1", port = "53", configPath = ""] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8")) as DnsConfig;
const server = await DnsServer.start({ listen: [{ address, port: Number(port) }], axfrAllow: [], log: silentLogger });
await server.load(config, [SITE_CIDR]);
process.stdout.write("ready\n");
process.once("SIGTERM", () => {
  void server.close().finally(() => process.exit(0));
});

// The rack's credential, its tunnel and the BMC passwords it is sent all travel over the region
// URL: a plain http:// one would hand them to anyone on the path. Loopback is the exception,
// since nothing leaves the host; a lab without TLS says so with --insecure.
import { isIP } from "node:net";

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  return h === "::1" || h === "0:0:0:0:0:0:0:1";
}

/** Why the appliance will not use this region URL, or null if it may. */
export function regionUrlProblem(url: string, insecure: boolean): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `--region: "${url.slice(0, 200)}" is not a URL (e.g. https://region.example.com)`;
  }
  if (u.protocol === "https:") return null;
  if (u.protocol !== "http:") return `--region: "${u.protocol}" is not supported: use an https:// URL`;
  if (insecure || isLoopback(u.hostname)) return null;
  return `--region: ${u.origin} is plain http: the rack's credential and the BMC passwords would cross the network unencrypted. Use https://, or pass --insecure (PLINTH_INSECURE=1) for a lab network you trust`;
}

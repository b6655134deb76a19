// A decoded packet as plain JSON (buffers as hex), for golden files and readable diffs.
import type { DhcpPacket } from "../../../appliance/dhcp/packet";

export function render(p: DhcpPacket): unknown {
  const opts: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p.options)) {
    if (k === "other") continue;
    opts[k] = Buffer.isBuffer(v) ? v.toString("hex") : v;
  }
  const other: Record<string, string> = {};
  for (const [code, v] of p.options.other) other[code] = v.toString("hex");
  return { ...p, chaddr: p.chaddr.toString("hex"), options: { ...opts, other } };
}

// "Never hand one IP to two clients", checked on the journal itself: every ACK is in it (the
// server ACKs only after the record is synced), so a bind of an address that another client
// still holds there is a double allocation.
import { readFileSync } from "node:fs";
import type { LeaseRecord } from "../../../appliance/dhcp/leases";

export function journalRecords(path: string): LeaseRecord[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LeaseRecord);
}

export function doubleAllocations(records: LeaseRecord[]): string[] {
  const owner = new Map<string, { key: string; exp: number }>();
  const problems: string[] = [];
  for (const r of records) {
    if (r.op === "free") owner.delete(r.ip);
    else if (r.op === "decline") owner.set(r.ip, { key: "", exp: r.exp });
    else {
      const cur = owner.get(r.ip);
      // The rigs use hour-long leases, so a holder that has not expired by now held it then.
      if (cur && cur.key !== r.key && cur.exp > Date.now()) problems.push(`${r.ip} bound to ${r.key} while ${cur.key || "declined"} held it`);
      for (const [ip, o] of owner) if (o.key === r.key && ip !== r.ip) owner.delete(ip);
      owner.set(r.ip, { key: r.key, exp: r.exp });
    }
  }
  return problems;
}

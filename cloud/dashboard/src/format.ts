// Human units for the tables.
import { decimalBytes } from "../../../shared/format";
import { isStatus, STATUS_FAMILY, type StatusFamily } from "../../../shared/lifecycle";

export function mib(n: number): string {
  if (!n) return "–";
  return n >= 1024 ? `${+(n / 1024).toFixed(n % 1024 ? 1 : 0)} GiB` : `${n} MiB`;
}

export function bytes(n: number): string {
  return n ? decimalBytes(n) : "–";
}

export function ago(ms: number | null | undefined): string {
  if (!ms) return "never";
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ms).toLocaleDateString();
}

export function when(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

/** Status families, for colour: the names come from shared/lifecycle.ts. */
export function statusTone(status: number): StatusFamily {
  return isStatus(status) ? STATUS_FAMILY[status] : "idle";
}

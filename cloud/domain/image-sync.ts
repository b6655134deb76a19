// Image imports from the boot sources (cloud/images/ does the work): start, stop and read the
// progress of the one sync that may run at a time. The API, the MAAS facade and the cron call
// these; nothing else writes image_syncs.
// STUB (session plan): the sync engine's helper replaces the bodies; the signatures are the contract.
import type { Env } from "../env";

export interface SyncRow {
  id: number;
  state: "running" | "complete" | "failed" | "stopped";
  trigger: "manual" | "schedule";
  actor: string;
  items_total: number;
  items_done: number;
  bytes_total: number;
  bytes_done: number;
  error: string | null;
  started_at: number;
  finished_at: number | null;
}

/** One item (file) of a version being imported or imported. */
export interface ItemProgress {
  image: string;
  architecture: string;
  version: string;
  ftype: string;
  sha256: string;
  size: number;
  bytes_done: number;
  state: "pending" | "downloading" | "stored" | "failed";
  error: string | null;
}

export interface SyncStatus {
  running: boolean;
  /** The running sync, or the last one; null before the first. */
  sync: SyncRow | null;
  items: ItemProgress[];
}

/** Starts a sync of every source's selections; started false (and the running one) when one runs already. */
export async function startImport(_env: Env, _actor: string, _trigger: "manual" | "schedule" = "manual"): Promise<{ started: boolean; sync: SyncRow }> {
  throw new Error("not implemented");
}

/** Stops the running sync after the item in flight; false when none runs. */
export async function stopImport(_env: Env, _actor: string): Promise<boolean> {
  throw new Error("not implemented");
}

export async function importStatus(_db: D1Database): Promise<SyncStatus> {
  throw new Error("not implemented");
}

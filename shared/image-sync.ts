// The image import and the boot sources as the region answers them (GET /image-sync,
// /boot-sources): one declaration for the region that produces them and the dashboard and CLI
// that read them.

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

export interface Selection {
  id: number;
  source_id: number;
  os: string;
  release: string;
  arches: string[];
  subarches: string[];
  labels: string[];
}

export interface Source {
  id: number;
  url: string;
  keyring_filename: string;
  keyring_fingerprints: string[];
  skip_verify: boolean;
  created_at: number;
  updated_at: number;
  selections: Selection[];
}

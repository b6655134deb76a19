// The pure storage model: sizes, layouts, validation, edits and the installer's plan, over a
// design document (shared/storage/design.ts) and the machine's commissioned disks. No I/O:
// the repository (repo.ts) loads and stores, the APIs call these. Every refusal is a
// StorageError with the reason, which the APIs answer as a 4xx.
import type { Design, Disk, Firmware, Layout } from "../../../shared/storage/design";

export class StorageError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** What every function needs besides the design. */
export interface StorageContext {
  disks: Disk[];
  firmware: Firmware;
}

/** set_storage_layout's parameters, sizes already in bytes (MAAS also takes "50%" strings; parseSize handles both). */
export interface LayoutParams {
  boot_size?: number | string;
  root_size?: number | string;
  root_device?: number;
  vg_name?: string;
  lv_name?: string;
  lv_size?: number | string;
  cache_device?: number;
  cache_mode?: string;
  cache_size?: number | string;
  cache_no_part?: boolean;
}

export type { Design, Disk, Firmware, Layout };

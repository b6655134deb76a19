// A storage design as the APIs answer it (GET /api/v1/machines/{id}/storage, made by
// cloud/domain/storage/views.ts): what the dashboard and the CLI show.
import type { Design, Filesystem } from "./design";

export interface PartitionView {
  id: number;
  device: number;
  number: number;
  name: string;
  path: string;
  size: number;
  bootable: boolean;
  uuid: string;
  type: "partition";
  filesystem: Filesystem | null;
  used_for: string;
}

export interface BlockDeviceView {
  id: number;
  name: string;
  type: "physical" | "virtual";
  kind: "disk" | "raid" | "logical_volume" | "bcache";
  size: number;
  available_size: number;
  used_size: number;
  used_for: string;
  serial: string;
  model: string;
  path: string;
  filesystem: Filesystem | null;
  partitions: PartitionView[];
  partition_table_type: "GPT" | null;
  is_boot: boolean;
  tags: string[];
  uuid: string;
  /** For a virtual device: what makes it. */
  parent: { id: number; type: string; uuid: string } | null;
}

export interface DesignView {
  layout: Design["layout"];
  boot_disk: number | null;
  block_devices: BlockDeviceView[];
  raids: {
    id: number;
    name: string;
    uuid: string;
    level: number;
    size: number;
    devices: number[];
    spares: number[];
    virtual_device: number;
    filesystem: Filesystem | null;
  }[];
  volume_groups: {
    id: number;
    name: string;
    uuid: string;
    size: number;
    available_size: number;
    used_size: number;
    devices: number[];
    logical_volumes: number[];
  }[];
  cache_sets: { id: number; name: string; device: number }[];
  bcaches: {
    id: number;
    name: string;
    uuid: string;
    size: number;
    backing: number;
    cache_set: number;
    cache_mode: string;
    virtual_device: number;
    filesystem: Filesystem | null;
  }[];
  /** Why the design could not be deployed as it is; [] when it can. */
  problems: string[];
}

// What the installer reported it made on a machine's disks (docs/deploy.md), as the APIs show
// it, and how the deploy spec names a disk. The design of the next deployment is in
// cloud/domain/storage/ (its repository: repo.ts).
import { z } from "zod";

/** The installer's "installed" report of what it made (docs/deploy.md), bounded. */
export const DeployedStorageSchema = z.object({
  disk: z.string().max(256).nullish(),
  layout: z.string().max(16).nullish(),
  firmware: z.string().max(16).nullish(),
  partitions: z
    .array(
      z.object({
        name: z.string().min(1).max(64),
        size_bytes: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
        fstype: z.string().max(32).nullish(),
        mount: z.string().max(256).nullish(),
        uuid: z.string().max(64).nullish(),
      }),
    )
    .max(128)
    .default([]),
});
export type DeployedStorage = z.infer<typeof DeployedStorageSchema>;

/** The stored form (the `deployed_storage` column) as the APIs show it. */
export function deployedStorageOf(json: string | null): {
  layout: string | null;
  disk: string | null;
  firmware: string | null;
  partitions: { name: string; size_bytes: number; fstype: string; mount: string; uuid: string }[];
} | null {
  if (!json) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return null;
  }
  const r = DeployedStorageSchema.safeParse(raw);
  if (!r.success) return null;
  return {
    layout: r.data.layout ?? null,
    disk: r.data.disk ?? null,
    firmware: r.data.firmware ?? null,
    partitions: r.data.partitions.map((p) => ({ name: p.name, size_bytes: p.size_bytes, fstype: p.fstype ?? "", mount: p.mount ?? "", uuid: p.uuid ?? "" })),
  };
}

/** The deploy spec's disk: the first commissioned disk, by serial when it has one (names change across boots). */
export function bootDiskOf(first: { name: string; serial: string } | null | undefined): string {
  if (!first) return "";
  return first.serial ? `serial:${first.serial}` : first.name;
}

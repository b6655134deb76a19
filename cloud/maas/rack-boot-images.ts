// rackcontrollers/{system_id}/?op=list_boot_images: the images a rack holds, as the rack
// reports them (rack_images, joined to the boot images they are), and whether that is all
// of what the region would have it hold. The status words are MAAS's: "synced" when it holds
// every image with bytes in the region, "syncing" while a download runs, "out-of-sync"
// otherwise, and "unknown" (no images) while its tunnel is down, since then nobody can tell.

interface Held {
  osystem: string;
  series: string;
  architecture: string;
  format: string;
}

export async function listBootImagesJson(db: D1Database, rack: { id: string; connected: number }) {
  if (!rack.connected) return { images: [], connected: false, status: "unknown" };
  const [held, missing, downloading] = await db.batch([
    db
      .prepare(
        "SELECT b.osystem, b.series, b.architecture, b.format FROM rack_images ri JOIN boot_images b ON b.sha256 = ri.sha256 WHERE ri.rack_id = ? AND ri.state = 'present' ORDER BY b.id",
      )
      .bind(rack.id),
    db
      .prepare(
        "SELECT count(*) AS n FROM boot_images b WHERE b.sha256 IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rack_images ri WHERE ri.rack_id = ? AND ri.sha256 = b.sha256 AND ri.state = 'present')",
      )
      .bind(rack.id),
    db.prepare("SELECT count(*) AS n FROM rack_images WHERE rack_id = ? AND state = 'downloading'").bind(rack.id),
  ]);
  const count = (r: D1Result | undefined) => ((r?.results?.[0] ?? { n: 0 }) as { n: number }).n;
  const status = count(downloading) > 0 ? "syncing" : count(missing) === 0 ? "synced" : "out-of-sync";
  const images = ((held?.results ?? []) as Held[]).map((b) => {
    const [arch, sub] = b.architecture.split("/");
    return {
      osystem: b.osystem,
      architecture: arch ?? b.architecture,
      subarchitecture: sub ?? "generic",
      release: b.series,
      label: "stable",
      purpose: "xinstall",
      xinstall_type: b.format,
      xinstall_path: "",
    };
  });
  return { images, connected: true, status };
}

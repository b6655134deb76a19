// Boot image formats, as the region's API takes them and the installer writes them: MAAS's
// names (tgz, txz, ddraw, ddgz, ddxz, ddzst) and Plinth's older ones (raw, raw.gz, raw.xz,
// raw.zst), which name the same disk images. One list, so the API, the MAAS facade and the
// rack agree on what is deployable.

export const IMAGE_FORMATS = ["raw", "raw.gz", "raw.xz", "raw.zst", "ddraw", "ddgz", "ddxz", "ddzst", "tgz", "txz"] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** MAAS's boot-resource filetype for each format (what MAAS clients read in boot-resources/). */
export const MAAS_FILETYPE: Record<ImageFormat, string> = {
  raw: "root-dd",
  "raw.gz": "root-dd.gz",
  "raw.xz": "root-dd.xz",
  "raw.zst": "root-dd.zst",
  ddraw: "root-dd",
  ddgz: "root-dd.gz",
  ddxz: "root-dd.xz",
  ddzst: "root-dd.zst",
  tgz: "root-tgz",
  txz: "root-txz",
};

export function isImageFormat(s: string): s is ImageFormat {
  return (IMAGE_FORMATS as readonly string[]).includes(s);
}

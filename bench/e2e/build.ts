// The image-build part of `npm run bench -- e2e`: `npm run images -- os debian/bookworm` from
// nothing into a scratch output folder, as an operator's first build runs, except that the
// Debian packages come from the project's download cache (images/build/cache, filled by any
// earlier build): the figure is the builder's own work, not the mirror's bandwidth.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { imagesDir } from "../../test/node/e2e/lab";

export interface BuildTimes {
  /** Wall time of the whole command, seconds. */
  wall: number;
  /** The builder's own split (manifest.json build_seconds): mmdebstrap, configure, tarball, rootfs, disk, compress, manifest. */
  steps: Record<string, number>;
  files: Record<string, number>;
  packages: number;
}

export function measureImageBuild(what = "debian/bookworm"): BuildTimes {
  const name = what.replace("/", "-");
  // On the same file system as the image cache: a scratch tree as big as a build (about 3 GiB).
  const scratch = mkdtempSync(join(imagesDir, ".bench-build-"));
  try {
    const debs = join(imagesDir, "cache", `os-${name}-debs`);
    if (existsSync(debs)) {
      mkdirSync(join(scratch, "cache"));
      symlinkSync(debs, join(scratch, "cache", `os-${name}-debs`));
    }
    const t0 = performance.now();
    execFileSync("bash", [join(import.meta.dirname, "..", "..", "images", "build.sh"), "os", what], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, PLINTH_IMAGES_OUT: scratch },
      timeout: 2_400_000,
    });
    const wall = (performance.now() - t0) / 1000;
    const m = JSON.parse(readFileSync(join(scratch, "os", name, "manifest.json"), "utf8")) as {
      build_seconds: Record<string, number>;
      files: Record<string, { size: number }>;
      package_count: number;
    };
    return { wall, steps: m.build_seconds, files: Object.fromEntries(Object.entries(m.files).map(([f, x]) => [f, x.size])), packages: m.package_count };
  } finally {
    // mmdebstrap unmounts what it mounted, even when it fails; should a mount (/proc, /dev/pts
    // of the tree) still be there, removing the tree would reach into the host's: leave it.
    const mounted = execFileSync("findmnt", ["-rn", "-o", "TARGET"], { encoding: "utf8" })
      .split("\n")
      .filter((t) => t.startsWith(`${scratch}/`));
    if (mounted.length) console.warn(`e2e: left ${scratch} in place, still mounted: ${mounted.join(" ")}`);
    else rmSync(scratch, { recursive: true, force: true });
  }
}

// The Debian packages of the real peers the tests use. Each area lists its own in
// test/deps/<area>.txt as "package command-or-path" lines, so no test is skipped for a
// missing tool: as root we install them, otherwise we stop with the exact apt-get line.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

export function requiredDebianPackages(dir = "test/deps") {
  if (!existsSync(dir)) return [];
  const wanted = [];
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith(".txt"))
    .sort()) {
    for (const raw of readFileSync(join(dir, f), "utf8").split("\n")) {
      const line = raw.replace(/#.*/, "").trim();
      if (!line) continue;
      const [pkg, probe] = line.split(/\s+/);
      wanted.push({ pkg, probe: probe ?? pkg });
    }
  }
  return wanted;
}

function present(probe) {
  if (probe.startsWith("/")) return existsSync(probe);
  return spawnSync("sh", ["-c", `command -v ${probe}`], { stdio: "ignore" }).status === 0;
}

export function ensureDebianPackages() {
  const missing = [
    ...new Set(
      requiredDebianPackages()
        .filter((w) => !present(w.probe))
        .map((w) => w.pkg),
    ),
  ];
  if (missing.length === 0) return;
  const line = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing.join(" ")}`;
  if (process.getuid?.() !== 0) {
    console.error(`The tests need Debian packages that are missing. Run as root:\n  ${line}`);
    process.exit(2);
  }
  console.log(`Installing the tests' Debian packages: ${missing.join(" ")}`);
  const r = spawnSync("sh", ["-c", line], { stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`Installing failed: ${line}`);
    process.exit(2);
  }
}

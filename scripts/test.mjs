#!/usr/bin/env node
// `npm test`: make sure the real peers the tests use are installed, then run both suites
// (region in workerd, node-side in Node) and close on one plain "N passed, N failed" line.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { quietWranglerEnv } from "./wrangler-env.mjs";
import { ensureDashboard } from "./dashboard-build.mjs";
import { ensureDebianPackages } from "./debian-deps.mjs";

ensureDebianPackages();
// The appliance's native helper (TFTP's UDP segmentation): `npm ci` ran before the compiler
// may have been installed just above, and the tests check the fast path is really taken.
if (spawnSync(process.execPath, ["scripts/build-native.mjs"], { stdio: "inherit", env: { ...process.env, PLINTH_NATIVE: "required" } }).status !== 0)
  process.exit(1);
// The region suite loads wrangler.toml, whose [assets] directory must exist; browser tests use it.
ensureDashboard();

const out = mkdtempSync(join(tmpdir(), "plinth-test-"));
const only = process.argv[2];
// The boot environment and the Debian image take minutes to build from packages (mostly
// downloading and unpacking): start them now, beside the region suite. The node tests that need
// them run the same builds, which wait on the build's lock and then find them current.
if (only !== "region" && process.getuid?.() === 0) {
  const log = openSync(join(out, "images-build.log"), "w");
  const bg = spawn("bash", ["-c", "bash images/build.sh && bash images/build.sh os debian/bookworm"], { stdio: ["ignore", log, log] });
  bg.on("exit", (code) => console.log(`\n(images built in the background: exit ${code}; log ${join(out, "images-build.log")})`));
}
const suites = [
  { name: "region", config: "vitest.config.ts" },
  { name: "node", config: "vitest.node.config.ts" },
];
let passed = 0;
let failed = 0;
let status = 0;
for (const suite of suites) {
  if (only && only !== suite.name) continue;
  const report = join(out, `${suite.name}.json`);
  const run = spawnSync("node_modules/.bin/vitest", ["run", "--config", suite.config, "--reporter=default", "--reporter=json", `--outputFile.json=${report}`], {
    stdio: "inherit",
    env: { ...process.env, ...quietWranglerEnv },
  });
  if (run.status !== 0) status = 1;
  if (existsSync(report)) {
    const r = JSON.parse(readFileSync(report, "utf8"));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    // A file that failed outside any test (collection, beforeAll) counts as one failure.
    for (const file of r.testResults ?? []) {
      if (file.status === "failed" && !(file.assertionResults ?? []).some((a) => a.status === "failed")) failed += 1;
    }
    // Skipped or todo tests are defects here: count them as failures.
    failed += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    if ((r.numPendingTests ?? 0) + (r.numTodoTests ?? 0) > 0) status = 1;
  } else {
    failed += 1;
    status = 1;
  }
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(status || (failed > 0 ? 1 : 0));

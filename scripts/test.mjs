#!/usr/bin/env node
// `npm test`: make sure the real peers the tests use are installed, then run both suites
// (region in workerd, node-side in Node) and close on one plain "N passed, N failed" line.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, globSync, mkdtempSync, openSync, readFileSync } from "node:fs";
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
// Three runs, one after the other (each keeps both cores busy; side by side they only took
// turns): the region suite (workerd), then the node files that need no built image, while the
// images finish building, then the node files that boot the built images.
// Node files never share a run with each other (fileParallelism off: rigs bind fixed ports).
const IMAGE_FILES = [
  "test/node/e2e/lifecycle.test.ts",
  "test/node/images/installer.test.ts",
  "test/node/images/boot-environment.test.ts",
  "test/node/images/os-image.test.ts",
];
for (const f of IMAGE_FILES) if (!existsSync(f)) throw new Error(`scripts/test.mjs lists ${f}, which does not exist`);
const nodeFiles = globSync("test/node/**/*.test.ts").sort();
const runs = [
  { name: "region", suite: "region", config: "vitest.config.ts", files: [] },
  { name: "node", suite: "node", config: "vitest.node.config.ts", files: nodeFiles.filter((f) => !IMAGE_FILES.includes(f)) },
  { name: "node-images", suite: "node", config: "vitest.node.config.ts", files: IMAGE_FILES },
].filter((r) => !only || only === r.suite);

/** One vitest run; resolves to its exit code and the path of its JSON report. */
function vitest(r) {
  const report = join(out, `${r.name}.json`);
  const args = ["run", "--config", r.config, "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...r.files];
  const child = spawn("node_modules/.bin/vitest", args, { stdio: "inherit", env: { ...process.env, ...quietWranglerEnv } });
  return new Promise((done) => child.on("exit", (code) => done({ code, report })));
}

const results = [];
for (const r of runs) results.push(await vitest(r));

let passed = 0;
let failed = 0;
let status = 0;
for (const { code, report } of results) {
  if (code !== 0) status = 1;
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

// Builds the appliance's one native helper (appliance/native/udp_gso.c: UDP segmentation for
// TFTP, batched UDP receive and send for DNS) with the system C compiler and the pinned N-API headers. Runs on `npm install`/`npm ci`
// and again from `npm test` (after the test's Debian packages, a compiler among them, are in).
// No node-gyp: it would fetch Node's full headers from nodejs.org, which a site may not reach,
// and N-API needs only four headers. Without a compiler the appliance still works, one
// datagram per syscall through node:dgram, so a failed build warns instead of failing the install; PLINTH_NATIVE=required
// makes it fail (CI and tests).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(repo, "appliance", "native", "udp_gso.c");
const out = join(repo, "appliance", "native", "build", "udp_gso.node");
const required = process.env.PLINTH_NATIVE === "required";

function fail(message) {
  if (required) {
    console.error(`build-native: ${message}`);
    process.exit(1);
  }
  console.warn(`build-native: ${message}; TFTP and DNS will move one datagram per syscall (slower, still correct)`);
  process.exit(0);
}

if (process.platform !== "linux") fail(`UDP_SEGMENT and recvmmsg are Linux-only (this is ${process.platform})`);
if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) process.exit(0);

let headers;
try {
  headers = join(dirname(createRequire(import.meta.url).resolve("node-api-headers/package.json")), "include");
} catch {
  fail("node-api-headers is not installed (run npm ci)");
}
const cc = process.env.CC || "cc";
mkdirSync(dirname(out), { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
const r = spawnSync(cc, ["-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-DNODE_GYP_MODULE_NAME=udp_gso", `-I${headers}`, "-o", tmp, src], {
  stdio: ["ignore", "inherit", "inherit"],
});
if (r.error || r.status !== 0) fail(`${cc} failed${r.error ? ` (${r.error.message})` : ""}`);
// Renamed into place so a concurrent loader never sees half a library.
renameSync(tmp, out);
console.log(`build-native: built ${out.slice(repo.length + 1)}`);

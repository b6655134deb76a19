// `npm run lab` (as root): a site in a box for the dashboard to show. The region on
// http://localhost:5240 (state in .plinth/, the same admin as `npm start`), an appliance serving
// a bridge in a network namespace, and two VMs (BIOS and UEFI) with IPMI BMCs, enlisted and
// given their power parameters. Then it waits: drive the machines from the dashboard, the CLI
// or the API. Ctrl-C tears everything down (namespace, taps, processes by PID).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { buildOsImage, imagesDir, type LabVm, startLab } from "../test/node/e2e/lab";
import { api, until } from "../test/node/tunnel/rig";
import { bootstrapAdmin, startRegion, stopRegion } from "./region-local.mjs";

const stateDir = ".plinth";
const port = Number(process.env.PLINTH_PORT ?? 5240);
const GiB = 1 << 30;

if (process.getuid?.() !== 0) {
  console.error("npm run lab builds a network namespace, taps and VMs: run it as root.");
  process.exit(2);
}
const free = await new Promise<boolean>((res) => {
  const s = createServer();
  s.once("error", () => res(false));
  s.listen(port, "127.0.0.1", () => s.close(() => res(true)));
});
if (!free) {
  console.error(`port ${port} is busy (is \`npm start\` running?): stop it, or set PLINTH_PORT.`);
  process.exit(2);
}

const { child, url } = await startRegion({ stateDir, port, stdio: "ignore" });
let admin = existsSync(join(stateDir, "admin.json")) ? JSON.parse(readFileSync(join(stateDir, "admin.json"), "utf8")) : null;
if (!admin) {
  admin = await bootstrapAdmin(url, stateDir);
  if (!admin) throw new Error(`the region in ${stateDir}/ has users but ${stateDir}/admin.json is gone: delete ${stateDir}/ to start afresh`);
  writeFileSync(join(stateDir, "admin.json"), `${JSON.stringify(admin, null, 2)}\n`, { mode: 0o600 });
}
const region = { url, stateDir, port, child, admin: admin.api_key as string };
const step = (s: string) => console.log(`lab: ${s}`);

step("building the site (namespace, bridge, appliance, BMCs)…");
const lab = await startLab({
  region,
  vms: [
    { name: "bios", firmware: "bios", mac: "52:54:00:1a:b0:11", cpus: 2, memMiB: 512, diskBytes: 4 * GiB },
    { name: "uefi", firmware: "uefi", mac: "52:54:00:1a:b0:12", cpus: 1, memMiB: 640, diskBytes: 4 * GiB },
  ],
});
let stopping = false;
const teardown = async () => {
  if (stopping) return;
  stopping = true;
  step("tearing down…");
  await lab.stop();
  await stopRegion(child);
  process.exit(0);
};
process.on("SIGINT", teardown);
process.on("SIGTERM", teardown);

// The test image, so "Deploy" works from the dashboard (custom/testdisk).
const images = (await api(region, "GET", "/boot-images")).json.items as { osystem: string; series: string; sha256: string | null }[];
if (!images.some((i) => i.osystem === "custom" && i.series === "testdisk" && i.sha256)) {
  step("uploading the test image (custom/testdisk) to the region's store…");
  const bytes = readFileSync(join(imagesDir, "testdisk.raw.zst"));
  const img = images.some((i) => i.osystem === "custom" && i.series === "testdisk")
    ? null
    : await api(region, "POST", "/boot-images", { osystem: "custom", series: "testdisk", format: "raw.zst" });
  const id =
    img?.json.id ??
    (await api(region, "GET", "/boot-images")).json.items.find((i: { osystem: string; series: string }) => i.osystem === "custom" && i.series === "testdisk")
      .id;
  await fetch(`${url}/api/v1/boot-images/${id}/content`, {
    method: "PUT",
    headers: {
      authorization: `Bearer ${region.admin}`,
      "x-content-sha256": createHash("sha256").update(bytes).digest("hex"),
      "content-type": "application/octet-stream",
    },
    body: bytes,
  });
}

// Debian bookworm built from Debian's packages (cached by its inputs: minutes the first time),
// uploaded with the operator's own tool, so "Deploy debian/bookworm" works from the dashboard.
if (!images.some((i) => i.osystem === "debian" && i.series === "bookworm" && i.sha256)) {
  step("building Debian bookworm from Debian's packages (npm run images -- os debian/bookworm)…");
  const os = buildOsImage("debian/bookworm");
  step("uploading debian/bookworm (root.tgz) to the region's store…");
  const up = spawnSync(process.execPath, ["cli/bin/plinth.mjs", "images", "upload", join(os, "root.tgz"), "--os", "debian", "--series", "bookworm"], {
    stdio: "inherit",
    env: { ...process.env, PLINTH_URL: url, PLINTH_API_KEY: region.admin },
  });
  if (up.status !== 0) throw new Error("uploading debian/bookworm failed");
}

// The deployed systems' default user (debian) accepts the admin's SSH key: the invoking user's
// own public key when there is one, else a key the lab makes in .plinth/.
const keyFile = [process.env.SUDO_USER ? `/home/${process.env.SUDO_USER}/.ssh` : "", process.env.HOME ? `${process.env.HOME}/.ssh` : ""]
  .filter(Boolean)
  .flatMap((d) => ["id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"].map((f) => join(d, f)))
  .find((f) => existsSync(f));
let identity = keyFile ? keyFile.replace(/\.pub$/, "") : join(stateDir, "lab_ssh_key");
if (!keyFile && !existsSync(identity)) spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "plinth-lab", "-f", identity]);
if (!existsSync(`${identity}.pub`)) identity = "";
if (identity) await api(region, "POST", `/users/${admin.username}/ssh-keys`, { key: readFileSync(`${identity}.pub`, "utf8") });

step("powering on both VMs: they PXE boot and enlist (a minute or two under software emulation)…");
for (const vm of lab.vms) lab.ipmitool(vm, ["chassis", "power", "on"]);
const enlisted = async (vm: LabVm) => {
  const m = await until(
    `${vm.name} to enlist`,
    async () => {
      const sys = (await api(region, "GET", `/machines?mac=${vm.mac}`)).json.items?.[0]?.system_id;
      const x = sys ? (await api(region, "GET", `/machines/${sys}`)).json : null;
      return x && x.cpu_count > 0 ? x : null;
    },
    2400,
    250,
  );
  await api(region, "PATCH", `/machines/${m.system_id}`, vm.power);
  step(`${vm.name} (${vm.firmware}) enlisted as ${m.system_id} (${m.hostname}), IPMI BMC on the site's 127.0.0.1:${vm.bmcPort}`);
};
await Promise.all(lab.vms.map(enlisted));

console.log(`
Plinth lab is up.
  dashboard:  ${url}   (sign in as ${admin.username}, password in ${stateDir}/admin.json)
  API key:    ${stateDir}/admin.json (api_key)
  machines:   ${lab.vms.map((v) => `${v.name} ${v.mac}`).join(", ")} — NEW, with IPMI power set:
              Commission, then Allocate and Deploy debian/bookworm (or custom/testdisk), from
              the dashboard or npx plinth machines commission <system_id> --wait
  ssh:        once Deployed, from the site network:
              ip netns exec ${lab.ns.name} ssh${identity ? ` -i ${identity}` : ""} debian@<address>   (its DHCP lease on ${lab.net}.0/24)
  consoles:   ${lab.vms.map((v) => join(v.dir, "console.log")).join("\n              ")}
Ctrl-C tears it all down.`);

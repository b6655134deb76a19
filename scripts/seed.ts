// `npm run seed -- --machines N [--sites S] [--state DIR] [--no-build] [--add]`: fills the *local*
// region, once: a region that has machines gets none (only images) unless --add says to add more.
// With the machines come each site's fabric, VLAN, subnet (ranges, devices, deployed machines'
// addresses) and a rack record that no appliance stands behind. There is no flag for a remote database: it only ever opens a local state directory
// that `npm start` made (it holds the development secrets the seed encrypts with).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { applyMigrations, ensureDevVars } from "./region-local.mjs";
import { seed } from "./seed-data";
import { builtImages } from "./seed-images";

const { values } = parseArgs({
  options: {
    machines: { type: "string", default: "1000" },
    sites: { type: "string", default: "10" },
    state: { type: "string", default: ".plinth" },
    remote: { type: "boolean", default: false },
    "no-build": { type: "boolean", default: false },
    add: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
  strict: true,
});
if (values.help) {
  console.log(
    "usage: npm run seed -- --machines N [--sites S] [--state DIR] [--no-build] [--add]   (local development region only; --add adds to a fleet already seeded)",
  );
  process.exit(0);
}
if (values.remote || process.env.CLOUDFLARE_API_TOKEN) {
  console.error("seed: refusing: it only writes to the local development database (no --remote, no CLOUDFLARE_API_TOKEN)");
  process.exit(2);
}
const machines = Number(values.machines);
const sites = Number(values.sites);
if (!Number.isInteger(machines) || machines < 1 || machines > 1_000_000 || !Number.isInteger(sites) || sites < 1 || sites > 100_000) {
  console.error("seed: --machines must be 1..1000000 and --sites 1..100000");
  process.exit(2);
}
if (!existsSync(join(values.state, "dev.vars"))) {
  console.error(`seed: ${values.state}/ is not a local development region (no dev.vars): run npm start once first`);
  process.exit(2);
}
// A region without a deployable image stops every MAAS client at its first probe (Juju: "no
// boot resources"): with nothing built yet, build the test disk (about a minute, from Debian's
// packages) so the seed can store it.
const root = join(import.meta.dirname, "..");
if (!builtImages(root).length && !values["no-build"]) {
  console.log("seed: no image built yet: building the test disk (npm run images; --no-build skips)");
  const build = spawnSync("bash", [join(root, "images/build.sh")], { stdio: "inherit" });
  if (build.status !== 0) console.error(`seed: the image build failed (exit ${build.status}): the region gets machines but nothing to deploy`);
}
const { vars } = ensureDevVars(values.state);
applyMigrations(values.state);
const t0 = Date.now();
const done = await seed({
  machines,
  sites,
  stateDir: values.state,
  secretKey: vars.PLINTH_SECRET_KEY,
  log: (s) => console.log(s),
  images: true,
  racks: true,
  onlyIfEmpty: !values.add,
});
if (done.machines === 0)
  console.log(
    `seed: the region already has ${done.existing} machines: none added (--add adds ${machines} more; delete ${values.state}/ to start afresh, admin included)`,
  );
else console.log(`seeded ${machines} machines across ${sites} sites in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

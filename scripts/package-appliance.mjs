// `npm run package`: dist/plinth-appliance_<version>_<arch>.deb, the rack appliance as a Debian
// package (its maintainer scripts, unit and settings file are in packaging/debian/; installing it
// is docs/appliance-install.md; test/node/package/deb.test.ts installs it into a fresh Debian).
// Debian's nodejs is too old for the appliance (bookworm has 18, trixie 20), so the package
// carries the Node runtime this script runs under, which must be 24 or later: the one the
// appliance is tested on. Needs dpkg-dev (dpkg-shlibdeps) and binutils (strip).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const repo = join(import.meta.dirname, "..");
const tmpl = join(repo, "packaging", "debian");
const PKG = "plinth-appliance";
/** Everything but the command, the unit and the settings lives here, out of everyone's way. */
const LIB = `usr/lib/${PKG}`;
const DEFAULT_MAINTAINER = "Plinth maintainers <maintainers@users.noreply.r-seed-4c83544a.example>";

function fail(message) {
  console.error(`package: ${message}`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error) fail(`${cmd}: ${r.error.message}${r.error.code === "ENOENT" ? " (see the requirements at the top of scripts/package-appliance.mjs)" : ""}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stdout ?? ""}${r.stderr ?? ""}`);
  return r.stdout ?? "";
}

const nodeMajor = Number(process.versions.node.split(".")[0]);
if (nodeMajor < 24)
  fail(
    `this is Node ${process.versions.node}; the package carries the Node runtime that builds it, and the appliance needs Node 24. Run npm run package under Node 24 or later.`,
  );
const arch = { x64: "amd64", arm64: "arm64" }[process.arch];
if (process.platform !== "linux" || !arch)
  fail(`the package is built for the machine it is built on, and ${process.platform}/${process.arch} is not a Debian one`);

const version = JSON.parse(readFileSync(join(repo, "package.json"), "utf8")).version;
// The region records the version each rack says in its hello; it must be the package's.
const spoken = /APPLIANCE_VERSION = "([^"]+)"/.exec(readFileSync(join(repo, "appliance", "daemon.ts"), "utf8"))?.[1];
if (spoken !== version) fail(`package.json says ${version} but appliance/daemon.ts's APPLIANCE_VERSION is ${spoken}: make them agree`);

const sourceDate = Number(process.env.SOURCE_DATE_EPOCH ?? run("git", ["-C", repo, "log", "-1", "--format=%ct"]).trim());
const commit = run("git", ["-C", repo, "rev-parse", "--short=12", "HEAD"]).trim();
const maintainer = process.env.DEBFULLNAME && process.env.DEBEMAIL ? `${process.env.DEBFULLNAME} <${process.env.DEBEMAIL}>` : DEFAULT_MAINTAINER;

const dist = join(repo, "dist");
mkdirSync(dist, { recursive: true });
const deb = join(dist, `${PKG}_${version}_${arch}.deb`);
const stage = mkdtempSync(join(dist, `.${PKG}-`));
try {
  await stageFiles();
  buildDeb();
} finally {
  rmSync(stage, { recursive: true, force: true });
}
console.log(`package: ${relative(process.cwd(), deb)} (${(statSync(deb).size / 1e6).toFixed(1)} MB)`);

async function stageFiles() {
  const lib = join(stage, LIB);
  mkdirSync(lib, { recursive: true });
  // Bundled, the modules' import.meta.url is the bundle's, so the paths they build from it (the
  // worker beside it, build/udp_gso.node, dhcp/bind-device.pl) are where the files go below.
  const bundled = await build({
    entryPoints: { [PKG]: join(repo, "appliance", "cli.ts"), "udp-worker": join(repo, "appliance", "dns", "udp-worker.ts") },
    outdir: lib,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node24",
    // ws and other CommonJS dependencies require Node's built-ins; an ES module has no require.
    banner: { js: 'import { createRequire as plinthCreateRequire } from "node:module";\nconst require = plinthCreateRequire(import.meta.url);' },
    metafile: true,
    write: false,
    logLevel: "warning",
  });
  for (const f of bundled.outputFiles) {
    // The wrapper runs the bundle with the carried node: a `#!/usr/bin/env node` line would only
    // make it look like a script for whatever `node` is on the PATH.
    writeFileSync(f.path, f.text.replace(/^#!.*\n/, ""), { mode: 0o644 });
  }
  for (const want of ["plinth-appliance.mjs", "udp-worker.mjs"]) if (!existsSync(join(lib, want))) fail(`esbuild wrote no ${want}`);

  // The UDP helper is optional from source, but a package without it would be quietly slower everywhere.
  run(process.execPath, [join(repo, "scripts", "build-native.mjs")], {
    env: { ...process.env, PLINTH_NATIVE: "required" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  install(join(repo, "appliance", "native", "build", "udp_gso.node"), join(lib, "build", "udp_gso.node"), 0o644);
  run("strip", ["--strip-unneeded", "--remove-section=.comment", "--remove-section=.note", join(lib, "build", "udp_gso.node")]);
  install(join(repo, "appliance", "dhcp", "bind-device.pl"), join(lib, "dhcp", "bind-device.pl"), 0o755);
  // The static symbol table goes (18 MB); the dynamic symbols native helpers link against stay.
  install(process.execPath, join(lib, "node"), 0o755);
  run("strip", ["--strip-unneeded", "--remove-section=.comment", join(lib, "node")]);

  install(join(tmpl, "plinth-appliance.sh"), join(stage, "usr/bin", PKG), 0o755);
  install(join(tmpl, "plinth-appliance.service"), join(stage, "lib/systemd/system", `${PKG}.service`), 0o644);
  install(join(tmpl, "appliance.conf"), join(stage, "etc/plinth/appliance.conf"), 0o644);

  const doc = join(stage, "usr/share/doc", PKG);
  mkdirSync(doc, { recursive: true });
  writeFileSync(join(doc, "copyright"), copyright(bundled.metafile), { mode: 0o644 });
  // No mtime in the header (zlib writes none): the same commit gives the same file.
  writeFileSync(join(doc, "changelog.gz"), gzipSync(changelog(), { level: 9 }), { mode: 0o644 });
  install(join(tmpl, "lintian-overrides"), join(stage, "usr/share/lintian/overrides", PKG), 0o644);
}

function install(from, to, mode) {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  chmodSync(to, mode);
}

function buildDeb() {
  const shlibs = sharedLibraryDepends([join(stage, LIB, "node"), join(stage, LIB, "build", "udp_gso.node")]);
  const files = walk(stage);
  const installedKiB = files.reduce((n, f) => n + Math.ceil(statSync(join(stage, f)).size / 1024), 0) + walk(stage, true).length;
  const control = join(stage, "DEBIAN");
  mkdirSync(control);
  const fields = { VERSION: version, ARCH: arch, MAINTAINER: maintainer, INSTALLED_SIZE: String(installedKiB), SHLIBS: shlibs };
  writeFileSync(
    join(control, "control"),
    readFileSync(join(tmpl, "control"), "utf8").replace(/@([A-Z_]+)@/g, (m, k) => fields[k] ?? fail(`packaging/debian/control: unknown ${m}`)),
    { mode: 0o644 },
  );
  writeFileSync(join(control, "conffiles"), "/etc/plinth/appliance.conf\n", { mode: 0o644 });
  for (const s of ["postinst", "prerm", "postrm"]) install(join(tmpl, s), join(control, s), 0o755);
  const md5 = files
    .filter((f) => !f.startsWith("etc/"))
    .map(
      (f) =>
        `${createHash("md5")
          .update(readFileSync(join(stage, f)))
          .digest("hex")}  ${f}\n`,
    )
    .join("");
  writeFileSync(join(control, "md5sums"), md5, { mode: 0o644 });
  // Modes are set above one by one; the umask of whoever runs this must not decide them.
  for (const d of ["", ...walk(stage, true)]) chmodSync(join(stage, d), 0o755);
  // xz -1: most of the package is the runtime, which the default level shrinks by a sixth more in ten times the time.
  run("dpkg-deb", ["--root-owner-group", "-Zxz", "-z1", "--build", stage, deb], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(sourceDate) },
    stdio: ["ignore", "pipe", "inherit"],
  });
}

/** The runtime and the helper's library dependencies, as dpkg-shlibdeps works them out from the host's packages. */
function sharedLibraryDepends(elfs) {
  const work = mkdtempSync(join(dist, ".shlibdeps-"));
  try {
    mkdirSync(join(work, "debian"));
    // dpkg-shlibdeps insists on a source package's control file, though it reads nothing from it here.
    writeFileSync(join(work, "debian", "control"), `Source: plinth\n\nPackage: ${PKG}\nArchitecture: ${arch}\n`);
    // --warnings=0: the helper's napi_* symbols come from node itself at load time, in no library.
    const out = run("dpkg-shlibdeps", ["-O", "--warnings=0", ...elfs.map((e) => `-e${e}`)], { cwd: work });
    const deps = /^shlibs:Depends=(.*)$/m.exec(out)?.[1]?.trim();
    if (!deps) fail(`dpkg-shlibdeps found no libraries for ${elfs.join(", ")}`);
    return deps;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function walk(dir, dirsOnly = false, base = dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (dirsOnly) out.push(relative(base, p));
      out.push(...walk(p, dirsOnly, base));
    } else if (!dirsOnly) out.push(relative(base, p));
  }
  return out.sort();
}

function changelog() {
  const d = new Date(sourceDate * 1000);
  const day = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][d.getUTCDay()];
  const month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][d.getUTCMonth()];
  const p = (n) => String(n).padStart(2, "0");
  const date = `${day}, ${p(d.getUTCDate())} ${month} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
  return `${PKG} (${version}) unstable; urgency=medium\n\n  * Built from Plinth commit ${commit}.\n\n -- ${maintainer}  ${date}\n`;
}

/**
 * Who wrote what the package ships, and under which terms: Plinth, every npm package esbuild put
 * into the bundle (their licences ask for their notices to travel with copies), and the runtime.
 */
function copyright(metafile) {
  const packages = new Map();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (!m) continue;
    const dir = join(repo, input.slice(0, m.index + m[0].length - 1));
    if (!packages.has(m[1])) packages.set(m[1], dir);
  }
  const parts = [
    `${PKG}\n\nPlinth (the appliance's own code, bundled into ${LIB}/*.mjs, the UDP helper\n` +
      `${LIB}/build/udp_gso.node, and the files under /etc/plinth, /usr/bin and /lib/systemd):\n` +
      "Copyright: the Plinth authors. The Plinth repository states no licence of its own.\n",
  ];
  for (const [name, dir] of [...packages].sort(([a], [b]) => a.localeCompare(b))) {
    const pj = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const text = licenceText(dir) ?? fail(`${name} (bundled) ships no licence file to copy into the package's copyright`);
    parts.push(`${name} ${pj.version} (npm, bundled into ${LIB}/*.mjs), licence ${pj.license ?? "as below"}:\n\n${text}`);
  }
  const nodeLicence = join(dirname(process.execPath), "..", "LICENSE");
  if (!existsSync(nodeLicence)) fail(`no LICENSE beside this Node (looked for ${nodeLicence}): the carried runtime needs its licence in the package`);
  parts.push(
    `Node.js ${process.version} (the runtime, ${LIB}/node), its licence and those of what it includes:\n\n${readFileSync(nodeLicence, "utf8").trim()}\n`,
  );
  return parts.map((p) => p.trimEnd()).join("\n\n----------------------------------------------------------------------\n\n") + "\n";
}

function licenceText(dir) {
  const f = readdirSync(dir).find((n) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(n));
  return f ? `${readFileSync(join(dir, f), "utf8").trim()}\n` : null;
}

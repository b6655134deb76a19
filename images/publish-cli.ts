// `npm run images -- publish <dir> [--from images/build] (--key ID [--homedir DIR] | --unsigned)
//   [--keep N] [--version V] [--content-id ID]`: publishes what `npm run images` and
// `npm run images -- os ...` built as a simplestreams mirror in <dir>, signed with the operator's
// gpg key, for any Plinth (or MAAS) region to sync as a boot source. Re-publishing adds a
// version to each product and keeps the older ones (all of them, or the newest N with --keep).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { ProductsFile } from "../shared/simplestreams";
import { DEFAULT_CONTENT_ID, itemPath, type PublishProduct, productName, productsPath, publishMirror, sha256File } from "./publish";

const usage = `usage: npm run images -- publish <dir> [--from images/build] (--key ID [--homedir DIR] | --unsigned)
       [--keep N] [--version V] [--content-id ID]`;

/** What the boot-environment build writes in images/build/manifest.json (the fields used here). */
const BootManifest = z.looseObject({ kernel_version: z.string(), files: z.record(z.string(), z.object({ sha256: z.string(), size: z.number() })) });
/** images/build/os/<name>/manifest.json. */
const OsManifest = z.looseObject({
  os: z.string(),
  series: z.string(),
  arch: z.string(),
  kernel_version: z.string().optional(),
  files: z.record(z.string(), z.object({ sha256: z.string(), size: z.number() })),
});

/** Build outputs and the simplestreams ftype each is published as (ROOT_FTYPES names the deployable ones). */
const OS_FTYPES: Record<string, string> = {
  "root.tgz": "root-tgz",
  "root.txz": "root-txz",
  "disk.ddraw": "root-dd",
  "disk.ddzst": "root-dd.zst",
  "disk.ddgz": "root-dd.gz",
  "disk.ddxz": "root-dd.xz",
};
const BOOT_FTYPES: Record<string, string> = {
  vmlinuz: "boot-kernel",
  "initrd.img": "boot-initrd",
  "testdisk.raw": "root-dd",
  "testdisk.raw.gz": "root-dd.gz",
  "testdisk.raw.zst": "root-dd.zst",
};

/** MAAS versions are build dates: YYYYMMDD of the manifest's time. */
function dateVersion(path: string): string {
  return statSync(path).mtime.toISOString().slice(0, 10).replaceAll("-", "");
}

function files(dir: string, ftypes: Record<string, string>, listed: Record<string, unknown>): PublishProduct["files"] {
  return Object.entries(ftypes)
    .filter(([name]) => name in listed && existsSync(join(dir, name)))
    .map(([name, ftype]) => ({ ftype, file: join(dir, name) }));
}

/** The products a build directory holds: its OS images, and the test disk with the ephemeral environment that deploys it. */
export function builtProducts(from: string): (PublishProduct & { manifest: string })[] {
  const out: (PublishProduct & { manifest: string })[] = [];
  const osDir = join(from, "os");
  if (existsSync(osDir)) {
    for (const name of readdirSync(osDir).sort()) {
      const manifest = join(osDir, name, "manifest.json");
      if (!existsSync(manifest)) continue;
      const m = OsManifest.parse(JSON.parse(readFileSync(manifest, "utf8")));
      const f = files(join(osDir, name), OS_FTYPES, m.files);
      if (f.length === 0) continue;
      out.push({
        os: m.os,
        release: m.series,
        arch: m.arch,
        subarch: "generic",
        release_title: `${m.os} ${m.series}`,
        version: dateVersion(manifest),
        files: f,
        manifest,
      });
    }
  }
  const manifest = join(from, "manifest.json");
  if (existsSync(manifest)) {
    const m = BootManifest.parse(JSON.parse(readFileSync(manifest, "utf8")));
    const f = files(from, BOOT_FTYPES, m.files);
    if (f.some((x) => x.ftype.startsWith("root-"))) {
      out.push({
        os: "plinth",
        release: "testdisk",
        arch: "amd64",
        subarch: "generic",
        release_title: "Plinth test disk",
        version: dateVersion(manifest),
        files: f,
        manifest,
      });
    }
  }
  return out;
}

/**
 * A build already published under the same version keeps it when the bytes are the same;
 * a different build of the same day becomes <date>.1, <date>.2, ...
 */
async function pickVersion(dir: string, contentId: string, p: PublishProduct): Promise<string | null> {
  const path = join(dir, productsPath(contentId));
  if (!existsSync(path)) return p.version;
  const prev = ProductsFile.parse(JSON.parse(readFileSync(path, "utf8"))).products[productName(contentId, p)];
  if (!prev) return p.version;
  const sums = new Map<string, string>();
  for (const f of p.files) sums.set(f.ftype, await sha256File(f.file));
  for (const ver of Object.values(prev.versions)) {
    const items = Object.values(ver.items);
    if (items.length === sums.size && items.every((i) => sums.get(i.ftype) === i.sha256)) return null;
  }
  for (let n = 0; ; n++) {
    const v = n === 0 ? p.version : `${p.version}.${n}`;
    if (!(v in prev.versions)) return v;
  }
}

function fail(msg: string): never {
  console.error(`images publish: ${msg}\n${usage}`);
  process.exit(2);
}

export async function main(argv: string[]): Promise<void> {
  const parse = () =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        from: { type: "string" },
        key: { type: "string" },
        homedir: { type: "string" },
        unsigned: { type: "boolean" },
        keep: { type: "string" },
        version: { type: "string" },
        "content-id": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (e) {
    fail((e as Error).message);
  }
  const { values: o, positionals } = args;
  if (o.help) {
    console.log(usage);
    return;
  }
  if (positionals.length !== 1) fail("give one mirror directory");
  if (!o.key && !o.unsigned) fail("sign with --key <gpg key id> (a region refuses unsigned mirrors unless told to skip verification), or say --unsigned");
  if (o.key && o.unsigned) fail("--key and --unsigned contradict each other");
  if (o.homedir && !o.key) fail("--homedir goes with --key");
  const keep = o.keep === undefined ? undefined : Number(o.keep);
  if (keep !== undefined && !(Number.isInteger(keep) && keep >= 1)) fail("--keep takes a whole number of versions, 1 or more");
  if (o.version !== undefined && !/^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$/.test(o.version)) fail("--version: letters, digits, '.', '_' and '-'");
  const base = process.env.INIT_CWD ?? process.cwd();
  const dir = resolve(base, positionals[0]!);
  const from = resolve(base, o.from ?? join(import.meta.dirname, "build"));
  const contentId = o["content-id"] ?? DEFAULT_CONTENT_ID;
  if (!/^[a-z0-9.]+:[a-z0-9.-]+:v3:download$/.test(contentId)) fail("--content-id looks like com.example.maas:stream:v3:download");

  const found = builtProducts(from);
  if (found.length === 0) fail(`nothing built in ${from} (run npm run images, or npm run images -- os debian/bookworm)`);
  const products: PublishProduct[] = [];
  for (const { manifest, ...p } of found) {
    const version = o.version ?? (await pickVersion(dir, contentId, p));
    if (version === null) {
      console.log(`= ${productName(contentId, p)}: already published (same bytes)`);
      continue;
    }
    products.push({ ...p, version });
    console.log(`+ ${productName(contentId, p)} ${version} from ${manifest}`);
    for (const f of p.files) console.log(`    ${f.ftype.padEnd(12)} ${itemPath({ ...p, version }, f.ftype)}`);
  }
  try {
    const r = await publishMirror(dir, products, { contentId, keep, ...(o.key ? { sign: { key: o.key, ...(o.homedir ? { homedir: o.homedir } : {}) } } : {}) });
    for (const path of r.removed) console.log(`- ${path}`);
    const versions = Object.values(r.products.products).reduce((n, p) => n + Object.keys(p.versions).length, 0);
    console.log(
      `images: published ${Object.keys(r.products.products).length} products (${versions} versions) to ${dir}, ${o.key ? `signed by ${o.key}` : "UNSIGNED"}.\nServe it over HTTP(S); a region's boot source is <that URL>/${o.key ? "streams/v1/index.sjson with the key's public part as keyring" : "streams/v1/index.json with skip_verify"}.`,
    );
  } catch (e) {
    const err = e as Error & { stderr?: Buffer };
    console.error(`images publish: ${err.message}${err.stderr ? `\n${err.stderr.toString()}` : ""}`);
    process.exit(1);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) await main(process.argv.slice(2));

// plinth images …: the region's boot images (list, upload with a progress bar, delete) and
// `plinth images build`, which runs the image builder of a Plinth checkout (images/build.sh).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { Readable } from "node:stream";
import { CliError, EXIT } from "../client";
import { type Group, str } from "../command";
import { printJson, printTable } from "../output";
import { selections, sources, sync } from "./image-sources";

interface ImageRow {
  id: number;
  osystem: string;
  series: string;
  architecture: string;
  format: string;
  size: number;
  sha256: string | null;
  [k: string]: unknown;
}

/** File name endings → the region's format names (MAAS's where MAAS has one). */
const BY_SUFFIX: [RegExp, string][] = [
  [/\.(tgz|tar\.gz)$/, "tgz"],
  [/\.(txz|tar\.xz)$/, "txz"],
  [/\.ddraw$/, "ddraw"],
  [/\.ddgz$/, "ddgz"],
  [/\.ddxz$/, "ddxz"],
  [/\.ddzst$/, "ddzst"],
  [/\.(raw|img)\.zst$/, "raw.zst"],
  [/\.(raw|img)\.gz$/, "raw.gz"],
  [/\.(raw|img)\.xz$/, "raw.xz"],
  [/\.(raw|img)$/, "raw"],
];

export function formatOf(file: string): string | null {
  for (const [re, f] of BY_SUFFIX) if (re.test(file)) return f;
  return null;
}

/** One line, rewritten in place on a terminal; a line per 10% otherwise (logs, CI). */
export function progressLine(label: string, total: number, tty = process.stderr.isTTY === true) {
  const started = Date.now();
  let lastDecile = -1;
  return (done: number, end = false) => {
    const pct = total > 0 ? Math.min(100, Math.floor((done * 100) / total)) : 100;
    const secs = Math.max(0.001, (Date.now() - started) / 1000);
    const rate = done / 1048576 / secs;
    const width = 30;
    const bar = "#".repeat(Math.round((pct * width) / 100)).padEnd(width, ".");
    const text = `${label} [${bar}] ${String(pct).padStart(3)}% ${(done / 1048576).toFixed(0)}/${(total / 1048576).toFixed(0)} MiB ${rate.toFixed(1)} MiB/s`;
    if (tty) process.stderr.write(`\r${text}${end ? "\n" : ""}`);
    else if (end || Math.floor(pct / 10) > lastDecile) {
      lastDecile = Math.floor(pct / 10);
      process.stderr.write(`${text}\n`);
    }
  };
}

async function sha256Of(path: string, size: number, quiet: boolean): Promise<string> {
  const h = createHash("sha256");
  const show = quiet ? null : progressLine(`hashing   ${basename(path)}`, size);
  let done = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    done += (chunk as Buffer).length;
    show?.(done);
  }
  show?.(done, true);
  return h.digest("hex");
}

export const images: Group = {
  name: "images",
  summary: "Boot images: list, upload (with progress), delete, build; sources, selections and sync from mirrors",
  commands: [
    {
      name: "list",
      summary: "List boot images",
      run: async (ctx) => {
        const r = await ctx.client().call("GET /boot-images");
        if (ctx.json) printJson(r);
        else
          printTable(
            (r.items as ImageRow[]).map((i) => ({ ...i, size: i.sha256 ? `${(i.size / 1048576).toFixed(0)}M` : "(no content)" })),
            ["id", "osystem", "series", "architecture", "format", "size", "sha256"],
            "no boot images: plinth images upload FILE --os OS --series SERIES",
          );
      },
    },
    {
      name: "upload",
      summary: "Upload an image file (root tarball or disk image) as OS/SERIES, with a progress bar",
      args: "<file>",
      options: {
        os: { type: "string", help: "operating system, e.g. debian (required)" },
        series: { type: "string", help: "series, e.g. bookworm (required)" },
        arch: { type: "string", help: "architecture (default amd64/generic)" },
        format: { type: "string", help: "tgz, txz, ddraw, ddgz, ddxz, ddzst, raw, raw.gz, raw.xz, raw.zst (default: from the file name)" },
      },
      run: async (ctx) => {
        const file = ctx.args[0];
        const osystem = str(ctx.opts["os"]);
        const series = str(ctx.opts["series"]);
        if (!file || !osystem || !series) throw new CliError("usage: plinth images upload <file> --os OS --series SERIES [--format F] [--arch A]", EXIT.usage);
        if (!existsSync(file) || !statSync(file).isFile()) throw new CliError(`${file}: no such file`, EXIT.usage);
        const format = str(ctx.opts["format"]) ?? formatOf(file);
        if (!format) throw new CliError(`cannot tell the format of ${basename(file)} from its name: pass --format`, EXIT.usage);
        const architecture = str(ctx.opts["arch"]) ?? "amd64/generic";
        const size = statSync(file).size;
        const client = ctx.client();
        const list = (await client.call("GET /boot-images")).items as ImageRow[];
        let row = list.find((i) => i.osystem === osystem && i.series === series && i.architecture === architecture);
        if (row && row.format !== format)
          throw new CliError(
            `${osystem}/${series} (${architecture}) exists as ${row.format}, not ${format}: delete it first (plinth images delete ${row.id})`,
            EXIT.conflict,
            "conflict",
          );
        const sha256 = await sha256Of(file, size, ctx.json);
        // The generated body type lags new formats; the region validates the value.
        row ??= (await client.call("POST /boot-images", { body: { osystem, series, architecture, format: format as "tgz" } })) as ImageRow;
        if (row.sha256 === sha256) {
          if (ctx.json) printJson(row);
          else process.stdout.write(`${osystem}/${series} already has these bytes (sha256 ${sha256.slice(0, 12)}…)\n`);
          return;
        }
        const show = ctx.json ? null : progressLine(`uploading ${basename(file)}`, size);
        let sent = 0;
        const source = createReadStream(file, { highWaterMark: 1 << 20 });
        source.on("data", (c) => {
          sent += (c as Buffer).length;
          show?.(sent);
        });
        const stored = (await client.upload(`/boot-images/${row.id}/content`, Readable.toWeb(source) as ReadableStream, size, sha256)) as ImageRow;
        show?.(sent, true);
        if (ctx.json) printJson(stored);
        else
          process.stdout.write(
            `uploaded ${osystem}/${series} ${format} ${(size / 1048576).toFixed(0)} MiB (sha256 ${sha256.slice(0, 12)}…), image ${stored.id}\n`,
          );
      },
    },
    {
      name: "delete",
      summary: "Delete a boot image by id",
      args: "<id>",
      run: async (ctx) => {
        const id = ctx.args[0];
        if (!id) throw new CliError("missing <id>", EXIT.usage);
        await ctx.client().call("DELETE /boot-images/{id}", { path: { id } });
        if (ctx.json) printJson({ deleted: id });
        else process.stdout.write(`deleted image ${id}\n`);
      },
    },
    {
      name: "build",
      summary: "Build an OS image from Debian's packages in a Plinth checkout (images/build.sh os DISTRO/SERIES)",
      args: "<distro/series>",
      options: {
        checkout: { type: "string", help: "the Plinth checkout (default: the one this CLI runs from)" },
        formats: { type: "string", help: "comma-separated formats to build (the builder's default otherwise)" },
      },
      run: async (ctx) => {
        const what = ctx.args[0];
        if (!what || !/^[a-z0-9-]+\/[a-z0-9-]+$/.test(what)) throw new CliError("usage: plinth images build <distro/series>, e.g. debian/bookworm", EXIT.usage);
        const checkout = str(ctx.opts["checkout"]) ?? join(import.meta.dirname, "..", "..");
        const script = join(checkout, "images", "build.sh");
        if (!existsSync(script)) throw new CliError(`${script} not found: pass --checkout with a Plinth checkout`, EXIT.usage);
        const formats = str(ctx.opts["formats"]);
        const r = spawnSync("bash", [script, "os", what, ...(formats ? ["--formats", formats] : [])], { stdio: "inherit" });
        const exitCode = r.status;
        if (exitCode !== 0) throw new CliError(`the image build failed (exit ${exitCode ?? r.signal})`, EXIT.failed, "build_failed");
      },
    },
    sources,
    selections,
    sync,
  ],
};

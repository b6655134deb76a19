// plinth images sources | selections | sync: the mirrors the region syncs images from, what it
// takes from each, and the import itself, followed with a progress bar.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Selection, Source, SyncRow, SyncStatus } from "../../shared/image-sync";
import { CliError, type Client, EXIT } from "../client";
import type { Command, Ctx } from "../command";
import { str } from "../command";
import { printFields, printJson, printTable } from "../output";

const usage = (text: string) => new CliError(`usage: ${text}`, EXIT.usage);

/** A keyring file as the region takes it: armour as text, a binary keyring as base64. */
export function keyringText(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CliError(`${path}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`, EXIT.usage);
  }
  const head = bytes.subarray(0, 4096).toString("latin1");
  return /-----BEGIN PGP/.test(head) ? bytes.toString("utf8") : bytes.toString("base64");
}

const sourceRow = (s: Source) => ({
  id: s.id,
  url: s.url,
  verify: s.skip_verify && s.keyring_fingerprints.length === 0 ? "skipped" : s.skip_verify ? "skipped (has keys)" : "gpg",
  keys: s.keyring_fingerprints.map((f) => f.slice(-16)),
  selections: s.selections.map((x) => `${x.os}/${x.release}`),
});

const ID = /^\d{1,9}$/;

export const sources: Command = {
  name: "sources",
  summary: "Image sources (signed simplestreams mirrors): list | add URL --keyring FILE | add URL --no-verify | remove ID",
  args: "[list | add <url> | remove <id>]",
  options: {
    keyring: { type: "string", help: "the mirror's OpenPGP public key(s): an armoured or binary keyring file" },
    "no-verify": { type: "boolean", help: "sync without verifying signatures (only for a mirror you control)" },
  },
  run: async (ctx) => {
    const [sub = "list", arg] = ctx.args;
    const client = ctx.client();
    if (sub === "list") {
      const r = await client.call("GET /boot-sources");
      if (ctx.json) printJson(r);
      else
        printTable(
          (r.items as Source[]).map(sourceRow),
          ["id", "url", "verify", "keys", "selections"],
          "no image sources: plinth images sources add URL --keyring FILE",
        );
      return;
    }
    if (sub === "add") {
      const keyring = str(ctx.opts["keyring"]);
      const noVerify = ctx.opts["no-verify"] === true;
      if (!arg || (!keyring && !noVerify))
        throw usage("plinth images sources add <url> --keyring FILE (or --no-verify, to sync a mirror whose signatures are not checked)");
      const body = {
        url: arg,
        ...(keyring ? { keyring_data: keyringText(keyring), keyring_filename: basename(keyring) } : {}),
        ...(noVerify ? { skip_verify: true } : {}),
      };
      const s = (await client.call("POST /boot-sources", { body })) as Source;
      if (ctx.json) printJson(s);
      else
        process.stdout.write(
          `added source ${s.id} ${s.url} (${s.keyring_fingerprints.length ? `keys ${s.keyring_fingerprints.join(", ")}` : "signatures not verified"})\n`,
        );
      return;
    }
    if (sub === "remove") {
      if (!arg || !ID.test(arg)) throw usage("plinth images sources remove <id>");
      await client.call("DELETE /boot-sources/{id}", { path: { id: arg } });
      if (ctx.json) printJson({ deleted: Number(arg) });
      else process.stdout.write(`removed source ${arg} and its selections\n`);
      return;
    }
    throw usage("plinth images sources [list | add <url> --keyring FILE | remove <id>]");
  },
};

const csv = (v: unknown) =>
  typeof v === "string"
    ? v
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : undefined;

export const selections: Command = {
  name: "selections",
  summary: "What a source's sync takes: SOURCE_ID list | add --os OS --release R [--arches a,b] | remove ID",
  args: "<source-id> [list | add | remove <id>]",
  options: {
    os: { type: "string", help: "operating system, e.g. ubuntu" },
    release: { type: "string", help: "release, e.g. noble" },
    arches: { type: "string", help: 'architectures, comma-separated (default "*": all)' },
    subarches: { type: "string", help: 'sub-architectures, comma-separated (default "*")' },
    labels: { type: "string", help: 'labels, e.g. stable (default "*")' },
  },
  run: async (ctx) => {
    const [source, sub = "list", arg] = ctx.args;
    if (!source || !ID.test(source)) throw usage("plinth images selections <source-id> [list | add --os OS --release R [--arches a,b] | remove <id>]");
    const client = ctx.client();
    if (sub === "list") {
      const r = await client.call("GET /boot-sources/{id}/selections", { path: { id: source } });
      if (ctx.json) printJson(r);
      else
        printTable(
          r.items as Selection[] as unknown as Record<string, unknown>[],
          ["id", "os", "release", "arches", "subarches", "labels"],
          `no selections: plinth images selections ${source} add --os ubuntu --release noble --arches amd64`,
        );
      return;
    }
    if (sub === "add") {
      const os = str(ctx.opts["os"]);
      const release = str(ctx.opts["release"]);
      if (!os || !release) throw usage(`plinth images selections ${source} add --os OS --release RELEASE [--arches a,b] [--subarches ...] [--labels ...]`);
      const body = { os, release, arches: csv(ctx.opts["arches"]), subarches: csv(ctx.opts["subarches"]), labels: csv(ctx.opts["labels"]) };
      const s = (await client.call("POST /boot-sources/{id}/selections", { path: { id: source }, body })) as Selection;
      if (ctx.json) printJson(s);
      else process.stdout.write(`added selection ${s.id}: ${s.os}/${s.release} arches ${s.arches.join(",")}\n`);
      return;
    }
    if (sub === "remove") {
      if (!arg || !ID.test(arg)) throw usage(`plinth images selections ${source} remove <id>`);
      await client.call("DELETE /boot-sources/{id}/selections/{sid}", { path: { id: source, sid: arg } });
      if (ctx.json) printJson({ deleted: Number(arg) });
      else process.stdout.write(`removed selection ${arg}\n`);
      return;
    }
    throw usage("plinth images selections <source-id> [list | add | remove <id>]");
  },
};

const syncApi = {
  status: (c: Client) => c.call("GET /image-sync") as Promise<SyncStatus>,
  start: (c: Client) => c.call("POST /image-sync") as Promise<{ started: boolean; sync: SyncRow }>,
  stop: (c: Client) => c.call("DELETE /image-sync") as Promise<{ stopped: boolean }>,
};

const mibs = (n: number) => `${(n / 1048576).toFixed(n < 10 * 1048576 ? 1 : 0)}`;

/** One line per status: the overall bar, and the item in flight. */
export function syncLine(s: SyncStatus): string {
  const y = s.sync;
  if (!y) return "no import has run yet";
  const pct = y.bytes_total > 0 ? Math.min(100, Math.floor((y.bytes_done * 100) / y.bytes_total)) : y.state === "complete" ? 100 : 0;
  const bar = "#".repeat(Math.round((pct * 30) / 100)).padEnd(30, ".");
  const current = s.items.find((i) => i.state === "downloading");
  return `import ${y.id} ${y.state} [${bar}] ${String(pct).padStart(3)}% ${mibs(y.bytes_done)}/${mibs(y.bytes_total)} MiB, items ${y.items_done}/${y.items_total}${
    current ? ` (${current.image} ${current.architecture} ${current.ftype})` : ""
  }`;
}

async function watch(ctx: Ctx, client: Client, intervalMs: number): Promise<number> {
  const tty = process.stderr.isTTY === true && !ctx.json;
  let last = "";
  let lastDecile = -1;
  let lastItems = -1;
  for (;;) {
    const s = await syncApi.status(client);
    const line = syncLine(s);
    const y = s.sync;
    if (!ctx.json) {
      if (tty) process.stderr.write(`\r\x1b[K${line}`);
      else {
        // Plain lines for logs: one per item finished and per 10% overall, never repeated.
        const decile = y && y.bytes_total > 0 ? Math.floor((y.bytes_done * 10) / y.bytes_total) : 0;
        if (line !== last && (decile !== lastDecile || (y?.items_done ?? 0) !== lastItems || !s.running)) {
          process.stderr.write(`${line}\n`);
          lastDecile = decile;
          lastItems = y?.items_done ?? 0;
        }
      }
    }
    last = line;
    if (!s.running) {
      if (tty) process.stderr.write("\n");
      if (ctx.json) printJson(s);
      if (y?.state === "failed") throw new CliError(`the import failed: ${y.error ?? "no reason given"}`, EXIT.failed, "sync_failed");
      if (!ctx.json) process.stdout.write(`import ${y?.id ?? "-"} ${y?.state ?? "not run"}\n`);
      return EXIT.ok;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const sync: Command = {
  name: "sync",
  summary: "Import images from the sources now (--watch: follow with a progress bar); sync status; sync stop",
  args: "[status | stop]",
  options: {
    watch: { type: "boolean", short: "w", help: "follow the import until it ends; exit 7 if it fails" },
    interval: { type: "string", help: "seconds between polls with --watch (default 1)" },
  },
  run: async (ctx) => {
    const [sub] = ctx.args;
    const client = ctx.client();
    const interval = Number(str(ctx.opts["interval"]) ?? "1");
    if (!Number.isFinite(interval) || interval < 0.05 || interval > 60) throw usage("--interval takes seconds between 0.05 and 60");
    if (sub === "status") {
      const s = await syncApi.status(client);
      if (ctx.json) printJson(s);
      else {
        process.stdout.write(`${syncLine(s)}\n`);
        if (s.sync) printFields(s.sync as unknown as Record<string, unknown>, ["state", "trigger", "actor", "error"]);
        if (s.items.length)
          printTable(
            s.items.map((i) => ({ ...i, progress: `${mibs(i.bytes_done)}/${mibs(i.size)} MiB` })),
            ["image", "architecture", "version", "ftype", "state", "progress", "error"],
          );
      }
      if (ctx.opts["watch"] === true && s.running) return watch(ctx, client, interval * 1000);
      return;
    }
    if (sub === "stop") {
      const r = await syncApi.stop(client);
      if (ctx.json) printJson(r);
      else process.stdout.write(r.stopped ? "the import stops after the item in flight\n" : "no import is running\n");
      return;
    }
    if (sub !== undefined) throw usage("plinth images sync [status | stop] [--watch]");
    const r = await syncApi.start(client);
    if (ctx.opts["watch"] === true) {
      if (!ctx.json) process.stderr.write(r.started ? `started import ${r.sync.id}\n` : `import ${r.sync.id} is running already: following it\n`);
      return watch(ctx, client, interval * 1000);
    }
    if (ctx.json) printJson(r);
    else process.stdout.write(r.started ? `started import ${r.sync.id} (plinth images sync status)\n` : `import ${r.sync.id} is running already\n`);
  },
};

// The image sync's steps, run one at a time by the ImageSync Durable Object (sync-object.ts):
// plan (read every source, record the versions the selections want and the region lacks),
// then one item per step (stream it into R2, which checks its sha256; the size is checked on
// the way), then finish. Everything a step needs is in D1 or in the Job the object keeps, so a
// restarted region resumes at the step it was in: stored items are skipped, the item in flight
// starts again.
import { ROOT_FTYPES } from "../../shared/simplestreams";
import { listSelectionRows, selectionJson } from "./boot-sources";
import { eventStatement } from "./events";
import { imageKey } from "./images";
import { pushConfigAfter } from "./racks/commands";
import type { Env } from "../env";
import { NODE_STATUS } from "../../shared/lifecycle";
import { readSource, rootFtype, type Selection, type SourceRow } from "../images/simplestreams";

export interface Job {
  syncId: number;
  actor: string;
  phase: "plan" | "download";
  /** Versions this sync completes (boot_image_versions ids). */
  versionIds: number[];
  /** Sources refused while planning, with the reason: the sync ends failed after the rest. */
  refused: string[];
  itemsDone: number;
  bytesDone: number;
  /** Whether a version was completed (racks are told when the sync ends). */
  changed: boolean;
}

export interface StepControl {
  /** True once stopImport asked the running sync to stop: checked per chunk. */
  stopping(): boolean;
  /** Called while a long item streams, so the object's watchdog alarm stays ahead. */
  keepAlive(): Promise<void>;
}

/** The next Job, or null once the sync has ended (its row says how). */
export type StepResult = Job | null;

/** How often a streaming item writes its progress to D1 (and refreshes the heartbeat). */
const PROGRESS_EVERY_MS = 1000;
/** Bytes handed to R2 at a time. */
const BATCH_BYTES = 4 * 1024 * 1024;

const now = () => Date.now();

function ev(env: Env, type: string, actor: string, description: string, level: "INFO" | "WARNING" | "ERROR" = "INFO") {
  return eventStatement(env.DB, { type, actor, description, level });
}

async function syncState(env: Env, id: number): Promise<string | null> {
  const r = await env.DB.prepare("SELECT state FROM image_syncs WHERE id = ?").bind(id).first<{ state: string }>();
  return r?.state ?? null;
}

export async function runStep(env: Env, job: Job, ctl: StepControl): Promise<StepResult> {
  const state = await syncState(env, job.syncId);
  if (state !== "running") {
    // Stopped (stopImport wrote the row and its event) or gone: leave nothing half-made.
    await discardIncomplete(env, job);
    return null;
  }
  if (job.phase === "plan") return plan(env, job);
  return downloadNext(env, job, ctl);
}

async function plan(env: Env, job: Job): Promise<StepResult> {
  const db = env.DB;
  const sources = (await db.prepare("SELECT id, url, keyring_data, skip_verify FROM boot_sources ORDER BY id").all<SourceRow>()).results;
  const sels = await listSelectionRows(db);
  const refused: string[] = [];
  const versionIds: number[] = [];
  for (const source of sources) {
    const selections: Selection[] = sels.filter((s) => s.source_id === source.id).map(selectionJson);
    if (selections.length === 0) continue;
    const read = await readSource(source, selections);
    if (!read.ok) {
      refused.push(`source ${source.url} refused: ${read.reason}`);
      await ev(env, "IMAGE_SYNC_SKIPPED", job.actor, `source ${source.url} refused: ${read.reason}`, "WARNING").run();
      continue;
    }
    for (const p of read.products) {
      const name = `${p.os}/${p.release} ${p.architecture}`;
      const root = rootFtype(p.items);
      if (!root) {
        const have = p.items.map((i) => i.ftype).join(", ") || "none";
        await ev(
          env,
          "IMAGE_SYNC_SKIPPED",
          job.actor,
          `${name} ${p.version} skipped: no deployable root item (one of ${Object.keys(ROOT_FTYPES).join(", ")}; it has ${have})`,
          "WARNING",
        ).run();
        continue;
      }
      await db
        .prepare("INSERT INTO boot_images (osystem, series, architecture, kind, format) VALUES (?, ?, ?, 'synced', ?) ON CONFLICT DO NOTHING")
        .bind(p.os, p.release, p.architecture, ROOT_FTYPES[root])
        .run();
      const image = await db
        .prepare("SELECT id, kind FROM boot_images WHERE osystem = ? AND series = ? AND architecture = ?")
        .bind(p.os, p.release, p.architecture)
        .first<{ id: number; kind: string }>();
      if (!image) continue;
      if (image.kind !== "synced") {
        await ev(env, "IMAGE_SYNC_SKIPPED", job.actor, `${name} ${p.version} skipped: an ${image.kind} image of that name exists`, "WARNING").run();
        continue;
      }
      const version = await db
        .prepare(
          `INSERT INTO boot_image_versions (image_id, source_id, product, version, label) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (image_id, version) DO UPDATE SET source_id = excluded.source_id RETURNING id, complete`,
        )
        .bind(image.id, p.source_id, p.product, p.version, p.label)
        .first<{ id: number; complete: number }>();
      if (!version) continue;
      if (version.complete) {
        // Old versions kept while a machine was deploying them go once it is done.
        await pruneVersions(env, job, image.id, { osystem: p.os, series: p.release, architecture: p.architecture });
        continue;
      }
      // A published version never changes: items recorded by an earlier (stopped) sync stay.
      await db.batch(
        p.items.map((i) =>
          db
            .prepare("INSERT INTO boot_image_files (version_id, ftype, path, sha256, size) VALUES (?, ?, ?, ?, ?) ON CONFLICT (version_id, ftype) DO NOTHING")
            .bind(version.id, i.ftype, i.url, i.sha256, i.size),
        ),
      );
      versionIds.push(version.id);
    }
  }
  // Content-addressed: bytes the store holds already (another image, an earlier version, a
  // stopped sync) are not fetched again.
  const files = await pendingFiles(env, versionIds);
  for (const f of files) {
    const head = await env.IMAGES.head(imageKey(f.sha256));
    if (head && head.size === f.size) await markStored(env, f.id, f.size);
  }
  const totals = await db
    .prepare(
      `SELECT count(*) AS n, coalesce(sum(size), 0) AS bytes FROM boot_image_files WHERE state != 'stored' AND version_id IN (SELECT value FROM json_each(?))`,
    )
    .bind(JSON.stringify(versionIds))
    .first<{ n: number; bytes: number }>();
  await db.batch([
    db
      .prepare("UPDATE image_syncs SET items_total = ?, bytes_total = ?, heartbeat_at = ? WHERE id = ?")
      .bind(totals?.n ?? 0, totals?.bytes ?? 0, now(), job.syncId),
    ev(
      env,
      "IMAGE_SYNC_PROGRESS",
      job.actor,
      `sync ${job.syncId}: ${versionIds.length} version(s) to complete, ${totals?.n ?? 0} item(s) of ${totals?.bytes ?? 0} bytes to download`,
    ),
  ]);
  const next: Job = { ...job, phase: "download", versionIds, refused };
  // Versions whose every item was in the store already complete now.
  for (const v of versionIds) if (await completeVersion(env, next, v)) next.changed = true;
  return next;
}

interface FileRow {
  id: number;
  version_id: number;
  ftype: string;
  path: string;
  sha256: string;
  size: number;
  state: string;
}

async function pendingFiles(env: Env, versionIds: number[]): Promise<FileRow[]> {
  const { results } = await env.DB.prepare(
    "SELECT id, version_id, ftype, path, sha256, size, state FROM boot_image_files WHERE state != 'stored' AND version_id IN (SELECT value FROM json_each(?)) ORDER BY id",
  )
    .bind(JSON.stringify(versionIds))
    .all<FileRow>();
  return results;
}

async function markStored(env: Env, fileId: number, size: number): Promise<void> {
  await env.DB.prepare("UPDATE boot_image_files SET state = 'stored', bytes_done = ?, error = NULL WHERE id = ?").bind(size, fileId).run();
}

async function downloadNext(env: Env, job: Job, ctl: StepControl): Promise<StepResult> {
  const [file] = await pendingFiles(env, job.versionIds);
  if (!file) return finish(env, job);
  const label = await fileLabel(env, file);
  const head = await env.IMAGES.head(imageKey(file.sha256));
  if (head && head.size === file.size) {
    // Another version of this sync had the same bytes.
    await markStored(env, file.id, file.size);
  } else {
    const outcome = await streamItem(env, job, file, label, ctl);
    if (outcome === "stopped") {
      await discardIncomplete(env, job);
      return null;
    }
    if (outcome !== "stored") {
      await env.DB.prepare("UPDATE boot_image_files SET state = 'failed', error = ?, bytes_done = 0 WHERE id = ?").bind(outcome, file.id).run();
      return fail(env, job, `${label} refused: ${outcome}`);
    }
  }
  const next: Job = { ...job, itemsDone: job.itemsDone + 1, bytesDone: job.bytesDone + file.size };
  await env.DB.batch([
    env.DB.prepare("UPDATE image_syncs SET items_done = ?, bytes_done = ?, heartbeat_at = ? WHERE id = ?").bind(
      next.itemsDone,
      next.bytesDone,
      now(),
      job.syncId,
    ),
    ev(env, "IMAGE_ITEM_STORED", job.actor, `${label}: ${file.size} bytes, sha256 ${file.sha256} (${next.itemsDone} item(s) of this sync done)`),
  ]);
  if (await completeVersion(env, next, file.version_id)) next.changed = true;
  return next;
}

async function fileLabel(env: Env, f: FileRow): Promise<string> {
  const r = await env.DB.prepare(
    "SELECT i.osystem, i.series, i.architecture, v.version FROM boot_image_versions v JOIN boot_images i ON i.id = v.image_id WHERE v.id = ?",
  )
    .bind(f.version_id)
    .first<{ osystem: string; series: string; architecture: string; version: string }>();
  return r ? `${r.osystem}/${r.series} ${r.architecture} ${r.version} ${f.ftype}` : f.ftype;
}

/**
 * Streams one item from the mirror into the store. R2 checks the sha256 over the whole body
 * and refuses the object otherwise; the length is fixed to the published size, so a short or
 * long body is refused too. Either way nothing is stored under the item's name.
 */
async function streamItem(env: Env, job: Job, file: FileRow, label: string, ctl: StepControl): Promise<"stored" | "stopped" | string> {
  const db = env.DB;
  await db.prepare("UPDATE boot_image_files SET state = 'downloading', bytes_done = 0, error = NULL WHERE id = ?").bind(file.id).run();
  let r: Response;
  try {
    r = await fetch(file.path);
  } catch (e) {
    return `fetching ${file.path} failed: ${(e as Error).message}`;
  }
  if (!r.ok || !r.body) {
    await r.body?.cancel();
    return `fetching ${file.path} answered HTTP ${r.status}`;
  }
  const announced = r.headers.get("content-length");
  if (announced !== null && Number(announced) !== file.size) {
    await r.body.cancel();
    return `size mismatch: the mirror serves ${announced} bytes, the product file says ${file.size}`;
  }
  let done = 0;
  let stopped = false;
  let lastWrite = now();
  let lastTenth = 0;
  let writing: Promise<unknown> = Promise.resolve();
  let inFlight = false;
  const progress = () => {
    if (inFlight) return;
    inFlight = true;
    const at = done;
    const tenth = file.size > 0 ? Math.floor((at * 10) / file.size) : 10;
    const stmts = [
      db.prepare("UPDATE boot_image_files SET bytes_done = ? WHERE id = ?").bind(at, file.id),
      db.prepare("UPDATE image_syncs SET bytes_done = ?, heartbeat_at = ? WHERE id = ? AND state = 'running'").bind(job.bytesDone + at, now(), job.syncId),
    ];
    // At most one progress event per tenth of the item.
    if (tenth > lastTenth && tenth < 10) {
      lastTenth = tenth;
      stmts.push(ev(env, "IMAGE_SYNC_PROGRESS", job.actor, `${label}: ${at} of ${file.size} bytes (${tenth * 10}%)`));
    }
    writing = Promise.all([db.batch(stmts), ctl.keepAlive()])
      .catch((e: unknown) => console.warn("image sync progress write failed", String(e)))
      .finally(() => {
        inFlight = false;
      });
  };
  const batch = new Uint8Array(BATCH_BYTES);
  let pending = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      if (ctl.stopping()) {
        stopped = true;
        controller.error(new Error("the sync was stopped"));
        return;
      }
      done += chunk.byteLength;
      if (done > file.size) {
        controller.error(new Error(`size mismatch: more than the ${file.size} bytes the product file says`));
        return;
      }
      // The network hands over small chunks; R2 takes large ones far faster.
      if (pending + chunk.byteLength > BATCH_BYTES && pending > 0) {
        controller.enqueue(batch.slice(0, pending));
        pending = 0;
      }
      if (chunk.byteLength >= BATCH_BYTES) controller.enqueue(chunk);
      else {
        batch.set(chunk, pending);
        pending += chunk.byteLength;
      }
      const t = now();
      if (t - lastWrite >= PROGRESS_EVERY_MS || Math.floor((done * 10) / Math.max(1, file.size)) > lastTenth) {
        lastWrite = t;
        progress();
      }
    },
    flush(controller) {
      if (pending > 0) controller.enqueue(batch.slice(0, pending));
    },
  });
  const fixed = new FixedLengthStream(file.size);
  // Aborted when R2 gives up early, so a pipe nobody reads any more cannot hang the step.
  const abort = new AbortController();
  const piping = r.body
    .pipeThrough(counter)
    .pipeTo(fixed.writable, { signal: abort.signal })
    .catch(() => {});
  let failure: string | null = null;
  try {
    const stored = await env.IMAGES.put(imageKey(file.sha256), fixed.readable, {
      sha256: file.sha256,
      httpMetadata: { contentType: "application/octet-stream" },
    });
    if (!stored || stored.size !== file.size) failure = `size mismatch: stored ${stored?.size ?? 0} bytes, the product file says ${file.size}`;
  } catch (e) {
    failure = (e as Error).message;
    abort.abort();
  }
  await piping;
  await writing;
  if (stopped) {
    await db.prepare("UPDATE boot_image_files SET state = 'pending', bytes_done = 0 WHERE id = ?").bind(file.id).run();
    return "stopped";
  }
  if (failure === null) {
    await db.prepare("UPDATE boot_image_files SET state = 'stored', bytes_done = ?, error = NULL WHERE id = ?").bind(file.size, file.id).run();
    return "stored";
  }
  if (done !== file.size) return `size mismatch: the mirror sent ${done} bytes, the product file says ${file.size}`;
  return `sha256 mismatch: the bytes do not hash to ${file.sha256} (${failure})`;
}

/**
 * When every item of the version is stored: the version is complete, its image row points at
 * its root item, and the versions before the last two go. True when it completed now.
 */
async function completeVersion(env: Env, job: Job, versionId: number): Promise<boolean> {
  const db = env.DB;
  const v = await db
    .prepare(
      "SELECT v.id, v.image_id, v.version, v.complete, i.osystem, i.series, i.architecture FROM boot_image_versions v JOIN boot_images i ON i.id = v.image_id WHERE v.id = ?",
    )
    .bind(versionId)
    .first<{ id: number; image_id: number; version: string; complete: number; osystem: string; series: string; architecture: string }>();
  if (!v || v.complete) return false;
  const { results: files } = await db.prepare("SELECT ftype, sha256, size, state FROM boot_image_files WHERE version_id = ?").bind(versionId).all<FileRow>();
  if (files.length === 0 || files.some((f) => f.state !== "stored")) return false;
  const ftype = rootFtype(files)!;
  const root = files.find((f) => f.ftype === ftype)!;
  // The newest complete version is the one machines deploy; an older one completing late
  // (a resumed sync) must not take the image back.
  const newer = await db.prepare("SELECT 1 FROM boot_image_versions WHERE image_id = ? AND complete = 1 AND version > ?").bind(v.image_id, v.version).first();
  await db.batch([
    db.prepare("UPDATE boot_image_versions SET complete = 1 WHERE id = ?").bind(versionId),
    ...(newer
      ? []
      : [
          db
            .prepare("UPDATE boot_images SET sha256 = ?, size = ?, format = ?, url = NULL WHERE id = ?")
            .bind(root.sha256, root.size, ROOT_FTYPES[ftype], v.image_id),
        ]),
    ev(env, "IMAGE_ITEM_STORED", job.actor, `${v.osystem}/${v.series} ${v.architecture} version ${v.version} complete (root ${ftype}, sha256 ${root.sha256})`),
  ]);
  await pruneVersions(env, job, v.image_id, v);
  return true;
}

/** Keeps the last two complete versions of an image; older ones go unless a machine is deploying it. */
async function pruneVersions(env: Env, job: Job, imageId: number, img: { osystem: string; series: string; architecture: string }): Promise<void> {
  const db = env.DB;
  const { results } = await db
    .prepare("SELECT id, version FROM boot_image_versions WHERE image_id = ? AND complete = 1 ORDER BY version DESC")
    .bind(imageId)
    .all<{ id: number; version: string }>();
  const old = results.slice(2);
  if (old.length === 0) return;
  const deploying = await db
    .prepare("SELECT count(*) AS n FROM machines WHERE status = ? AND osystem = ? AND distro_series = ? AND architecture = ?")
    .bind(NODE_STATUS.DEPLOYING, img.osystem, img.series, img.architecture)
    .first<{ n: number }>();
  if ((deploying?.n ?? 0) > 0) {
    await ev(
      env,
      "IMAGE_SYNC_PROGRESS",
      job.actor,
      `${img.osystem}/${img.series} ${img.architecture}: ${old.length} old version(s) kept while ${deploying!.n} machine(s) deploy it`,
    ).run();
    return;
  }
  for (const o of old) {
    await deleteVersion(env, o.id);
    await ev(
      env,
      "IMAGE_SYNC_PROGRESS",
      job.actor,
      `${img.osystem}/${img.series} ${img.architecture}: version ${o.version} deleted (the last two are kept)`,
    ).run();
  }
}

/** A version's rows, and the bytes of its items that no other row names. */
async function deleteVersion(env: Env, versionId: number): Promise<void> {
  const db = env.DB;
  const { results } = await db.prepare("SELECT DISTINCT sha256 FROM boot_image_files WHERE version_id = ?").bind(versionId).all<{ sha256: string }>();
  await db.batch([
    db.prepare("DELETE FROM boot_image_files WHERE version_id = ?").bind(versionId),
    db.prepare("DELETE FROM boot_image_versions WHERE id = ?").bind(versionId),
  ]);
  for (const { sha256 } of results) {
    const used = await db
      .prepare("SELECT 1 FROM boot_image_files WHERE sha256 = ?1 UNION ALL SELECT 1 FROM boot_images WHERE sha256 = ?1 LIMIT 1")
      .bind(sha256)
      .first();
    if (!used) await env.IMAGES.delete(imageKey(sha256));
  }
}

/** A sync that ends without completing leaves no half-imported version (nor its image row). */
async function discardIncomplete(env: Env, job: Job): Promise<void> {
  const db = env.DB;
  const { results } = await db
    .prepare("SELECT id, image_id FROM boot_image_versions WHERE complete = 0 AND id IN (SELECT value FROM json_each(?))")
    .bind(JSON.stringify(job.versionIds))
    .all<{ id: number; image_id: number }>();
  for (const v of results) await deleteVersion(env, v.id);
  await db
    .prepare(
      "DELETE FROM boot_images WHERE kind = 'synced' AND sha256 IS NULL AND NOT EXISTS (SELECT 1 FROM boot_image_versions v WHERE v.image_id = boot_images.id)",
    )
    .run();
}

async function fail(env: Env, job: Job, reason: string): Promise<StepResult> {
  await discardIncomplete(env, job);
  await env.DB.batch([
    env.DB.prepare("UPDATE image_syncs SET state = 'failed', error = ?, finished_at = ?, heartbeat_at = ? WHERE id = ? AND state = 'running'").bind(
      reason,
      now(),
      now(),
      job.syncId,
    ),
    ev(env, "IMAGE_SYNC_FAILED", job.actor, `sync ${job.syncId} failed: ${reason}`, "ERROR"),
  ]);
  if (job.changed) await pushConfigAfter(env, null, "an image sync");
  return null;
}

async function finish(env: Env, job: Job): Promise<StepResult> {
  if (job.refused.length > 0) return fail(env, job, job.refused.join("; "));
  await env.DB.batch([
    env.DB.prepare("UPDATE image_syncs SET state = 'complete', finished_at = ?, heartbeat_at = ? WHERE id = ? AND state = 'running'").bind(
      now(),
      now(),
      job.syncId,
    ),
    ev(env, "IMAGE_SYNC_COMPLETE", job.actor, `sync ${job.syncId} complete: ${job.itemsDone} item(s), ${job.bytesDone} bytes downloaded`),
  ]);
  if (job.changed) await pushConfigAfter(env, null, "an image sync");
  return null;
}

/** Ends a sync whose object lost its job (it cannot resume): the row must not stay running. */
export async function abandon(env: Env, syncId: number, reason: string): Promise<void> {
  await env.DB.batch([
    env.DB.prepare("UPDATE image_syncs SET state = 'failed', error = ?, finished_at = ? WHERE id = ? AND state = 'running'").bind(reason, now(), syncId),
    ev(env, "IMAGE_SYNC_FAILED", "region", `sync ${syncId} failed: ${reason}`, "ERROR"),
  ]);
}

// The one Durable Object that runs image syncs (one instance, by name): its alarm drives the
// steps of cloud/domain/image-import.ts, and the Job between steps lives in its storage. The alarm is
// always set a little ahead while a step runs, so a region that dies mid-item gets the alarm
// again when it comes back and resumes from the stored Job.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { abandon, type Job, runStep } from "../domain/image-import";
import type { ImageSyncRpc } from "./sync-contract";

/** How far ahead the watchdog alarm is kept while a step runs. */
const WATCHDOG_MS = 5_000;
/** One alarm invocation runs steps for at most this long, then continues in the next. */
const SLICE_MS = 5 * 60_000;
/** Consecutive failures of one step (exceptions, not refusals) before the sync is given up. */
const MAX_STEP_FAILURES = 5;

export class ImageSync extends DurableObject<Env> implements ImageSyncRpc {
  private stopping = false;
  private busy = false;
  private failures = 0;

  async begin(syncId: number, actor: string): Promise<void> {
    this.stopping = false;
    const job: Job = { syncId, actor, phase: "plan", versionIds: [], refused: [], itemsDone: 0, bytesDone: 0, changed: false };
    await this.ctx.storage.put("job", job);
    await this.ctx.storage.setAlarm(Date.now());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (!this.busy) await this.ctx.storage.setAlarm(Date.now());
  }

  async kick(): Promise<boolean> {
    const job = await this.ctx.storage.get<Job>("job");
    if (!job) return false;
    if (!this.busy) await this.ctx.storage.setAlarm(Date.now());
    return true;
  }

  override async alarm(): Promise<void> {
    // The watchdog fired while this instance is still working: keep it ahead, nothing else.
    if (this.busy) {
      await this.ctx.storage.setAlarm(Date.now() + WATCHDOG_MS);
      return;
    }
    this.busy = true;
    try {
      await this.work();
    } finally {
      this.busy = false;
    }
  }

  private async work(): Promise<void> {
    const storage = this.ctx.storage;
    const until = Date.now() + SLICE_MS;
    const ctl = {
      stopping: () => this.stopping,
      keepAlive: () => storage.setAlarm(Date.now() + WATCHDOG_MS),
    };
    for (;;) {
      const job = await storage.get<Job>("job");
      if (!job) {
        await storage.deleteAlarm();
        this.stopping = false;
        return;
      }
      await ctl.keepAlive();
      let next: Job | null;
      try {
        next = await runStep(this.env, job, ctl);
      } catch (e) {
        // A transient failure (D1, R2, the network): the watchdog alarm retries the step, a
        // few times; a step that keeps failing ends the sync with the reason.
        console.error("image sync step failed", e);
        this.failures += 1;
        if (this.failures >= MAX_STEP_FAILURES) {
          this.failures = 0;
          await abandon(this.env, job.syncId, `a step failed ${MAX_STEP_FAILURES} times: ${(e as Error).message}`).catch(() => {});
          await storage.delete("job");
          await storage.deleteAlarm();
        }
        return;
      }
      this.failures = 0;
      if (next) await storage.put("job", next);
      else await storage.delete("job");
      if (Date.now() > until) {
        await storage.setAlarm(Date.now());
        return;
      }
    }
  }
}

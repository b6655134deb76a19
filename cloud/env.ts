import type { RackTunnelRpc } from "./domain/racks/delivery";
import type { ImageSyncRpc } from "./images/sync-contract";

/** The Worker's bindings (wrangler.toml) and secrets. */
export interface Env {
  DB: D1Database;
  /** One Durable Object per rack (cloud/tunnel/rack-tunnel.ts), typed by the contract the domain uses. */
  RACK_TUNNEL: DurableObjectNamespace<RackTunnelRpc>;
  /** The one image sync runner (cloud/images/sync-object.ts). */
  IMAGE_SYNC: DurableObjectNamespace<ImageSyncRpc>;
  /** Boot image bytes under sha256/<hex> (cloud/routes/images.ts). */
  IMAGES: R2Bucket;
  /** Files of the MAAS facade's files/ endpoint. */
  FILES: R2Bucket;
  /** base64 of 32 random bytes: the AES-GCM key for BMC secrets at rest (a Worker secret). */
  PLINTH_SECRET_KEY: string;
  /** Allows creating the first admin through POST /api/v1/bootstrap (a Worker secret). */
  PLINTH_BOOTSTRAP_TOKEN?: string;
  PLINTH_ENV?: string;
  /** Seconds between power queries of each BMC machine (default 300; 0 turns polling off). */
  PLINTH_POWER_POLL_INTERVAL_S?: string;
  /** Machines the power poller sends per cron run, at most (default 1000). */
  PLINTH_POWER_POLL_MAX_PER_RUN?: string;
  /** Seconds between scheduled image syncs, counted from the end of the last (default 3600; 0 turns them off). */
  PLINTH_IMAGE_SYNC_INTERVAL_S?: string;
}

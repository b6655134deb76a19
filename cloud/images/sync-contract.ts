// What the region asks of the image sync object (cloud/images/sync-object.ts), apart from it:
// Env names this type, and the object imports the domain, which imports Env.

export const IMAGE_SYNC_OBJECT = "image-sync";

export interface ImageSyncRpc extends Rpc.DurableObjectBranded {
  begin(syncId: number, actor: string): Promise<void>;
  stop(): Promise<void>;
  /** Makes sure a stored job is being run; false when the object has none. */
  kick(): Promise<boolean>;
}

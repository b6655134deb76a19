// What the domain layer needs from a rack's Durable Object, and the command shapes both sides
// keep. The Durable Object (cloud/tunnel/rack-tunnel.ts) implements this contract; the domain
// depends on the contract only, so nothing here imports the transport.
export interface StoredCommand {
  id: string;
  rackId: string;
  type: string;
  params: Record<string, unknown>;
  deadline: number;
  machineId: number | null;
  createdAt: number;
  /** Region-only (never sent): the lifecycle step this command's outcome finishes (release's power off, rescue exit's power action). */
  finishes?: "release" | "rescue_exit";
}

export type CommandOutcome = { state: "done" | "failed"; data?: Record<string, unknown>; error?: { code: string; message: string } } | { state: "expired" };

export interface EnqueueResult {
  state: "pending" | CommandOutcome["state"];
  result?: CommandOutcome;
}

/** The Durable Object's RPC methods that region code calls (through env.RACK_TUNNEL). */
export interface RackTunnelRpc extends Rpc.DurableObjectBranded {
  /** Queues a command; with waitMs, waits that long for its outcome (for queries). */
  enqueue(cmd: StoredCommand, waitMs?: number): Promise<EnqueueResult>;
  /** Closes the rack's sockets: its credential was revoked. Returns how many were open. */
  revoke(): Promise<number>;
  /** Sends a new credential to the connected appliance; false when none is connected. */
  rotate(credential: string, hash: string): Promise<boolean>;
  /** Pushes a new config snapshot now if it changed. */
  configChanged(): Promise<void>;
  status(): Promise<{ connected: boolean; pending: number }>;
}

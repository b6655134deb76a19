// The few machine fields domain functions need, so callers pass the row they already read.

/** Enough to name a machine in an event. */
export interface MachineRef {
  id: number;
  systemId: string;
  hostname: string;
  siteId: number;
}

/** Enough to reach its BMC through its site's rack, and to record its status in the event. */
export interface MachineOnSite extends MachineRef {
  rackId: string | null;
  status: number;
}

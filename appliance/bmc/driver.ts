// The one interface between the appliance's command executor and every BMC driver
// (IPMI, Redfish, webhook, manual). Errors carry MAAS's retry policy.

export type PowerState = "on" | "off" | "unknown";
export type BootDevice = "pxe" | "disk" | "http";

export interface BootOptions {
  device: BootDevice;
  /** Once (next boot only) or persistent. */
  persistent: boolean;
  /** UEFI boot, else legacy BIOS. */
  efi: boolean;
}

export interface PowerDriver {
  readonly type: string;
  powerOn(): Promise<void>;
  powerOff(soft?: boolean): Promise<void>;
  powerCycle(): Promise<void>;
  powerReset?(): Promise<void>;
  queryPower(): Promise<PowerState>;
  identify(opts: { seconds?: number; force?: boolean }): Promise<void>;
  setBootDevice(opts: BootOptions): Promise<void>;
  close?(): Promise<void>;
}

/**
 * fatal: bad credentials, unsupported, bad settings — never retried, shown to the operator.
 * transient: timeouts, connection errors — retried on a schedule, each retry confirmed by a query.
 */
export type PowerErrorKind = "fatal" | "transient";

export class PowerError extends Error {
  constructor(
    readonly kind: PowerErrorKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "PowerError";
  }
}

/** MAAS's retry schedule for transient power errors, in seconds. */
export const POWER_RETRY_SCHEDULE_S = [1, 2, 2, 4, 6, 8, 12] as const;

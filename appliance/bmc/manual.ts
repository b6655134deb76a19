// The manual driver: there is no BMC, a person presses the button. Every action succeeds
// at once and is handed to `notify` so the region can record it and ask a human; the
// state is never known.
import type { BootOptions, PowerDriver, PowerState } from "./driver";

export const MANUAL_NOTICE = "manual: ask a human";

export type ManualRequest =
  | { action: "on" | "off" | "soft_off" | "cycle" | "reset" }
  | { action: "identify"; seconds?: number }
  | { action: "boot"; options: BootOptions };

export class ManualDriver implements PowerDriver {
  readonly type = "manual";

  constructor(private readonly notify: (message: string, request: ManualRequest) => void = () => {}) {}

  async powerOn(): Promise<void> {
    this.tell("power on", { action: "on" });
  }

  async powerOff(soft = false): Promise<void> {
    this.tell(soft ? "shut down" : "power off", { action: soft ? "soft_off" : "off" });
  }

  async powerCycle(): Promise<void> {
    this.tell("power cycle", { action: "cycle" });
  }

  async powerReset(): Promise<void> {
    this.tell("reset", { action: "reset" });
  }

  async queryPower(): Promise<PowerState> {
    return "unknown";
  }

  async identify(opts: { seconds?: number }): Promise<void> {
    this.tell("identify (find and label)", { action: "identify", seconds: opts.seconds });
  }

  async setBootDevice(options: BootOptions): Promise<void> {
    const how = `${options.persistent ? "always" : "next"} boot from ${options.device} (${options.efi ? "UEFI" : "legacy"})`;
    this.tell(`set ${how}`, { action: "boot", options });
  }

  private tell(what: string, req: ManualRequest): void {
    this.notify(`${MANUAL_NOTICE} to ${what} this machine`, req);
  }
}

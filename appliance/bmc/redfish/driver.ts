// The Redfish power driver: one ComputerSystem behind one BMC.
import { type BootOptions, type PowerDriver, PowerError, type PowerState } from "../driver";
import { RedfishClient, type RedfishClientOptions } from "./client";
import { chooseResetType, type ResetIntent, unsupportedReset } from "./reset";
import { ActionInfo, ComputerSystem } from "./schemas";

export interface RedfishDriverOptions extends RedfishClientOptions {
  /** The ComputerSystem Id (last path segment); needed only when the BMC manages several. */
  systemId?: string;
}

const BOOT_TARGET = { pxe: "Pxe", disk: "Hdd", http: "UefiHttp" } as const;

export class RedfishDriver implements PowerDriver {
  readonly type = "redfish";
  private readonly client: RedfishClient;
  private systemPath: string | undefined;

  constructor(private readonly opts: RedfishDriverOptions) {
    this.client = new RedfishClient(opts);
  }

  powerOn(): Promise<void> {
    return this.reset("on");
  }

  powerOff(soft = false): Promise<void> {
    return this.reset(soft ? "soft_off" : "off");
  }

  async powerCycle(): Promise<void> {
    const sys = await this.system();
    // As in MAAS: cycling a machine that is off means turning it on.
    if (powerStateOf(sys.PowerState) === "off") return this.reset("on", sys);
    const allowable = await this.allowableResets(sys);
    if (chooseResetType("cycle", allowable) !== undefined) return this.reset("cycle", sys);
    const off = chooseResetType("off", allowable);
    const on = chooseResetType("on", allowable);
    if (off === undefined || on === undefined) throw unsupportedReset("cycle", allowable);
    await this.reset("off", sys);
    await this.reset("on");
  }

  powerReset(): Promise<void> {
    return this.reset("reset");
  }

  async queryPower(): Promise<PowerState> {
    return powerStateOf((await this.system()).PowerState);
  }

  async identify(opts: { seconds?: number; force?: boolean }): Promise<void> {
    const { body: sys, etag } = await this.systemWithEtag();
    // Redfish has no timed identify: seconds=0 turns it off, anything else turns it on until told otherwise.
    const on = opts.seconds !== 0;
    if (sys.LocationIndicatorActive !== undefined) {
      return this.client.patch(await this.path(), { LocationIndicatorActive: on }, etag);
    }
    if (sys.IndicatorLED !== undefined) {
      return this.client.patch(await this.path(), { IndicatorLED: on ? "Blinking" : "Off" }, etag);
    }
    throw new PowerError("fatal", "unsupported", "this system has neither LocationIndicatorActive nor IndicatorLED");
  }

  async setBootDevice(opts: BootOptions): Promise<void> {
    if (opts.device === "http" && !opts.efi) {
      throw new PowerError("fatal", "bad_settings", "HTTP boot needs UEFI; legacy BIOS cannot boot over HTTP");
    }
    const { body: sys, etag } = await this.systemWithEtag();
    const target = BOOT_TARGET[opts.device];
    const allowed = sys.Boot?.["BootSourceOverrideTarget@Redfish.AllowableValues"];
    if (allowed && !allowed.includes(target)) {
      throw new PowerError("fatal", "unsupported", `the BMC cannot boot from ${target} (it offers ${allowed.join(", ")})`);
    }
    const boot: Record<string, string> = {
      BootSourceOverrideTarget: target,
      BootSourceOverrideEnabled: opts.persistent ? "Continuous" : "Once",
    };
    // Some BMCs reject properties they do not have, so the mode is sent only where it exists.
    if (sys.Boot?.BootSourceOverrideMode !== undefined) boot.BootSourceOverrideMode = opts.efi ? "UEFI" : "Legacy";
    else if (!opts.efi) {
      throw new PowerError("fatal", "unsupported", "the BMC has no BootSourceOverrideMode, so legacy boot cannot be chosen");
    }
    await this.client.patch(await this.path(), { Boot: boot }, etag);
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async reset(intent: ResetIntent, known?: ComputerSystem): Promise<void> {
    const sys = known ?? (await this.system());
    // Several BMCs answer ForceOff on an off machine (or On on an on one) with 400/409, which
    // would read as unsupported; as MAAS does, a machine already there is left alone.
    const now = powerStateOf(sys.PowerState);
    if ((intent === "on" && now === "on") || ((intent === "off" || intent === "soft_off") && now === "off")) return;
    const action = sys.Actions?.["#ComputerSystem.Reset"];
    if (!action) throw new PowerError("fatal", "unsupported", "this system offers no ComputerSystem.Reset action");
    const allowable = await this.allowableResets(sys);
    const type = chooseResetType(intent, allowable);
    if (type === undefined) throw unsupportedReset(intent, allowable);
    try {
      await this.client.post(action.target, { ResetType: type });
    } catch (e) {
      if (e instanceof PowerError && e.code === "bad_request") {
        throw new PowerError("fatal", "unsupported", `the BMC refused ResetType ${type}: ${e.message}`);
      }
      throw e;
    }
  }

  private async allowableResets(sys: ComputerSystem): Promise<string[] | undefined> {
    const action = sys.Actions?.["#ComputerSystem.Reset"];
    if (!action) return undefined;
    const listed = action["ResetType@Redfish.AllowableValues"];
    if (listed) return listed;
    const infoPath = action["@Redfish.ActionInfo"];
    if (!infoPath) return undefined;
    const { body } = await this.client.get(ActionInfo, infoPath);
    return body.Parameters?.find((p) => p.Name === "ResetType")?.AllowableValues;
  }

  private async system(): Promise<ComputerSystem> {
    return (await this.systemWithEtag()).body;
  }

  private async systemWithEtag(): Promise<{ body: ComputerSystem; etag?: string }> {
    return this.client.get(ComputerSystem, await this.path());
  }

  private async path(): Promise<string> {
    if (this.systemPath) return this.systemPath;
    const root = await this.client.serviceRoot();
    const systems = root.Systems?.["@odata.id"];
    if (!systems) throw new PowerError("fatal", "unsupported", "the Redfish service root lists no Systems");
    const members = await this.client.collectionMembers(systems);
    const id = this.opts.systemId;
    const found = id ? members.find((m) => m.replace(/\/+$/, "").split("/").pop() === id) : members[0];
    if (id && !found) {
      throw new PowerError("fatal", "bad_settings", `no system "${id}" on this BMC (it has ${members.join(", ")})`);
    }
    if (!id && members.length > 1) {
      throw new PowerError("fatal", "bad_settings", `the BMC manages ${members.length} systems; set system_id`);
    }
    if (!found) throw new PowerError("fatal", "unsupported", "the BMC lists no systems");
    this.systemPath = found;
    return found;
  }
}

/** PoweringOn is still off and PoweringOff still on, so a confirmation waits for the transition. */
export function powerStateOf(s: string | null | undefined): PowerState {
  if (s === "On" || s === "PoweringOff" || s === "Paused") return "on";
  if (s === "Off" || s === "PoweringOn") return "off";
  return "unknown";
}

// PowerDriver over native IPMI 2.0 (RMCP+). One session per BMC, reused across actions and
// kept alive; a session that stops answering (BMC rebooted, session timed out) is replaced
// by a fresh one once before the error goes back to the caller.
import { type BootOptions, PowerError, type PowerDriver, type PowerState } from "../driver";
import { CMD_GET_DEVICE_ID, type DeviceId, NETFN_APP, parseDeviceId } from "./commands/app";
import {
  BOOT_PARAM_FLAGS,
  BOOT_PARAM_INFO_ACK,
  BOOT_PARAM_SET_IN_PROGRESS,
  CMD_CHASSIS_CONTROL,
  CMD_CHASSIS_IDENTIFY,
  CMD_GET_CHASSIS_STATUS,
  CMD_GET_SYSTEM_BOOT_OPTIONS,
  CMD_SET_SYSTEM_BOOT_OPTIONS,
  CONTROL,
  type ChassisStatus,
  NETFN_CHASSIS,
  bootFlags,
  getBootOptionRequest,
  identifyRequest,
  parseBootFlags,
  parseBootOptionResponse,
  parseChassisStatus,
  setBootOptionRequest,
} from "./commands/chassis";
import { completionError, toPowerError } from "./failures";
import { IpmiSession, type SessionOptions } from "./session";

export interface IpmiDriverOptions extends SessionOptions {
  /** Keep the session between actions. Default true. */
  reuse?: boolean;
  /** Idle keep-alive interval for a reused session; 0 disables. Default 20 s. */
  keepAliveMs?: number;
}

export class IpmiDriver implements PowerDriver {
  readonly type = "ipmi";
  private session: Promise<IpmiSession> | undefined;
  private readonly where: string;

  constructor(private readonly opts: IpmiDriverOptions) {
    this.where = `BMC ${opts.host}:${opts.port ?? 623}`;
  }

  /** The open session's suite and BMC session ID, for logs and tests; undefined when none is open. */
  async currentSession(): Promise<{ suite: number; bmcSessionId: number } | undefined> {
    const s = await this.session?.catch(() => undefined);
    return s?.alive ? { suite: s.suite.id, bmcSessionId: s.bmcSessionId } : undefined;
  }

  async powerOn(): Promise<void> {
    await this.control(CONTROL.powerUp, "power on");
  }

  async powerOff(soft = false): Promise<void> {
    await this.control(soft ? CONTROL.softShutdown : CONTROL.powerDown, soft ? "soft power off" : "power off");
  }

  /** A cycle of a machine that is off is refused by most BMCs (0xd5): power it on instead. */
  async powerCycle(): Promise<void> {
    await this.withSession(async (s) => {
      const st = parseChassisStatus(await s.call(NETFN_CHASSIS, CMD_GET_CHASSIS_STATUS, Buffer.alloc(0), "chassis status"));
      const action = st.powerOn ? CONTROL.powerCycle : CONTROL.powerUp;
      await s.call(NETFN_CHASSIS, CMD_CHASSIS_CONTROL, Buffer.from([action]), "power cycle");
    });
  }

  async powerReset(): Promise<void> {
    await this.control(CONTROL.hardReset, "power reset");
  }

  async queryPower(): Promise<PowerState> {
    return (await this.chassisStatus()).powerOn ? "on" : "off";
  }

  async chassisStatus(): Promise<ChassisStatus> {
    return this.withSession(async (s) => parseChassisStatus(await s.call(NETFN_CHASSIS, CMD_GET_CHASSIS_STATUS, Buffer.alloc(0), "chassis status")));
  }

  async identify(opts: { seconds?: number; force?: boolean }): Promise<void> {
    await this.withSession((s) => s.call(NETFN_CHASSIS, CMD_CHASSIS_IDENTIFY, identifyRequest(opts), "chassis identify"));
  }

  /**
   * Set-in-progress, clear the boot-info acknowledge, boot flags, set-complete (IPMI 2.0
   * §28.13), the order ipmitool uses: other writers see the lock, and the BIOS sees a fresh,
   * unacknowledged request. BMCs without the lock (ipmi_sim answers 0xcc) are written unlocked.
   */
  async setBootDevice(opts: BootOptions): Promise<void> {
    if (opts.device === "http") {
      throw new PowerError("fatal", "unsupported", "IPMI boot options have no HTTP boot device; use pxe or the Redfish driver");
    }
    const flags = bootFlags(opts);
    const set = (s: IpmiSession, param: number, data: number[]) =>
      s.command(NETFN_CHASSIS, CMD_SET_SYSTEM_BOOT_OPTIONS, setBootOptionRequest(param, Buffer.from(data)));
    await this.withSession(async (s) => {
      const lock = await set(s, BOOT_PARAM_SET_IN_PROGRESS, [1]);
      if (lock.completionCode === 0x81) {
        throw new PowerError("transient", "boot_options_locked", `${this.where}: boot options are being set by another session`);
      }
      if (![0x00, 0x80, 0xcc].includes(lock.completionCode)) {
        throw completionError(lock.completionCode, "set boot options (set in progress)", this.where);
      }
      try {
        // 0x80: the BMC keeps no boot-info acknowledge; nothing to clear.
        const ack = await set(s, BOOT_PARAM_INFO_ACK, [0x01, 0x01]);
        if (ack.completionCode !== 0 && ack.completionCode !== 0x80) {
          throw completionError(ack.completionCode, "set boot info acknowledge", this.where);
        }
        const r = await set(s, BOOT_PARAM_FLAGS, [...flags]);
        if (r.completionCode !== 0) throw completionError(r.completionCode, "set boot flags", this.where);
      } finally {
        if (lock.completionCode === 0) await set(s, BOOT_PARAM_SET_IN_PROGRESS, [0]);
      }
    });
  }

  async getBootDevice(): Promise<ReturnType<typeof parseBootFlags>> {
    return this.withSession(async (s) => {
      const r = parseBootOptionResponse(await s.call(NETFN_CHASSIS, CMD_GET_SYSTEM_BOOT_OPTIONS, getBootOptionRequest(BOOT_PARAM_FLAGS), "get boot flags"));
      return parseBootFlags(r.data);
    });
  }

  async deviceId(): Promise<DeviceId> {
    return this.withSession(async (s) => parseDeviceId(await s.call(NETFN_APP, CMD_GET_DEVICE_ID, Buffer.alloc(0), "get device id")));
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (!s) return;
    await (await s.catch(() => undefined))?.close();
  }

  private async control(action: number, what: string): Promise<void> {
    await this.withSession((s) => s.call(NETFN_CHASSIS, CMD_CHASSIS_CONTROL, Buffer.from([action]), what));
  }

  private async withSession<T>(fn: (s: IpmiSession) => Promise<T>): Promise<T> {
    const reuse = this.opts.reuse ?? true;
    const fresh = !this.session;
    const s = await this.acquire();
    try {
      const v = await fn(s);
      if (!reuse) await this.close();
      return v;
    } catch (e) {
      const err = toPowerError(e, this.where);
      if (this.session && !s.alive) this.session = undefined;
      if (!reuse) await this.close();
      // Only a reused session gets a second chance: a fresh one failing means the BMC is the problem.
      if (!fresh && reuse && !s.alive && err.kind === "transient") {
        await s.close();
        try {
          return await fn(await this.acquire());
        } catch (e2) {
          throw toPowerError(e2, this.where);
        }
      }
      throw err;
    }
  }

  private async acquire(): Promise<IpmiSession> {
    if (!this.session) {
      const opening = IpmiSession.open(this.opts);
      this.session = opening;
      opening.catch(() => {
        if (this.session === opening) this.session = undefined;
      });
      const s = await opening;
      s.startKeepAlive(this.opts.keepAliveMs ?? 20_000);
      return s;
    }
    return this.session;
  }
}

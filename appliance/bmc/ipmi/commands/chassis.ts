// Chassis netFn (0x00) commands (IPMI 2.0 ch. 28): status, control, identify, boot options.
import type { BootOptions } from "../../driver";
import { IpmiDecodeError, need } from "../errors";

export const NETFN_CHASSIS = 0x00;
export const CMD_GET_CHASSIS_STATUS = 0x01;
export const CMD_CHASSIS_CONTROL = 0x02;
export const CMD_CHASSIS_IDENTIFY = 0x04;
export const CMD_SET_SYSTEM_BOOT_OPTIONS = 0x08;
export const CMD_GET_SYSTEM_BOOT_OPTIONS = 0x09;

export const CONTROL = {
  powerDown: 0x00,
  powerUp: 0x01,
  powerCycle: 0x02,
  hardReset: 0x03,
  diagnosticInterrupt: 0x04,
  /** ACPI soft shutdown: the OS decides. */
  softShutdown: 0x05,
} as const;

export interface ChassisStatus {
  powerOn: boolean;
  powerOverload: boolean;
  interlock: boolean;
  powerFault: boolean;
  controlFault: boolean;
  /** 0 always-off, 1 previous, 2 always-on, 3 unknown. */
  restorePolicy: number;
  identifyState?: "off" | "timed" | "indefinite";
}

export function parseChassisStatus(data: Buffer): ChassisStatus {
  need(data, 3, "Get Chassis Status response");
  const s = data[0]!;
  const misc = data[2]!;
  const identify = (misc & 0x40) !== 0 ? (["off", "timed", "indefinite"] as const)[(misc >> 4) & 3] : undefined;
  return {
    powerOn: (s & 0x01) !== 0,
    powerOverload: (s & 0x02) !== 0,
    interlock: (s & 0x04) !== 0,
    powerFault: (s & 0x08) !== 0,
    controlFault: (s & 0x10) !== 0,
    restorePolicy: (s >> 5) & 3,
    ...(identify ? { identifyState: identify } : {}),
  };
}

/** Interval 0 turns identify off; force keeps it on until told otherwise. */
export function identifyRequest(opts: { seconds?: number; force?: boolean }): Buffer {
  const seconds = Math.max(0, Math.min(255, Math.round(opts.seconds ?? 15)));
  return opts.force ? Buffer.from([seconds, 0x01]) : Buffer.from([seconds]);
}

export const BOOT_PARAM_SET_IN_PROGRESS = 0x00;
export const BOOT_PARAM_INFO_ACK = 0x04;
export const BOOT_PARAM_FLAGS = 0x05;

/** Boot device selectors (byte 2, bits 5:2 of boot flags). */
export const BOOT_DEVICE = { none: 0x00, pxe: 0x01, disk: 0x02, diagnostic: 0x04, cdrom: 0x05, bios: 0x06 } as const;

export function setBootOptionRequest(param: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([param & 0x7f]), data]);
}

/** Boot flags (parameter 5): valid; once or persistent; legacy or EFI; the device. */
export function bootFlags(opts: BootOptions): Buffer {
  const dev = opts.device === "pxe" ? BOOT_DEVICE.pxe : opts.device === "disk" ? BOOT_DEVICE.disk : undefined;
  if (dev === undefined) throw new IpmiDecodeError(`IPMI has no boot device selector for "${opts.device}"`);
  return Buffer.from([0x80 | (opts.persistent ? 0x40 : 0) | (opts.efi ? 0x20 : 0), dev << 2, 0, 0, 0]);
}

export function parseBootFlags(data: Buffer): BootOptions & { valid: boolean; selector: number } {
  need(data, 2, "boot flags");
  const selector = (data[1]! >> 2) & 0x0f;
  return {
    valid: (data[0]! & 0x80) !== 0,
    persistent: (data[0]! & 0x40) !== 0,
    efi: (data[0]! & 0x20) !== 0,
    selector,
    device: selector === BOOT_DEVICE.pxe ? "pxe" : "disk",
  };
}

export function getBootOptionRequest(param: number): Buffer {
  return Buffer.from([param & 0x7f, 0x00, 0x00]);
}

/** Get System Boot Options response: version, parameter (bit 7 = invalid/locked), data. */
export function parseBootOptionResponse(data: Buffer): { param: number; invalid: boolean; data: Buffer } {
  need(data, 2, "Get System Boot Options response");
  return { param: data[1]! & 0x7f, invalid: (data[1]! & 0x80) !== 0, data: Buffer.from(data.subarray(2)) };
}

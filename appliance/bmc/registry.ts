// From a machine's power type and parameters (MAAS's names, as the region stores them) to a
// driver. Parameters arrive from the region inside a tunnel command, so they are parsed here
// again: a bad value is a fatal "bad settings" error, never a crash half-way through.
import type { z } from "zod";
import { powerParameterSchemas } from "../../shared/power";
import { type PowerDriver, PowerError } from "./driver";
import { ManualDriver, type ManualRequest } from "./manual";
import { RedfishDriver } from "./redfish";
import { WebhookDriver } from "./webhook";

/** One definition of the parameters, shared with the region API that stores them. */
export const driverParamSchemas = powerParameterSchemas;

export type DriverPowerType = keyof typeof driverParamSchemas;
export const DRIVER_POWER_TYPES = Object.keys(driverParamSchemas) as DriverPowerType[];

export interface DriverContext {
  /** Where the manual driver sends "ask a human" requests. */
  notify?: (message: string, request: ManualRequest) => void;
  timeoutMs?: number;
}

export async function createDriver(powerType: string, params: unknown, ctx: DriverContext = {}): Promise<PowerDriver> {
  if (!(powerType in driverParamSchemas)) {
    throw new PowerError("fatal", "bad_settings", `unknown power type "${powerType}" (known: ${DRIVER_POWER_TYPES.join(", ")})`);
  }
  const type = powerType as DriverPowerType;
  switch (type) {
    case "manual":
      parseParams(type, params);
      return new ManualDriver(ctx.notify);
    case "redfish":
      return redfish(parseParams(type, params), ctx);
    case "webhook":
      return webhook(parseParams(type, params), ctx);
    case "ipmi":
      return ipmi(parseParams(type, params), ctx);
  }
}

function parseParams<T extends DriverPowerType>(type: T, params: unknown): z.infer<(typeof driverParamSchemas)[T]> {
  const parsed = driverParamSchemas[type].safeParse(params ?? {});
  if (!parsed.success) {
    // Issue paths and messages only: values may be passwords.
    const why = parsed.error.issues.map((i) => `${i.path.join(".") || "(params)"}: ${i.message}`).join("; ");
    throw new PowerError("fatal", "bad_settings", `invalid ${type} power parameters: ${why}`);
  }
  return parsed.data as z.infer<(typeof driverParamSchemas)[T]>;
}

function redfish(p: z.infer<typeof driverParamSchemas.redfish>, ctx: DriverContext): PowerDriver {
  const baseUrl = /^https?:\/\//i.test(p.power_address) ? p.power_address : `https://${p.power_address}`;
  try {
    new URL(baseUrl);
  } catch {
    throw new PowerError("fatal", "bad_settings", `power_address "${p.power_address}" is not a host or URL`);
  }
  return new RedfishDriver({
    baseUrl,
    user: p.power_user,
    password: p.power_pass,
    systemId: p.node_id,
    fingerprint: p.tls_fingerprint,
    auth: p.power_auth,
    timeoutMs: ctx.timeoutMs,
  });
}

function webhook(p: z.infer<typeof driverParamSchemas.webhook>, ctx: DriverContext): PowerDriver {
  const call = (url: string | undefined) => (url ? { url } : undefined);
  let auth: { bearer: string } | { user: string; password: string } | undefined;
  if (p.power_token) auth = { bearer: p.power_token };
  else if (p.power_user) auth = { user: p.power_user, password: p.power_pass ?? "" };
  return new WebhookDriver({
    on: { url: p.power_on_uri },
    off: { url: p.power_off_uri },
    softOff: call(p.power_soft_off_uri),
    cycle: call(p.power_cycle_uri),
    reset: call(p.power_reset_uri),
    identify: call(p.power_identify_uri),
    boot: call(p.power_boot_uri),
    query: p.power_query_uri
      ? {
          url: p.power_query_uri,
          method: "GET",
          jsonPath: p.power_query_json_path,
          onRegex: p.power_on_regex,
          offRegex: p.power_off_regex,
        }
      : undefined,
    auth,
    fingerprint: p.tls_fingerprint,
    timeoutMs: ctx.timeoutMs,
  });
}

async function ipmi(p: z.infer<typeof driverParamSchemas.ipmi>, _ctx: DriverContext): Promise<PowerDriver> {
  if (p.power_driver === "LAN") {
    throw new PowerError("fatal", "bad_settings", "IPMI 1.5 (LAN) is not supported; use LAN_2_0 (lanplus)");
  }
  // Loaded on first use so appliances without IPMI machines never load the RMCP+ stack.
  const { IpmiDriver } = await import("./ipmi");
  return new IpmiDriver({
    host: p.power_address,
    port: p.power_port,
    user: p.power_user,
    password: p.power_pass,
    privilege: p.privilege_level.toLowerCase() as "user" | "operator" | "admin",
    cipherSuites: p.cipher_suite_id ? [Number(p.cipher_suite_id) as 3 | 17] : undefined,
    kg: p.k_g ? Buffer.from(p.k_g, "utf8") : undefined,
  });
}

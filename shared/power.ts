// Power types and their parameters, validated where they enter (the region API) and where
// they are used (the appliance's drivers). Field names follow MAAS's power_parameters_*.
import { z } from "zod";

const address = z.string().min(1).max(255);
const secret = z.string().max(255);

export const powerParameterSchemas = {
  manual: z.strictObject({}),
  ipmi: z.strictObject({
    power_address: address,
    power_port: z.coerce.number().int().min(1).max(65535).optional(),
    power_user: z.string().max(64).default(""),
    power_pass: secret.default(""),
    power_driver: z.enum(["LAN_2_0", "LAN"]).default("LAN_2_0"),
    power_boot_type: z.enum(["auto", "legacy", "efi"]).default("auto"),
    cipher_suite_id: z.enum(["3", "17"]).optional(),
    privilege_level: z.enum(["USER", "OPERATOR", "ADMIN"]).default("OPERATOR"),
    k_g: secret.optional(),
    mac_address: z.string().optional(),
  }),
  redfish: z.strictObject({
    power_address: address,
    power_user: z.string().max(64).default(""),
    power_pass: secret.default(""),
    node_id: z.string().max(128).optional(),
    /** SHA-256 fingerprint of the BMC's self-signed certificate, pinned per BMC. */
    tls_fingerprint: z
      .string()
      .regex(/^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/)
      .optional(),
  }),
  webhook: z.strictObject({
    power_on_uri: z.url(),
    power_off_uri: z.url(),
    power_query_uri: z.url().optional(),
    power_reset_uri: z.url().optional(),
    power_on_regex: z.string().max(255).optional(),
    power_off_regex: z.string().max(255).optional(),
    power_user: z.string().max(64).optional(),
    power_pass: secret.optional(),
    power_token: secret.optional(),
  }),
} as const;

export type PowerType = keyof typeof powerParameterSchemas;
export const POWER_TYPES = Object.keys(powerParameterSchemas) as PowerType[];

/** Parameters never shown by the API: everything is hidden, these are the ones that are secret. */
export const SECRET_POWER_FIELDS = new Set(["power_pass", "k_g", "power_token"]);

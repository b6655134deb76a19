// Power types and their parameters, validated where they enter (the region API) and where
// they are used (the appliance's drivers). Field names follow MAAS's power_parameters_*.
import { z } from "zod";

const address = z.string().min(1).max(255);
const secret = z.string().max(255);
/** SHA-256 of a BMC's self-signed certificate, pinned per BMC instead of trusting any. */
const fingerprint = z.string().regex(/^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$/, "a SHA-256 fingerprint: 64 hex digits, colons optional");
const uri = z.url({ protocol: /^https?$/ });

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
    tls_fingerprint: fingerprint.optional(),
    /** auto: a session, or basic auth when the BMC has no SessionService. */
    power_auth: z.enum(["auto", "session", "basic"]).default("auto"),
  }),
  webhook: z.strictObject({
    power_on_uri: uri,
    power_off_uri: uri,
    power_query_uri: uri.optional(),
    power_reset_uri: uri.optional(),
    power_soft_off_uri: uri.optional(),
    power_cycle_uri: uri.optional(),
    power_identify_uri: uri.optional(),
    power_boot_uri: uri.optional(),
    /** Dotted path to the state in a JSON query response, e.g. "status.power". */
    power_query_json_path: z.string().max(255).optional(),
    tls_fingerprint: fingerprint.optional(),
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

export { RedfishClient, type RedfishAuth, type RedfishClientOptions } from "./client";
export { powerStateOf, RedfishDriver, type RedfishDriverOptions } from "./driver";
export { HttpClient, normalizeFingerprint } from "./http";
export { chooseResetType, RESET_PREFERENCES, type ResetIntent } from "./reset";

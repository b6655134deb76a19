export { makeSelfSignedCert, type SelfSignedCert } from "./cert";
export { canonical, DEFAULT_MOCKUP_DIR, type Json, loadMockup } from "./mockup";
export { type EmulatorOptions, type Fault, type LoggedRequest, type Operation, RedfishEmulator } from "./server";

// Native IPMI 2.0 (RMCP+, "lanplus") power driver: no ipmitool at run time.
export { IpmiDriver, type IpmiDriverOptions } from "./driver";
export { IpmiSession, type SessionOptions } from "./session";

export * from "./commands";
export * from "./config";
export * from "./events";
export * from "./protocol";

// Entry of the DNS server's UDP worker thread (udp-worker.ts). A worker inherits the parent's
// process.execArgv, so under `node --import tsx` (the appliance) the .ts loads as is; where
// TypeScript is compiled in-process instead (vitest), the thread has no loader and registers tsx.
// Node 22.18+ strips types itself, so without tsx the import fails later and differently: on
// the extensionless imports the sources use, or on syntax stripping cannot erase.
const NEEDS_TSX = new Set([
  "ERR_UNKNOWN_FILE_EXTENSION",
  "ERR_MODULE_NOT_FOUND",
  "ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX",
  "ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING",
]);
try {
  await import("./udp-worker.ts");
} catch (e) {
  if (!NEEDS_TSX.has(e?.code)) throw e;
  const { register } = await import("tsx/esm/api");
  register();
  // Another URL: the failed import stays in the module map.
  await import("./udp-worker.ts?tsx");
}
